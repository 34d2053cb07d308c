package local

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ferryhq/ferry/storage"
)

// slotWriter creates an upload with one Checkpoint at "abc" (state "s1")
// and returns its Writer: its record file then holds Create's record in
// one slot and the Checkpoint's, the acknowledged one, in the other.
func slotWriter(t *testing.T, b *Backend) *writer {
	t.Helper()
	w, err := b.Create(t.Context(), testID, storage.Meta{Name: "f", Size: 6})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte("abc")); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Checkpoint(t.Context(), []byte("s1")); err != nil {
		t.Fatal(err)
	}
	return w.(*writer)
}

// A crash can tear the write of the slot a Checkpoint or Commit was
// writing, or leave it half-synced: whatever that slot holds, the record is
// the acknowledged Checkpoint in the other slot. The torn slot is the one
// the next write would have used.
func TestTornSlotKeepsLastCheckpoint(t *testing.T) {
	next := func(w *writer) (int64, []byte) {
		rec := w.rec
		rec.Offset, rec.State, rec.Complete = 6, []byte("s2"), true
		enc := encodeRecord(t, rec)
		return int64(1-w.rf.cur) * w.rf.slotSize, encodeSlot(enc, w.rf.seq+1)
	}
	tears := []struct {
		name string
		tear func(slot []byte) []byte // what the crash left of the new slot
	}{
		{"header only", func(s []byte) []byte { return s[:slotHeader] }},
		{"half the record", func(s []byte) []byte { return s[:slotHeader+(len(s)-slotHeader)/2] }},
		{"all but the last byte", func(s []byte) []byte { return s[:len(s)-1] }},
		{"a flipped bit", func(s []byte) []byte { c := bytes.Clone(s); c[len(c)-3] ^= 1; return c }},
		{"zeros", func(s []byte) []byte { return make([]byte, len(s)) }},
		{"a sequence number past the good one with a stale checksum", func(s []byte) []byte {
			c := bytes.Clone(s)
			c[4]++
			return c
		}},
	}
	for _, tc := range tears {
		t.Run(tc.name, func(t *testing.T) {
			b, err := New(Config{Dir: t.TempDir()})
			if err != nil {
				t.Fatal(err)
			}
			w := slotWriter(t, b)
			off, slot := next(w)
			// What the next write would leave if the crash cut it short;
			// the slot's old contents stay under what was not written.
			f, err := os.OpenFile(b.metaPath(testID), os.O_RDWR, 0)
			if err != nil {
				t.Fatal(err)
			}
			_, err = f.WriteAt(tc.tear(slot), off)
			f.Close()
			if err != nil {
				t.Fatal(err)
			}
			w.release() // the crash: the lock goes, nothing is written
			in, err := b.Stat(t.Context(), testID)
			if err != nil || in.Complete || in.Offset != 3 {
				t.Fatalf("Stat after a torn slot = %+v, %v; want incomplete at 3", in, err)
			}
			rw, err := b.Resume(t.Context(), testID)
			if err != nil {
				t.Fatal(err)
			}
			defer rw.Close()
			if rw.Written() != 3 || string(rw.State()) != "s1" {
				t.Fatalf("Resume = %d, %q; want 3, s1", rw.Written(), rw.State())
			}
			// The Writer goes on from there, over the torn slot, and its
			// writes survive a new Backend reading them.
			if _, err := rw.Write([]byte("def")); err != nil {
				t.Fatal(err)
			}
			if _, err := rw.Commit(t.Context(), strings.Repeat("a", 64)); err != nil {
				t.Fatal(err)
			}
			b2, err := New(Config{Dir: b.dir})
			if err != nil {
				t.Fatal(err)
			}
			if in, err := b2.Stat(t.Context(), testID); err != nil || !in.Complete || in.Offset != 6 {
				t.Fatalf("Stat after Commit = %+v, %v", in, err)
			}
		})
	}
}

func encodeRecord(t *testing.T, rec record) []byte {
	t.Helper()
	enc, err := json.Marshal(rec)
	if err != nil {
		t.Fatal(err)
	}
	return enc
}

