//go:build windows

package connlimit

// RaiseFileLimit does nothing on Windows, which has no per-process limit on
// open files to raise (handles and sockets are bounded by memory), and
// returns 0: the limit is unknown, so DefaultTotal sets no cap.
func RaiseFileLimit() (uint64, error) { return 0, nil }
