package web

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/ferryhq/ferry/upload"
)

// LimitsJSON is the answer to GET /api/limits: what the server accepts, so
// that a client (the uploader page) can say so before sending anything.
type LimitsJSON struct {
	// MaxSize is the largest file accepted, in bytes; 0 means no limit.
	MaxSize int64 `json:"max_size"`
	// AllowedTypes are the media types accepted ("image/*", "video/mp4"),
	// judged by the file's content; empty means any.
	AllowedTypes []string `json:"allowed_types"`
	// MaxFrame is the largest binary WebSocket message accepted, in bytes.
	MaxFrame int64 `json:"max_frame"`
}

// limits serves GET /api/limits. It needs no token: the same limits are
// published to anyone by OPTIONS /uploads/ (Tus-Max-Size) and by every
// refusal, and the page shows them before a token is entered.
func (s *Server) limits(c echo.Context) error {
	l := LimitsJSON{MaxSize: s.cfg.MaxSize, AllowedTypes: s.cfg.AllowedTypes, MaxFrame: s.cfg.MaxFrame}
	if l.AllowedTypes == nil {
		l.AllowedTypes = []string{}
	}
	if l.MaxFrame == 0 {
		l.MaxFrame = upload.DefaultMaxFrame
	}
	c.Response().Header().Set("Cache-Control", "no-cache")
	return c.JSON(http.StatusOK, l)
}
