package httpupload

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/ferryhq/ferry/internal/httperr"
	"github.com/ferryhq/ferry/storage"
)

// StatusChecksumMismatch is tus's status for a request whose body does not
// match its Upload-Checksum (and for a whole file that does not match its
// declared sha256).
const StatusChecksumMismatch = 460

// retryAfter is what a storage failure tells clients to wait, in seconds.
const retryAfter = "5"

// problemBase is where the IETF draft's problem types live.
const problemBase = "https://iana.org/assignments/http-problem-types#"

func fail(status int, code, format string, args ...any) *httperr.Error {
	return &httperr.Error{Status: status, Code: code, Message: fmt.Sprintf(format, args...)}
}

func badRequest(format string, args ...any) *httperr.Error {
	return fail(http.StatusBadRequest, "bad_request", format, args...)
}

// errUnsupportedVersion answers a tus request of another version, or a
// creation or append that names no protocol at all.
func errUnsupportedVersion() *httperr.Error {
	e := fail(http.StatusPreconditionFailed, "unsupported_version",
		"this server speaks tus %s (Tus-Resumable) and the IETF resumable upload draft (Upload-Complete)", TusVersion)
	e.Header = http.Header{"Tus-Version": {TusVersion}}
	return e
}

// errOffsetMismatch answers a PATCH whose Upload-Offset is not the upload's.
func errOffsetMismatch(p protocol, want, got int64) *httperr.Error {
	e := fail(http.StatusConflict, "offset_mismatch", "the upload is at offset %d, not %d", want, got)
	e.Header = http.Header{"Upload-Offset": {strconv.FormatInt(want, 10)}}
	if !p.tus {
		e.ProblemType = problemBase + "mismatching-upload-offset"
		e.Problem = map[string]any{"expected-offset": want, "provided-offset": got}
	}
	return e
}

// errCompleted answers an append to an upload that is already complete.
func errCompleted(p protocol) *httperr.Error {
	e := fail(http.StatusBadRequest, "completed", "the upload is already complete")
	if !p.tus {
		e.ProblemType = problemBase + "completed-upload"
	}
	return e
}

// errInconsistentLength answers lengths that contradict each other.
func errInconsistentLength(p protocol, format string, args ...any) *httperr.Error {
	e := badRequest(format, args...)
	if !p.tus {
		e.ProblemType = problemBase + "inconsistent-upload-length"
	}
	return e
}

func errTooLarge(max int64) *httperr.Error {
	return fail(http.StatusRequestEntityTooLarge, "too_large", "the upload would be over this server's limit of %d bytes", max)
}

func errPastSize(size int64) *httperr.Error {
	return fail(http.StatusRequestEntityTooLarge, "size_exceeded",
		"the body would take the upload past its length of %d bytes; nothing past it was stored", size)
}

func errForbiddenType(t string) *httperr.Error {
	return fail(http.StatusUnsupportedMediaType, "forbidden_type", "this server does not accept %q files", t)
}

func errChecksum(format string, args ...any) *httperr.Error {
	return fail(StatusChecksumMismatch, "checksum_mismatch", format, args...)
}

// errTakenOver ends a request whose upload a newer request took over.
var errTakenOver = fail(http.StatusLocked, "locked", "a newer request took this upload over")

// errShuttingDown ends requests when the server stops.
var errShuttingDown = &httperr.Error{Status: http.StatusServiceUnavailable, Code: "shutting_down",
	Message: "the server is shutting down; resume from Upload-Offset", Header: http.Header{"Retry-After": {"1"}}}

// errGone answers an upload that expired but is not swept yet.
var errGone = fail(http.StatusGone, "expired", "the upload expired")

// storageError is the answer to a failure of the store: its sentinels keep
// httperr's statuses (storage.ErrTooLarge is 413 "too_large": retrying does
// not help), except that a full store and any other failure say when to
// retry, since the upload stays resumable.
func storageError(op string, err error) error {
	switch {
	case errors.Is(err, storage.ErrExpired):
		return &httperr.Error{Status: http.StatusGone, Code: "expired", Message: op + ": the upload expired", Err: err}
	case errors.Is(err, storage.ErrNotFound), errors.Is(err, storage.ErrLocked),
		errors.Is(err, storage.ErrInvalid), errors.Is(err, storage.ErrTooLarge), errors.Is(err, storage.ErrRefused):
		return fmt.Errorf("%s: %w", op, err)
	case errors.Is(err, storage.ErrSizeExceeded):
		return &httperr.Error{Status: http.StatusRequestEntityTooLarge, Code: "size_exceeded", Message: op, Err: err}
	case errors.Is(err, storage.ErrNoSpace):
		return &httperr.Error{Status: http.StatusInsufficientStorage, Code: "quota_exceeded", Message: op, Err: err,
			Header: http.Header{"Retry-After": {retryAfter}}}
	}
	var he *httperr.Error
	if errors.As(err, &he) {
		return err
	}
	return &httperr.Error{Status: http.StatusServiceUnavailable, Code: "storage_error", Message: op, Err: err,
		Header: http.Header{"Retry-After": {retryAfter}}}
}

// errBadID says the id source made something that is not a UUID.
var errBadID = errors.New("the id source returned an id that is not a UUID v4 or v7")

// errCutOff answers a request whose body ended before its length: its
// client is usually gone, and what arrived is kept.
func errCutOff(err error) error {
	return &httperr.Error{Status: http.StatusBadRequest, Code: "bad_request", Message: "the body was cut off", Err: err}
}
