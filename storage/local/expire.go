package local

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/ferryhq/ferry/storage"
)

// DeleteExpired removes every incomplete upload whose ExpiresAt is before now
// and returns how many it removed. Uploads that a live Writer holds, in this
// process or another, are skipped: their lock says someone is writing. It
// also sweeps crash leftovers older than the expiry period (temporary files,
// data or lock files with no metadata); those are not counted. It stops with
// the context's error if ctx ends.
func (b *Backend) DeleteExpired(ctx context.Context, now time.Time) (int, error) {
	entries, err := os.ReadDir(b.dir)
	if err != nil {
		return 0, fmt.Errorf("local: delete expired: %w", err)
	}
	removed := 0
	var errs []error
	for _, e := range entries {
		if err := ctx.Err(); err != nil {
			return removed, fmt.Errorf("local: delete expired: %w", err)
		}
		name := e.Name()
		if id, ok := idOf(name, metaExt); ok {
			gone, err := b.expire(id, now)
			if gone {
				removed++
			}
			if err != nil {
				errs = append(errs, err)
			}
			continue
		}
		if err := b.sweep(name, now); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return removed, fmt.Errorf("local: delete expired: %w", errors.Join(errs...))
	}
	return removed, nil
}

// expire removes upload id if it is incomplete, expired at now and unheld.
func (b *Backend) expire(id string, now time.Time) (bool, error) {
	if rec, err := readRecord(b.metaPath(id), id); err != nil || !b.expired(rec, now) {
		return false, nil // gone meanwhile, unreadable (left for a person), or alive
	}
	lk, err := lockFile(b.lockPath(id))
	if errors.Is(err, storage.ErrLocked) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("%s: %w", id, err)
	}
	defer unlock(lk, true)
	// Re-read under the lock: a Writer may have checkpointed since.
	if rec, err := readRecord(b.metaPath(id), id); err != nil || !b.expired(rec, now) {
		return false, nil
	}
	if err := b.remove(id); err != nil {
		return false, err
	}
	return true, nil
}

func (b *Backend) expired(rec record, now time.Time) bool {
	return !rec.Complete && rec.Modified.Add(b.expiry).Before(now)
}

// sweep removes name if it is a crash leftover older than the expiry period:
// a temporary file, or a data or lock file whose upload has no record. A
// leftover that belongs to an id is removed only under that id's lock, so
// nothing a live Writer is using is touched.
func (b *Backend) sweep(name string, now time.Time) error {
	id, isData := idOf(name, dataExt)
	idLock, isLock := idOf(name, lockExt)
	rest, isTmp := strings.CutPrefix(name, tmpPrefix)
	switch {
	case isLock:
		id = idLock
	case isTmp:
		// Temporary records are named .tmp-<id>-<random>.
		if len(rest) > 36 && storage.ValidID(rest[:36]) {
			id = rest[:36]
		}
	case !isData:
		return nil // not ours: leave it alone
	}
	fi, err := os.Lstat(b.path(name))
	if err != nil || !fi.Mode().IsRegular() || !fi.ModTime().Add(b.expiry).Before(now) {
		return nil
	}
	if id == "" {
		return removeLeftover(b.path(name))
	}
	if !isTmp {
		// Cheap check before locking: most data and lock files belong to
		// an upload and stay.
		if _, err := os.Stat(b.metaPath(id)); !errors.Is(err, os.ErrNotExist) {
			return nil
		}
	}
	lk, err := lockFile(b.lockPath(id))
	if err != nil {
		return nil // held: someone is creating or writing it
	}
	rec, err := readRecord(b.metaPath(id), id)
	noRecord := errors.Is(err, storage.ErrNotFound)
	// Only an incomplete upload needs a lock file; drop the one lockFile may
	// just have created for a complete file or for no upload at all.
	defer unlock(lk, noRecord || (err == nil && rec.Complete))
	switch {
	case isLock:
		return nil // unlock removed it if it was a leftover
	case isData && !noRecord:
		return nil
	}
	return removeLeftover(b.path(name))
}

func (b *Backend) path(name string) string { return filepath.Join(b.dir, name) }

func removeLeftover(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove leftover: %w", err)
	}
	return nil
}
