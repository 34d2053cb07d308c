package contract_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

type listPage struct {
	files []frame
	next  string
	hasN  bool
}

func (s *server) list(t *testing.T, query string) listPage {
	t.Helper()
	resp, b := s.get(t, "/api/files"+query, nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /api/files%s: %d %s", query, resp.StatusCode, trunc(b))
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("GET /api/files: Content-Type %q", ct)
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		t.Fatalf("GET /api/files%s: %v in %s", query, err, trunc(b))
	}
	var p listPage
	fr, ok := raw["files"]
	if !ok {
		t.Fatalf("GET /api/files%s: no files in %s", query, trunc(b))
	}
	var arr []json.RawMessage
	if err := json.Unmarshal(fr, &arr); err != nil {
		t.Fatalf("files is not an array: %s", trunc(fr))
	}
	for _, a := range arr {
		p.files = append(p.files, decodeFrame(t, a))
	}
	if n, ok := raw["next"]; ok {
		p.hasN = true
		if err := json.Unmarshal(n, &p.next); err != nil || p.next == "" {
			t.Errorf("GET /api/files%s: next %s, want a non-empty string cursor or no next at all", query, n)
		}
	}
	return p
}

func ids(fs []frame) []string {
	var out []string
	for _, f := range fs {
		id, _ := f.str("id")
		out = append(out, id)
	}
	return out
}

// checkMeta checks §2 metadata of a complete file.
func checkMeta(t *testing.T, f frame, id, name string, body []byte, mimeType string) {
	t.Helper()
	if got, _ := f.str("id"); got != id {
		t.Errorf("metadata %v: id, want %s", f, id)
	}
	if got, err := f.str("name"); err != nil || got != name {
		t.Errorf("metadata %v: name, want %q", f, name)
	}
	if got, err := f.num("size"); err != nil || got != int64(len(body)) {
		t.Errorf("metadata %v: size, want %d", f, len(body))
	}
	if got, err := f.str("mime"); err != nil || (mimeType != "" && !strings.HasPrefix(got, mimeType)) || got == "" {
		t.Errorf("metadata %v: mime, want %q", f, mimeType)
	}
	if got, err := f.str("sha256"); err != nil || got != sha(body) {
		t.Errorf("metadata %v: sha256, want %s", f, sha(body))
	}
	if c, ok := f["complete"].(bool); !ok || !c {
		t.Errorf("metadata %v: complete, want true", f)
	}
	if cr, err := f.str("created"); err != nil {
		t.Errorf("metadata: %v", err)
	} else if _, err := time.Parse(time.RFC3339, cr); err != nil {
		t.Errorf("metadata created %q is not RFC 3339 (like expires_at): %v", cr, err)
	}
	if f.has("offset") {
		if off, err := f.num("offset"); err != nil || off != int64(len(body)) {
			t.Errorf("metadata %v of a complete file: offset, want %d", f, len(body))
		}
	}
	if f.has("expires_at") {
		t.Errorf("metadata %v of a complete file has expires_at (only while incomplete)", f)
	}
}

