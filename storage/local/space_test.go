package local

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/ferryhq/ferry/storage"
)

const mib = 1 << 20

// fakeDisk is a file system of size bytes holding the data files of dir
// (records are too small to count here) and used bytes of other things; it
// answers statfs for a Backend and counts the calls.
type fakeDisk struct {
	size, used int64

	mu    sync.Mutex
	calls int
}

func (d *fakeDisk) statfs(dir string, _ *os.File) (avail, total int64, err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.calls++
	avail = d.size - d.used
	err = filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if fi, err := e.Info(); err == nil && filepath.Ext(e.Name()) == dataExt {
			avail -= fi.Size()
		}
		return nil
	})
	return max(avail, 0), d.size, err
}

func (d *fakeDisk) statfsCalls() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.calls
}

// onFakeDisk returns a Backend whose free space is disk's.
func onFakeDisk(t *testing.T, disk *fakeDisk, reserve int64) *Backend {
	t.Helper()
	b, err := New(Config{Dir: t.TempDir(), Reserve: reserve})
	if err != nil {
		t.Fatal(err)
	}
	b.space.statfs = disk.statfs
	return b
}

const testID = "0b0d7a52-5b4c-4a3e-9f0e-2d1c3b4a5f6e"

// TestDeclaredSizeMustFit: Create and SetSize refuse a size the file system
// can never hold (ErrTooLarge) and one it has no room for now, less the
// reserve (ErrNoSpace), and leave nothing behind.
func TestDeclaredSizeMustFit(t *testing.T) {
	tests := []struct {
		name    string
		reserve int64
		size    int64
		want    error // nil: accepted
	}{
		{"fits", 10 * mib, 90 * mib, nil},
		{"eats into the reserve", 10 * mib, 90*mib + 1, storage.ErrNoSpace},
		{"more than free", 10 * mib, 500 * mib, storage.ErrNoSpace},
		{"more than the disk less the reserve", 10 * mib, 990*mib + 1, storage.ErrTooLarge},
		{"more than the disk", 10 * mib, 1 << 62, storage.ErrTooLarge},
		{"default reserve is 1% of the disk", 0, 90 * mib, nil},
		{"default reserve is kept", 0, 90*mib + 1, storage.ErrNoSpace},
		{"no reserve", NoReserve, 100 * mib, nil},
		{"no reserve, more than free", NoReserve, 100*mib + 1, storage.ErrNoSpace},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// 1000 MiB, of which 900 are used by something else.
			disk := &fakeDisk{size: 1000 * mib, used: 900 * mib}
			b := onFakeDisk(t, disk, tc.reserve)
			w, err := b.Create(t.Context(), testID, storage.Meta{Name: "f", Size: tc.size})
			if tc.want == nil {
				if err != nil {
					t.Fatalf("Create(size %d): %v", tc.size, err)
				}
				w.Close()
			} else {
				if !errors.Is(err, tc.want) {
					t.Fatalf("Create(size %d) = %v, want %v", tc.size, err, tc.want)
				}
				if names := dirNames(t, b.dir); len(names) != 0 {
					t.Fatalf("refused Create left %v", names)
				}
			}

			// SetSize of an upload of unknown size checks the same way; the
			// bytes it holds are on the disk already.
			id := "1b0d7a52-5b4c-4a3e-9f0e-2d1c3b4a5f6e"
			w, err = b.Create(t.Context(), id, storage.Meta{Name: "f", Size: storage.SizeUnknown})
			if err != nil {
				t.Fatal(err)
			}
			defer w.Close()
			if _, err := w.Write([]byte("0123456789")); err != nil {
				t.Fatal(err)
			}
			err = w.SetSize(tc.size)
			if tc.want == nil {
				if err != nil {
					t.Fatalf("SetSize(%d): %v", tc.size, err)
				}
				return
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("SetSize(%d) = %v, want %v", tc.size, err, tc.want)
			}
			if got := w.Info().Meta.Size; got != storage.SizeUnknown {
				t.Fatalf("size after a refused SetSize = %d, want unknown", got)
			}
			if _, err := w.Write([]byte("x")); err != nil {
				t.Fatalf("Write after a refused SetSize: %v", err)
			}
		})
	}
}

func TestDefaultReserve(t *testing.T) {
	s := space{}
	for _, tc := range []struct{ total, want int64 }{
		{0, 0},
		{1000 * mib, 10 * mib},
		{100 << 30, DefaultReserveMax},
		{1 << 40, DefaultReserveMax},
	} {
		if got := s.keep(tc.total); got != tc.want {
			t.Errorf("default reserve of a %d-byte file system = %d, want %d", tc.total, got, tc.want)
		}
	}
}

