package s3_test

import (
	"context"
	"testing"
	"time"

	"github.com/ferryhq/ferry/storage"
	"github.com/ferryhq/ferry/storage/s3"
)

// TestTakeOverAcrossInstances: a Writer yielding on one instance is taken
// over from another through the lease record, in about a second, keeping
// the bytes of the holder's last Checkpoint.
func TestTakeOverAcrossInstances(t *testing.T) {
	s := newSite(t)
	one := s.backend(t, nil)
	two := s.backend(t, nil)
	data := payload(7, 6<<20+5)
	id := newID()
	w := create(t, one, id, int64(len(data)))
	write(t, w, data[:1<<20])
	checkpoint(t, w, "first")
	asked, err := w.(storage.Yielder).Yield(t.Context())
	if err != nil {
		t.Fatalf("Yield: %v", err)
	}
	held := make(chan error, 1)
	go func() {
		<-asked
		if _, err := w.Write(data[1<<20 : 5<<20+1]); err != nil {
			held <- err
			return
		}
		if _, err := w.Checkpoint(context.Background(), []byte("second")); err != nil {
			held <- err
			return
		}
		held <- w.Close()
	}()

	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	start := time.Now()
	w2, err := two.TakeOver(ctx, id)
	if err != nil {
		t.Fatalf("TakeOver from another instance: %v", err)
	}
	t.Cleanup(func() { w2.Close() })
	took := time.Since(start)
	t.Logf("TakeOver across instances took %v", took.Round(time.Millisecond))
	if took > 5*time.Second {
		t.Errorf("TakeOver across instances took %v, want about a second", took)
	}
	if err := <-held; err != nil {
		t.Fatalf("holder: %v", err)
	}
	if w2.Info().Offset != 5<<20+1 || string(w2.State()) != "second" {
		t.Fatalf("after TakeOver: offset %d, state %q", w2.Info().Offset, w2.State())
	}
	write(t, w2, data[5<<20+1:])
	checkpoint(t, w2, "all")
	commit(t, w2, data)
	sameBytes(t, "file", contents(t, one, id), data)
}

// TestTakeOverOfDeadYieldingHolder: a yielding holder that died (stopped
// renewing without releasing) never answers; TakeOver gets the upload once
// its lease has expired, if ctx lasts that long.
func TestTakeOverOfDeadYieldingHolder(t *testing.T) {
	s := newSite(t)
	ttl := func(c *s3.Config) { c.LeaseTTL = time.Second }
	one := s.backend(t, ttl)
	id := newID()
	w := create(t, one, id, 10)
	write(t, w, []byte("01234"))
	checkpoint(t, w, "five")
	if _, err := w.(storage.Yielder).Yield(t.Context()); err != nil {
		t.Fatalf("Yield: %v", err)
	}
	s3.Abandon(w)

	two := s.backend(t, ttl)
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	w2, err := two.TakeOver(ctx, id)
	if err != nil {
		t.Fatalf("TakeOver of a dead yielding holder: %v", err)
	}
	defer w2.Close()
	if w2.Info().Offset != 5 || string(w2.State()) != "five" {
		t.Fatalf("after TakeOver: offset %d, state %q", w2.Info().Offset, w2.State())
	}
}

// TestTakeOverRacesWithClose: a yielding holder that closes on its own
// while a TakeOver asks leaves the upload to the taker all the same.
func TestTakeOverRacesWithClose(t *testing.T) {
	s := newSite(t)
	one := s.backend(t, nil)
	two := s.backend(t, nil)
	for i := range 5 {
		id := newID()
		w := create(t, one, id, 10)
		write(t, w, []byte("0123"))
		checkpoint(t, w, "four")
		if _, err := w.(storage.Yielder).Yield(t.Context()); err != nil {
			t.Fatalf("Yield: %v", err)
		}
		closed := make(chan struct{})
		go func() {
			defer close(closed)
			time.Sleep(time.Duration(i) * 20 * time.Millisecond)
			w.Close()
		}()
		ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
		w2, err := two.TakeOver(ctx, id)
		cancel()
		<-closed
		if err != nil {
			t.Fatalf("round %d: TakeOver while the holder closes: %v", i, err)
		}
		if w2.Info().Offset != 4 {
			t.Fatalf("round %d: offset %d, want 4", i, w2.Info().Offset)
		}
		w2.Close()
	}
}
