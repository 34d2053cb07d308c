package local_test

import (
	"testing"

	"github.com/ferryhq/ferry/storage"
	"github.com/ferryhq/ferry/storage/local"
	"github.com/ferryhq/ferry/storage/storagetest"
)

func newBackend(t *testing.T, cfg local.Config) *local.Backend {
	t.Helper()
	if cfg.Dir == "" {
		cfg.Dir = t.TempDir()
	}
	b, err := local.New(cfg)
	if err != nil {
		t.Fatalf("New(%+v): %v", cfg, err)
	}
	return b
}

// TestConformance runs the storage contract's suite on a fresh directory per
// subtest; what the suite deletes must leave no file in it.
func TestConformance(t *testing.T) {
	storagetest.RunWithHarness(t, func(t *testing.T) storagetest.Harness {
		dir := t.TempDir()
		return storagetest.Harness{
			Backend:   newBackend(t, local.Config{Dir: dir}),
			Leftovers: func(t *testing.T) []string { return dirFiles(t, dir) },
		}
	})
}

// dirFiles lists the files stored under dir: every upload's files (data,
// record, marker, index entry) and temporary files.
func dirFiles(t *testing.T, dir string) []string { return dirNames(t, dir) }

var _ storage.Backend = (*local.Backend)(nil)
