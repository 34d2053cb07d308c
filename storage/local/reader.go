package local

import (
	"fmt"
	"os"

	"github.com/ferryhq/ferry/storage"
)

// reader exposes only Read, ReadAt, Seek and Close of a data file. Handing out
// the *os.File itself would also hand out its write methods and its WriteTo,
// which lets io.Copy pick sendfile: slower than a 32 KiB copy over loopback
// on this kind of machine (docs/performance.md).
type reader struct{ f *os.File }

func (r *reader) Read(p []byte) (int, error) { return r.f.Read(p) }

func (r *reader) ReadAt(p []byte, off int64) (int, error) { return r.f.ReadAt(p, off) }

func (r *reader) Seek(offset int64, whence int) (int64, error) { return r.f.Seek(offset, whence) }

// Close closes the data file; a second Close returns an error.
func (r *reader) Close() error {
	if err := r.f.Close(); err != nil {
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