// A record file that a Create left before its first slot was synced (a
// crash between its creation and the sync) is no record: the upload does
// not exist, a new Create of the id goes through, and the expiry sweep
// removes it with the data file and the marker once they are stale.
func TestCreateCutShortLeavesNoRecord(t *testing.T) {
	for _, left := range []struct {
		name string
		data []byte
	}{
		{"empty", nil},
		{"zeros", make([]byte, 2*minSlot)},
		{"half a slot", []byte(slotMagic + "\x01\x00\x00\x00\x00\x00\x00\x00\x40\x00\x00\x00")},
	} {
		t.Run(left.name, func(t *testing.T) {
			now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
			b, err := New(Config{Dir: t.TempDir(), Expiry: time.Hour, Now: func() time.Time { return now }})
			if err != nil {
				t.Fatal(err)
			}
			for p, body := range map[string][]byte{b.dataPath(testID): nil, b.markPath(testID): nil, b.metaPath(testID): left.data} {
				if err := os.WriteFile(p, body, 0o600); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := b.Stat(t.Context(), testID); !errors.Is(err, storage.ErrNotFound) {
				t.Fatalf("Stat = %v, want ErrNotFound", err)
			}
			// The sweep, once the leftovers are stale, removes them all.
			old := now.Add(-2 * time.Hour)
			for _, p := range []string{b.dataPath(testID), b.markPath(testID), b.metaPath(testID)} {
				if err := os.Chtimes(p, old, old); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := b.DeleteExpired(t.Context(), now, nil); err != nil {
				t.Fatal(err)
			}
			if names := dirNames(t, b.dir); len(names) != 0 {
				t.Fatalf("sweep left %v", names)
			}
			// And Create over such leftovers makes a whole upload.
			for p, body := range map[string][]byte{b.dataPath(testID): []byte("x"), b.metaPath(testID): left.data} {
				if err := os.WriteFile(p, body, 0o600); err != nil {
					t.Fatal(err)
				}
			}
			w, err := b.Create(t.Context(), testID, storage.Meta{Name: "f", Size: 1})
			if err != nil {
				t.Fatal(err)
			}
			defer w.Close()
			if in, err := b.Stat(t.Context(), testID); err != nil || in.Offset != 0 || in.Meta.Name != "f" {
				t.Fatalf("Stat after Create = %+v, %v", in, err)
			}
		})
	}
}

// A record of the versions before slots (one JSON object) is read as it
// is, and its upload's first Checkpoint replaces it with a slotted file.
// So is a record that outgrows its slots; the slots after that are written
// in place again.
func TestRecordRewrittenWhole(t *testing.T) {
	b, err := New(Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	w := slotWriter(t, b)
	w.Close()
	// Make the record what an earlier version wrote.
	rec, err := readRecord(b.metaPath(testID), testID)
	if err != nil {
		t.Fatal(err)
	}
	legacy := encodeRecord(t, rec)
	if err := os.WriteFile(b.metaPath(testID), legacy, 0o600); err != nil {
		t.Fatal(err)
	}
	if in, err := b.Stat(ctx, testID); err != nil || in.Offset != 3 {
		t.Fatalf("Stat of an earlier version's record = %+v, %v", in, err)
	}
	rw, err := b.Resume(ctx, testID)
	if err != nil {
		t.Fatal(err)
	}
	if rw.Written() != 3 || string(rw.State()) != "s1" {
		t.Fatalf("Resume = %d, %q", rw.Written(), rw.State())
	}
	mustSlotted := func(stage string, want int64) {
		t.Helper()
		buf, err := os.ReadFile(b.metaPath(testID))
		if err != nil {
			t.Fatal(err)
		}
		if int64(len(buf)) != 2*want || string(buf[:4]) != slotMagic && string(buf[want:want+4]) != slotMagic {
			t.Fatalf("%s: record file of %d bytes starting %q, want two slots of %d", stage, len(buf), buf[:min(8, len(buf))], want)
		}
		if names := dirNames(t, b.dir); slices.Contains(names, "files/"+shardOf(testID)+"/"+testID+tmpExt) {
			t.Fatalf("%s: temporary record left: %v", stage, names)
		}
	}
	if _, err := rw.Write([]byte("d")); err != nil {
		t.Fatal(err)
	}
	if _, err := rw.Checkpoint(ctx, []byte("s2")); err != nil {
		t.Fatal(err)
	}
	mustSlotted("after the first Checkpoint", minSlot)
	big := bytes.Repeat([]byte("x"), 3*minSlot)
	if _, err := rw.Checkpoint(ctx, big); err != nil {
		t.Fatal(err)
	}
	grown := slotSizeFor(len(encodeRecord(t, rw.(*writer).rec)))
	mustSlotted("after a Checkpoint too large for the slots", grown)
	if _, err := rw.Write([]byte("e")); err != nil {
		t.Fatal(err)
	}
	if _, err := rw.Checkpoint(ctx, []byte("s3")); err != nil {
		t.Fatal(err)
	}
	mustSlotted("after a small Checkpoint in the grown slots", grown)
	rw.Close()
	rw, err = b.Resume(ctx, testID)
	if err != nil {
		t.Fatal(err)
	}
	defer rw.Close()
	if rw.Written() != 5 || string(rw.State()) != "s3" {
		t.Fatalf("Resume = %d, %q; want 5, s3", rw.Written(), rw.State())
	}
}
