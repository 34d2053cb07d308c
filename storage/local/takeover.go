package local

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ferryhq/ferry/storage"
)

// takeOverPoll is how often TakeOver tries the lock again while it waits for
// a yielding holder. The holder's release wakes it at once; the poll only
// covers a lock held by another process sharing the directory.
const takeOverPoll = 50 * time.Millisecond

var (
	_ storage.TakeOverer = (*Backend)(nil)
	_ storage.Yielder    = (*writer)(nil)
)

// Yield marks the Writer as one that gives way to a TakeOver of its upload
// by this Backend, and returns the channel that TakeOver closes to ask it to
// let go. Calling it again returns the same channel. Only Writers of this
// process can be asked: a Writer in another process sharing the directory
// is out of reach, and TakeOver answers storage.ErrLocked while it holds
// the upload. It returns an error wrapping storage.ErrClosed once the
// Writer has let go.
func (w *writer) Yield(_ context.Context) (<-chan struct{}, error) {
	w.b.mu.Lock()
	defer w.b.mu.Unlock()
	if w.closed {
		return nil, fmt.Errorf("local: yield: %w", storage.ErrClosed)
	}
	if w.yield == nil {
		w.yield = make(chan struct{})
	}
	return w.yield, nil
}

// TakeOver is Resume, except that when a Writer of this Backend that called
// Yield holds the upload, TakeOver closes its Yield channel and waits until
// it lets go, or ctx ends (then an error wrapping storage.ErrLocked). A
// holder that never yielded, or one in another process, answers
// storage.ErrLocked at once. Other errors are Resume's: storage.ErrNotFound,
// storage.ErrComplete.
func (b *Backend) TakeOver(ctx context.Context, id string) (storage.Writer, error) {
	for waited := false; ; waited = true {
		w, err := b.Resume(ctx, id)
		if waited && ctx.Err() != nil && errors.Is(err, ctx.Err()) {
			// The poll and the end of ctx came together: the holder kept
			// the upload for as long as we waited.
			return nil, fmt.Errorf("local: take over %s: holder did not let go (%v): %w", id, ctx.Err(), storage.ErrLocked)
		}
		if !errors.Is(err, storage.ErrLocked) {
			return w, err
		}
		done, ok := b.askToYield(id)
		if !ok {
			// The holder may have let go between our Resume and the
			// look-up: one more try tells.
			if w, err := b.Resume(ctx, id); !errors.Is(err, storage.ErrLocked) {
				return w, err
			}
			return nil, fmt.Errorf("local: take over %s: holder does not yield: %w", id, storage.ErrLocked)
		}
		t := time.NewTimer(takeOverPoll)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("local: take over %s: holder did not let go (%v): %w", id, ctx.Err(), storage.ErrLocked)
		case <-done:
		case <-t.C:
		}
		t.Stop()
	}
}

// askToYield closes the Yield channel of the Writer of this Backend that
// holds id, if it yields, and returns a channel closed when it lets go. It
// reports false if no yielding Writer of this Backend holds id.
func (b *Backend) askToYield(id string) (<-chan struct{}, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	w := b.live[id]
	if w == nil || w.yield == nil {
		return nil, false
	}
	if !w.asked {
		w.asked = true
		close(w.yield)
	}
	return w.done, true
}
