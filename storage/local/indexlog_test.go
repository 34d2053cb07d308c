package local_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ferryhq/ferry/storage/local"
)

// indexLogs are the index logs under dir (local.StoreFiles names).
func indexLogs(t *testing.T, dir string) []string {
	t.Helper()
	return slices.DeleteFunc(dirNames(t, dir), func(n string) bool {
		return !strings.HasPrefix(n, "index/") || !strings.HasSuffix(n, "/entries.log")
	})
}

// A crash can tear the entry an append was writing, or leave garbage at the
// log's end: the entries before it stay listed, and so does every entry
// appended after it.
func TestIndexLogTornTail(t *testing.T) {
	for _, tail := range []string{
		"\n7fffff",                           // a line cut short
		"\n" + strings.Repeat("\x00", 40),    // zeros where the bytes never came
		"\n7fffffffffffffff-not-an-id\n\n\n", // not an entry
	} {
		clk := newClock()
		dir := t.TempDir()
		b := newBackend(t, local.Config{Dir: dir, Now: clk.Now})
		at := clk.Now()
		first := commitAt(t, b, clk, at)
		logs := indexLogs(t, dir)
		if len(logs) != 1 {
			t.Fatalf("index logs = %v, want one", logs)
		}
		f, err := os.OpenFile(filepath.Join(dir, logs[0]), os.O_WRONLY|os.O_APPEND, 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.WriteString(tail); err != nil {
			t.Fatal(err)
		}
		f.Close()
		// A new process after the crash, committing into the same leaf.
		b = newBackend(t, local.Config{Dir: dir, Now: clk.Now})
		second := commitAt(t, b, clk, at.Add(time.Millisecond))
		if got := listAll(t, b, 7); !slices.Equal(got, []string{second, first}) {
			t.Fatalf("tail %q: List = %v, want %v", tail, got, []string{second, first})
		}
	}
}

// Deleting a completed file takes its entry out of the log, and the last
// one takes the log: files that come and go leave no trace in the index.
func TestIndexLogShrinksOnDelete(t *testing.T) {
	clk := newClock()
	dir := t.TempDir()
	b := newBackend(t, local.Config{Dir: dir, Now: clk.Now})
	at := clk.Now()
	var ids []string
	for i := range 5 {
		ids = append(ids, commitAt(t, b, clk, at.Add(time.Duration(i)*time.Millisecond)))
	}
	logs := indexLogs(t, dir)
	if len(logs) != 1 {
		t.Fatalf("index logs = %v, want one", logs)
	}
	path := filepath.Join(dir, logs[0])
	size := func() int64 {
		fi, err := os.Stat(path)
		if err != nil {
			return -1
		}
		return fi.Size()
	}
	full := size()
	if err := b.Delete(t.Context(), ids[2]); err != nil {
		t.Fatal(err)
	}
	if got := size(); got >= full || got <= 0 {
		t.Fatalf("log of %d bytes is %d after a Delete", full, got)
	}
	want := []string{ids[4], ids[3], ids[1], ids[0]}
	if got := listAll(t, b, 7); !slices.Equal(got, want) {
		t.Fatalf("List = %v, want %v", got, want)
	}
	for _, id := range want {
		if err := b.Delete(t.Context(), id); err != nil {
			t.Fatal(err)
		}
	}
	if logs := indexLogs(t, dir); len(logs) != 0 {
		t.Fatalf("index logs left after every file was deleted: %v", logs)
	}
	if names := dirNames(t, dir); len(names) != 0 {
		t.Fatalf("files left: %v", names)
	}
}

// The index entries of earlier versions, one empty file per completed file
// in the leaf directory, are listed together with the log's, and removed
// with their file.
func TestIndexLegacyEntriesListed(t *testing.T) {
	clk := newClock()
	dir := t.TempDir()
	b := newBackend(t, local.Config{Dir: dir, Now: clk.Now})
	at := clk.Now()
	old := commitAt(t, b, clk, at)
	newer := commitAt(t, b, clk, at.Add(time.Millisecond))
	// Move old's entry out of the log into an entry file of its own.
	logs := indexLogs(t, dir)
	path := filepath.Join(dir, logs[0])
	buf, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var kept, key string
	for line := range strings.SplitSeq(string(buf), "\n") {
		switch {
		case strings.HasSuffix(line, "-"+old):
			key = line
		case line != "":
			kept += "\n" + line + "\n"
		}
	}
	if key == "" {
		t.Fatalf("log %q has no entry for %s", buf, old)
	}
	if err := os.WriteFile(path, []byte(kept), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(filepath.Dir(path), key), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if got := listAll(t, b, 7); !slices.Equal(got, []string{newer, old}) {
		t.Fatalf("List = %v, want %v", got, []string{newer, old})
	}
	if err := b.Delete(t.Context(), old); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(path), key)); !os.IsNotExist(err) {
		t.Fatalf("legacy entry after Delete: %v", err)
	}
	if got := listAll(t, b, 7); !slices.Equal(got, []string{newer}) {
		t.Fatalf("List = %v, want %v", got, []string{newer})
	}
}

// Commits appending to one log while another Backend on the same directory
// (another process, as far as the locks go: flock belongs to the open
// file) deletes files from it, and so rewrites it: no entry is lost, and
// the log ends with exactly the files that are left.
func TestIndexLogAppendsDuringRewrites(t *testing.T) {
	clk := newClock()
	dir := t.TempDir()
	b1 := newBackend(t, local.Config{Dir: dir, Now: clk.Now})
	b2 := newBackend(t, local.Config{Dir: dir, Now: clk.Now})
	at := clk.Now()
	victims := make([]string, 20)
	for i := range victims {
		victims[i] = commitAt(t, b1, clk, at)
	}
	const writers, each = 4, 10
	var mu sync.Mutex
	var kept []string
	var wg sync.WaitGroup
	for range writers {
		wg.Go(func() {
			for range each {
				id, w := mustCreate(t, b1, 1)
				mustWrite(t, w, []byte("x"))
				if _, err := w.Commit(t.Context(), digestOf("x")); err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				kept = append(kept, id)
				mu.Unlock()
			}
		})
	}
	for _, id := range victims {
		if err := b2.Delete(t.Context(), id); err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
	got := listAll(t, b2, 7)
	slices.Sort(got)
	slices.Sort(kept)
	if !slices.Equal(got, kept) {
		t.Fatalf("listed %d files, want the %d committed ones", len(got), len(kept))
	}
	logs := indexLogs(t, dir)
	if len(logs) != 1 {
		t.Fatalf("index logs = %v, want one", logs)
	}
	buf, err := os.ReadFile(filepath.Join(dir, logs[0]))
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range victims {
		if strings.Contains(string(buf), id) {
			t.Fatalf("deleted %s still in the log", id)
		}
	}
}
