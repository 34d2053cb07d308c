package local

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"syscall"
	"testing"

	"github.com/ferryhq/ferry/storage"
)

func TestMapErr(t *testing.T) {
	pathErr := func(errno syscall.Errno) error {
		return &os.PathError{Op: "write", Path: "/data/x.data", Err: errno}
	}
	type test struct {
		name string
		err  error
		want error // sentinel the result must match; nil: unchanged
	}
	var tests []test
	for _, e := range noSpaceErrnos {
		tests = append(tests,
			test{e.name, pathErr(e.errno), storage.ErrNoSpace},
			test{"wrapped " + e.name, fmt.Errorf("sync: %w", pathErr(e.errno)), storage.ErrNoSpace})
	}
	tests = append(tests,
		test{"ENOENT", pathErr(syscall.ENOENT), storage.ErrNotFound},
		test{"EIO", pathErr(syscall.EIO), nil},
	)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := mapErr(tc.err)
			if !errors.Is(got, tc.err) {
				t.Fatalf("mapErr(%v) = %v: lost the cause", tc.err, got)
			}
			if tc.want == nil {
				if got != tc.err {
					t.Fatalf("mapErr(%v) = %v, want it unchanged", tc.err, got)
				}
				return
			}
			if !errors.Is(got, tc.want) {
				t.Fatalf("mapErr(%v) = %v, want %v", tc.err, got, tc.want)
			}
		})
	}
	if mapErr(nil) != nil {
		t.Fatal("mapErr(nil) != nil")
	}
}

// A Write the file system refuses stores nothing: Written stays, and the
// next Checkpoint leaves the data file exactly Written bytes long.
func TestFailedWriteStoresNothing(t *testing.T) {
	b, err := New(Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	sw, err := b.Create(ctx, "0b0d7a52-5b4c-4a3e-9f0e-2d1c3b4a5f6e", storage.Meta{Name: "f", Size: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	w := sw.(*writer)
	defer w.Close()
	if _, err := w.Write([]byte("good")); err != nil {
		t.Fatal(err)
	}
	// Swap in a read-only descriptor: pwrite and ftruncate both fail, as
	// they would on a file system that went bad.
	rw := w.data
	ro, err := os.Open(rw.Name())
	if err != nil {
		t.Fatal(err)
	}
	w.data = ro
	if n, err := w.Write(make([]byte, 100<<10)); err == nil || n != 0 {
		t.Fatalf("Write through a read-only descriptor = %d, %v; want 0 and an error", n, err)
	}
	if w.Written() != 4 || !w.dirty {
		t.Fatalf("after a failed Write: Written %d, dirty %v; want 4, true", w.Written(), w.dirty)
	}
	ro.Close()
	w.data = rw
	// Simulate the half-written bytes the failed Write could have left.
	if _, err := rw.WriteAt([]byte("junk"), 4); err != nil {
		t.Fatal(err)
	}
	if off, err := w.Checkpoint(ctx, nil); err != nil || off != 4 {
		t.Fatalf("Checkpoint = %d, %v; want 4", off, err)
	}
	if got, err := os.ReadFile(b.dataPath(w.ID())); err != nil || string(got) != "good" {
		t.Fatalf("data file = %q, %v; want %q", got, err, "good")
	}
}

// A Commit that makes unchecked bytes durable itself is atomic: when it
// fails at any of its steps, the upload stays at its last Checkpoint, with
// that Checkpoint's state, and resumes from there to a whole file.
func TestCommitWithoutCheckpointFailsToLastCheckpoint(t *testing.T) {
	steps := []string{"record: write", "record: sync"}
	for _, step := range steps {
		t.Run(step, func(t *testing.T) {
			b, err := New(Config{Dir: t.TempDir()})
			if err != nil {
				t.Fatal(err)
			}
			ctx := t.Context()
			const id = "0b0d7a52-5b4c-4a3e-9f0e-2d1c3b4a5f6e"
			digest := "c3ab8ff13720e8ad9047dd39466b3c8974e592c2fa383d4a3960714caef0c4f2"
			w, err := b.Create(ctx, id, storage.Meta{Name: "f", Size: 6})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := w.Write([]byte("fo")); err != nil {
				t.Fatal(err)
			}
			if _, err := w.Checkpoint(ctx, []byte("at 2")); err != nil {
				t.Fatal(err)
			}
			if _, err := w.Write([]byte("obar")); err != nil {
				t.Fatal(err)
			}
			injected := errors.New("injected")
			b.hook = func(s string) error {
				if s == step {
					return injected
				}
				return nil
			}
			if _, err := w.Commit(ctx, digest); !errors.Is(err, injected) {
				t.Fatalf("Commit failing at %q = %v, want the injected error", step, err)
			}
			b.hook = nil
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			if in, err := b.Stat(ctx, id); err != nil || in.Complete || in.Offset != 2 {
				t.Fatalf("Stat after the failed Commit = %+v, %v; want incomplete at 2", in, err)
			}
			if names, _ := storeFiles(b.dir); slices.Contains(names, "files/"+id[34:]+"/"+id+tmpExt) {
				t.Fatalf("the failed Commit left its temporary record: %v", names)
			}
			w, err = b.Resume(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			defer w.Close()
			if w.Written() != 2 || string(w.State()) != "at 2" {
				t.Fatalf("Resume = written %d, state %q; want 2, %q", w.Written(), w.State(), "at 2")
			}
			if _, err := w.Write([]byte("obar")); err != nil {
				t.Fatal(err)
			}
			if in, err := w.Commit(ctx, digest); err != nil || !in.Complete || in.Offset != 6 {
				t.Fatalf("Commit after Resume = %+v, %v", in, err)
			}
			got, err := os.ReadFile(b.dataPath(id))
			if err != nil || string(got) != "foobar" {
				t.Fatalf("file = %q, %v; want foobar", got, err)
			}
		})
	}
}
