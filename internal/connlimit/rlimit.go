package connlimit

// RaiseFileLimit is in rlimit_unix.go (setrlimit) and rlimit_windows.go (a
// no-op).

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
