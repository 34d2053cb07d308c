package httpupload

import (
	"context"
	"errors"
	"net/http"

	"github.com/ferryhq/ferry/storage"
)

// append serves PATCH: bytes appended at Upload-Offset.
func (h *Handler) append(w http.ResponseWriter, r *http.Request, p protocol, id string) error {
	offset, ok, err := lengthHeader(r, "Upload-Offset")
	switch {
	case err != nil:
		return badRequest("%v", err)
	case !ok:
		return badRequest("Upload-Offset is required")
	}
	var complete bool
	var sum *bodyChecksum
	if p.tus {
		if r.Header.Get("Content-Type") != "application/offset+octet-stream" {
			return fail(http.StatusUnsupportedMediaType, "bad_content_type", "a tus PATCH has Content-Type: application/offset+octet-stream")
		}
		if sum, err = parseChecksum(r); err != nil {
			return badRequest("%v", err)
		}
	} else {
		var present bool
		if complete, present, err = p.uploadComplete(r); err != nil {
			return badRequest("%v", err)
		} else if !present {
			return badRequest("Upload-Complete (?1 or ?0) is required")
		}
	}
	length, hasLength, err := lengthHeader(r, "Upload-Length")
	if err != nil {
		return badRequest("%v", err)
	}
	if hasLength && h.maxSize > 0 && length > h.maxSize {
		return errTooLarge(h.maxSize)
	}
	if !storage.ValidID(id) {
		return storage.ErrNotFound
	}
	if !h.begin() {
		return errShuttingDown
	}
	defer h.active.Done()

	sw, err := h.acquire(r.Context(), id)
	if errors.Is(err, storage.ErrComplete) {
		return h.appendToComplete(w, r, p, id, offset)
	}
	if err != nil {
		return storageError("resume", err)
	}
	t, err := h.hold(r, sw)
	if err != nil {
		return err
	}
	defer t.release()
	info := sw.Info()
	if h.expired(info) {
		return errGone
	}
	if offset != t.durable {
		return errOffsetMismatch(p, t.durable, offset)
	}
	size := info.Meta.Size
	if hasLength && size != length {
		if size >= 0 {
			return errInconsistentLength(p, "the upload's length is %d, not %d", size, length)
		}
		if length < offset {
			return errInconsistentLength(p, "Upload-Length %d is below the offset %d", length, offset)
		}
		if err := t.setSize(length); err != nil {
			return err
		}
		size = length
	}
	if size >= 0 && r.ContentLength >= 0 {
		switch {
		case offset+r.ContentLength > size:
			return errPastSize(size)
		case complete && offset+r.ContentLength != size:
			return errInconsistentLength(p, "the body ends at %d, but the upload's length is %d", offset+r.ContentLength, size)
		}
	}
	if err := h.receive(w, r, p, t, sum, complete); err != nil {
		return err
	}
	h.describe(w, p, t)
	status := http.StatusNoContent
	if !p.tus && t.done {
		status = http.StatusOK
	}
	w.WriteHeader(status)
	return nil
}

// appendToComplete answers a PATCH of an upload that is already complete:
// the retry of a request whose answer was lost, when it adds nothing.
func (h *Handler) appendToComplete(w http.ResponseWriter, r *http.Request, p protocol, id string, offset int64) error {
	info, err := h.backend.Stat(r.Context(), id)
	if err != nil {
		return storageError("stat", err)
	}
	if offset != info.Meta.Size {
		return errOffsetMismatch(p, info.Meta.Size, offset)
	}
	if r.ContentLength > 0 {
		return errCompleted(p)
	}
	h.describeInfo(w, p, info)
	status := http.StatusNoContent
	if !p.tus {
		status = http.StatusOK
	}
	w.WriteHeader(status)
	return nil
}

// acquire takes the upload's lock for this request: from a live request
// that holds it too, by takeover (waiting up to TakeoverWait for it to let
// go), or as a plain Resume where the backend cannot take over.
func (h *Handler) acquire(ctx context.Context, id string) (storage.Writer, error) {
	taker, ok := storage.As[storage.TakeOverer](h.backend)
	if !ok {
		return h.backend.Resume(ctx, id)
	}
	ctx, cancel := context.WithTimeout(ctx, h.takeoverWait)
	defer cancel()
	return taker.TakeOver(ctx, id)
}

// head serves HEAD: where the upload stands. An HTTP request still
// holding the upload (its client usually gone, the server not knowing yet)
// is taken over first, as tusd does, so that the offset told is final: the
// PATCH that follows cannot find it moved. A WebSocket holding the upload
// is left alone and the stored state read. The offset told is durable.
func (h *Handler) head(w http.ResponseWriter, r *http.Request, p protocol, id string) error {
	if !storage.ValidID(id) {
		return storage.ErrNotFound
	}
	info, err := h.settled(r.Context(), id)
	if err != nil {
		return storageError("stat", err)
	}
	if h.expired(info) {
		return errGone
	}
	h.describeInfo(w, p, info)
	if p.tus {
		meta := map[string]string{"filename": info.Meta.Name}
		if info.Meta.MIME != "" {
			meta["filetype"] = info.Meta.MIME
		}
		w.Header().Set("Upload-Metadata", encodeTusMetadata(meta))
		w.WriteHeader(http.StatusOK)
		return nil
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// settled returns the upload's state once no HTTP request is writing it:
// a yielding holder is taken over and let go at once.
func (h *Handler) settled(ctx context.Context, id string) (storage.Info, error) {
	if _, ok := storage.As[storage.TakeOverer](h.backend); ok {
		sw, err := h.acquire(ctx, id)
		if err == nil {
			info := sw.Info()
			sw.Close()
			return info, nil
		}
		if !errors.Is(err, storage.ErrLocked) && !errors.Is(err, storage.ErrComplete) {
			return storage.Info{}, err
		}
	}
	return h.backend.Stat(ctx, id)
}

// terminate serves DELETE (tus termination, IETF cancellation): the upload
// and its bytes are deleted; a request writing it fails at its next write.
func (h *Handler) terminate(w http.ResponseWriter, r *http.Request, p protocol, id string) error {
	if !storage.ValidID(id) {
		return storage.ErrNotFound
	}
	if err := h.backend.Delete(r.Context(), id); err != nil {
		return storageError("delete", err)
	}
	p.stamp(w.Header())
	w.WriteHeader(http.StatusNoContent)
	return nil
}
