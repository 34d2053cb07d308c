package local

import "os"

// Flock takes the lock a Writer holds on its data file (flock(2), or
// LockFileEx on Windows) on f, for tests that play another process.
func Flock(f *os.File) error { return flock(f) }
