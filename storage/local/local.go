package local

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/ferryhq/ferry/storage"
)

// DefaultExpiry is how long an incomplete upload lives untouched when
// Config.Expiry is zero.
const DefaultExpiry = 24 * time.Hour

// Config configures a Backend. Zero values mean the documented default.
type Config struct {
	// Dir is the data directory (required). It is created if missing.
	// Nothing outside it is ever read or written.
	Dir string
	// Expiry is how long an incomplete upload lives after its last durable
	// write before DeleteExpired removes it. Zero means DefaultExpiry.
	Expiry time.Duration
	// Reserve is the free space, in bytes, that uploads leave on the data
	// directory's file system, so that one upload cannot fill the disk for
	// everyone. Create and SetSize refuse a size whose remaining bytes do
	// not fit in the free space less Reserve (storage.ErrNoSpace; a size
	// past the whole file system less Reserve is storage.ErrTooLarge), and
	// a Write that would take the free space below Reserve fails with
	// storage.ErrNoSpace. Zero means the default: 1% of the file system's
	// size, at most DefaultReserveMax (1 GiB). NoReserve (or any negative
	// value) keeps nothing back.
	Reserve int64
	// Now is the clock for Created, Modified and expiry; nil means time.Now.
	// Tests set it to move time without sleeping.
	Now func() time.Time
}

// Backend is a storage.Backend over one local directory. It also implements
// storage.PartialOpener, storage.Expirer and storage.Pinger. Several
// processes may share one Dir: upload locks are flock(2) locks (LockFileEx
// on Windows), so they are honoured across processes and die with the
// process that held them.
type Backend struct {
	dir    string
	expiry time.Duration
	now    func() time.Time
	space  space

	// hook, when set (by tests), is called at the named steps of Create and
	// of writing records; an error it returns is that step's failure.
	hook func(step string) error

	// mu guards live, the Writers this process holds, so that Delete can make
	// their next Write fail without waiting for a Checkpoint to notice.
	mu   sync.Mutex
	live map[string]*writer
	// opened caches the records of completed files for Open, and keeps
	// small ones open.
	opened openCache

	// dirs syncs the directories of the hot paths (group commit).
	dirs dirSyncer
	// logs are the index logs whose names this process made durable.
	logs logSet
}

var (
	_ storage.Backend       = (*Backend)(nil)
	_ storage.PartialOpener = (*Backend)(nil)
	_ storage.Expirer       = (*Backend)(nil)
	_ storage.Pinger        = (*Backend)(nil)
)

// New returns a Backend storing under cfg.Dir, creating the directory if it
// is missing. A directory of the flat layout of earlier versions is moved
// into the current one, and a missing list index is built from the records
// (see the package documentation); both read every record once. It returns
// an error wrapping storage.ErrInvalid for an empty Dir or a negative
// Expiry, and the file system's error if Dir cannot be created or prepared.
func New(cfg Config) (*Backend, error) {
	if cfg.Dir == "" {
		return nil, fmt.Errorf("local: Config.Dir is required: %w", storage.ErrInvalid)
	}
	if cfg.Expiry < 0 {
		return nil, fmt.Errorf("local: negative Config.Expiry %v: %w", cfg.Expiry, storage.ErrInvalid)
	}
	if cfg.Expiry == 0 {
		cfg.Expiry = DefaultExpiry
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	dir := filepath.Clean(cfg.Dir)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("local: create data directory: %w", err)
	}
	b := &Backend{
		dir:    dir,
		expiry: cfg.Expiry,
		now:    cfg.Now,
		space:  space{dir: dir, reserve: cfg.Reserve, statfs: statfs},
		live:   make(map[string]*writer),
	}
	if err := b.prepare(); err != nil {
		return nil, fmt.Errorf("local: data directory %s: %w", dir, err)
	}
	return b, nil
}

// Dir is the data directory the Backend stores under.
func (b *Backend) Dir() string { return b.dir }

// step runs the test hook, if any, at a named step.
func (b *Backend) step(name string) error {
	if b.hook == nil {
		return nil
	}
	return b.hook(name)
}

// notFound is the error for an id that fails storage.ValidID. The id is not
// echoed: it may hold anything a client sent.
func notFound(op string) error {
	return fmt.Errorf("local: %s: invalid id: %w", op, storage.ErrNotFound)
}

