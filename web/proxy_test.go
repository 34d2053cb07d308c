package web_test

import (
	"net/http"
	"testing"

	"github.com/gorilla/websocket"

	"github.com/ferryhq/ferry/internal/realip"
	"github.com/ferryhq/ferry/upload"
	"github.com/ferryhq/ferry/web"
)

// TestTrustedProxies: behind a trusted proxy the Host and Origin checks
// use the public host and scheme it forwards; from anyone else the
// forwarding headers change nothing.
func TestTrustedProxies(t *testing.T) {
	loopback, _ := realip.Parse([]string{"127.0.0.1"})
	elsewhere, _ := realip.Parse([]string{"192.0.2.1"})
	hosts := []string{"files.example.com"}
	behind, b := newServer(t, web.Config{AllowedHosts: hosts, TrustedProxies: loopback})
	notTrusted, _ := newServer(t, web.Config{Config: upload.Config{Backend: b}, AllowedHosts: hosts, TrustedProxies: elsewhere})
	direct, _ := newServer(t, web.Config{Config: upload.Config{Backend: b}, AllowedHosts: hosts})

	tests := []struct {
		name    string
		base    string
		method  string
		path    string
		host    string
		headers map[string]string
		want    int
	}{
		{"public host forwarded", behind.URL, "GET", "/api/files", "127.0.0.1:8080",
			map[string]string{"X-Forwarded-Host": "files.example.com", "X-Forwarded-Proto": "https"}, 200},
		{"other host forwarded", behind.URL, "GET", "/api/files", "files.example.com",
			map[string]string{"X-Forwarded-Host": "attacker.example"}, 421},
		{"other host in Forwarded", behind.URL, "GET", "/api/files", "files.example.com",
			map[string]string{"Forwarded": "for=192.0.2.9;host=attacker.example;proto=https"}, 421},
		{"same-origin tus from the public https origin", behind.URL, "OPTIONS", "/uploads/", "127.0.0.1",
			map[string]string{"X-Forwarded-Host": "files.example.com", "X-Forwarded-Proto": "https", "X-Forwarded-For": "192.0.2.9",
				"Origin": "https://files.example.com"}, 204},
		{"the http origin of an https site", behind.URL, "OPTIONS", "/uploads/", "127.0.0.1",
			map[string]string{"X-Forwarded-Host": "files.example.com", "X-Forwarded-Proto": "https", "X-Forwarded-For": "192.0.2.9",
				"Origin": "http://files.example.com"}, 403},
		{"another origin", behind.URL, "OPTIONS", "/uploads/", "127.0.0.1",
			map[string]string{"X-Forwarded-Host": "files.example.com", "X-Forwarded-Proto": "https", "Origin": "https://attacker.example"}, 403},
		{"untrusted peer: forwarded host ignored", notTrusted.URL, "GET", "/api/files", "attacker.example",
			map[string]string{"X-Forwarded-Host": "files.example.com"}, 421},
		{"untrusted peer: forwarded host cannot break in either", notTrusted.URL, "GET", "/api/files", "127.0.0.1",
			map[string]string{"X-Forwarded-Host": "attacker.example"}, 200},
		{"untrusted peer: Forwarded ignored", notTrusted.URL, "GET", "/api/files", "attacker.example",
			map[string]string{"Forwarded": "host=files.example.com"}, 421},
		{"untrusted peer: Origin against the Host, not the forwarded host", notTrusted.URL, "OPTIONS", "/uploads/", "files.example.com",
			map[string]string{"X-Forwarded-Host": "attacker.example", "Origin": "http://attacker.example"}, 403},
		{"no proxies configured", direct.URL, "GET", "/api/files", "attacker.example",
			map[string]string{"X-Forwarded-Host": "files.example.com"}, 421},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(tt.method, tt.base+tt.path, nil)
			req.Host = tt.host
			for k, v := range tt.headers {
				req.Header.Set(k, v)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tt.want {
				t.Fatalf("%s %s: %d, want %d", tt.method, tt.path, resp.StatusCode, tt.want)
			}
		})
	}

	t.Run("websocket", func(t *testing.T) {
		for _, tt := range []struct {
			origin string
			want   int
		}{{"https://files.example.com", 101}, {"http://files.example.com", 403}, {"https://attacker.example", 403}} {
			h := http.Header{"Origin": {tt.origin}, "X-Forwarded-Host": {"files.example.com"}, "X-Forwarded-Proto": {"https"}}
			conn, resp, err := dialWithHost(&websocket.Dialer{}, behind.URL, "127.0.0.1", h)
			if conn != nil {
				conn.Close()
			}
			if resp == nil || resp.StatusCode != tt.want {
				t.Errorf("Origin %s: %v (%v), want %d", tt.origin, resp, err, tt.want)
			}
		}
	})
}
