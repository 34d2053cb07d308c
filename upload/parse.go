package upload

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode"

	"github.com/ferryhq/ferry/storage"
)

// request is one parsed client text frame. Only the fields of its Type are set.
type request struct {
	Type  string
	Start StartFrame // TypeStart
	ID    string     // TypeResume
}

// MaxNameBytes is the longest file name a start may declare, in bytes of
// UTF-8. The name travels on with the file (into Content-Disposition, the
// file list, logs), where a long one costs far more than its bytes here.
const MaxNameBytes = storage.MaxNameBytes

// parseRequest decodes one client text frame strictly. It returns an *Error
// with CodeBadRequest for anything malformed (not a JSON object, a missing or
// wrong-typed field, a size that is not a JSON integer >= 0, a sha256 that is
// not 64 hex digits, a name that is empty, blank or over MaxNameBytes, an
// unparsable mime), CodeTooLarge for a
// size that is a JSON integer too large to represent, and CodeUnknownType for
// a "type" that is a string but not one a client may send. When the type is
// known, the returned request carries it even with an error.
//
// Unknown fields are ignored, so that a newer client can add optional fields.
// A null is never accepted in place of a value, not even for optional fields:
// it is a wrong-typed field.
func parseRequest(data []byte) (request, error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(data, &fields); err != nil {
		return request{}, badRequest("frame is not a JSON object")
	}
	if fields == nil { // the text was "null"
		return request{}, badRequest("frame is not a JSON object")
	}
	typ, ok, err := stringField(fields, "type")
	if err != nil {
		return request{}, err
	}
	if !ok {
		return request{}, badRequest(`missing field "type"`)
	}
	req := request{Type: typ}
	switch typ {
	case TypeStart:
		req.Start, err = parseStart(fields)
	case TypeResume:
		req.ID, err = parseResume(fields)
	case TypeEnd, TypeAbort:
		// No fields.
	default:
		return request{}, &Error{Code: CodeUnknownType, Message: fmt.Sprintf("unknown frame type %q", clip(typ))}
	}
	if err != nil {
		// Keep the type: a malformed start is still a start, which the
		// session answers with already_started while an upload is active.
		return request{Type: typ}, err
	}
	return req, nil
}

func parseStart(fields map[string]json.RawMessage) (StartFrame, error) {
	f := StartFrame{Type: TypeStart}
	name, ok, err := stringField(fields, "name")
	if err != nil {
		return f, err
	}
	if !ok || name == "" {
		return f, badRequest(`field "name" must be a non-empty string`)
	}
	if len(name) > MaxNameBytes {
		return f, badRequest(fmt.Sprintf(`field "name" is %d bytes long; the limit is %d bytes`, len(name), MaxNameBytes))
	}
	if blank(name) {
		return f, badRequest(`field "name" has no visible character`)
	}
	f.Name = name

	raw, ok := fields["size"]
	if !ok {
		return f, badRequest(`missing field "size"`)
	}
	if f.Size, err = parseSize(raw); err != nil {
		return f, err
	}

	if f.MIME, _, err = stringField(fields, "mime"); err != nil {
		return f, err
	}
	if f.MIME != "" {
		if _, ok := storage.MediaType(f.MIME); !ok {
			return f, badRequest(`field "mime" is not a media type`)
		}
	}

	sum, ok, err := stringField(fields, "sha256")
	if err != nil {
		return f, err
	}
	if ok {
		// A client may send upper case; storage keeps the digest lower case.
		f.SHA256 = strings.ToLower(sum)
		if !storage.ValidSHA256(f.SHA256) {
			return f, badRequest(`field "sha256" must be 64 hex digits`)
		}
	}
	return f, nil
}

func parseResume(fields map[string]json.RawMessage) (string, error) {
	id, ok, err := stringField(fields, "id")
	if err != nil {
		return "", err
	}
	if !ok {
		return "", badRequest(`missing field "id"`)
	}
	// Any string is a well-formed id position; one that is not a UUID is
	// simply not found (the storage layer decides that, in one place).
	return id, nil
}

// parseSize accepts a JSON integer literal >= 0 and nothing else.
//
// Only the integer form is a size: 1.5, 1.0, 1e3, "5", null, true and -1
// are bad requests. 1e3 and 1.0 denote whole numbers, but every JSON encoder
// writes an integral file size as plain digits (JavaScript does so up to
// 10^21, far past any file), so another spelling means a confused client, and
// refusing it spares us float rounding (9007199254740993e0 is not exact).
// An integer literal too large for int64 is a whole number over any limit:
// too_large.
func parseSize(raw json.RawMessage) (int64, error) {
	s := string(bytes.TrimSpace(raw))
	if s == "" || (s[0] != '-' && (s[0] < '0' || s[0] > '9')) {
		return 0, badRequest(`field "size" must be a whole number`)
	}
	if strings.ContainsAny(s, ".eE") {
		return 0, badRequest(`field "size" must be written as a whole number (digits only)`)
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if errors.Is(err, strconv.ErrRange) && s[0] != '-' {
		return 0, &Error{Code: CodeTooLarge, Message: "declared size is too large"}
	}
	if err != nil || n < 0 {
		return 0, badRequest(`field "size" must be a whole number >= 0`)
	}
	return n, nil
}

// stringField returns the string value of fields[name]; ok is false when the
// field is absent. Any JSON value that is not a string (null included) is a
// bad_request.
func stringField(fields map[string]json.RawMessage, name string) (v string, ok bool, err error) {
	raw, ok := fields[name]
	if !ok {
		return "", false, nil
	}
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] != '"' {
		return "", true, badRequest(fmt.Sprintf("field %q must be a string", name))
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		return "", true, badRequest(fmt.Sprintf("field %q must be a string", name))
	}
	return v, true, nil
}

// blank reports whether name has nothing to show once white space, control
// characters and invisible format characters (bidirectional controls,
// zero-width spaces) are left out: such a name would be empty wherever it is
// displayed or saved. Any other name is stored as given; whoever shows or
// serves it makes it safe for its medium (download turns it into a plain
// file name for Content-Disposition).
func blank(name string) bool {
	return strings.IndexFunc(name, func(r rune) bool {
		return !unicode.IsSpace(r) && !unicode.IsControl(r) && !unicode.Is(unicode.Cf, r)
	}) < 0
}

func badRequest(msg string) *Error { return &Error{Code: CodeBadRequest, Message: msg} }

// clip shortens client text before it is echoed back in a message or a log.
func clip(s string) string {
	const max = 64
	if len(s) <= max {
		return s
	}
	return s[:max] + "…"
}
