package s3

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync/atomic"

	"github.com/minio/minio-go/v7"

	"github.com/ferryhq/ferry/storage"
)

// writer is the S3 storage.Writer. It holds the upload's lease until
// Commit, Abort or Close, and at most 1+maxInflight parts of bytes in
// memory: the one filling and the whole ones being uploaded in the
// background. Through the WebSocket server that overlap matters: a part
// uploaded inside Write stops the socket reads for as long as it takes
// (docs/performance.md). Checkpoint, Commit, Abort and Close wait for the
// part in flight first, so everything else sees whole parts only.
//
// Any failure of the store leaves the Writer failed for good (err): after
// a lost response the Writer can no longer know what the bucket holds, so
// the caller closes it and resumes, which reads the truth back.
type writer struct {
	b     *Backend
	st    uploadState // as of the last Checkpoint (or Create, Resume)
	tag   string      // ETag of the state object we last wrote
	lease *lease

	parts []string // ETags of the whole parts uploaded; may run ahead of st.Parts
	// buf holds the bytes after the last whole part (and the ones in
	// flight), up to written; nil until the first byte of a part, when it
	// is taken from the Backend's budget.
	buf     []byte
	written int64
	// size binds Write and Commit: the declared size, or storage.SizeUnknown.
	// It runs ahead of st.Meta.Size after a SetSize until the next
	// Checkpoint (or Commit) records it.
	size int64

	// inflight deliver the outcomes of the parts being uploaded in the
	// background, oldest first (at most maxInflight); their buffers go back
	// to the Backend's budget as soon as each upload ends.
	inflight []chan partResult
	// partCtx is the context of the part uploads, which stopParts cancels:
	// at once on Close and Abort, when the context of the Checkpoint or
	// Commit that waits for them ends, each also after the part timeout. So
	// a store that stops answering cannot hold the Writer, or the session
	// that owns it, past those bounds.
	partCtx   context.Context
	stopParts context.CancelCauseFunc

	// assembled: the multipart upload was completed by a Commit that
	// stopped before publishing; Commit only has to publish.
	assembled bool
	final     *storage.Info // set by Commit
	closed    bool
	err       error       // the failure that ended the Writer
	gone      atomic.Bool // set by Backend.Delete from another goroutine
	// done is closed when the Writer lets go of its lease, for a TakeOver
	// on this Backend waiting for it.
	done chan struct{}
}

func (w *writer) ID() string { return w.st.ID }

// Info is the upload's metadata as of the last Checkpoint, or the complete
// file's after Commit. Meta.Size is the size SetSize declared even before a
// Checkpoint records it.
func (w *writer) Info() storage.Info {
	if w.final != nil {
		return *w.final
	}
	in := w.b.uploadInfo(w.st)
	in.Meta.Size = w.size
	return in
}

func (w *writer) Written() int64 { return w.written }

// State returns the state of the last Checkpoint; callers must not modify it.
func (w *writer) State() []byte { return w.st.State }

// Write appends p at Written, uploading each part as soon as it is whole.
// Errors wrap storage.ErrClosed, storage.ErrNotFound (deleted or purged),
// storage.ErrLocked (another Writer took the upload over),
// storage.ErrSizeExceeded (past the declared size or, while the size is
// unknown, past what MaxParts parts hold; nothing of p is stored and the
// Writer stays usable) or storage.ErrNoSpace. Any error but ErrSizeExceeded leaves the Writer
// failed, with n counting the bytes of p it took before the failure: close
// it and resume from the durable offset.
func (w *writer) Write(p []byte) (int, error) {
	if err := w.usable(context.Background(), "write"); err != nil {
		return 0, err
	}
	if limit := sizeLimit(w.size, w.st.PartSize); int64(len(p)) > limit-w.written {
		return 0, fmt.Errorf("s3: write %s: %d bytes at %d of %d: %w",
			w.st.ID, len(p), w.written, limit, storage.ErrSizeExceeded)
	}
	n := 0
	for n < len(p) {
		part := len(w.parts) + len(w.inflight) + 1
		want := partLen(w.size, w.st.PartSize, part)
		if w.buf == nil {
			// The first byte of a part: wait for its buffer from the
			// Backend's budget (back-pressure when it is spent).
			buf, err := w.b.mem.get(w.partCtx, bufferCap(want, w.st.PartSize))
			if err != nil {
				if w.gone.Load() {
					err = fmt.Errorf("deleted: %w", storage.ErrNotFound)
				}
				return n, w.fail(fmt.Errorf("s3: write %s: %w", w.st.ID, err))
			}
			w.buf = buf
		}
		k := min(int(want)-len(w.buf), len(p)-n)
		w.buf = append(w.buf, p[n:n+k]...)
		n += k
		w.written += int64(k)
		if int64(len(w.buf)) == want {
			if len(w.inflight) == maxInflight {
				if err := w.waitOldest(context.Background()); err != nil {
					return n, w.fail(fmt.Errorf("s3: write %s: %w", w.st.ID, err))
				}
			}
			w.startPart(part)
		}
	}
	return n, nil
}

