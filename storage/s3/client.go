package s3

import (
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"net/http"

	"github.com/minio/minio-go/v7"

	"github.com/ferryhq/ferry/storage"
)

// client is every minio-go call the Backend makes. Keeping it this narrow
// lets tests wrap the real client and inject faults (short part listings,
// failing calls) while the rest of the traffic goes to a real MinIO.
type client interface {
	BucketExists(ctx context.Context, bucket string) (bool, error)
	MakeBucket(ctx context.Context, bucket string, opts minio.MakeBucketOptions) error

	PutObject(ctx context.Context, bucket, object string, data io.Reader, size int64,
		md5Base64, sha256Hex string, opts minio.PutObjectOptions) (minio.UploadInfo, error)
	GetObject(ctx context.Context, bucket, object string,
		opts minio.GetObjectOptions) (io.ReadCloser, minio.ObjectInfo, http.Header, error)
	StatObject(ctx context.Context, bucket, object string, opts minio.StatObjectOptions) (minio.ObjectInfo, error)
	RemoveObject(ctx context.Context, bucket, object string, opts minio.RemoveObjectOptions) error
	ListObjectsIter(ctx context.Context, bucket string, opts minio.ListObjectsOptions) iter.Seq[minio.ObjectInfo]

	NewMultipartUpload(ctx context.Context, bucket, object string, opts minio.PutObjectOptions) (string, error)
	PutObjectPart(ctx context.Context, bucket, object, uploadID string, partID int,
		data io.Reader, size int64, opts minio.PutObjectPartOptions) (minio.ObjectPart, error)
	CopyObjectPart(ctx context.Context, srcBucket, srcObject, destBucket, destObject, uploadID string,
		partID int, startOffset, length int64, metadata map[string]string) (minio.CompletePart, error)
	ListObjectParts(ctx context.Context, bucket, object, uploadID string,
		partNumberMarker, maxParts int) (minio.ListObjectPartsResult, error)
	CompleteMultipartUpload(ctx context.Context, bucket, object, uploadID string,
		parts []minio.CompletePart, opts minio.PutObjectOptions) (minio.UploadInfo, error)
	AbortMultipartUpload(ctx context.Context, bucket, object, uploadID string) error
	ListMultipartUploads(ctx context.Context, bucket, prefix, keyMarker, uploadIDMarker,
		delimiter string, maxUploads int) (minio.ListMultipartUploadsResult, error)
}

var _ client = (*minio.Core)(nil)

// s3Code returns the S3 error code and HTTP status inside err, if any.
// errors.As, not minio.ToErrorResponse: the latter misses wrapped errors.
func s3Code(err error) (code string, status int) {
	var v minio.ErrorResponse
	if errors.As(err, &v) {
		return v.Code, v.StatusCode
	}
	var p *minio.ErrorResponse
	if errors.As(err, &p) && p != nil {
		return p.Code, p.StatusCode
	}
	return "", 0
}

// isNotFound reports whether err says the key or the multipart upload does not exist.
func isNotFound(err error) bool {
	code, _ := s3Code(err)
	return code == "NoSuchKey" || code == "NoSuchUpload"
}

// isConflict reports whether a conditional write lost: the object changed
// (412), or another conditional write to it was in flight (409 on AWS).
func isConflict(err error) bool {
	code, status := s3Code(err)
	return code == "PreconditionFailed" || code == "ConditionalRequestConflict" ||
		status == http.StatusPreconditionFailed
}

// translate is the edge between minio-go and storage: it wraps err with the
// storage sentinel it means, keeping the cause in the chain. Errors with no
// sentinel pass through.
func translate(err error) error {
	if err == nil {
		return nil
	}
	code, status := s3Code(err)
	switch {
	case code == "NoSuchKey" || code == "NoSuchUpload":
		return fmt.Errorf("%w: %w", storage.ErrNotFound, err)
	case code == "XMinioStorageFull" || code == "XMinioAdminBucketQuotaExceeded" ||
		status == http.StatusInsufficientStorage:
		return fmt.Errorf("%w: %w", storage.ErrNoSpace, err)
	}
	return err
}
