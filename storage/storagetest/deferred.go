package storagetest

import (
	"testing"

	"github.com/ferryhq/ferry/storage"
)

// createUnknown makes an upload of unknown size and closes its Writer at the
// end of the test if the test left it open.
func createUnknown(t *testing.T, b storage.Backend) (string, storage.Writer) {
	t.Helper()
	return create(t, b, storage.SizeUnknown)
}

// wantSize fails unless the Writer's Info reports size.
func wantSize(t *testing.T, what string, w storage.Writer, size int64) {
	t.Helper()
	if got := w.Info().Meta.Size; got != size {
		t.Fatalf("%s: Writer's Info().Meta.Size = %d, want %d", what, got, size)
	}
}

// wantStat fails unless Stat reports the durable size and offset.
func wantStat(t *testing.T, what string, b storage.Backend, id string, size, offset int64) {
	t.Helper()
	st := mustStat(t, b, id)
	if st.Meta.Size != size || st.Offset != offset || st.Complete {
		t.Fatalf("%s: Stat = size %d, offset %d, complete %v; want size %d, offset %d, incomplete",
			what, st.Meta.Size, st.Offset, st.Complete, size, offset)
	}
}

// reopen closes w and resumes id, checking the durable size and offset.
func reopen(t *testing.T, b storage.Backend, id string, w storage.Writer, size, offset int64) storage.Writer {
	t.Helper()
	if err := w.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	w = resume(t, b, id)
	if in := w.Info(); in.Meta.Size != size || in.Offset != offset || w.Written() != offset {
		t.Fatalf("after Resume: size %d, offset %d, written %d; want size %d, offset %d",
			in.Meta.Size, in.Offset, w.Written(), size, offset)
	}
	return w
}

// testDeferredSize: an upload of unknown size takes writes past any part
// boundary, reports SizeUnknown until a Checkpoint records the size, then is
// bound by it.
func testDeferredSize(t *testing.T, b storage.Backend) {
	const mib = 1 << 20
	data := payload(40, 10*mib+1234) // crosses object-store parts of 5 MiB
	size := int64(len(data))
	a, c := 3*mib+5, 6*mib+77 // checkpointed while unknown; written before SetSize
	id, w := createUnknown(t, b)
	wantSize(t, "new upload", w, storage.SizeUnknown)
	wantStat(t, "new upload", b, id, storage.SizeUnknown, 0)

	write(t, w, data[:a])
	checkpoint(t, w, []byte("a"))
	_, err := w.Commit(t.Context(), digest(data[:a]))
	wantErr(t, "Commit while the size is unknown", err, storage.ErrIncomplete)
	wantStat(t, "checkpointed, size unknown", b, id, storage.SizeUnknown, int64(a))
	w = reopen(t, b, id, w, storage.SizeUnknown, int64(a))

	// A size set but never checkpointed is lost with the bytes after Offset.
	write(t, w, data[a:c])
	if err := w.SetSize(size); err != nil {
		t.Fatalf("SetSize(%d): %v", size, err)
	}
	wantSize(t, "after SetSize", w, size)
	wantStat(t, "SetSize not checkpointed", b, id, storage.SizeUnknown, int64(a))
	w = reopen(t, b, id, w, storage.SizeUnknown, int64(a))

	write(t, w, data[a:c])
	if err := w.SetSize(size); err != nil {
		t.Fatalf("SetSize(%d): %v", size, err)
	}
	checkpoint(t, w, []byte("c"))
	wantStat(t, "SetSize checkpointed", b, id, size, int64(c))
	w = reopen(t, b, id, w, size, int64(c))
	if err := w.SetSize(size); err != nil {
		t.Fatalf("SetSize(%d) again after Resume: %v", size, err)
	}

	_, err = w.Write(make([]byte, int(size)-c+1))
	wantErr(t, "Write past the size SetSize declared", err, storage.ErrSizeExceeded)
	if w.Written() != int64(c) {
		t.Fatalf("Written after a refused Write = %d, want %d", w.Written(), c)
	}
	write(t, w, data[c:])
	if !storage.CommitSyncs(w) {
		_, err = w.Commit(t.Context(), digest(data))
		wantErr(t, "Commit before the last bytes were checkpointed", err, storage.ErrIncomplete)
		checkpoint(t, w, []byte("all"))
	}
	commit(t, w, data)
	sameBytes(t, "stored file", contents(t, b, id), data)
	if st := mustStat(t, b, id); !st.Complete || st.Meta.Size != size {
		t.Fatalf("Stat after Commit = %+v, want complete, size %d", st, size)
	}
}

