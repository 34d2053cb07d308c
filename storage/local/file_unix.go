//go:build unix

package local

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

// openFile is os.OpenFile. On Windows it also lets the file be removed or
// renamed over while open, as Unix always does (file_windows.go).
func openFile(path string, flag int, perm os.FileMode) (*os.File, error) {
	return os.OpenFile(path, flag, perm)
}

// readFile is os.ReadFile (on Windows, through openFile).
func readFile(path string) ([]byte, error) { return os.ReadFile(path) }

// syncsDirs: directories can be synced here (not on Windows).
const syncsDirs = true

// syncDir makes renames and removals in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync directory: %w", err)
	}
	serr := synced(d.Sync)
	cerr := d.Close()
	if err := errors.Join(serr, cerr); err != nil {
		return fmt.Errorf("sync directory: %w", mapErr(err))
	}
	return nil
}

// nlink is the number of names f's inode has; zero once it was removed.
func nlink(f *os.File) (uint64, error) {
	fi, err := f.Stat()
	if err != nil {
		return 0, err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 1, nil
	}
	return uint64(st.Nlink), nil
}

// isNoSpace reports whether err says the file system or the user's quota
// is full.
func isNoSpace(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT)
}
