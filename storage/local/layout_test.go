package local_test

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ferryhq/ferry/internal/fixture"
	"github.com/ferryhq/ferry/storage"
	"github.com/ferryhq/ferry/storage/local"
)

// copyDir copies the files of the fixture directory src into a new
// temporary directory and returns it.
func copyDir(t *testing.T, src string) string {
	t.Helper()
	dst := t.TempDir()
	entries, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

// The fixture testdata/local/flat (top level) is a data directory of the flat layout (every
// upload's files directly under it): two complete files, an incomplete
// upload with its checkpoint state, the old lock file of that upload, a
// temporary record and a file that is not ferry's.
const (
	flatNewer = "0b0d7a52-5b4c-4a3e-9f0e-2d1c3b4a5f01"
	flatOlder = "0b0d7a52-5b4c-4a3e-9f0e-2d1c3b4a5f02"
	flatHalf  = "0b0d7a52-5b4c-4a3e-9f0e-2d1c3b4a5f03"
)

func TestMigrateFlatLayout(t *testing.T) {
	dir := copyDir(t, fixture.Path("local", "flat"))
	clk := &clock{t: time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)}
	b := newBackend(t, local.Config{Dir: dir, Now: clk.Now, Expiry: 24 * time.Hour})
	ctx := t.Context()

	want := []string{
		"README",
		"files/01/" + flatNewer + ".data", "files/01/" + flatNewer + ".json",
		"files/02/" + flatOlder + ".data", "files/02/" + flatOlder + ".json",
		"files/03/" + flatHalf + ".data", "files/03/" + flatHalf + ".json",
		"uploads/" + flatHalf,
	}
	got := slices.DeleteFunc(dirNames(t, dir), func(n string) bool { return strings.HasPrefix(n, "index/") })
	if !slices.Equal(got, want) {
		t.Fatalf("after migration: %v, want %v", got, want)
	}
	page, err := b.List(ctx, "", 10)
	if err != nil || len(page.Files) != 2 || page.Files[0].ID != flatNewer || page.Files[1].ID != flatOlder {
		t.Fatalf("List after migration = %+v, %v; want %s then %s", page.Files, err, flatNewer, flatOlder)
	}
	obj, err := b.Open(ctx, flatNewer)
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(obj)
	obj.Close()
	if err != nil || string(body) != "hello, world" || obj.Info().Meta.Name != "hello.txt" {
		t.Fatalf("Open after migration: %q, %+v, %v", body, obj.Info(), err)
	}
	w, err := b.Resume(ctx, flatHalf)
	if err != nil || w.Written() != 4 || string(w.State()) != "state" {
		t.Fatalf("Resume after migration: %v", err)
	}
	mustWrite(t, w, []byte("56789a"))
	mustCheckpoint(t, w, "")
	if _, err := w.Commit(ctx, digestOf("half56789a")); err != nil {
		t.Fatalf("Commit of a migrated upload: %v", err)
	}
	if page, err := b.List(ctx, "", 10); err != nil || len(page.Files) != 3 || page.Files[0].ID != flatHalf {
		t.Fatalf("List after completing the migrated upload = %+v, %v", page.Files, err)
	}
	// A second start finds nothing to move and keeps the index.
	b2 := newBackend(t, local.Config{Dir: dir, Now: clk.Now})
	if page, err := b2.List(ctx, "", 10); err != nil || len(page.Files) != 3 {
		t.Fatalf("List after a second start = %+v, %v", page.Files, err)
	}
}

// While a process of an older version holds an upload's lock file, New
// refuses the directory and moves nothing.
func TestMigrateRefusesHeldLegacyLock(t *testing.T) {
	dir := copyDir(t, fixture.Path("local", "flat"))
	holdLegacyLock(t, filepath.Join(dir, flatHalf+".lock"))
	if _, err := local.New(local.Config{Dir: dir}); !errors.Is(err, storage.ErrLocked) {
		t.Fatalf("New with a held legacy lock = %v, want ErrLocked", err)
	}
	if _, err := os.Stat(filepath.Join(dir, flatNewer+".json")); err != nil {
		t.Fatalf("refused migration moved files: %v", err)
	}
}

// commitAt completes a small file with the clock at t.
func commitAt(t *testing.T, b *local.Backend, clk *clock, at time.Time) string {
	t.Helper()
	clk.mu.Lock()
	clk.t = at
	clk.mu.Unlock()
	id, w := mustCreate(t, b, 1)
	mustWrite(t, w, []byte("x"))
	mustCheckpoint(t, w, "")
	if _, err := w.Commit(t.Context(), digestOf("x")); err != nil {
		t.Fatal(err)
	}
	return id
}

// listAll walks every page of b's list with the given page size.
func listAll(t *testing.T, b storage.Backend, limit int) []string {
	t.Helper()
	var ids []string
	for cursor := ""; ; {
		page, err := b.List(t.Context(), cursor, limit)
		if err != nil {
			t.Fatal(err)
		}
		if len(page.Files) > limit || (page.Next != "" && len(page.Files) != limit) {
			t.Fatalf("page of %d files with next %q, limit %d", len(page.Files), page.Next, limit)
		}
		for _, in := range page.Files {
			ids = append(ids, in.ID)
		}
		if cursor = page.Next; cursor == "" {
			return ids
		}
	}
}

