package download_test

import (
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ferryhq/ferry/storage"
)

// span is an inclusive byte range, as Content-Range writes it.
type span struct{ first, last int }

// oneByteRanges returns "bytes=" with n one-byte ranges, every other byte.
func oneByteRanges(n int) string {
	specs := make([]string, n)
	for i := range specs {
		specs[i] = fmt.Sprintf("%d-%d", 2*i, 2*i)
	}
	return "bytes=" + strings.Join(specs, ",")
}

// TestFileRanges sends normal and hostile Range headers for a 1,000-byte file
// and checks status, headers and bytes against the contract.
func TestFileRanges(t *testing.T) {
	env := newEnv(t, nil)
	const size = 1000
	data := randomBytes(size, 1)
	info := put(t, env.store, storage.Meta{Name: "data.bin", MIME: "application/octet-stream"}, data)
	url := env.srv.URL + "/files/" + info.ID

	var parts32 []span
	for i := range 32 {
		parts32 = append(parts32, span{2 * i, 2 * i})
	}
	const (
		whole = http.StatusOK
		part  = http.StatusPartialContent
		none  = http.StatusRequestedRangeNotSatisfiable
	)
	tests := []struct {
		name   string
		rng    string
		status int
		spans  []span // the parts of a 206, in order
	}{
		{"closed", "bytes=0-99", part, []span{{0, 99}}},
		{"first byte", "bytes=0-0", part, []span{{0, 0}}},
		{"last byte", "bytes=999-999", part, []span{{999, 999}}},
		{"whole as range", "bytes=0-999", part, []span{{0, 999}}},
		{"open", "bytes=100-", part, []span{{100, 999}}},
		{"suffix", "bytes=-100", part, []span{{900, 999}}},
		{"suffix of whole file", "bytes=-1000", part, []span{{0, 999}}},
		{"suffix longer than file", "bytes=-2000", part, []span{{0, 999}}},
		{"last byte past end", "bytes=990-5000", part, []span{{990, 999}}},
		{"unit upper case", "BYTES=0-1", part, []span{{0, 1}}},
		{"unit mixed case", "Bytes=10-11", part, []span{{10, 11}}},
		{"space after comma", "bytes=0-1, 5-6", part, []span{{0, 1}, {5, 6}}},
		{"two ranges", "bytes=0-9,20-29", part, []span{{0, 9}, {20, 29}}},
		{"range and suffix", "bytes=0-0,-1", part, []span{{0, 0}, {999, 999}}},
		{"overlapping within size", "bytes=0-10,5-15", part, []span{{0, 10}, {5, 15}}},
		{"empty elements", "bytes=0-1,,2-3", part, []span{{0, 1}, {2, 3}}},
		{"32 ranges", oneByteRanges(32), part, parts32},
		{"suffix zero beside a good range", "bytes=-0,0-1", part, []span{{0, 1}}},
		{"past end beside a good range", "bytes=1000-,0-1", part, []span{{0, 1}}},

		{"suffix zero", "bytes=-0", none, nil},
		{"first byte at end", "bytes=1000-", none, nil},
		{"first byte past end", "bytes=1000-2000", none, nil},
		{"all past end", "bytes=5000-,6000-", none, nil},
		{"suffix zero and past end", "bytes=-0,1000-", none, nil},

		{"last before first", "bytes=5-1", whole, nil},
		{"last before first past end", "bytes=1000-5", whole, nil},
		{"huge first", "bytes=99999999999999999999-", whole, nil},
		{"huge last", "bytes=0-99999999999999999999", whole, nil},
		{"huge suffix", "bytes=-99999999999999999999", whole, nil},
		{"unknown unit", "items=0-1", whole, nil},
		{"no equals", "bytes 0-1", whole, nil},
		{"no ranges", "bytes=", whole, nil},
		{"only a comma", "bytes=,", whole, nil},
		{"not a number", "bytes=abc", whole, nil},
		{"three numbers", "bytes=0-1-2", whole, nil},
		{"negative suffix", "bytes=--1", whole, nil},
		{"plus sign", "bytes=+1-2", whole, nil},
		{"hex", "bytes=0x10-20", whole, nil},
		{"space inside", "bytes=0 - 1", whole, nil},
		{"garbage", "garbage", whole, nil},
		{"garbage after a good range", "bytes=0-1,garbage", whole, nil},
		{"33 ranges", oneByteRanges(33), whole, nil},
		{"300 tiny ranges", oneByteRanges(300), whole, nil},
		{"1000 ranges", oneByteRanges(1000), whole, nil},
		{"overlap over size", "bytes=0-599,400-999", whole, nil},
		{"same range repeated", "bytes=0-499,0-499,0-1", whole, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := do(t, http.MethodGet, url, map[string]string{"Range": tt.rng})
			switch tt.status {
			case whole:
				wantWhole(t, resp, body, data)
			case none:
				wantError(t, resp, body, none, "range_not_satisfiable")
				if got, want := resp.Header.Get("Content-Range"), "bytes */1000"; got != want {
					t.Errorf("Content-Range %q, want %q", got, want)
				}
			case part:
				wantParts(t, resp, body, data, "application/octet-stream", tt.spans)
			}
			if tt.status != none {
				if got := resp.Header.Get("Accept-Ranges"); got != "bytes" {
					t.Errorf("Accept-Ranges %q, want bytes", got)
				}
			}
		})
	}
}

