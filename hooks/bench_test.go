package hooks_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/ferryhq/ferry/events"
	"github.com/ferryhq/ferry/hooks"
	"github.com/ferryhq/ferry/storage"
	"github.com/ferryhq/ferry/storage/local"
)

// BenchmarkSmallUpload measures what hooks add to a 64 KiB upload on local
// storage (create with a pre-create round trip, write, checkpoint, commit
// with the outbox write), against the same upload without hooks in the
// same run: docs/performance.md records the ratio.
func BenchmarkSmallUpload(b *testing.B) {
	data := make([]byte, 64<<10)
	sum := sha256.Sum256(data)
	digest := hex.EncodeToString(sum[:])
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer srv.Close()
	for _, withHooks := range []bool{false, true} {
		name := "plain"
		if withHooks {
			name = "hooks"
		}
		b.Run(name, func(b *testing.B) {
			var store storage.Backend
			st, err := local.New(local.Config{Dir: b.TempDir()})
			if err != nil {
				b.Fatal(err)
			}
			store = st
			if withHooks {
				h, err := hooks.New(hooks.Config{URL: srv.URL, Outbox: b.TempDir()})
				if err != nil {
					b.Fatal(err)
				}
				bus := events.NewBus()
				bus.Observe(h.Observe)
				store = events.Wrap(st, bus, h.Gate)
				ctx, cancel := context.WithCancel(context.Background())
				done := make(chan struct{})
				go func() { h.Run(ctx, store); close(done) }()
				defer func() { cancel(); <-done }()
			}
			ctx := context.Background()
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				w, err := store.Create(ctx, storage.NewID(), storage.Meta{Name: "b.bin", Size: int64(len(data))})
				if err != nil {
					b.Fatal(err)
				}
				if _, err := w.Write(data); err != nil {
					b.Fatal(err)
				}
				if _, err := w.Checkpoint(ctx, nil); err != nil {
					b.Fatal(err)
				}
				if _, err := w.Commit(ctx, digest); err != nil {
					b.Fatal(err)
				}
				w.Close()
			}
		})
	}
}
