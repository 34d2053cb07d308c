//go:build unix

package connlimit

import "syscall"

// RaiseFileLimit raises the soft limit on open files to the hard limit and
// returns the soft limit in force afterwards (0 if it cannot be read).
// Servers holding many connections need more than the usual 1,024.
func RaiseFileLimit() (uint64, error) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, err
	}
	if lim.Cur < lim.Max {
		raised := lim
		raised.Cur = lim.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &raised); err != nil {
			return lim.Cur, err
		}
		lim = raised
	}
	return lim.Cur, nil
}
