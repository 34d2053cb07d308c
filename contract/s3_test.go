package contract_test

import (
	"strings"
	"testing"

	"github.com/ferryhq/ferry/storage/s3/s3test"
)

// s3Test is the top-level test whose subtests start their servers on S3.
const s3Test = "TestOnS3"

// onS3 reports whether t runs under TestOnS3, where start defaults to the
// S3 backend.
func onS3(t *testing.T) bool { return strings.HasPrefix(t.Name(), s3Test+"/") }

// TestOnS3 runs a representative subset of the contract, unchanged, against
// the S3 backend on the MinIO that `make test` starts (scripts/with-minio.sh):
// the tus and IETF round trips, the WebSocket upload, abort and resume, and
// whole and ranged downloads. Every other test runs on storage/local; these
// run on both. Without MinIO it skips, and fails when CI=true, as the other
// S3 tests do (s3test.Lookup).
//
// The tests chosen reach the storage through the server only: none shares a
// data directory, kills a process or relies on expiry.
func TestOnS3(t *testing.T) {
	s3test.Lookup(t)
	tests := []struct {
		name string
		run  func(t *testing.T)
	}{
		{"TusUploadCompletes", TestTusUploadCompletes},
		{"TusCreationWithUpload", TestTusCreationWithUpload},
		{"TusDeferredLength", TestTusDeferredLength},
		{"TusChecksum", TestTusChecksum},
		{"TusTermination", TestTusTermination},
		{"IETFCompleteInOneRequest", TestIETFCompleteInOneRequest},
		{"IETFIncompleteThenAppend", TestIETFIncompleteThenAppend},
		{"IETFUnknownLength", TestIETFUnknownLength},
		{"IETFHeadAndCancel", TestIETFHeadAndCancel},
		{"IETFCompleteChunkedAndEmpty", TestIETFCompleteChunkedAndEmpty},
		{"TusAndIETFShareUploads", TestTusAndIETFShareUploads},
		{"WebSocketAndTusShareUploads", TestWebSocketAndTusShareUploads},
		{"UploadCompletes", TestUploadCompletes},
		{"ManyUploadsOnOneConnection", TestManyUploadsOnOneConnection},
		{"ResumeOfCompleteAnswersComplete", TestResumeOfCompleteAnswersComplete},
		{"AbortDeletesUpload", TestAbortDeletesUpload},
		{"DownloadHeadersGetAndHead", TestDownloadHeadersGetAndHead},
		{"RangeRequests", TestRangeRequests},
		{"RangeOnEmptyFile", TestRangeOnEmptyFile},
		{"IfRange", TestIfRange},
		{"ConcurrentDownloadsDuringUpload", TestConcurrentDownloadsDuringUpload},
	}
	for _, tc := range tests {
		t.Run(tc.name, tc.run)
	}
}
