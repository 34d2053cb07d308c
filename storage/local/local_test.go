package local_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/ferryhq/ferry/storage"
	"github.com/ferryhq/ferry/storage/local"
)

// clock is a settable time source for Config.Now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func newClock() *clock { return &clock{t: time.Date(2030, 1, 2, 3, 4, 5, 6, time.UTC)} }

// dirNames lists the files stored under dir (local.StoreFiles), sorted.
func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	names, err := local.StoreFiles(dir)
	if err != nil {
		t.Fatalf("list %s: %v", dir, err)
	}
	return names
}

func mustCreate(t *testing.T, b storage.Backend, size int64) (string, storage.Writer) {
	t.Helper()
	id := uuid.NewString()
	w, err := b.Create(t.Context(), id, storage.Meta{Name: "f.bin", Size: size})
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	t.Cleanup(func() { w.Close() })
	return id, w
}

func mustWrite(t *testing.T, w storage.Writer, p []byte) {
	t.Helper()
	if n, err := w.Write(p); err != nil || n != len(p) {
		t.Fatalf("Write(%d bytes) = %d, %v", len(p), n, err)
	}
}

func mustCheckpoint(t *testing.T, w storage.Writer, state string) {
	t.Helper()
	if _, err := w.Checkpoint(t.Context(), []byte(state)); err != nil {
		t.Fatalf("Checkpoint: %v", err)
	}
}

func TestNew(t *testing.T) {
	tests := []struct {
		name string
		cfg  local.Config
		want error // nil: New succeeds
	}{
		{"no dir", local.Config{}, storage.ErrInvalid},
		{"negative expiry", local.Config{Dir: "x", Expiry: -time.Second}, storage.ErrInvalid},
		{"nested dir is created", local.Config{Dir: "a/b/c"}, nil},
		{"existing dir", local.Config{Dir: "."}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.cfg.Dir != "" {
				tc.cfg.Dir = filepath.Join(t.TempDir(), tc.cfg.Dir)
			}
			b, err := local.New(tc.cfg)
			if tc.want != nil {
				if !errors.Is(err, tc.want) {
					t.Fatalf("New(%+v) = %v, want %v", tc.cfg, err, tc.want)
				}
				return
			}
			if err != nil {
				t.Fatalf("New(%+v): %v", tc.cfg, err)
			}
			if fi, err := os.Stat(tc.cfg.Dir); err != nil || !fi.IsDir() {
				t.Fatalf("data directory: %v", err)
			}
			if err := b.Ping(t.Context()); err != nil {
				t.Fatalf("Ping: %v", err)
			}
			if names := dirNames(t, tc.cfg.Dir); len(names) != 0 {
				t.Fatalf("Ping left %v behind", names)
			}
		})
	}
}

func TestPingFailsWhenDirIsGone(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	b := newBackend(t, local.Config{Dir: dir})
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if err := b.Ping(t.Context()); err == nil {
		t.Fatal("Ping of a removed directory succeeded")
	}
}

