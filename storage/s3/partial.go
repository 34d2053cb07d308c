package s3

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/ferryhq/ferry/storage"
)

// Reading an upload in progress (GET /files/<id>?follow=1, on any
// instance). S3 cannot read the parts of an unfinished multipart upload, so
// a whole part is first stored as an object of its own,
// uploads/<id>/part-<n>, and then copied into the multipart upload inside
// the store (UploadPartCopy: no byte crosses the network again). Bytes past
// the last whole part are in the pending objects already. The durable bytes
// are thus always readable: parts 1..len(Parts) as part objects, then the
// pending objects, as the state object lists them. The staged parts go with
// the rest of uploads/<id>/ at Commit or Delete.
//
// The last part of an upload of known size is not staged: Commit follows
// it at once, so a reader that needs its bytes waits for the upload to
// complete (and then fails, so that the follower opens the file) rather
// than costing every upload of up to one part a copy of all its bytes. What it costs an upload (a
// second request per part, the part stored twice until Commit) is measured
// in docs/performance.md.

// part is the key of the staged copy of whole part n (1-based).
func (k keys) part(id string, n int) string { return fmt.Sprintf("%spart-%05d", k.uploadDir(id), n) }

// stagePart stores buf as part n of upload id: as a readable object, then
// copied into the multipart upload. It returns the part's ETag.
func (b *Backend) stagePart(ctx context.Context, id, uploadID string, n int, buf []byte) (string, error) {
	partKey := b.keys.part(id, n)
	_, err := b.c.PutObject(ctx, b.cfg.Bucket, partKey, bytes.NewReader(buf), int64(len(buf)), "", "",
		minio.PutObjectOptions{DisableContentSha256: true, DisableMultipart: true})
	if err != nil {
		return "", fmt.Errorf("stage part %d: %w", n, err)
	}
	p, err := b.c.CopyObjectPart(ctx, b.cfg.Bucket, partKey, b.cfg.Bucket, b.keys.data(id), uploadID,
		n, 0, int64(len(buf)), nil)
	if err != nil {
		// The upload is gone (deleted meanwhile, by any instance) or the
		// store failed: the staged copy must not outlive it. The Writer
		// fails on this error; a retry stages the part again.
		_ = b.remove(context.WithoutCancel(ctx), partKey)
		return "", fmt.Errorf("copy staged part %d: %w", n, err)
	}
	return trimETag(p.ETag), nil
}

// OpenPartial returns a reader of the durable bytes of upload id, from byte
// 0, on any instance. It reads the state again whenever it needs bytes past
// what it knew or an object it was reading was replaced (a Checkpoint turns
// pending objects into a whole part), so one reader follows the upload as
// it grows. ErrNotFound if there is no such upload; storage.ErrComplete if
// it is complete (Open it instead). Once the upload completes or is
// deleted, reads fail. errors.ErrUnsupported with Config.HideParts, and
// from a read that finds a whole part not staged (an instance with
// HideParts wrote it): those bytes are readable only once complete.
func (b *Backend) OpenPartial(ctx context.Context, id string) (io.ReadSeekCloser, error) {
	if !storage.ValidID(id) {
		return nil, fmt.Errorf("s3: open partial %q: %w", id, storage.ErrNotFound)
	}
	if b.hideParts {
		return nil, fmt.Errorf("s3: open partial %s: parts are not staged (HideParts): %w", id, errors.ErrUnsupported)
	}
	r := &partialReader{b: b, ctx: ctx, id: id}
	if err := r.reload(); err != nil {
		return nil, err
	}
	return r, nil
}

// partialReader reads an upload in progress: see OpenPartial.
type partialReader struct {
	b   *Backend
	ctx context.Context
	id  string
	st  uploadState // as last read
	pos int64

	body io.ReadCloser // open on the object holding pos, or nil
}

func (r *partialReader) reload() error {
	st, err := r.b.readState(r.ctx, r.id)
	if err != nil {
		return fmt.Errorf("s3: open partial %s: %w", r.id, err)
	}
	r.st = st
	return nil
}

