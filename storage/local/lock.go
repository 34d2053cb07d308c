package local

import (
	"errors"
	"fmt"
	"os"
	"syscall"

	"github.com/ferryhq/ferry/storage"
)

// lockFile opens (creating if needed) the lock file at path and takes an
// exclusive, non-blocking flock on it. flock belongs to the open file, so it
// excludes other processes and other Writers of this process alike, and it
// dies with the process. It returns an error wrapping storage.ErrLocked when
// someone else holds it.
func lockFile(path string) (*os.File, error) {
	// The lock file can be unlinked (by Commit or Delete) between our open
	// and our flock; we would then hold a lock nobody else can see. Retry
	// until the locked file is the one the path names.
	for range 3 {
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
		if err != nil {
			return nil, fmt.Errorf("open lock: %w", mapErr(err))
		}
		if err := flock(f); err != nil {
			f.Close()
			if errors.Is(err, syscall.EWOULDBLOCK) {
				return nil, fmt.Errorf("lock held elsewhere: %w", storage.ErrLocked)
			}
			return nil, fmt.Errorf("lock: %w", err)
		}
		if sameFile(f, path) {
			return f, nil
		}
		f.Close()
	}
	return nil, fmt.Errorf("lock file keeps changing: %w", storage.ErrLocked)
}

func flock(f *os.File) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var ferr error
	if err := rc.Control(func(fd uintptr) {
		for {
			ferr = syscall.Flock(int(fd), syscall.LOCK_EX|syscall.LOCK_NB)
			if ferr != syscall.EINTR {
				return
			}
		}
	}); err != nil {
		return err
	}
	return ferr
}

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

// unlock releases a lock taken by lockFile. With removeFile it also removes
// the lock file, but only while the path still names the file we locked, so
// a lock file that a later holder created is never removed under it.
func unlock(f *os.File, removeFile bool) {
	if removeFile && sameFile(f, f.Name()) {
		os.Remove(f.Name())
	}
	f.Close()
}
