package web_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/ferryhq/ferry/storage"
	"github.com/ferryhq/ferry/storage/local"
	"github.com/ferryhq/ferry/upload"
	"github.com/ferryhq/ferry/web"
)

// newServer starts a real ferry server over local storage on 127.0.0.1.
func newServer(t *testing.T, cfg web.Config) (*httptest.Server, storage.Backend) {
	t.Helper()
	if cfg.Backend == nil {
		b, err := local.New(local.Config{Dir: t.TempDir()})
		if err != nil {
			t.Fatal(err)
		}
		cfg.Backend = b
	}
	srv, err := web.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	return ts, cfg.Backend
}

// putFile stores a complete file through the storage API.
func putFile(t *testing.T, b storage.Backend, id, name string, data []byte) {
	t.Helper()
	ctx := context.Background()
	w, err := b.Create(ctx, id, storage.Meta{Name: name, Size: int64(len(data)), MIME: "text/plain"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(data); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Checkpoint(ctx, nil); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	if _, err := w.Commit(ctx, hex.EncodeToString(sum[:])); err != nil {
		t.Fatal(err)
	}
}

const fileID = "0192f8a4-7b3c-7d2e-8f10-1234567890ab"

func do(t *testing.T, method, url string, header http.Header) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

func TestAuthentication(t *testing.T) {
	ts, b := newServer(t, web.Config{Tokens: []string{"s3cret", "other"}})
	putFile(t, b, fileID, "a.txt", []byte("hello"))
	bearer := func(tok string) http.Header { return http.Header{"Authorization": {"Bearer " + tok}} }

	tests := []struct {
		name   string
		method string
		path   string
		header http.Header
		want   int
	}{
		{"file without token", "GET", "/files/" + fileID, nil, 401},
		{"file with bad bearer", "GET", "/files/" + fileID, bearer("nope"), 401},
		{"file with a token prefix", "GET", "/files/" + fileID, bearer("s3cre"), 401},
		{"file with bearer", "GET", "/files/" + fileID, bearer("s3cret"), 200},
		{"file with second token", "GET", "/files/" + fileID, bearer("other"), 200},
		{"bearer scheme is case-insensitive", "GET", "/files/" + fileID, http.Header{"Authorization": {"bearer s3cret"}}, 200},
		{"basic auth is not a token", "GET", "/files/" + fileID, http.Header{"Authorization": {"Basic czNjcmV0"}}, 401},
		{"basic auth beside a query token", "GET", "/files/" + fileID + "?token=s3cret", http.Header{"Authorization": {"Basic eDp5"}}, 200},
		{"a bad bearer is not rescued by the query", "GET", "/files/" + fileID + "?token=s3cret", bearer("nope"), 401},
		{"file with query token", "GET", "/files/" + fileID + "?token=s3cret", nil, 200},
		{"HEAD without token", "HEAD", "/files/" + fileID, nil, 401},
		{"list without token", "GET", "/api/files", nil, 401},
		{"metadata without token", "GET", "/api/files/" + fileID, nil, 401},
		{"delete without token", "DELETE", "/api/files/" + fileID, nil, 401},
		{"metrics without token", "GET", "/metrics", nil, 401},
		{"websocket without token", "GET", "/ws/upload", nil, 401},
		{"healthz is open", "GET", "/healthz", nil, 200},
		{"uploader page is open", "GET", "/", nil, 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := do(t, tt.method, ts.URL+tt.path, tt.header)
			if resp.StatusCode != tt.want {
				t.Fatalf("status %d, want %d (body %q)", resp.StatusCode, tt.want, body)
			}
			if tt.want == 401 && tt.method != "HEAD" && strings.TrimSpace(body) != `{"error":"unauthorized"}` {
				t.Errorf("body %q, want {\"error\":\"unauthorized\"}", body)
			}
			if got := resp.Header.Get("X-Content-Type-Options"); got != "nosniff" {
				t.Errorf("X-Content-Type-Options %q, want nosniff", got)
			}
		})
	}
}

func wsURL(ts *httptest.Server, path string) string {
	return "ws" + strings.TrimPrefix(ts.URL, "http") + path
}

func TestWebSocketHandshake(t *testing.T) {
	ts, _ := newServer(t, web.Config{Tokens: []string{"tok"}, AllowedOrigins: []string{"https://app.example"}})
	dialer := websocket.Dialer{Subprotocols: []string{upload.Subprotocol}}
	tests := []struct {
		name   string
		path   string
		header http.Header
		want   int // HTTP status of the handshake; 101 means upgraded
	}{
		{"no token", "/ws/upload", nil, 401},
		{"bad token", "/ws/upload?token=bad", nil, 401},
		{"query token", "/ws/upload?token=tok", nil, 101},
		{"bearer token", "/ws/upload", http.Header{"Authorization": {"Bearer tok"}}, 101},
		{"own origin", "/ws/upload?token=tok", http.Header{"Origin": {ts.URL}}, 101},
		{"allowed origin", "/ws/upload?token=tok", http.Header{"Origin": {"https://app.example"}}, 101},
		{"foreign origin", "/ws/upload?token=tok", http.Header{"Origin": {"https://evil.example"}}, 403},
		{"foreign origin without token is 401 first", "/ws/upload", http.Header{"Origin": {"https://evil.example"}}, 401},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conn, resp, err := dialer.Dial(wsURL(ts, tt.path), tt.header)
			if conn != nil {
				defer conn.Close()
			}
			if resp == nil {
				t.Fatalf("no handshake response: %v", err)
			}
			if resp.StatusCode != tt.want {
				t.Fatalf("handshake status %d, want %d (err %v)", resp.StatusCode, tt.want, err)
			}
			if tt.want == 101 && conn.Subprotocol() != upload.Subprotocol {
				t.Errorf("subprotocol %q, want %q", conn.Subprotocol(), upload.Subprotocol)
			}
		})
	}
}

