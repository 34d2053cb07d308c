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

// lease is one Writer's hold on an upload: an object in the bucket that
// names its owner and an expiry time. It is taken with If-None-Match: * (or,
// once stale, with If-Match on the stale object's ETag) and renewed with
// If-Match on our last ETag, so two instances can never both believe they
// hold it: whoever loses a conditional PUT learns it lost.
type lease struct {
	b     *Backend
	id    string
	owner string
	etag  string // of our last write; only the renewal goroutine changes it once started

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
	l := &lease{b: b, id: id, owner: newOwner()}
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

// keep renews the lease every LeaseTTL/3 until stop. A renewal that loses
// its conditional PUT marks the lease lost; a renewal that fails otherwise
// (the store is down) is retried at the next tick: if no one took the lease
// meanwhile, it is still ours.
func (l *lease) keep() {
	ctx, cancel := context.WithCancel(context.Background())
	l.cancel = cancel
	every := l.b.cfg.LeaseTTL / 3 // LeaseTTL >= MinLeaseTTL: never 0
	l.done.Go(func() {
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			if l.renew(ctx, every) {
				return
			}
		}
	})
}

// renew writes a new expiry. It reports whether the lease is lost.
func (l *lease) renew(ctx context.Context, timeout time.Duration) bool {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	rec := leaseRecord{Schema: leaseSchema, Owner: l.owner, Expires: l.b.cfg.Now().Add(l.b.cfg.LeaseTTL)}
	etag, err := l.b.putJSON(ctx, l.b.keys.lease(l.id), rec, ifMatch(l.etag))
	switch {
	case err == nil:
		l.etag = etag
	case isConflict(err) || isNotFound(err):
		// Unless the stored lease is our own write, retried after a lost answer.
		var held leaseRecord
		heldTag, gerr := l.b.getJSON(ctx, l.b.keys.lease(l.id), &held)
		switch {
		case gerr == nil && held.Owner == l.owner:
			l.etag = heldTag
			return false
		case gerr != nil && !errors.Is(gerr, storage.ErrNotFound):
			return false // cannot tell now: try again at the next tick
		}
		l.lost.Store(true)
		return true
	}
	return false
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