// Create makes a new, empty upload and returns a Writer holding its lock.
// It returns an error wrapping storage.ErrExists if the id is in use (stored
// or held by another Writer), storage.ErrInvalid for a meta that fails
// storage.Meta.Validate, storage.ErrTooLarge for a size past the file system less the
// reserve, storage.ErrNoSpace for one past the free space less the reserve,
// and for an id that fails storage.ValidID an error wrapping both
// storage.ErrNotFound and storage.ErrInvalid. A Create that fails leaves no
// file behind.
func (b *Backend) Create(ctx context.Context, id string, meta storage.Meta) (storage.Writer, error) {
	if !storage.ValidID(id) {
		return nil, fmt.Errorf("local: create: invalid id: %w (%w)", storage.ErrNotFound, storage.ErrInvalid)
	}
	if err := meta.Validate(); err != nil {
		return nil, fmt.Errorf("local: create %s: %w", id, err)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("local: create %s: %w", id, err)
	}
	if meta.Size > 0 {
		if err := b.space.fits(nil, meta.Size, 0); err != nil {
			return nil, fmt.Errorf("local: create %s: %w", id, err)
		}
	}
	if err := b.step("create: data file"); err != nil {
		return nil, fmt.Errorf("local: create %s: %w", id, err)
	}
	data, created, err := lockData(b.dataPath(id), true)
	if errors.Is(err, storage.ErrLocked) {
		return nil, fmt.Errorf("local: create %s: held by another writer: %w", id, storage.ErrExists)
	}
	if err != nil {
		return nil, fmt.Errorf("local: create %s: %w", id, err)
	}
	// From here on a failure removes the data file, the marker and the
	// record file if this call made them: a refused Create leaves nothing
	// behind.
	marked, recorded := false, false
	fail := func(err error) (storage.Writer, error) {
		if recorded {
			// Its slot may be durable already: a record without the data
			// file would show an upload that cannot be resumed.
			if rerr := os.Remove(b.metaPath(id)); rerr == nil {
				syncDir(b.shardPath(id))
			}
		}
		if marked {
			os.Remove(b.markPath(id))
		}
		unlockData(data, created)
		return nil, fmt.Errorf("local: create %s: %w", id, err)
	}
	// The record file may exist: the record of an upload with this id, or
	// a file with no valid slot that a crashed Create left (we hold the
	// data file's lock, so no Create is writing it now).
	if _, err := readRecord(b.metaPath(id), id); err == nil {
		return fail(storage.ErrExists)
	} else if !errors.Is(err, storage.ErrNotFound) {
		return fail(err)
	}
	// With no record, the upload does not exist: a data file already there
	// is a leftover of a Create that crashed before publishing its record,
	// and we hold its lock, so it is ours to empty and to remove.
	created = true
	if err := b.step("create: truncate"); err != nil {
		return fail(err)
	}
	if err := data.Truncate(0); err != nil {
		return fail(fmt.Errorf("data file: %w", mapErr(err)))
	}
	now := b.now()
	rec := record{
		ID:       id,
		Meta:     meta,
		Created:  now,
		Modified: now,
	}
	// The marker lets the expiry sweep find the upload without reading the
	// completed files; createRecord makes it durable before the record.
	if err := b.step("create: marker"); err != nil {
		return fail(err)
	}
	if err := touch(b.markPath(id)); err != nil {
		return fail(fmt.Errorf("marker: %w", err))
	}
	marked = true
	// The record is written last: until it has a valid slot the upload
	// does not exist, and createRecord's directory fsync also makes the
	// data file's name durable.
	recf, err := openFile(b.metaPath(id), os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fail(fmt.Errorf("record: %w", mapErr(err)))
	}
	recorded = true
	rf, err := b.createRecord(recf, rec, b.syncing(b.sub(uploadsDir)))
	if cerr := recf.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("record: %w", mapErr(cerr))
	}
	if err != nil {
		return fail(err)
	}
	return b.register(id, rec, data, rf, 0), nil
}