// Files completed across index directories (years, minutes, milliseconds
// and the same instant) come out newest first, ties by id, whatever the
// page size.
func TestListOrderAcrossIndexDirectories(t *testing.T) {
	clk := newClock()
	b := newBackend(t, local.Config{Now: clk.Now, Expiry: 100 * 365 * 24 * time.Hour})
	base := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	offsets := []time.Duration{0, time.Nanosecond, time.Millisecond, 300 * time.Millisecond,
		time.Minute, 20 * time.Minute, 60 * 24 * time.Hour, 3 * 365 * 24 * time.Hour, -time.Hour, -50 * 24 * time.Hour}
	type done struct {
		at time.Time
		id string
	}
	var all []done
	for _, off := range offsets {
		for range 3 { // three at the same instant
			at := base.Add(off)
			all = append(all, done{at, commitAt(t, b, clk, at)})
		}
	}
	slices.SortFunc(all, func(x, y done) int {
		if c := y.at.Compare(x.at); c != 0 {
			return c
		}
		return strings.Compare(x.id, y.id)
	})
	var want []string
	for _, d := range all {
		want = append(want, d.id)
	}
	for _, limit := range []int{1, 2, 4, 7, 30, 31, 100} {
		if got := listAll(t, b, limit); !slices.Equal(got, want) {
			t.Fatalf("limit %d: %v\nwant %v", limit, got, want)
		}
	}
}

// An index entry whose file was deleted (a Delete cut short) or whose
// record is not complete lists nothing, and does not shorten the page.
func TestListSkipsStaleIndexEntries(t *testing.T) {
	clk := newClock()
	b := newBackend(t, local.Config{Now: clk.Now})
	base := clk.Now()
	var ids []string
	for i := range 5 {
		ids = append(ids, commitAt(t, b, clk, base.Add(time.Duration(i)*time.Second)))
	}
	// Remove the record of the newest and make the next one incomplete,
	// leaving their index entries.
	if err := os.Remove(local.MetaPath(b, ids[4])); err != nil {
		t.Fatal(err)
	}
	rec, err := os.ReadFile(local.MetaPath(b, ids[3]))
	if err != nil {
		t.Fatal(err)
	}
	rec = []byte(strings.Replace(string(rec), `"complete":true`, `"complete":false`, 1))
	if err := os.WriteFile(local.MetaPath(b, ids[3]), rec, 0o600); err != nil {
		t.Fatal(err)
	}
	page, err := b.List(t.Context(), "", 2)
	if err != nil || len(page.Files) != 2 || page.Files[0].ID != ids[2] || page.Files[1].ID != ids[1] {
		t.Fatalf("List = %+v, %v; want %s, %s", page.Files, err, ids[2], ids[1])
	}
}

// An index that was deleted, or whose building a crash cut short, is built
// again from the records at the next start.
func TestIndexRebuiltWhenDeleted(t *testing.T) {
	clk := newClock()
	dir := t.TempDir()
	b := newBackend(t, local.Config{Dir: dir, Now: clk.Now})
	base := clk.Now()
	var want []string
	for i := range 20 {
		want = append(want, commitAt(t, b, clk, base.Add(time.Duration(20-i)*time.Minute)))
	}
	_, open := mustCreate(t, b, 10)
	open.Close()
	for _, damage := range []func() error{
		func() error { return os.RemoveAll(filepath.Join(dir, "index")) },
		func() error { return os.Remove(filepath.Join(dir, "index", ".complete")) },
	} {
		if err := damage(); err != nil {
			t.Fatal(err)
		}
		b := newBackend(t, local.Config{Dir: dir, Now: clk.Now})
		if got := listAll(t, b, 6); !slices.Equal(got, want) {
			t.Fatalf("after rebuilding: %v\nwant %v", got, want)
		}
	}
}

// The expiry sweep finds incomplete uploads through their markers: one
// whose marker a crash removed is not its business (it is found again
// when the index is rebuilt), and completed files are never read.
func TestSweepFindsUploadsByMarker(t *testing.T) {
	clk := newClock()
	dir := t.TempDir()
	b := newBackend(t, local.Config{Dir: dir, Now: clk.Now, Expiry: time.Hour})
	ctx := t.Context()
	done := commitAt(t, b, clk, clk.Now())
	// A completed file whose record is damaged: a sweep that read
	// completed files would report it.
	if err := os.WriteFile(local.MetaPath(b, done), []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}
	stale, w := mustCreate(t, b, 10)
	w.Close()
	if _, err := os.Stat(local.MarkPath(b, stale)); err != nil {
		t.Fatalf("marker of an incomplete upload: %v", err)
	}
	clk.Add(2 * time.Hour)
	if n, err := b.DeleteExpired(ctx, clk.Now(), nil); err != nil || n != 1 {
		t.Fatalf("DeleteExpired = %d, %v; want 1", n, err)
	}
	if _, err := os.Stat(local.MarkPath(b, stale)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("marker of an expired upload after the sweep: %v", err)
	}
	got := dirNames(t, dir)
	for _, n := range got {
		if strings.Contains(n, stale) {
			t.Fatalf("expired upload left %v", got)
		}
	}
}

// No directory grows with the number of uploads beyond its shard's share.
func TestUploadsFanOut(t *testing.T) {
	b := newBackend(t, local.Config{})
	perShard := make(map[string]int)
	for range 64 {
		id, w := mustCreate(t, b, 1)
		w.Close()
		perShard[filepath.Base(filepath.Dir(local.DataPath(b, id)))]++
		if want := fmt.Sprintf("files/%s/%s.data", id[34:], id); !strings.HasSuffix(filepath.ToSlash(local.DataPath(b, id)), want) {
			t.Fatalf("data file at %s, want .../%s", local.DataPath(b, id), want)
		}
	}
	if len(perShard) < 16 {
		t.Fatalf("64 uploads went into %d shards", len(perShard))
	}
}
