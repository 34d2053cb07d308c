package hooks

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"github.com/ferryhq/ferry/events"
)

// The hooks, as named in Payload.Type and the HookHeader.
const (
	PreCreate     = "pre-create"
	PostReceive   = "post-receive"
	PostFinish    = "post-finish"
	PostTerminate = "post-terminate"
	PostExpire    = "post-expire"
)

// Headers of every hook request.
const (
	// HookHeader names the hook (Payload.Type).
	HookHeader = "Ferry-Hook"
	// IDHeader is Payload.ID, the key a receiver drops duplicates by.
	IDHeader = "Ferry-Event-Id"
	// SignatureHeader is "sha256=" and the lower-case hex HMAC-SHA256 of
	// the request body keyed with the hook secret; it is sent only when a
	// secret is set. Verify checks it.
	SignatureHeader = "Ferry-Signature"
)

// Payload is the JSON body of every hook request.
type Payload struct {
	// ID identifies this event: every delivery of it has the same ID, so a
	// receiver that may be given it more than once keeps the first. The
	// post-finish of an upload, and the post-terminate or post-expire that
	// says it is gone, have IDs that depend only on the upload's ID.
	ID   string    `json:"id"`
	Type string    `json:"type"`
	Time time.Time `json:"time"`
	// Upload is the upload as of the event. In post-finish its URL is
	// absolute when ferry knows its public URL (--public-url).
	Upload events.Upload `json:"upload"`
}

// Decision is what a pre-create hook answers, with a 2xx status, as JSON
// (an empty body allows the upload as it is).
type Decision struct {
	// Refuse refuses the upload; Message is what the client is told.
	Refuse  bool   `json:"refuse,omitempty"`
	Message string `json:"message,omitempty"`
	// Name and Type, when not empty, replace the upload's file name and
	// content type.
	Name string `json:"name,omitempty"`
	Type string `json:"type,omitempty"`
}

// Sign returns the SignatureHeader value of body under secret.
func Sign(secret, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// Verify reports whether header, a SignatureHeader value, signs body under
// secret. It compares in constant time.
func Verify(secret, body []byte, header string) bool {
	want := Sign(secret, body)
	return hmac.Equal([]byte(strings.ToLower(header)), []byte(want))
}

// fixedID is the event ID of what happens to an upload only once: family
// "finish" (post-finish) or "gone" (post-terminate and post-expire: an
// upload goes away once). It is a UUID (version 8, RFC 9562) made from a
// SHA-256 of the family and the upload ID, so every instance and every
// restart that raises it raises the same ID.
func fixedID(family, uploadID string) string {
	sum := sha256.Sum256([]byte("ferry-hook\x00" + family + "\x00" + uploadID))
	b := sum[:16]
	b[6] = b[6]&0x0f | 0x80
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