// Resume locks an incomplete upload and returns a Writer at its durable
// offset with the state of its last Checkpoint; bytes that reached the data
// file after that Checkpoint are cut off. It returns an error wrapping
// storage.ErrNotFound, storage.ErrLocked (another live Writer, in this or
// another process, holds the upload) or storage.ErrComplete.
func (b *Backend) Resume(ctx context.Context, id string) (storage.Writer, error) {
	if !storage.ValidID(id) {
		return nil, notFound("resume")
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("local: resume %s: %w", id, err)
	}
	// Checked before locking so that a complete or unknown id never
	// reports "locked".
	rec, err := readRecord(b.metaPath(id), id)
	if err != nil {
		return nil, fmt.Errorf("local: resume: %w", err)
	}
	if rec.Complete {
		return nil, fmt.Errorf("local: resume %s: %w", id, storage.ErrComplete)
	}
	if b.expired(rec, b.now()) {
		// Past its expiry the upload is gone, whether or not the sweep has
		// deleted its bytes yet.
		return nil, fmt.Errorf("local: resume %s: %w", id, storage.ErrExpired)
	}
	data, _, err := lockData(b.dataPath(id), false)
	if err != nil {
		return nil, fmt.Errorf("local: resume %s: %w", id, err)
	}
	fail := func(err error) (storage.Writer, error) {
		unlockData(data, false)
		return nil, fmt.Errorf("local: resume %s: %w", id, err)
	}
	// The upload may have been completed or deleted between the first read
	// and the lock; only the record read under the lock counts. The Writer
	// keeps the record file open to write its slots.
	recf, err := openFile(b.metaPath(id), os.O_RDWR, 0)
	if err != nil {
		unlockData(data, false)
		return nil, fmt.Errorf("local: resume %s: %w", id, mapErr(err))
	}
	rec, rf, err := readRecordFile(recf, id)
	recf.Close()
	if err != nil {
		unlockData(data, false)
		return nil, fmt.Errorf("local: resume: %w", err)
	}
	if rec.Complete {
		return fail(storage.ErrComplete)
	}
	fi, err := data.Stat()
	if err != nil {
		return fail(err)
	}
	if fi.Size() < rec.Offset {
		return fail(fmt.Errorf("data file has %d bytes, its checkpoint says %d", fi.Size(), rec.Offset))
	}
	if fi.Size() > rec.Offset {
		// Bytes past the checkpoint have no matching state: drop them.
		if err := data.Truncate(rec.Offset); err != nil {
			return fail(fmt.Errorf("cut back to checkpoint: %w", mapErr(err)))
		}
	}
	return b.register(id, rec, data, rf, rec.Offset), nil
}

// Stat returns the metadata of an upload or a completed file. It returns an
// error wrapping storage.ErrNotFound for an unknown or invalid id, and for an
// incomplete upload past its expiry.
func (b *Backend) Stat(ctx context.Context, id string) (storage.Info, error) {
	if !storage.ValidID(id) {
		return storage.Info{}, notFound("stat")
	}
	if err := ctx.Err(); err != nil {
		return storage.Info{}, fmt.Errorf("local: stat %s: %w", id, err)
	}
	rec, err := readRecord(b.metaPath(id), id)
	if err != nil {
		return storage.Info{}, fmt.Errorf("local: stat: %w", err)
	}
	if b.expired(rec, b.now()) {
		return storage.Info{}, fmt.Errorf("local: stat %s: %w", id, storage.ErrExpired)
	}
	return b.info(rec), nil
}

// Open returns a reader over a completed file. It returns an error wrapping
// storage.ErrNotFound for an unknown or invalid id, and for an upload that is
// not complete an error wrapping both storage.ErrNotFound and
// storage.ErrIncomplete.
func (b *Backend) Open(ctx context.Context, id string) (storage.Object, error) {
	if !storage.ValidID(id) {
		return nil, notFound("open")
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("local: open %s: %w", id, err)
	}
	if obj, ok := b.openCached(id); ok {
		return obj, nil
	}
	rec, err := readRecord(b.metaPath(id), id)
	if err != nil {
		return nil, fmt.Errorf("local: open: %w", err)
	}
	if !rec.Complete {
		return nil, fmt.Errorf("local: open %s: %w (%w)", id, storage.ErrNotFound, storage.ErrIncomplete)
	}
	path := b.dataPath(id)
	f, err := openFile(path, os.O_RDONLY, 0)
	if err != nil {
		return nil, fmt.Errorf("local: open %s: %w", id, mapErr(err))
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("local: open %s: %w", id, err)
	}
	if fi.Size() != rec.Meta.Size {
		f.Close()
		return nil, fmt.Errorf("local: open %s: data file has %d bytes, its record says %d", id, fi.Size(), rec.Meta.Size)
	}
	return b.cacheObject(id, openEntry{rec: rec, data: fi, path: path}, f), nil
}