// wantWhole checks a 200 with the whole file.
func wantWhole(t *testing.T, resp *http.Response, body, data []byte) {
	t.Helper()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d, want 200 (Content-Range %q)", resp.StatusCode, resp.Header.Get("Content-Range"))
	}
	if got := resp.Header.Get("Content-Length"); got != strconv.Itoa(len(data)) {
		t.Errorf("Content-Length %q, want %d", got, len(data))
	}
	if got := resp.Header.Get("Content-Range"); got != "" {
		t.Errorf("a 200 carries Content-Range %q", got)
	}
	wantBody(t, body, data)
}

// wantParts checks a 206: one range in the body with Content-Range, or
// several as multipart/byteranges whose parts carry ctype and their range.
func wantParts(t *testing.T, resp *http.Response, body, data []byte, ctype string, spans []span) {
	t.Helper()
	if resp.StatusCode != http.StatusPartialContent {
		t.Fatalf("status %d, want 206", resp.StatusCode)
	}
	if got := resp.Header.Get("Content-Length"); got != strconv.Itoa(len(body)) {
		t.Errorf("Content-Length %q, body has %d bytes", got, len(body))
	}
	contentRange := func(s span) string { return fmt.Sprintf("bytes %d-%d/%d", s.first, s.last, len(data)) }
	if len(spans) == 1 {
		if got, want := resp.Header.Get("Content-Range"), contentRange(spans[0]); got != want {
			t.Errorf("Content-Range %q, want %q", got, want)
		}
		if got := resp.Header.Get("Content-Type"); got != ctype {
			t.Errorf("Content-Type %q, want %q", got, ctype)
		}
		wantBody(t, body, data[spans[0].first:spans[0].last+1])
		return
	}
	mt, params, err := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/byteranges" {
		t.Fatalf("Content-Type %q, want multipart/byteranges", resp.Header.Get("Content-Type"))
	}
	if got := resp.Header.Get("Content-Range"); got != "" {
		t.Errorf("a multipart 206 carries Content-Range %q", got)
	}
	mr := multipart.NewReader(strings.NewReader(string(body)), params["boundary"])
	for i, s := range spans {
		p, err := mr.NextPart()
		if err != nil {
			t.Fatalf("part %d: %v", i, err)
		}
		if got := p.Header.Get("Content-Type"); got != ctype {
			t.Errorf("part %d: Content-Type %q, want %q", i, got, ctype)
		}
		if got, want := p.Header.Get("Content-Range"), contentRange(s); got != want {
			t.Errorf("part %d: Content-Range %q, want %q", i, got, want)
		}
		got, err := io.ReadAll(p)
		if err != nil {
			t.Fatalf("part %d: %v", i, err)
		}
		wantBody(t, got, data[s.first:s.last+1])
	}
	if p, err := mr.NextPart(); err != io.EOF {
		t.Fatalf("more parts than ranges: %v %v", p, err)
	}
}

// TestFileEmpty checks that any Range on an empty file answers 200.
func TestFileEmpty(t *testing.T) {
	env := newEnv(t, nil)
	info := put(t, env.store, storage.Meta{Name: "empty.bin"}, nil)
	url := env.srv.URL + "/files/" + info.ID
	for _, rng := range []string{"", "bytes=0-1", "bytes=0-", "bytes=-0", "bytes=-5", "bytes=5-1", "garbage"} {
		t.Run(rng, func(t *testing.T) {
			resp, body := do(t, http.MethodGet, url, map[string]string{"Range": rng})
			wantWhole(t, resp, body, nil)
		})
	}
}