func TestExpiryFollowsClock(t *testing.T) {
	clk := newClock()
	b := newBackend(t, local.Config{Expiry: time.Hour, Now: clk.Now})
	ctx := t.Context()
	start := clk.Now()
	id, w := mustCreate(t, b, 10)
	if in := w.Info(); !in.Created.Equal(start) || !in.Modified.Equal(start) || !in.ExpiresAt.Equal(start.Add(time.Hour)) {
		t.Fatalf("new upload: %+v, want created/modified %v, expires %v", in, start, start.Add(time.Hour))
	}
	clk.Add(30 * time.Minute)
	mustWrite(t, w, []byte("abc"))
	mustCheckpoint(t, w, "s")
	touched := clk.Now()
	in, err := b.Stat(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if !in.Created.Equal(start) || !in.Modified.Equal(touched) || !in.ExpiresAt.Equal(touched.Add(time.Hour)) {
		t.Fatalf("after Checkpoint: %+v, want modified %v, expires %v", in, touched, touched.Add(time.Hour))
	}

	expires := touched.Add(time.Hour)
	steps := []struct {
		name string
		now  time.Time
		held bool
		want int
	}{
		{"at ExpiresAt nothing expires", expires, true, 0},
		{"held upload is skipped", expires.Add(time.Nanosecond), true, 0},
		{"at ExpiresAt, released", expires, false, 0},
		{"after ExpiresAt, released", expires.Add(time.Nanosecond), false, 1},
	}
	for _, s := range steps {
		if !s.held {
			w.Close()
		}
		n, err := b.DeleteExpired(ctx, s.now, nil)
		if err != nil || n != s.want {
			t.Fatalf("%s: DeleteExpired = %d, %v; want %d", s.name, n, err, s.want)
		}
	}
	if _, err := b.Stat(ctx, id); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("Stat of an expired upload: %v, want ErrNotFound", err)
	}
	if names := dirNames(t, b.Dir()); len(names) != 0 {
		t.Fatalf("expired upload left %v", names)
	}

	// Commit clears the expiry; Modified becomes the completion time.
	id, w = mustCreate(t, b, 1)
	mustWrite(t, w, []byte("x"))
	mustCheckpoint(t, w, "")
	clk.Add(time.Minute)
	done, err := w.Commit(ctx, strings.Repeat("ab", 32))
	if err != nil {
		t.Fatal(err)
	}
	if !done.ExpiresAt.IsZero() || !done.Modified.Equal(clk.Now()) {
		t.Fatalf("committed: %+v, want no expiry, modified %v", done, clk.Now())
	}
	if n, err := b.DeleteExpired(ctx, clk.Now().AddDate(10, 0, 0), nil); err != nil || n != 0 {
		t.Fatalf("DeleteExpired with only a complete file = %d, %v", n, err)
	}
	if _, err := b.Open(ctx, id); err != nil {
		t.Fatalf("Open after DeleteExpired: %v", err)
	}
}

// TestExpiredIsGoneBeforeTheSweep: past ExpiresAt an upload answers
// ErrNotFound to Resume and Stat even if DeleteExpired has not run yet, and
// it can still be deleted.
func TestExpiredIsGoneBeforeTheSweep(t *testing.T) {
	clk := newClock()
	b := newBackend(t, local.Config{Expiry: time.Hour, Now: clk.Now})
	ctx := t.Context()
	id, w := mustCreate(t, b, 10)
	mustWrite(t, w, []byte("abc"))
	mustCheckpoint(t, w, "s")
	w.Close()

	clk.Add(time.Hour)
	if _, err := b.Stat(ctx, id); err != nil {
		t.Fatalf("Stat at ExpiresAt: %v", err)
	}
	clk.Add(time.Nanosecond)
	if _, err := b.Resume(ctx, id); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("Resume after ExpiresAt: %v, want ErrNotFound", err)
	}
	if _, err := b.Stat(ctx, id); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("Stat after ExpiresAt: %v, want ErrNotFound", err)
	}
	if err := b.Delete(ctx, id); err != nil {
		t.Fatalf("Delete of an expired upload: %v", err)
	}
	if names := dirNames(t, b.Dir()); len(names) != 0 {
		t.Fatalf("deleted upload left %v", names)
	}
}

// TestExpiredWhileHeld: a Writer whose upload went untouched past its
// expiry (an idle connection kept it locked) cannot bring it back.
func TestExpiredWhileHeld(t *testing.T) {
	clk := newClock()
	b := newBackend(t, local.Config{Expiry: time.Hour, Now: clk.Now})
	_, w := mustCreate(t, b, 10)
	mustWrite(t, w, []byte("abc"))
	mustCheckpoint(t, w, "s")
	clk.Add(time.Hour + time.Nanosecond)
	if _, err := w.Write([]byte("d")); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("Write after ExpiresAt: %v, want ErrNotFound", err)
	}
	if _, err := w.Checkpoint(t.Context(), nil); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("Checkpoint after ExpiresAt: %v, want ErrNotFound", err)
	}
	w.Close()
	if n, err := b.DeleteExpired(t.Context(), clk.Now(), nil); err != nil || n != 1 {
		t.Fatalf("DeleteExpired = %d, %v; want 1", n, err)
	}
}