// testDeferredSizeAfterAllBytes: the size is declared once every byte is
// written and checkpointed; Commit records it with the file. The last part
// is short and was in the buffer when SetSize came.
func testDeferredSizeAfterAllBytes(t *testing.T, b storage.Backend) {
	data := payload(41, 5<<20+999)
	id, w := createUnknown(t, b)
	write(t, w, data[:1000])
	write(t, w, data[1000:])
	checkpoint(t, w, []byte("s"))
	if err := w.SetSize(int64(len(data))); err != nil {
		t.Fatalf("SetSize: %v", err)
	}
	commit(t, w, data)
	sameBytes(t, "stored file", contents(t, b, id), data)

	// Same, with the size checkpointed before Commit.
	id, w = createUnknown(t, b)
	write(t, w, data)
	if err := w.SetSize(int64(len(data))); err != nil {
		t.Fatalf("SetSize: %v", err)
	}
	checkpoint(t, w, []byte("s"))
	commit(t, w, data)
	sameBytes(t, "stored file", contents(t, b, id), data)
}

// testDeferredSizeEmpty: an upload of unknown size can end up empty.
func testDeferredSizeEmpty(t *testing.T, b storage.Backend) {
	id, w := createUnknown(t, b)
	if err := w.SetSize(0); err != nil {
		t.Fatalf("SetSize(0): %v", err)
	}
	_, err := w.Write([]byte{0})
	wantErr(t, "Write of 1 byte after SetSize(0)", err, storage.ErrSizeExceeded)
	commit(t, w, nil)
	if got := contents(t, b, id); len(got) != 0 {
		t.Fatalf("empty file reads %d bytes", len(got))
	}
}

// testDeferredSizeErrors: SetSize refuses what cannot be the size.
func testDeferredSizeErrors(t *testing.T, b storage.Backend) {
	_, w := createUnknown(t, b)
	write(t, w, []byte("0123456789"))
	for _, bad := range []int64{-2, storage.SizeUnknown, 9} {
		wantErr(t, "SetSize of a negative size or one below Written", w.SetSize(bad), storage.ErrInvalid)
	}
	wantSize(t, "after refused SetSizes", w, storage.SizeUnknown)
	if err := w.SetSize(10); err != nil {
		t.Fatalf("SetSize(Written): %v", err)
	}
	if err := w.SetSize(10); err != nil {
		t.Fatalf("SetSize of the same size again: %v", err)
	}
	for _, bad := range []int64{11, storage.SizeUnknown, 0} {
		wantErr(t, "SetSize of another size once known", w.SetSize(bad), storage.ErrInvalid)
	}
	wantSize(t, "after refused SetSizes", w, 10)

	// A size declared at Create is known from the start.
	_, w = create(t, b, 5)
	if err := w.SetSize(5); err != nil {
		t.Fatalf("SetSize of the declared size: %v", err)
	}
	wantErr(t, "SetSize of another size than declared", w.SetSize(6), storage.ErrInvalid)
	w.Close()
	wantErr(t, "SetSize on a closed Writer", w.SetSize(5), storage.ErrClosed)
}

// hugeSize is more than any store can hold: 4 EiB, beyond S3's 5 TiB object
// limit and beyond any local file system.
const hugeSize int64 = 1 << 62

// testTooLarge: a size the store can never hold is refused with
// ErrTooLarge, at Create (leaving nothing behind) and at SetSize (leaving the
// size unknown and the Writer usable).
func testTooLarge(t *testing.T, b storage.Backend) {
	id := newID(t)
	w, err := b.Create(t.Context(), id, storage.Meta{Name: "huge.bin", Size: hugeSize})
	if err == nil {
		w.Close()
	}
	wantErr(t, "Create of 4 EiB", err, storage.ErrTooLarge)
	gone(t, b, id)

	id, w = createUnknown(t, b)
	write(t, w, []byte("0123456789"))
	wantErr(t, "SetSize of 4 EiB", w.SetSize(hugeSize), storage.ErrTooLarge)
	wantSize(t, "after a refused SetSize", w, storage.SizeUnknown)
	checkpoint(t, w, []byte("s"))
	if err := w.SetSize(10); err != nil {
		t.Fatalf("SetSize(Written) after a refused SetSize: %v", err)
	}
	commit(t, w, []byte("0123456789"))
	sameBytes(t, "stored file", contents(t, b, id), []byte("0123456789"))
}
