package storagetest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ferryhq/ferry/storage"
)

// Run checks that backends made by newBackend keep the storage contract
// (storage.go and docs/protocol.md §3). newBackend must return a fresh, empty
// backend each time it is called (a new directory, a new bucket or prefix)
// and clean it up with t.Cleanup; several subtests call it.
//
// The suite goes through the storage API only, so it runs unchanged against
// a local directory or a real object store. It writes about 15 MiB in all;
// the largest single upload (about 12 MiB in chunks of 32 B to 5 MiB, with
// Close and Resume between them) crosses object-store part boundaries.
// Optional capabilities (storage.Expirer, storage.PartialOpener,
// storage.Pinger, storage.TakeOverer with Writers that are
// storage.Yielders) are tested when the backend has them.
func Run(t *testing.T, newBackend func(t *testing.T) storage.Backend) {
	t.Helper()
	RunWithHarness(t, func(t *testing.T) Harness { return Harness{Backend: newBackend(t)} })
}

// RunWithHarness is Run with a Harness per subtest; with Harness.Leftovers
// it also checks that what should be removed leaves nothing behind.
func RunWithHarness(t *testing.T, newHarness func(t *testing.T) Harness) {
	t.Helper()
	// Subtests in empty must leave the store with nothing at all.
	empty := map[string]bool{
		"CreateInvalidMeta":  true,
		"UnknownID":          true,
		"HostileIDs":         true,
		"DeleteWhileWriting": true,
		"DeleteIncomplete":   true,
		"Abort":              true,
		"ListEmpty":          true,
	}
	tests := []struct {
		name string
		run  func(t *testing.T, b storage.Backend)
	}{
		{"RoundTrip", testRoundTrip},
		{"ObjectSeek", testObjectSeek},
		{"EmptyFile", testEmptyFile},
		{"ResumeReturnsLastCheckpoint", testResumeLastCheckpoint},
		{"ResumeOfFreshUploadHasNoState", testResumeFresh},
		{"CheckpointStateIsCopied", testStateCopied},
		{"CheckpointWithoutNewBytes", testCheckpointSameOffset},
		{"MixedChunksAcrossResumes", testMixedChunks},
		{"Locked", testLocked},
		{"ResumeOfCompleteFile", testResumeComplete},
		{"CreateExisting", testCreateExisting},
		{"CreateInvalidMeta", testInvalidMeta},
		{"TooLarge", testTooLarge},
		{"UnknownID", testUnknownID},
		{"HostileIDs", testHostileIDs},
		{"SizeExceeded", testSizeExceeded},
		{"CommitIncomplete", testCommitIncomplete},
		{"DeferredSize", testDeferredSize},
		{"DeferredSizeAfterAllBytes", testDeferredSizeAfterAllBytes},
		{"DeferredSizeEmpty", testDeferredSizeEmpty},
		{"DeferredSizeErrors", testDeferredSizeErrors},
		{"TakeOver", testTakeOver},
		{"TakeOverNonYielding", testTakeOverNonYielding},
		{"TakeOverHolderKeeps", testTakeOverHolderKeeps},
		{"TakeOverNoUpload", testTakeOverNoUpload},
		{"DeleteWhileWriting", testDeleteWhileWriting},
		{"DeleteIncomplete", testDeleteIncomplete},
		{"DeleteComplete", testDeleteComplete},
		{"Abort", testAbort},
		{"ClosedWriter", testClosedWriter},
		{"StatFields", testStatFields},
		{"ListEmpty", testListEmpty},
		{"List", testList},
		{"DeleteExpired", testDeleteExpired},
		{"OpenPartial", testOpenPartial},
		{"Ping", testPing},
		{"ParallelUploads", testParallel},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { runWithLeftovers(t, newHarness(t), empty[tc.name], tc.run) })
	}
}

func testRoundTrip(t *testing.T, b storage.Backend) {
	data := payload(1, 100<<10+7)
	id := newID(t)
	meta := storage.Meta{
		Name:   `résumé "final" \ v2.pdf`,
		Size:   int64(len(data)),
		MIME:   "application/pdf",
		SHA256: digest(data),
	}
	w, err := b.Create(t.Context(), id, meta)
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	defer w.Close()
	if w.ID() != id {
		t.Fatalf("ID() = %q, want %q", w.ID(), id)
	}
	if in := w.Info(); in.ID != id || in.Meta != meta || in.Offset != 0 || in.Complete || w.Written() != 0 {
		t.Fatalf("new Writer: Info %+v, Written %d; want id %s, meta %+v, offset 0", in, w.Written(), id, meta)
	}
	write(t, w, data[:1])
	write(t, w, data[1:50000])
	checkpoint(t, w, []byte("half"))
	write(t, w, data[50000:])
	checkpoint(t, w, []byte("all"))
	in := commit(t, w, data)
	if in.ID != id || in.Meta != meta {
		t.Fatalf("Commit Info = %+v, want id %s and meta %+v", in, id, meta)
	}
	sameBytes(t, "stored file", contents(t, b, id), data)

	st := mustStat(t, b, id)
	if st.ID != id || st.Meta != meta || !st.Complete || st.SHA256 != digest(data) || st.Offset != meta.Size {
		t.Fatalf("Stat after Commit = %+v", st)
	}
	o, err := b.Open(t.Context(), id)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer o.Close()
	if oi := o.Info(); oi.ID != st.ID || oi.SHA256 != st.SHA256 || !oi.Modified.Equal(st.Modified) || !oi.Created.Equal(st.Created) || oi.Meta != st.Meta {
		t.Fatalf("Object.Info() = %+v, want Stat's %+v", oi, st)
	}
}

