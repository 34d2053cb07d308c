package events

import (
	"context"
	"fmt"
	"time"

	"github.com/ferryhq/ferry/storage"
)

// Gate decides, before an upload is created, whether it may be and with
// what metadata: it returns the Meta to create the upload with (meta
// itself, or changed), or an error, which Create returns as it is. A
// refusal meant for the client is a *storage.RefusedError. The returned
// Meta must pass Meta.Validate, and its Size must be meta's.
type Gate func(ctx context.Context, id string, meta storage.Meta) (storage.Meta, error)

// Backend is a storage.Backend that publishes an Event on its Bus for every
// change the wrapped Backend makes to an upload, and runs its Gate before
// every Create. It finds the wrapped Backend's optional capabilities
// through storage.As (it is a storage.Unwrapper), and implements itself
// only those whose calls raise events: Expirer and TakeOverer.
type Backend struct {
	inner storage.Backend
	bus   *Bus
	gate  Gate
	now   func() time.Time
}

// Wrap returns a Backend that publishes b's changes on bus and runs gate
// (if not nil) before each Create.
func Wrap(b storage.Backend, bus *Bus, gate Gate) *Backend {
	return &Backend{inner: b, bus: bus, gate: gate, now: time.Now}
}

// Unwrap returns the wrapped Backend.
func (b *Backend) Unwrap() storage.Backend { return b.inner }

func (b *Backend) publish(k Kind, info storage.Info) {
	b.bus.Publish(New(k, info, b.now()))
}

// Create runs the Gate, then creates the upload and publishes Created.
func (b *Backend) Create(ctx context.Context, id string, meta storage.Meta) (storage.Writer, error) {
	if b.gate != nil {
		changed, err := b.gate(ctx, id, meta)
		if err != nil {
			return nil, err
		}
		if changed.Size != meta.Size {
			return nil, fmt.Errorf("events: the gate changed the size of %s: %w", id, storage.ErrInvalid)
		}
		if err := changed.Validate(); err != nil {
			return nil, fmt.Errorf("events: the gate's metadata for %s: %w", id, err)
		}
		meta = changed
	}
	w, err := b.inner.Create(ctx, id, meta)
	if err != nil {
		return nil, err
	}
	b.publish(Created, w.Info())
	return b.wrap(w), nil
}

// Resume is the wrapped Backend's, with a Writer that publishes.
func (b *Backend) Resume(ctx context.Context, id string) (storage.Writer, error) {
	w, err := b.inner.Resume(ctx, id)
	if err != nil {
		return nil, err
	}
	return b.wrap(w), nil
}

// TakeOver is the wrapped Backend's (Resume, where it cannot take over),
// with a Writer that publishes.
func (b *Backend) TakeOver(ctx context.Context, id string) (storage.Writer, error) {
	taker, ok := storage.As[storage.TakeOverer](b.inner)
	if !ok {
		return b.Resume(ctx, id)
	}
	w, err := taker.TakeOver(ctx, id)
	if err != nil {
		return nil, err
	}
	return b.wrap(w), nil
}

// Stat is the wrapped Backend's.
func (b *Backend) Stat(ctx context.Context, id string) (storage.Info, error) {
	return b.inner.Stat(ctx, id)
}

// Open is the wrapped Backend's.
func (b *Backend) Open(ctx context.Context, id string) (storage.Object, error) {
	return b.inner.Open(ctx, id)
}

// List is the wrapped Backend's.
func (b *Backend) List(ctx context.Context, after string, limit int) (storage.ListPage, error) {
	return b.inner.List(ctx, after, limit)
}

// Delete deletes the upload or file and publishes Deleted with what it was.
func (b *Backend) Delete(ctx context.Context, id string) error {
	info, statErr := b.inner.Stat(ctx, id)
	if err := b.inner.Delete(ctx, id); err != nil {
		return err
	}
	if statErr != nil {
		// Gone between the two calls, or unreadable: say what is known.
		info = storage.Info{ID: id}
	}
	b.publish(Deleted, info)
	return nil
}

// DeleteExpired is the wrapped Backend's, publishing Expired for each
// upload it removes; it removes nothing when that Backend cannot expire.
func (b *Backend) DeleteExpired(ctx context.Context, now time.Time, deleted func(storage.Info)) (int, error) {
	ex, ok := storage.As[storage.Expirer](b.inner)
	if !ok {
		return 0, nil
	}
	return ex.DeleteExpired(ctx, now, func(info storage.Info) {
		b.publish(Expired, info)
		if deleted != nil {
			deleted(info)
		}
	})
}

func (b *Backend) wrap(w storage.Writer) storage.Writer {
	return &writer{Writer: w, b: b, reported: w.Info().Offset}
}

// writer publishes Progress, Complete and Deleted for one upload.
type writer struct {
	storage.Writer
	b        *Backend
	reported int64 // the durable offset last published (or found at Resume)
}

func (w *writer) Checkpoint(ctx context.Context, state []byte) (int64, error) {
	off, err := w.Writer.Checkpoint(ctx, state)
	if err == nil && off > w.reported {
		w.reported = off
		w.b.publish(Progress, w.Writer.Info())
	}
	return off, err
}

func (w *writer) Commit(ctx context.Context, sha256 string) (storage.Info, error) {
	info, err := w.Writer.Commit(ctx, sha256)
	if err == nil {
		w.b.publish(Complete, info)
	}
	return info, err
}

func (w *writer) Abort(ctx context.Context) error {
	info := w.Writer.Info()
	if err := w.Writer.Abort(ctx); err != nil {
		return err
	}
	w.b.publish(Deleted, info)
	return nil
}

// CommitSyncs is the wrapped Writer's (storage.CommitSyncs).
func (w *writer) CommitSyncs() bool { return storage.CommitSyncs(w.Writer) }

// Yield is the wrapped Writer's. A Writer that cannot yield is never asked
// to: the channel returned is nil, which never closes.
func (w *writer) Yield(ctx context.Context) (<-chan struct{}, error) {
	if y, ok := w.Writer.(storage.Yielder); ok {
		return y.Yield(ctx)
	}
	return nil, nil
}

var (
	_ storage.Backend      = (*Backend)(nil)
	_ storage.Unwrapper    = (*Backend)(nil)
	_ storage.Expirer      = (*Backend)(nil)
	_ storage.TakeOverer   = (*Backend)(nil)
	_ storage.Yielder      = (*writer)(nil)
	_ storage.CommitSyncer = (*writer)(nil)
)
