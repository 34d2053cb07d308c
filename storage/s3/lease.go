package s3

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/ferryhq/ferry/storage"
)

// yieldPoll is how often a yielding holder reads its lease to see whether a
// TakeOver asked it to let go. With takeOverPoll it bounds how long a
// takeover across instances takes: about yieldPoll plus the holder's
// Checkpoint and Close.
const yieldPoll = 500 * time.Millisecond

// lease is one Writer's hold on an upload: an object in the bucket that
// names its owner and an expiry time. It is taken with If-None-Match: * (or,
// once stale, with If-Match on the stale object's ETag) and renewed with
// If-Match on our last ETag, so two instances can never both believe they
// hold it: whoever loses a conditional PUT learns it lost.
//
// A TakeOver on any instance may rewrite our record once, with If-Match on
// our ETag, only to set Release (and only if we set Yield); every other
// write of a record naming us as owner is ours. So a record that names us
// is still ours, whatever its ETag.
type lease struct {
	b     *Backend
	id    string
	owner string

	mu       sync.Mutex // serializes our writes of the record, and guards etag and released
	etag     string     // of the record as we last wrote or read it
	released bool       // a TakeOver set Release in our record

	yielding atomic.Bool   // Yield was called: poll every yieldPoll
	asked    chan struct{} // closed once a TakeOver set Release
	askOnce  sync.Once
	wake     chan struct{} // makes the renewal goroutine look at the record now

	lost   atomic.Bool // someone else took the lease, or the upload was deleted
	cancel context.CancelFunc
	done   sync.WaitGroup
}

func newOwner() string {
	var raw [12]byte
	rand.Read(raw[:])
	return hex.EncodeToString(raw[:])
}

// takeLease acquires the lease of upload id. It returns an error wrapping
// storage.ErrLocked when a live lease is held by someone else.
func (b *Backend) takeLease(ctx context.Context, id string) (*lease, error) {
	l := &lease{b: b, id: id, owner: newOwner(), asked: make(chan struct{}), wake: make(chan struct{}, 1)}
	key := b.keys.lease(id)
	rec := leaseRecord{Schema: leaseSchema, Owner: l.owner}
	// Two rounds: the lease we saw may be released or replaced before we
	// take it over.
	for range 2 {
		rec.Expires = b.cfg.Now().Add(b.cfg.LeaseTTL)
		etag, err := b.putJSON(ctx, key, rec, ifNoneMatch)
		if err == nil {
			l.etag = etag
			return l, nil
		}
		if !isConflict(err) {
			return nil, fmt.Errorf("take lease: %w", translate(err))
		}
		var held leaseRecord
		heldTag, err := b.getJSON(ctx, key, &held)
		if errors.Is(err, storage.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("read lease: %w", err)
		}
		if held.Owner == l.owner {
			// Our own write, retried by minio-go after a lost answer.
			l.etag = heldTag
			return l, nil
		}
		if now := b.cfg.Now(); now.Before(held.Expires) {
			return nil, fmt.Errorf("held until %s: %w", held.Expires.Format(time.RFC3339), storage.ErrLocked)
		}
		rec.Expires = b.cfg.Now().Add(b.cfg.LeaseTTL)
		etag, err = b.putJSON(ctx, key, rec, ifMatch(heldTag))
		if err == nil {
			l.etag = etag
			return l, nil
		}
		if !isConflict(err) && !isNotFound(err) {
			return nil, fmt.Errorf("take stale lease: %w", translate(err))
		}
		// Someone else replaced it first, or minio-go retried our own
		// replacement: the next round reads who holds it now.
	}
	return nil, fmt.Errorf("lease keeps changing hands: %w", storage.ErrLocked)
}

// keep renews the lease every LeaseTTL/3 until stop and, once the lease
// yields, reads it every yieldPoll in between. A renewal that loses its
// conditional PUT marks the lease lost; a renewal that fails otherwise (the
// store is down) is retried at the next tick: if no one took the lease
// meanwhile, it is still ours.
func (l *lease) keep() {
	ctx, cancel := context.WithCancel(context.Background())
	l.cancel = cancel
	every := l.b.cfg.LeaseTTL / 3 // LeaseTTL >= MinLeaseTTL: never 0
	l.done.Go(func() {
		renewed := time.Now()
		for {
			wait := every - time.Since(renewed)
			if l.yielding.Load() {
				wait = min(wait, yieldPoll)
			}
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
			case <-l.wake:
				t.Stop()
			}
			var lost bool
			if time.Since(renewed) >= every {
				lost = l.renew(ctx, every)
				renewed = time.Now()
			} else if l.yielding.Load() {
				lost = l.check(ctx, every)
			}
			if lost {
				return
			}
		}
	})
}