func testObjectSeek(t *testing.T, b storage.Backend) {
	data := payload(2, 64<<10)
	id := upload(t, b, data)
	o, err := b.Open(t.Context(), id)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer o.Close()
	size := int64(len(data))
	steps := []struct {
		name   string
		offset int64
		whence int
		want   int64 // position after the seek
		read   int   // bytes to read there
	}{
		{"end", 0, io.SeekEnd, size, 0},
		{"start", 0, io.SeekStart, 0, 10},
		{"middle", 30000, io.SeekStart, 30000, 1000},
		{"forward from current", 500, io.SeekCurrent, 31500, 100},
		{"back from current", -2000, io.SeekCurrent, 29600, 100},
		{"last bytes", -10, io.SeekEnd, size - 10, 10},
		{"start again", 0, io.SeekStart, 0, 1},
	}
	for _, s := range steps {
		pos, err := o.Seek(s.offset, s.whence)
		if err != nil || pos != s.want {
			t.Fatalf("%s: Seek(%d, %d) = %d, %v; want %d", s.name, s.offset, s.whence, pos, err, s.want)
		}
		buf := make([]byte, s.read)
		if _, err := io.ReadFull(o, buf); err != nil {
			t.Fatalf("%s: read %d bytes at %d: %v", s.name, s.read, pos, err)
		}
		sameBytes(t, s.name, buf, data[pos:pos+int64(s.read)])
	}
	if _, err := o.Seek(0, io.SeekEnd); err != nil {
		t.Fatalf("Seek to end: %v", err)
	}
	if n, err := o.Read(make([]byte, 10)); n != 0 || err != io.EOF {
		t.Fatalf("Read at end = %d, %v; want 0, io.EOF", n, err)
	}
}

func testEmptyFile(t *testing.T, b storage.Backend) {
	id, w := create(t, b, 0)
	if n, err := w.Write(nil); n != 0 || err != nil {
		t.Fatalf("Write(nil) to an empty upload = %d, %v; want 0, nil", n, err)
	}
	_, err := w.Write([]byte{0})
	wantErr(t, "Write of 1 byte to a size-0 upload", err, storage.ErrSizeExceeded)
	commit(t, w, nil)
	if got := contents(t, b, id); len(got) != 0 {
		t.Fatalf("empty file reads %d bytes", len(got))
	}
	if st := mustStat(t, b, id); !st.Complete || st.Offset != 0 || st.Meta.Size != 0 || st.SHA256 != digest(nil) {
		t.Fatalf("Stat of empty file = %+v", st)
	}
}

func testResumeLastCheckpoint(t *testing.T, b storage.Backend) {
	kept := payload(3, 3000)
	dropped := payload(4, 500)
	rest := payload(5, 1000)
	size := int64(len(kept) + len(rest))
	id, w := create(t, b, size)
	write(t, w, kept[:1000])
	checkpoint(t, w, []byte("first"))
	write(t, w, kept[1000:])
	state := []byte{0, 1, 2, 0xff, 'x'} // binary, as a hash state would be
	checkpoint(t, w, state)
	write(t, w, dropped) // never checkpointed: must not survive
	if err := w.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	w = resume(t, b, id)
	if w.ID() != id || w.Info().Offset != int64(len(kept)) || w.Written() != int64(len(kept)) {
		t.Fatalf("after Resume: ID %s, Info().Offset %d, Written %d; want %s, %d, %d",
			w.ID(), w.Info().Offset, w.Written(), id, len(kept), len(kept))
	}
	if !bytes.Equal(w.State(), state) {
		t.Fatalf("after Resume: State %v, want the last Checkpoint's %v", w.State(), state)
	}
	if in := w.Info(); in.Meta.Size != size || in.Meta.Name != "file.bin" || in.Complete {
		t.Fatalf("after Resume: Info %+v", in)
	}
	if st := mustStat(t, b, id); st.Offset != int64(len(kept)) || st.Complete {
		t.Fatalf("Stat after Resume = %+v, want offset %d, incomplete", st, len(kept))
	}
	write(t, w, rest)
	checkpoint(t, w, []byte("done"))
	want := append(slices.Clone(kept), rest...)
	commit(t, w, want)
	sameBytes(t, "file resumed after dropped bytes", contents(t, b, id), want)
}

