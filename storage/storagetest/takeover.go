package storagetest

import (
	"context"
	"testing"
	"time"

	"github.com/ferryhq/ferry/storage"
)

// takeOverer returns b as a storage.TakeOverer, or skips the test if it is
// none. It fails if the backend's Writers are Yielders while the backend is
// no TakeOverer, or the other way round: the two come together.
func takeOverer(t *testing.T, b storage.Backend) storage.TakeOverer {
	t.Helper()
	to, ok := storage.As[storage.TakeOverer](b)
	_, w := create(t, b, 1)
	_, yields := w.(storage.Yielder)
	w.Close()
	switch {
	case ok != yields:
		t.Fatalf("backend is a TakeOverer: %v, its Writers are Yielders: %v; want both or neither", ok, yields)
	case !ok:
		t.Skip("backend does not implement storage.TakeOverer")
	}
	return to
}

// yield calls Yield on w, which must be a storage.Yielder.
func yield(t *testing.T, w storage.Writer) <-chan struct{} {
	t.Helper()
	ch, err := w.(storage.Yielder).Yield(t.Context())
	if err != nil {
		t.Fatalf("Yield: %v", err)
	}
	return ch
}

// takeOverWait bounds how long the suite waits for a yielding holder to be
// asked and let go; backends should need about a second at most.
const takeOverWait = 20 * time.Second

// testTakeOver: a yielding holder is asked to let go, checkpoints and
// closes; TakeOver returns a Writer at that checkpoint, which finishes the
// upload.
func testTakeOver(t *testing.T, b storage.Backend) {
	to := takeOverer(t, b)
	data := payload(50, 30000)
	id, w := create(t, b, int64(len(data)))
	write(t, w, data[:10000])
	checkpoint(t, w, []byte("first"))
	asked := yield(t, w)
	select {
	case <-asked:
		t.Fatalf("Yield channel closed before anyone asked")
	default:
	}

	// The holder: when asked, write a little more, checkpoint, close.
	held := make(chan error, 1)
	go func() {
		select {
		case <-asked:
		case <-time.After(takeOverWait):
			held <- context.DeadlineExceeded
			return
		}
		if _, err := w.Write(data[10000:20000]); err != nil {
			held <- err
			return
		}
		if _, err := w.Checkpoint(context.Background(), []byte("second")); err != nil {
			held <- err
			return
		}
		held <- w.Close()
	}()

	ctx, cancel := context.WithTimeout(t.Context(), takeOverWait)
	defer cancel()
	start := time.Now()
	w2, err := to.TakeOver(ctx, id)
	if err != nil {
		t.Fatalf("TakeOver of a yielding holder: %v", err)
	}
	t.Cleanup(func() { w2.Close() })
	t.Logf("TakeOver took %v", time.Since(start).Round(time.Millisecond))
	if err := <-held; err != nil {
		t.Fatalf("holder asked to let go: %v", err)
	}
	if in := w2.Info(); in.Offset != 20000 || w2.Written() != 20000 || string(w2.State()) != "second" {
		t.Fatalf("after TakeOver: offset %d, written %d, state %q; want 20000, 20000, %q",
			in.Offset, w2.Written(), w2.State(), "second")
	}
	_, err = w.Write(data[20000:])
	wantErr(t, "Write of the holder after it let go", err, storage.ErrClosed)
	_, err = b.Resume(t.Context(), id)
	wantErr(t, "Resume while the taker holds the upload", err, storage.ErrLocked)
	write(t, w2, data[20000:])
	checkpoint(t, w2, []byte("all"))
	commit(t, w2, data)
	sameBytes(t, "stored file", contents(t, b, id), data)
}

// testTakeOverNonYielding: a holder that never called Yield is not asked;
// TakeOver answers ErrLocked at once and the holder keeps the upload.
func testTakeOverNonYielding(t *testing.T, b storage.Backend) {
	to := takeOverer(t, b)
	id, w := create(t, b, 10)
	write(t, w, []byte("abc"))
	checkpoint(t, w, nil)
	ctx, cancel := context.WithTimeout(t.Context(), takeOverWait)
	defer cancel()
	start := time.Now()
	_, err := to.TakeOver(ctx, id)
	wantErr(t, "TakeOver of a non-yielding holder", err, storage.ErrLocked)
	if d := time.Since(start); d > takeOverWait/2 {
		t.Fatalf("TakeOver of a non-yielding holder took %v; want an answer at once", d)
	}
	write(t, w, []byte("def"))
	checkpoint(t, w, nil)
}

// testTakeOverHolderKeeps: a yielding holder that does not let go keeps the
// upload; TakeOver gives up with ErrLocked when its ctx ends, and the holder
// saw its Yield channel close.
func testTakeOverHolderKeeps(t *testing.T, b storage.Backend) {
	to := takeOverer(t, b)
	id, w := create(t, b, 10)
	write(t, w, []byte("abc"))
	checkpoint(t, w, nil)
	asked := yield(t, w)
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
	defer cancel()
	_, err := to.TakeOver(ctx, id)
	wantErr(t, "TakeOver while the holder does not let go", err, storage.ErrLocked)
	select {
	case <-asked:
	case <-time.After(takeOverWait):
		t.Fatalf("holder's Yield channel was not closed by TakeOver")
	}
	write(t, w, []byte("def"))
	if off := checkpoint(t, w, []byte("kept")); off != 6 {
		t.Fatalf("holder's Checkpoint after a failed TakeOver = %d, want 6", off)
	}
	if err := w.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	ctx, cancel = context.WithTimeout(t.Context(), takeOverWait)
	defer cancel()
	w2, err := to.TakeOver(ctx, id)
	if err != nil {
		t.Fatalf("TakeOver of an upload no one holds: %v", err)
	}
	defer w2.Close()
	if w2.Info().Offset != 6 || string(w2.State()) != "kept" {
		t.Fatalf("after TakeOver: offset %d, state %q; want 6, %q", w2.Info().Offset, w2.State(), "kept")
	}
}

// testTakeOverNoUpload: TakeOver answers as Resume does for complete,
// unknown and invalid ids.
func testTakeOverNoUpload(t *testing.T, b storage.Backend) {
	to := takeOverer(t, b)
	ctx := t.Context()
	id := upload(t, b, []byte("done"))
	_, err := to.TakeOver(ctx, id)
	wantErr(t, "TakeOver of a complete file", err, storage.ErrComplete)
	_, err = to.TakeOver(ctx, newID(t))
	wantErr(t, "TakeOver of an unknown id", err, storage.ErrNotFound)
	_, err = to.TakeOver(ctx, "../x")
	wantErr(t, "TakeOver of an invalid id", err, storage.ErrNotFound)

	// A holder that committed while asked: TakeOver then finds it complete.
	data := []byte("0123456789")
	id, w := create(t, b, int64(len(data)))
	write(t, w, data)
	checkpoint(t, w, nil)
	asked := yield(t, w)
	committed := make(chan error, 1)
	go func() {
		select {
		case <-asked:
		case <-time.After(takeOverWait):
			committed <- context.DeadlineExceeded // never asked
			return
		}
		_, err := w.Commit(context.Background(), digest(data))
		committed <- err
	}()
	ctx, cancel := context.WithTimeout(ctx, takeOverWait)
	defer cancel()
	_, err = to.TakeOver(ctx, id)
	if cerr := <-committed; cerr != nil {
		t.Fatalf("holder's Commit when asked: %v", cerr)
	}
	wantErr(t, "TakeOver of an upload its holder committed", err, storage.ErrComplete)
}