func TestListOrderTiesByID(t *testing.T) {
	clk := newClock()
	b := newBackend(t, local.Config{Now: clk.Now})
	ctx := t.Context()
	var ids []string
	for range 6 { // three pairs completing at the same instant
		id, w := mustCreate(t, b, 0)
		if _, err := w.Commit(ctx, strings.Repeat("0", 64)); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
		if len(ids)%2 == 0 {
			clk.Add(time.Second)
		}
	}
	var want []string
	for i := len(ids) - 2; i >= 0; i -= 2 {
		pair := []string{ids[i], ids[i+1]}
		slices.Sort(pair)
		want = append(want, pair...)
	}
	var got []string
	after := ""
	for {
		page, err := b.List(ctx, after, 4)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range page.Files {
			got = append(got, f.ID)
		}
		if page.Next == "" {
			break
		}
		after = page.Next
	}
	if !slices.Equal(got, want) {
		t.Fatalf("List order = %v, want %v (newest first, ties by id)", got, want)
	}
}

func TestListRejectsBadArguments(t *testing.T) {
	b := newBackend(t, local.Config{})
	tests := []struct {
		name   string
		cursor string
		limit  int
	}{
		{"zero limit", "", 0},
		{"negative limit", "", -1},
		{"cursor not base64", "!!!", 10},
		{"cursor without id", "MTIz", 10},
		{"cursor with hostile id", "MTIzLi4uL3g", 10},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := b.List(t.Context(), tc.cursor, tc.limit); !errors.Is(err, storage.ErrInvalid) {
				t.Fatalf("List(%q, %d) = %v, want ErrInvalid", tc.cursor, tc.limit, err)
			}
		})
	}
}

// Two Backends on one directory behave like two server processes: they
// share nothing in memory, only the files and the flocks.
func TestTwoInstancesShareDir(t *testing.T) {
	dir := t.TempDir()
	b1 := newBackend(t, local.Config{Dir: dir})
	b2 := newBackend(t, local.Config{Dir: dir})
	ctx := t.Context()

	id, w := mustCreate(t, b1, 100)
	mustWrite(t, w, []byte("hello"))
	mustCheckpoint(t, w, "five")
	if _, err := b2.Resume(ctx, id); !errors.Is(err, storage.ErrLocked) {
		t.Fatalf("Resume from the other instance = %v, want ErrLocked", err)
	}
	if _, err := b2.Create(ctx, id, storage.Meta{Name: "x", Size: 1}); !errors.Is(err, storage.ErrExists) {
		t.Fatalf("Create from the other instance = %v, want ErrExists", err)
	}
	if n, err := b2.DeleteExpired(ctx, time.Now().AddDate(1, 0, 0), nil); err != nil || n != 0 {
		t.Fatalf("DeleteExpired from the other instance = %d, %v; want the held upload skipped", n, err)
	}
	w.Close()
	w2, err := b2.Resume(ctx, id)
	if err != nil {
		t.Fatalf("Resume from the other instance after Close: %v", err)
	}
	defer w2.Close()
	if w2.Written() != 5 || string(w2.State()) != "five" {
		t.Fatalf("resumed at %d with state %q, want 5, %q", w2.Written(), w2.State(), "five")
	}

	// The deleting instance knows nothing of the Writer: the Write still
	// lands, the Checkpoint notices and must not bring the upload back.
	if err := b1.Delete(ctx, id); err != nil {
		t.Fatalf("Delete from the first instance: %v", err)
	}
	mustWrite(t, w2, []byte(" world"))
	if _, err := w2.Checkpoint(ctx, []byte("x")); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("Checkpoint after another instance's Delete = %v, want ErrNotFound", err)
	}
	if _, err := w2.Commit(ctx, strings.Repeat("0", 64)); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("Commit after another instance's Delete = %v, want ErrNotFound", err)
	}
	w2.Close()
	if _, err := b1.Stat(ctx, id); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("Stat after Delete = %v, want ErrNotFound", err)
	}
	if names := dirNames(t, dir); len(names) != 0 {
		t.Fatalf("deleted upload left %v", names)
	}
}

// If another process's Delete removes the data file after this Writer
// checked for the record but before its rename, the rename brings the
// record back; the Writer must notice its data file is gone and undo that.
func TestCheckpointRacingDelete(t *testing.T) {
	b := newBackend(t, local.Config{})
	ctx := t.Context()
	id, w := mustCreate(t, b, 100)
	mustWrite(t, w, []byte("abc"))
	mustCheckpoint(t, w, "s")
	// Delete's first step, as seen from another process.
	if err := os.Remove(local.DataPath(b, id)); err != nil {
		t.Fatal(err)
	}
	mustWrite(t, w, []byte("def"))
	if _, err := w.Checkpoint(ctx, []byte("t")); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("Checkpoint with the data file unlinked = %v, want ErrNotFound", err)
	}
	if _, err := b.Stat(ctx, id); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("Stat = %v: the Checkpoint brought a deleted upload back", err)
	}
}

