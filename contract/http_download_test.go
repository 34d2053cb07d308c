package contract_test

import (
	"bytes"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// checkDownloadHeaders checks the §2 200 headers shared by GET and HEAD.
func checkDownloadHeaders(t *testing.T, what string, resp *http.Response, size int, wantType string) {
	t.Helper()
	h := resp.Header
	if got := h.Get("Content-Length"); got != strconv.Itoa(size) {
		t.Errorf("%s: Content-Length %q, want %d", what, got, size)
	}
	if mt, _, err := mime.ParseMediaType(h.Get("Content-Type")); err != nil || mt != wantType {
		t.Errorf("%s: Content-Type %q, want the stored type %s", what, h.Get("Content-Type"), wantType)
	}
	if got := h.Get("Accept-Ranges"); got != "bytes" {
		t.Errorf("%s: Accept-Ranges %q, want bytes", what, got)
	}
	etag := h.Get("ETag")
	if !strings.HasPrefix(etag, `"`) || !strings.HasSuffix(etag, `"`) || len(etag) < 3 || strings.Count(etag, `"`) != 2 {
		t.Errorf("%s: ETag %q, want a strong entity-tag (\"...\", no W/)", what, etag)
	}
	if lm, err := http.ParseTime(h.Get("Last-Modified")); err != nil {
		t.Errorf("%s: Last-Modified %q: %v", what, h.Get("Last-Modified"), err)
	} else if lm.After(time.Now().Add(2 * time.Second)) {
		t.Errorf("%s: Last-Modified %v is in the future", what, lm)
	}
	if cd := h.Get("Content-Disposition"); cd == "" {
		t.Errorf("%s: no Content-Disposition", what)
	}
	checkSandbox(t, what, resp)
	if got := h.Get("X-Content-Type-Options"); got != "nosniff" {
		t.Errorf("%s: X-Content-Type-Options %q, want nosniff", what, got)
	}
}

func checkSandbox(t *testing.T, what string, resp *http.Response) {
	t.Helper()
	csp := resp.Header.Values("Content-Security-Policy")
	ok := false
	for _, v := range csp {
		for _, d := range strings.Split(v, ";") {
			if strings.EqualFold(strings.TrimSpace(d), "sandbox") {
				ok = true
			}
		}
	}
	if !ok {
		t.Errorf("%s: Content-Security-Policy %q, want sandbox (no allow-scripts)", what, csp)
	}
}

// §2 GET and HEAD /files/<id>: "200 with Content-Length, Content-Type (the
// stored type), Accept-Ranges: bytes, a strong ETag, Last-Modified, and
// Content-Disposition"; "Every download also carries
// Content-Security-Policy: sandbox"; HEAD: "the headers a GET without
// Range would get, no body".
func TestDownloadHeadersGetAndHead(t *testing.T) {
	t.Parallel()
	s := start(t, cfg{})
	body := []byte(strings.Repeat("plain text line\n", 500))
	id := s.upload(t, "notes.txt", "text/plain", body)

	resp, got := s.get(t, "/files/"+id, nil)
	wantStatus(t, "GET", resp, got, http.StatusOK)
	checkDownloadHeaders(t, "GET", resp, len(body), "text/plain")
	if !bytes.Equal(got, body) {
		t.Errorf("GET body differs from the upload")
	}
	if resp.Header.Get("Content-Range") != "" {
		t.Errorf("GET without Range has Content-Range %q", resp.Header.Get("Content-Range"))
	}

	head, hb := s.do(t, http.MethodHead, "/files/"+id, nil)
	wantStatus(t, "HEAD", head, hb, http.StatusOK)
	checkDownloadHeaders(t, "HEAD", head, len(body), "text/plain")
	if len(hb) != 0 {
		t.Errorf("HEAD has a %d-byte body", len(hb))
	}
	for _, k := range []string{"Content-Length", "Content-Type", "Accept-Ranges", "ETag", "Last-Modified", "Content-Disposition", "Content-Security-Policy", "X-Content-Type-Options"} {
		if g, h := resp.Header.Get(k), head.Header.Get(k); g != h {
			t.Errorf("%s: GET %q, HEAD %q; HEAD must send the headers of a GET", k, g, h)
		}
	}
	// The same file twice has the same validators.
	again, _ := s.get(t, "/files/"+id, nil)
	if again.Header.Get("ETag") != resp.Header.Get("ETag") || again.Header.Get("Last-Modified") != resp.Header.Get("Last-Modified") {
		t.Errorf("validators changed between two GETs of one file")
	}
	// Different content has a different ETag.
	other := s.upload(t, "notes2.txt", "text/plain", append(body, '!'))
	r2, _ := s.get(t, "/files/"+other, nil)
	if r2.Header.Get("ETag") == resp.Header.Get("ETag") {
		t.Errorf("two files with different bytes share the ETag %s", r2.Header.Get("ETag"))
	}
}

// §2: "The disposition is inline for types a browser shows safely (images,
// audio, video, PDF, plain text) and attachment for everything else;
// ?download=1 always makes it attachment."
func TestContentDispositionType(t *testing.T) {
	t.Parallel()
	s := start(t, cfg{})
	for _, tc := range []struct {
		mime   string
		body   []byte
		inline bool
	}{
		{"image/png", pngBytes, true},
		{"image/gif", media("pixel.gif"), true},
		{"audio/mpeg", media("silence.mp3"), true},
		{"video/mp4", media("tiny.mp4"), true},
		{"application/pdf", media("tiny.pdf"), true},
		{"text/plain", textBytes, true},
		{"text/html", htmlBytes, false},
		{"application/octet-stream", data(100, 1), false},
		{"application/zip", media("tiny.zip"), false},
		{"application/javascript", []byte("alert(1)\n"), false},
		{"application/xhtml+xml", []byte("<?xml version=\"1.0\"?><html xmlns=\"http://www.w3.org/1999/xhtml\"></html>"), false},
	} {
		t.Run(tc.mime, func(t *testing.T) {
			t.Parallel()
			id := s.upload(t, "file", tc.mime, tc.body)
			for _, q := range []string{"", "?download=1"} {
				for _, method := range []string{http.MethodGet, http.MethodHead} {
					resp, b := s.do(t, method, "/files/"+id+q, nil)
					what := method + " " + tc.mime + q
					wantStatus(t, what, resp, b, http.StatusOK)
					if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt != tc.mime {
						t.Errorf("%s: Content-Type %q, want the stored %s", what, resp.Header.Get("Content-Type"), tc.mime)
					}
					typ, _, err := parseParams(resp.Header.Get("Content-Disposition"))
					if err != nil {
						t.Errorf("%s: Content-Disposition %q: %v", what, resp.Header.Get("Content-Disposition"), err)
					}
					want := "attachment"
					if tc.inline && q == "" {
						want = "inline"
					}
					if typ != want {
						t.Errorf("%s: Content-Disposition %q, want %s", what, resp.Header.Get("Content-Disposition"), want)
					}
					checkSandbox(t, what, resp)
				}
			}
		})
	}
}

// §2: Content-Disposition "with the original name: an ASCII filename="..."
// fallback (quotes and backslashes escaped, control characters dropped) and
// filename*=UTF-8”... (RFC 6266/8187)".
func TestContentDispositionFilename(t *testing.T) {
	t.Parallel()
	s := start(t, cfg{})
	for _, name := range []string{
		"report.pdf",
		`say "hi".txt`,
		`back\slash.txt`,
		`both \" and "\.txt`,
		"naïve café.txt",
		"日本語のファイル.txt",
		"emoji 😀.txt",
		"tab\there.txt",
		"new\nline.txt",
		"cr\r\nX-Injected: yes.txt",
		"bell\x07 and del\x7f.txt",
		"semi;colon,comma=equals.txt",
		"percent %41 and 'apostrophe' *star*.txt",
		"  spaces  .txt",
		"ümlaut\"quote\\slash.txt",
		"dir/sub/evil.txt",
	} {
		t.Run(strconv.Quote(name), func(t *testing.T) {
			t.Parallel()
			id := s.upload(t, name, "application/octet-stream", []byte("x"))
			resp, b := s.get(t, "/files/"+id, nil)
			wantStatus(t, "GET", resp, b, http.StatusOK)
			cd := resp.Header.Get("Content-Disposition")
			typ, params, err := parseParams(cd)
			if err != nil {
				t.Fatalf("Content-Disposition %q does not parse: %v", cd, err)
			}
			if typ != "attachment" {
				t.Errorf("Content-Disposition %q: type %q, want attachment", cd, typ)
			}
			dropped := strings.Map(func(r rune) rune {
				if r < 0x20 || r == 0x7f {
					return -1
				}
				return r
			}, name)

			fb, ok := params["filename"]
			switch {
			case !ok:
				t.Errorf("Content-Disposition %q has no filename=", cd)
			case !fb.quoted:
				t.Errorf("Content-Disposition %q: filename is not a quoted-string", cd)
			default:
				for _, c := range []byte(fb.value) {
					if c < 0x20 || c > 0x7e {
						t.Errorf("Content-Disposition %q: filename fallback has byte %#x (ASCII only, control characters dropped)", cd, c)
						break
					}
				}
				isASCII := true
				for _, r := range dropped {
					if r >= utf8.RuneSelf {
						isASCII = false
					}
				}
				if strings.ContainsAny(name, `/\`) && fb.value != dropped {
					t.Logf("name %q: filename=%q (path separators changed; the contract lists only escaping and dropping control characters)", name, fb.value)
					if isASCII && fb.value != noSeparators(dropped) {
						t.Errorf("Content-Disposition %q: filename %q, want %q", cd, fb.value, dropped)
					}
				} else if isASCII && fb.value != dropped {
					t.Errorf("Content-Disposition %q: filename %q, want %q (the name, control characters dropped)", cd, fb.value, dropped)
				}
				if !isASCII && fb.value == "" {
					t.Errorf("Content-Disposition %q: empty ASCII fallback", cd)
				}
			}
			ext, ok := params["filename*"]
			if !ok {
				t.Fatalf("Content-Disposition %q has no filename*=", cd)
			}
			if ext.quoted {
				t.Errorf("Content-Disposition %q: filename* must not be quoted (RFC 8187 ext-value)", cd)
			}
			if !strings.HasPrefix(ext.value, "UTF-8''") && !strings.HasPrefix(ext.value, "utf-8''") {
				t.Errorf("Content-Disposition %q: filename* %q, want UTF-8''...", cd, ext.value)
			}
			dec, err := decodeExtValue(ext.value)
			if err != nil {
				t.Errorf("Content-Disposition %q: %v", cd, err)
			} else if strings.ContainsAny(name, `/\`) && dec == noSeparators(dropped) {
				t.Logf("name %q: filename* decodes to %q", name, dec)
			} else if dec != name && dec != dropped {
				t.Errorf("Content-Disposition %q: filename* decodes to %q, want the original name %q", cd, dec, name)
			}
		})
	}
}

// noSeparators turns the path separators of both kinds in name into "_", as
// the server does so that no client (Windows reads "\\" as one) saves a
// download outside the folder it chose (issue 9).
func noSeparators(name string) string {
	return strings.NewReplacer("/", "_", `\`, "_").Replace(name)
}

// §2: "An unknown id, an id that is not a UUID, or an upload that is not
// complete answers 404 with a JSON body {"error": "not_found"}. Nothing
// outside the store is ever reachable."
func TestDownloadNotFound(t *testing.T) {
	t.Parallel()
	s := start(t, cfg{})
	real := s.upload(t, "real.bin", "", []byte("real bytes"))
	w := s.dial(t)
	incomplete := w.startUpload("half.bin", 100, nil)
	w.sendBin(make([]byte, 50))
	w.waitOffset(incomplete, 50, 5*time.Second)
	deleted := s.upload(t, "gone.bin", "", []byte("bye"))
	resp, b := s.do(t, http.MethodDelete, "/api/files/"+deleted, nil)
	wantStatus(t, "DELETE", resp, b, http.StatusNoContent)

	for _, tc := range []struct{ name, path string }{
		{"unknown v4", "/files/3f2b8c1e-9a4d-4e2f-8b6a-1c2d3e4f5a6b"},
		{"unknown v7", "/files/0192f8a4-7b3c-7d2e-8f10-1234567890ab"},
		{"incomplete upload", "/files/" + incomplete},
		{"deleted", "/files/" + deleted},
		{"upper-case real id", "/files/" + strings.ToUpper(real)},
		{"real id without dashes", "/files/" + strings.ReplaceAll(real, "-", "")},
		{"braced real id", "/files/%7B" + real + "%7D"},
		{"version 1 UUID", "/files/a8098c1a-f86e-11da-bd1a-00112444be1e"},
		{"not a uuid", "/files/hello"},
		{"empty id", "/files/"},
		{"encoded traversal", "/files/..%2f..%2fgo.mod"},
		{"encoded traversal 2", "/files/%2e%2e%2f%2e%2e%2fetc%2fpasswd"},
		{"dot-dot", "/files/.."},
		{"real id with suffix", "/files/" + real + ".bin"},
		{"metadata of unknown", "/api/files/3f2b8c1e-9a4d-4e2f-8b6a-1c2d3e4f5a6b"},
		{"metadata of non-uuid", "/api/files/hello"},
		{"metadata of upper-case real id", "/api/files/" + strings.ToUpper(real)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			methods := []string{http.MethodGet}
			if strings.HasPrefix(tc.path, "/files/") {
				methods = append(methods, http.MethodHead)
			}
			for _, method := range methods {
				for _, extra := range []hdrs{nil, {"Range": "bytes=0-1"}} {
					resp, body := s.do(t, method, tc.path, extra)
					what := method + " " + tc.path
					if resp.StatusCode != http.StatusNotFound {
						t.Errorf("%s (%v): status %d, want 404 (body %q)", what, extra, resp.StatusCode, trunc(body))
						continue
					}
					if method == http.MethodGet && strings.HasPrefix(tc.path, "/files/") {
						wantJSONError(t, what, resp, body, "not_found")
					}
					if resp.Header.Get("X-Content-Type-Options") != "nosniff" {
						t.Errorf("%s: 404 without X-Content-Type-Options: nosniff", what)
					}
				}
			}
		})
	}
}

// §2: "Any number of clients may download a completed file at once; a
// download never blocks or interrupts an upload."
func TestConcurrentDownloadsDuringUpload(t *testing.T) {
	t.Parallel()
	s := start(t, cfg{})
	file := data(512<<10, 100)
	id := s.upload(t, "shared.bin", "", file)

	w := s.dial(t)
	up := data(1<<20, 101)
	uid := w.startUpload("up.bin", int64(len(up)), nil)

	errs := make(chan string, 16)
	done := make(chan struct{})
	for i := range 8 {
		go func() {
			defer func() { done <- struct{}{} }()
			hdr := hdrs{}
			if i%2 == 1 {
				hdr["Range"] = "bytes=1000-"
			}
			req, _ := http.NewRequest(http.MethodGet, s.URL+"/files/"+id, nil)
			for k, v := range hdr {
				req.Header.Set(k, v)
			}
			resp, err := s.client.Do(req)
			if err != nil {
				errs <- err.Error()
				return
			}
			defer resp.Body.Close()
			var buf bytes.Buffer
			_, err = buf.ReadFrom(resp.Body)
			want := file
			if i%2 == 1 {
				want = file[1000:]
			}
			if err != nil || !bytes.Equal(buf.Bytes(), want) {
				errs <- "concurrent download got wrong bytes"
			}
		}()
	}
	w.sendChunks(up, 32<<10)
	w.finish(uid, up)
	for range 8 {
		<-done
	}
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}

// §2: the disposition "is inline for types a browser shows safely (images,
// audio, video, PDF, plain text) and attachment for everything else" — for
// a file whose upload declared no mime, the type is the one the download
// itself states in Content-Type.
func TestDispositionFollowsServedType(t *testing.T) {
	t.Parallel()
	s := start(t, cfg{})
	svg := []byte(`<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>`)
	for _, tc := range []struct {
		name string
		body []byte
	}{
		{"pic.png", pngBytes},
		{"noext-png", pngBytes},
		{"notes", textBytes},
		{"notes.txt", textBytes},
		{"page.html", htmlBytes},
		{"page", htmlBytes},
		{"blob", data(600, 9)},
		{"drawing.svg", svg},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			id := s.upload(t, tc.name, "", tc.body)
			_, b := s.get(t, "/api/files/"+id, nil)
			m := decodeFrame(t, b)
			resp, _ := s.get(t, "/files/"+id, nil)
			ct, cd := resp.Header.Get("Content-Type"), resp.Header.Get("Content-Disposition")
			t.Logf("no declared mime, name %q: metadata mime %q; Content-Type %q; Content-Disposition %q", tc.name, m["mime"], ct, cd)
			mt, _, err := mime.ParseMediaType(ct)
			if err != nil {
				t.Fatalf("Content-Type %q: %v", ct, err)
			}
			typ, _, _ := parseParams(cd)
			if mt == "image/svg+xml" {
				return // an image that is not safe to show: either reading holds
			}
			want := "attachment"
			if strings.HasPrefix(mt, "image/") || strings.HasPrefix(mt, "audio/") || strings.HasPrefix(mt, "video/") || mt == "application/pdf" || mt == "text/plain" {
				want = "inline"
			}
			if typ != want {
				t.Errorf("served as %q with Content-Disposition %q, want %s for that type", ct, cd, want)
			}
		})
	}
}
