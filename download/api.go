package download

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/ferryhq/ferry/internal/httperr"
	"github.com/ferryhq/ferry/storage"
)

// Paging of GET /api/files.
const (
	defaultLimit = 100
	maxLimit     = 1000
)

// FileJSON is the metadata of a file or an upload as the API sends it. Times
// are RFC 3339 in UTC.
type FileJSON struct {
	ID       string    `json:"id"`
	Name     string    `json:"name"`
	Size     int64     `json:"size"`
	MIME     string    `json:"mime"`
	SHA256   string    `json:"sha256,omitempty"` // only once complete
	Created  time.Time `json:"created"`
	Complete bool      `json:"complete"`
	Offset   int64     `json:"offset"`
	// ExpiresAt is only set while the upload is incomplete.
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
}

// NewFileJSON converts storage's Info to the API's form.
func NewFileJSON(info storage.Info) FileJSON {
	f := FileJSON{
		ID:       info.ID,
		Name:     info.Meta.Name,
		Size:     info.Meta.Size,
		MIME:     info.Meta.MIME,
		Created:  info.Created.UTC(),
		Complete: info.Complete,
		Offset:   info.Offset,
	}
	if info.Complete {
		f.SHA256 = info.SHA256
	} else if !info.ExpiresAt.IsZero() {
		t := info.ExpiresAt.UTC()
		f.ExpiresAt = &t
	}
	return f
}

// ListJSON is the answer of GET /api/files.
type ListJSON struct {
	Files []FileJSON `json:"files"`
	// Next is the cursor for ?after= that fetches the following page; it is
	// absent on the last page.
	Next string `json:"next,omitempty"`
}

// ListFiles serves GET /api/files: completed files, newest first.
// ?limit= is the page size: default 100; a value over 1000 is clamped to
// 1000 (asking for "everything" is not an error, the client pages on with
// next); anything but a whole number >= 1 is an httperr.BadRequest, as is a
// cursor in ?after= that storage rejects (storage.ErrInvalid or
// storage.ErrNotFound from List). Other storage errors are answered wrapped,
// all through httperr.Write.
func (h *Handler) ListFiles(w http.ResponseWriter, r *http.Request) {
	page, err := h.listFiles(r)
	if err != nil {
		httperr.Write(w, r, err, h.log)
		return
	}
	writeJSON(w, page)
}

func (h *Handler) listFiles(r *http.Request) (ListJSON, error) {
	q := r.URL.Query()
	limit := defaultLimit
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			return ListJSON{}, httperr.BadRequest("limit %q is not a whole number >= 1", s)
		}
		limit = min(n, maxLimit)
	}
	after := q.Get("after")
	page, err := h.backend.List(r.Context(), after, limit)
	switch {
	case err == nil:
	case after != "" && (errors.Is(err, storage.ErrInvalid) || errors.Is(err, storage.ErrNotFound)):
		e := httperr.BadRequest("cursor %q is not valid", after)
		e.Err = err
		return ListJSON{}, e
	default:
		return ListJSON{}, fmt.Errorf("download: list after %q: %w", after, err)
	}
	out := ListJSON{Files: make([]FileJSON, 0, len(page.Files)), Next: page.Next}
	for _, info := range page.Files {
		out.Files = append(out.Files, NewFileJSON(info))
	}
	return out, nil
}

// FileInfo serves GET /api/files/{id}: the metadata of a file or of an
// upload still in progress. The id is r.PathValue("id"); one that is not a
// canonical UUID or is unknown answers storage.ErrNotFound's 404 through
// httperr.Write, as do other storage errors theirs.
func (h *Handler) FileInfo(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if !storage.ValidID(id) {
		httperr.Write(w, r, fmt.Errorf("download: id %q: %w", id, storage.ErrNotFound), h.log)
		return
	}
	info, err := h.backend.Stat(r.Context(), id)
	if err != nil {
		httperr.Write(w, r, fmt.Errorf("download: stat %s: %w", id, err), h.log)
		return
	}
	writeJSON(w, NewFileJSON(info))
}

// writeJSON answers 200 with v as JSON, not to be cached: the file list and
// an upload's offset change.
func writeJSON(w http.ResponseWriter, v any) {
	hdr := w.Header()
	hdr.Set("Content-Type", "application/json")
	hdr.Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	// Encoding cannot fail for the API's types; a write error means the
	// client left.
	_ = json.NewEncoder(w).Encode(v)
}
