package upload

import (
	"bytes"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ferryhq/ferry/client"
	"github.com/ferryhq/ferry/storage/s3"
	"github.com/ferryhq/ferry/storage/s3/s3test"
)

// Sessions whose pieces do not come back (their storage Writes wait, as on
// S3 while the part-buffer budget is spent) hold together no more than the
// shared pieces plus one small piece each: before, each could hold 16
// pieces of 64 KiB, whatever the number of sessions.
func TestPiecePoolBoundsAllSessions(t *testing.T) {
	const sessions = 64
	pool := newPiecePool()
	done := make(chan struct{})
	var held atomic.Int64 // bytes of the pieces out
	var mu sync.Mutex
	var out []struct {
		q *pieceQuota
		p *[]byte
	}
	var wg sync.WaitGroup
	for range sessions {
		q := newPieceQuota(pool)
		wg.Go(func() {
			for {
				p, ok := q.get(done)
				if !ok {
					return
				}
				held.Add(int64(cap(*p)))
				mu.Lock()
				out = append(out, struct {
					q *pieceQuota
					p *[]byte
				}{q, p})
				mu.Unlock()
			}
		})
	}
	// Let every session take as many pieces as it may: until the count
	// stops growing.
	var peak int64
	for last, still := int64(-1), 0; still < 20; {
		time.Sleep(10 * time.Millisecond)
		n := held.Load()
		peak = max(peak, n)
		if n == last {
			still++
		} else {
			last, still = n, 0
		}
	}
	bound := int64(sharedPieces*pieceSize + sessions*ownPieceSize)
	if peak > bound {
		t.Errorf("%d sessions hold %d bytes of pieces, want at most %d (%d shared of %d + one of %d each)",
			sessions, peak, bound, sharedPieces, pieceSize, ownPieceSize)
	}
	close(done)
	wg.Wait()
	for _, o := range out {
		o.q.put(o.p)
	}
	if n := len(pool.shared); n != 0 {
		t.Errorf("%d shared pieces still counted out after every piece came back", n)
	}
}

// A session always gets its own piece, even while other sessions hold
// every shared one, and waits for it only while it holds it itself.
func TestPieceQuotaOwnPieceWhenSharedSpent(t *testing.T) {
	pool := newPiecePoolOf(2)
	hog := newPieceQuota(pool)
	var hogged []*[]byte
	for range 2 {
		p, ok := hog.get(nil)
		if !ok || cap(*p) != pieceSize {
			t.Fatalf("first pieces: want shared ones of %d bytes", pieceSize)
		}
		hogged = append(hogged, p)
	}
	q := newPieceQuota(pool)
	own, ok := q.get(nil)
	if !ok || cap(*own) != ownPieceSize {
		t.Fatalf("with the shared pieces spent, want the session's own piece of %d bytes", ownPieceSize)
	}
	got := make(chan *[]byte)
	go func() {
		p, _ := q.get(nil)
		got <- p
	}()
	select {
	case p := <-got:
		t.Fatalf("a second piece (%d bytes) came while the own one and every shared one were out", cap(*p))
	case <-time.After(50 * time.Millisecond):
	}
	q.put(own)
	if p := <-got; cap(*p) != ownPieceSize {
		t.Fatalf("after the own piece came back, got a piece of %d bytes, want it again", cap(*p))
	}
	for _, p := range hogged {
		hog.put(p)
	}
	// With shared pieces free again, a get takes one of those.
	p, _ := newPieceQuota(pool).get(nil)
	if cap(*p) != pieceSize {
		t.Fatalf("with shared pieces free, got a piece of %d bytes, want %d", cap(*p), pieceSize)
	}
}

// On S3 with the part-buffer memory of one part and a pool of two shared
// pieces, many WebSocket uploads that each span two parts all complete: a
// session that holds pieces while it waits for a part buffer never keeps
// the session that holds the buffer from reading the bytes that free it.
func TestTinyBudgetsManyWebSocketUploadsComplete(t *testing.T) {
	const uploads = 8
	b := s3test.NewBackend(t, func(c *s3.Config) {
		c.PartSize = s3.MinPartSize
		c.BufferMemory = s3.MinPartSize
	})
	h, err := NewHandler(Config{Backend: b})
	if err != nil {
		t.Fatal(err)
	}
	h.pieces = newPiecePoolOf(2)
	srv := serveTestHandler(t, h, b).srv

	data := randomBytes(t, s3.MinPartSize+300<<10)
	want := hexSum(data)
	results := make([]client.Result, uploads)
	errs := make([]error, uploads)
	var wg sync.WaitGroup
	for i := range uploads {
		wg.Go(func() {
			results[i], errs[i] = client.Upload(t.Context(), bytes.NewReader(data), int64(len(data)),
				client.Options{Server: srv.URL, Name: fmt.Sprintf("tiny-%d.bin", i), SHA256: want})
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("upload %d: %v", i, err)
		}
		if got := storedSum(t, b, results[i].ID); got != want {
			t.Fatalf("upload %d: stored sha256 %s, want %s", i, got, want)
		}
	}
}
