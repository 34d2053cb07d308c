package download

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/ferryhq/ferry/internal/httperr"
	"github.com/ferryhq/ferry/storage"
)

// Paging of GET /api/files.
const (
	defaultLimit = 100
	maxLimit     = 1000
)

// healthTimeout bounds the storage check of GET /healthz, so that a store
// that hangs makes the check fail rather than pile up requests.
const healthTimeout = 5 * time.Second

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
// storage.ErrNotFound from List). Other storage errors are returned wrapped.
func (h *Handler) ListFiles(c echo.Context) error {
	limit := defaultLimit
	if s := c.QueryParam("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			return httperr.BadRequest("limit %q is not a whole number >= 1", s)
		}
		limit = min(n, maxLimit)
	}
	after := c.QueryParam("after")
	page, err := h.backend.List(c.Request().Context(), after, limit)
	switch {
	case err == nil:
	case after != "" && (errors.Is(err, storage.ErrInvalid) || errors.Is(err, storage.ErrNotFound)):
		e := httperr.BadRequest("cursor %q is not valid", after)
		e.Err = err
		return e
	default:
		return fmt.Errorf("download: list after %q: %w", after, err)
	}
	out := ListJSON{Files: make([]FileJSON, 0, len(page.Files)), Next: page.Next}
	for _, info := range page.Files {
		out.Files = append(out.Files, NewFileJSON(info))
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(http.StatusOK, out)
}

// FileInfo serves GET /api/files/:id: the metadata of a file or of an upload
// still in progress. storage.ErrNotFound for an id that is not a canonical
// UUID or is unknown.
func (h *Handler) FileInfo(c echo.Context) error {
	id := c.Param("id")
	if !storage.ValidID(id) {
		return fmt.Errorf("download: id %q: %w", id, storage.ErrNotFound)
	}
	info, err := h.backend.Stat(c.Request().Context(), id)
	if err != nil {
		return fmt.Errorf("download: stat %s: %w", id, err)
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(http.StatusOK, NewFileJSON(info))
}

// DeleteFile serves DELETE /api/files/:id: removes a file or an incomplete
// upload and answers 204. storage.ErrNotFound for an id that is not a
// canonical UUID or that there is nothing to delete for.
func (h *Handler) DeleteFile(c echo.Context) error {
	id := c.Param("id")
	if !storage.ValidID(id) {
		return fmt.Errorf("download: id %q: %w", id, storage.ErrNotFound)
	}
	if err := h.backend.Delete(c.Request().Context(), id); err != nil {
		return fmt.Errorf("download: delete %s: %w", id, err)
	}
	return c.NoContent(http.StatusNoContent)
}

// Health serves GET /healthz: 200 {"status":"ok"} when storage answers within
// 5s: its Ping if it implements storage.Pinger, else a one-file List. When
// it does not, it returns httperr.ErrUnavailable's 503 wrapping the cause.
func (h *Handler) Health(c echo.Context) error {
	ctx, cancel := context.WithTimeout(c.Request().Context(), healthTimeout)
	defer cancel()
	var err error
	if p, ok := h.backend.(storage.Pinger); ok {
		err = p.Ping(ctx)
	} else {
		_, err = h.backend.List(ctx, "", 1)
	}
	if err != nil {
		return &httperr.Error{Status: httperr.ErrUnavailable.Status, Code: httperr.ErrUnavailable.Code,
			Message: "storage does not answer", Err: err}
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(http.StatusOK, map[string]string{"status": "ok"})
}
