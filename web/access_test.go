package web_test

import (
	"bytes"
	"encoding/json"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/ferryhq/ferry/upload"
	"github.com/ferryhq/ferry/web"
)

// TestTokenScopes walks the access table of docs/design.md ("Access"): each
// route with no token, a full, an upload-only and a read-only token.
func TestTokenScopes(t *testing.T) {
	ts, b := newServer(t, web.Config{Tokens: []string{"full"}, UploadTokens: []string{"up1", "up2"}, ReadTokens: []string{"rd"}})
	putFile(t, b, fileID, "a.txt", []byte("hello"))
	const other = "0192f8a4-7b3c-7d2e-8f10-0000000000ff"
	putFile(t, b, other, "b.txt", []byte("bye"))

	tus := http.Header{"Tus-Resumable": {"1.0.0"}}
	tests := []struct {
		name, method, path string
		header             http.Header
		// statuses with no token, and with the full, upload and read tokens
		none, full, up, read int
	}{
		{"page", "GET", "/", nil, 200, 200, 200, 200},
		{"static", "GET", "/static/app.js", nil, 200, 200, 200, 200},
		{"healthz", "GET", "/healthz", nil, 200, 200, 200, 200},
		{"download", "GET", "/files/" + fileID, nil, 401, 200, 403, 200},
		{"download HEAD", "HEAD", "/files/" + fileID, nil, 401, 200, 403, 200},
		{"list", "GET", "/api/files", nil, 401, 200, 403, 200},
		{"metadata", "GET", "/api/files/" + fileID, nil, 401, 200, 403, 200},
		{"mint a link", "POST", "/api/files/" + fileID + "/link", nil, 401, 200, 403, 200},
		{"metrics", "GET", "/metrics", nil, 401, 200, 403, 200},
		{"tus discovery", "OPTIONS", "/uploads/", tus, 204, 204, 204, 204},
		{"tus offset of an unknown upload", "HEAD", "/uploads/" + "0192f8a4-7b3c-7d2e-8f10-00000000abcd", tus, 401, 404, 404, 403},
		{"tus termination of an unknown upload", "DELETE", "/uploads/" + "0192f8a4-7b3c-7d2e-8f10-00000000abcd", tus, 401, 404, 404, 403},
		{"tus creation", "POST", "/uploads/", http.Header{"Tus-Resumable": {"1.0.0"}, "Upload-Length": {"3"}}, 401, 201, 201, 403},
		// Last, as the full token deletes the file.
		{"delete", "DELETE", "/api/files/" + other, nil, 401, 204, 403, 403},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, c := range []struct {
				token string
				want  int
			}{{"", tt.none}, {"up2", tt.up}, {"rd", tt.read}, {"full", tt.full}} {
				h := http.Header{}
				for k, v := range tt.header {
					h[k] = v
				}
				if c.token != "" {
					h.Set("Authorization", "Bearer "+c.token)
				}
				resp, body := do(t, tt.method, ts.URL+tt.path, h)
				if resp.StatusCode != c.want {
					t.Errorf("token %q: status %d, want %d (body %q)", c.token, resp.StatusCode, c.want, body)
					continue
				}
				if tt.method == "HEAD" {
					continue
				}
				switch c.want {
				case 401:
					if strings.TrimSpace(body) != `{"error":"unauthorized"}` {
						t.Errorf("token %q: 401 body %q", c.token, body)
					}
				case 403:
					if strings.TrimSpace(body) != `{"error":"forbidden"}` {
						t.Errorf("token %q: 403 body %q, want {\"error\":\"forbidden\"}", c.token, body)
					}
				}
			}
		})
	}

	t.Run("websocket", func(t *testing.T) {
		dialer := websocket.Dialer{Subprotocols: []string{upload.Subprotocol}}
		for token, want := range map[string]int{"": 401, "nope": 401, "rd": 403, "up1": 101, "full": 101} {
			conn, resp, err := dialer.Dial(wsURL(ts, "/ws/upload?token="+token), nil)
			if conn != nil {
				conn.Close()
			}
			if resp == nil || resp.StatusCode != want {
				t.Errorf("token %q: handshake %v (err %v), want %d", token, resp, err, want)
			}
		}
	})
}

