package web_test

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/ferryhq/ferry/storage"
	"github.com/ferryhq/ferry/storage/local"
	"github.com/ferryhq/ferry/web"
)

// discardWriter is a ResponseWriter that keeps the status and drops the
// body, reusing its header map, so that a benchmark counts the handler's
// allocations and not a recorder's.
type discardWriter struct {
	h      http.Header
	status int
}

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) WriteHeader(code int)        { w.status = code }
func (w *discardWriter) Write(p []byte) (int, error) { return len(p), nil }

// BenchmarkSmallFileHandler is one GET of a stored 4 KiB file through the
// whole handler chain (middleware, routing, download handler, local
// storage), without sockets: what the server does per request besides
// net/http's own parsing and writing. Its allocs/op are the figure to
// watch (docs/performance.md, "4 KiB GETs against nginx");
// BenchmarkSmallFileGets in cmd/ferry measures the same against nginx over
// real connections.
func BenchmarkSmallFileHandler(b *testing.B) {
	store, err := local.New(local.Config{Dir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	data := make([]byte, 4096)
	_, _ = rand.Read(data)
	w, err := store.Create(ctx, fileID, storage.Meta{Name: "small.bin", Size: int64(len(data)), MIME: "application/octet-stream"})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := w.Write(data); err != nil {
		b.Fatal(err)
	}
	if _, err := w.Checkpoint(ctx, nil); err != nil {
		b.Fatal(err)
	}
	sum := sha256.Sum256(data)
	if _, err := w.Commit(ctx, hex.EncodeToString(sum[:])); err != nil {
		b.Fatal(err)
	}
	cfg := web.Config{}
	cfg.Backend = store
	srv, err := web.New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	h := srv.Handler()
	req := httptest.NewRequest(http.MethodGet, "http://127.0.0.1/files/"+fileID, nil)
	rw := &discardWriter{h: http.Header{}}
	b.ReportAllocs()
	for b.Loop() {
		clear(rw.h)
		rw.status = 0
		h.ServeHTTP(rw, req)
		if rw.status != http.StatusOK {
			b.Fatalf("status %d", rw.status)
		}
	}
}
