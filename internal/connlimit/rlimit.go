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

// DefaultTotal is a total cap that leaves room under a file limit of
// files for what is not a client connection: a data file per upload,
// storage, logs. It is 0 (no cap) when the limit is unknown.
func DefaultTotal(files uint64) int {
	if files == 0 {
		return 0
	}
	// About half the descriptors for connections: each upload needs one
	// more, for its data file.
	return int(min(files/2, 1<<20))
}