func TestDeleteStopsWriteAtOnce(t *testing.T) {
	b := newBackend(t, local.Config{})
	id, w := mustCreate(t, b, 100)
	mustWrite(t, w, []byte("abc"))
	if err := b.Delete(t.Context(), id); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte("d")); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("Write after Delete in the same process = %v, want ErrNotFound", err)
	}
	if err := w.Abort(t.Context()); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("Abort after Delete = %v, want ErrNotFound", err)
	}
	if _, err := w.Write([]byte("d")); !errors.Is(err, storage.ErrClosed) {
		t.Fatalf("Write after Abort = %v, want ErrClosed", err)
	}
}

func TestFilesOnDisk(t *testing.T) {
	tests := []struct {
		name string
		end  func(t *testing.T, w storage.Writer)
		want []string // files left for the upload: ID is its id, SS its shard
	}{
		{"open", func(t *testing.T, w storage.Writer) {}, []string{"files/SS/ID.data", "files/SS/ID.json", "uploads/ID"}},
		{"closed", func(t *testing.T, w storage.Writer) { w.Close() }, []string{"files/SS/ID.data", "files/SS/ID.json", "uploads/ID"}},
		{"committed", func(t *testing.T, w storage.Writer) {
			if _, err := w.Commit(t.Context(), strings.Repeat("a", 64)); err != nil {
				t.Fatal(err)
			}
		}, []string{"files/SS/ID.data", "files/SS/ID.json", "index/LEAF/entries.log"}},
		{"aborted", func(t *testing.T, w storage.Writer) {
			if err := w.Abort(t.Context()); err != nil {
				t.Fatal(err)
			}
		}, nil},
	}
	indexLog := regexp.MustCompile(`^index/[0-9a-f]{3}/[0-9a-f]{3}/[0-9a-f]{3}/entries\.log$`)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := newBackend(t, local.Config{})
			id, w := mustCreate(t, b, 3)
			mustWrite(t, w, []byte("abc"))
			mustCheckpoint(t, w, "s")
			tc.end(t, w)
			var got []string
			for _, name := range dirNames(t, b.Dir()) {
				name = strings.ReplaceAll(name, id, "ID")
				name = strings.Replace(name, "files/"+id[34:]+"/", "files/SS/", 1)
				got = append(got, indexLog.ReplaceAllString(name, "index/LEAF/entries.log"))
			}
			if !slices.Equal(got, tc.want) {
				t.Fatalf("files = %v, want %v", got, tc.want)
			}
		})
	}
}

// TestCheckpointOverLeftoverTemporaryRecord: a temporary record a crash left
// behind, longer than the next record, is replaced whole by the next
// Checkpoint, not written over in part.
func TestCheckpointOverLeftoverTemporaryRecord(t *testing.T) {
	b := newBackend(t, local.Config{})
	id, w := mustCreate(t, b, 6)
	if err := os.WriteFile(local.TmpPath(b, id), bytes.Repeat([]byte("x"), 64<<10), 0o600); err != nil {
		t.Fatal(err)
	}
	mustWrite(t, w, []byte("abc"))
	mustCheckpoint(t, w, "s")
	w.Close()
	w, err := b.Resume(t.Context(), id)
	if err != nil {
		t.Fatalf("Resume after a Checkpoint over a leftover: %v", err)
	}
	defer w.Close()
	if w.Written() != 3 || string(w.State()) != "s" {
		t.Fatalf("Resume = written %d, state %q; want 3, %q", w.Written(), w.State(), "s")
	}
}