// §2 GET /api/files: completed files, newest first; ?limit= and ?after=
// page it; next is absent on the last page.
func TestListFilesPaging(t *testing.T) {
	t.Parallel()
	s := start(t, cfg{})
	resp, b := s.get(t, "/api/files", nil)
	wantStatus(t, "GET /api/files on an empty server", resp, b, http.StatusOK)
	var empty map[string]any
	if err := json.Unmarshal(b, &empty); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	if arr, ok := empty["files"].([]any); !ok || len(arr) != 0 {
		t.Errorf("GET /api/files with no files: %s, want files: []", b)
	}
	if _, ok := empty["next"]; ok {
		t.Errorf("GET /api/files with no files has next: %s", b)
	}
	var made []string
	bodies := map[string][]byte{}
	for i := range 5 {
		b := data(100+i, uint64(400+i))
		id := s.upload(t, fmt.Sprintf("f%d.bin", i), "application/octet-stream", b)
		made = append(made, id)
		bodies[id] = b
		s.clock.advance(time.Second) // the next completes a second later
	}
	// Not listed: an incomplete upload, an aborted one, a deleted file.
	w := s.dial(t)
	inc := w.startUpload("inc.bin", 10, nil)
	w.sendBin([]byte("12345"))
	w.waitOffset(inc, 5, 5*time.Second)
	w2 := s.dial(t)
	ab := w2.startUpload("ab.bin", 10, nil)
	w2.sendJSON(map[string]any{"type": "abort"})
	w2.expect("aborted")
	del := s.upload(t, "del.bin", "", []byte("d"))
	resp, b = s.do(t, http.MethodDelete, "/api/files/"+del, nil)
	wantStatus(t, "DELETE", resp, b, http.StatusNoContent)

	newestFirst := []string{made[4], made[3], made[2], made[1], made[0]}

	all := s.list(t, "")
	if got := ids(all.files); strings.Join(got, ",") != strings.Join(newestFirst, ",") {
		t.Errorf("GET /api/files: ids %v, want the completed files newest first %v (not %s, %s, %s)", got, newestFirst, inc, ab, del)
	}
	if all.hasN {
		t.Errorf("GET /api/files with everything on one page has next %q", all.next)
	}
	for i, f := range all.files {
		id := newestFirst[i]
		checkMeta(t, f, id, fmt.Sprintf("f%d.bin", 4-i), bodies[id], "application/octet-stream")
	}

	var got []string
	q := "?limit=2"
	for pages := 0; ; pages++ {
		if pages > 5 {
			t.Fatal("paging does not end")
		}
		p := s.list(t, q)
		if len(p.files) > 2 {
			t.Fatalf("limit=2 gave %d files", len(p.files))
		}
		got = append(got, ids(p.files)...)
		if !p.hasN {
			if len(p.files) != 1 {
				t.Errorf("last page has %d files, want 1", len(p.files))
			}
			break
		}
		if len(p.files) != 2 {
			t.Errorf("a page before the last has %d files, want 2", len(p.files))
		}
		q = "?limit=2&after=" + url.QueryEscape(p.next)
	}
	if strings.Join(got, ",") != strings.Join(newestFirst, ",") {
		t.Errorf("pages of 2 give %v, want %v", got, newestFirst)
	}
	// A cursor stays good when the file it was taken at is deleted.
	first := s.list(t, "?limit=2")
	if first.hasN {
		resp, b := s.do(t, http.MethodDelete, "/api/files/"+newestFirst[1], nil)
		wantStatus(t, "DELETE the cursor's file", resp, b, http.StatusNoContent)
		rest := s.list(t, "?limit=2&after="+url.QueryEscape(first.next))
		if got := ids(rest.files); strings.Join(got, ",") != strings.Join(newestFirst[2:4], ",") {
			t.Errorf("page after a cursor whose file was deleted: %v, want %v", got, newestFirst[2:4])
		}
	}
	// A limit that ends exactly at the last file: next absent (or a final
	// empty page).
	p := s.list(t, "?limit=5")
	if p.hasN {
		if q := s.list(t, "?limit=5&after="+url.QueryEscape(p.next)); len(q.files) != 0 || q.hasN {
			t.Errorf("page after the last: %v", ids(q.files))
		}
	}
	// Hostile parameters never break the server.
	for _, q := range []string{"?limit=0", "?limit=-1", "?limit=abc", "?limit=1e3", "?after=garbage", "?after=" + url.QueryEscape("../../etc"), "?limit=99999999999999999999"} {
		resp, b := s.get(t, "/api/files"+q, nil)
		if resp.StatusCode >= 500 {
			t.Errorf("GET /api/files%s: %d %s", q, resp.StatusCode, trunc(b))
		}
	}
}

