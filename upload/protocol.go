package upload

import (
	"errors"
	"fmt"
	"time"
)

// Subprotocol is the WebSocket subprotocol of version 1 of the wire contract.
// The server selects it whenever a client offers it.
const Subprotocol = "ferry.v1"

// Frame types, as they appear in the "type" field of text frames.
const (
	TypeStart    = "start"
	TypeResume   = "resume"
	TypeEnd      = "end"
	TypeAbort    = "abort"
	TypeReady    = "ready"
	TypeProgress = "progress"
	TypeComplete = "complete"
	TypeAborted  = "aborted"
	TypeError    = "error"
)

// Code is an error code of the wire contract.
type Code string

// The contract's error codes.
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
	CodeForbidden        Code = "forbidden"
	CodeNotFound         Code = "not_found"
	CodeLocked           Code = "locked"
	CodeQuotaExceeded    Code = "quota_exceeded"
	CodeStorageError     Code = "storage_error"
	CodeUnauthorized     Code = "unauthorized"
	CodeShuttingDown     Code = "shutting_down"
)

// StartFrame begins a new upload (client to server).
type StartFrame struct {
	Type   string `json:"type"` // "start"
	Name   string `json:"name"`
	Size   int64  `json:"size"`
	MIME   string `json:"mime,omitempty"`
	SHA256 string `json:"sha256,omitempty"`
}

// ResumeFrame continues an upload (client to server).
type ResumeFrame struct {
	Type string `json:"type"` // "resume"
	ID   string `json:"id"`
}

// ControlFrame is a client frame with no fields besides its type ("end", "abort").
type ControlFrame struct {
	Type string `json:"type"`
}

// ReadyFrame answers start (offset 0) and resume (offset = where to continue).
type ReadyFrame struct {
	Type      string    `json:"type"` // "ready"
	ID        string    `json:"id"`
	Offset    int64     `json:"offset"`
	Size      int64     `json:"size"`
	MaxFrame  int64     `json:"max_frame"`
	ExpiresAt time.Time `json:"expires_at"`
}

// ProgressFrame reports accepted (Received) and durable (Offset) positions.
type ProgressFrame struct {
	Type     string `json:"type"` // "progress"
	ID       string `json:"id"`
	Received int64  `json:"received"`
	Offset   int64  `json:"offset"`
	Size     int64  `json:"size"`
}

// CompleteFrame answers a successful end, or a resume of a complete upload.
type CompleteFrame struct {
	Type   string `json:"type"` // "complete"
	ID     string `json:"id"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
	URL    string `json:"url"`
}

// AbortedFrame answers abort.
type AbortedFrame struct {
	Type string `json:"type"` // "aborted"
	ID   string `json:"id"`
}

// ErrorFrame reports a failure that leaves the connection usable.
type ErrorFrame struct {
	Type    string `json:"type"` // "error"
	Code    Code   `json:"code"`
	Message string `json:"message"`
	ID      string `json:"id,omitempty"`
}

// ServerFrame is any text frame the server sends, decoded into one struct
// (the union of every server frame's fields); Type says which fields matter.
type ServerFrame struct {
	Type      string    `json:"type"`
	ID        string    `json:"id,omitempty"`
	Offset    int64     `json:"offset"`
	Received  int64     `json:"received"`
	Size      int64     `json:"size"`
	MaxFrame  int64     `json:"max_frame"`
	ExpiresAt time.Time `json:"expires_at"`
	SHA256    string    `json:"sha256,omitempty"`
	URL       string    `json:"url,omitempty"`
	Code      Code      `json:"code,omitempty"`
	Message   string    `json:"message,omitempty"`
}

// Error is a failure with its protocol code. The server sends it as an
// ErrorFrame (package client has its own Error for the receiving end).
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

// CodeOf returns the protocol code carried by err, or "" if it carries none.
func CodeOf(err error) Code {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}

// FileURL is the download path of an upload, as sent in CompleteFrame.URL.
func FileURL(id string) string { return "/files/" + id }
