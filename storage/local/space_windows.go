//go:build windows

package local

import (
	"os"

	"golang.org/x/sys/windows"
)

// statfs is space.statfs for real volumes: GetDiskFreeSpaceEx on dir, whose
// available bytes are the caller's, quotas included. f is not used: data
// files are in dir, on the same volume.
func statfs(dir string, _ *os.File) (avail, total int64, err error) {
	p, err := windows.UTF16PtrFromString(dir)
	if err != nil {
		return 0, 0, &os.PathError{Op: "statfs", Path: dir, Err: err}
	}
	var free, size, allFree uint64
	if err := windows.GetDiskFreeSpaceEx(p, &free, &size, &allFree); err != nil {
		return 0, 0, &os.PathError{Op: "GetDiskFreeSpaceEx", Path: dir, Err: err}
	}
	return int64(free), int64(size), nil
}
