package web

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/labstack/echo/v4"

	"github.com/ferryhq/ferry/internal/httperr"
)

// TestErrorHandler checks that echo's own errors and the routes' errors are
// answered as httperr answers them, and that internal text never leaks.
func TestErrorHandler(t *testing.T) {
	e := echo.New()
	e.HTTPErrorHandler = errorHandler(nil)
	e.GET("/boom", func(echo.Context) error { return errors.New("disk exploded at /var/secret") })
	e.GET("/range", func(echo.Context) error {
		return &httperr.Error{Status: 416, Code: "range_not_satisfiable", Header: http.Header{"Content-Range": {"bytes */10"}}}
	})
	e.GET("/wrapped-echo", func(echo.Context) error { return echo.NewHTTPError(http.StatusForbidden, "secret detail") })
	tests := []struct {
		method, path string
		status       int
		body         string // "" for no body
	}{
		{"GET", "/boom", 500, `{"error":"internal_error"}`},
		{"GET", "/range", 416, `{"error":"range_not_satisfiable"}`},
		{"GET", "/wrapped-echo", 403, `{"error":"forbidden"}`},
		{"GET", "/nowhere", 404, `{"error":"not_found"}`},
		{"POST", "/boom", 405, `{"error":"method_not_allowed"}`},
		{"HEAD", "/nowhere", 404, ""},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			rec := httptest.NewRecorder()
			e.ServeHTTP(rec, httptest.NewRequest(tt.method, tt.path, nil))
			if rec.Code != tt.status {
				t.Fatalf("status %d, want %d (body %q)", rec.Code, tt.status, rec.Body.String())
			}
			if tt.body == "" {
				if rec.Body.Len() != 0 {
					t.Fatalf("body %q, want none", rec.Body.String())
				}
				return
			}
			var got map[string]any
			if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
				t.Fatalf("body %q: %v", rec.Body.String(), err)
			}
			if b1, _ := json.Marshal(got); string(b1) != tt.body {
				t.Fatalf("body %s, want %s", b1, tt.body)
			}
		})
	}
}
