package local

import (
	"context"
	"errors"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/ferryhq/ferry/storage"
)

// commitFile stores data as a completed file in b and returns its id.
func commitFile(t *testing.T, b *Backend, data string) string {
	t.Helper()
	ctx := context.Background()
	id := uuid.NewString()
	w, err := b.Create(ctx, id, storage.Meta{Name: "f", Size: int64(len(data))})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte(data)); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Checkpoint(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Commit(ctx, strings.Repeat("a", 64)); err != nil {
		t.Fatal(err)
	}
	return id
}

func readAll(t *testing.T, b *Backend, id string) (string, error) {
	t.Helper()
	obj, err := b.Open(context.Background(), id)
	if err != nil {
		return "", err
	}
	defer obj.Close()
	got, err := io.ReadAll(obj)
	if err != nil {
		t.Fatal(err)
	}
	return string(got), nil
}

// The second Open of a completed file does not read its record (here made
// unreadable behind the Backend's back), and a file deleted by another
// process sharing the directory, or replaced under the same id, is never
// served from the cache.
func TestOpenCachesCompletedRecords(t *testing.T) {
	dir := t.TempDir()
	b, err := New(Config{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	other, err := New(Config{Dir: dir}) // another process on the same directory
	if err != nil {
		t.Fatal(err)
	}
	id := commitFile(t, b, "hello")
	if _, err := readAll(t, b, id); err != nil {
		t.Fatal(err)
	}
	rec, err := os.ReadFile(b.metaPath(id))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(b.metaPath(id), []byte("not json"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got, err := readAll(t, b, id); err != nil || got != "hello" {
		t.Fatalf("second Open read the record: %q, %v", got, err)
	}
	if err := os.WriteFile(b.metaPath(id), rec, 0o644); err != nil {
		t.Fatal(err)
	}

	if err := other.Delete(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	if _, err := readAll(t, b, id); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("Open after another process deleted the file: %v, want ErrNotFound", err)
	}

	// The same id again, as an upload that is not complete: the cache of
	// the old file must not answer for it.
	id2 := commitFile(t, b, "first")
	if _, err := readAll(t, b, id2); err != nil {
		t.Fatal(err)
	}
	if err := other.Delete(context.Background(), id2); err != nil {
		t.Fatal(err)
	}
	w, err := other.Create(context.Background(), id2, storage.Meta{Name: "f", Size: 5})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if _, err := w.Write([]byte("secon")); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Checkpoint(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	if got, err := readAll(t, b, id2); !errors.Is(err, storage.ErrIncomplete) {
		t.Fatalf("Open of an incomplete upload under a cached id: %q, %v, want ErrIncomplete", got, err)
	}
}
