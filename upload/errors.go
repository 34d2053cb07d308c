package upload

import (
	"errors"

	"github.com/ferryhq/ferry/storage"
)

// protocolError turns any failure into the *Error the client is sent. This
// is the one place where storage's sentinel errors become protocol codes.
// Messages are for people and never carry the underlying error's text, which
// may name internal paths; the caller logs that.
func protocolError(err error, id string) *Error {
	var pe *Error
	if errors.As(err, &pe) {
		e := *pe
		if e.ID == "" {
			e.ID = id
		}
		return &e
	}
	e := &Error{ID: id}
	var refused *storage.RefusedError
	switch {
	case errors.As(err, &refused):
		// The refusal's message is written for the client (a pre-create hook).
		e.Code, e.Message = CodeForbidden, refused.Message
	case errors.Is(err, storage.ErrRefused):
		e.Code, e.Message = CodeForbidden, "the server refused this upload"
	case errors.Is(err, storage.ErrNotFound):
		e.Code, e.Message = CodeNotFound, "no such upload: it is unknown, was deleted, aborted or has expired"
	case errors.Is(err, storage.ErrLocked):
		e.Code, e.Message = CodeLocked, "another connection is writing this upload; try again when it has gone"
	case errors.Is(err, storage.ErrNoSpace):
		e.Code, e.Message = CodeQuotaExceeded, "the server's storage is full; the upload can be resumed later"
	case errors.Is(err, storage.ErrSizeExceeded):
		e.Code, e.Message = CodeSizeExceeded, "the frame would pass the declared size; nothing of it was stored"
	case errors.Is(err, storage.ErrIncomplete):
		e.Code, e.Message = CodeIncomplete, "not every declared byte has been received"
	case errors.Is(err, storage.ErrTooLarge):
		e.Code, e.Message = CodeTooLarge, "the storage cannot hold an upload this large"
	case errors.Is(err, storage.ErrInvalid):
		e.Code, e.Message = CodeBadRequest, "the storage refused the upload's description"
	default:
		e.Code, e.Message = CodeStorageError, "the server could not store the upload; it can be resumed later"
	}
	return e
}

// endsUpload reports whether an error with code c leaves no upload active on
// the connection. The contract lists the ones that do not: errors that are
// not about the upload's bytes, size_exceeded and incomplete.
func endsUpload(c Code) bool {
	switch c {
	case CodeBadRequest, CodeUnknownType, CodeAlreadyStarted, CodeNotStarted,
		CodeSizeExceeded, CodeIncomplete:
		return false
	}
	return true
}
