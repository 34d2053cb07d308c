package local_test

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"testing"

	"github.com/google/uuid"

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
// descriptor limit allows about as many uploads as connections. The
// Backend keeps the directories it syncs open besides, one per directory
// (not per upload): all uploads here share one shard, opened before we
// count.
func TestOneDescriptorPerWriter(t *testing.T) {
	b := newBackend(t, local.Config{})
	const n = 10
	inShard := func() string { return uuid.NewString()[:34] + "5a" }
	create := func() (string, storage.Writer) {
		id := inShard()
		w, err := b.Create(t.Context(), id, storage.Meta{Name: "f", Size: 10})
		if err != nil {
			t.Fatal(err)
		}
		return id, w
	}
	_, w := create()
	w.Abort(t.Context())
	var ids []string
	before := openFDs(t)
	var writers []storage.Writer
	for range n {
		id, w := create()
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

func digestOf(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}
