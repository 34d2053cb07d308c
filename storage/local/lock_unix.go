//go:build unix

package local

import (
	"os"
	"syscall"
)

// flock takes an exclusive flock(2) on f without waiting. It returns
// errHeld if another open file holds it.
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
	if ferr == syscall.EWOULDBLOCK {
		return errHeld
	}
	return ferr
}

// lockLog takes a flock(2) on f, shared or exclusive, waiting for it. Index
// logs take it (index.go): appenders shared, as O_APPEND writes do not mix,
// a rewrite exclusive.
func lockLog(f *os.File, exclusive bool) error {
	how := syscall.LOCK_SH
	if exclusive {
		how = syscall.LOCK_EX
	}
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var ferr error
	if err := rc.Control(func(fd uintptr) {
		for {
			ferr = syscall.Flock(int(fd), how)
			if ferr != syscall.EINTR {
				return
			}
		}
	}); err != nil {
		return err
	}
	return ferr
}

// appendShared: appenders to a log may share its lock, O_APPEND keeping
// their writes whole and apart.
const appendShared = true
