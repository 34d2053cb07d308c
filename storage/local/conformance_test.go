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

func TestConformance(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) storage.Backend { return newBackend(t, local.Config{}) })
}
