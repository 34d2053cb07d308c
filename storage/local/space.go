package local

import (
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/ferryhq/ferry/storage"
)

// Free space. Uploads leave a reserve of free space on the data directory's
// file system, so that one upload cannot fill the disk for everyone (the
// records of other uploads, their Checkpoints, the rest of the machine).
const (
	// NoReserve as Config.Reserve keeps no free space back: uploads may
	// fill the file system.
	NoReserve int64 = -1
	// DefaultReserveMax caps the default reserve, which is 1% of the file
	// system's size.
	DefaultReserveMax int64 = 1 << 30
	// spaceRefresh is how long a statfs answer is trusted. In between,
	// Writes count the bytes they take themselves; what other processes
	// write meanwhile is not seen, which the reserve absorbs.
	spaceRefresh = 250 * time.Millisecond
)

// space keeps the free space of the data directory's file system in view
// at about one statfs(2) per spaceRefresh, however many Writes there are.
type space struct {
	dir     string
	reserve int64 // Config.Reserve: > 0 fixed, 0 the default, < 0 none
	// statfs answers the bytes available to unprivileged users and the
	// file system's size: of the file system f is on, or of dir when f is
	// nil. Tests replace it.
	statfs func(dir string, f *os.File) (avail, total int64, err error)

	mu    sync.Mutex
	avail int64     // bytes available at the last statfs, less what Writes took since
	total int64     // the file system's size at the last statfs
	at    time.Time // when statfs last ran; zero: never
}

// keep is the reserve in bytes on a file system of total bytes.
func (s *space) keep(total int64) int64 {
	switch {
	case s.reserve > 0:
		return s.reserve
	case s.reserve < 0:
		return 0
	}
	return min(total/100, DefaultReserveMax)
}

// refresh runs statfs; the caller holds mu.
func (s *space) refresh(f *os.File, now time.Time) error {
	avail, total, err := s.statfs(s.dir, f)
	if err != nil {
		return fmt.Errorf("free space: %w", err)
	}
	s.avail, s.total, s.at = avail, total, now
	return nil
}

// take accounts for a Write of n bytes to f. It returns an error wrapping
// storage.ErrNoSpace if the Write would leave less free space than the
// reserve; a refusal always comes from a fresh statfs, so space freed
// meanwhile (a Delete, a truncated upload) counts at once. It allocates
// nothing.
func (s *space) take(f *os.File, n int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	if s.at.IsZero() || now.Sub(s.at) >= spaceRefresh || s.avail-n < s.keep(s.total) {
		if err := s.refresh(f, now); err != nil {
			return err
		}
	}
	if keep := s.keep(s.total); s.avail-n < keep {
		return fmt.Errorf("%d more bytes would leave less than the %d bytes kept free: %w", n, keep, storage.ErrNoSpace)
	}
	s.avail -= n
	return nil
}

// fits checks a declared size of which written bytes are stored already,
// against a fresh statfs: storage.ErrTooLarge if the size is more than the
// whole file system less the reserve (it can never fit), storage.ErrNoSpace
// if the rest of it is more than the free space less the reserve now. Space
// is not set aside: uploads that declared sizes compete for it as they
// write.
func (s *space) fits(f *os.File, size, written int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.refresh(f, time.Now()); err != nil {
		return err
	}
	keep := s.keep(s.total)
	switch {
	case size > s.total-keep:
		return fmt.Errorf("size %d is more than the file system's %d bytes less the %d kept free: %w",
			size, s.total, keep, storage.ErrTooLarge)
	case size-written > s.avail-keep:
		return fmt.Errorf("%d more bytes do not fit in the %d bytes free less the %d kept free: %w",
			size-written, s.avail, keep, storage.ErrNoSpace)
	}
	return nil
}
