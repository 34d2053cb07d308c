package local

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"sync/atomic"

	"github.com/ferryhq/ferry/storage"
)

// maxWrite is the largest write(2) a Writer issues. On the VMs ferry runs on,
// 1 MiB writes run about 3x slower than 32 KiB ones (docs/performance.md).
const maxWrite = 32 << 10

// writeBehindEvery is how many written bytes make write-behind start the
// disk on them: a Checkpoint's fsync then finds most of its bytes already
// written, instead of the disk idling while bytes arrive and then being
// asked for all of them at once (docs/performance.md).
const writeBehindEvery = 8 << 20

// writeBehind asks the kernel to start writing back the bytes written since
// the last call, without waiting (startWriteback: sync_file_range on Linux,
// nothing elsewhere). It changes nothing about durability (Checkpoint still
// fsyncs).
func (w *writer) writeBehind() {
	if w.pos-w.kicked < writeBehindEvery {
		return
	}
	from, n := w.kicked, w.pos-w.kicked
	w.kicked = w.pos
	startWriteback(w.data, from, n)
}

// writer is the local storage.Writer. It holds the upload's flock, taken
// on its data file, until Commit, Abort or Close.
type writer struct {
	b    *Backend
	rec  record     // the last durable record: Offset and State of the last Checkpoint
	data *os.File   // the data file, written with pwrite at pos; holds the flock
	rf   recordFile // the record file's slots
	pos  int64      // Written: the end of the accepted bytes
	// size binds Write and Commit: the declared size, or storage.SizeUnknown.
	// It runs ahead of rec.Meta.Size after a SetSize until the next
	// Checkpoint (or Commit) records it.
	size int64
	// kicked is where write-behind has started writeback up to.
	kicked int64

	// dirty: a failed Write may have left bytes past pos that could not be
	// cut off at once; Checkpoint cuts them before syncing.
	dirty  bool
	closed bool
	// failed is the storage.ErrNoSpace that ended the Writer: its bytes
	// after Offset were given back to the file system, so only Close and
	// Abort remain.
	failed error
	// gone is set by Backend.Delete from another goroutine.
	gone atomic.Bool

	// yield is the channel Yield returned (nil until then) and asked whether
	// a TakeOver closed it; both are guarded by b.mu. done is closed when
	// the Writer lets go of its lock.
	yield chan struct{}
	asked bool
	done  chan struct{}
}

// ID is the upload's id.
func (w *writer) ID() string { return w.rec.ID }

// Info is the upload's metadata as of the last Checkpoint, except that
// Meta.Size is the size SetSize declared even before a Checkpoint records it.
func (w *writer) Info() storage.Info {
	in := w.b.info(w.rec)
	in.Meta.Size = w.size
	return in
}

// Written is the end of the accepted bytes; Offset <= Written <= size.
func (w *writer) Written() int64 { return w.pos }

// State returns a copy of the state stored by the last Checkpoint.
func (w *writer) State() []byte { return bytes.Clone(w.rec.State) }

// Write appends p at Written. It stores all of p or nothing: on any error
// Written is unchanged. Errors wrap storage.ErrClosed, storage.ErrNotFound
// (deleted meanwhile, or untouched past its expiry), storage.ErrSizeExceeded
// or storage.ErrNoSpace (the file system is full, or p would take its free
// space below the reserve). ErrNoSpace fails the Writer: the data file is cut
// back to Offset at once, so the bytes that were never checkpointed do not
// keep the disk full, and every later call but Close and Abort fails.
func (w *writer) Write(p []byte) (int, error) {
	if w.closed {
		return 0, fmt.Errorf("local: write: %w", storage.ErrClosed)
	}
	if w.failed != nil {
		return 0, fmt.Errorf("local: write %s: writer failed earlier: %w", w.rec.ID, w.failed)
	}
	if w.gone.Load() {
		return 0, fmt.Errorf("local: write %s: deleted: %w", w.rec.ID, storage.ErrNotFound)
	}
	if w.b.expired(w.rec, w.b.now()) {
		return 0, fmt.Errorf("local: write %s: %w", w.rec.ID, storage.ErrExpired)
	}
	if w.size != storage.SizeUnknown && int64(len(p)) > w.size-w.pos {
		return 0, fmt.Errorf("local: write %s: %d bytes at %d of %d: %w",
			w.rec.ID, len(p), w.pos, w.size, storage.ErrSizeExceeded)
	}
	if err := w.b.space.take(w.data, int64(len(p))); err != nil {
		if errors.Is(err, storage.ErrNoSpace) {
			return 0, w.noSpace("write", err)
		}
		return 0, fmt.Errorf("local: write %s: %w", w.rec.ID, err)
	}
	for off := 0; off < len(p); {
		end := min(off+maxWrite, len(p))
		n, err := w.data.WriteAt(p[off:end], w.pos+int64(off))
		off += n
		if err != nil {
			if err := mapErr(err); errors.Is(err, storage.ErrNoSpace) {
				return 0, w.noSpace("write", err)
			}
			// Cut off what got in so the file matches Written again; if even
			// that fails, Checkpoint tries again before it syncs.
			if terr := w.data.Truncate(w.pos); terr != nil {
				w.dirty = true
			}
			return 0, fmt.Errorf("local: write %s: %w", w.rec.ID, mapErr(err))
		}
	}
	w.pos += int64(len(p))
	w.writeBehind()
	return len(p), nil
}

