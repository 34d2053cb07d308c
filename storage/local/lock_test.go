package local_test

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/ferryhq/ferry/storage"
	"github.com/ferryhq/ferry/storage/local"
)

// openFDs counts this process's open descriptors.
func openFDs(t *testing.T) int {
	t.Helper()
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("cannot count descriptors: %v", err)
	}
	return len(entries)
}

// TestOneDescriptorPerWriter: a live Writer holds one descriptor (its data
// file, which is also its lock), created or resumed, so a server's
// descriptor limit allows about as many uploads as connections.
func TestOneDescriptorPerWriter(t *testing.T) {
	b := newBackend(t, local.Config{})
	const n = 10
	var ids []string
	before := openFDs(t)
	var writers []storage.Writer
	for range n {
		id, w := mustCreate(t, b, 10)
		mustWrite(t, w, []byte("abc"))
		ids = append(ids, id)
		writers = append(writers, w)
	}
	if got := openFDs(t) - before; got != n {
		t.Fatalf("%d created Writers hold %d descriptors, want %d", n, got, n)
	}
	for _, w := range writers {
		w.Close()
	}
	if got := openFDs(t) - before; got != 0 {
		t.Fatalf("closed Writers still hold %d descriptors", got)
	}
	for _, id := range ids {
		w, err := b.Resume(t.Context(), id)
		if err != nil {
			t.Fatal(err)
		}
		defer w.Close()
	}
	if got := openFDs(t) - before; got != n {
		t.Fatalf("%d resumed Writers hold %d descriptors, want %d", n, got, n)
	}
}

// holdLegacyLock flocks path as a process of an older version would, until
// the test ends.
func holdLegacyLock(t *testing.T, path string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	if err := local.Flock(f); err != nil {
		t.Fatal(err)
	}
}

// TestLegacyLockFiles: a data directory written by a version that locked
// <id>.lock keeps working. Its lock files are removed as uploads are taken
// or swept, and one that an older process still holds keeps the upload
// locked.
func TestLegacyLockFiles(t *testing.T) {
	dir := t.TempDir()
	b := newBackend(t, local.Config{Dir: dir, Expiry: time.Hour})
	ctx := t.Context()
	lockOf := func(id string) string { return filepath.Join(dir, id+".lock") }

	// An upload left by the older version, its lock file free.
	free, w := mustCreate(t, b, 10)
	mustWrite(t, w, []byte("abc"))
	mustCheckpoint(t, w, "s")
	w.Close()
	if err := os.WriteFile(lockOf(free), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	w, err := b.Resume(ctx, free)
	if err != nil {
		t.Fatalf("Resume of an upload with a free legacy lock file: %v", err)
	}
	if w.Written() != 3 || string(w.State()) != "s" {
		t.Fatalf("resumed at %d with state %q", w.Written(), w.State())
	}
	mustWrite(t, w, []byte("defghij"))
	mustCheckpoint(t, w, "t")
	if _, err := w.Commit(ctx, digestOf("abcdefghij")); err != nil {
		t.Fatal(err)
	}
	if got := dirNames(t, dir); !slices.Equal(got, []string{free + ".data", free + ".json"}) {
		t.Fatalf("after Resume and Commit: %v, want the legacy lock file gone", got)
	}

	// An upload an older process is still writing.
	held, w := mustCreate(t, b, 10)
	w.Close()
	holdLegacyLock(t, lockOf(held))
	if _, err := b.Resume(ctx, held); !errors.Is(err, storage.ErrLocked) {
		t.Fatalf("Resume of an upload whose legacy lock is held = %v, want ErrLocked", err)
	}
	if n, err := b.DeleteExpired(ctx, time.Now().Add(2*time.Hour), nil); err != nil || n != 0 {
		t.Fatalf("DeleteExpired = %d, %v; want the held upload kept", n, err)
	}
	if _, err := b.Stat(ctx, held); err != nil {
		t.Fatalf("Stat of the held upload after DeleteExpired: %v", err)
	}

	// A stale lock file with no upload is swept.
	stray := filepath.Join(dir, "2b0d7a52-5b4c-4a3e-9f0e-2d1c3b4a5f6e.lock")
	if err := os.WriteFile(stray, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-2 * time.Hour)
	os.Chtimes(stray, old, old)
	if _, err := b.DeleteExpired(ctx, time.Now(), nil); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(stray); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("stale legacy lock file: %v, want it swept", err)
	}
}

func digestOf(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}
