package web

import (
	"context"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/ferryhq/ferry/internal/httperr"
	"github.com/ferryhq/ferry/storage"
)

// healthTimeout bounds the storage check of GET /healthz, so that a store
// that hangs makes the check fail rather than pile up requests.
const healthTimeout = 5 * time.Second

// health serves GET and HEAD /healthz: 200 {"status":"ok"} when storage
// answers within healthTimeout: its Ping if it implements storage.Pinger,
// else a one-file List. When it does not, it returns httperr.ErrUnavailable's
// 503 wrapping the cause. The check is the server's, not the read side's:
// it needs no token and says whether the whole service can work.
func (s *Server) health(c echo.Context) error {
	ctx, cancel := context.WithTimeout(c.Request().Context(), healthTimeout)
	defer cancel()
	var err error
	if p, ok := storage.As[storage.Pinger](s.cfg.Backend); ok {
		err = p.Ping(ctx)
	} else {
		_, err = s.cfg.Backend.List(ctx, "", 1)
	}
	if err != nil {
		return &httperr.Error{Status: httperr.ErrUnavailable.Status, Code: httperr.ErrUnavailable.Code,
			Message: "storage does not answer", Err: err}
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(http.StatusOK, map[string]string{"status": "ok"})
}