// SetSize declares the size of an upload created with storage.SizeUnknown.
// It binds Write and Commit at once; the next Checkpoint records it in the
// same record as its offset and state. It returns an error wrapping
// storage.ErrClosed, storage.ErrInvalid for a negative size, one below
// Written, or one that differs from a size already known, and, as Create
// does, storage.ErrTooLarge for a size past the file system less the
// reserve or storage.ErrNoSpace for one whose remaining bytes do not fit in
// the free space less the reserve (the size then stays unknown).
func (w *writer) SetSize(size int64) error {
	switch {
	case w.closed:
		return fmt.Errorf("local: set size: %w", storage.ErrClosed)
	case w.failed != nil:
		return fmt.Errorf("local: set size of %s: writer failed earlier: %w", w.rec.ID, w.failed)
	case size < 0:
		return fmt.Errorf("local: set size of %s: negative size %d: %w", w.rec.ID, size, storage.ErrInvalid)
	case size == w.size:
		return nil
	case w.size != storage.SizeUnknown:
		return fmt.Errorf("local: set size of %s to %d: size is already %d: %w", w.rec.ID, size, w.size, storage.ErrInvalid)
	case size < w.pos:
		return fmt.Errorf("local: set size of %s to %d: %d bytes are written already: %w", w.rec.ID, size, w.pos, storage.ErrInvalid)
	}
	if err := w.b.space.fits(w.data, size, w.pos); err != nil {
		return fmt.Errorf("local: set size of %s to %d: %w", w.rec.ID, size, err)
	}
	w.size = size
	return nil
}

// Checkpoint makes the bytes up to Written durable (fdatasync) and then
// records offset, state and the size SetSize declared together in one
// record slot, written and synced whole. It returns the new
// durable offset, or an error wrapping storage.ErrClosed, storage.ErrNotFound
// (the upload was deleted, by this process or another one), storage.ErrNoSpace
// or the context's error.
func (w *writer) Checkpoint(ctx context.Context, state []byte) (int64, error) {
	if err := w.usable(ctx, "checkpoint"); err != nil {
		return w.rec.Offset, err
	}
	if w.dirty {
		if err := w.data.Truncate(w.pos); err != nil {
			return w.rec.Offset, fmt.Errorf("local: checkpoint %s: %w", w.rec.ID, mapErr(err))
		}
		w.dirty = false
	}
	// The data file's fdatasync runs before the new record is written:
	// no record, durable or not, names bytes that are not durable.
	var before []func() error
	if w.pos != w.rec.Offset {
		before = append(before, w.syncData)
	}
	rec := w.rec
	rec.Meta.Size = w.size
	rec.Offset = w.pos
	rec.State = bytes.Clone(state)
	rec.Modified = w.b.now()
	if err := w.publish(rec, before...); err != nil {
		return w.rec.Offset, fmt.Errorf("local: checkpoint %s: %w", w.rec.ID, err)
	}
	w.rec = rec
	return w.rec.Offset, nil
}

