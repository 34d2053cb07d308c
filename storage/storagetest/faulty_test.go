package storagetest_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/google/uuid"

	"github.com/ferryhq/ferry/storage"
	"github.com/ferryhq/ferry/storage/local"
	"github.com/ferryhq/ferry/storage/storagetest"
)

func newLocal(t *testing.T) storage.Backend {
	t.Helper()
	b, err := local.New(local.Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatalf("local.New: %v", err)
	}
	return b
}

// A Faulty with no errors configured must be indistinguishable from its
// Backend.
func TestFaultyWithoutFaultsConforms(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) storage.Backend {
		return &storagetest.Faulty{Backend: newLocal(t), FailWriteAfter: 0}
	})
}

func TestFaulty(t *testing.T) {
	errBroken := errors.New("disk on fire")
	tests := []struct {
		name     string
		faulty   storagetest.Faulty
		writes   []int // sizes of successive Writes
		failAt   int   // index of the first Write that must fail; -1 for none
		writeErr error
		// ckptErr is what a Checkpoint after the writes must return (nil: it succeeds).
		ckptErr error
	}{
		{
			name:     "disk full mid-upload",
			faulty:   storagetest.Faulty{FailWriteAfter: 100, WriteErr: storage.ErrNoSpace},
			writes:   []int{60, 40, 1, 1},
			failAt:   2,
			writeErr: storage.ErrNoSpace,
		},
		{
			name:     "write crossing the limit fails whole",
			faulty:   storagetest.Faulty{FailWriteAfter: 100, WriteErr: errBroken},
			writes:   []int{60, 41, 1},
			failAt:   1,
			writeErr: errBroken,
		},
		{
			name:     "limit zero fails the first byte",
			faulty:   storagetest.Faulty{FailWriteAfter: 0, WriteErr: errBroken},
			writes:   []int{1},
			failAt:   0,
			writeErr: errBroken,
		},
		{
			name:    "checkpoint fails after the limit",
			faulty:  storagetest.Faulty{FailWriteAfter: 50, CheckpointErr: errBroken},
			writes:  []int{30, 30},
			failAt:  -1,
			ckptErr: errBroken,
		},
		{
			name:   "checkpoint before the limit succeeds",
			faulty: storagetest.Faulty{FailWriteAfter: 50, CheckpointErr: errBroken},
			writes: []int{30},
			failAt: -1,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := t.Context()
			f := tc.faulty
			f.Backend = newLocal(t)
			id := uuid.NewString()
			w, err := f.Create(ctx, id, storage.Meta{Name: "f", Size: 1000})
			if err != nil {
				t.Fatalf("Create: %v", err)
			}
			defer w.Close()
			var written int64
			for i, n := range tc.writes {
				got, err := w.Write(bytes.Repeat([]byte{'x'}, n))
				failing := tc.failAt >= 0 && i >= tc.failAt
				switch {
				case failing && (!errors.Is(err, tc.writeErr) || got != 0):
					t.Fatalf("Write %d (%d bytes) = %d, %v; want 0, %v", i, n, got, err, tc.writeErr)
				case !failing && (err != nil || got != n):
					t.Fatalf("Write %d (%d bytes) = %d, %v; want %d, nil", i, n, got, err, n)
				case !failing:
					written += int64(n)
				}
			}
			if w.Written() != written {
				t.Fatalf("Written = %d, want %d: a failed Write must store nothing", w.Written(), written)
			}
			off, err := w.Checkpoint(ctx, []byte("s"))
			if tc.ckptErr != nil {
				if !errors.Is(err, tc.ckptErr) || off != 0 {
					t.Fatalf("Checkpoint = %d, %v; want 0, %v", off, err, tc.ckptErr)
				}
			} else if err != nil || off != written {
				t.Fatalf("Checkpoint = %d, %v; want %d, nil", off, err, written)
			}
			// Faults are per Writer and change nothing stored: the durable
			// offset is what the last successful Checkpoint made it.
			w.Close()
			st, err := f.Stat(ctx, id)
			if err != nil {
				t.Fatalf("Stat: %v", err)
			}
			want := written
			if tc.ckptErr != nil {
				want = 0
			}
			if st.Offset != want {
				t.Fatalf("stored offset %d, want %d", st.Offset, want)
			}
			w, err = f.Resume(ctx, id)
			if err != nil {
				t.Fatalf("Resume through Faulty: %v", err)
			}
			w.Close()
		})
	}
}

// A Commit that would make unchecked bytes durable (local storage's Commit
// syncs them itself) meets the checkpoint fault as Checkpoint does; one
// whose bytes are all checkpointed passes through.
func TestFaultyCommit(t *testing.T) {
	errBroken := errors.New("disk on fire")
	tests := []struct {
		name       string
		checkpoint bool // checkpoint every byte, then Commit from a Resume
		want       error
	}{
		{"unchecked bytes", false, errBroken},
		{"all checkpointed", true, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := t.Context()
			f := storagetest.Faulty{Backend: newLocal(t), FailWriteAfter: 0, CheckpointErr: errBroken}
			id := uuid.NewString()
			w, err := f.Backend.Create(ctx, id, storage.Meta{Name: "f", Size: 10})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := w.Write([]byte("0123456789")); err != nil {
				t.Fatal(err)
			}
			if tc.checkpoint {
				if _, err := w.Checkpoint(ctx, nil); err != nil {
					t.Fatal(err)
				}
			}
			w.Close()
			if w, err = f.Resume(ctx, id); err != nil {
				t.Fatal(err)
			}
			defer w.Close()
			if !storage.CommitSyncs(w) {
				t.Fatal("a Faulty over local storage does not pass CommitSyncs through")
			}
			if !tc.checkpoint {
				if _, err := w.Write([]byte("0123456789")); err != nil {
					t.Fatal(err)
				}
			}
			_, err = w.Commit(ctx, "84d89877f0d4041efb6bf91a16f0248f2fd573e6af05c19f96bedb9f882f7882")
			if !errors.Is(err, tc.want) {
				t.Fatalf("Commit = %v, want %v", err, tc.want)
			}
		})
	}
}
