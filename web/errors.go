package web

import (
	"errors"
	"log/slog"

	"github.com/labstack/echo/v4"

	"github.com/ferryhq/ferry/internal/httperr"
)

// errorHandler is the echo.HTTPErrorHandler of the server: every error a
// route returns is answered by httperr.Write, echo's own (an unknown route, a
// wrong method…) named by their status. Once a response is committed nothing
// can be said any more, so the error is only logged.
func errorHandler(logger *slog.Logger) echo.HTTPErrorHandler {
	if logger == nil {
		logger = slog.Default()
	}
	return func(err error, c echo.Context) {
		err = fromEcho(err)
		if c.Response().Committed {
			req := c.Request()
			status, _ := httperr.Classify(err)
			level := slog.LevelError
			if status < 500 {
				level = slog.LevelDebug // the client left mid-answer
			}
			logger.Log(req.Context(), level, "request failed", "method", req.Method, "path", req.URL.Path,
				"status", status, "committed", true, "err", err)
			return
		}
		httperr.Write(c.Response(), c.Request(), err, logger)
	}
}

// fromEcho turns echo's *echo.HTTPError into httperr's error for its status,
// so that httperr needs to know nothing of echo; other errors pass unchanged.
func fromEcho(err error) error {
	var he *echo.HTTPError
	var own *httperr.Error
	if errors.As(err, &he) && !errors.As(err, &own) {
		return httperr.FromStatus(he.Code, err)
	}
	return err
}