// Commit publishes the upload as a complete file with digest sha256 (64 hex
// digits) by writing a complete record into the upload's record file. Bytes
// written since the last Checkpoint are made durable first (fdatasync,
// together with the index entry's append), so an upload whose bytes all
// arrived needs no Checkpoint before Commit (storage.CommitSyncer): if the
// Commit fails or a crash cuts it short, the old record, with the offset
// and state of the last Checkpoint, stays in place. After the record is
// written the data file is never written again. It returns an error
// wrapping storage.ErrIncomplete unless the size is known and Written
// equals it (a size SetSize declared since the last Checkpoint is recorded
// by the same record), storage.ErrInvalid for a malformed digest, storage.ErrClosed or
// storage.ErrNotFound. On success the lock is released.
func (w *writer) Commit(ctx context.Context, sha256 string) (storage.Info, error) {
	if err := w.usable(ctx, "commit"); err != nil {
		return storage.Info{}, err
	}
	if w.size == storage.SizeUnknown || w.pos != w.size {
		return storage.Info{}, fmt.Errorf("local: commit %s: written %d, durable %d, size %d: %w",
			w.rec.ID, w.pos, w.rec.Offset, w.size, storage.ErrIncomplete)
	}
	if !storage.ValidSHA256(sha256) {
		return storage.Info{}, fmt.Errorf("local: commit %s: digest is not 64 lower-case hex digits: %w", w.rec.ID, storage.ErrInvalid)
	}
	if w.dirty {
		if err := w.data.Truncate(w.pos); err != nil {
			return storage.Info{}, fmt.Errorf("local: commit %s: %w", w.rec.ID, mapErr(err))
		}
		w.dirty = false
	}
	rec := w.rec
	rec.Meta.Size = w.size
	rec.Offset = w.pos
	rec.Complete = true
	rec.SHA256 = sha256
	rec.State = nil
	rec.Modified = w.b.now()
	// The index entry is made durable before the record says complete: a
	// complete record always has its entry. If the Commit fails, the entry
	// stays, unless the upload was deleted: the slot may have reached the
	// disk all the same (a sync that failed), and an entry whose record is
	// not complete lists nothing.
	before := []func() error{func() error { return w.b.indexAdd(rec.Modified, rec.ID) }}
	if w.pos != w.rec.Offset {
		before = append(before, w.syncData)
	}
	if err := w.publish(rec, before...); err != nil {
		if errors.Is(err, storage.ErrNotFound) {
			w.b.indexRemove(rec.Modified, rec.ID)
		}
		return storage.Info{}, fmt.Errorf("local: commit %s: %w", w.rec.ID, err)
	}
	// Complete now, the upload is no business of the expiry sweep. A marker
	// that a crash keeps is removed by the sweep, which finds it complete.
	os.Remove(w.b.markPath(rec.ID))
	w.rec = rec
	w.release()
	return w.b.info(rec), nil
}

// CommitSyncs reports true: Commit makes the bytes written since the last
// Checkpoint durable itself, atomically with the completion.
func (w *writer) CommitSyncs() bool { return true }

var _ storage.CommitSyncer = (*writer)(nil)

// syncData makes the data file's bytes durable (fdatasync).
func (w *writer) syncData() error {
	if err := fdatasync(w.data); err != nil {
		return fmt.Errorf("sync data: %w", mapErr(err))
	}
	return nil
}

// Abort deletes the upload's bytes and metadata and releases the lock. It
// returns an error wrapping storage.ErrClosed, or storage.ErrNotFound if the
// upload was deleted meanwhile (the Writer is released all the same). It
// does not give up on a cancelled ctx: removing local files is quick, and an
// abort left half done would keep bytes the client asked to delete.
func (w *writer) Abort(_ context.Context) error {
	if w.closed {
		return fmt.Errorf("local: abort: %w", storage.ErrClosed)
	}
	if w.gone.Load() {
		w.release()
		return fmt.Errorf("local: abort %s: deleted: %w", w.rec.ID, storage.ErrNotFound)
	}
	// We hold the data file's lock while remove unlinks it: anyone who
	// opened it meanwhile finds, once they get the lock, that the path no
	// longer names it, and the upload gone.
	err := w.b.remove(w.rec.ID)
	w.release()
	return err
}