// TestRemoveTakesLeftoverTemporaryRecord: the temporary record a crash left
// next to an upload's record goes with the upload, whether Abort or Delete
// removes it.
func TestRemoveTakesLeftoverTemporaryRecord(t *testing.T) {
	removals := []struct {
		name   string
		remove func(t *testing.T, b *local.Backend, id string, w storage.Writer) error
	}{
		{"abort", func(t *testing.T, b *local.Backend, id string, w storage.Writer) error { return w.Abort(t.Context()) }},
		{"delete", func(t *testing.T, b *local.Backend, id string, w storage.Writer) error {
			w.Close()
			return b.Delete(t.Context(), id)
		}},
	}
	for _, tc := range removals {
		t.Run(tc.name, func(t *testing.T) {
			b := newBackend(t, local.Config{})
			id, w := mustCreate(t, b, 3)
			mustWrite(t, w, []byte("abc"))
			mustCheckpoint(t, w, "s")
			if err := os.WriteFile(local.TmpPath(b, id), []byte(`{"id":`), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := tc.remove(t, b, id, w); err != nil {
				t.Fatal(err)
			}
			if names := dirNames(t, b.Dir()); len(names) != 0 {
				t.Fatalf("%s left %v", tc.name, names)
			}
		})
	}
}

// TestCloseCutsBytesPastCheckpoint: Close gives the bytes that no
// Checkpoint covers back at once, rather than leaving them on disk until a
// Resume that may never come.
func TestCloseCutsBytesPastCheckpoint(t *testing.T) {
	b := newBackend(t, local.Config{})
	id, w := mustCreate(t, b, 100)
	mustWrite(t, w, []byte("durable"))
	mustCheckpoint(t, w, "7")
	mustWrite(t, w, []byte("lost"))
	if err := w.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if got, err := os.ReadFile(local.DataPath(b, id)); err != nil || string(got) != "durable" {
		t.Fatalf("data file after Close = %q, %v; want %q", got, err, "durable")
	}
}

// TestResumeCutsBytesPastCheckpoint: bytes a crashed process left after its
// last Checkpoint are cut off by Resume.
func TestResumeCutsBytesPastCheckpoint(t *testing.T) {
	b := newBackend(t, local.Config{})
	id, w := mustCreate(t, b, 100)
	mustWrite(t, w, []byte("durable"))
	mustCheckpoint(t, w, "7")
	w.Close()
	data := local.DataPath(b, id)
	f, err := os.OpenFile(data, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString("lost"); err != nil {
		t.Fatal(err)
	}
	f.Close()
	w, err = b.Resume(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if got, err := os.ReadFile(data); err != nil || string(got) != "durable" {
		t.Fatalf("data file after Resume = %q, %v; want %q", got, err, "durable")
	}
}

func TestOpenOfIncompleteUpload(t *testing.T) {
	b := newBackend(t, local.Config{})
	id, _ := mustCreate(t, b, 10)
	_, err := b.Open(t.Context(), id)
	for _, target := range []error{storage.ErrNotFound, storage.ErrIncomplete} {
		if !errors.Is(err, target) {
			t.Fatalf("Open of an incomplete upload = %v, want it to match %v", err, target)
		}
	}
}

func TestOpenPartialOfCompleteFile(t *testing.T) {
	b := newBackend(t, local.Config{})
	id, w := mustCreate(t, b, 5)
	mustWrite(t, w, []byte("whole"))
	mustCheckpoint(t, w, "")
	if _, err := w.Commit(t.Context(), strings.Repeat("f", 64)); err != nil {
		t.Fatal(err)
	}
	r, err := b.OpenPartial(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if got, err := io.ReadAll(r); err != nil || string(got) != "whole" {
		t.Fatalf("OpenPartial of a complete file read %q, %v", got, err)
	}
}

func TestCloseIsIdempotent(t *testing.T) {
	b := newBackend(t, local.Config{})
	_, w := mustCreate(t, b, 1)
	for i := range 3 {
		if err := w.Close(); err != nil {
			t.Fatalf("Close %d: %v", i, err)
		}
	}
}

func TestCommitRejectsMalformedDigest(t *testing.T) {
	b := newBackend(t, local.Config{})
	id, w := mustCreate(t, b, 0)
	for _, sum := range []string{"", "abc", strings.Repeat("g", 64), strings.Repeat("a", 65)} {
		if _, err := w.Commit(t.Context(), sum); !errors.Is(err, storage.ErrInvalid) {
			t.Fatalf("Commit(%q) = %v, want ErrInvalid", sum, err)
		}
	}
	if in, err := b.Stat(t.Context(), id); err != nil || in.Complete {
		t.Fatalf("Stat after refused Commits = %+v, %v; want incomplete", in, err)
	}
}

func TestCheckpointHonoursContext(t *testing.T) {
	b := newBackend(t, local.Config{})
	_, w := mustCreate(t, b, 10)
	mustWrite(t, w, []byte("abc"))
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	off, err := w.Checkpoint(ctx, []byte("s"))
	if !errors.Is(err, context.Canceled) || off != 0 {
		t.Fatalf("Checkpoint with a cancelled context = %d, %v; want 0, context.Canceled", off, err)
	}
	if w.Info().Offset != 0 || w.Written() != 3 {
		t.Fatalf("after a cancelled Checkpoint: offset %d, written %d; want 0, 3", w.Info().Offset, w.Written())
	}
}

// Nothing a hostile id can say reaches outside the data directory, and
// nothing is created for it inside.
func TestHostileIDsStayInside(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "data")
	b := newBackend(t, local.Config{Dir: dir})
	victims := []string{"x", "x.json", "x.data", "x.lock"}
	for _, name := range victims {
		if err := os.WriteFile(filepath.Join(root, name), []byte("keep"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	ctx := t.Context()
	for _, id := range []string{"../x", "..", "../data/../x", "/" + root + "/x", "%2e%2e/x", "x"} {
		_, err := b.Create(ctx, id, storage.Meta{Name: "n", Size: 1})
		if !errors.Is(err, storage.ErrNotFound) || !errors.Is(err, storage.ErrInvalid) {
			t.Fatalf("Create(%q) = %v, want ErrNotFound and ErrInvalid", id, err)
		}
		if err := b.Delete(ctx, id); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("Delete(%q) = %v, want ErrNotFound", id, err)
		}
		if _, err := b.Stat(ctx, id); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("Stat(%q) = %v, want ErrNotFound", id, err)
		}
	}
	if _, err := b.DeleteExpired(ctx, time.Now().AddDate(100, 0, 0), nil); err != nil {
		t.Fatal(err)
	}
	for _, name := range victims {
		if got, err := os.ReadFile(filepath.Join(root, name)); err != nil || string(got) != "keep" {
			t.Fatalf("%s outside the data directory: %q, %v", name, got, err)
		}
	}
	if names := dirNames(t, dir); len(names) != 0 {
		t.Fatalf("hostile ids created %v", names)
	}
}

// Leftovers of a crash: temporary records, the data file and marker of a
// Create that never published its record, the marker of a Commit that
// crashed before removing it, and a damaged record. None of them may break
// Stat, List or a live upload; DeleteExpired sweeps the stale ones and
// leaves foreign files alone.
func TestCrashLeftovers(t *testing.T) {
	b := newBackend(t, local.Config{Expiry: time.Hour})
	ctx := t.Context()
	dir := b.Dir()

	done, w := mustCreate(t, b, 4)
	mustWrite(t, w, []byte("done"))
	mustCheckpoint(t, w, "")
	if _, err := w.Commit(ctx, strings.Repeat("d", 64)); err != nil {
		t.Fatal(err)
	}
	live, lw := mustCreate(t, b, 10)
	mustWrite(t, lw, []byte("abc"))
	mustCheckpoint(t, lw, "s")

	orphan, corrupt := uuid.NewString(), uuid.NewString()
	// crashed is a Create that crashed before renaming its temporary record.
	crashed := uuid.NewString()
	rel := func(p string) string { r, _ := filepath.Rel(dir, p); return filepath.ToSlash(r) }
	leftovers := map[string]string{
		"tmp/" + done + "-123456":       `{"id":"` + done + `","complete":false}`,
		"tmp/" + live + "-999":          `{"id":`,
		"tmp/ping-42":                   "",
		rel(local.DataPath(b, orphan)):  "bytes of a Create that crashed",
		rel(local.DataPath(b, crashed)): "",
		rel(local.TmpPath(b, crashed)):  `{"id":"` + crashed + `"}`,
		"uploads/" + crashed:            "",
		"uploads/" + orphan:             "",
		"uploads/" + done:               "",
		rel(local.MetaPath(b, corrupt)): "{not json",
		"uploads/" + corrupt:            "",
		"README":                        "not ours",
		"uploads/README":                "not ours either",
	}
	old := time.Now().Add(-2 * time.Hour)
	for name, body := range leftovers {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, old, old); err != nil {
			t.Fatal(err)
		}
	}

	if in, err := b.Stat(ctx, done); err != nil || !in.Complete {
		t.Fatalf("Stat of the complete file among leftovers = %+v, %v", in, err)
	}
	if _, err := b.Stat(ctx, corrupt); err == nil || errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("Stat of a damaged record = %v, want an error other than ErrNotFound", err)
	}
	page, err := b.List(ctx, "", 10)
	if err != nil || len(page.Files) != 1 || page.Files[0].ID != done {
		t.Fatalf("List among leftovers = %+v, %v; want only %s", page.Files, err, done)
	}
	// A Create over a crashed Create's data file starts from empty.
	if w, err := b.Create(ctx, orphan, storage.Meta{Name: "again", Size: 3}); err != nil {
		t.Fatalf("Create over a leftover data file: %v", err)
	} else {
		w.Abort(ctx)
		for _, p := range []string{local.DataPath(b, orphan), local.MarkPath(b, orphan)} {
			os.WriteFile(p, []byte("again"), 0o600)
			os.Chtimes(p, old, old)
		}
	}

	// Now is real time here: the leftovers are two hours old, the live
	// upload's files are fresh, and its lock is held.
	n, err := b.DeleteExpired(ctx, time.Now(), nil)
	if err != nil || n != 0 {
		t.Fatalf("DeleteExpired = %d, %v; want 0 uploads (leftovers are not counted)", n, err)
	}
	want := []string{"tmp/" + live + "-999", rel(local.MetaPath(b, corrupt)), "uploads/" + corrupt,
		rel(local.DataPath(b, done)), rel(local.MetaPath(b, done)),
		rel(local.DataPath(b, live)), rel(local.MetaPath(b, live)), "uploads/" + live,
		"README", "uploads/README"}
	slices.Sort(want)
	got := slices.DeleteFunc(dirNames(t, dir), func(n string) bool { return strings.HasPrefix(n, "index/") })
	if !slices.Equal(got, want) {
		t.Fatalf("after DeleteExpired:\n%v\nwant\n%v", got, want)
	}
	// The live upload was not disturbed; once released, its stale
	// temporary file goes too.
	mustWrite(t, lw, []byte("defg"))
	mustCheckpoint(t, lw, "t")
	lw.Close()
	if _, err := b.DeleteExpired(ctx, time.Now(), nil); err != nil {
		t.Fatal(err)
	}
	if slices.Contains(dirNames(t, dir), "tmp/"+live+"-999") {
		t.Fatalf("stale temporary file of a released upload was kept")
	}
	w, err = b.Resume(ctx, live)
	if err != nil || w.Written() != 7 || string(w.State()) != "t" {
		t.Fatalf("Resume after the sweep: %v, written %d", err, w.Written())
	}
	w.Close()
	// A damaged record is never swept, but an operator can delete it.
	if err := b.Delete(ctx, corrupt); err != nil {
		t.Fatalf("Delete of a damaged record: %v", err)
	}
	for _, n := range dirNames(t, dir) {
		if strings.Contains(n, corrupt) {
			t.Fatalf("Delete left %s of the damaged record", n)
		}
	}
}

func TestWriteAllocatesNothing(t *testing.T) {
	b := newBackend(t, local.Config{})
	_, w := mustCreate(t, b, 64<<20)
	p := make([]byte, 1<<20)
	allocs := testing.AllocsPerRun(20, func() {
		if _, err := w.Write(p); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("Write of 1 MiB allocates %.1f times, want 0", allocs)
	}
	if w.Written() != 21<<20 {
		t.Fatalf("Written = %d, want %d", w.Written(), 21<<20)
	}
}

func TestLargeWriteIsSplitAndIntact(t *testing.T) {
	b := newBackend(t, local.Config{})
	p := bytes.Repeat([]byte("0123456789abcdef"), (3<<20+5)/16+1)
	id, w := mustCreate(t, b, int64(len(p)))
	mustWrite(t, w, p)
	mustCheckpoint(t, w, "")
	got, err := os.ReadFile(local.DataPath(b, id))
	if err != nil || !bytes.Equal(got, p) {
		t.Fatalf("data file after one %d-byte Write: %d bytes, %v", len(p), len(got), err)
	}
}
