//go:build !linux

package local

import "os"

// fdatasync makes f's data durable. Only Linux has fdatasync(2); elsewhere
// this is f.Sync, which is fcntl(F_FULLFSYNC) on macOS (its fsync(2) leaves
// the data in the drive's cache; Go falls back to fsync where a file system
// refuses F_FULLFSYNC), FlushFileBuffers on Windows and fsync(2) on other
// systems: slower than fdatasync, as safe.
func fdatasync(f *os.File) error { return synced(f.Sync) }

// startWriteback does nothing off Linux: there is no sync_file_range, and
// write-behind only evens out the disk's work, it makes nothing durable.
func startWriteback(*os.File, int64, int64) {}
