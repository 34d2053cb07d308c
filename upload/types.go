package upload

import (
	"fmt"
	"mime"
	"net/http"
	"strings"
)

// sniffLen is how many leading bytes http.DetectContentType looks at.
const sniffLen = 512

// typeList is the server's list of allowed content types. An empty list
// allows every type and turns sniffing off.
type typeList []string

// newTypeList validates and normalises the configured patterns: "type/sub",
// "type/*" or "*/*", compared case-insensitively and without parameters.
func newTypeList(patterns []string) (typeList, error) {
	var l typeList
	for _, p := range patterns {
		mt, ok := mediaType(p)
		if !ok || (strings.HasPrefix(mt, "*/") && mt != "*/*") {
			return nil, fmt.Errorf("allowed type %q: want type/subtype, type/* or */*", p)
		}
		l = append(l, mt)
	}
	return l, nil
}

// mediaType returns the lower-case "type/subtype" of a Content-Type value,
// parameters dropped; ok is false unless it parses and has both parts
// (mime.ParseMediaType alone also accepts a bare token).
func mediaType(v string) (string, bool) {
	mt, _, err := mime.ParseMediaType(v)
	if err != nil {
		return "", false
	}
	typ, sub, ok := strings.Cut(mt, "/")
	if !ok || typ == "" || sub == "" {
		return "", false
	}
	return mt, true
}

// any reports whether every type is allowed (no list configured).
func (l typeList) any() bool { return len(l) == 0 }

// allows reports whether the media type t (parameters ignored) matches a
// pattern of the list. A type that does not parse is not allowed.
func (l typeList) allows(t string) bool {
	if l.any() {
		return true
	}
	mt, ok := mediaType(t)
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

// sniffVerdict is what sniffing the first bytes of an upload concluded.
type sniffVerdict int

const (
	sniffUndecided sniffVerdict = iota // too few bytes yet to tell
	sniffAllowed
	sniffForbidden
)

// sniffer decides, from the first sniffLen bytes of an upload (or all of it
// when it is shorter), whether its content type is allowed. Its prefix is
// saved in the checkpoint state until it decides, so a decision never depends
// on how the bytes were split into frames or connections.
type sniffer struct {
	decided bool
	prefix  []byte // the upload's first bytes, while undecided
	Type    string // the sniffed type once decided (empty if never sniffed)
}

// feed adds the bytes at the current end of the upload (p starts at offset
// len(prefix)) and returns the verdict. size is the upload's declared size.
//
// The verdict is final once sniffLen bytes (or the whole upload) are known.
// Before that, only a type that is both specific and forbidden (say
// text/html when images are allowed) is rejected at once: a generic answer
// (application/octet-stream, text/plain) on a short prefix may still turn
// into an allowed type, so we wait for more bytes.
func (s *sniffer) feed(p []byte, size int64, allowed typeList) sniffVerdict {
	if s.decided {
		return sniffAllowed
	}
	if allowed.any() || size == 0 {
		// Nothing to enforce, or no content at all to sniff: an empty file
		// is only as good as its declared type, which start checked.
		s.decided, s.prefix = true, nil
		return sniffAllowed
	}
	want := int(min(int64(sniffLen), size))
	if room := want - len(s.prefix); room > 0 {
		s.prefix = append(s.prefix, p[:min(room, len(p))]...)
	}
	t := http.DetectContentType(s.prefix)
	final := len(s.prefix) >= want
	switch {
	case allowed.allows(t) && final:
		s.decided, s.prefix, s.Type = true, nil, t
		return sniffAllowed
	case !allowed.allows(t) && (final || !genericType(t)):
		s.Type = t
		return sniffForbidden
	}
	return sniffUndecided
}

// genericType reports whether t is one of the sniffer's fallbacks, which say
// "could not tell" rather than "this is".
func genericType(t string) bool {
	mt, _ := mediaType(t)
	return mt == "application/octet-stream" || mt == "text/plain"
}
