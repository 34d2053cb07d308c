package local

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

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

// openDataFiles lists the descriptors of this process (b's: its cache's and
// its readers') that refer to data files under dir (Linux: /proc/self/fd),
// as the paths they were opened by; a removed file's ends in " (deleted)".
func openDataFiles(t *testing.T, b *Backend, dir string) []string {
	t.Helper()
	// The count is of b's descriptors: b must stay reachable until it is
	// taken. A Backend the test no longer uses would be collected, and the
	// finalizers of its kept files would close them behind the count.
	defer runtime.KeepAlive(b)
	if runtime.GOOS != "linux" {
		t.Skip("reads /proc/self/fd")
	}
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	var paths []string
	for _, fd := range fds {
		p, err := os.Readlink(filepath.Join("/proc/self/fd", fd.Name()))
		if err == nil && strings.HasPrefix(p, dir) && strings.Contains(p, dataExt) {
			paths = append(paths, p)
		}
	}
	return paths
}

// A small completed file stays open after its reader is closed, and Delete
// closes it: once the last reader is closed no descriptor is left on the
// removed file.
func TestOpenKeepsSmallFilesOpenUntilDelete(t *testing.T) {
	dir := t.TempDir()
	b, err := New(Config{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	id := commitFile(t, b, "hello")
	if _, err := readAll(t, b, id); err != nil {
		t.Fatal(err)
	}
	if got := openDataFiles(t, b, dir); len(got) != 1 || got[0] != b.dataPath(id) {
		t.Fatalf("after a read, open data files %q, want the one of %s kept", got, id)
	}
	obj, err := b.Open(context.Background(), id) // a reader during Delete
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Delete(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	if got, err := io.ReadAll(obj); err != nil || string(got) != "hello" {
		t.Fatalf("a reader open across Delete read %q, %v", got, err)
	}
	if err := obj.Close(); err != nil {
		t.Fatal(err)
	}
	if err := obj.Close(); err == nil {
		t.Fatal("second Close: no error")
	}
	if got := openDataFiles(t, b, dir); len(got) != 0 {
		t.Fatalf("after Delete and Close, open data files %q, want none", got)
	}
	if _, err := readAll(t, b, id); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("Open after Delete: %v, want ErrNotFound", err)
	}
}

// A file kept open is never served once another process removed it or
// put another file of the same size in its place, and a file too large to
// keep is not kept.
func TestOpenKeptFileReplaced(t *testing.T) {
	dir := t.TempDir()
	b, err := New(Config{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	other, err := New(Config{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	id := commitFile(t, b, "first")
	if _, err := readAll(t, b, id); err != nil {
		t.Fatal(err)
	}
	// Another process replaces the data file under the same id (the
	// record still says 5 bytes): the kept descriptor is the old file.
	tmp := filepath.Join(dir, "replacement")
	if err := os.WriteFile(tmp, []byte("secon"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, other.dataPath(id)); err != nil {
		t.Fatal(err)
	}
	if got, err := readAll(t, b, id); err != nil || got != "secon" {
		t.Fatalf("after the data file was replaced: %q, %v, want the new bytes", got, err)
	}
	if got := openDataFiles(t, b, dir); len(got) != 1 || strings.HasSuffix(got[0], "(deleted)") {
		t.Fatalf("open data files %q, want only the new one", got)
	}

	big := commitFile(t, b, strings.Repeat("x", maxSharedSize+1))
	if _, err := readAll(t, b, big); err != nil {
		t.Fatal(err)
	}
	if got := openDataFiles(t, b, dir); len(got) != 1 {
		t.Fatalf("open data files %q, want the large file closed", got)
	}
}

// Readers of one kept file share its descriptor but not a position: each
// reads the whole file whatever the others do.
func TestOpenKeptFileReadersIndependent(t *testing.T) {
	b, err := New(Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	const data = "0123456789abcdef"
	id := commitFile(t, b, data)
	if _, err := readAll(t, b, id); err != nil {
		t.Fatal(err)
	}
	var objs [2]storage.Object
	for i := range objs {
		if objs[i], err = b.Open(context.Background(), id); err != nil {
			t.Fatal(err)
		}
		defer objs[i].Close()
	}
	var got [2][]byte
	buf := make([]byte, 3)
	for range len(data) {
		for i, obj := range objs {
			n, err := obj.Read(buf)
			if err != nil && err != io.EOF {
				t.Fatal(err)
			}
			got[i] = append(got[i], buf[:n]...)
		}
	}
	for i := range got {
		if string(got[i]) != data {
			t.Fatalf("reader %d read %q, want %q", i, got[i], data)
		}
	}
	if pos, err := objs[0].Seek(-4, io.SeekEnd); err != nil || pos != int64(len(data)-4) {
		t.Fatalf("Seek from the end: %d, %v", pos, err)
	}
	if rest, err := io.ReadAll(objs[0]); err != nil || string(rest) != data[len(data)-4:] {
		t.Fatalf("after Seek: %q, %v", rest, err)
	}
}

// The cache keeps at most maxOpenFiles data files open, however many small
// files are read.
func TestOpenKeptFilesBounded(t *testing.T) {
	dir := t.TempDir()
	b, err := New(Config{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	for range maxOpenFiles + 20 {
		id := uuid.NewString()
		if err := SeedComplete(b, id, "f", time.Now()); err != nil {
			t.Fatal(err)
		}
		if _, err := readAll(t, b, id); err != nil {
			t.Fatal(err)
		}
	}
	if got := openDataFiles(t, b, dir); len(got) != maxOpenFiles {
		t.Fatalf("%d data files open, want %d", len(got), maxOpenFiles)
	}
}