// §2: "?limit= (default 100, at most 1000)".
func TestListFilesLimits(t *testing.T) {
	t.Parallel()
	s := start(t, cfg{})
	const n = 1001
	var mu sync.Mutex
	made := map[string]bool{}
	var wg sync.WaitGroup
	for c := range 4 {
		wg.Add(1)
		w := s.dial(t)
		go func() {
			defer wg.Done()
			for i := c; i < n; i += 4 {
				_ = w.c.WriteMessage(1, fmt.Appendf(nil, `{"type":"start","name":"n%d","size":1}`, i))
				f, err := w.tryNext(frameWait)
				if err != nil || f.typ() != "ready" {
					t.Errorf("start %d: %v %v", i, f, err)
					return
				}
				id, _ := f.str("id")
				_ = w.c.WriteMessage(2, []byte{byte(i)})
				_ = w.c.WriteMessage(1, []byte(`{"type":"end"}`))
				if f, err := w.tryNext(frameWait); err != nil || f.typ() != "complete" {
					t.Errorf("end %d: %v %v", i, f, err)
					return
				}
				mu.Lock()
				made[id] = true
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	def := s.list(t, "")
	if len(def.files) != 100 || !def.hasN {
		t.Errorf("default page: %d files, next %v; want 100 and a next cursor", len(def.files), def.hasN)
	}
	max := s.list(t, "?limit=1000")
	if len(max.files) != 1000 || !max.hasN {
		t.Errorf("limit=1000: %d files, next %v; want 1000 and a next", len(max.files), max.hasN)
	}
	resp, b := s.get(t, "/api/files?limit=5000", nil)
	if resp.StatusCode == http.StatusOK {
		over := s.list(t, "?limit=5000")
		if len(over.files) > 1000 {
			t.Errorf("limit=5000: %d files in one page, want at most 1000", len(over.files))
		}
	} else if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("limit=5000: %d %s, want 200 with at most 1000 files (or 400)", resp.StatusCode, trunc(b))
	}
	// Paging with limit=1000 covers everything exactly once.
	seen := map[string]bool{}
	q := "?limit=1000"
	for range 5 {
		p := s.list(t, q)
		for _, id := range ids(p.files) {
			if seen[id] {
				t.Errorf("id %s on two pages", id)
			}
			seen[id] = true
		}
		if !p.hasN {
			break
		}
		q = "?limit=1000&after=" + url.QueryEscape(p.next)
	}
	if len(seen) != n {
		t.Errorf("paging saw %d files, want %d", len(seen), n)
	}
	for id := range made {
		if !seen[id] {
			t.Errorf("file %s never listed", id)
			break
		}
	}
}

// §2 GET /api/files/<id>: "id, name, size, mime, sha256 (once complete),
// created, complete, offset, expires_at (while incomplete)".
func TestFileMetadata(t *testing.T) {
	t.Parallel()
	s := start(t, cfg{})
	w := s.dial(t)
	body := data(5000, 500)
	id := w.startUpload("meta.txt", int64(len(body)), map[string]any{"mime": "application/octet-stream"})
	w.sendBin(body[:2000])
	w.waitOffset(id, 2000, 5*time.Second)

	resp, b := s.get(t, "/api/files/"+id, nil)
	wantStatus(t, "GET /api/files/<incomplete>", resp, b, http.StatusOK)
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type %q", ct)
	}
	f := decodeFrame(t, b)
	for _, k := range []string{"id", "name", "size", "mime", "created", "complete", "offset", "expires_at"} {
		if !f.has(k) {
			t.Errorf("metadata of an incomplete upload %v has no %q", f, k)
		}
	}
	if f.has("sha256") {
		t.Errorf("metadata of an incomplete upload %v has sha256 (only once complete)", f)
	}
	if c, ok := f["complete"].(bool); !ok || c {
		t.Errorf("metadata %v: complete, want false", f)
	}
	if off, err := f.num("offset"); err != nil || off < 2000 || off > 2000 {
		t.Errorf("metadata %v: offset, want the durable 2000", f)
	}
	if n, _ := f.str("name"); n != "meta.txt" {
		t.Errorf("metadata %v: name", f)
	}
	if sz, _ := f.num("size"); sz != int64(len(body)) {
		t.Errorf("metadata %v: size", f)
	}
	if ea, err := f.str("expires_at"); err != nil {
		t.Errorf("metadata: %v", err)
	} else if e, err := time.Parse(time.RFC3339, ea); err != nil || !e.After(time.Now()) {
		t.Errorf("metadata expires_at %q: want RFC 3339 in the future", ea)
	}
	if id2, _ := f.str("id"); id2 != id {
		t.Errorf("metadata id %q", id2)
	}

	w.sendBin(body[2000:])
	w.finish(id, body)
	resp, b = s.get(t, "/api/files/"+id, nil)
	wantStatus(t, "GET /api/files/<complete>", resp, b, http.StatusOK)
	checkMeta(t, decodeFrame(t, b), id, "meta.txt", body, "application/octet-stream")
}

// §2 DELETE /api/files/<id>: "delete a file or an incomplete upload: 204,
// or 404".
func TestDeleteFile(t *testing.T) {
	t.Parallel()
	s := start(t, cfg{})
	id := s.upload(t, "d.bin", "", []byte("delete me"))
	resp, b := s.do(t, http.MethodDelete, "/api/files/"+id, nil)
	wantStatus(t, "DELETE file", resp, b, http.StatusNoContent)
	if len(b) != 0 {
		t.Errorf("204 with a body %q", b)
	}
	for _, p := range []string{"/files/" + id, "/api/files/" + id} {
		resp, b := s.get(t, p, nil)
		wantStatus(t, "GET "+p+" after DELETE", resp, b, http.StatusNotFound)
	}
	for _, p := range []string{id, "3f2b8c1e-9a4d-4e2f-8b6a-1c2d3e4f5a6b", "not-a-uuid", strings.ToUpper(id), "..%2f..%2fgo.mod"} {
		resp, b := s.do(t, http.MethodDelete, "/api/files/"+p, nil)
		wantStatus(t, "DELETE /api/files/"+p, resp, b, http.StatusNotFound)
	}
	w := s.dial(t)
	inc := w.startUpload("inc.bin", 100, nil)
	w.closeClean()
	resp, b = s.do(t, http.MethodDelete, "/api/files/"+inc, nil)
	wantStatus(t, "DELETE incomplete upload", resp, b, http.StatusNoContent)
	resp, b = s.get(t, "/api/files/"+inc, nil)
	wantStatus(t, "GET deleted upload", resp, b, http.StatusNotFound)
}

var metricLine = regexp.MustCompile(`^[a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_][a-zA-Z0-9_]*="([^"\\]|\\.)*",?)*\})? [-+0-9.eEInfa]+( -?[0-9]+)?$`)

// §2: "GET /healthz: 200 when the server and its storage answer"; "GET
// /metrics: Prometheus text format".
func TestHealthAndMetrics(t *testing.T) {
	t.Parallel()
	s := start(t, cfg{Tokens: []string{"tok"}})
	resp, b := s.doAuth(t, http.MethodGet, "/healthz", nil, false)
	wantStatus(t, "GET /healthz without a token", resp, b, http.StatusOK)
	s.upload(t, "m.bin", "", []byte("m"))

	resp, b = s.get(t, "/metrics", nil)
	wantStatus(t, "GET /metrics", resp, b, http.StatusOK)
	ct := resp.Header.Get("Content-Type")
	if !strings.HasPrefix(ct, "text/plain") && !strings.HasPrefix(ct, "application/openmetrics-text") {
		t.Errorf("/metrics Content-Type %q, want the Prometheus text format", ct)
	}
	samples := 0
	for _, line := range strings.Split(strings.TrimRight(string(b), "\n"), "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			if strings.HasPrefix(line, "# TYPE ") || strings.HasPrefix(line, "# HELP ") || line == "# EOF" || line == "" {
				continue
			}
			t.Errorf("/metrics comment line %q", line)
			continue
		}
		if !metricLine.MatchString(line) {
			t.Errorf("/metrics line %q is not a Prometheus sample", line)
			continue
		}
		samples++
	}
	if samples == 0 {
		t.Errorf("/metrics has no samples")
	}
}