// mint asks the server for a link with the given request and returns its URL.
func mint(t *testing.T, ts string, id, query, body, token string) (int, string, string) {
	t.Helper()
	req, _ := http.NewRequest("POST", ts+"/api/files/"+id+"/link"+query, strings.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		URL       string `json:"url"`
		ExpiresAt string `json:"expires_at"`
		Error     string `json:"error"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&out)
	if resp.StatusCode != 200 {
		return resp.StatusCode, out.Error, ""
	}
	return resp.StatusCode, out.URL, out.ExpiresAt
}

var secret = []byte("0123456789abcdef0123456789abcdef-test")

func TestSignedLinks(t *testing.T) {
	cfg := web.Config{Tokens: []string{"full"}, UploadTokens: []string{"up"}, LinkSecrets: [][]byte{secret}, LinkMaxTTL: 48 * time.Hour}
	ts, b := newServer(t, cfg)
	data := []byte("the quick brown fox")
	putFile(t, b, fileID, "fox.txt", data)
	const other = "0192f8a4-7b3c-7d2e-8f10-0000000000ff"
	putFile(t, b, other, "other.txt", []byte("secret"))

	status, link, expires := mint(t, ts.URL, fileID, "", "", "full")
	if status != 200 || !strings.HasPrefix(link, "/files/"+fileID+"?") {
		t.Fatalf("mint: %d %q", status, link)
	}
	u, _ := url.Parse(link)
	if u.Query().Get("exp") == "" || u.Query().Get("sig") == "" || u.Query().Has("token") || strings.Contains(link, "full") {
		t.Fatalf("link %q: want exp and sig and no token", link)
	}
	// The default ttl (7 days) is over this server's maximum (48h): the
	// maximum it is.
	if exp, err := time.Parse(time.RFC3339, expires); err != nil || time.Until(exp) > 48*time.Hour || time.Until(exp) < 48*time.Hour-time.Minute {
		t.Fatalf("expires_at %q (%v), want 48h from now", expires, err)
	}

	t.Run("opens the file, with ranges and download=1", func(t *testing.T) {
		resp, body := do(t, "GET", ts.URL+link, nil)
		if resp.StatusCode != 200 || body != string(data) {
			t.Fatalf("GET %d %q", resp.StatusCode, body)
		}
		resp, body = do(t, "GET", ts.URL+link, http.Header{"Range": {"bytes=4-8"}})
		if resp.StatusCode != 206 || body != "quick" {
			t.Fatalf("Range: %d %q", resp.StatusCode, body)
		}
		resp, _ = do(t, "HEAD", ts.URL+link, nil)
		if resp.StatusCode != 200 || resp.ContentLength != int64(len(data)) {
			t.Fatalf("HEAD %d length %d", resp.StatusCode, resp.ContentLength)
		}
		resp, _ = do(t, "GET", ts.URL+link+"&download=1", nil)
		if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Disposition"), "attachment") {
			t.Fatalf("download=1: %d %q", resp.StatusCode, resp.Header.Get("Content-Disposition"))
		}
	})
	t.Run("opens nothing else", func(t *testing.T) {
		q := "?" + u.RawQuery
		for _, p := range []struct{ method, path string }{
			{"GET", "/files/" + other + q},
			{"GET", "/api/files" + q},
			{"GET", "/api/files/" + fileID + q},
			{"DELETE", "/api/files/" + fileID + q},
			{"POST", "/api/files/" + fileID + "/link" + q},
			{"GET", "/metrics" + q},
			{"GET", "/ws/upload" + q},
		} {
			resp, body := do(t, p.method, ts.URL+p.path, nil)
			if resp.StatusCode != 401 && resp.StatusCode != 403 {
				t.Errorf("%s %s: %d %q, want 401 or 403", p.method, p.path, resp.StatusCode, body)
			}
		}
	})
	t.Run("tampering is invalid_link", func(t *testing.T) {
		e, _ := time.Parse(time.RFC3339, expires)
		later := url.Values{"exp": {strconv.FormatInt(e.Unix()+3600, 10)}, "sig": {u.Query().Get("sig")}}
		short := url.Values{"exp": {u.Query().Get("exp")}, "sig": {u.Query().Get("sig")[:20]}}
		padded := url.Values{"exp": {"0" + u.Query().Get("exp")}, "sig": {u.Query().Get("sig")}}
		for _, p := range []string{
			"/files/" + fileID + "?" + later.Encode(),
			"/files/" + fileID + "?" + short.Encode(),
			"/files/" + fileID + "?" + padded.Encode(),
			"/files/" + fileID + "?exp=" + u.Query().Get("exp"),
			"/files/" + fileID + "?sig=" + u.Query().Get("sig"),
			"/files/" + fileID + "?exp=x&sig=%%%",
		} {
			resp, body := do(t, "GET", ts.URL+p, nil)
			if resp.StatusCode != 403 || strings.TrimSpace(body) != `{"error":"invalid_link"}` {
				t.Errorf("%s: %d %q, want 403 invalid_link", p, resp.StatusCode, body)
			}
		}
	})
	t.Run("expired is link_expired", func(t *testing.T) {
		signer, err := web.NewLinkSigner([][]byte{secret})
		if err != nil {
			t.Fatal(err)
		}
		resp, body := do(t, "GET", ts.URL+signer.Path(fileID, time.Now().Add(-time.Second)), nil)
		if resp.StatusCode != 403 || strings.TrimSpace(body) != `{"error":"link_expired"}` {
			t.Fatalf("%d %q, want 403 link_expired", resp.StatusCode, body)
		}
		// A token with read scope beside a dead link still opens the file.
		resp, _ = do(t, "GET", ts.URL+signer.Path(fileID, time.Now().Add(-time.Second)), http.Header{"Authorization": {"Bearer full"}})
		if resp.StatusCode != 200 {
			t.Fatalf("with a token: %d", resp.StatusCode)
		}
		// A token without read scope does not make a dead link live.
		resp, _ = do(t, "GET", ts.URL+signer.Path(fileID, time.Now().Add(-time.Second)), http.Header{"Authorization": {"Bearer up"}})
		if resp.StatusCode != 403 {
			t.Fatalf("with an upload token: %d", resp.StatusCode)
		}
	})
	t.Run("another instance with the same secret verifies it; another secret does not", func(t *testing.T) {
		same, _ := newServer(t, web.Config{Config: upload.Config{Backend: b}, Tokens: []string{"other-token"}, LinkSecrets: [][]byte{[]byte("a-new-secret-that-is-long-enough-for-us"), secret}})
		resp, body := do(t, "GET", same.URL+link, nil)
		if resp.StatusCode != 200 || body != string(data) {
			t.Fatalf("rotated instance: %d %q", resp.StatusCode, body)
		}
		stranger, _ := newServer(t, web.Config{Config: upload.Config{Backend: b}, Tokens: []string{"full"}})
		resp, body = do(t, "GET", stranger.URL+link, nil)
		if resp.StatusCode != 403 || strings.TrimSpace(body) != `{"error":"invalid_link"}` {
			t.Fatalf("instance with a random secret: %d %q", resp.StatusCode, body)
		}
	})
	t.Run("ttl", func(t *testing.T) {
		tests := []struct {
			query, body string
			want        int
			life        time.Duration
		}{
			{"?ttl=3600", "", 200, time.Hour},
			{"?ttl=90m", "", 200, 90 * time.Minute},
			{"", `{"ttl":"36h"}`, 200, 36 * time.Hour},
			{"", `{"ttl":120}`, 200, 2 * time.Minute},
			{"", `{}`, 200, 48 * time.Hour},
			{"?ttl=49h", "", 400, 0},
			{"?ttl=0", "", 400, 0},
			{"?ttl=-5", "", 400, 0},
			{"?ttl=soon", "", 400, 0},
			{"", `{"ttl":true}`, 400, 0},
			{"", `not json`, 400, 0},
			{"?ttl=99999999999999999", "", 400, 0},
		}
		for _, tt := range tests {
			status, got, expires := mint(t, ts.URL, fileID, tt.query, tt.body, "full")
			if status != tt.want {
				t.Errorf("%s %s: %d %q, want %d", tt.query, tt.body, status, got, tt.want)
				continue
			}
			if tt.want != 200 {
				if got != "bad_request" {
					t.Errorf("%s %s: error %q", tt.query, tt.body, got)
				}
				continue
			}
			e, _ := time.Parse(time.RFC3339, expires)
			if d := time.Until(e); d > tt.life || d < tt.life-5*time.Second {
				t.Errorf("%s %s: expires in %v, want %v", tt.query, tt.body, d, tt.life)
			}
		}
	})
	t.Run("unknown and bad ids are 404", func(t *testing.T) {
		for _, id := range []string{"0192f8a4-7b3c-7d2e-8f10-00000000dead", "../etc", "not-a-uuid"} {
			status, code, _ := mint(t, ts.URL, id, "", "", "full")
			if status != 404 || code != "not_found" {
				t.Errorf("%s: %d %q", id, status, code)
			}
		}
	})
}

func TestNewLinkSignerRefusesShortSecrets(t *testing.T) {
	if _, err := web.NewLinkSigner([][]byte{[]byte("short")}); err == nil {
		t.Fatal("a 5-byte secret was accepted")
	}
	if _, err := web.NewLinkSigner(nil); err == nil {
		t.Fatal("no secret was accepted")
	}
	if _, err := web.New(web.Config{}); err == nil {
		t.Fatal("no backend was accepted")
	}
}

// TestHostCheck: the DNS rebinding guard. A page on attacker.example whose
// name now points at ferry sends Host and Origin attacker.example; on a
// server without tokens that used to get 101 and the file list.
func TestHostCheck(t *testing.T) {
	ts, b := newServer(t, web.Config{})
	putFile(t, b, fileID, "a.txt", []byte("hello"))
	named, _ := newServer(t, web.Config{Config: upload.Config{Backend: b}, AllowedHosts: []string{"files.example.com", "*.corp.example"}})
	anyHost, _ := newServer(t, web.Config{Config: upload.Config{Backend: b}, AllowedHosts: []string{"*"}})

	tests := []struct {
		name   string
		url    string
		host   string
		path   string
		method string
		want   int
	}{
		{"rebound name, list", ts.URL, "attacker.example", "/api/files", "GET", 421},
		{"rebound name with port, download", ts.URL, "attacker.example:8080", "/files/" + fileID, "GET", 421},
		{"rebound name, delete", ts.URL, "attacker.example", "/api/files/" + fileID, "DELETE", 421},
		{"rebound name, tus creation", ts.URL, "attacker.example", "/uploads/", "POST", 421},
		{"rebound name, page", ts.URL, "attacker.example", "/", "GET", 421},
		{"rebound name, healthz stays open", ts.URL, "attacker.example", "/healthz", "GET", 200},
		{"the listen address", ts.URL, "", "/api/files", "GET", 200},
		{"localhost", ts.URL, "localhost:8080", "/api/files", "GET", 200},
		{"LOCALHOST.", ts.URL, "LOCALHOST.", "/api/files", "GET", 200},
		{"a .localhost name", ts.URL, "ferry.localhost", "/api/files", "GET", 200},
		{"another loopback address", ts.URL, "127.1.2.3:9", "/api/files", "GET", 200},
		{"IPv6 loopback", ts.URL, "[::1]:8080", "/api/files", "GET", 200},
		{"a LAN address", ts.URL, "192.168.1.20:8080", "/api/files", "GET", 200},
		{"a name that looks like localhost", ts.URL, "localhost.attacker.example", "/api/files", "GET", 421},
		{"configured name", named.URL, "files.example.com", "/api/files", "GET", 200},
		{"configured name, other case and port", named.URL, "Files.Example.COM:443", "/api/files", "GET", 200},
		{"wildcard", named.URL, "eu.corp.example", "/api/files", "GET", 200},
		{"the wildcard's own name", named.URL, "corp.example", "/api/files", "GET", 421},
		{"a suffix that is not a subdomain", named.URL, "evilcorp.example", "/api/files", "GET", 421},
		{"unconfigured name", named.URL, "attacker.example", "/api/files", "GET", 421},
		{"loopback still allowed", named.URL, "localhost", "/api/files", "GET", 200},
		{"* allows any", anyHost.URL, "attacker.example", "/api/files", "GET", 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(tt.method, tt.url+tt.path, nil)
			if tt.host != "" {
				req.Host = tt.host
				req.Header.Set("Origin", "http://"+tt.host)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var body bytes.Buffer
			body.ReadFrom(resp.Body)
			if resp.StatusCode != tt.want {
				t.Fatalf("status %d, want %d (%q)", resp.StatusCode, tt.want, body.String())
			}
			if tt.want == 421 {
				if strings.TrimSpace(body.String()) != `{"error":"bad_host"}` || resp.Header.Get("X-Content-Type-Options") != "nosniff" {
					t.Fatalf("body %q, nosniff %q", body.String(), resp.Header.Get("X-Content-Type-Options"))
				}
			}
		})
	}

	t.Run("websocket from a rebound name", func(t *testing.T) {
		h := http.Header{"Origin": {"http://attacker.example"}}
		conn, resp, err := dialWithHost(&websocket.Dialer{}, ts.URL, "attacker.example", h)
		if conn != nil {
			conn.Close()
			t.Fatal("a rebound page got a WebSocket")
		}
		if resp == nil || resp.StatusCode != 421 {
			t.Fatalf("handshake %v, err %v; want 421", resp, err)
		}
	})
}

// dialWithHost opens a WebSocket on the server at base whose handshake
// carries host in the Host header.
func dialWithHost(d *websocket.Dialer, base, host string, h http.Header) (*websocket.Conn, *http.Response, error) {
	u, _ := url.Parse(base)
	addr := u.Host
	d.NetDial = func(network, _ string) (net.Conn, error) { return net.Dial(network, addr) }
	return d.Dial("ws://"+host+"/ws/upload", h)
}
