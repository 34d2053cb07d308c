package httpupload

import (
	"math"
	"net/http"
	"strconv"

	"github.com/ferryhq/ferry/storage"
)

// creation is what a POST asks for, whichever protocol it speaks.
type creation struct {
	size     int64 // storage.SizeUnknown when deferred
	meta     metadata
	body     bool // the request carries bytes of the file
	complete bool // IETF: the body is the whole file (Upload-Complete: ?1)
	checksum *bodyChecksum
}

// parseCreation reads a POST in its protocol's terms.
func (h *Handler) parseCreation(r *http.Request, p protocol) (c creation, err error) {
	if p.tus {
		return h.parseTusCreation(r)
	}
	return h.parseIETFCreation(r, p)
}

func (h *Handler) parseTusCreation(r *http.Request) (c creation, err error) {
	if _, ok := r.Header["Upload-Concat"]; ok {
		// Partial uploads would be stored as files of their own, and the
		// final one could never be made: refuse before creating anything.
		return c, badRequest("Upload-Concat: this server does not offer the concatenation extension")
	}
	length, hasLength, err := lengthHeader(r, "Upload-Length")
	if err != nil {
		return c, badRequest("%v", err)
	}
	defer_, hasDefer, err := header(r, "Upload-Defer-Length")
	switch {
	case err != nil:
		return c, badRequest("%v", err)
	case hasLength && hasDefer:
		return c, badRequest("send Upload-Length or Upload-Defer-Length, not both")
	case hasDefer && defer_ != "1":
		return c, badRequest("Upload-Defer-Length must be 1")
	case !hasLength && !hasDefer:
		return c, badRequest("Upload-Length or Upload-Defer-Length: 1 is required")
	}
	c.size = storage.SizeUnknown
	if hasLength {
		c.size = length
	}
	v, _, err := header(r, "Upload-Metadata")
	if err != nil {
		return c, badRequest("%v", err)
	}
	if c.meta, err = parseTusMetadata(v); err != nil {
		return c, badRequest("%v", err)
	}
	if c.checksum, err = parseChecksum(r); err != nil {
		return c, badRequest("%v", err)
	}
	// creation-with-upload: bytes come only with tus's own content type.
	c.body = r.Header.Get("Content-Type") == "application/offset+octet-stream" && r.ContentLength != 0
	return c, nil
}

func (h *Handler) parseIETFCreation(r *http.Request, p protocol) (c creation, err error) {
	complete, present, err := p.uploadComplete(r)
	if err != nil {
		return c, badRequest("%v", err)
	}
	if !present {
		return c, badRequest("Upload-Complete (?1 or ?0) is required")
	}
	c.complete, c.body = complete, r.ContentLength != 0
	length, hasLength, err := lengthHeader(r, "Upload-Length")
	if err != nil {
		return c, badRequest("%v", err)
	}
	c.size = storage.SizeUnknown
	if hasLength {
		c.size = length
	}
	if complete && r.ContentLength >= 0 {
		if hasLength && length != r.ContentLength {
			return c, errInconsistentLength(p, "Upload-Length %d and Content-Length %d of a complete upload differ", length, r.ContentLength)
		}
		c.size = r.ContentLength
	}
	if c.meta, err = ietfMetadata(r); err != nil {
		return c, badRequest("%v", err)
	}
	// tus-js-client and Uppy send their metadata as tus Upload-Metadata
	// even when they speak the IETF draft: take what the representation
	// headers do not say.
	if v, ok, _ := header(r, "Upload-Metadata"); ok {
		tm, err := parseTusMetadata(v)
		if err != nil {
			return c, badRequest("%v", err)
		}
		if c.meta.name == "" {
			c.meta.name = tm.name
		}
		if c.meta.mime == "" {
			c.meta.mime = tm.mime
		}
		c.meta.sha256 = tm.sha256
	}
	return c, nil
}

// create serves POST: a new upload, with its first bytes when the request
// carries them.
func (h *Handler) create(w http.ResponseWriter, r *http.Request, p protocol) error {
	c, err := h.parseCreation(r, p)
	if err != nil {
		return err
	}
	if h.maxSize > 0 && c.size > h.maxSize {
		return errTooLarge(h.maxSize)
	}
	if err := checkName(c.meta.name); err != nil {
		return badRequest("%v", err)
	}
	if c.meta.mime != "" {
		if _, ok := storage.MediaType(c.meta.mime); !ok {
			return badRequest("the file type %q is not a media type", c.meta.mime)
		}
		if !h.allowed.Allows(c.meta.mime) {
			return errForbiddenType(c.meta.mime)
		}
	}
	if c.meta.sha256 != "" && !storage.ValidSHA256(c.meta.sha256) { // lowered by parseTusMetadata
		return badRequest("the sha256 in Upload-Metadata must be 64 hex digits")
	}
	if c.size >= 0 && r.ContentLength > c.size {
		return errPastSize(c.size)
	}
	if !h.begin() {
		return errShuttingDown
	}
	defer h.active.Done()

	id := h.newID()
	if !storage.ValidID(id) {
		return storageError("allocate id", errBadID)
	}
	meta := storage.Meta{Name: sanitizeName(c.meta.name, id), Size: c.size, MIME: c.meta.mime, SHA256: c.meta.sha256}
	sw, err := h.backend.Create(r.Context(), id, meta)
	if err != nil {
		return storageError("create", err)
	}
	h.metrics.created(p)
	t, err := h.hold(r, sw)
	if err != nil {
		return err
	}
	defer t.release()

	loc := h.base + id
	w.Header().Set("Location", loc)
	if !p.tus && r.ProtoAtLeast(1, 1) {
		h.interim(w, p, loc)
	}
	if c.body {
		if err := h.receive(w, r, p, t, c.checksum, c.complete); err != nil {
			return err
		}
	} else if c.size == 0 {
		if _, err := t.finish(); err != nil {
			return err
		}
	}
	h.describe(w, p, t)
	w.WriteHeader(http.StatusCreated)
	return nil
}

