package s3_test

import (
	"errors"
	"testing"
	"time"

	"github.com/ferryhq/ferry/storage"
	"github.com/ferryhq/ferry/storage/s3"
)

// waitUntil polls cond; it sees a goroutine reach a blocking call and
// times nothing.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for range 2000 {
		if cond() {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("never happened: %s", what)
}

// With the buffer memory of one part, a second upload's Write waits (the
// budget's queue holds it, no second buffer is allocated) until the first
// upload gives its buffer back, then both complete with their bytes.
func TestBufferMemoryWritersWait(t *testing.T) {
	site := newSite(t)
	b := site.backend(t, func(c *s3.Config) { c.BufferMemory = s3.MinPartSize })
	first, second := payload(1, s3.MinPartSize+1000), payload(2, 3000)
	w1 := create(t, b, newID(), int64(len(first)))
	w2 := create(t, b, newID(), int64(len(second)))

	write(t, w1, first[:1000]) // w1 holds the only buffer
	if used, _ := s3.BufferStats(b); used != s3.MinPartSize {
		t.Fatalf("buffer memory in use %d, want one part", used)
	}
	done := make(chan error, 1)
	go func() {
		_, err := w2.Write(second)
		done <- err
	}()
	waitUntil(t, "the second Write waits for buffer memory", func() bool {
		_, waiting := s3.BufferStats(b)
		return waiting == 1
	})
	select {
	case err := <-done:
		t.Fatalf("the second Write returned (%v) while the budget was spent", err)
	default:
	}
	if used, _ := s3.BufferStats(b); used != s3.MinPartSize {
		t.Fatalf("buffer memory in use %d while a Write waits, want one part", used)
	}

	// The rest of the first part fills w1's buffer; the part goes up and
	// its buffer comes back, w2 gets it. w1's last 1000 bytes then wait
	// behind w2, so they are written once w2 is done.
	write(t, w1, first[1000:s3.MinPartSize])
	if err := <-done; err != nil {
		t.Fatalf("second Write: %v", err)
	}
	checkpoint(t, w2, "")
	commit(t, w2, second)
	write(t, w1, first[s3.MinPartSize:])
	checkpoint(t, w1, "")
	commit(t, w1, first)
	sameBytes(t, "first", contents(t, b, w1.ID()), first)
	sameBytes(t, "second", contents(t, b, w2.ID()), second)
	if used, waiting := s3.BufferStats(b); used != 0 || waiting != 0 {
		t.Fatalf("after both commits: %d bytes in use, %d waiting", used, waiting)
	}
}

// A Write waiting for buffer memory returns when its upload is deleted.
func TestBufferMemoryWaitEndsOnDelete(t *testing.T) {
	site := newSite(t)
	b := site.backend(t, func(c *s3.Config) { c.BufferMemory = s3.MinPartSize })
	w1 := create(t, b, newID(), s3.MinPartSize) // its buffer is the whole budget
	w2 := create(t, b, newID(), 2000)
	write(t, w1, payload(1, 1000))
	done := make(chan error, 1)
	go func() {
		_, err := w2.Write(payload(2, 1000))
		done <- err
	}()
	waitUntil(t, "the Write waits", func() bool { _, n := s3.BufferStats(b); return n == 1 })
	if err := b.Delete(t.Context(), w2.ID()); err != nil {
		t.Fatal(err)
	}
	if err := <-done; !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("Write of a deleted upload: %v, want ErrNotFound", err)
	}
	w2.Close()
	w1.Close()
	if used, waiting := s3.BufferStats(b); used != 0 || waiting != 0 {
		t.Fatalf("after Close: %d bytes in use, %d waiting", used, waiting)
	}
}