func testResumeFresh(t *testing.T, b storage.Backend) {
	id, w := create(t, b, 10)
	if len(w.State()) != 0 {
		t.Fatalf("State of a new upload = %q, want none", w.State())
	}
	write(t, w, []byte("abc")) // not checkpointed
	w.Close()
	w = resume(t, b, id)
	if w.Info().Offset != 0 || w.Written() != 0 || len(w.State()) != 0 {
		t.Fatalf("Resume of an upload never checkpointed: offset %d, written %d, state %q; want 0, 0, none",
			w.Info().Offset, w.Written(), w.State())
	}
}

func testStateCopied(t *testing.T, b storage.Backend) {
	id, w := create(t, b, 10)
	write(t, w, []byte("abcde"))
	state := []byte("original")
	checkpoint(t, w, state)
	copy(state, "XXXXXXXX") // the caller reuses its buffer
	if string(w.State()) != "original" {
		t.Fatalf("State() = %q after the caller changed its buffer, want %q", w.State(), "original")
	}
	w.Close()
	if w := resume(t, b, id); string(w.State()) != "original" {
		t.Fatalf("State() after Resume = %q, want %q", w.State(), "original")
	}
}

func testCheckpointSameOffset(t *testing.T, b storage.Backend) {
	id, w := create(t, b, 10)
	write(t, w, []byte("abcde"))
	checkpoint(t, w, []byte("one"))
	checkpoint(t, w, []byte("two")) // no new bytes, new state
	w.Close()
	w = resume(t, b, id)
	if w.Info().Offset != 5 || string(w.State()) != "two" {
		t.Fatalf("Resume: offset %d, state %q; want 5, %q", w.Info().Offset, w.State(), "two")
	}
}

// testMixedChunks appends chunks of very different sizes with a Close and
// Resume after each one, like a client on a bad network, and compares the
// result with a copy of everything it sent.
func testMixedChunks(t *testing.T, b storage.Backend) {
	chunks := []int{32, 64 << 10, 1 << 20, 5 << 20, 32, 1 << 20, 64 << 10, 5 << 20, 32}
	var size int64
	for _, n := range chunks {
		size += int64(n)
	}
	id, w := create(t, b, size)
	var tee bytes.Buffer
	for i, n := range chunks {
		p := payload(uint64(100+i), n)
		write(t, w, p)
		tee.Write(p)
		state := []byte(fmt.Sprintf("after chunk %d", i))
		checkpoint(t, w, state)
		if i == 2 {
			// Bytes after the last Checkpoint are dropped by Resume.
			write(t, w, payload(999, 4096))
		}
		if err := w.Close(); err != nil {
			t.Fatalf("Close after chunk %d: %v", i, err)
		}
		w = resume(t, b, id)
		want := int64(tee.Len())
		if w.Info().Offset != want || w.Written() != want || !bytes.Equal(w.State(), state) {
			t.Fatalf("Resume after chunk %d (%d bytes): offset %d, written %d, state %q; want %d, %d, %q",
				i, n, w.Info().Offset, w.Written(), w.State(), want, want, state)
		}
		if st := mustStat(t, b, id); st.Offset != want || st.Meta.Size != size || st.Complete {
			t.Fatalf("Stat after chunk %d: %+v, want offset %d of %d, incomplete", i, st, want, size)
		}
	}
	commit(t, w, tee.Bytes())
	sameBytes(t, "file written in mixed chunks", contents(t, b, id), tee.Bytes())
	if st := mustStat(t, b, id); st.SHA256 != digest(tee.Bytes()) || st.Offset != size {
		t.Fatalf("Stat after Commit = %+v", st)
	}
}

func testLocked(t *testing.T, b storage.Backend) {
	ctx := t.Context()
	id, w := create(t, b, 10)
	write(t, w, []byte("ab"))
	checkpoint(t, w, nil)

	_, err := b.Resume(ctx, id)
	wantErr(t, "Resume while Create's Writer holds the upload", err, storage.ErrLocked)
	if err := w.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	w = resume(t, b, id)
	_, err = b.Resume(ctx, id)
	wantErr(t, "Resume while another Resume holds the upload", err, storage.ErrLocked)
	if _, err := b.Stat(ctx, id); err != nil {
		t.Fatalf("Stat of a locked upload: %v", err)
	}
	w.Close()
	w = resume(t, b, id)
	if w.Info().Offset != 2 {
		t.Fatalf("Resume after the lock was released: offset %d, want 2", w.Info().Offset)
	}
}

