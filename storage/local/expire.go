package local

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/ferryhq/ferry/storage"
)

// DeleteExpired removes every incomplete upload whose ExpiresAt is before now
// and returns how many it removed, calling deleted (if not nil) with each
// one's Info once it is gone. Uploads that a live Writer holds, in this
// process or another, are skipped: their lock says someone is writing. It
// also sweeps crash leftovers older than the expiry period (temporary files,
// the data file of a Create that crashed before its record), which are not
// counted. It stops with the context's error if ctx ends.
//
// It reads the markers in uploads/, one per upload that may be incomplete,
// and the records they name, and the temporary files: never the completed
// files, however many there are.
func (b *Backend) DeleteExpired(ctx context.Context, now time.Time, deleted func(storage.Info)) (int, error) {
	entries, err := os.ReadDir(b.sub(uploadsDir))
	if err != nil {
		return 0, fmt.Errorf("local: delete expired: %w", err)
	}
	removed := 0
	var errs []error
	for _, e := range entries {
		if err := ctx.Err(); err != nil {
			return removed, fmt.Errorf("local: delete expired: %w", err)
		}
		id := e.Name()
		if !storage.ValidID(id) {
			continue // not ours: leave it alone
		}
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
	}
	tmps, err := os.ReadDir(b.sub(tmpDir))
	if err != nil {
		errs = append(errs, err)
	}
	for _, e := range tmps {
		if err := ctx.Err(); err != nil {
			return removed, fmt.Errorf("local: delete expired: %w", err)
		}
		if err := b.sweepTmp(e.Name(), now); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return removed, fmt.Errorf("local: delete expired: %w", errors.Join(errs...))
	}
	return removed, nil
}

// expire looks at the upload whose marker is uploads/<id>: it removes the
// upload if it is incomplete, expired at now and unheld, and the marker
// alone if the upload is complete. A marker with no record is the
// leftover of a Create that crashed or failed, or of a removal cut short:
// once the marker is older than the expiry period, it goes with the data
// file, if any, that no one holds. It reports the Info a removed upload had.
func (b *Backend) expire(id string, now time.Time) (storage.Info, bool, error) {
	rec, err := readRecord(b.metaPath(id), id)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return storage.Info{}, false, b.sweepOrphan(id, now)
	case err != nil:
		return storage.Info{}, false, nil // unreadable: left for a person (Delete removes it)
	case rec.Complete:
		// A Commit that crashed before removing its marker.
		os.Remove(b.markPath(id))
		return storage.Info{}, false, nil
	case !b.expired(rec, now):
		return storage.Info{}, false, nil
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
	}
	// Re-read under the lock: a Writer may have checkpointed since.
	rec, err = readRecord(b.metaPath(id), id)
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

// sweepOrphan removes the marker of id, which has no record, its data file,
// its record file if one without a valid slot is left, and its temporary
// record, once the marker is older than the expiry period and under the data
// file's lock, so that a Create in progress is never touched.
func (b *Backend) sweepOrphan(id string, now time.Time) error {
	if !b.stale(b.markPath(id), now) {
		return nil
	}
	data, _, err := lockData(b.dataPath(id), false)
	switch {
	case errors.Is(err, storage.ErrNotFound):
	case err != nil:
		return nil // held: someone is creating it
	default:
		defer unlockData(data, false)
	}
	if _, err := readRecord(b.metaPath(id), id); !errors.Is(err, storage.ErrNotFound) {
		return nil // its Create published the record after all
	}
	if data != nil {
		if err := removeLeftover(b.dataPath(id)); err != nil {
			return err
		}
	}
	// A record file with no valid slot (the Create crashed before it
	// synced one) counts as no record, and goes too.
	for _, p := range []string{b.metaPath(id), b.tmpPath(id), b.markPath(id)} {
		if err := removeLeftover(p); err != nil {
			return err
		}
	}
	return nil
}

// sweepTmp removes the temporary file name once it is older than the
// expiry period. A temporary record (<id>-<random>) goes only under its
// upload's lock: a live Writer may be about to rename it.
func (b *Backend) sweepTmp(name string, now time.Time) error {
	p := filepath.Join(b.sub(tmpDir), name)
	if !b.stale(p, now) {
		return nil
	}
	if len(name) > 36 && storage.ValidID(name[:36]) {
		data, _, err := lockData(b.dataPath(name[:36]), false)
		switch {
		case errors.Is(err, storage.ErrNotFound):
		case err != nil:
			return nil // held: its Writer may still rename it
		default:
			defer unlockData(data, false)
		}
	}
	return removeLeftover(p)
}

// stale reports whether the regular file at p was last changed more than
// the expiry period before now.
func (b *Backend) stale(p string, now time.Time) bool {
	fi, err := os.Lstat(p)
	return err == nil && fi.Mode().IsRegular() && fi.ModTime().Add(b.expiry).Before(now)
}

func removeLeftover(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove leftover: %w", err)
	}
	return nil
}