// SetSize declares the size of an upload created with storage.SizeUnknown.
// It binds Write and Commit at once; the next Checkpoint records it in the
// same state write as its offset and state. If the bytes written already
// make up the last part, SetSize starts uploading it. It returns an error
// wrapping storage.ErrClosed, storage.ErrInvalid for a negative size, one
// below Written or one that differs from a size already known,
// storage.ErrTooLarge for one past what MaxParts parts of this upload's part
// size hold (the size stays unknown), or the error of a part upload it had
// to wait for (the Writer is then failed).
func (w *writer) SetSize(size int64) error {
	if err := w.usable(context.Background(), "set size"); err != nil {
		return err
	}
	switch limit := sizeLimit(w.size, w.st.PartSize); {
	case size < 0:
		return fmt.Errorf("s3: set size of %s: negative size %d: %w", w.st.ID, size, storage.ErrInvalid)
	case size == w.size:
		return nil
	case w.size != storage.SizeUnknown:
		return fmt.Errorf("s3: set size of %s to %d: size is already %d: %w", w.st.ID, size, w.size, storage.ErrInvalid)
	case size < w.written:
		return fmt.Errorf("s3: set size of %s to %d: %d bytes are written already: %w", w.st.ID, size, w.written, storage.ErrInvalid)
	case size > limit:
		return fmt.Errorf("s3: set size of %s to %d: more than %d parts of %d bytes: %w",
			w.st.ID, size, MaxParts, w.st.PartSize, storage.ErrTooLarge)
	}
	w.size = size
	// Write uploads a part the moment it is whole; with the size known the
	// buffer may now hold the whole last part.
	part := len(w.parts) + len(w.inflight) + 1
	if len(w.buf) > 0 && int64(len(w.buf)) == partLen(w.size, w.st.PartSize, part) {
		if len(w.inflight) == maxInflight {
			if err := w.waitOldest(context.Background()); err != nil {
				return w.fail(fmt.Errorf("s3: set size of %s: %w", w.st.ID, err))
			}
		}
		w.startPart(part)
	}
	return nil
}

// bufferCap is the capacity of the buffer of a part of want bytes: whole
// MiBs, so that buffers are reused across uploads, and never more than the
// part size.
func bufferCap(want, partSize int64) int {
	return int(min(partSize, (want+mib-1)/mib*mib))
}

// partResult is the outcome of a background part upload.
type partResult struct {
	etag string
	err  error
}

// maxInflight is how many whole parts a Writer uploads at once in the
// background. One stream to the store does not keep up with a fast client;
// each more costs one part of memory.
const maxInflight = 2

