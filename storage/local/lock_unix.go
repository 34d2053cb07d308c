//go:build unix

package local

import (
	"os"
	"syscall"
)

// flock takes an exclusive flock(2) on f without waiting. It returns
// errHeld if another open file holds it.
func flock(f *os.File) error {
	err := flockFile(f, syscall.LOCK_EX|syscall.LOCK_NB)
	if err == syscall.EWOULDBLOCK {
		return errHeld
	}
	return err
}

// lockLog takes a flock(2) on f, shared or exclusive, waiting for it. Index
// logs take it (index.go): appenders shared, as O_APPEND writes do not mix,
// a rewrite exclusive.
func lockLog(f *os.File, exclusive bool) error {
	how := syscall.LOCK_SH
	if exclusive {
		how = syscall.LOCK_EX
	}
	return flockFile(f, how)
}

// flockFile is flock(2) with how on f's descriptor, tried again when a
// signal interrupts it.
func flockFile(f *os.File, how int) error {
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
