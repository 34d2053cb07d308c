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
// and returns how many it removed, calling deleted (if not nil) with each
// one's Info. Uploads that a live Writer holds, in this
// process or another, are skipped: their lock says someone is writing. It
// also sweeps crash leftovers older than the expiry period (temporary files,
// data files with no metadata, lock files of older versions that no process
// holds); those are not counted. It stops with
// the context's error if ctx ends.
func (b *Backend) DeleteExpired(ctx context.Context, now time.Time, deleted func(storage.Info)) (int, error) {
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
			info, gone, err := b.expire(id, now)
			if gone {
				removed++
				if deleted != nil {
					deleted(info)
				}
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

// expire removes upload id if it is incomplete, expired at now and unheld,
// and reports the Info it had.
func (b *Backend) expire(id string, now time.Time) (storage.Info, bool, error) {
	if rec, err := readRecord(b.metaPath(id), id); err != nil || !b.expired(rec, now) {
		return storage.Info{}, false, nil // gone meanwhile, unreadable (left for a person), or alive
	}
	data, _, err := lockData(b.dataPath(id), false)
	switch {
	case errors.Is(err, storage.ErrLocked):
		return storage.Info{}, false, nil
	case errors.Is(err, storage.ErrNotFound):
		// A record without its data file (a Delete cut short): no Writer
		// can hold it, and Create makes the data file before the record.
	case err != nil:
		return storage.Info{}, false, fmt.Errorf("%s: %w", id, err)
	default:
		defer unlockData(data, false)
		if err := releaseLegacyLock(b.lockPath(id)); err != nil {
			return storage.Info{}, false, nil // an older process is writing it
		}
	}
	// Re-read under the lock: a Writer may have checkpointed since.
	rec, err := readRecord(b.metaPath(id), id)
	if err != nil || !b.expired(rec, now) {
		return storage.Info{}, false, nil
	}
	if err := b.remove(id); err != nil {
		return storage.Info{}, false, err
	}
	return b.info(rec), true, nil
}

func (b *Backend) expired(rec record, now time.Time) bool {
	return !rec.Complete && rec.Modified.Add(b.expiry).Before(now)
}

// sweep removes name if it is a crash leftover older than the expiry period:
// a temporary file, a data file whose upload has no record, or a lock file
// of an older version that no process holds. A leftover that belongs to an
// id is removed only under that id's lock (its data file's), so nothing a
// live Writer is using is touched.
func (b *Backend) sweep(name string, now time.Time) error {
	id, isData := idOf(name, dataExt)
	_, isLock := idOf(name, lockExt)
	rest, isTmp := strings.CutPrefix(name, tmpPrefix)
	switch {
	case isTmp:
		// Temporary records are named .tmp-<id>-<random>.
		if len(rest) > 36 && storage.ValidID(rest[:36]) {
			id = rest[:36]
		}
	case !isData && !isLock:
		return nil // not ours: leave it alone
	}
	fi, err := os.Lstat(b.path(name))
	if err != nil || !fi.Mode().IsRegular() || !fi.ModTime().Add(b.expiry).Before(now) {
		return nil
	}
	if isLock {
		// The data file is the lock now; an old lock file matters only
		// while a process of an older version holds it.
		if err := releaseLegacyLock(b.path(name)); err != nil && !errors.Is(err, storage.ErrLocked) {
			return err
		}
		return nil
	}
	if id == "" {
		return removeLeftover(b.path(name))
	}
	if isData {
		// Cheap check before locking: most data files belong to an upload
		// and stay.
		if _, err := os.Stat(b.metaPath(id)); !errors.Is(err, os.ErrNotExist) {
			return nil
		}
	}
	data, _, err := lockData(b.dataPath(id), false)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		// No data file: nobody is creating or writing this upload.
		return removeLeftover(b.path(name))
	case err != nil:
		return nil // held: someone is creating or writing it
	}
	defer unlockData(data, false)
	if isData {
		if _, err := readRecord(b.metaPath(id), id); !errors.Is(err, storage.ErrNotFound) {
			return nil // its Create published the record after all
		}
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
