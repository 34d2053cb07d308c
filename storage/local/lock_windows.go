//go:build windows

package local

import (
	"errors"
	"os"

	"golang.org/x/sys/windows"
)

// lockByte is where the lock lies: LockFileEx locks are mandatory for the
// bytes they cover (other handles can neither read nor write them), so the
// lock covers one byte at the very end of the offset range, which no data
// file reaches, rather than the data that readers follow.
const lockByte = ^uint32(0)

// flock takes an exclusive LockFileEx lock on f without waiting. Like
// flock(2), it belongs to the open file: another handle, in this process or
// another, cannot take it, and it goes when the handle is closed or the
// process dies (Windows may take a moment to release it after a close). It
// returns errHeld if another handle holds it.
func flock(f *os.File) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var lerr error
	if err := rc.Control(func(fd uintptr) {
		lerr = windows.LockFileEx(windows.Handle(fd),
			windows.LOCKFILE_EXCLUSIVE_LOCK|windows.LOCKFILE_FAIL_IMMEDIATELY, 0,
			1, 0, &windows.Overlapped{Offset: lockByte, OffsetHigh: lockByte})
	}); err != nil {
		return err
	}
	if errors.Is(lerr, windows.ERROR_LOCK_VIOLATION) {
		return errHeld
	}
	return lerr
}

// lockLog takes a LockFileEx lock on f, shared or exclusive, waiting for
// it, on the same byte as flock. Index logs take it (index.go).
func lockLog(f *os.File, exclusive bool) error {
	var flags uint32
	if exclusive {
		flags = windows.LOCKFILE_EXCLUSIVE_LOCK
	}
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var lerr error
	if err := rc.Control(func(fd uintptr) {
		lerr = windows.LockFileEx(windows.Handle(fd), flags, 0,
			1, 0, &windows.Overlapped{Offset: lockByte, OffsetHigh: lockByte})
	}); err != nil {
		return err
	}
	return lerr
}

// appendShared: openFile has no O_APPEND here, so appenders to a log take
// its lock exclusively and write at its end.
const appendShared = false