// startPart uploads the (whole) buffer as part n in the background; the
// next byte written takes a new buffer from the budget, and this one goes
// back to it once the upload is over. The part number follows from the
// offset, so uploading it again after a crash replaces the same part.
func (w *writer) startPart(n int) {
	buf := w.buf
	w.buf = nil
	done := make(chan partResult, 1)
	w.inflight = append(w.inflight, done)
	id, key, uploadID := w.st.ID, w.b.keys.data(w.st.ID), w.st.UploadID
	// The last part is not staged: Commit follows it at once, and a
	// follower waits the moment for the file (partial.go).
	direct := w.b.hideParts || (w.size != storage.SizeUnknown && int64(n)*w.st.PartSize >= w.size)
	if w.partCtx == nil {
		w.partCtx, w.stopParts = context.WithCancelCause(context.Background())
	}
	// Write has no context: the part timeout bounds how long a Write that
	// waits for a part can block on a store that stopped answering.
	ctx, cancel := context.WithTimeout(w.partCtx, w.b.cfg.partTimeout(int64(len(buf))))
	go func() {
		defer cancel()
		// No payload signature: over HTTPS the transport protects the
		// bytes, and on two cores hashing every byte for it costs about a
		// third of the throughput (docs/performance.md).
		var etag string
		var err error
		if direct {
			var p minio.ObjectPart
			p, err = w.b.c.PutObjectPart(ctx, w.b.cfg.Bucket, key, uploadID,
				n, bytes.NewReader(buf), int64(len(buf)), minio.PutObjectPartOptions{DisableContentSha256: true})
			etag = p.ETag
		} else {
			etag, err = w.b.stagePart(ctx, id, uploadID, n, buf)
		}
		if err != nil {
			if cause := context.Cause(ctx); cause != nil {
				err = fmt.Errorf("%w (%w)", cause, err)
			}
			err = fmt.Errorf("upload part %d: %w", n, translate(err))
		}
		// The buffer goes back at once, for whichever Writer waits for
		// one, not when this Writer next looks at its parts.
		w.b.mem.put(buf)
		done <- partResult{etag: etag, err: err}
	}()
}

// waitOldest waits for the oldest part in flight and records it as whole.
// If ctx ends first, every part in flight is cancelled (they return at
// once) and the error wraps ctx's.
func (w *writer) waitOldest(ctx context.Context) error {
	var r partResult
	select {
	case r = <-w.inflight[0]:
	case <-ctx.Done():
		w.stopParts(fmt.Errorf("gave up waiting for the part upload: %w", context.Cause(ctx)))
		r = <-w.inflight[0]
	}
	w.inflight = w.inflight[1:]
	if r.err != nil {
		return r.err
	}
	w.parts = append(w.parts, r.etag)
	return nil
}

