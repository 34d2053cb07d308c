package s3_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ferryhq/ferry/storage"
	"github.com/ferryhq/ferry/storage/s3"
)

// stallingProxy stands in front of the site's S3 server and passes every
// request through, but part uploads, which it never answers: it does not
// even read their bodies, as a store that hung would not. It returns the
// proxy's host:port and the count of part uploads it is holding.
func stallingProxy(t *testing.T, s site) (string, *atomic.Int32) {
	t.Helper()
	target := &url.URL{Scheme: "http", Host: s.cfg.Endpoint}
	rp := &httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) {
		r.SetURL(target)
		r.Out.Host = r.In.Host // the client signed this Host
	}}
	var held atomic.Int32
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPut && r.URL.Query().Has("partNumber") {
			held.Add(1)
			defer held.Add(-1)
			select {
			case <-r.Context().Done():
			case <-release:
			}
			return
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) }) // runs first: Close waits for the handlers
	return strings.TrimPrefix(srv.URL, "http://"), &held
}

// within runs f and fails the test if it has not returned after d.
func within(t *testing.T, what string, d time.Duration, f func()) {
	t.Helper()
	done := make(chan struct{})
	start := time.Now()
	go func() {
		defer close(done)
		f()
	}()
	select {
	case <-done:
		t.Logf("%s returned after %v", what, time.Since(start).Round(time.Millisecond))
	case <-time.After(d):
		t.Fatalf("%s still blocked after %v on a store that does not answer", what, d)
	}
}

// waitHeld waits until the proxy holds n part uploads.
func waitHeld(t *testing.T, held *atomic.Int32, n int32) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for held.Load() < n {
		if time.Now().After(deadline) {
			t.Fatalf("the proxy holds %d part uploads, want %d", held.Load(), n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestHungStoreDoesNotHoldTheWriter: part uploads to a store that stopped
// answering do not hold a Writer past the bounds it was given: a
// Checkpoint's context, Close and Abort, and the part timeout for a Write
// that waits for a part.
func TestHungStoreDoesNotHoldTheWriter(t *testing.T) {
	s := newSite(t)
	addr, held := stallingProxy(t, s)
	onProxy := func(c *s3.Config) { c.Endpoint = addr }
	part := payload(90, s3.MinPartSize)

	t.Run("Checkpoint and Close", func(t *testing.T) {
		b := s.backend(t, onProxy)
		w := create(t, b, newID(), 3*s3.MinPartSize)
		write(t, w, part) // a whole part: its upload starts and hangs
		waitHeld(t, held, 1)
		within(t, "Checkpoint", 10*time.Second, func() {
			ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
			defer cancel()
			if _, err := w.Checkpoint(ctx, []byte("s")); err == nil {
				t.Errorf("Checkpoint with a part hung succeeded")
			}
		})
		within(t, "Close", 10*time.Second, func() { w.Close() })
	})

	t.Run("Close", func(t *testing.T) {
		b := s.backend(t, onProxy)
		w := create(t, b, newID(), 3*s3.MinPartSize)
		write(t, w, part)
		within(t, "Close", 10*time.Second, func() {
			if err := w.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
		})
	})

	t.Run("Abort", func(t *testing.T) {
		b := s.backend(t, onProxy)
		id := newID()
		w := create(t, b, id, 3*s3.MinPartSize)
		write(t, w, part)
		within(t, "Abort", 10*time.Second, func() {
			if err := w.Abort(t.Context()); err != nil {
				t.Errorf("Abort: %v", err)
			}
		})
		_, err := b.Stat(t.Context(), id)
		wantErr(t, "Stat after Abort", err, storage.ErrNotFound)
	})

	t.Run("Write waiting for a part", func(t *testing.T) {
		b := s.backend(t, func(c *s3.Config) { onProxy(c); c.PartTimeout = 500 * time.Millisecond })
		w := create(t, b, newID(), 4*s3.MinPartSize)
		within(t, "Write", 10*time.Second, func() {
			// Two parts upload in the background; the third waits for
			// the first.
			for range 3 {
				if _, err := w.Write(part); err != nil {
					return
				}
			}
			t.Errorf("three parts were written to a store that does not answer")
		})
	})
}

// TestObjectSizeLimit: a declared size over S3's 5 TiB object limit is
// storage.ErrTooLarge (413 too_large, not a malformed request) and touches
// nothing in the bucket; the limit itself is accepted.
func TestObjectSizeLimit(t *testing.T) {
	s := newSite(t)
	b := s.backend(t, nil)
	_, err := b.Create(t.Context(), newID(), storage.Meta{Name: "f", Size: s3.MaxObjectSize + 1})
	wantErr(t, "Create of 5 TiB + 1", err, storage.ErrTooLarge)
	s.onlyKeys(t)
	w := create(t, b, newID(), s3.MaxObjectSize)
	if err := w.Abort(t.Context()); err != nil {
		t.Fatalf("Abort: %v", err)
	}
	s.onlyKeys(t)
}
