package s3

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/minio/minio-go/v7"

	"github.com/ferryhq/ferry/storage"
)

// object is the storage.Object of a completed file: a reader that seeks
// lazily. Seek only moves pos; the first Read after it opens one GET from
// pos to the end of the object, which following Reads drain. So
// http.ServeContent's seeks to learn the size cost nothing, and a range
// read costs one request.
type object struct {
	ctx  context.Context
	b    *Backend
	key  string
	etag string // reads are pinned to it: a replaced object is an error, not a mix
	info storage.Info

	pos    int64
	body   io.ReadCloser // open GET from pos, or nil
	closed bool
}

func (o *object) Info() storage.Info { return o.info }

// Read reads from the current position. It returns io.EOF at the end of
// the file, an error wrapping storage.ErrNotFound if the file was deleted
// meanwhile, or io.ErrUnexpectedEOF if the store's answer ended early.
func (o *object) Read(p []byte) (int, error) {
	if o.closed {
		return 0, fmt.Errorf("s3: read: %w", storage.ErrClosed)
	}
	size := o.info.Meta.Size
	if o.pos >= size {
		return 0, io.EOF
	}
	if len(p) == 0 {
		return 0, nil
	}
	if o.body == nil {
		opts := minio.GetObjectOptions{}
		if o.etag != "" {
			opts.SetMatchETag(o.etag)
		}
		// Position 0 sends no Range at all: SetRange(0, 0) would ask for
		// the first byte only.
		if o.pos > 0 {
			if err := opts.SetRange(o.pos, 0); err != nil {
				return 0, fmt.Errorf("s3: read %s: %w", o.info.ID, err)
			}
		}
		body, _, _, err := o.b.c.GetObject(o.ctx, o.b.cfg.Bucket, o.key, opts)
		if err != nil {
			if isConflict(err) {
				err = fmt.Errorf("file was replaced: %w: %w", storage.ErrNotFound, err)
			}
			return 0, fmt.Errorf("s3: read %s: %w", o.info.ID, translate(err))
		}
		o.body = body
	}
	n, err := o.body.Read(p)
	o.pos += int64(n)
	switch {
	case errors.Is(err, io.EOF):
		o.body.Close()
		o.body = nil
		if o.pos < size {
			return n, fmt.Errorf("s3: read %s: answer ended at %d of %d bytes: %w", o.info.ID, o.pos, size, io.ErrUnexpectedEOF)
		}
		if n > 0 {
			return n, nil
		}
		return 0, io.EOF
	case err != nil:
		o.body.Close()
		o.body = nil
		return n, fmt.Errorf("s3: read %s: %w", o.info.ID, translate(err))
	}
	return n, nil
}

// Seek sets the position for the next Read. It fetches nothing; a position
// past the end is allowed (Read returns io.EOF there). It returns an error
// for a negative position or an unknown whence.
func (o *object) Seek(offset int64, whence int) (int64, error) {
	if o.closed {
		return 0, fmt.Errorf("s3: seek: %w", storage.ErrClosed)
	}
	var abs int64
	switch whence {
	case io.SeekStart:
		abs = offset
	case io.SeekCurrent:
		abs = o.pos + offset
	case io.SeekEnd:
		abs = o.info.Meta.Size + offset
	default:
		return 0, fmt.Errorf("s3: seek: invalid whence %d", whence)
	}
	if abs < 0 {
		return 0, fmt.Errorf("s3: seek: negative position %d", abs)
	}
	if abs != o.pos && o.body != nil {
		o.body.Close()
		o.body = nil
	}
	o.pos = abs
	return abs, nil
}

// Close ends the open GET, if any. A second Close returns an error wrapping
// storage.ErrClosed.
func (o *object) Close() error {
	if o.closed {
		return fmt.Errorf("s3: close: %w", storage.ErrClosed)
	}
	o.closed = true
	if o.body != nil {
		o.body.Close()
		o.body = nil
	}
	return nil
}
