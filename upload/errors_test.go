package upload

import (
	"errors"
	"fmt"
	"testing"

	"github.com/ferryhq/ferry/storage"
)

// TestProtocolErrorOfARefusal: a refusal by a pre-create hook answers
// forbidden with the hook's message, the one text that reaches the client;
// other failures keep their own words.
func TestProtocolErrorOfARefusal(t *testing.T) {
	for _, tc := range []struct {
		err  error
		code Code
		msg  string
	}{
		{fmt.Errorf("create: %w", &storage.RefusedError{Message: "not on Sundays"}), CodeForbidden, "not on Sundays"},
		{fmt.Errorf("create: %w", storage.ErrRefused), CodeForbidden, "the server refused this upload"},
		{errors.New("hooks: the pre-create hook is unavailable: dial tcp 10.0.0.1:80"), CodeStorageError, "the server could not store the upload; it can be resumed later"},
	} {
		e := protocolError(tc.err, "id")
		if e.Code != tc.code || e.Message != tc.msg || e.ID != "id" {
			t.Errorf("protocolError(%v) = %+v; want %s %q", tc.err, e, tc.code, tc.msg)
		}
	}
}
