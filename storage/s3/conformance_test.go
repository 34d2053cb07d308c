package s3_test

import (
	"testing"

	"github.com/minio/minio-go/v7"

	"github.com/ferryhq/ferry/storage"
	"github.com/ferryhq/ferry/storage/s3"
	"github.com/ferryhq/ferry/storage/s3/s3test"
	"github.com/ferryhq/ferry/storage/storagetest"
)

// TestConformance runs the storage contract's suite against a real MinIO,
// each subtest on a fresh bucket. The smallest part size S3 allows makes the
// suite's biggest upload (about 12 MiB) cross part boundaries.
// Each subtest's backend works under a prefix of its bucket, and whatever
// the suite deletes must leave no object under it, and no multipart upload.
func TestConformance(t *testing.T) {
	storagetest.RunWithHarness(t, func(t *testing.T) storagetest.Harness {
		env := s3test.Lookup(t)
		bucket := env.Bucket(t)
		cfg := env.Config(bucket)
		cfg.Prefix = "ferry/"
		cfg.PartSize = s3.MinPartSize
		b, err := s3.New(t.Context(), cfg)
		if err != nil {
			t.Fatalf("s3.New: %v", err)
		}
		return storagetest.Harness{
			Backend:   b,
			Leftovers: func(t *testing.T) []string { return bucketLeftovers(t, env, bucket) },
		}
	})
}

// bucketLeftovers lists every object key in bucket and every multipart
// upload in progress (as "multipart upload of KEY"). The backend keeps
// nothing there permanently; it must not write outside its prefix either.
func bucketLeftovers(t *testing.T, env s3test.Env, bucket string) []string {
	t.Helper()
	c := env.Client(t)
	var left []string
	for oi := range c.ListObjects(t.Context(), bucket, minio.ListObjectsOptions{Recursive: true}) {
		if oi.Err != nil {
			t.Fatalf("list %s: %v", bucket, oi.Err)
		}
		left = append(left, oi.Key)
	}
	for u := range c.ListIncompleteUploads(t.Context(), bucket, "", true) {
		if u.Err != nil {
			t.Fatalf("list multipart uploads of %s: %v", bucket, u.Err)
		}
		left = append(left, "multipart upload of "+u.Key)
	}
	return left
}

var _ storage.Backend = (*s3.Backend)(nil)
