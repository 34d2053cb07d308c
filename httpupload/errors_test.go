package httpupload

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/ferryhq/ferry/internal/httperr"
	"github.com/ferryhq/ferry/storage"
)

// TestStorageErrorStatus: each storage sentinel answers its status, and
// only failures that may pass say when to retry.
func TestStorageErrorStatus(t *testing.T) {
	tests := []struct {
		err        error
		status     int
		code       string
		retryAfter bool
	}{
		{storage.ErrNotFound, http.StatusNotFound, "not_found", false},
		{storage.ErrLocked, http.StatusLocked, "locked", false},
		{storage.ErrInvalid, http.StatusBadRequest, "bad_request", false},
		{storage.ErrTooLarge, http.StatusRequestEntityTooLarge, "too_large", false},
		{storage.ErrSizeExceeded, http.StatusRequestEntityTooLarge, "size_exceeded", false},
		{storage.ErrNoSpace, http.StatusInsufficientStorage, "quota_exceeded", true},
		{&storage.RefusedError{Message: "no"}, http.StatusForbidden, "forbidden", false},
		{errors.New("injected I/O error"), http.StatusServiceUnavailable, "storage_error", true},
	}
	for _, tt := range tests {
		t.Run(tt.code, func(t *testing.T) {
			err := storageError("create", fmt.Errorf("s3: create x: %w", tt.err))
			rec := httptest.NewRecorder()
			httperr.Write(rec, httptest.NewRequest(http.MethodPost, "/uploads/", nil), err, nil)
			status, code := httperr.Classify(err)
			if rec.Code != tt.status || code != tt.code || status != tt.status {
				t.Fatalf("storageError(%v) answers %d %q, want %d %q", tt.err, rec.Code, code, tt.status, tt.code)
			}
			if got := rec.Header().Get("Retry-After") != ""; got != tt.retryAfter {
				t.Fatalf("storageError(%v): Retry-After %q, want one: %v", tt.err, rec.Header().Get("Retry-After"), tt.retryAfter)
			}
		})
	}
}