// §2: "When tokens are configured they are required (Bearer header or
// ?token=) on everything but /healthz and the uploader page with its static
// assets; a missing or bad token answers 401 {"error": "unauthorized"}."
func TestTokensOnHTTP(t *testing.T) {
	t.Parallel()
	s := start(t, cfg{Tokens: []string{"good-token"}})
	id := s.upload(t, "t.txt", "text/plain", []byte("secret bytes"))

	routes := []struct{ method, path string }{
		{"GET", "/files/" + id},
		{"HEAD", "/files/" + id},
		{"GET", "/files/" + id + "?follow=1"},
		{"GET", "/files/3f2b8c1e-9a4d-4e2f-8b6a-1c2d3e4f5a6b"},
		{"GET", "/api/files"},
		{"GET", "/api/files/" + id},
		{"DELETE", "/api/files/3f2b8c1e-9a4d-4e2f-8b6a-1c2d3e4f5a6b"},
		{"GET", "/metrics"},
		{"GET", "/ws/upload"},
	}
	for _, r := range routes {
		for _, cred := range []struct {
			name  string
			h     hdrs
			query string
		}{
			{"no token", nil, ""},
			{"bad bearer", hdrs{"Authorization": "Bearer bad"}, ""},
			{"empty bearer", hdrs{"Authorization": "Bearer "}, ""},
			{"basic scheme", hdrs{"Authorization": "Basic good-token"}, ""},
			{"bad query", nil, "token=bad"},
			{"bad bearer, good query", hdrs{"Authorization": "Bearer bad"}, "token=good-token"},
			{"basic header, good query", hdrs{"Authorization": "Basic dXNlcjpwYXNz"}, "token=good-token"},
		} {
			path := r.path
			if cred.query != "" {
				if strings.Contains(path, "?") {
					path += "&" + cred.query
				} else {
					path += "?" + cred.query
				}
			}
			resp, b := s.doAuth(t, r.method, path, cred.h, false)
			what := fmt.Sprintf("%s %s (%s)", r.method, path, cred.name)
			if strings.HasSuffix(cred.name, "good query") {
				// Ambiguous: either credential may be the one used.
				if r.path == "/metrics" {
					t.Logf("%s: %d", what, resp.StatusCode)
				}
				continue
			}
			wantStatus(t, what, resp, b, http.StatusUnauthorized)
			if r.method != "HEAD" {
				wantJSONError(t, what, resp, b, "unauthorized")
			}
			if resp.Header.Get("X-Content-Type-Options") != "nosniff" {
				t.Errorf("%s: 401 without nosniff", what)
			}
		}
	}
	// Good credentials work, both ways.
	for _, p := range []struct {
		path string
		h    hdrs
	}{
		{"/files/" + id, hdrs{"Authorization": "Bearer good-token"}},
		{"/files/" + id + "?token=good-token", nil},
		{"/api/files?token=good-token", nil},
		{"/api/files/" + id, hdrs{"Authorization": "Bearer good-token"}},
		{"/metrics?token=good-token", nil},
	} {
		resp, b := s.doAuth(t, "GET", p.path, p.h, false)
		wantStatus(t, "GET "+p.path+" with a good token", resp, b, http.StatusOK)
	}
	// Open without a token: /healthz and the page with its static assets.
	resp, page := s.doAuth(t, "GET", "/", nil, false)
	wantStatus(t, "GET / without a token", resp, page, http.StatusOK)
	resp, b := s.doAuth(t, "GET", "/healthz", nil, false)
	wantStatus(t, "GET /healthz without a token", resp, b, http.StatusOK)
	assets := regexp.MustCompile(`(?:src|href)="(/?static/[^"?#]+)`).FindAllStringSubmatch(string(page), -1)
	if len(assets) == 0 {
		t.Errorf("the uploader page links no /static/ asset")
	}
	for _, a := range assets {
		p := a[1]
		if !strings.HasPrefix(p, "/") {
			p = "/" + p
		}
		resp, b := s.doAuth(t, "GET", p, nil, false)
		wantStatus(t, "GET "+p+" without a token", resp, b, http.StatusOK)
	}
}