// OpenPartial returns a reader from byte 0 of the data file of an upload,
// complete or not. Only the bytes below the Offset that Stat reports are
// durable; the reader may see a few more. It returns an error wrapping
// storage.ErrNotFound for an unknown or invalid id.
func (b *Backend) OpenPartial(ctx context.Context, id string) (io.ReadSeekCloser, error) {
	if !storage.ValidID(id) {
		return nil, notFound("open partial")
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("local: open partial %s: %w", id, err)
	}
	if _, err := readRecord(b.metaPath(id), id); err != nil {
		return nil, fmt.Errorf("local: open partial: %w", err)
	}
	f, err := openFile(b.dataPath(id), os.O_RDONLY, 0)
	if err != nil {
		return nil, fmt.Errorf("local: open partial %s: %w", id, mapErr(err))
	}
	return &reader{f: f}, nil
}

// Delete removes a file or an incomplete upload with its bytes. A Writer in
// this process that holds it fails its next Write with storage.ErrNotFound;
// a Writer in another process fails its next Checkpoint or Commit. It
// returns an error wrapping storage.ErrNotFound if there is nothing to delete.
func (b *Backend) Delete(ctx context.Context, id string) error {
	if !storage.ValidID(id) {
		return notFound("delete")
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("local: delete %s: %w", id, err)
	}
	// A record that exists but cannot be read is deleted all the same:
	// Delete is how an operator gets rid of it.
	rec, err := readRecord(b.metaPath(id), id)
	if errors.Is(err, storage.ErrNotFound) {
		return fmt.Errorf("local: delete: %w", err)
	}
	b.mu.Lock()
	if w := b.live[id]; w != nil {
		w.gone.Store(true)
	}
	b.mu.Unlock()
	if err := b.remove(id); err != nil {
		return err
	}
	if err == nil && rec.Complete {
		b.indexRemove(rec.Modified, id)
	}
	return nil
}

// remove deletes an upload's files, a temporary record a crash left among
// them (rewriteRecord) included. The data file goes first: a Writer that
// writes a record after this started sees its data file unlinked and
// removes that record itself (see writer.publish), so a racing Checkpoint in
// another process cannot bring the upload back. The marker goes last, once
// the removal is durable: until then the sweep can still find the upload.
func (b *Backend) remove(id string) error {
	b.opened.drop(id)
	var errs []error
	for _, p := range []string{b.dataPath(id), b.metaPath(id), b.tmpPath(id)} {
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("local: delete %s: %w", id, errors.Join(errs...))
	}
	if err := b.dirs.sync(b.shardPath(id)); err != nil {
		return fmt.Errorf("local: delete %s: %w", id, err)
	}
	os.Remove(b.markPath(id))
	return nil
}

// Ping checks that the data directory exists and accepts a new file.
func (b *Backend) Ping(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("local: ping: %w", err)
	}
	f, err := os.CreateTemp(b.sub(tmpDir), "ping-*")
	if err != nil {
		return fmt.Errorf("local: ping: %w", mapErr(err))
	}
	_, werr := f.Write([]byte{0})
	cerr := f.Close()
	rerr := os.Remove(f.Name())
	if err := errors.Join(werr, cerr, rerr); err != nil {
		return fmt.Errorf("local: ping: %w", mapErr(err))
	}
	return nil
}

// info turns a stored record into the Info callers see.
func (b *Backend) info(rec record) storage.Info {
	in := storage.Info{
		ID:       rec.ID,
		Meta:     rec.Meta,
		SHA256:   rec.SHA256,
		Offset:   rec.Offset,
		Complete: rec.Complete,
		Created:  rec.Created,
		Modified: rec.Modified,
	}
	if !rec.Complete {
		in.ExpiresAt = rec.Modified.Add(b.expiry)
	}
	return in
}

// register records a new live Writer so that Delete can reach it.
func (b *Backend) register(id string, rec record, data *os.File, rf recordFile, pos int64) *writer {
	w := &writer{b: b, rec: rec, data: data, rf: rf, pos: pos, kicked: pos, size: rec.Meta.Size, done: make(chan struct{})}
	b.mu.Lock()
	b.live[id] = w
	b.mu.Unlock()
	return w
}

// unregister forgets a Writer that released its lock.
func (b *Backend) unregister(w *writer) {
	b.mu.Lock()
	if b.live[w.rec.ID] == w {
		delete(b.live, w.rec.ID)
	}
	b.mu.Unlock()
}