func testResumeComplete(t *testing.T, b storage.Backend) {
	id := upload(t, b, []byte("done"))
	_, err := b.Resume(t.Context(), id)
	wantErr(t, "Resume of a complete file", err, storage.ErrComplete)
	_, err = b.Resume(t.Context(), id)
	wantErr(t, "second Resume of a complete file", err, storage.ErrComplete)
}

func testCreateExisting(t *testing.T, b storage.Backend) {
	ctx := t.Context()
	meta := storage.Meta{Name: "again.txt", Size: 3}
	id, w := create(t, b, 3)
	_, err := b.Create(ctx, id, meta)
	wantErr(t, "Create of an id a Writer holds", err, storage.ErrExists)
	w.Close()
	_, err = b.Create(ctx, id, meta)
	wantErr(t, "Create of an incomplete upload's id", err, storage.ErrExists)
	w = resume(t, b, id)
	write(t, w, []byte("abc"))
	checkpoint(t, w, nil)
	commit(t, w, []byte("abc"))
	_, err = b.Create(ctx, id, meta)
	wantErr(t, "Create of a complete file's id", err, storage.ErrExists)
	sameBytes(t, "file after refused Creates", contents(t, b, id), []byte("abc"))
}

func testInvalidMeta(t *testing.T, b storage.Backend) {
	tests := []struct {
		name string
		meta storage.Meta
	}{
		{"empty name", storage.Meta{Name: "", Size: 1}},
		{"name over MaxNameBytes", storage.Meta{Name: strings.Repeat("a", storage.MaxNameBytes+1), Size: 1}},
		{"negative size", storage.Meta{Name: "a", Size: -2}},
		{"type without a subtype", storage.Meta{Name: "a", Size: 1, MIME: "text"}},
		{"type with a header injected", storage.Meta{Name: "a", Size: 1, MIME: "text/html\r\nX-Evil: 1"}},
		{"short sha256", storage.Meta{Name: "a", Size: 1, SHA256: strings.Repeat("a", 63)}},
		{"upper-case sha256", storage.Meta{Name: "a", Size: 1, SHA256: strings.Repeat("A", 64)}},
		{"non-hex sha256", storage.Meta{Name: "a", Size: 1, SHA256: strings.Repeat("g", 64)}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			id := newID(t)
			w, err := b.Create(t.Context(), id, tc.meta)
			if err == nil {
				w.Close()
			}
			wantErr(t, "Create", err, storage.ErrInvalid)
			_, err = b.Stat(t.Context(), id)
			wantErr(t, "Stat after a refused Create", err, storage.ErrNotFound)
		})
	}
}

func testUnknownID(t *testing.T, b storage.Backend) {
	id := newID(t)
	gone(t, b, id)
	wantErr(t, "Delete of an unknown id", b.Delete(t.Context(), id), storage.ErrNotFound)
}

