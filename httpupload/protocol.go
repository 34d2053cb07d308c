package httpupload

import (
	"encoding/base64"
	"fmt"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/ferryhq/ferry/storage"
)

// TusVersion is the only tus protocol version served.
const TusVersion = "1.0.0"

// tusExtensions are the tus 1.0 extensions served, as OPTIONS lists them.
const tusExtensions = "creation,creation-with-upload,creation-defer-length,termination,expiration,checksum"

// protocol is what a request speaks.
type protocol struct {
	tus bool
	// interop is the IETF draft's Upload-Draft-Interop-Version as sent
	// ("" for a client of the newest draft, which sends none; 0 then).
	interop    string
	interopNum int
}

// detect tells the protocol of r: tus when it carries Tus-Resumable, IETF
// when it carries an IETF header (Upload-Draft-Interop-Version,
// Upload-Complete or Upload-Incomplete). ok is false when it carries
// neither: then only HEAD, DELETE and OPTIONS are answered, as IETF.
func detect(r *http.Request) (p protocol, ok bool) {
	if r.Header.Get("Tus-Resumable") != "" {
		return protocol{tus: true}, true
	}
	p.interop = r.Header.Get("Upload-Draft-Interop-Version")
	if p.interop != "" {
		p.interopNum, _ = strconv.Atoi(p.interop)
		return p, true
	}
	_, complete := r.Header["Upload-Complete"]
	_, incomplete := r.Header["Upload-Incomplete"]
	return p, complete || incomplete
}

// usesIncomplete reports whether the draft is one that says
// Upload-Incomplete (interop version 3) instead of Upload-Complete.
func (p protocol) usesIncomplete() bool { return !p.tus && p.interopNum == 3 }

// sfBool parses a structured-field boolean (RFC 8941): ?1 or ?0.
func sfBool(v string) (bool, error) {
	switch strings.TrimSpace(v) {
	case "?1":
		return true, nil
	case "?0":
		return false, nil
	}
	return false, fmt.Errorf("%q is not a structured boolean (?1 or ?0)", v)
}

// uploadComplete reads whether an IETF request says the upload is complete
// with this request's body. present is false when it says nothing.
func (p protocol) uploadComplete(r *http.Request) (complete, present bool, err error) {
	name := "Upload-Complete"
	if p.usesIncomplete() {
		name = "Upload-Incomplete"
	}
	v, present := r.Header[name]
	if !present {
		return false, false, nil
	}
	if len(v) != 1 {
		return false, true, fmt.Errorf("%s appears more than once", name)
	}
	b, err := sfBool(v[0])
	if err != nil {
		return false, true, fmt.Errorf("%s: %w", name, err)
	}
	if p.usesIncomplete() {
		b = !b
	}
	return b, true, nil
}

// setComplete writes the IETF header that says whether the upload is
// complete, in the request's draft's words.
func (p protocol) setComplete(h http.Header, complete bool) {
	if p.tus {
		return
	}
	v := map[bool]string{true: "?1", false: "?0"}
	if p.usesIncomplete() {
		h.Set("Upload-Incomplete", v[!complete])
		return
	}
	h.Set("Upload-Complete", v[complete])
}

// stamp sets the headers every answer in the request's protocol carries.
func (p protocol) stamp(h http.Header) {
	if p.tus {
		h.Set("Tus-Resumable", TusVersion)
		return
	}
	if p.interop != "" {
		h.Set("Upload-Draft-Interop-Version", p.interop)
	}
}

