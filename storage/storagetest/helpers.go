package storagetest

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"math/rand/v2"
	"testing"

	"github.com/google/uuid"

	"github.com/ferryhq/ferry/storage"
)

// newID returns a fresh valid id, alternating UUID versions 7 and 4 so both
// are exercised.
func newID(t *testing.T) string {
	t.Helper()
	if rand.IntN(2) == 0 {
		return uuid.NewString()
	}
	return uuid.Must(uuid.NewV7()).String()
}

// payload returns n deterministic pseudo-random bytes for seed; different
// seeds give different bytes, so a misplaced chunk shows.
func payload(seed uint64, n int) []byte {
	var key [32]byte
	key[0] = byte(seed)
	key[1] = byte(seed >> 8)
	key[2] = 0xfe
	r := rand.NewChaCha8(key)
	p := make([]byte, n)
	r.Read(p)
	return p
}

// digest is the lower-case hex SHA-256 of p.
func digest(p []byte) string {
	s := sha256.Sum256(p)
	return hex.EncodeToString(s[:])
}

// wantErr fails the test unless err matches target.
func wantErr(t *testing.T, what string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("%s: got error %v, want %v", what, err, target)
	}
}

// create makes an upload of the given size and closes its Writer at the end
// of the test if the test left it open.
func create(t *testing.T, b storage.Backend, size int64) (string, storage.Writer) {
	t.Helper()
	id := newID(t)
	w, err := b.Create(t.Context(), id, storage.Meta{Name: "file.bin", Size: size, MIME: "application/octet-stream"})
	if err != nil {
		t.Fatalf("Create(%s, size %d): %v", id, size, err)
	}
	t.Cleanup(func() { w.Close() })
	return id, w
}

// resume resumes id and closes the Writer at the end of the test.
func resume(t *testing.T, b storage.Backend, id string) storage.Writer {
	t.Helper()
	w, err := b.Resume(t.Context(), id)
	if err != nil {
		t.Fatalf("Resume(%s): %v", id, err)
	}
	t.Cleanup(func() { w.Close() })
	return w
}

// write writes p whole and checks that Written advanced by len(p).
func write(t *testing.T, w storage.Writer, p []byte) {
	t.Helper()
	before := w.Written()
	n, err := w.Write(p)
	if err != nil || n != len(p) {
		t.Fatalf("Write(%d bytes) at %d = %d, %v; want %d, nil", len(p), before, n, err, len(p))
	}
	if got := w.Written(); got != before+int64(len(p)) {
		t.Fatalf("Written after Write(%d bytes) = %d, want %d", len(p), got, before+int64(len(p)))
	}
}

// checkpoint checkpoints w and checks that everything written became durable.
func checkpoint(t *testing.T, w storage.Writer, state []byte) int64 {
	t.Helper()
	off, err := w.Checkpoint(t.Context(), state)
	if err != nil {
		t.Fatalf("Checkpoint at %d: %v", w.Written(), err)
	}
	if off != w.Written() {
		t.Fatalf("Checkpoint returned offset %d, want Written %d", off, w.Written())
	}
	if got := w.Info().Offset; got != off {
		t.Fatalf("Info().Offset after Checkpoint = %d, want %d", got, off)
	}
	if !bytes.Equal(w.State(), state) {
		t.Fatalf("State() after Checkpoint = %q, want %q", w.State(), state)
	}
	return off
}

// commit commits w with the digest of want and checks the returned Info.
func commit(t *testing.T, w storage.Writer, want []byte) storage.Info {
	t.Helper()
	in, err := w.Commit(t.Context(), digest(want))
	if err != nil {
		t.Fatalf("Commit: %v", err)
	}
	if !in.Complete || in.SHA256 != digest(want) || in.Offset != int64(len(want)) || in.Meta.Size != int64(len(want)) {
		t.Fatalf("Commit returned Info %+v, want complete, sha256 %s, offset and size %d", in, digest(want), len(want))
	}
	if !in.ExpiresAt.IsZero() {
		t.Fatalf("Commit returned ExpiresAt %v, want zero once complete", in.ExpiresAt)
	}
	return in
}

// upload stores p as a complete file and returns its id.
func upload(t *testing.T, b storage.Backend, p []byte) string {
	t.Helper()
	id, w := create(t, b, int64(len(p)))
	write(t, w, p)
	checkpoint(t, w, []byte("s"))
	commit(t, w, p)
	return id
}

// contents reads a completed file whole (tests keep files small) and checks
// that the Object's Info describes it.
func contents(t *testing.T, b storage.Backend, id string) []byte {
	t.Helper()
	o, err := b.Open(t.Context(), id)
	if err != nil {
		t.Fatalf("Open(%s): %v", id, err)
	}
	defer o.Close()
	got, err := io.ReadAll(o)
	if err != nil {
		t.Fatalf("read %s: %v", id, err)
	}
	if in := o.Info(); in.ID != id || !in.Complete || in.Meta.Size != int64(len(got)) {
		t.Fatalf("Object.Info() = %+v after reading %d bytes, want id %s, complete", in, len(got), id)
	}
	return got
}

// sameBytes fails with a short message (not two dumps) if got != want.
func sameBytes(t *testing.T, what string, got, want []byte) {
	t.Helper()
	if bytes.Equal(got, want) {
		return
	}
	i := 0
	for i < len(got) && i < len(want) && got[i] == want[i] {
		i++
	}
	t.Fatalf("%s: got %d bytes, want %d; first difference at byte %d", what, len(got), len(want), i)
}

// mustStat returns Stat(id) or fails.
func mustStat(t *testing.T, b storage.Backend, id string) storage.Info {
	t.Helper()
	in, err := b.Stat(t.Context(), id)
	if err != nil {
		t.Fatalf("Stat(%s): %v", id, err)
	}
	return in
}

// gone checks that every way of reaching id answers ErrNotFound, and notes
// id for the leftovers check at the end of the subtest (see Harness).
func gone(t *testing.T, b storage.Backend, id string) {
	t.Helper()
	noteRemoved(b, id)
	ctx := t.Context()
	_, err := b.Stat(ctx, id)
	wantErr(t, "Stat of a removed upload", err, storage.ErrNotFound)
	_, err = b.Open(ctx, id)
	wantErr(t, "Open of a removed upload", err, storage.ErrNotFound)
	w, err := b.Resume(ctx, id)
	if err == nil {
		w.Close()
	}
	wantErr(t, "Resume of a removed upload", err, storage.ErrNotFound)
	if po, ok := storage.As[storage.PartialOpener](b); ok {
		r, err := po.OpenPartial(ctx, id)
		if err == nil {
			r.Close()
		}
		wantErr(t, "OpenPartial of a removed upload", err, storage.ErrNotFound)
	}
}
