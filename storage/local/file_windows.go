//go:build windows

package local

import (
	"errors"
	"io"
	"os"
	"unsafe"

	"golang.org/x/sys/windows"
)

// openFile opens path as os.OpenFile does, but shares it for deletion as
// well as reading and writing (FILE_SHARE_DELETE), which os.OpenFile does
// not: the package removes data files while they are open (Abort and Delete
// under a live Writer, a failed Create) and renames records over ones a
// reader may have open, as Unix always allows. Only the flags this package
// uses are honoured: O_RDONLY, O_WRONLY, O_RDWR, O_CREATE, O_EXCL and
// O_TRUNC (the temporary record is truncated when a crash left one); perm is
// ignored (Windows has no mode bits beyond read-only).
func openFile(path string, flag int, _ os.FileMode) (*os.File, error) {
	p, err := windows.UTF16PtrFromString(path)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	access := uint32(windows.GENERIC_READ)
	if flag&(os.O_WRONLY|os.O_RDWR) != 0 {
		access |= windows.GENERIC_WRITE
	}
	disposition := uint32(windows.OPEN_EXISTING)
	switch {
	case flag&os.O_CREATE != 0 && flag&os.O_EXCL != 0:
		disposition = windows.CREATE_NEW
	case flag&os.O_CREATE != 0 && flag&os.O_TRUNC != 0:
		disposition = windows.CREATE_ALWAYS
	case flag&os.O_CREATE != 0:
		disposition = windows.OPEN_ALWAYS
	case flag&os.O_TRUNC != 0:
		disposition = windows.TRUNCATE_EXISTING
	}
	share := uint32(windows.FILE_SHARE_READ | windows.FILE_SHARE_WRITE | windows.FILE_SHARE_DELETE)
	h, err := windows.CreateFile(p, access, share, nil, disposition, windows.FILE_ATTRIBUTE_NORMAL, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	return os.NewFile(uintptr(h), path), nil
}

// readFile reads the whole file at path, opened by openFile so that a
// record being read can still be replaced.
func readFile(path string) ([]byte, error) {
	f, err := openFile(path, os.O_RDONLY, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(f)
}

// syncDir does nothing on Windows: a directory cannot be flushed there
// (FlushFileBuffers needs a handle open for writing, which a directory does
// not give), and NTFS journals its renames and removals itself.
func syncDir(string) error { return nil }

// syncsDirs: see syncDir.
const syncsDirs = false

// fileStandardInfo is FILE_STANDARD_INFO.
type fileStandardInfo struct {
	AllocationSize int64
	EndOfFile      int64
	NumberOfLinks  uint32
	DeletePending  byte
	Directory      byte
}

// nlink is the number of names f has; zero once it was removed (removed
// with POSIX semantics, or pending deletion until its last handle closes).
func nlink(f *os.File) (uint64, error) {
	rc, err := f.SyscallConn()
	if err != nil {
		return 0, err
	}
	var info fileStandardInfo
	var ierr error
	if err := rc.Control(func(fd uintptr) {
		ierr = windows.GetFileInformationByHandleEx(windows.Handle(fd), windows.FileStandardInfo,
			(*byte)(unsafe.Pointer(&info)), uint32(unsafe.Sizeof(info)))
	}); err != nil {
		return 0, err
	}
	if ierr != nil {
		return 0, &os.PathError{Op: "GetFileInformationByHandleEx", Path: f.Name(), Err: ierr}
	}
	if info.DeletePending != 0 {
		return 0, nil
	}
	return uint64(info.NumberOfLinks), nil
}

// isNoSpace reports whether err says the volume or the user's quota is
// full.
func isNoSpace(err error) bool {
	return errors.Is(err, windows.ERROR_DISK_FULL) || errors.Is(err, windows.ERROR_HANDLE_DISK_FULL) ||
		errors.Is(err, windows.ERROR_DISK_QUOTA_EXCEEDED)
}