func TestCommonHeaders(t *testing.T) {
	ts, b := newServer(t, web.Config{AllowedOrigins: []string{"https://app.example"}})
	putFile(t, b, fileID, "a.txt", []byte("hello world"))

	t.Run("nosniff on errors and unknown routes", func(t *testing.T) {
		for _, p := range []string{"/nope", "/files/not-a-uuid", "/files/" + fileID, "/api/files/x", "/static/missing.js"} {
			resp, body := do(t, "GET", ts.URL+p, nil)
			if resp.Header.Get("X-Content-Type-Options") != "nosniff" {
				t.Errorf("%s: no nosniff", p)
			}
			if resp.StatusCode == 404 && strings.TrimSpace(body) != `{"error":"not_found"}` {
				t.Errorf("%s: 404 body %q", p, body)
			}
		}
	})
	t.Run("CORS for an allowed origin exposes range headers", func(t *testing.T) {
		resp, _ := do(t, "GET", ts.URL+"/files/"+fileID, http.Header{"Origin": {"https://app.example"}, "Range": {"bytes=0-1"}})
		if resp.StatusCode != 206 {
			t.Fatalf("status %d", resp.StatusCode)
		}
		if got := resp.Header.Get("Access-Control-Allow-Origin"); got != "https://app.example" {
			t.Fatalf("Allow-Origin %q", got)
		}
		exposed := strings.ToLower(resp.Header.Get("Access-Control-Expose-Headers"))
		for _, h := range []string{"content-range", "accept-ranges", "content-length", "etag", "content-disposition"} {
			if !strings.Contains(exposed, h) {
				t.Errorf("Expose-Headers %q lacks %s", exposed, h)
			}
		}
	})
	t.Run("CORS preflight", func(t *testing.T) {
		resp, _ := do(t, "OPTIONS", ts.URL+"/files/"+fileID, http.Header{
			"Origin": {"https://app.example"}, "Access-Control-Request-Method": {"GET"},
			"Access-Control-Request-Headers": {"range"},
		})
		if resp.StatusCode != 204 || resp.Header.Get("Access-Control-Allow-Origin") != "https://app.example" {
			t.Fatalf("preflight status %d, allow-origin %q", resp.StatusCode, resp.Header.Get("Access-Control-Allow-Origin"))
		}
	})
	t.Run("no CORS for other origins", func(t *testing.T) {
		resp, _ := do(t, "GET", ts.URL+"/files/"+fileID, http.Header{"Origin": {"https://evil.example"}})
		if got := resp.Header.Get("Access-Control-Allow-Origin"); got != "" {
			t.Fatalf("Allow-Origin %q for a foreign origin", got)
		}
	})
}

