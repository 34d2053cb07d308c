package httpupload

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ferryhq/ferry/storage"
	"github.com/ferryhq/ferry/storage/local"
	"github.com/ferryhq/ferry/storage/s3"
	"github.com/ferryhq/ferry/storage/s3/s3test"
)

// stallingBackend injects a fault: its Writers' Writes wait until release is
// closed, as an S3 Write does while the part-buffer budget is spent.
type stallingBackend struct {
	storage.Backend
	release chan struct{}
	entered atomic.Int64 // Writes that started waiting
}

func (b *stallingBackend) Create(ctx context.Context, id string, meta storage.Meta) (storage.Writer, error) {
	w, err := b.Backend.Create(ctx, id, meta)
	if err != nil {
		return nil, err
	}
	return &stallingWriter{Writer: w, b: b}, nil
}

func (b *stallingBackend) Resume(ctx context.Context, id string) (storage.Writer, error) {
	w, err := b.Backend.Resume(ctx, id)
	if err != nil {
		return nil, err
	}
	return &stallingWriter{Writer: w, b: b}, nil
}

type stallingWriter struct {
	storage.Writer
	b *stallingBackend
}

func (w *stallingWriter) Write(p []byte) (int, error) {
	w.b.entered.Add(1)
	<-w.b.release
	return w.Writer.Write(p)
}

// countingBody counts the bytes the server reads from request bodies. Each
// Read fills p as a fast client's would, so the bytes read ahead are the
// memory the pieces they lie in take.
type countingBody struct {
	io.ReadCloser
	n *atomic.Int64
}

func (c countingBody) Read(p []byte) (int, error) {
	n, err := io.ReadFull(c.ReadCloser, p)
	c.n.Add(int64(n))
	if err == io.ErrUnexpectedEOF {
		err = io.EOF
	}
	return n, err
}

// Many uploads whose storage Writes wait (the S3 budget spent) hold no
// more read-ahead than the Handler's shared pieces plus one small piece
// each, however much their clients have sent: before the pieces came from
// a bounded bank, each held four pieces of 256 KiB. Once storage moves
// again, every upload completes with its bytes.
func TestReadAheadBoundedWhileStorageWaits(t *testing.T) {
	const uploads = 40
	size := 5 * pieceSize
	dir, err := local.New(local.Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	stall := &stallingBackend{Backend: dir, release: make(chan struct{})}
	h, err := New(Config{Backend: stall, Logger: quiet, TakeoverWait: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	var read atomic.Int64
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Body = countingBody{r.Body, &read}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(ts.Close)
	s := &testServer{Server: ts, h: h, backend: stall}

	data := randomData(t, size)
	locs := make([]string, uploads)
	for i := range locs {
		locs[i] = s.createTus(t, int64(size), "")
	}
	read.Store(0)
	errs := make([]error, uploads)
	var wg sync.WaitGroup
	for i, loc := range locs {
		wg.Go(func() { errs[i] = patch(s, loc, data) })
	}

	bound := int64(sharedPieces*pieceSize + uploads*ownPieceSize)
	var peak int64
	sample := func() int64 { n := read.Load(); peak = max(peak, n); return n }
	// Every upload's first Write waits; then let the readers run as far
	// ahead as they may: until the bytes read stop growing.
	waitFor(t, "every upload's Write to wait", func() bool { sample(); return stall.entered.Load() == uploads })
	for last, still := int64(-1), 0; still < 20; {
		time.Sleep(10 * time.Millisecond)
		if n := sample(); n == last {
			still++
		} else {
			last, still = n, 0
		}
	}
	if peak > bound {
		t.Errorf("%d uploads waiting for storage held %d bytes read ahead, want at most %d (%d shared pieces of %d + one of %d each)",
			uploads, peak, bound, sharedPieces, pieceSize, ownPieceSize)
	}
	t.Logf("read ahead while storage waited: %d bytes (bound %d, %d uploads)", peak, bound, uploads)

	close(stall.release)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("upload %d: %v", i, err)
		}
		if info, got := s.stored(t, locs[i]); !bytes.Equal(got, data) || info.SHA256 != sum(data) {
			t.Fatalf("upload %d: stored %d bytes (sha256 %s), want the %d sent", i, len(got), info.SHA256, len(data))
		}
	}
}

// patch sends data as one tus PATCH at offset 0 and expects it whole.
func patch(s *testServer, loc string, data []byte) error {
	req, err := http.NewRequest("PATCH", s.URL+loc, bytes.NewReader(data))
	if err != nil {
		return err
	}
	req.Header.Set("Tus-Resumable", "1.0.0")
	req.Header.Set("Upload-Offset", "0")
	req.Header.Set("Content-Type", "application/offset+octet-stream")
	resp, err := s.Client().Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusNoContent || resp.Header.Get("Upload-Offset") != strconv.Itoa(len(data)) {
		return fmt.Errorf("PATCH: %d, offset %q: %s", resp.StatusCode, resp.Header.Get("Upload-Offset"), body)
	}
	return nil
}

// waitFor polls cond; it sees goroutines reach a blocking call and times
// nothing.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for range 3000 {
		if cond() {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("never happened: %s", what)
}

// On S3 with the part-buffer memory of one part and a bank of two shared
// pieces, many uploads that each span two parts all complete: an upload
// that holds read-ahead while it waits for a part buffer never keeps the
// upload that holds the buffer from reading the bytes that free it.
func TestTinyBudgetsManyUploadsComplete(t *testing.T) {
	const uploads = 12
	b := s3test.NewBackend(t, func(c *s3.Config) {
		c.PartSize = s3.MinPartSize
		c.BufferMemory = s3.MinPartSize
	})
	h, err := New(Config{Backend: b, Logger: quiet, TakeoverWait: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	h.pieces = newPieceBank(2)
	ts := httptest.NewServer(h)
	t.Cleanup(ts.Close)
	s := &testServer{Server: ts, h: h, backend: b}

	data := randomData(t, s3.MinPartSize+3*pieceSize)
	locs := make([]string, uploads)
	for i := range locs {
		locs[i] = s.createTus(t, int64(len(data)), "")
	}
	errs := make([]error, uploads)
	var wg sync.WaitGroup
	for i, loc := range locs {
		wg.Go(func() { errs[i] = patch(s, loc, data) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("upload %d: %v", i, err)
		}
		if info, got := s.stored(t, locs[i]); !bytes.Equal(got, data) || info.SHA256 != sum(data) {
			t.Fatalf("upload %d: stored %d bytes (sha256 %s), want the %d sent", i, len(got), info.SHA256, len(data))
		}
	}
}
