package download

import (
	"mime"
	"path"
	"strings"
	"unicode"
	"unicode/utf8"
)

// declaredType is the Content-Type a file was accepted with: the type stored
// with it when that is a well-formed media type, else "" (the caller lets
// http.ServeContent sniff the content, as the upload's own sniffing did). The
// name's extension is never consulted: it is the client's word, checked
// against nothing, so "evil.html" holding an image must not become
// text/html. The stored type is re-formatted by the mime package, so a
// hostile value cannot smuggle anything into the header.
func declaredType(storedMIME string) string {
	if plainType(storedMIME) {
		return storedMIME // what the parse below would make of it
	}
	mt, params, err := mime.ParseMediaType(storedMIME)
	if err != nil {
		return ""
	}
	// ParseMediaType takes any token; a Content-Type needs type/subtype.
	typ, sub, ok := strings.Cut(mt, "/")
	if !ok || typ == "" || sub == "" || strings.Contains(sub, "/") {
		return ""
	}
	return mime.FormatMediaType(mt, params)
}

// showsInline reports whether content of type ctype is served inline:
// images, audio, video and plain text, which a browser shows without running
// anything. Active types (see isActive) are inline only when inlineActive
// is set (Config.InlineActive); everything else, an unknown type ("")
// included, is an attachment.
func showsInline(ctype string, inline inlinePolicy) bool {
	mt := ctype
	if !plainType(ctype) {
		var err error
		if mt, _, err = mime.ParseMediaType(ctype); err != nil {
			return false
		}
	}
	switch {
	case mt == "application/pdf":
		return inline.active || inline.pdf
	case isActive(mt):
		return inline.active
	case strings.HasPrefix(mt, "image/"), strings.HasPrefix(mt, "audio/"), strings.HasPrefix(mt, "video/"):
		return true
	}
	return mt == "text/plain"
}

// plainType reports whether s is a media type in the form the mime package
// formats one: lower case type/subtype, both tokens, no parameters. Such a
// value parses and formats to itself, so declaredType and showsInline take
// it as it is: most stored types are like that, and parsing one costs
// allocations on every download.
func plainType(s string) bool {
	slash := strings.IndexByte(s, '/')
	if slash <= 0 || slash == len(s)-1 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case i == slash:
		case 'a' <= c && c <= 'z', '0' <= c && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// inlinePolicy is which active types the operator lets be shown inline.
type inlinePolicy struct {
	active bool // every active type
	pdf    bool // PDF
}

// isActive reports whether a browser that renders the media type mt (lower
// case, no parameters) may run script or act on links in it: HTML,
// JavaScript, SVG and every other XML type (an XML document can hold XHTML),
// and PDF (whose viewers run scripts and forms).
func isActive(mt string) bool {
	switch mt {
	case "text/html", "text/javascript", "application/javascript", "application/x-javascript",
		"text/ecmascript", "application/ecmascript", "text/xml", "application/xml", "application/pdf":
		return true
	}
	return strings.HasSuffix(mt, "+xml") // image/svg+xml, application/xhtml+xml…
}

// maxDisposition is the most bytes a Content-Disposition value may take,
// whatever the stored name: a name of a few thousand emoji would otherwise
// make a header over 12 times its size, which proxies and clients refuse.
const maxDisposition = 2 << 10

// contentDisposition builds a Content-Disposition value (RFC 6266) for a
// file called name: "inline" or "attachment", an ASCII filename="..."
// fallback for old clients and a UTF-8 filename* (RFC 8187) with the real
// name. The name is first made a plain file name by safeName, then
// shortened by fitName so that the value is at most maxDisposition bytes.
// In the fallback every non-ASCII character becomes "_" and quotes are
// escaped. An empty result falls back to fallbackName.
func contentDisposition(attachment bool, name, fallbackName string) string {
	name = safeName(name)
	if name == "" {
		name = fallbackName
	}
	kind := "inline"
	if attachment {
		kind = "attachment"
	}
	const (
		fallbackStart = `; filename="`
		extStart      = `"; filename*=UTF-8''`
	)
	name = fitName(name, maxDisposition-len(kind)-len(fallbackStart)-len(extStart))
	var b strings.Builder
	// One allocation for the common name, which is written twice, once
	// percent-encoded.
	b.Grow(len(kind) + len(fallbackStart) + len(extStart) + 4*len(name))
	b.WriteString(kind)
	b.WriteString(fallbackStart)
	for _, r := range name {
		switch {
		case r == '"':
			b.WriteString(`\"`)
		case r >= utf8.RuneSelf:
			b.WriteByte('_')
		default:
			b.WriteRune(r)
		}
	}
	b.WriteString(extStart)
	const hex = "0123456789ABCDEF"
	for _, c := range []byte(name) {
		if isAttrChar(c) {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&0xf])
	}
	return b.String()
}

// encodedLen is how many bytes the rune r of a safe name takes in
// contentDisposition's two parameters together.
func encodedLen(r rune) int {
	switch {
	case r >= utf8.RuneSelf:
		return 1 + 3*utf8.RuneLen(r) // "_" and %XX per byte
	case r == '"':
		return 2 + 3 // \" and %22
	case isAttrChar(byte(r)):
		return 2
	}
	return 1 + 3
}

// nameLen is how many bytes s takes in contentDisposition's parameters.
func nameLen(s string) int {
	n := 0
	for _, r := range s {
		n += encodedLen(r)
	}
	return n
}

// fitName shortens name, on a rune boundary, until it takes at most budget
// bytes in contentDisposition's parameters. It keeps the extension when the
// extension is short (at most an eighth of the budget), so that a long name
// still opens with the right program: the stem is cut instead.
func fitName(name string, budget int) string {
	if nameLen(name) <= budget {
		return name
	}
	ext := path.Ext(name)
	if ext == name || nameLen(ext) > budget/8 {
		ext = ""
	}
	room := budget - nameLen(ext)
	stem := strings.TrimSuffix(name, ext)
	end := 0
	for i, r := range stem {
		if room -= encodedLen(r); room < 0 {
			break
		}
		end = i + utf8.RuneLen(r)
	}
	return stem[:end] + ext
}

// safeName makes name valid UTF-8, drops control characters (CR, LF, NUL…)
// and the invisible bidirectional controls that can disguise an extension
// ("gpj.exe" shown as "exe.jpg"), and turns slashes and backslashes into
// "_", so that no client can read a directory into it (Windows takes "\"
// as a separator). A name made only of dots ("." or ".."), which names a
// directory, has its dots turned into "_" too.
func safeName(name string) string {
	name = strings.ToValidUTF8(name, "\uFFFD")
	name = strings.Map(func(r rune) rune {
		switch {
		case unicode.IsControl(r), isBidiControl(r):
			return -1
		case r == '/', r == '\\':
			return '_'
		}
		return r
	}, name)
	if strings.Trim(name, ".") == "" {
		name = strings.Repeat("_", len(name))
	}
	return name
}

// isBidiControl reports whether r is one of Unicode's explicit bidirectional
// formatting characters (marks, embeddings, overrides and isolates).
func isBidiControl(r rune) bool {
	return r == '\u061c' || r == '\u200e' || r == '\u200f' ||
		(r >= '\u202a' && r <= '\u202e') || (r >= '\u2066' && r <= '\u2069')
}

// isAttrChar reports whether c is an attr-char of RFC 8187 §3.2.1, which
// appears in an ext-value without percent-encoding.
func isAttrChar(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("!#$&+-.^_`|~", c) >= 0
}