// §2: "Every response, errors included, carries X-Content-Type-Options:
// nosniff."
func TestNosniffEverywhere(t *testing.T) {
	t.Parallel()
	s := start(t, cfg{Tokens: []string{"tok"}})
	id := s.upload(t, "n.html", "text/html", htmlBytes)
	for _, tc := range []struct {
		method, path string
		h            hdrs
		auth         bool
	}{
		{"GET", "/", nil, false},
		{"GET", "/healthz", nil, false},
		{"HEAD", "/healthz", nil, false},
		{"GET", "/metrics", nil, true},
		{"GET", "/files/" + id, nil, true},
		{"HEAD", "/files/" + id, nil, true},
		{"GET", "/files/" + id, hdrs{"Range": "bytes=0-3"}, true},
		{"GET", "/files/" + id, hdrs{"Range": "bytes=0-3,5-6"}, true},
		{"GET", "/files/" + id, hdrs{"Range": "bytes=9999-"}, true},
		{"GET", "/files/" + id, hdrs{"If-Match": `"x"`}, true},
		{"GET", "/files/" + id, hdrs{"If-None-Match": "*"}, true},
		{"GET", "/files/nope", nil, true},
		{"GET", "/files/" + id, nil, false},
		{"GET", "/api/files", nil, true},
		{"GET", "/api/files/" + id, nil, true},
		{"GET", "/api/files/nope", nil, true},
		{"DELETE", "/api/files/nope", nil, true},
		{"POST", "/files/" + id, nil, true},
		{"PUT", "/api/files/" + id, nil, true},
		{"GET", "/no/such/route", nil, true},
		{"GET", "/static/no-such-asset.js", nil, false},
		{"GET", "/ws/upload", nil, true},
	} {
		resp, b := s.doAuth(t, tc.method, tc.path, tc.h, tc.auth)
		if resp.StatusCode >= 500 {
			t.Errorf("%s %s: %d %s", tc.method, tc.path, resp.StatusCode, trunc(b))
		}
		if got := resp.Header.Get("X-Content-Type-Options"); got != "nosniff" {
			t.Errorf("%s %s (%d): X-Content-Type-Options %q, want nosniff", tc.method, tc.path, resp.StatusCode, got)
		}
	}
}

