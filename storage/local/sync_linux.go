//go:build linux

package local

import (
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// fdatasync flushes f's data (and the size, which data needs) but not its
// other metadata such as mtime: cheaper than fsync and enough for a checkpoint.
func fdatasync(f *os.File) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := synced(func() error {
		return rc.Control(func(fd uintptr) {
			for {
				serr = syscall.Fdatasync(int(fd))
				if serr != syscall.EINTR {
					return
				}
			}
		})
	}); err != nil {
		return err
	}
	if serr != nil {
		return &os.PathError{Op: "fdatasync", Path: f.Name(), Err: serr}
	}
	return nil
}

// startWriteback asks the kernel to start writing n bytes of f from off back
// to disk, without waiting: sync_file_range(SYNC_FILE_RANGE_WRITE). A
// failure is ignored: durability comes from fdatasync alone.
func startWriteback(f *os.File, off, n int64) {
	if rc, err := f.SyscallConn(); err == nil {
		_ = rc.Control(func(fd uintptr) {
			_ = unix.SyncFileRange(int(fd), off, n, unix.SYNC_FILE_RANGE_WRITE)
		})
	}
}
