package client

import (
	"errors"
	"fmt"
)

// The wire, as docs/protocol.md defines it: what the client sends and reads.
// The server's declarations (package upload) are its own; tests check that
// the two agree.

// Subprotocol is the WebSocket subprotocol of version 1 of the wire
// contract. Upload always offers it.
const Subprotocol = "ferry.v1"

// Frame types, as they appear in the "type" field of text frames.
const (
	typeStart    = "start"
	typeResume   = "resume"
	typeEnd      = "end"
	typeReady    = "ready"
	typeProgress = "progress"
	typeComplete = "complete"
	typeError    = "error"
)

// Code is an error code of the wire contract, as the server sends it in an
// error frame.
type Code string

// The contract's error codes. Upload returns the ones that retrying cannot
// cure as an *Error; CodeUnauthorized also stands for a handshake refused
// with HTTP 401 or a close with 1008.
const (
	CodeBadRequest       Code = "bad_request"
	CodeUnknownType      Code = "unknown_type"
	CodeNotStarted       Code = "not_started"
	CodeAlreadyStarted   Code = "already_started"
	CodeTooLarge         Code = "too_large"
	CodeSizeExceeded     Code = "size_exceeded"
	CodeIncomplete       Code = "incomplete"
	CodeChecksumMismatch Code = "checksum_mismatch"
	CodeForbiddenType    Code = "forbidden_type"
	CodeForbidden        Code = "forbidden" // refused by the server's pre-create hook
	CodeNotFound         Code = "not_found"
	CodeLocked           Code = "locked"
	CodeQuotaExceeded    Code = "quota_exceeded"
	CodeStorageError     Code = "storage_error"
	CodeUnauthorized     Code = "unauthorized"
	CodeShuttingDown     Code = "shutting_down"
)

// Error is a refusal with its protocol code: the server's error frame, or
// what the client concluded itself (a handshake refused with 401, a digest
// that differs from the source's). ID is the upload's id when known.
type Error struct {
	Code    Code
	Message string
	ID      string
}

func (e *Error) Error() string {
	if e.ID != "" {
		return fmt.Sprintf("%s: %s (upload %s)", e.Code, e.Message, e.ID)
	}
	return fmt.Sprintf("%s: %s", e.Code, e.Message)
}

// CodeOf returns the protocol code carried by err (an *Error anywhere in its
// chain), or "" if it carries none.
func CodeOf(err error) Code {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}

// startFrame begins a new upload.
type startFrame struct {
	Type   string `json:"type"` // "start"
	Name   string `json:"name"`
	Size   int64  `json:"size"`
	MIME   string `json:"mime,omitempty"`
	SHA256 string `json:"sha256,omitempty"`
}

// resumeFrame continues an upload.
type resumeFrame struct {
	Type string `json:"type"` // "resume"
	ID   string `json:"id"`
}

// controlFrame is a frame with no fields besides its type ("end").
type controlFrame struct {
	Type string `json:"type"`
}

// serverFrame is any text frame the server sends (ready, progress,
// complete, error), decoded into the union of the fields the client reads;
// Type says which matter.
type serverFrame struct {
	Type     string `json:"type"`
	ID       string `json:"id"`
	Offset   int64  `json:"offset"`
	Received int64  `json:"received"`
	Size     int64  `json:"size"`
	MaxFrame int64  `json:"max_frame"`
	SHA256   string `json:"sha256"`
	URL      string `json:"url"`
	Code     Code   `json:"code"`
	Message  string `json:"message"`
}

// fileURLOf is the download path of upload id, for a complete frame that
// carries no url.
func fileURLOf(id string) string { return "/files/" + id }