// drain waits for every part in flight, or until ctx ends (then it cancels
// them), and returns the first failure.
func (w *writer) drain(ctx context.Context) error {
	var first error
	for len(w.inflight) > 0 {
		if err := w.waitOldest(ctx); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// Checkpoint stores the bytes written since the last Checkpoint that are not
// in a whole part yet as one more pending object, then the state (offset,
// parts, pending objects, state) with If-Match on the state's ETag: that
// write is the commit point. So a Checkpoint sends only new bytes, however
// often it runs. It returns the new durable offset, or an error wrapping
// storage.ErrClosed, storage.ErrNotFound (the upload was deleted, by any
// instance), storage.ErrLocked (another Writer took it over),
// storage.ErrNoSpace or the context's error. A Checkpoint that failed may
// still have stored its state (the store took it, its answer was lost):
// the next Resume then continues from it, which is never below the offset
// the previous Checkpoint returned.
func (w *writer) Checkpoint(ctx context.Context, state []byte) (int64, error) {
	if err := w.usable(ctx, "checkpoint"); err != nil {
		return w.st.Offset, err
	}
	if err := w.drain(ctx); err != nil {
		return w.st.Offset, w.fail(fmt.Errorf("s3: checkpoint %s: %w", w.st.ID, err))
	}
	next := w.st
	next.Meta.Size = w.size
	next.Seq++
	next.Owner = w.lease.owner
	next.Parts = w.parts
	next.Offset = w.written
	next.State = bytes.Clone(state)
	next.Modified = w.b.cfg.Now()
	// The pending objects stay valid while the part they belong to is not
	// whole; once it was uploaded, they hold nothing the buffer needs.
	var stored int64
	next.Pending = nil
	carried := len(w.parts) == len(w.st.Parts)
	if carried {
		next.Pending = w.st.Pending
		stored = w.st.pendingSize()
	}
	var fresh string // the pending object this Checkpoint wrote
	if int64(len(w.buf)) > stored {
		fresh = w.b.keys.pending(w.st.ID, next.Seq)
		chunk := w.buf[stored:]
		_, err := w.b.c.PutObject(ctx, w.b.cfg.Bucket, fresh, bytes.NewReader(chunk), int64(len(chunk)), "", "",
			minio.PutObjectOptions{DisableContentSha256: true, DisableMultipart: true})
		if err != nil {
			return w.st.Offset, w.fail(fmt.Errorf("s3: checkpoint %s: store pending bytes: %w", w.st.ID, translate(err)))
		}
		next.Pending = append(slices.Clip(next.Pending), pendingChunk{Key: fresh, Size: int64(len(chunk))})
	}
	tag, err := w.b.writeState(ctx, &next, ifMatch(w.tag))
	if err != nil {
		// A failed state write may still have landed: its answer can be
		// lost (the context ended, the connection broke) after the store
		// took it, or the store may finish it after we gave up. Deleting
		// the fresh pending object then leaves a state that lists a
		// missing object, and the next Resume answers not_found for an
		// upload whose bytes were acknowledged. So it goes only if the
		// store refused the write and the state is known to be someone
		// else's, or gone; otherwise it costs only space until Commit,
		// Delete or DeleteExpired removes uploads/<id>/. (No read after
		// an error that says nothing: a store that is too slow to answer
		// is not asked more.)
		if fresh != "" && (isConflict(err) || isNotFound(err)) && !w.b.mayHold(ctx, w.st.ID, next.Owner) {
			w.b.remove(context.WithoutCancel(ctx), fresh)
		}
		if isConflict(err) || isNotFound(err) {
			err = w.whyLost(ctx)
		} else {
			err = translate(err)
		}
		return w.st.Offset, w.fail(fmt.Errorf("s3: checkpoint %s: write state: %w", w.st.ID, err))
	}
	old := w.st.Pending
	w.st, w.tag = next, tag
	if !carried {
		// The part they belonged to is whole. A leftover costs only space:
		// Commit and Delete remove the whole uploads/<id>/ prefix.
		for _, c := range old {
			w.b.remove(ctx, c.Key)
		}
	}
	return w.st.Offset, nil
}

// Commit completes the multipart upload (a zero-byte file is one plain PUT),
// then publishes the file record with the digest: that write is the commit
// point, after which Stat, Open and List see the file. Helper objects are
// deleted last. It returns an error wrapping storage.ErrIncomplete unless
// the size is known and every byte of it was written and checkpointed (a
// size SetSize declared since the last Checkpoint is first recorded in the
// state, so that a Commit cut short is finished by Resume), storage.ErrInvalid for a
// malformed digest, storage.ErrClosed, storage.ErrNotFound or
// storage.ErrLocked. On success the lease is released.
func (w *writer) Commit(ctx context.Context, sha256 string) (storage.Info, error) {
	if err := w.usable(ctx, "commit"); err != nil {
		return storage.Info{}, err
	}
	if err := w.drain(ctx); err != nil {
		return storage.Info{}, w.fail(fmt.Errorf("s3: commit %s: %w", w.st.ID, err))
	}
	id := w.st.ID
	if w.size == storage.SizeUnknown || w.written != w.st.Offset || w.st.Offset != w.size {
		return storage.Info{}, fmt.Errorf("s3: commit %s: written %d, durable %d, size %d: %w",
			id, w.written, w.st.Offset, w.size, storage.ErrIncomplete)
	}
	if !storage.ValidSHA256(sha256) {
		return storage.Info{}, fmt.Errorf("s3: commit %s: digest is not 64 lower-case hex digits: %w", id, storage.ErrInvalid)
	}
	if w.st.Meta.Size != w.size {
		if _, err := w.Checkpoint(ctx, w.st.State); err != nil {
			return storage.Info{}, fmt.Errorf("s3: commit %s: record the size: %w", id, err)
		}
	}
	// A Delete on another instance removes the state first: do not bring
	// the file back to life if it already started.
	opts := minio.StatObjectOptions{}
	opts.SetMatchETag(w.tag)
	if _, err := w.b.c.StatObject(ctx, w.b.cfg.Bucket, w.b.keys.state(id), opts); err != nil {
		if isConflict(err) || isNotFound(err) {
			err = w.whyLost(ctx)
		}
		return storage.Info{}, w.fail(fmt.Errorf("s3: commit %s: check state: %w", id, translate(err)))
	}
	etag, err := w.assemble(ctx)
	if err != nil {
		return storage.Info{}, w.fail(fmt.Errorf("s3: commit %s: %w", id, err))
	}
	fr := fileRecord{
		Schema:   infoSchema,
		ID:       id,
		Meta:     w.st.Meta,
		SHA256:   sha256,
		Created:  w.st.Created,
		Modified: w.b.cfg.Now(),
		ETag:     etag,
	}
	if err := w.publish(ctx, fr); err != nil {
		return storage.Info{}, w.fail(fmt.Errorf("s3: commit %s: publish: %w", id, err))
	}
	w.lease.stop()
	// The file is published: what follows is tidying, which DeleteExpired
	// finishes if it fails or we stop here.
	_ = w.b.finishCommit(ctx, fr)
	info := fr.info()
	w.final = &info
	w.release()
	return info, nil
}

// publish writes the file record, unless one exists. minio-go retries a
// request whose answer was lost, and the retry of this conditional write then
// fails against our own first attempt: a stored record for the same bytes
// and digest is a success.
func (w *writer) publish(ctx context.Context, fr fileRecord) error {
	_, err := w.b.putJSON(ctx, w.b.keys.info(fr.ID), fr, ifNoneMatch)
	if err == nil || !isConflict(err) {
		return translate(err)
	}
	cur, rerr := w.b.readFile(ctx, fr.ID)
	if rerr == nil && cur.ETag == fr.ETag && cur.SHA256 == fr.SHA256 {
		return nil
	}
	return fmt.Errorf("a record exists already: %w", err)
}

// assemble turns the uploaded parts into the data object and returns its ETag.
func (w *writer) assemble(ctx context.Context) (string, error) {
	b, id := w.b, w.st.ID
	switch {
	case w.st.Meta.Size == 0:
		info, err := b.c.PutObject(ctx, b.cfg.Bucket, b.keys.data(id), bytes.NewReader(nil), 0, "", "",
			b.dataOptions(id, w.st.Meta, w.st.Created))
		if err != nil {
			return "", fmt.Errorf("store empty file: %w", translate(err))
		}
		if w.st.UploadID != "" {
			// Started at Create while the size was unknown; it holds nothing.
			b.c.AbortMultipartUpload(ctx, b.cfg.Bucket, b.keys.data(id), w.st.UploadID)
		}
		return info.ETag, nil
	case !w.assembled:
		parts := make([]minio.CompletePart, len(w.parts))
		for i, etag := range w.parts {
			parts[i] = minio.CompletePart{PartNumber: i + 1, ETag: etag}
		}
		info, err := b.c.CompleteMultipartUpload(ctx, b.cfg.Bucket, b.keys.data(id), w.st.UploadID, parts, minio.PutObjectOptions{})
		if err == nil {
			return info.ETag, nil
		}
		if !isNotFound(err) {
			return "", fmt.Errorf("complete multipart upload: %w", translate(err))
		}
		// Completed by an earlier attempt whose answer we lost?
		if ok, aerr := b.assembled(ctx, &w.st); aerr != nil || !ok {
			return "", fmt.Errorf("complete multipart upload: %w", translate(err))
		}
	}
	oi, err := b.c.StatObject(ctx, b.cfg.Bucket, b.keys.data(id), minio.StatObjectOptions{})
	if err != nil {
		return "", fmt.Errorf("stat data: %w", translate(err))
	}
	return oi.ETag, nil
}

// Abort deletes the upload (multipart upload, state and helper objects) and
// releases the lease. It returns an error wrapping storage.ErrClosed,
// storage.ErrNotFound if the upload was deleted meanwhile, or
// storage.ErrLocked if another Writer took it over (then nothing is deleted);
// the Writer is released in every case.
func (w *writer) Abort(ctx context.Context) error {
	if w.closed {
		return fmt.Errorf("s3: abort: %w", storage.ErrClosed)
	}
	// The upload and its parts are going anyway: stop the parts in flight.
	w.cancelParts(storage.ErrClosed)
	if err := w.usable(ctx, "abort"); errors.Is(err, storage.ErrNotFound) || errors.Is(err, storage.ErrLocked) {
		w.Close()
		return err
	}
	w.gone.Store(true)
	w.lease.stop()
	err := w.b.removeUpload(ctx, w.st)
	w.release()
	if err != nil {
		return fmt.Errorf("s3: abort %s: %w", w.st.ID, err)
	}
	return nil
}

// Close releases the lease without completing; bytes after the last
// Checkpoint are dropped (the next Resume starts at Offset). Close after
// Commit, Abort or Close does nothing and returns nil, so it is safe to defer.
func (w *writer) Close() error {
	if w.closed {
		return nil
	}
	// A part still in flight is not in the last Checkpoint, and the next
	// Writer uploads it again: stop it rather than wait on the store.
	w.cancelParts(storage.ErrClosed)
	ctx, cancel := context.WithTimeout(context.Background(), releaseTimeout)
	defer cancel()
	err := w.lease.release(ctx)
	w.release()
	if err != nil {
		return fmt.Errorf("s3: close %s: %w", w.st.ID, err)
	}
	return nil
}

// cancelParts cancels every part upload in flight with cause and waits for
// them to return, which they do at once; nothing outlives the Writer.
func (w *writer) cancelParts(cause error) {
	if len(w.inflight) == 0 {
		return
	}
	w.stopParts(cause)
	_ = w.drain(context.Background())
}

// begin starts the Writer's lease renewals and makes it known to Delete.
func (w *writer) begin() {
	w.partCtx, w.stopParts = context.WithCancelCause(context.Background())
	w.done = make(chan struct{})
	w.lease.keep()
	w.b.register(w)
}

// release forgets the Writer and drops its buffer.
func (w *writer) release() {
	if w.stopParts != nil {
		w.stopParts(storage.ErrClosed)
	}
	w.lease.stop()
	w.closed = true
	w.b.mem.put(w.buf)
	w.buf = nil
	w.b.unregister(w)
	if w.done != nil {
		select {
		case <-w.done:
		default:
			close(w.done)
		}
	}
}

// usable reports why the Writer cannot write, checkpoint or commit now.
func (w *writer) usable(ctx context.Context, op string) error {
	switch {
	case w.closed:
		return fmt.Errorf("s3: %s: %w", op, storage.ErrClosed)
	case w.gone.Load():
		return fmt.Errorf("s3: %s %s: deleted: %w", op, w.st.ID, storage.ErrNotFound)
	case w.err != nil:
		return fmt.Errorf("s3: %s %s: writer failed earlier: %w", op, w.st.ID, w.err)
	case w.b.expired(w.st):
		// Untouched past its expiry, the upload is gone for everyone, even
		// for a Writer that kept it leased while idle.
		return w.fail(fmt.Errorf("s3: %s %s: expired: %w", op, w.st.ID, storage.ErrNotFound))
	case w.lease.lost.Load():
		return w.fail(fmt.Errorf("s3: %s %s: %w", op, w.st.ID, w.whyLost(ctx)))
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("s3: %s %s: %w", op, w.st.ID, err)
	}
	return nil
}

// fail records err as the reason the Writer is unusable and returns it.
func (w *writer) fail(err error) error {
	if errors.Is(err, storage.ErrNotFound) {
		w.gone.Store(true)
	}
	w.err = err
	return err
}

// whyLost tells apart the two reasons a conditional write on our state or
// lease can fail: the upload was deleted (storage.ErrNotFound), or another
// Writer took it over (storage.ErrLocked).
func (w *writer) whyLost(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), releaseTimeout)
	defer cancel()
	ok, err := w.b.exists(ctx, w.b.keys.state(w.st.ID))
	switch {
	case err != nil:
		return fmt.Errorf("upload changed by someone else (%w)", err)
	case !ok:
		return fmt.Errorf("upload was deleted: %w", storage.ErrNotFound)
	}
	return fmt.Errorf("upload was taken over by another writer: %w", storage.ErrLocked)
}
