//go:build linux || darwin || freebsd || dragonfly

package local

import (
	"os"
	"syscall"
)

// statfs is space.statfs for real file systems. With f it uses fstatfs(2)
// on f's descriptor, which allocates nothing. (OpenBSD, NetBSD, Solaris and
// AIX spell statfs differently; the package does not build there.)
func statfs(dir string, f *os.File) (avail, total int64, err error) {
	var st syscall.Statfs_t
	if f != nil {
		err = syscall.Fstatfs(int(f.Fd()), &st)
	} else {
		err = syscall.Statfs(dir, &st)
	}
	if err != nil {
		return 0, 0, &os.PathError{Op: "statfs", Path: dir, Err: err}
	}
	// The fields' types differ between systems (Bsize is uint32 on macOS).
	return int64(st.Bavail) * int64(st.Bsize), int64(st.Blocks) * int64(st.Bsize), nil
}
