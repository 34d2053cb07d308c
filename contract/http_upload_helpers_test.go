package contract_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptrace"
	"net/textproto"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Helpers for §4, uploads over plain HTTP (tus 1.0 and the IETF resumable
// upload draft at /uploads/). Requests are built by hand; nothing of ferry
// is imported.

const (
	tusVersion = "1.0.0"
	octet      = "application/offset+octet-stream"
	problemURI = "https://iana.org/assignments/http-problem-types#"
)

// answer is one response to a request under /uploads/, its whole body read,
// with the interim (1xx) responses that came before it.
type answer struct {
	*http.Response
	body    []byte
	interim []interimResp
}

type interimResp struct {
	code int
	h    http.Header
}

func (a answer) hdr(k string) string { return a.Header.Get(k) }

// call sends one request. body nil sends none; size -1 sends body chunked
// (no Content-Length). The server's token is added unless noAuth is set or
// the request carries credentials of its own.
func (s *server) call(t *testing.T, method, path string, h hdrs, body io.Reader, size int64, noAuth bool) answer {
	t.Helper()
	a, err := s.callErr(context.Background(), method, path, h, body, size, noAuth)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	return a
}

func (s *server) callErr(ctx context.Context, method, path string, h hdrs, body io.Reader, size int64, noAuth bool) (answer, error) {
	var a answer
	var mu sync.Mutex
	trace := &httptrace.ClientTrace{Got1xxResponse: func(code int, hd textproto.MIMEHeader) error {
		mu.Lock()
		a.interim = append(a.interim, interimResp{code: code, h: http.Header(hd).Clone()})
		mu.Unlock()
		return nil
	}}
	req, err := http.NewRequestWithContext(httptrace.WithClientTrace(ctx, trace), method, s.URL+path, nil)
	if err != nil {
		return a, err
	}
	if body != nil {
		req.Body = io.NopCloser(body)
		req.ContentLength = size
		if size == 0 {
			req.Body = http.NoBody
		}
	}
	for k, v := range h {
		req.Header.Set(k, v)
	}
	if !noAuth && s.token != "" && req.Header.Get("Authorization") == "" && !strings.Contains(path, "token=") {
		req.Header.Set("Authorization", "Bearer "+s.token)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return a, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return a, err
	}
	mu.Lock()
	defer mu.Unlock()
	a.Response, a.body = resp, b
	return a, nil
}

func bodyOf(b []byte) (io.Reader, int64) {
	if b == nil {
		return nil, 0
	}
	return bytes.NewReader(b), int64(len(b))
}

func with(h hdrs, kv ...string) hdrs {
	out := hdrs{}
	for k, v := range h {
		out[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		out[kv[i]] = kv[i+1]
	}
	return out
}

// tus sends a tus request: Tus-Resumable: 1.0.0 unless h names its own.
// Every answer must carry Tus-Resumable: 1.0.0 (tus 1.0.0 §Tus-Resumable:
// "MUST be included in every request and response except for OPTIONS
// requests") and Cache-Control: no-store.
func (s *server) tus(t *testing.T, method, path string, h hdrs, body []byte) answer {
	t.Helper()
	if _, ok := h["Tus-Resumable"]; !ok {
		h = with(h, "Tus-Resumable", tusVersion)
	}
	r, n := bodyOf(body)
	a := s.call(t, method, path, h, r, n, false)
	checkTusAnswer(t, method+" "+path, a)
	return a
}

func checkTusAnswer(t *testing.T, what string, a answer) {
	t.Helper()
	if got := a.hdr("Tus-Resumable"); got != tusVersion {
		t.Errorf("%s: %d answer has Tus-Resumable %q, want %s (tus: every response carries it)", what, a.StatusCode, got, tusVersion)
	}
	checkNoStore(t, what, a)
}

func checkNoStore(t *testing.T, what string, a answer) {
	t.Helper()
	if cc := a.Header.Values("Cache-Control"); !listIncludes(cc, "no-store") {
		t.Errorf("%s: %d answer has Cache-Control %q, want no-store", what, a.StatusCode, cc)
	}
}

// ietf sends an IETF resumable upload request. Every answer must carry
// Cache-Control: no-store and echo Upload-Draft-Interop-Version if sent.
func (s *server) ietf(t *testing.T, method, path string, h hdrs, body []byte) answer {
	t.Helper()
	r, n := bodyOf(body)
	a := s.call(t, method, path, h, r, n, false)
	checkNoStore(t, method+" "+path, a)
	if v, ok := h["Upload-Draft-Interop-Version"]; ok {
		if got := a.hdr("Upload-Draft-Interop-Version"); got != v {
			t.Errorf("%s %s: %d answer has Upload-Draft-Interop-Version %q, want the request's %q echoed", method, path, a.StatusCode, got, v)
		}
	}
	return a
}

func wantCode(t *testing.T, what string, a answer, status int) {
	t.Helper()
	if a.StatusCode != status {
		t.Errorf("%s: status %d, want %d (headers %v, body %q)", what, a.StatusCode, status, a.Header, trunc(a.body))
	}
}

func mustCode(t *testing.T, what string, a answer, status int) {
	t.Helper()
	if a.StatusCode != status {
		t.Fatalf("%s: status %d, want %d (headers %v, body %q)", what, a.StatusCode, status, a.Header, trunc(a.body))
	}
}

// wantHeader checks one header's exact value ("" = must be absent).
func wantHeader(t *testing.T, what string, a answer, k, want string) {
	t.Helper()
	got, ok := a.Header[http.CanonicalHeaderKey(k)]
	switch {
	case want == "" && ok:
		t.Errorf("%s: has %s %q, want none", what, k, got)
	case want != "" && (len(got) != 1 || got[0] != want):
		t.Errorf("%s: %s %q, want %q", what, k, got, want)
	}
}

// offsetOf is the answer's Upload-Offset; it fails the test if it is
// missing or not a whole number.
func offsetOf(t *testing.T, what string, a answer) int64 {
	t.Helper()
	v := a.hdr("Upload-Offset")
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		t.Fatalf("%s: Upload-Offset %q is not a whole number (status %d, body %q)", what, v, a.StatusCode, trunc(a.body))
	}
	return n
}

var uuidPart = `[0-9a-f]{8}-[0-9a-f]{4}-[47][0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}`
var locationRE = regexp.MustCompile(`^/uploads/(` + uuidPart + `)$`)

// idFromLocation checks §4 "Location is /uploads/<id>" (an absolute URL
// on the server's own origin is accepted) and returns the id.
func (s *server) idFromLocation(t *testing.T, what, loc string) string {
	t.Helper()
	path := loc
	if u, err := url.Parse(loc); err == nil && u.IsAbs() {
		if base, _ := url.Parse(s.URL); u.Host != base.Host {
			t.Errorf("%s: Location %q is on another host", what, loc)
		}
		path = u.Path
	}
	m := locationRE.FindStringSubmatch(path)
	if m == nil {
		t.Fatalf("%s: Location %q, want /uploads/<canonical lower-case UUID>", what, loc)
	}
	return m[1]
}

// tusMeta encodes tus Upload-Metadata from key, value pairs.
func tusMeta(kv ...string) string {
	var parts []string
	for i := 0; i+1 < len(kv); i += 2 {
		parts = append(parts, kv[i]+" "+base64.StdEncoding.EncodeToString([]byte(kv[i+1])))
	}
	return strings.Join(parts, ",")
}

// decodeTusMeta decodes Upload-Metadata as sent by the server.
func decodeTusMeta(t *testing.T, v string) map[string]string {
	t.Helper()
	m := map[string]string{}
	if strings.TrimSpace(v) == "" {
		return m
	}
	for _, pair := range strings.Split(v, ",") {
		k, val, _ := strings.Cut(strings.TrimSpace(pair), " ")
		dec, err := base64.StdEncoding.DecodeString(val)
		if err != nil {
			t.Errorf("Upload-Metadata %q: value of %q is not base64", v, k)
		}
		m[k] = string(dec)
	}
	return m
}

// tusCreate creates an upload over tus (length < 0: deferred) and returns
// its id; the answer must be 201.
func (s *server) tusCreate(t *testing.T, length int64, meta string) string {
	t.Helper()
	h := hdrs{}
	if length < 0 {
		h["Upload-Defer-Length"] = "1"
	} else {
		h["Upload-Length"] = strconv.FormatInt(length, 10)
	}
	if meta != "" {
		h["Upload-Metadata"] = meta
	}
	a := s.tus(t, http.MethodPost, "/uploads/", h, nil)
	mustCode(t, "tus POST /uploads/", a, http.StatusCreated)
	return s.idFromLocation(t, "tus POST /uploads/", a.hdr("Location"))
}

// tusHead returns the upload's offset by tus HEAD (200 required).
func (s *server) tusHead(t *testing.T, id string) (answer, int64) {
	t.Helper()
	a := s.tus(t, http.MethodHead, "/uploads/"+id, nil, nil)
	mustCode(t, "tus HEAD", a, http.StatusOK)
	return a, offsetOf(t, "tus HEAD", a)
}

// tusPatch appends body at off and requires 204 with the new offset.
func (s *server) tusPatch(t *testing.T, id string, off int64, body []byte) answer {
	t.Helper()
	a := s.tus(t, http.MethodPatch, "/uploads/"+id, tusPatchH(off), body)
	mustCode(t, "tus PATCH at "+strconv.FormatInt(off, 10), a, http.StatusNoContent)
	if got := offsetOf(t, "tus PATCH", a); got != off+int64(len(body)) {
		t.Errorf("tus PATCH of %d bytes at %d: Upload-Offset %d, want %d", len(body), off, got, off+int64(len(body)))
	}
	return a
}

func tusPatchH(off int64, kv ...string) hdrs {
	return with(hdrs{"Content-Type": octet, "Upload-Offset": strconv.FormatInt(off, 10)}, kv...)
}

// checkStored checks that upload id is a complete file holding exactly
// body: GET /files/<id> is byte-identical, GET /api/files/<id> has its
// name, type and sha256, and /api/files lists it. mimeType "" accepts any.
func (s *server) checkStored(t *testing.T, id, name, mimeType string, body []byte) {
	t.Helper()
	resp, b := s.get(t, "/files/"+id, nil)
	if resp.StatusCode != http.StatusOK {
		t.Errorf("GET /files/%s: %d %q, want 200", id, resp.StatusCode, trunc(b))
	} else if !bytes.Equal(b, body) {
		t.Errorf("GET /files/%s: %d bytes (sha256 %s), want the %d uploaded (sha256 %s)", id, len(b), sha(b), len(body), sha(body))
	}
	resp, b = s.get(t, "/api/files/"+id, nil)
	if resp.StatusCode != http.StatusOK {
		t.Errorf("GET /api/files/%s: %d %q", id, resp.StatusCode, trunc(b))
		return
	}
	f := decodeFrame(t, b)
	if got, err := f.str("name"); err != nil || got == "" || (name != "" && got != name) {
		t.Errorf("GET /api/files/%s: %v: name, want %q", id, f, name)
	}
	if got, err := f.num("size"); err != nil || got != int64(len(body)) {
		t.Errorf("GET /api/files/%s: %v: size, want %d", id, f, len(body))
	}
	// mime: the declared type; a file declared with none may have "" (as
	// over the WebSocket).
	if got, err := f.str("mime"); err != nil || (mimeType != "" && !strings.HasPrefix(got, mimeType)) {
		t.Errorf("GET /api/files/%s: %v: mime, want %q", id, f, mimeType)
	}
	if got, err := f.str("sha256"); err != nil || got != sha(body) {
		t.Errorf("GET /api/files/%s: %v: sha256, want %s", id, f, sha(body))
	}
	if c, ok := f["complete"].(bool); !ok || !c {
		t.Errorf("GET /api/files/%s: %v: complete, want true", id, f)
	}
	if f.has("expires_at") {
		t.Errorf("GET /api/files/%s: %v: a complete file has expires_at", id, f)
	}
	if !slices.Contains(ids(s.list(t, "?limit=1000").files), id) {
		t.Errorf("GET /api/files does not list the completed upload %s", id)
	}
}

// wantGone checks that an upload is no file and no upload any more.
func (s *server) wantGone(t *testing.T, what, id string) {
	t.Helper()
	a := s.tus(t, http.MethodHead, "/uploads/"+id, nil, nil)
	wantCode(t, what+": tus HEAD", a, http.StatusNotFound)
	resp, b := s.get(t, "/files/"+id, nil)
	wantStatus(t, what+": GET /files/<id>", resp, b, http.StatusNotFound)
}

// problem decodes an RFC 9457 problem document and checks its type.
func problem(t *testing.T, what string, a answer, typ string) map[string]any {
	t.Helper()
	if ct := a.hdr("Content-Type"); !strings.HasPrefix(ct, "application/problem+json") {
		t.Errorf("%s: Content-Type %q, want application/problem+json", what, ct)
	}
	var m map[string]any
	d := json.NewDecoder(bytes.NewReader(a.body))
	d.UseNumber()
	if err := d.Decode(&m); err != nil {
		t.Errorf("%s: body %q is not a JSON object: %v", what, trunc(a.body), err)
		return nil
	}
	if m["type"] != problemURI+typ {
		t.Errorf("%s: problem type %v, want %s%s", what, m["type"], problemURI, typ)
	}
	return m
}

func problemNum(t *testing.T, what string, m map[string]any, k string, want int64) {
	t.Helper()
	n, ok := m[k].(json.Number)
	if !ok {
		t.Errorf("%s: problem %v has no number %q", what, m, k)
		return
	}
	if v, err := n.Int64(); err != nil || v != want {
		t.Errorf("%s: problem %q = %s, want %d", what, k, n, want)
	}
}

// httpDate parses an HTTP date (RFC 9110 IMF-fixdate).
func httpDate(t *testing.T, what, v string) time.Time {
	t.Helper()
	tm, err := time.Parse(http.TimeFormat, v)
	if err != nil {
		t.Errorf("%s: %q is not an HTTP date (IMF-fixdate): %v", what, v, err)
	}
	return tm
}

// metric returns the value of the first sample whose line starts with
// prefix (a metric name, with labels if wanted) in GET /metrics.
func (s *server) metric(t *testing.T, prefix string) (float64, bool) {
	t.Helper()
	resp, b := s.get(t, "/metrics", nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %d", resp.StatusCode)
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") || !strings.HasPrefix(line, prefix) {
			continue
		}
		rest := line[len(prefix):]
		if rest == "" || (rest[0] != ' ' && rest[0] != '{') {
			continue
		}
		f := strings.Fields(line)
		v, err := strconv.ParseFloat(f[len(f)-1], 64)
		if err != nil {
			t.Errorf("/metrics line %q", line)
			continue
		}
		return v, true
	}
	return 0, false
}