// record is our lease record with a fresh expiry.
func (l *lease) record() leaseRecord {
	return leaseRecord{
		Schema:  leaseSchema,
		Owner:   l.owner,
		Expires: l.b.cfg.Now().Add(l.b.cfg.LeaseTTL),
		Yield:   l.yielding.Load(),
		Release: l.released,
	}
}

// renew writes a new expiry. It reports whether the lease is lost.
func (l *lease) renew(ctx context.Context, timeout time.Duration) bool {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	l.mu.Lock()
	defer l.mu.Unlock()
	etag, err := l.b.putJSON(ctx, l.b.keys.lease(l.id), l.record(), ifMatch(l.etag))
	switch {
	case err == nil:
		l.etag = etag
	case isConflict(err) || isNotFound(err):
		// Unless the stored lease still names us: our own write retried
		// after a lost answer, or a TakeOver asking us to let go.
		return l.reread(ctx)
	}
	return false
}

// check reads the lease record to see whether a TakeOver asked us to let
// go. It reports whether the lease is lost.
func (l *lease) check(ctx context.Context, timeout time.Duration) bool {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.reread(ctx)
}

// reread reads the lease record and adopts its ETag if it still names us,
// noting a Release. It reports whether the lease is lost: the record names
// someone else, or is gone. l.mu must be held.
func (l *lease) reread(ctx context.Context) bool {
	var held leaseRecord
	tag, err := l.b.getJSON(ctx, l.b.keys.lease(l.id), &held)
	switch {
	case err == nil && held.Owner == l.owner:
		l.etag = tag
		if held.Release {
			l.released = true
			l.askOnce.Do(func() { close(l.asked) })
		}
		return false
	case err != nil && !errors.Is(err, storage.ErrNotFound):
		return false // cannot tell now: try again at the next tick
	}
	l.lost.Store(true)
	return true
}

// yield marks the lease as one that gives way, in the bucket (so that
// TakeOvers on any instance see it) and for the renewal goroutine (which
// then reads the record every yieldPoll). It returns an error if the lease
// is lost or the store fails.
func (l *lease) yield(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.yielding.Load() {
		return nil
	}
	l.yielding.Store(true)
	// We hold l.mu, so no renewal races with us: a lost conditional PUT is
	// our own write retried by minio-go after a lost answer (then the
	// record still names us and a second write goes through), or a lost
	// lease.
	for range 2 {
		etag, err := l.b.putJSON(ctx, l.b.keys.lease(l.id), l.record(), ifMatch(l.etag))
		if err == nil {
			l.etag = etag
			l.poke()
			return nil
		}
		if !isConflict(err) && !isNotFound(err) {
			l.yielding.Store(false)
			return fmt.Errorf("mark lease as yielding: %w", translate(err))
		}
		if l.reread(ctx) {
			break
		}
	}
	l.yielding.Store(false)
	return errors.New("mark lease as yielding: lease lost")
}

// poke makes the renewal goroutine look at the record now.
func (l *lease) poke() {
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

// stop ends the renewals and waits for the renewal goroutine.
func (l *lease) stop() {
	if l.cancel != nil {
		l.cancel()
	}
	l.done.Wait()
}

// release stops the renewals and deletes the lease object, unless the lease
// was lost (then the object is someone else's). Errors are the caller's to
// ignore: an undeleted lease only delays the next resume until it expires.
func (l *lease) release(ctx context.Context) error {
	l.stop()
	if l.lost.Load() {
		return nil
	}
	// Our lease may have expired and been taken without our renewals
	// noticing yet: never delete someone else's.
	var held leaseRecord
	if _, err := l.b.getJSON(ctx, l.b.keys.lease(l.id), &held); err != nil || held.Owner != l.owner {
		if err != nil && !errors.Is(err, storage.ErrNotFound) {
			return fmt.Errorf("release lease: %w", err)
		}
		return nil
	}
	err := l.b.c.RemoveObject(ctx, l.b.cfg.Bucket, l.b.keys.lease(l.id), minio.RemoveObjectOptions{})
	if err != nil {
		return fmt.Errorf("release lease: %w", translate(err))
	}
	return nil
}
