package s3_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/ferryhq/ferry/storage/s3"
)

// losingProxy stands in front of the site's S3 server and passes every
// request through. Once armed with a key suffix, it passes the next PUT of a
// key with that suffix to the store, lets the store answer it in full, and
// then keeps the answer: the client hears nothing until it gives up, as
// when its context ends while a saturated store is still answering. The
// channel arm returns is closed once the store has answered (the write has
// landed, or been refused).
func losingProxy(t *testing.T, s site) (addr string, arm func(suffix string) <-chan struct{}) {
	t.Helper()
	target := &url.URL{Scheme: "http", Host: s.cfg.Endpoint}
	rp := &httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) {
		r.SetURL(target)
		r.Out.Host = r.In.Host // the client signed this Host
	}}
	var mu sync.Mutex
	var suffix string
	var landed chan struct{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		lose := suffix != "" && r.Method == http.MethodPut && strings.HasSuffix(r.URL.Path, suffix)
		var done chan struct{}
		if lose {
			done, suffix = landed, ""
		}
		mu.Unlock()
		if !lose {
			rp.ServeHTTP(w, r)
			return
		}
		rec := httptest.NewRecorder()
		rp.ServeHTTP(rec, r)
		t.Logf("store answered %s %s with %d; the proxy keeps the answer", r.Method, r.URL.Path, rec.Code)
		close(done)
		<-r.Context().Done()
	}))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://"), func(sfx string) <-chan struct{} {
		mu.Lock()
		defer mu.Unlock()
		suffix, landed = sfx, make(chan struct{})
		return landed
	}
}

// TestCheckpointAnswerLost: a Checkpoint whose state write reached the store
// but whose answer was lost (its context ended first: the WebSocket
// session's storage grace after a disconnect, a tus request's) fails, and
// the upload still resumes, from the state the store kept. The Checkpoint
// cannot tell whether its state landed, so it must not delete the pending
// object that state may list: Resume would find the state pointing at a
// missing object and answer not_found for an upload whose bytes were all
// acknowledged.
func TestCheckpointAnswerLost(t *testing.T) {
	tests := []struct {
		name        string
		first, then int // Checkpoint at first (succeeds), then at then (answer lost)
	}{
		{"pending bytes", 100, 200},
		{"pending bytes after earlier ones", 100, 3 * mib},
		{"a whole part and pending bytes", 100, s3.MinPartSize + 100},
	}
	s := newSite(t)
	addr, arm := losingProxy(t, s)
	b := s.backend(t, func(c *s3.Config) { c.Endpoint = addr })
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := payload(uint64(95+i), 2*s3.MinPartSize+mib)
			id := newID()
			w := create(t, b, id, int64(len(data)))
			write(t, w, data[:tt.first])
			checkpoint(t, w, "first")
			write(t, w, data[tt.first:tt.then])

			landed := arm(id + "/state")
			ctx, cancel := context.WithCancel(t.Context())
			go func() {
				<-landed
				cancel()
			}()
			if _, err := w.Checkpoint(ctx, []byte("then")); err == nil {
				t.Fatal("Checkpoint succeeded though its answer was lost")
			}
			cancel()
			w.Close()

			// The state write landed: Resume continues from it.
			w, err := b.Resume(t.Context(), id)
			if err != nil {
				t.Fatalf("Resume after a Checkpoint whose answer was lost: %v", err)
			}
			t.Cleanup(func() { w.Close() })
			if off := w.Info().Offset; off != int64(tt.then) || string(w.State()) != "then" {
				t.Fatalf("Resume: offset %d, state %q; want %d, %q", off, w.State(), tt.then, "then")
			}
			write(t, w, data[tt.then:])
			checkpoint(t, w, "all")
			commit(t, w, data)
			sameBytes(t, "file", contents(t, b, id), data)
			if got := s.fileKeys(t, id); len(got) != 3 {
				t.Fatalf("keys of the file: %q; want data, record and list entry only", got)
			}
		})
	}
}