// TestFileHead checks that HEAD answers a GET's headers without a body and
// ignores Range.
func TestFileHead(t *testing.T) {
	env := newEnv(t, nil)
	data := randomBytes(1000, 2)
	info := put(t, env.store, storage.Meta{Name: "photo.png", MIME: "image/png"}, data)
	url := env.srv.URL + "/files/" + info.ID
	get, _ := do(t, http.MethodGet, url, nil)
	for _, rng := range []string{"", "bytes=0-1", "bytes=0-1,5-6", "bytes=-0", "bytes=5000-", "garbage"} {
		t.Run(rng, func(t *testing.T) {
			resp, body := do(t, http.MethodHead, url, map[string]string{"Range": rng})
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d, want 200", resp.StatusCode)
			}
			if len(body) != 0 {
				t.Errorf("HEAD has a %d-byte body", len(body))
			}
			for _, h := range []string{"Content-Length", "Content-Type", "Etag", "Last-Modified",
				"Accept-Ranges", "Content-Disposition", "Content-Security-Policy"} {
				if got, want := resp.Header.Get(h), get.Header.Get(h); got != want || got == "" {
					t.Errorf("%s: HEAD %q, GET %q", h, got, want)
				}
			}
		})
	}
}

// TestFileHeaders checks the headers of a plain download.
func TestFileHeaders(t *testing.T) {
	env := newEnv(t, nil)
	data := []byte("hello, world\n")
	info := put(t, env.store, storage.Meta{Name: "hello.txt", MIME: "text/plain; charset=utf-8"}, data)
	resp, body := do(t, http.MethodGet, env.srv.URL+"/files/"+info.ID, nil)
	wantWhole(t, resp, body, data)
	want := map[string]string{
		"Content-Type":            "text/plain; charset=utf-8",
		"Etag":                    `"` + info.SHA256 + `"`,
		"Last-Modified":           info.Modified.UTC().Format(http.TimeFormat),
		"Accept-Ranges":           "bytes",
		"Content-Disposition":     `inline; filename="hello.txt"; filename*=UTF-8''hello.txt`,
		"Content-Security-Policy": "sandbox",
	}
	for h, v := range want {
		if got := resp.Header.Get(h); got != v {
			t.Errorf("%s: %q, want %q", h, got, v)
		}
	}
}

