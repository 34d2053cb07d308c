package s3

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/minio/minio-go/v7"

	"github.com/ferryhq/ferry/storage"
)

// Resume takes the lease of an incomplete upload, checks its multipart
// upload against its state, restores the bytes of its last incomplete part
// and returns a Writer at its durable offset. It returns an error wrapping
// storage.ErrNotFound (unknown, deleted, expired, or its multipart upload was
// purged by the store), storage.ErrLocked (another live Writer, on any
// instance, holds it, or wrote its state while Resume read it) or
// storage.ErrComplete. A state that lists an object the store does not
// hold is an error wrapping none of these.
func (b *Backend) Resume(ctx context.Context, id string) (storage.Writer, error) {
	if !storage.ValidID(id) {
		return nil, notFound("resume")
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("s3: resume %s: %w", id, err)
	}
	b.mu.Lock()
	held := b.live[id] != nil
	b.mu.Unlock()
	if held {
		return nil, fmt.Errorf("s3: resume %s: %w", id, storage.ErrLocked)
	}
	// Checked before taking the lease so that a complete or unknown id
	// never answers "locked" and leaves no lease behind.
	if st, err := b.readState(ctx, id); err != nil {
		return nil, fmt.Errorf("s3: resume %s: %w", id, err)
	} else if b.expired(st) {
		return nil, fmt.Errorf("s3: resume %s: expired: %w", id, storage.ErrNotFound)
	}
	l, err := b.takeLease(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("s3: resume %s: %w", id, err)
	}
	w, err := b.resume(ctx, id, l)
	if err != nil {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), releaseTimeout)
		defer cancel()
		l.release(ctx)
		return nil, fmt.Errorf("s3: resume %s: %w", id, err)
	}
	w.begin()
	return w, nil
}

// resume builds the Writer of upload id under lease l.
func (b *Backend) resume(ctx context.Context, id string, l *lease) (_ *writer, err error) {
	// Only the state read under the lease counts: the previous holder may
	// have checkpointed, committed or deleted the upload since we looked.
	var st uploadState
	tag, err := b.getJSON(ctx, b.keys.state(id), &st)
	if errors.Is(err, storage.ErrNotFound) {
		_, err = b.readState(ctx, id) // complete meanwhile, or gone
		return nil, err
	}
	if err != nil {
		return nil, fmt.Errorf("read state: %w", err)
	}
	if err := st.check(); err != nil {
		return nil, err
	}
	w := &writer{b: b, st: st, lease: l, parts: st.Parts, written: st.Offset, size: st.Meta.Size}
	defer func() {
		if err != nil {
			b.mem.put(w.buf)
		}
	}()
	if st.UploadID != "" {
		err := b.verifyParts(ctx, &st)
		switch {
		case isNotFound(err):
			w.assembled, err = b.assembled(ctx, &st)
			if err != nil {
				return nil, err
			}
			if !w.assembled {
				// A previous holder whose lease ran out while it still
				// worked may have committed (or deleted) the upload
				// since we read its state: only an unchanged state
				// means the store purged it.
				if err := b.unchanged(ctx, id, tag); err != nil {
					return nil, err
				}
				b.removeUpload(ctx, st)
				return nil, fmt.Errorf("its multipart upload is gone (purged by the store after its expiry?): %w", storage.ErrNotFound)
			}
		case err != nil:
			return nil, err
		}
	}
	if len(st.Pending) > 0 {
		if w.buf, err = b.readPending(ctx, &st); errors.Is(err, storage.ErrNotFound) {
			// The state lists a pending object that is not there. A
			// previous holder whose lease ran out while it still worked
			// may have checkpointed past it (and removed it), committed
			// or deleted the upload since we read its state. If not, the
			// upload is damaged, which is not the same as unknown: the
			// client must not be told to forget it.
			if err := b.unchanged(ctx, id, tag); err != nil {
				return nil, err
			}
			return nil, fmt.Errorf("the state lists a pending object the store does not hold (%v)", err)
		}
		if err != nil {
			return nil, err
		}
	}
	// Rewrite the state under our name: the previous holder's next
	// Checkpoint, conditional on the ETag it wrote, now fails.
	st.Seq++
	st.Owner = l.owner
	if w.tag, err = b.writeState(ctx, &st, ifMatch(tag)); err != nil {
		if isConflict(err) || isNotFound(err) {
			return nil, fmt.Errorf("state changed while resuming: %w", storage.ErrLocked)
		}
		return nil, fmt.Errorf("claim state: %w", translate(err))
	}
	w.st = st
	return w, nil
}

