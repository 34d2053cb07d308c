// Package httperr is ferry's one map from errors to HTTP responses.
//
// Handlers return plain Go errors: storage's sentinels (storage.ErrNotFound…),
// an *Error made here for request problems, or anything else. Write turns
// every one of them into a status and a JSON body {"error": "<code>"}; an
// error it does not know becomes a 500 "internal_error" whose text is logged,
// never sent, so internal paths and messages do not leak.
package httperr

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"

	"github.com/ferryhq/ferry/storage"
)

// Error is a failure with the HTTP status and the machine-readable code the
// client sees. Message is for people and goes into the log, not the body.
type Error struct {
	Status  int
	Code    string
	Message string
	Err     error
	// Header is set on the response after Write has removed the headers
	// that describe a body, for errors whose status requires a header of its
	// own (a 416 carries Content-Range: bytes */size).
	Header http.Header
	// ProblemType, when set, makes the body an RFC 9457 problem
	// (application/problem+json) of that type, with Problem's members
	// beside "type", "title" and "error". The IETF resumable-upload draft
	// defines such types (mismatching-upload-offset…).
	ProblemType string
	Problem     map[string]any
}

func (e *Error) Error() string {
	msg := e.Code
	if e.Message != "" {
		msg += ": " + e.Message
	}
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

func (e *Error) Unwrap() error { return e.Err }

// BadRequest is a 400 "bad_request" error describing what was wrong.
func BadRequest(format string, args ...any) *Error {
	return &Error{Status: http.StatusBadRequest, Code: "bad_request", Message: fmt.Sprintf(format, args...)}
}

// StatusClientClosed is the status recorded (never received) for a request
// whose client went away first, as nginx's 499.
const StatusClientClosed = 499

// Errors with a fixed answer.
var (
	// ErrUnauthorized answers 401 {"error":"unauthorized"}.
	ErrUnauthorized = &Error{Status: http.StatusUnauthorized, Code: "unauthorized"}
	// ErrNotFound answers 404 {"error":"not_found"}.
	ErrNotFound = &Error{Status: http.StatusNotFound, Code: "not_found"}
	// ErrUnavailable answers 503 {"error":"unavailable"}, e.g. when storage does not answer.
	ErrUnavailable = &Error{Status: http.StatusServiceUnavailable, Code: "unavailable"}
)

// Classify returns the status and code that err answers with.
func Classify(err error) (status int, code string) {
	var e *Error
	switch {
	case errors.As(err, &e):
		return e.Status, e.Code
	case errors.Is(err, storage.ErrNotFound), errors.Is(err, storage.ErrIncomplete):
		// An upload that is not complete is not a file yet: the contract says 404.
		return http.StatusNotFound, "not_found"
	case errors.Is(err, storage.ErrLocked):
		return http.StatusLocked, "locked"
	case errors.Is(err, storage.ErrNoSpace):
		return http.StatusInsufficientStorage, "quota_exceeded"
	case errors.Is(err, storage.ErrTooLarge):
		return http.StatusRequestEntityTooLarge, "too_large"
	case errors.Is(err, storage.ErrInvalid):
		return http.StatusBadRequest, "bad_request"
	case errors.Is(err, context.DeadlineExceeded):
		return http.StatusServiceUnavailable, "unavailable"
	case errors.Is(err, context.Canceled):
		// The client left before the answer: nobody reads it, and it is
		// not the server's failure.
		return StatusClientClosed, "client_closed"
	}
	return http.StatusInternalServerError, "internal_error"
}

// FromStatus is the *Error for a bare HTTP status that a router or server
// answered itself (an unknown route, a wrong method…), named by its status:
// "not_found", "method_not_allowed", or the status text in snake case; every
// 5xx is "internal_error". err, if any, is kept for the log.
func FromStatus(status int, err error) *Error {
	return &Error{Status: status, Code: codeForStatus(status), Err: err}
}

func codeForStatus(status int) string {
	switch status {
	case http.StatusNotFound:
		return "not_found"
	case http.StatusMethodNotAllowed:
		return "method_not_allowed"
	case http.StatusUnauthorized:
		return "unauthorized"
	case http.StatusForbidden:
		return "forbidden"
	case http.StatusRequestEntityTooLarge:
		return "too_large"
	case http.StatusRequestHeaderFieldsTooLarge:
		return "headers_too_large"
	}
	if status >= 500 {
		return "internal_error"
	}
	return strings.ReplaceAll(strings.ToLower(http.StatusText(status)), " ", "_")
}

// Write answers err with its status and {"error": code} (a problem document
// for an *Error with a ProblemType). Errors answering 5xx are logged with their text, which is
// never sent. Headers describing a body that will not be sent (ETag,
// Last-Modified, Content-Disposition, ranges) are removed first, as
// net/http's ServeContent does.
func Write(w http.ResponseWriter, r *http.Request, err error, logger *slog.Logger) {
	if logger == nil {
		logger = slog.Default()
	}
	status, code := Classify(err)
	if status >= 500 {
		logger.Error("request failed", "method", r.Method, "path", r.URL.Path, "status", status, "err", err)
	}
	h := w.Header()
	for _, k := range []string{"Etag", "Last-Modified", "Content-Disposition", "Content-Range",
		"Accept-Ranges", "Content-Encoding", "Content-Length", "Cache-Control", "Content-Type"} {
		h.Del(k)
	}
	h.Set("Cache-Control", "no-store")
	body := map[string]any{"error": code}
	contentType := "application/json"
	var e *Error
	if errors.As(err, &e) {
		for k, v := range e.Header {
			h[http.CanonicalHeaderKey(k)] = v
		}
		if e.ProblemType != "" {
			contentType = "application/problem+json"
			body["type"], body["title"] = e.ProblemType, e.Message
			for k, v := range e.Problem {
				body[k] = v
			}
		}
	}
	h.Set("Content-Type", contentType)
	if r.Method == http.MethodHead {
		w.WriteHeader(status)
		return
	}
	b, _ := json.Marshal(body)
	b = append(b, '\n')
	h.Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
}
