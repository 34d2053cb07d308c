package local

import (
	"fmt"
	"io"
	"os"

	"github.com/ferryhq/ferry/storage"
)

// reader exposes only Read, ReadAt, Seek and Close of a data file. Handing out
// the *os.File itself would also hand out its write methods and its WriteTo,
// which lets io.Copy pick sendfile: slower than a 32 KiB copy over loopback
// on this kind of machine (docs/performance.md).
//
// A reader of a file the open cache keeps (shared set) does not own the
// descriptor: other readers use it at once, so it reads at its own
// position with pread, never moving the descriptor's offset, and Close
// gives its reference back to the cache instead of closing the file.
type reader struct {
	f *os.File

	shared *sharedFile
	cache  *openCache
	size   int64 // the file's size, for Seek from the end (shared only)
	pos    int64 // the read position (shared only)
	closed bool  // (shared only)
}

func (r *reader) Read(p []byte) (int, error) {
	if r.shared == nil {
		return r.f.Read(p)
	}
	if r.closed {
		return 0, os.ErrClosed
	}
	if r.pos >= r.size {
		return 0, io.EOF
	}
	p = p[:min(int64(len(p)), r.size-r.pos)]
	n, err := r.f.ReadAt(p, r.pos)
	r.pos += int64(n)
	if err == io.EOF && n > 0 {
		err = nil
	}
	return n, err
}

func (r *reader) ReadAt(p []byte, off int64) (int, error) {
	if r.closed {
		return 0, os.ErrClosed
	}
	return r.f.ReadAt(p, off)
}

func (r *reader) Seek(offset int64, whence int) (int64, error) {
	if r.shared == nil {
		return r.f.Seek(offset, whence)
	}
	if r.closed {
		return 0, os.ErrClosed
	}
	pos, err := storage.SeekPosition(r.pos, r.size, offset, whence)
	if err != nil {
		return pos, err
	}
	r.pos = pos
	return pos, nil
}

// Close closes the data file (or gives a kept one back to the cache); a
// second Close returns an error.
func (r *reader) Close() error {
	if r.shared == nil {
		if err := r.f.Close(); err != nil {
			return fmt.Errorf("local: close reader: %w", err)
		}
		return nil
	}
	if r.closed {
		return fmt.Errorf("local: close reader: %w", os.ErrClosed)
	}
	r.closed = true
	if err := r.cache.release(r.shared); err != nil {
		return fmt.Errorf("local: close reader: %w", err)
	}
	return nil
}

// object is the storage.Object of a completed file.
type object struct {
	reader
	info storage.Info
}

// Info is the file's metadata as of Open.
func (o *object) Info() storage.Info { return o.info }
