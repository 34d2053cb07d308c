package s3_test

import (
	"testing"

	"github.com/ferryhq/ferry/storage"
	"github.com/ferryhq/ferry/storage/s3"
	"github.com/ferryhq/ferry/storage/s3/s3test"
	"github.com/ferryhq/ferry/storage/storagetest"
)

// TestConformance runs the storage contract's suite against a real MinIO,
// each subtest on a fresh bucket. The smallest part size S3 allows makes the
// suite's biggest upload (about 12 MiB) cross part boundaries.
func TestConformance(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) storage.Backend {
		return s3test.NewBackend(t, func(cfg *s3.Config) { cfg.PartSize = s3.MinPartSize })
	})
}
