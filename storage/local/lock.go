package local

import (
	"errors"
	"fmt"
	"os"

	"github.com/ferryhq/ferry/storage"
)

// lockData opens the data file at path read-write and takes an exclusive,
// non-blocking flock on it: the data file is its own lock, so a Writer holds
// one descriptor besides its client's socket. flock belongs to the open
// file, so it excludes other processes and other Writers of this process
// alike (a reader's separate open neither takes nor drops it), and it dies
// with the process. With create the file is created if missing, and created
// reports whether this call made it. It returns an error wrapping
// storage.ErrLocked when someone else holds the lock, and storage.ErrNotFound
// when the file does not exist and create is false.
func lockData(path string, create bool) (f *os.File, created bool, err error) {
	// The data file can be unlinked (by Delete, Abort, DeleteExpired or a
	// failed Create) between our open and our flock; we would then hold a
	// lock on a file nobody else can see. Retry until the locked file is
	// the one the path names.
	for range 3 {
		f, created, err = openData(path, create)
		if create && errors.Is(err, os.ErrNotExist) {
			continue // removed by someone else between our two opens
		}
		if err != nil {
			return nil, false, fmt.Errorf("open data file: %w", mapErr(err))
		}
		if err := flock(f); err != nil {
			f.Close()
			if errors.Is(err, errHeld) {
				return nil, false, fmt.Errorf("data file locked elsewhere: %w", storage.ErrLocked)
			}
			return nil, false, fmt.Errorf("lock data file: %w", err)
		}
		if sameFile(f, path) {
			return f, created, nil
		}
		f.Close() // without create, the next open tells a removed file
	}
	return nil, false, fmt.Errorf("data file keeps changing: %w", storage.ErrLocked)
}

// openData opens path read-write. With create it first tries to make the
// file (O_EXCL tells whether it did), then opens an existing one.
func openData(path string, create bool) (*os.File, bool, error) {
	if create {
		f, err := openFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
		if err == nil {
			return f, true, nil
		}
		if !errors.Is(err, os.ErrExist) {
			return nil, false, err
		}
	}
	f, err := openFile(path, os.O_RDWR, 0)
	return f, false, err
}

// unlockData closes a data file taken by lockData, which releases its lock.
// With remove it first removes the file, but only while the path still
// names the file we locked, so a file that a later holder created is never
// removed under it.
func unlockData(f *os.File, remove bool) {
	if remove && sameFile(f, f.Name()) {
		os.Remove(f.Name())
	}
	f.Close()
}

// errHeld is flock's answer when another open file holds the lock.
var errHeld = errors.New("lock held by another open file")

// sameFile reports whether path still names the open file f.
func sameFile(f *os.File, path string) bool {
	a, err := f.Stat()
	if err != nil {
		return false
	}
	b, err := os.Stat(path)
	if err != nil {
		return false
	}
	return os.SameFile(a, b)
}

// releaseLegacyLock deals with <id>.lock, the lock file of ferry versions
// before the data file became the lock, which only the migration of a
// flat-layout directory meets. A legacy lock file that an older process
// still holds answers an error wrapping storage.ErrLocked; an unheld one is
// removed.
func releaseLegacyLock(path string) error {
	f, err := openFile(path, os.O_RDWR, 0)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("open legacy lock file: %w", err)
	}
	defer f.Close()
	if err := flock(f); err != nil {
		if errors.Is(err, errHeld) {
			return fmt.Errorf("legacy lock file held by an older process: %w", storage.ErrLocked)
		}
		return fmt.Errorf("lock legacy lock file: %w", err)
	}
	if sameFile(f, path) {
		os.Remove(path)
	}
	return nil
}