// TestFileContentType checks the type and disposition chosen from the stored
// type or, failing it, the content (never the name: issue 9); and that a
// sniffed type is the same for GET, HEAD, a range and the parts of a
// multipart answer.
func TestFileContentType(t *testing.T) {
	raw := &rawMeta{}
	env := newEnv(t, func(b storage.Backend) storage.Backend { raw.Backend = b; return raw })
	html := []byte("<!DOCTYPE html><html><body><script>alert(1)</script></body></html>\n")
	// What passes an image/* filter: PNG's magic, then a page.
	pngHTML := append([]byte("\x89PNG\r\n\x1a\n"), html...)
	tests := []struct {
		name, mime string
		data       []byte
		wantType   string
		inline     bool
	}{
		{"photo.jpg", "image/png", randomBytes(100, 3), "image/png", true},
		{"clip", "video/mp4", randomBytes(100, 3), "video/mp4", true},
		{"song", "audio/mpeg", randomBytes(100, 3), "audio/mpeg", true},
		{"doc", "application/pdf", []byte("%PDF-1.4\n"), "application/pdf", false},
		{"notes", "text/plain", []byte("notes\n"), "text/plain", true},
		{"page", "text/html", html, "text/html", false},
		{"drawing", "image/svg+xml", []byte("<svg/>"), "image/svg+xml", false},
		{"feed", "application/atom+xml", []byte("<feed/>"), "application/atom+xml", false},
		{"app", "application/octet-stream", randomBytes(100, 3), "application/octet-stream", false},
		{"type with params", "Text/Plain; Charset=UTF-8", []byte("xyz"), "text/plain; charset=UTF-8", true},
		{"a.txt", "", []byte("text"), "text/plain; charset=utf-8", true},
		// The name's extension never gives a type: the content is sniffed.
		{"A.PNG", "", randomBytes(100, 3), "application/octet-stream", false},
		{"x.mp4", "not a type", randomBytes(100, 3), "application/octet-stream", false},
		{"x.pdf", "text/html\r\nX-Evil: 1", []byte("%PDF-"), "application/pdf", false},
		{"evil.html", "", pngHTML, "image/png", true},
		{"evil.htm", "image/png", pngHTML, "image/png", true},
		{"a.pdf", "", append([]byte("\x89PNG\r\n\x1a\n"), randomBytes(100, 3)...), "image/png", true},
		{"a.pdf", "image/gif", []byte("GIF89a"), "image/gif", true},
		{"evil.svg", "", []byte(`<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"/>`), "text/xml; charset=utf-8", false},
		{"page.html", "", html, "text/html; charset=utf-8", false},
		{"no-extension", "", html, "text/html; charset=utf-8", false},
		// A type sniffed from the content decides the disposition like a stored one.
		{"unknown.ext", "", []byte("just text\n"), "text/plain; charset=utf-8", true},
		{"noext-png", "", append([]byte("\x89PNG\r\n\x1a\n"), randomBytes(100, 3)...), "image/png", true},
		{"blob", "", []byte{0, 1, 2, 3, 0xff}, "application/octet-stream", false},
	}
	for _, tt := range tests {
		t.Run(tt.name+"|"+tt.mime, func(t *testing.T) {
			meta := storage.Meta{Name: tt.name, MIME: tt.mime}
			var info storage.Info
			if meta.Validate() == nil {
				info = put(t, env.store, meta, tt.data)
			} else {
				// A type storage refuses, as a record written earlier or
				// elsewhere might hold it.
				info = raw.put(t, meta, tt.data)
			}
			url := env.srv.URL + "/files/" + info.ID
			resp, body := do(t, http.MethodGet, url, nil)
			wantWhole(t, resp, body, tt.data)
			if got := resp.Header.Get("Content-Type"); got != tt.wantType {
				t.Errorf("Content-Type %q, want %q", got, tt.wantType)
			}
			if resp.Header.Get("X-Evil") != "" {
				t.Errorf("a stored type injected a header")
			}
			kind := "attachment"
			if tt.inline {
				kind = "inline"
			}
			if got := resp.Header.Get("Content-Disposition"); !strings.HasPrefix(got, kind+";") {
				t.Errorf("Content-Disposition %q, want %s", got, kind)
			}
			forced, _ := do(t, http.MethodGet, url+"?download=1", nil)
			if got := forced.Header.Get("Content-Disposition"); !strings.HasPrefix(got, "attachment;") {
				t.Errorf("?download=1: Content-Disposition %q, want attachment", got)
			}
			head, _ := do(t, http.MethodHead, url, nil)
			ranged, body := do(t, http.MethodGet, url, map[string]string{"Range": "bytes=1-"})
			for what, r := range map[string]*http.Response{"HEAD": head, "range": ranged} {
				if got := r.Header.Get("Content-Type"); got != tt.wantType {
					t.Errorf("%s: Content-Type %q, want %q", what, got, tt.wantType)
				}
			}
			wantParts(t, ranged, body, tt.data, tt.wantType, []span{{1, len(tt.data) - 1}})
			multi, body := do(t, http.MethodGet, url, map[string]string{"Range": "bytes=0-0,-1"})
			wantParts(t, multi, body, tt.data, tt.wantType, []span{{0, 0}, {len(tt.data) - 1, len(tt.data) - 1}})
		})
	}
}

// TestFileDispositionNames checks that hostile names come out safe through a
// real response (the exact encodings are in TestContentDisposition).
func TestFileDispositionNames(t *testing.T) {
	env := newEnv(t, nil)
	tests := []struct{ name, want string }{
		{"a\"b.txt", `inline; filename="a\"b.txt"; filename*=UTF-8''a%22b.txt`},
		{"evil\r\nSet-Cookie: x=1.txt", `inline; filename="evilSet-Cookie: x=1.txt"; filename*=UTF-8''evilSet-Cookie%3A%20x%3D1.txt`},
		// No extension, content "x": sniffed as plain text, so inline.
		{"../../etc/passwd", `inline; filename=".._.._etc_passwd"; filename*=UTF-8''.._.._etc_passwd`},
		{"Grüße 😀.pdf", `inline; filename="Gr__e _.pdf"; filename*=UTF-8''Gr%C3%BC%C3%9Fe%20%F0%9F%98%80.pdf`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			info := put(t, env.store, storage.Meta{Name: tt.name}, []byte("x"))
			resp, _ := do(t, http.MethodGet, env.srv.URL+"/files/"+info.ID, nil)
			if got := resp.Header.Get("Content-Disposition"); got != tt.want {
				t.Errorf("Content-Disposition\n got %s\nwant %s", got, tt.want)
			}
			if got := resp.Header.Get("Set-Cookie"); got != "" {
				t.Errorf("a name injected Set-Cookie: %q", got)
			}
			// What a client decodes is the name, made safe.
			_, params, err := mime.ParseMediaType(resp.Header.Get("Content-Disposition"))
			if err != nil {
				t.Fatalf("Content-Disposition does not parse: %v", err)
			}
			if strings.ContainsAny(params["filename"], "/\r\n\x00") {
				t.Errorf("decoded name %q is not a plain file name", params["filename"])
			}
		})
	}
}