// hostileIDs are ids that must never reach a path or key.
func hostileIDs() map[string]string {
	valid := "0b0d7a52-5b4c-4a3e-9f0e-2d1c3b4a5f6e"
	return map[string]string{
		"empty":              "",
		"parent":             "..",
		"parent file":        "../x",
		"absolute":           "/etc/passwd",
		"uuid v1":            "6ba7b810-9dad-11d1-80b4-00c04fd430c8",
		"upper-case uuid v4": strings.ToUpper(valid),
		"NUL":                "\x00",
		"trailing NUL":       valid + "\x00",
		"escaped dots":       "%2e%2e",
		"escaped traversal":  "%2e%2e%2f" + valid,
		"traversal suffix":   valid + "/../x",
		"extension":          valid + ".json",
		"trailing newline":   valid + "\n",
		"leading space":      " " + valid,
		"braces":             "{" + valid + "}",
		"urn":                "urn:uuid:" + valid,
		"no hyphens":         strings.ReplaceAll(valid, "-", ""),
		"backslash":          `..\` + valid,
	}
}

func testHostileIDs(t *testing.T, b storage.Backend) {
	for name, id := range hostileIDs() {
		t.Run(name, func(t *testing.T) {
			ctx := t.Context()
			w, err := b.Create(ctx, id, storage.Meta{Name: "x", Size: 1})
			if err == nil {
				w.Close()
				t.Fatalf("Create(%q) succeeded", id)
			}
			if !errors.Is(err, storage.ErrNotFound) && !errors.Is(err, storage.ErrInvalid) {
				t.Fatalf("Create(%q): %v, want ErrNotFound or ErrInvalid", id, err)
			}
			gone(t, b, id)
			wantErr(t, fmt.Sprintf("Delete(%q)", id), b.Delete(ctx, id), storage.ErrNotFound)
		})
	}
	page, err := b.List(t.Context(), "", 100)
	if err != nil || len(page.Files) != 0 {
		t.Fatalf("List after hostile ids = %d files, %v; want none", len(page.Files), err)
	}
}

func testSizeExceeded(t *testing.T, b storage.Backend) {
	id, w := create(t, b, 10)
	_, err := w.Write(make([]byte, 11))
	wantErr(t, "Write of 11 bytes to a 10-byte upload", err, storage.ErrSizeExceeded)
	if w.Written() != 0 {
		t.Fatalf("Written after a refused Write = %d, want 0", w.Written())
	}
	write(t, w, []byte("012345"))
	n, err := w.Write([]byte("XXXXX"))
	wantErr(t, "Write of 5 bytes at 6 of 10", err, storage.ErrSizeExceeded)
	if n != 0 || w.Written() != 6 {
		t.Fatalf("refused Write returned %d and left Written at %d; want 0 and 6", n, w.Written())
	}
	write(t, w, []byte("6789"))
	checkpoint(t, w, nil)
	_, err = w.Write([]byte("!"))
	wantErr(t, "Write of 1 byte to a full upload", err, storage.ErrSizeExceeded)
	commit(t, w, []byte("0123456789"))
	sameBytes(t, "file after refused Writes", contents(t, b, id), []byte("0123456789"))
}

func testCommitIncomplete(t *testing.T, b storage.Backend) {
	ctx := t.Context()
	data := payload(6, 100)
	id, w := create(t, b, 100)
	_, err := w.Commit(ctx, digest(data))
	wantErr(t, "Commit with no bytes", err, storage.ErrIncomplete)
	write(t, w, data[:50])
	checkpoint(t, w, nil)
	_, err = w.Commit(ctx, digest(data))
	wantErr(t, "Commit at half", err, storage.ErrIncomplete)
	write(t, w, data[50:])
	if storage.CommitSyncs(w) {
		// Commit makes the unchecked bytes durable itself.
		commit(t, w, data)
		sameBytes(t, "file committed without a last Checkpoint", contents(t, b, id), data)
		return
	}
	_, err = w.Commit(ctx, digest(data))
	wantErr(t, "Commit with every byte written but not checkpointed", err, storage.ErrIncomplete)

	if st := mustStat(t, b, id); st.Complete || st.Offset != 50 {
		t.Fatalf("Stat after refused Commits = %+v, want incomplete at 50", st)
	}
	_, err = b.Open(ctx, id)
	wantErr(t, "Open of an incomplete upload", err, storage.ErrNotFound)
	page, err := b.List(ctx, "", 10)
	if err != nil || len(page.Files) != 0 {
		t.Fatalf("List with only an incomplete upload = %d files, %v; want none", len(page.Files), err)
	}

	checkpoint(t, w, nil)
	commit(t, w, data)
	sameBytes(t, "file", contents(t, b, id), data)
}

func testDeleteWhileWriting(t *testing.T, b storage.Backend) {
	ctx := t.Context()
	id, w := create(t, b, 1000)
	write(t, w, payload(7, 100))
	checkpoint(t, w, []byte("s"))
	if err := b.Delete(ctx, id); err != nil {
		t.Fatalf("Delete of a held upload: %v", err)
	}
	// A backend may notice at the Write or only at the Checkpoint.
	if _, err := w.Write(payload(8, 100)); err != nil {
		wantErr(t, "Write after Delete", err, storage.ErrNotFound)
	}
	_, err := w.Checkpoint(ctx, []byte("t"))
	wantErr(t, "Checkpoint after Delete", err, storage.ErrNotFound)
	_, err = w.Commit(ctx, digest(nil))
	if err == nil {
		t.Fatalf("Commit after Delete succeeded")
	}
	w.Close()
	gone(t, b, id)
	wantErr(t, "second Delete", b.Delete(ctx, id), storage.ErrNotFound)
}

func testDeleteIncomplete(t *testing.T, b storage.Backend) {
	id, w := create(t, b, 1000)
	write(t, w, payload(9, 300))
	checkpoint(t, w, nil)
	w.Close()
	if err := b.Delete(t.Context(), id); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	gone(t, b, id)
	wantErr(t, "second Delete", b.Delete(t.Context(), id), storage.ErrNotFound)
}

func testDeleteComplete(t *testing.T, b storage.Backend) {
	keep := upload(t, b, []byte("keep"))
	id := upload(t, b, []byte("delete me"))
	if err := b.Delete(t.Context(), id); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	gone(t, b, id)
	wantErr(t, "second Delete", b.Delete(t.Context(), id), storage.ErrNotFound)
	sameBytes(t, "other file", contents(t, b, keep), []byte("keep"))
	page, err := b.List(t.Context(), "", 10)
	if err != nil || len(page.Files) != 1 || page.Files[0].ID != keep {
		t.Fatalf("List after Delete = %+v, %v; want only %s", page.Files, err, keep)
	}
}

func testAbort(t *testing.T, b storage.Backend) {
	ctx := t.Context()
	id, w := create(t, b, 1000)
	write(t, w, payload(10, 500))
	checkpoint(t, w, nil)
	write(t, w, payload(11, 10))
	if err := w.Abort(ctx); err != nil {
		t.Fatalf("Abort: %v", err)
	}
	gone(t, b, id)
	wantErr(t, "Delete after Abort", b.Delete(ctx, id), storage.ErrNotFound)
}

func testClosedWriter(t *testing.T, b storage.Backend) {
	ends := []struct {
		name string
		end  func(t *testing.T, w storage.Writer)
	}{
		{"Commit", func(t *testing.T, w storage.Writer) { commit(t, w, []byte("ab")) }},
		{"Abort", func(t *testing.T, w storage.Writer) {
			if err := w.Abort(t.Context()); err != nil {
				t.Fatalf("Abort: %v", err)
			}
			gone(t, b, w.ID())
		}},
		{"Close", func(t *testing.T, w storage.Writer) {
			if err := w.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
		}},
	}
	for _, tc := range ends {
		t.Run("after "+tc.name, func(t *testing.T) {
			ctx := t.Context()
			_, w := create(t, b, 2)
			write(t, w, []byte("ab"))
			checkpoint(t, w, nil)
			tc.end(t, w)
			_, err := w.Write([]byte("c"))
			wantErr(t, "Write", err, storage.ErrClosed)
			_, err = w.Checkpoint(ctx, nil)
			wantErr(t, "Checkpoint", err, storage.ErrClosed)
			_, err = w.Commit(ctx, digest([]byte("ab")))
			wantErr(t, "Commit", err, storage.ErrClosed)
			wantErr(t, "Abort", w.Abort(ctx), storage.ErrClosed)
		})
	}
}

// near reports whether got lies within a generous minute of [lo, hi]: the
// backend's clock (an object store's, say) need not be ours to the second.
func near(got, lo, hi time.Time) bool {
	return !got.Before(lo.Add(-time.Minute)) && !got.After(hi.Add(time.Minute))
}

func testStatFields(t *testing.T, b storage.Backend) {
	before := time.Now()
	data := payload(12, 2000)
	meta := storage.Meta{Name: "report.txt", Size: int64(len(data)), MIME: "text/plain; charset=utf-8", SHA256: digest(data)}
	id := newID(t)
	w, err := b.Create(t.Context(), id, meta)
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	defer w.Close()
	created := mustStat(t, b, id)
	after := time.Now()
	switch {
	case created.ID != id || created.Meta != meta:
		t.Fatalf("Stat of a new upload: id %s, meta %+v; want %s, %+v", created.ID, created.Meta, id, meta)
	case created.Complete || created.SHA256 != "" || created.Offset != 0:
		t.Fatalf("Stat of a new upload: complete %v, sha256 %q, offset %d; want false, empty, 0", created.Complete, created.SHA256, created.Offset)
	case !near(created.Created, before, after):
		t.Fatalf("Created = %v, want about %v", created.Created, before)
	case created.Modified.Before(created.Created):
		t.Fatalf("Modified %v before Created %v", created.Modified, created.Created)
	case !created.ExpiresAt.After(created.Modified):
		t.Fatalf("ExpiresAt %v of an incomplete upload is not after Modified %v", created.ExpiresAt, created.Modified)
	}

	write(t, w, data[:1000])
	checkpoint(t, w, nil)
	mid := mustStat(t, b, id)
	switch {
	case mid.Offset != 1000 || mid.Complete:
		t.Fatalf("Stat after a Checkpoint at 1000: offset %d, complete %v", mid.Offset, mid.Complete)
	case !mid.Created.Equal(created.Created):
		t.Fatalf("Created changed from %v to %v", created.Created, mid.Created)
	case mid.Modified.Before(created.Modified):
		t.Fatalf("Modified went back from %v to %v", created.Modified, mid.Modified)
	case mid.ExpiresAt.Before(created.ExpiresAt) || !mid.ExpiresAt.After(mid.Modified):
		t.Fatalf("ExpiresAt %v after a Checkpoint; before it %v, Modified %v", mid.ExpiresAt, created.ExpiresAt, mid.Modified)
	}
	if wi := w.Info(); wi.Offset != mid.Offset || wi.ID != id || wi.Meta != meta || !wi.ExpiresAt.Equal(mid.ExpiresAt) {
		t.Fatalf("Writer.Info() = %+v, Stat = %+v", wi, mid)
	}

	write(t, w, data[1000:])
	checkpoint(t, w, nil)
	commit(t, w, data)
	done := mustStat(t, b, id)
	switch {
	case !done.Complete || done.SHA256 != digest(data) || done.Offset != meta.Size || done.Meta != meta:
		t.Fatalf("Stat after Commit = %+v", done)
	case !done.ExpiresAt.IsZero():
		t.Fatalf("ExpiresAt of a complete file = %v, want zero", done.ExpiresAt)
	case !done.Created.Equal(created.Created):
		t.Fatalf("Created changed from %v to %v", created.Created, done.Created)
	case done.Modified.Before(mid.Modified) || !near(done.Modified, before, time.Now()):
		t.Fatalf("Modified after Commit = %v; before Commit %v", done.Modified, mid.Modified)
	}
}

func testListEmpty(t *testing.T, b storage.Backend) {
	page, err := b.List(t.Context(), "", 10)
	if err != nil || len(page.Files) != 0 || page.Next != "" {
		t.Fatalf("List of an empty store = %+v, %v; want no files, no cursor", page, err)
	}
}

func testList(t *testing.T, b storage.Backend) {
	ctx := t.Context()
	var ids []string // in order of completion
	for i := range 5 {
		ids = append(ids, upload(t, b, payload(uint64(20+i), 10+i)))
	}
	// Incomplete uploads, held and not, are never listed.
	_, held := create(t, b, 10)
	write(t, held, []byte("x"))
	checkpoint(t, held, nil)
	_, closed := create(t, b, 10)
	closed.Close()

	all, err := b.List(ctx, "", 100)
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	if all.Next != "" {
		t.Fatalf("List of everything returned cursor %q, want none", all.Next)
	}
	var listed []string
	for i, f := range all.Files {
		listed = append(listed, f.ID)
		if !f.Complete || f.SHA256 == "" || f.Offset != f.Meta.Size {
			t.Fatalf("listed file %d: %+v, want complete with digest", i, f)
		}
		if i > 0 && f.Modified.After(all.Files[i-1].Modified) {
			t.Fatalf("List is not newest first: %s (%v) after %s (%v)", f.ID, f.Modified, all.Files[i-1].ID, all.Files[i-1].Modified)
		}
	}
	if got, want := slices.Sorted(slices.Values(listed)), slices.Sorted(slices.Values(ids)); !slices.Equal(got, want) {
		t.Fatalf("List = %v, want exactly the completed files %v", listed, ids)
	}
	last := mustStat(t, b, ids[len(ids)-1])
	if all.Files[0].Modified.Before(last.Modified) {
		t.Fatalf("first listed file completed at %v, before the last completed one (%v)", all.Files[0].Modified, last.Modified)
	}

	for _, limit := range []int{1, 2, 3, 5} {
		t.Run(fmt.Sprintf("pages of %d", limit), func(t *testing.T) {
			var paged []string
			after := ""
			for range 10 {
				page, err := b.List(ctx, after, limit)
				if err != nil {
					t.Fatalf("List(%q, %d): %v", after, limit, err)
				}
				if len(page.Files) > limit {
					t.Fatalf("List(_, %d) returned %d files", limit, len(page.Files))
				}
				for _, f := range page.Files {
					paged = append(paged, f.ID)
				}
				if page.Next == "" {
					break
				}
				if len(page.Files) != limit {
					t.Fatalf("a page with a cursor has %d files, want the limit %d", len(page.Files), limit)
				}
				after = page.Next
			}
			if !slices.Equal(paged, listed) {
				t.Fatalf("pages of %d give %v, want %v", limit, paged, listed)
			}
		})
	}

	if err := b.Delete(ctx, listed[1]); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	page, err := b.List(ctx, "", 100)
	if err != nil || len(page.Files) != len(listed)-1 || slices.ContainsFunc(page.Files, func(f storage.Info) bool { return f.ID == listed[1] }) {
		t.Fatalf("List after deleting %s = %+v, %v", listed[1], page.Files, err)
	}
}

func testDeleteExpired(t *testing.T, b storage.Backend) {
	ex, ok := storage.As[storage.Expirer](b)
	if !ok {
		t.Skip("backend does not implement storage.Expirer")
	}
	ctx := t.Context()
	keep := upload(t, b, []byte("complete files never expire"))
	idle, w := create(t, b, 100)
	write(t, w, payload(30, 40))
	checkpoint(t, w, nil)
	w.Close()
	empty, w := create(t, b, 100)
	w.Close()

	st := mustStat(t, b, idle)
	var reported []string
	note := func(info storage.Info) {
		if info.Complete || info.ID == "" {
			t.Errorf("DeleteExpired reported %+v; want the Info of an incomplete upload", info)
		}
		reported = append(reported, info.ID)
	}
	n, err := ex.DeleteExpired(ctx, st.ExpiresAt.Add(-time.Second), note)
	if err != nil || n != 0 {
		t.Fatalf("DeleteExpired before anything expired = %d, %v; want 0", n, err)
	}
	mustStat(t, b, idle)

	n, err = ex.DeleteExpired(ctx, time.Now().AddDate(100, 0, 0), note)
	if err != nil || n != 2 {
		t.Fatalf("DeleteExpired far in the future = %d, %v; want 2", n, err)
	}
	slices.Sort(reported)
	want := []string{idle, empty}
	slices.Sort(want)
	if !slices.Equal(reported, want) {
		t.Fatalf("DeleteExpired reported %v; want %v", reported, want)
	}
	gone(t, b, idle)
	gone(t, b, empty)
	sameBytes(t, "complete file after DeleteExpired", contents(t, b, keep), []byte("complete files never expire"))
	if st := mustStat(t, b, keep); !st.Complete {
		t.Fatalf("Stat of the complete file = %+v", st)
	}
	n, err = ex.DeleteExpired(ctx, time.Now().AddDate(100, 0, 0), nil)
	if err != nil || n != 0 {
		t.Fatalf("second DeleteExpired = %d, %v; want 0", n, err)
	}
}

func testOpenPartial(t *testing.T, b storage.Backend) {
	po, ok := storage.As[storage.PartialOpener](b)
	if !ok {
		t.Skip("backend does not implement storage.PartialOpener")
	}
	ctx := t.Context()
	data := payload(40, 20000)
	id, w := create(t, b, int64(len(data)))
	for _, end := range []int{0, 3000, 12000} {
		if end > 0 {
			write(t, w, data[w.Written():end])
			checkpoint(t, w, nil)
		}
		off := mustStat(t, b, id).Offset
		r, err := po.OpenPartial(ctx, id)
		if err != nil {
			t.Fatalf("OpenPartial at %d: %v", off, err)
		}
		got := make([]byte, off)
		_, err = io.ReadFull(r, got)
		r.Close()
		if err != nil {
			t.Fatalf("read %d durable bytes: %v", off, err)
		}
		sameBytes(t, fmt.Sprintf("partial read at %d", off), got, data[:off])
	}
	r, err := po.OpenPartial(ctx, id)
	if err != nil {
		t.Fatalf("OpenPartial: %v", err)
	}
	defer r.Close()
	if pos, err := r.Seek(5000, io.SeekStart); err != nil || pos != 5000 {
		t.Fatalf("Seek(5000) = %d, %v", pos, err)
	}
	got := make([]byte, 100)
	if _, err := io.ReadFull(r, got); err != nil {
		t.Fatalf("read after Seek: %v", err)
	}
	sameBytes(t, "partial read after Seek", got, data[5000:5100])
	_, err = po.OpenPartial(ctx, newID(t))
	wantErr(t, "OpenPartial of an unknown id", err, storage.ErrNotFound)
}

func testPing(t *testing.T, b storage.Backend) {
	p, ok := storage.As[storage.Pinger](b)
	if !ok {
		t.Skip("backend does not implement storage.Pinger")
	}
	if err := p.Ping(t.Context()); err != nil {
		t.Fatalf("Ping: %v", err)
	}
}

// testParallel runs several uploads at once, each with a Close and Resume,
// and checks that none disturbed another.
func testParallel(t *testing.T, b storage.Backend) {
	const uploads = 4
	var mu sync.Mutex
	done := map[string][]byte{}
	t.Run("group", func(t *testing.T) {
		for i := range uploads {
			t.Run(fmt.Sprint(i), func(t *testing.T) {
				t.Parallel()
				data := payload(uint64(50+i), 200<<10+i)
				id, w := create(t, b, int64(len(data)))
				half := len(data) / 2
				for off := 0; off < half; off += 16 << 10 {
					write(t, w, data[off:min(off+16<<10, half)])
				}
				checkpoint(t, w, []byte{byte(i)})
				w.Close()
				w = resume(t, b, id)
				if w.Written() != int64(half) || !bytes.Equal(w.State(), []byte{byte(i)}) {
					t.Fatalf("Resume: written %d, state %v; want %d, [%d]", w.Written(), w.State(), half, i)
				}
				write(t, w, data[half:])
				checkpoint(t, w, nil)
				commit(t, w, data)
				mu.Lock()
				done[id] = data
				mu.Unlock()
			})
		}
	})
	if len(done) != uploads {
		t.Fatalf("%d of %d parallel uploads finished", len(done), uploads)
	}
	for id, data := range done {
		sameBytes(t, "parallel upload "+id, contents(t, b, id), data)
	}
}
