package httperr_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/ferryhq/ferry/internal/httperr"
	"github.com/ferryhq/ferry/storage"
)

func TestClassify(t *testing.T) {
	tests := []struct {
		name   string
		err    error
		status int
		code   string
	}{
		{"not found", storage.ErrNotFound, 404, "not_found"},
		{"wrapped not found", fmt.Errorf("open x: %w", storage.ErrNotFound), 404, "not_found"},
		{"incomplete upload is not a file", storage.ErrIncomplete, 404, "not_found"},
		{"locked", storage.ErrLocked, 423, "locked"},
		{"disk full", fmt.Errorf("write: %w", storage.ErrNoSpace), 507, "quota_exceeded"},
		{"invalid argument", storage.ErrInvalid, 400, "bad_request"},
		{"too large for the store", fmt.Errorf("create: %w", storage.ErrTooLarge), 413, "too_large"},
		{"bad request", httperr.BadRequest("limit %q", "x"), 400, "bad_request"},
		{"wrapped ferry error", fmt.Errorf("ctx: %w", httperr.ErrUnauthorized), 401, "unauthorized"},
		{"storage timeout", context.DeadlineExceeded, 503, "unavailable"},
		{"client went away", fmt.Errorf("stat: %w", context.Canceled), 499, "client_closed"},
		{"a router's miss", httperr.FromStatus(404, nil), 404, "not_found"},
		{"a router's wrong method", httperr.FromStatus(405, errors.New("no GET")), 405, "method_not_allowed"},
		{"a status named by its text", httperr.FromStatus(http.StatusRequestTimeout, nil), 408, "request_timeout"},
		{"any 5xx status", httperr.FromStatus(http.StatusBadGateway, nil), 502, "internal_error"},
		{"anything else", errors.New("disk exploded at /var/secret"), 500, "internal_error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, code := httperr.Classify(tt.err)
			if status != tt.status || code != tt.code {
				t.Fatalf("Classify = %d %q, want %d %q", status, code, tt.status, tt.code)
			}
		})
	}
}

// TestWriteAnswers checks the body, that internal text never leaks, and
// that headers describing a body that is not sent are dropped.
func TestWriteAnswers(t *testing.T) {
	rec := httptest.NewRecorder()
	h := rec.Header()
	h.Set("ETag", `"abc"`)
	h.Set("Content-Disposition", "attachment")
	h.Set("Content-Type", "image/png")
	httperr.Write(rec, httptest.NewRequest("GET", "/boom", nil), errors.New("disk exploded at /var/secret"), nil)
	var body map[string]string
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || rec.Code != 500 || body["error"] != "internal_error" || len(body) != 1 {
		t.Fatalf("500 answered %d, body %q (%v)", rec.Code, rec.Body.String(), err)
	}
	for _, h := range []string{"ETag", "Content-Disposition"} {
		if rec.Header().Get(h) != "" {
			t.Errorf("%s survived an error: %q", h, rec.Header().Get(h))
		}
	}
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("error Content-Type %q", ct)
	}

	rec = httptest.NewRecorder()
	httperr.Write(rec, httptest.NewRequest("GET", "/range", nil),
		&httperr.Error{Status: 416, Code: "range_not_satisfiable", Header: http.Header{"Content-Range": {"bytes */10"}}}, nil)
	if rec.Code != 416 || rec.Header().Get("Content-Range") != "bytes */10" {
		t.Fatalf("416 answered %d with Content-Range %q", rec.Code, rec.Header().Get("Content-Range"))
	}

	rec = httptest.NewRecorder()
	httperr.Write(rec, httptest.NewRequest("HEAD", "/nowhere", nil), httperr.FromStatus(404, nil), nil)
	if rec.Code != 404 || rec.Body.Len() != 0 {
		t.Fatalf("HEAD answered %d with %d body bytes", rec.Code, rec.Body.Len())
	}
}