// TestFileConditional checks If-None-Match, If-Match, If-Modified-Since,
// If-Unmodified-Since and If-Range, alone and with Range.
func TestFileConditional(t *testing.T) {
	env := newEnv(t, nil)
	data := randomBytes(1000, 4)
	info := put(t, env.store, storage.Meta{Name: "data.bin", MIME: "application/octet-stream"}, data)
	url := env.srv.URL + "/files/" + info.ID
	etag := `"` + info.SHA256 + `"`
	lastMod := info.Modified.UTC().Format(http.TimeFormat)
	later := info.Modified.Add(time.Hour).UTC().Format(http.TimeFormat)
	earlier := info.Modified.Add(-time.Hour).UTC().Format(http.TimeFormat)
	const (
		whole       = http.StatusOK
		part        = http.StatusPartialContent
		notModified = http.StatusNotModified
		failed      = http.StatusPreconditionFailed
		none        = http.StatusRequestedRangeNotSatisfiable
	)
	tests := []struct {
		name   string
		header map[string]string
		status int
	}{
		{"If-None-Match match", map[string]string{"If-None-Match": etag}, notModified},
		{"If-None-Match weak match", map[string]string{"If-None-Match": "W/" + etag}, notModified},
		{"If-None-Match in a list", map[string]string{"If-None-Match": `"a", ` + etag}, notModified},
		{"If-None-Match star", map[string]string{"If-None-Match": "*"}, notModified},
		{"If-None-Match other", map[string]string{"If-None-Match": `"other"`}, whole},
		{"If-None-Match beats Range", map[string]string{"If-None-Match": etag, "Range": "bytes=0-1"}, notModified},
		{"If-None-Match beats 416", map[string]string{"If-None-Match": etag, "Range": "bytes=5000-"}, notModified},
		{"If-Modified-Since later", map[string]string{"If-Modified-Since": later}, notModified},
		{"If-Modified-Since earlier", map[string]string{"If-Modified-Since": earlier}, whole},
		{"If-Match match", map[string]string{"If-Match": etag}, whole},
		{"If-Match star", map[string]string{"If-Match": "*"}, whole},
		{"If-Match other", map[string]string{"If-Match": `"other"`}, failed},
		{"If-Match weak", map[string]string{"If-Match": "W/" + etag}, failed},
		{"If-Match beats 416", map[string]string{"If-Match": `"other"`, "Range": "bytes=5000-"}, failed},
		{"If-Unmodified-Since earlier", map[string]string{"If-Unmodified-Since": earlier}, failed},
		{"If-Unmodified-Since later", map[string]string{"If-Unmodified-Since": later}, whole},
		{"If-Range etag", map[string]string{"If-Range": etag, "Range": "bytes=0-9"}, part},
		{"If-Range other etag", map[string]string{"If-Range": `"other"`, "Range": "bytes=0-9"}, whole},
		{"If-Range weak etag", map[string]string{"If-Range": "W/" + etag, "Range": "bytes=0-9"}, whole},
		{"If-Range date", map[string]string{"If-Range": lastMod, "Range": "bytes=0-9"}, part},
		{"If-Range later date", map[string]string{"If-Range": later, "Range": "bytes=0-9"}, whole},
		{"If-Range earlier date", map[string]string{"If-Range": earlier, "Range": "bytes=0-9"}, whole},
		{"If-Range garbage", map[string]string{"If-Range": "yesterday", "Range": "bytes=0-9"}, whole},
		{"If-Range etag, unsatisfiable", map[string]string{"If-Range": etag, "Range": "bytes=5000-"}, none},
		{"If-Range other, unsatisfiable", map[string]string{"If-Range": `"other"`, "Range": "bytes=5000-"}, whole},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := do(t, http.MethodGet, url, tt.header)
			switch tt.status {
			case whole:
				wantWhole(t, resp, body, data)
			case part:
				wantParts(t, resp, body, data, "application/octet-stream", []span{{0, 9}})
			case notModified:
				if resp.StatusCode != notModified {
					t.Fatalf("status %d, want 304", resp.StatusCode)
				}
				if len(body) != 0 {
					t.Errorf("304 with a %d-byte body", len(body))
				}
				if got := resp.Header.Get("Etag"); got != etag {
					t.Errorf("304: Etag %q, want %q", got, etag)
				}
			case failed:
				wantError(t, resp, body, failed, "precondition_failed")
			case none:
				wantError(t, resp, body, none, "range_not_satisfiable")
			}
		})
	}
}
