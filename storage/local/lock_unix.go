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