// §2: "Cross-origin requests from allowed origins get CORS headers that
// expose Content-Range, Accept-Ranges, Content-Length, ETag and
// Content-Disposition." Others get none.
func TestCORS(t *testing.T) {
	t.Parallel()
	const app = "https://app.example"
	s := start(t, cfg{AllowedOrigins: []string{app}, Tokens: []string{"tok"}})
	def := start(t, cfg{})
	id := s.upload(t, "c.bin", "", data(100, 600))
	id2 := def.upload(t, "c.bin", "", data(100, 600))

	for _, h := range []hdrs{{"Origin": app}, {"Origin": app, "Range": "bytes=0-9"}} {
		resp, b := s.get(t, "/files/"+id, h)
		if resp.StatusCode != 200 && resp.StatusCode != 206 {
			t.Fatalf("GET with Origin: %d %s", resp.StatusCode, trunc(b))
		}
		if got := resp.Header.Get("Access-Control-Allow-Origin"); got != app && got != "*" {
			t.Errorf("GET from an allowed origin (%v): Access-Control-Allow-Origin %q", h, got)
		}
		exp := resp.Header.Values("Access-Control-Expose-Headers")
		for _, want := range []string{"Content-Range", "Accept-Ranges", "Content-Length", "ETag", "Content-Disposition"} {
			if !listIncludes(exp, want) {
				t.Errorf("GET from an allowed origin: Access-Control-Expose-Headers %q lacks %s", exp, want)
			}
		}
	}
	// The preflight a browser sends before a ranged, authenticated GET
	// carries no credentials of its own.
	resp, b := s.doAuth(t, http.MethodOptions, "/files/"+id, hdrs{
		"Origin":                         app,
		"Access-Control-Request-Method":  "GET",
		"Access-Control-Request-Headers": "authorization,range",
	}, false)
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		t.Errorf("CORS preflight from an allowed origin: %d %s, want 2xx", resp.StatusCode, trunc(b))
	}
	if got := resp.Header.Get("Access-Control-Allow-Origin"); got != app && got != "*" {
		t.Errorf("CORS preflight: Access-Control-Allow-Origin %q", got)
	}
	ah := resp.Header.Values("Access-Control-Allow-Headers")
	if !listIncludes(ah, "range") || !listIncludes(ah, "authorization") {
		t.Errorf("CORS preflight: Access-Control-Allow-Headers %q, want Range and Authorization", ah)
	}

	for _, tc := range []struct {
		s    *server
		path string
	}{{s, "/files/" + id}, {def, "/files/" + id2}, {s, "/api/files"}} {
		resp, _ := tc.s.get(t, tc.path, hdrs{"Origin": "https://evil.example"})
		if got := resp.Header.Get("Access-Control-Allow-Origin"); got != "" {
			t.Errorf("GET %s from a foreign origin: Access-Control-Allow-Origin %q", tc.path, got)
		}
	}
}

// Ambiguous (logged): "newest first" when uploads overlap — by creation
// (the created field) or by completion.
func TestListOrderOfOverlappingUploads(t *testing.T) {
	t.Parallel()
	s := start(t, cfg{})
	a, b := s.dial(t), s.dial(t)
	idA := a.startUpload("a.bin", 1, nil)
	s.clock.advance(time.Second)
	idB := b.startUpload("b.bin", 1, nil)
	b.sendBin([]byte{1})
	b.finish(idB, []byte{1})
	s.clock.advance(time.Second)
	a.sendBin([]byte{2})
	a.finish(idA, []byte{2})
	p := s.list(t, "")
	var order []string
	for _, f := range p.files {
		n, _ := f.str("name")
		c, _ := f.str("created")
		order = append(order, n+" created "+c)
	}
	t.Logf("a created first, b completed first; list order: %v", order)
}
