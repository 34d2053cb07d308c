package web

import (
	"fmt"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/ferryhq/ferry/storage"
)

// deleteFile serves DELETE /api/files/:id: removes a file or an incomplete
// upload and answers 204. storage.ErrNotFound for an id that is not a
// canonical UUID (storage is not asked) or that there is nothing to delete
// for; other storage errors wrapped.
//
// It lives here rather than in package download, which is the read side
// (GET and HEAD, read scope): deleting needs the full scope and, like
// minting a link, is one storage call with nothing of its own to serve.
func (s *Server) deleteFile(c echo.Context) error {
	id := c.Param("id")
	if !storage.ValidID(id) {
		return fmt.Errorf("web: delete %q: %w", id, storage.ErrNotFound)
	}
	if err := s.cfg.Backend.Delete(c.Request().Context(), id); err != nil {
		return fmt.Errorf("web: delete %s: %w", id, err)
	}
	return c.NoContent(http.StatusNoContent)
}