// unchanged returns nil if the state of upload id still has ETag tag.
// Otherwise it returns an error wrapping storage.ErrLocked (another Writer
// wrote it meanwhile), storage.ErrComplete or storage.ErrNotFound (it
// completed, or was deleted), or the store's error.
func (b *Backend) unchanged(ctx context.Context, id, tag string) error {
	var cur uploadState
	curTag, err := b.getJSON(ctx, b.keys.state(id), &cur)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		// Complete meanwhile, or gone; a state that is back is not the
		// one we read.
		if _, err = b.readState(ctx, id); err == nil {
			err = fmt.Errorf("state changed while resuming: %w", storage.ErrLocked)
		}
		return err
	case err != nil:
		return fmt.Errorf("read state again: %w", err)
	case curTag != tag:
		return fmt.Errorf("state changed while resuming: %w", storage.ErrLocked)
	}
	return nil
}

// verifyParts checks that the multipart upload holds every whole part the
// state lists, with the same ETag and size. ListObjectParts answers at most
// maxListParts parts a call: it pages with the part-number marker. An error
// for which isNotFound holds means the multipart upload does not exist.
func (b *Backend) verifyParts(ctx context.Context, st *uploadState) error {
	want := len(st.Parts)
	seen, marker := 0, 0
	for {
		res, err := b.c.ListObjectParts(ctx, b.cfg.Bucket, b.keys.data(st.ID), st.UploadID, marker, maxListParts)
		if err != nil {
			return err
		}
		for _, p := range res.ObjectParts {
			n := p.PartNumber
			if n < 1 || n > want {
				continue
			}
			if trimETag(p.ETag) != trimETag(st.Parts[n-1]) || p.Size != st.partLen(n) {
				return fmt.Errorf("part %d in the store (%d bytes, ETag %s) is not the one checkpointed (%d bytes, ETag %s)",
					n, p.Size, p.ETag, st.partLen(n), st.Parts[n-1])
			}
			seen++
		}
		if !res.IsTruncated || res.NextPartNumberMarker >= want {
			break
		}
		if res.NextPartNumberMarker <= marker {
			return fmt.Errorf("part listing does not advance past part %d", marker)
		}
		marker = res.NextPartNumberMarker
	}
	if seen != want {
		return fmt.Errorf("the store holds %d of the %d checkpointed parts", seen, want)
	}
	return nil
}

func trimETag(s string) string { return strings.Trim(s, `"`) }

// assembled reports whether the data object of an upload whose multipart
// upload is gone exists with the full size: a Commit completed the
// multipart upload, then stopped before publishing the file record.
func (b *Backend) assembled(ctx context.Context, st *uploadState) (bool, error) {
	if st.Offset != st.Meta.Size {
		return false, nil
	}
	oi, err := b.c.StatObject(ctx, b.cfg.Bucket, b.keys.data(st.ID), minio.StatObjectOptions{})
	if isNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("stat data: %w", translate(err))
	}
	return oi.Size == st.Meta.Size, nil
}

// readPending reads the bytes after the last whole part into a buffer that
// can hold the part they belong to.
// The buffer comes from the budget; readPending waits for it as Write
// would, and gives it back if it fails.
func (b *Backend) readPending(ctx context.Context, st *uploadState) ([]byte, error) {
	buf, err := b.mem.get(ctx, bufferCap(st.partLen(len(st.Parts)+1), st.PartSize))
	if err != nil {
		return nil, fmt.Errorf("read pending bytes: %w", err)
	}
	for _, c := range st.Pending {
		if err := b.readChunk(ctx, c, &buf); err != nil {
			b.mem.put(buf)
			return nil, fmt.Errorf("read pending bytes: %w", err)
		}
	}
	return buf, nil
}

// readChunk appends the bytes of pending object c to buf.
func (b *Backend) readChunk(ctx context.Context, c pendingChunk, buf *[]byte) error {
	body, _, _, err := b.c.GetObject(ctx, b.cfg.Bucket, c.Key, minio.GetObjectOptions{})
	if err != nil {
		return translate(err)
	}
	defer body.Close()
	n := len(*buf)
	*buf = (*buf)[:n+int(c.Size)]
	if _, err := io.ReadFull(body, (*buf)[n:]); err != nil {
		return translate(err)
	}
	return nil
}