// parseLength parses a whole number of bytes: digits only, no sign, no
// spaces, within int64.
func parseLength(v string) (int64, bool) {
	if v == "" || len(v) > 19 {
		return 0, false
	}
	for i := 0; i < len(v); i++ {
		if v[i] < '0' || v[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseInt(v, 10, 64)
	return n, err == nil
}

// header returns the one value of a header; ok is false if it is absent;
// err if it appears more than once (two offsets cannot both be right).
func header(r *http.Request, name string) (v string, ok bool, err error) {
	vs, ok := r.Header[http.CanonicalHeaderKey(name)]
	if !ok {
		return "", false, nil
	}
	if len(vs) != 1 {
		return "", true, fmt.Errorf("%s appears more than once", name)
	}
	return vs[0], true, nil
}

// lengthHeader reads a byte-count header such as Upload-Length.
func lengthHeader(r *http.Request, name string) (n int64, ok bool, err error) {
	v, ok, err := header(r, name)
	if !ok || err != nil {
		return 0, ok, err
	}
	if n, ok = parseLength(v); !ok {
		return 0, true, fmt.Errorf("%s %q is not a whole number of bytes", name, v)
	}
	return n, true, nil
}

// metadata is what a creation request says about the file.
type metadata struct {
	name, mime, sha256 string
	raw                map[string]string // tus Upload-Metadata as sent, for HEAD
}

// parseTusMetadata parses tus Upload-Metadata: comma-separated pairs of a
// key and an optional base64 value. The file's name is under filename or
// name, its type under filetype or type (as Uppy and tus-js-client send
// them); an optional sha256 (hex) is the whole file's expected digest.
func parseTusMetadata(v string) (metadata, error) {
	m := metadata{raw: map[string]string{}}
	if strings.TrimSpace(v) == "" {
		return m, nil
	}
	for _, pair := range strings.Split(v, ",") {
		key, val, _ := strings.Cut(strings.TrimSpace(pair), " ")
		if key == "" || strings.ContainsAny(key, " \t") {
			return m, fmt.Errorf("Upload-Metadata has an empty or malformed key")
		}
		if _, dup := m.raw[key]; dup {
			return m, fmt.Errorf("Upload-Metadata repeats the key %q", key)
		}
		dec, err := base64.StdEncoding.DecodeString(strings.TrimSpace(val))
		if err != nil {
			return m, fmt.Errorf("Upload-Metadata value of %q is not base64", key)
		}
		if !utf8.Valid(dec) {
			return m, fmt.Errorf("Upload-Metadata value of %q is not UTF-8", key)
		}
		m.raw[key] = string(dec)
	}
	m.name = first(m.raw, "filename", "name")
	m.mime = first(m.raw, "filetype", "type")
	m.sha256 = strings.ToLower(m.raw["sha256"])
	return m, nil
}

func first(m map[string]string, keys ...string) string {
	for _, k := range keys {
		if v := m[k]; v != "" {
			return v
		}
	}
	return ""
}

// encodeTusMetadata is the inverse of parseTusMetadata, keys sorted.
func encodeTusMetadata(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(k)
		if m[k] != "" {
			b.WriteByte(' ')
			b.WriteString(base64.StdEncoding.EncodeToString([]byte(m[k])))
		}
	}
	return b.String()
}

// ietfMetadata reads an IETF creation request's representation metadata:
// its Content-Type (the protocol's own types excepted, which describe the
// request, not the file) and the filename of its Content-Disposition.
func ietfMetadata(r *http.Request) (metadata, error) {
	var m metadata
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, ok := storage.MediaType(ct)
		if !ok {
			return m, fmt.Errorf("Content-Type %q is not a media type", ct)
		}
		if !requestOnlyType(mt) {
			m.mime = ct
		}
	}
	if cd := r.Header.Get("Content-Disposition"); cd != "" {
		if _, params, err := mime.ParseMediaType(cd); err == nil {
			m.name = params["filename"] // mime decodes filename* (RFC 2231) into it
		}
	}
	return m, nil
}

// sanitizeName makes a client's file name fit to store: no control
// characters, and not empty (then fallback). Names over
// storage.MaxNameBytes are refused before this (checkName).
func sanitizeName(name, fallback string) string {
	name = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || r == utf8.RuneError {
			return -1
		}
		return r
	}, name)
	name = strings.TrimSpace(name)
	if name == "" {
		return fallback
	}
	return name
}

// checkName refuses a declared name too long to travel in headers.
func checkName(name string) error {
	if len(name) > storage.MaxNameBytes {
		return fmt.Errorf("the file name is %d bytes, over the limit of %d", len(name), storage.MaxNameBytes)
	}
	return nil
}

// requestOnlyType reports whether a Content-Type describes the request
// rather than the file: the protocols' own types, and the form types that
// curl --data-binary sends when told nothing.
func requestOnlyType(mt string) bool {
	switch mt {
	case "application/partial-upload", "application/offset+octet-stream",
		"application/x-www-form-urlencoded", "multipart/form-data":
		return true
	}
	return false
}
