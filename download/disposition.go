package download

import (
	"mime"
	"path"
	"strings"
	"unicode"
	"unicode/utf8"
)

// typeByExtension maps a lower-case file extension to a content type. It is
// used instead of mime.TypeByExtension, which also reads the host's
// mime.types files, so that a file gets the same Content-Type on every
// machine. It is a switch rather than a map so that nothing can change it.
func typeByExtension(ext string) string {
	switch ext {
	case ".txt", ".log":
		return "text/plain; charset=utf-8"
	case ".csv":
		return "text/csv; charset=utf-8"
	case ".md":
		return "text/markdown; charset=utf-8"
	case ".htm", ".html":
		return "text/html; charset=utf-8"
	case ".css":
		return "text/css; charset=utf-8"
	case ".js", ".mjs":
		return "text/javascript; charset=utf-8"
	case ".xml":
		return "text/xml; charset=utf-8"
	case ".json":
		return "application/json"
	case ".pdf":
		return "application/pdf"
	case ".wasm":
		return "application/wasm"
	case ".zip":
		return "application/zip"
	case ".gz":
		return "application/gzip"
	case ".tar":
		return "application/x-tar"
	case ".avif":
		return "image/avif"
	case ".bmp":
		return "image/bmp"
	case ".gif":
		return "image/gif"
	case ".ico":
		return "image/vnd.microsoft.icon"
	case ".jpeg", ".jpg":
		return "image/jpeg"
	case ".png":
		return "image/png"
	case ".svg":
		return "image/svg+xml"
	case ".webp":
		return "image/webp"
	case ".flac":
		return "audio/flac"
	case ".m4a":
		return "audio/mp4"
	case ".mp3":
		return "audio/mpeg"
	case ".oga", ".ogg", ".opus":
		return "audio/ogg"
	case ".wav":
		return "audio/wav"
	case ".m4v", ".mp4":
		return "video/mp4"
	case ".mkv":
		return "video/x-matroska"
	case ".mov":
		return "video/quicktime"
	case ".ogv":
		return "video/ogg"
	case ".webm":
		return "video/webm"
	}
	return ""
}

// declaredType is the Content-Type of a file: the type stored with it when
// that is a well-formed media type, else the type its name's extension
// implies, else "" (the caller lets http.ServeContent sniff the content).
// The stored type is re-formatted by the mime package, so a hostile value
// cannot smuggle anything into the header.
func declaredType(storedMIME, name string) string {
	if mt, params, err := mime.ParseMediaType(storedMIME); err == nil {
		// ParseMediaType takes any token; a Content-Type needs type/subtype.
		typ, sub, ok := strings.Cut(mt, "/")
		if ok && typ != "" && sub != "" && !strings.Contains(sub, "/") {
			if t := mime.FormatMediaType(mt, params); t != "" {
				return t
			}
		}
	}
	return typeByExtension(strings.ToLower(path.Ext(name)))
}

// showsInline reports whether a browser shows content of type ctype safely,
// so that it is served inline: images, audio, video, PDF and plain text.
// SVG is an image that can carry script, so it is an attachment; so is a
// type that is unknown ("").
func showsInline(ctype string) bool {
	mt, _, err := mime.ParseMediaType(ctype)
	if err != nil {
		return false
	}
	switch {
	case mt == "image/svg+xml":
		return false
	case strings.HasPrefix(mt, "image/"), strings.HasPrefix(mt, "audio/"), strings.HasPrefix(mt, "video/"):
		return true
	}
	return mt == "application/pdf" || mt == "text/plain"
}

// contentDisposition builds a Content-Disposition value (RFC 6266) for a
// file called name: "inline" or "attachment", an ASCII filename="..."
// fallback for old clients and a UTF-8 filename* (RFC 8187) with the real
// name. Control characters and bidirectional overrides are dropped from both,
// and slashes become "_", so the name a client saves under is a plain file
// name; in the fallback every non-ASCII character becomes "_" and quotes and
// backslashes are escaped. An empty result falls back to fallbackName.
func contentDisposition(attachment bool, name, fallbackName string) string {
	name = safeName(name)
	if name == "" {
		name = fallbackName
	}
	kind := "inline"
	if attachment {
		kind = "attachment"
	}
	var b strings.Builder
	b.WriteString(kind)
	b.WriteString(`; filename="`)
	for _, r := range name {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r >= utf8.RuneSelf:
			b.WriteByte('_')
		default:
			b.WriteRune(r)
		}
	}
	b.WriteString(`"; filename*=UTF-8''`)
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

// safeName makes name valid UTF-8, drops control characters (CR, LF, NUL…)
// and the invisible bidirectional controls that can disguise an extension
// ("gpj.exe" shown as "exe.jpg"), and turns slashes into "_".
func safeName(name string) string {
	name = strings.ToValidUTF8(name, "\uFFFD")
	return strings.Map(func(r rune) rune {
		switch {
		case unicode.IsControl(r), isBidiControl(r):
			return -1
		case r == '/':
			return '_'
		}
		return r
	}, name)
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
