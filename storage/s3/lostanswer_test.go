package s3_test

import (
	"context"
	"testing"

	"github.com/ferryhq/ferry/storage/s3"
	"github.com/ferryhq/ferry/storage/s3/s3test"
)

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
	proxy := s3test.NewLosingProxy(t, s.cfg.Endpoint)
	b := s.backend(t, func(c *s3.Config) { c.Endpoint = proxy.Addr })
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := payload(uint64(95+i), 2*s3.MinPartSize+mib)
			id := newID()
			w := create(t, b, id, int64(len(data)))
			write(t, w, data[:tt.first])
			checkpoint(t, w, "first")
			write(t, w, data[tt.first:tt.then])

			landed := proxy.Arm(id + "/state")
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
