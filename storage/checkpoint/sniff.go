package checkpoint

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/ferryhq/ferry/storage"
)

// SniffLen is how many leading bytes http.DetectContentType looks at.
const SniffLen = 512

// Types is a server's list of allowed content types. An empty list allows
// every type and turns sniffing off.
type Types []string

// ParseTypes validates and normalises configured patterns: "type/sub",
// "type/*" or "*/*", compared case-insensitively and without parameters.
func ParseTypes(patterns []string) (Types, error) {
	var l Types
	for _, p := range patterns {
		mt, ok := storage.MediaType(p)
		if !ok || (strings.HasPrefix(mt, "*/") && mt != "*/*") {
			return nil, fmt.Errorf("allowed type %q: want type/subtype, type/* or */*", p)
		}
		l = append(l, mt)
	}
	return l, nil
}

// Any reports whether every type is allowed (no list configured).
func (l Types) Any() bool { return len(l) == 0 }

// Allows reports whether the media type t (parameters ignored) matches a
// pattern of the list. A type that does not parse is not allowed.
func (l Types) Allows(t string) bool {
	if l.Any() {
		return true
	}
	mt, ok := storage.MediaType(t)
	if !ok {
		return false
	}
	typ, _, _ := strings.Cut(mt, "/")
	for _, p := range l {
		if p == "*/*" || p == mt || (strings.HasSuffix(p, "/*") && strings.TrimSuffix(p, "/*") == typ) {
			return true
		}
	}
	return false
}

// Verdict is what sniffing the first bytes of an upload concluded.
type Verdict int

// The verdicts of Sniffer.Feed.
const (
	Undecided Verdict = iota // too few bytes yet to tell
	Allowed
	Forbidden
)

// Sniffer decides, from the first SniffLen bytes of an upload (or all of it
// when it is shorter), whether its content type is allowed. Its prefix is
// saved in the checkpoint state until it decides, so a decision never depends
// on how the bytes were split into messages, requests or connections.
type Sniffer struct {
	Decided bool
	Prefix  []byte // the upload's first bytes, while undecided
	Type    string // the sniffed type once decided (empty if never sniffed)
}

// Feed adds the bytes at the current end of the upload (p starts at offset
// len(Prefix)) and returns the verdict. size is the upload's declared size,
// or storage.SizeUnknown (negative) while it is not known: then the verdict
// waits for SniffLen bytes, or for a last Feed(nil, size) once it is known.
//
// The verdict is final once SniffLen bytes (or the whole upload) are known.
// Before that, only a type that is both specific and forbidden (say
// text/html when images are allowed) is rejected at once: a generic answer
// (application/octet-stream, text/plain) on a short prefix may still turn
// into an allowed type, so we wait for more bytes.
func (s *Sniffer) Feed(p []byte, size int64, allowed Types) Verdict {
	if s.Decided {
		return Allowed
	}
	if allowed.Any() || size == 0 {
		// Nothing to enforce, or no content at all to sniff: an empty file
		// is only as good as its declared type, which was checked at start.
		s.Decided, s.Prefix = true, nil
		return Allowed
	}
	want := SniffLen
	if size > 0 {
		want = int(min(SniffLen, size))
	}
	if room := want - len(s.Prefix); room > 0 {
		s.Prefix = append(s.Prefix, p[:min(room, len(p))]...)
	}
	t := http.DetectContentType(s.Prefix)
	final := len(s.Prefix) >= want
	switch {
	case allowed.Allows(t) && final:
		s.Decided, s.Prefix, s.Type = true, nil, t
		return Allowed
	case !allowed.Allows(t) && (final || !genericType(t)):
		s.Type = t
		return Forbidden
	}
	return Undecided
}

// genericType reports whether t is one of the sniffer's fallbacks, which say
// "could not tell" rather than "this is".
func genericType(t string) bool {
	mt, _ := storage.MediaType(t)
	return mt == "application/octet-stream" || mt == "text/plain"
}
