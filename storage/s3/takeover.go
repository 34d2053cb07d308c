package s3

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ferryhq/ferry/storage"
)

// takeOverPoll is how often TakeOver tries the lease again while a yielding
// holder lets go. A holder on the same Backend wakes it at once when it does.
const takeOverPoll = 250 * time.Millisecond

var (
	_ storage.TakeOverer = (*Backend)(nil)
	_ storage.Yielder    = (*writer)(nil)
)

// Yield marks the Writer's lease as one that gives way (a conditional write
// of the lease record) and returns the channel closed when a TakeOver, on
// any instance sharing the bucket, asks it to let go. From then on the
// lease is read every half second, so a takeover takes about that long
// plus the holder's Checkpoint and Close. Calling Yield again returns the
// same channel. It returns an error wrapping storage.ErrClosed,
// storage.ErrNotFound (deleted), storage.ErrLocked (the lease was lost) or
// the store's error.
func (w *writer) Yield(ctx context.Context) (<-chan struct{}, error) {
	if err := w.usable(ctx, "yield"); err != nil {
		return nil, err
	}
	if err := w.lease.yield(ctx); err != nil {
		if w.lease.lost.Load() {
			err = w.whyLost(ctx)
		}
		return nil, fmt.Errorf("s3: yield %s: %w", w.st.ID, err)
	}
	return w.lease.asked, nil
}

// TakeOver is Resume, except that when a Writer that called Yield holds the
// upload, on this or any other instance sharing the bucket, TakeOver sets
// Release in its lease record (with If-Match on the holder's ETag) and
// tries the lease again every takeOverPoll until the holder lets go, or ctx
// ends (then an error wrapping storage.ErrLocked). A holder that never
// yielded answers storage.ErrLocked at once. Other errors are Resume's:
// storage.ErrNotFound, storage.ErrComplete.
func (b *Backend) TakeOver(ctx context.Context, id string) (storage.Writer, error) {
	for {
		w, err := b.Resume(ctx, id)
		if err == nil || !errors.Is(err, storage.ErrLocked) && ctx.Err() == nil {
			return w, err
		}
		if ctx.Err() == nil {
			err = b.askRelease(ctx, id)
		}
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("s3: take over %s: holder did not let go (%v): %w", id, err, storage.ErrLocked)
		}
		if err != nil {
			return nil, fmt.Errorf("s3: take over %s: %w", id, err)
		}
		if err := b.waitRelease(ctx, id); err != nil {
			return nil, fmt.Errorf("s3: take over %s: holder did not let go (%v): %w", id, err, storage.ErrLocked)
		}
	}
}

// askRelease asks the holder of upload id's lease to let go, if it yields.
// It returns an error wrapping storage.ErrLocked if the holder does not
// yield. A lease that is gone, stale, already asked, or that changed under
// our conditional write is left for the next round, which reads it again.
func (b *Backend) askRelease(ctx context.Context, id string) error {
	key := b.keys.lease(id)
	var held leaseRecord
	tag, err := b.getJSON(ctx, key, &held)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return nil // let go meanwhile
	case err != nil:
		return fmt.Errorf("read lease: %w", err)
	case !b.cfg.Now().Before(held.Expires):
		return nil // stale: the next Resume takes it
	case !held.Yield:
		return fmt.Errorf("holder does not yield: %w", storage.ErrLocked)
	case held.Release:
		b.wakeHolder(id)
		return nil
	}
	held.Release = true
	_, err = b.putJSON(ctx, key, held, ifMatch(tag))
	if err != nil && !isConflict(err) && !isNotFound(err) {
		return fmt.Errorf("ask holder to let go: %w", translate(err))
	}
	// A conflict: the holder renewed or let go meanwhile, or minio-go
	// retried our own write; the next round reads the record again.
	b.wakeHolder(id)
	return nil
}

// wakeHolder makes this Backend's Writer of id, if any, read its lease now
// rather than at its next poll.
func (b *Backend) wakeHolder(id string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if w := b.live[id]; w != nil {
		w.lease.poke()
	}
}

// waitRelease waits takeOverPoll, or less if this Backend's Writer of id
// lets go first. It returns ctx's error if ctx ends.
func (b *Backend) waitRelease(ctx context.Context, id string) error {
	b.mu.Lock()
	var done <-chan struct{}
	if w := b.live[id]; w != nil {
		done = w.done
	}
	b.mu.Unlock()
	t := time.NewTimer(takeOverPoll)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-done:
	case <-t.C:
	}
	return nil
}