// Close releases the lock without completing. Bytes after the last
// Checkpoint are cut off at once (the next Resume would drop them anyway),
// so an upload that is not being written takes only its durable bytes on
// disk. Close after Commit, Abort or Close does nothing and returns nil, so
// it is safe to defer.
func (w *writer) Close() error {
	if w.closed {
		return nil
	}
	var err error
	if w.pos != w.rec.Offset || w.dirty || w.failed != nil {
		if terr := w.data.Truncate(w.rec.Offset); terr != nil && !w.gone.Load() {
			err = fmt.Errorf("local: close %s: cut back to checkpoint: %w", w.rec.ID, mapErr(terr))
		}
	}
	w.release()
	return err
}

// noSpace fails the Writer with err, which wraps storage.ErrNoSpace, and
// gives the bytes written since the last Checkpoint back to the file system
// at once: on a full disk they would keep everyone else out until the
// upload is resumed, which may be never.
func (w *writer) noSpace(op string, err error) error {
	err = fmt.Errorf("local: %s %s: %w", op, w.rec.ID, err)
	w.failed = err
	if terr := w.data.Truncate(w.rec.Offset); terr != nil {
		w.dirty = true // Close tries again
	}
	return err
}

// usable reports why the Writer cannot checkpoint or commit now.
func (w *writer) usable(ctx context.Context, op string) error {
	switch {
	case w.closed:
		return fmt.Errorf("local: %s: %w", op, storage.ErrClosed)
	case w.failed != nil:
		return fmt.Errorf("local: %s %s: writer failed earlier: %w", op, w.rec.ID, w.failed)
	case w.gone.Load():
		return fmt.Errorf("local: %s %s: deleted: %w", op, w.rec.ID, storage.ErrNotFound)
	case w.b.expired(w.rec, w.b.now()):
		// Untouched past its expiry, the upload is gone for everyone, even
		// for a connection that kept it locked while idle.
		return fmt.Errorf("local: %s %s: %w", op, w.rec.ID, storage.ErrExpired)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("local: %s %s: %w", op, w.rec.ID, err)
	}
	return nil
}

// publish makes rec the upload's record unless the upload was deleted.
// Delete removes the data file before the record, and the record is
// written in place through a descriptor opened here: once we hold it, a
// Delete (in this process or another) can only unlink it, never make us
// write into another upload's record. So a record file gone, or a data file
// unlinked, before the write means deleted, and so does a data file
// unlinked after it (our write went into a file Delete removes next). A
// deleted upload stays deleted: we remove the record ourselves (before
// writing, only if it is still the one we opened; after, also the one a
// whole rewrite put in its place), as a Delete in a process that died
// between its two removals would have left it.
func (w *writer) publish(rec record, before ...func() error) error {
	path := w.b.metaPath(rec.ID)
	f, err := openFile(path, os.O_RDWR, 0)
	if errors.Is(err, os.ErrNotExist) {
		return w.deleted(mapErr(err))
	} else if err != nil {
		return fmt.Errorf("open metadata: %w", mapErr(err))
	}
	defer f.Close()
	// unlinked reports whether Delete has unlinked our data file, and then
	// removes the record at path if it is ours: the file we opened, or,
	// once we have written, the one a whole rewrite (rewriteRecord) renamed
	// over it.
	unlinked := func(written bool) bool {
		n, err := nlink(w.data)
		if err != nil || n != 0 {
			return false
		}
		if written || sameFile(f, path) {
			os.Remove(path)
		}
		return true
	}
	if unlinked(false) {
		return w.deleted(storage.ErrNotFound)
	}
	if err := w.b.writeRecord(f, &w.rf, rec, before...); err != nil {
		return err
	}
	if unlinked(true) {
		return w.deleted(storage.ErrNotFound)
	}
	return nil
}

// deleted marks the Writer's upload as gone and returns err, which wraps
// storage.ErrNotFound when the upload was deleted.
func (w *writer) deleted(err error) error {
	w.gone.Store(true)
	return fmt.Errorf("upload was deleted: %w", err)
}

// release closes the data file, which releases the lock, and forgets the
// Writer.
func (w *writer) release() {
	w.closed = true
	w.data.Close()
	w.b.unregister(w)
	close(w.done)
}