// TestWriteKeepsReserve: a Write that would take the free space below the
// reserve fails with ErrNoSpace; the Writer is failed and the bytes after
// its durable offset are given back at once, so the next upload fits.
// statfs runs far less often than Write.
func TestWriteKeepsReserve(t *testing.T) {
	disk := &fakeDisk{size: 1000 * mib, used: 990*mib - 256<<10} // 256 KiB above the 10 MiB reserve
	b := onFakeDisk(t, disk, 0)
	ctx := t.Context()
	sw, err := b.Create(ctx, testID, storage.Meta{Name: "f", Size: storage.SizeUnknown})
	if err != nil {
		t.Fatal(err)
	}
	w := sw.(*writer)
	defer w.Close()
	calls := disk.statfsCalls()
	for range 1000 {
		if _, err := w.Write(make([]byte, 64)); err != nil {
			t.Fatal(err)
		}
	}
	if n := disk.statfsCalls() - calls; n > 5 {
		t.Fatalf("1000 Writes ran statfs %d times", n)
	}
	if _, err := w.Checkpoint(ctx, []byte("s")); err != nil {
		t.Fatal(err)
	}
	durable := w.Written()
	if _, err := w.Write(make([]byte, 128<<10)); err != nil {
		t.Fatalf("Write within the free space: %v", err)
	}
	if _, err := w.Write(make([]byte, 128<<10)); !errors.Is(err, storage.ErrNoSpace) {
		t.Fatalf("Write into the reserve = %v, want ErrNoSpace", err)
	}
	dataFile := b.dataPath(testID)
	if fi, err := os.Stat(dataFile); err != nil || fi.Size() != durable {
		t.Fatalf("data file after ErrNoSpace: %v, %v; want %d bytes (the durable offset)", fi, err, durable)
	}
	if _, err := w.Write([]byte("x")); !errors.Is(err, storage.ErrNoSpace) {
		t.Fatalf("Write after ErrNoSpace = %v, want the Writer failed with ErrNoSpace", err)
	}
	if off, err := w.Checkpoint(ctx, []byte("t")); !errors.Is(err, storage.ErrNoSpace) || off != durable {
		t.Fatalf("Checkpoint after ErrNoSpace = %d, %v; want %d and ErrNoSpace", off, err, durable)
	}
	if err := w.Close(); err != nil {
		t.Fatalf("Close of a failed Writer: %v", err)
	}

	// The space given back is there for another upload at once.
	other, err := b.Create(ctx, "1b0d7a52-5b4c-4a3e-9f0e-2d1c3b4a5f6e", storage.Meta{Name: "g", Size: 150 << 10})
	if err != nil {
		t.Fatalf("Create of another upload after the give-back: %v", err)
	}
	defer other.Close()
	if _, err := other.Write(make([]byte, 150<<10)); err != nil {
		t.Fatalf("Write of another upload after the give-back: %v", err)
	}

	rw, err := b.Resume(ctx, testID)
	if err != nil {
		t.Fatal(err)
	}
	defer rw.Close()
	if rw.Info().Offset != durable || string(rw.State()) != "s" {
		t.Fatalf("Resume after ErrNoSpace: offset %d, state %q; want %d, %q", rw.Info().Offset, rw.State(), durable, "s")
	}
}

// TestCreateFailureLeavesNothing: a Create that fails at any step leaves no
// file, and in particular no record without its data file (which Stat
// would show as an upload that Resume cannot find).
func TestCreateFailureLeavesNothing(t *testing.T) {
	steps := []string{"create: data file", "create: truncate", "create: marker", "record: write", "record: sync"}
	for _, leftover := range []bool{false, true} {
		for _, step := range steps {
			name := step
			if leftover {
				name += ", over a crashed Create's data file"
			}
			t.Run(name, func(t *testing.T) {
				b, err := New(Config{Dir: t.TempDir()})
				if err != nil {
					t.Fatal(err)
				}
				if leftover {
					if err := os.WriteFile(b.dataPath(testID), []byte("crashed"), 0o600); err != nil {
						t.Fatal(err)
					}
				}
				var seen []string
				injected := errors.New("injected fault")
				b.hook = func(s string) error {
					seen = append(seen, s)
					if s == step {
						return injected
					}
					return nil
				}
				w, err := b.Create(t.Context(), testID, storage.Meta{Name: "f", Size: 10})
				if !errors.Is(err, injected) {
					if err == nil {
						w.Close()
					}
					t.Fatalf("Create failing at %q = %v; steps seen %v", step, err, seen)
				}
				if _, err := b.Stat(t.Context(), testID); !errors.Is(err, storage.ErrNotFound) {
					t.Fatalf("Stat after a failed Create = %v, want ErrNotFound", err)
				}
				if names := dirNames(t, b.dir); len(names) != 0 && !(leftover && step == "create: data file") {
					t.Fatalf("failed Create left %v", names)
				}
				b.hook = nil
				w, err = b.Create(t.Context(), testID, storage.Meta{Name: "f", Size: 10})
				if err != nil {
					t.Fatalf("Create after a failed one: %v", err)
				}
				w.Close()
			})
		}
	}
}

func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	names, err := storeFiles(dir)
	if err != nil {
		t.Fatal(err)
	}
	return names
}