// locate returns the object holding byte pos of the upload as r.st has it,
// and where in that object pos is; ok is false past the durable bytes.
func (r *partialReader) locate(pos int64) (key string, off int64, ok bool) {
	whole := int64(len(r.st.Parts)) * r.st.PartSize
	if pos < whole {
		n := int(pos / r.st.PartSize)
		return r.b.keys.part(r.id, n+1), pos - int64(n)*r.st.PartSize, true
	}
	base := whole
	for _, c := range r.st.Pending {
		if pos < base+c.Size {
			return c.Key, pos - base, true
		}
		base += c.Size
	}
	return "", 0, false
}

// open opens the object holding r.pos, reading the state again when r.pos
// is past it or the object is gone.
func (r *partialReader) open() error {
	for attempt := 0; ; attempt++ {
		key, off, ok := r.locate(r.pos)
		if !ok {
			if attempt > 0 {
				return io.EOF // nothing durable there yet
			}
			if err := r.reload(); err != nil {
				return err
			}
			continue
		}
		var opts minio.GetObjectOptions
		if off > 0 {
			if err := opts.SetRange(off, 0); err != nil {
				return err
			}
		}
		body, _, _, err := r.b.c.GetObject(r.ctx, r.b.cfg.Bucket, key, opts)
		if err == nil {
			r.body = body
			return nil
		}
		if isNotFound(err) && r.lastPart(key) {
			return r.awaitCommit()
		}
		if isNotFound(err) && attempt >= 2 && r.pos < int64(len(r.st.Parts))*r.st.PartSize {
			return fmt.Errorf("s3: read partial %s: part not staged: %w", r.id, errors.ErrUnsupported)
		}
		// A pending object is removed once its part is whole: the state
		// now says where those bytes are.
		if !isNotFound(err) || attempt >= 2 {
			return fmt.Errorf("s3: read partial %s: %w", r.id, translate(err))
		}
		if err := r.reload(); err != nil {
			return err
		}
	}
}

// lastPart reports whether key is the (unstaged) last part of the upload.
func (r *partialReader) lastPart(key string) bool {
	size := r.st.Meta.Size
	n := len(r.st.Parts)
	return size != storage.SizeUnknown && n > 0 && int64(n)*r.st.PartSize >= size && key == r.b.keys.part(r.id, n)
}

// commitWait bounds how long a reader waits for the Commit that follows an
// upload's last part: a client that stopped right there resumes and
// commits later, and the follower should not hang meanwhile.
const commitWait = 30 * time.Second

// awaitCommit waits until the upload is no longer in progress (complete,
// or gone) and returns the error that says so, or gives up after
// commitWait.
func (r *partialReader) awaitCommit() error {
	deadline := time.Now().Add(commitWait)
	for {
		_, err := r.b.readState(r.ctx, r.id)
		if err != nil {
			return fmt.Errorf("s3: read partial %s: %w", r.id, err)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("s3: read partial %s: the last part is not readable before Commit, which has not come for %v: %w",
				r.id, commitWait, storage.ErrIncomplete)
		}
		select {
		case <-r.ctx.Done():
			return r.ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Read reads the durable bytes at the current position.
func (r *partialReader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	for {
		if r.body == nil {
			if err := r.open(); err != nil {
				return 0, err
			}
		}
		n, err := r.body.Read(p)
		r.pos += int64(n)
		if errors.Is(err, io.EOF) {
			r.body.Close()
			r.body = nil
			if n == 0 {
				continue // on to the next object
			}
			err = nil
		}
		if err != nil {
			return n, fmt.Errorf("s3: read partial %s: %w", r.id, translate(err))
		}
		return n, nil
	}
}

// Seek moves the position (io.SeekStart or io.SeekCurrent; the end of an
// upload in progress is not known).
func (r *partialReader) Seek(offset int64, whence int) (int64, error) {
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		offset += r.pos
	default:
		return r.pos, fmt.Errorf("s3: partial reader: seek whence %d: %w", whence, storage.ErrInvalid)
	}
	if offset < 0 {
		return r.pos, fmt.Errorf("s3: partial reader: seek to %d: %w", offset, storage.ErrInvalid)
	}
	if offset != r.pos && r.body != nil {
		r.body.Close()
		r.body = nil
	}
	r.pos = offset
	return offset, nil
}

// Close closes the object being read.
func (r *partialReader) Close() error {
	if r.body != nil {
		r.body.Close()
		r.body = nil
	}
	return nil
}