func TestUploaderPage(t *testing.T) {
	ts, _ := newServer(t, web.Config{})
	resp, body := do(t, "GET", ts.URL+"/", nil)
	if resp.StatusCode != 200 || !strings.Contains(resp.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("status %d, type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	if !strings.Contains(strings.ToLower(body), "<html") {
		t.Fatalf("page is not HTML: %.80q", body)
	}
	etag := resp.Header.Get("ETag")
	if etag == "" || resp.Header.Get("Cache-Control") != "no-cache" {
		t.Fatalf("caching headers: ETag %q, Cache-Control %q", etag, resp.Header.Get("Cache-Control"))
	}
	resp, _ = do(t, "GET", ts.URL+"/", http.Header{"If-None-Match": {etag}})
	if resp.StatusCode != 304 {
		t.Fatalf("revalidation answered %d, want 304", resp.StatusCode)
	}
}

func TestMetrics(t *testing.T) {
	ts, b := newServer(t, web.Config{})
	putFile(t, b, fileID, "a.txt", []byte("x"))
	do(t, "GET", ts.URL+"/files/"+fileID, nil)
	resp, body := do(t, "GET", ts.URL+"/metrics", nil)
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if !strings.Contains(body, `ferry_http_requests_total{code="200",method="GET",route="/files/:id"} 1`) {
		t.Fatalf("request counter missing from metrics:\n%.2000s", body)
	}
	// GET and HEAD series are resolved once and kept: later requests
	// still count in their own method's and status's series.
	do(t, "GET", ts.URL+"/files/"+fileID, nil)
	do(t, "HEAD", ts.URL+"/files/"+fileID, nil)
	do(t, "GET", ts.URL+"/files/00000000-0000-4000-8000-000000000000", nil)
	_, body = do(t, "GET", ts.URL+"/metrics", nil)
	for _, want := range []string{
		`ferry_http_requests_total{code="200",method="GET",route="/files/:id"} 2`,
		`ferry_http_requests_total{code="200",method="HEAD",route="/files/:id"} 1`,
		`ferry_http_requests_total{code="404",method="GET",route="/files/:id"} 1`,
		`ferry_http_request_duration_seconds_count{method="GET",route="/files/:id"} 3`,
	} {
		if !strings.Contains(body, want) {
			t.Fatalf("%s missing from metrics:\n%.3000s", want, body)
		}
	}
}

func TestHealthz(t *testing.T) {
	ts, _ := newServer(t, web.Config{})
	resp, _ := do(t, "GET", ts.URL+"/healthz", nil)
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
}

// TestUploadThenDownload drives the whole service the way a program does:
// the WebSocket protocol in, HTTP out.
func TestUploadThenDownload(t *testing.T) {
	ts, _ := newServer(t, web.Config{})
	data := []byte(strings.Repeat("ferry carries every byte. ", 40000)) // ~1 MiB
	sum := sha256.Sum256(data)
	conn, _, err := websocket.DefaultDialer.Dial(wsURL(ts, "/ws/upload"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	send := func(v any) {
		t.Helper()
		if err := conn.WriteJSON(v); err != nil {
			t.Fatal(err)
		}
	}
	recv := func(want string) upload.ServerFrame {
		t.Helper()
		for {
			var f upload.ServerFrame
			if err := conn.ReadJSON(&f); err != nil {
				t.Fatal(err)
			}
			if f.Type == upload.TypeProgress && want != upload.TypeProgress {
				continue
			}
			if f.Type != want {
				t.Fatalf("got %+v, want %s", f, want)
			}
			return f
		}
	}
	send(upload.StartFrame{Type: upload.TypeStart, Name: "notes.txt", Size: int64(len(data)), SHA256: hex.EncodeToString(sum[:])})
	ready := recv(upload.TypeReady)
	for off := 0; off < len(data); off += 256 << 10 {
		end := min(off+256<<10, len(data))
		if err := conn.WriteMessage(websocket.BinaryMessage, data[off:end]); err != nil {
			t.Fatal(err)
		}
	}
	send(upload.ControlFrame{Type: upload.TypeEnd})
	done := recv(upload.TypeComplete)
	if done.ID != ready.ID || done.SHA256 != hex.EncodeToString(sum[:]) || done.URL != "/files/"+ready.ID {
		t.Fatalf("complete %+v", done)
	}

	resp, body := do(t, "GET", ts.URL+done.URL, nil)
	if resp.StatusCode != 200 || body != string(data) {
		t.Fatalf("download status %d, %d bytes", resp.StatusCode, len(body))
	}
	resp, body = do(t, "GET", ts.URL+"/api/files", nil)
	var list struct {
		Files []struct {
			ID   string `json:"id"`
			Name string `json:"name"`
		} `json:"files"`
	}
	if err := json.Unmarshal([]byte(body), &list); err != nil || len(list.Files) != 1 || list.Files[0].ID != ready.ID {
		t.Fatalf("list %d %q: %v", resp.StatusCode, body, err)
	}
}

// TestSweepDeletesExpiredUploads: the server's sweep removes an upload left
// untouched past its expiry, bytes and all.
func TestSweepDeletesExpiredUploads(t *testing.T) {
	dir := t.TempDir()
	// One clock for storage and server, moved past the expiry instead of
	// waiting for it.
	var ahead atomic.Int64
	now := func() time.Time { return time.Now().Add(time.Duration(ahead.Load())) }
	b, err := local.New(local.Config{Dir: dir, Expiry: time.Hour, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := web.New(web.Config{Config: upload.Config{Backend: b}, SweepInterval: 20 * time.Millisecond, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	w, err := b.Create(context.Background(), fileID, storage.Meta{Name: "left.bin", Size: 10})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte("abc")); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Checkpoint(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	w.Close()
	ahead.Store(int64(2 * time.Hour))

	ctx, cancel := context.WithCancel(context.Background())
	swept := make(chan struct{})
	go func() { srv.SweepExpired(ctx); close(swept) }()
	defer func() { cancel(); <-swept }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		// The local backend keeps an upload's files in subdirectories.
		var left []string
		err := filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
			if err == nil && strings.HasPrefix(e.Name(), fileID) {
				left = append(left, p)
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("expired upload still on disk: %v", left)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