// interim sends IETF's 104 (Upload Resumption Supported): the client knows
// where to resume before it has sent a byte. It is written past echo's
// Response, which would take any status as final.
func (h *Handler) interim(w http.ResponseWriter, p protocol, loc string) {
	hd := w.Header()
	p.stamp(hd)
	if limit := h.uploadLimit(); limit != "" {
		hd.Set("Upload-Limit", limit)
	}
	raw := w
	for {
		u, ok := raw.(interface{ Unwrap() http.ResponseWriter })
		if !ok {
			break
		}
		raw = u.Unwrap()
	}
	raw.WriteHeader(104)
}

// receive streams the request's body into t: durably as it comes, unless a
// checksum must first be verified (then nothing of the request is kept if
// it does not match). complete says the body ends the upload (IETF
// Upload-Complete: ?1), which fixes a length not yet known. It finishes
// the upload once every byte is in.
func (h *Handler) receive(w http.ResponseWriter, r *http.Request, p protocol, t *transfer, sum *bodyChecksum, complete bool) error {
	size := t.size()
	limit, tooLong := int64(math.MaxInt64), error(errTooLarge(h.maxSize))
	switch {
	case size >= 0:
		limit, tooLong = size-t.written, errPastSize(size)
	case h.maxSize > 0:
		limit = h.maxSize - t.written
	}
	_, err := t.copyBody(w, r.Body, limit, tooLong, sum == nil, sum.writer())
	if stop, ok := err.(errStop); ok {
		// Taken over or shutting down: keep what arrived (unless a checksum
		// cannot vouch for it), and say why this request ended.
		if sum == nil {
			if cerr := t.checkpoint(); cerr != nil {
				h.log.Warn("httpupload: checkpoint at stop", "id", t.id, "err", cerr)
			}
		}
		return stop.answer
	}
	if err != nil {
		if sum == nil && !t.done {
			// A client cut off mid-body keeps what became durable, and
			// what arrived before the cut is made so now.
			if cerr := t.checkpoint(); cerr != nil {
				h.log.Warn("httpupload: checkpoint after a cut-off body", "id", t.id, "err", cerr)
			}
		}
		return err
	}
	if !sum.matches() {
		return errChecksum("the body does not match its Upload-Checksum; nothing of it was stored")
	}
	if complete {
		if size == storage.SizeUnknown {
			if err := t.setSize(t.written); err != nil {
				return err
			}
			size = t.written
		}
		if t.written != size {
			if err := t.checkpoint(); err != nil {
				return err
			}
			return errInconsistentLength(p, "the upload is complete at %d bytes, but its length is %d", t.written, size)
		}
	}
	if size >= 0 && t.written == size {
		_, err := t.finish()
		return err
	}
	return t.checkpoint()
}

// describe sets the headers that tell where an upload stands after a
// request that held it.
func (h *Handler) describe(w http.ResponseWriter, p protocol, t *transfer) {
	info := t.w.Info()
	info.Offset = t.durable
	info.Complete = t.done && t.durable == info.Meta.Size
	h.describeInfo(w, p, info)
}

// describeInfo sets the headers that tell where an upload stands.
func (h *Handler) describeInfo(w http.ResponseWriter, p protocol, info storage.Info) {
	hd := w.Header()
	p.stamp(hd)
	hd.Set("Upload-Offset", strconv.FormatInt(info.Offset, 10))
	if info.Meta.Size >= 0 {
		hd.Set("Upload-Length", strconv.FormatInt(info.Meta.Size, 10))
	} else if p.tus {
		hd.Set("Upload-Defer-Length", "1")
	}
	p.setComplete(hd, info.Complete)
	if !p.tus {
		if limit := h.uploadLimit(); limit != "" {
			hd.Set("Upload-Limit", limit)
		}
	}
	if !info.Complete && !info.ExpiresAt.IsZero() {
		hd.Set("Upload-Expires", info.ExpiresAt.UTC().Format(http.TimeFormat))
	}
	if info.Complete {
		hd.Set("Content-Location", "/files/"+info.ID)
	}
}

// expired reports whether an incomplete upload is past its expiry but not
// deleted yet: it is answered as gone (410) and not written any more.
func (h *Handler) expired(info storage.Info) bool {
	return !info.Complete && !info.ExpiresAt.IsZero() && h.now().After(info.ExpiresAt)
}
