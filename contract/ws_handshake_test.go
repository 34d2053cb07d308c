package contract_test

import (
	"io"
	"net/http"
	"testing"
)

// §1: "It may offer the subprotocol ferry.v1; the server selects it when offered."
func TestWSSubprotocolSelectedWhenOffered(t *testing.T) {
	t.Parallel()
	s := start(t, cfg{})
	for _, tc := range []struct {
		name   string
		offer  []string
		expect string
	}{
		{"only ferry.v1", []string{"ferry.v1"}, "ferry.v1"},
		{"ferry.v1 among others", []string{"chat", "ferry.v1"}, "ferry.v1"},
		{"not offered", nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, resp, err := s.dialRaw("", nil, tc.offer)
			if err != nil {
				t.Fatalf("dial: %v", err)
			}
			defer c.Close()
			if got := c.Subprotocol(); got != tc.expect {
				t.Errorf("selected subprotocol %q, want %q", got, tc.expect)
			}
			if got := resp.Header.Get("Sec-WebSocket-Protocol"); got != tc.expect {
				t.Errorf("Sec-WebSocket-Protocol %q, want %q", got, tc.expect)
			}
			// The connection speaks the protocol either way.
			w := wrap(t, c, resp)
			w.sendJSON(map[string]any{"type": "end"})
			w.expectError("not_started", "", false)
		})
	}
}

// §1: "A bad or missing token is refused at the handshake with HTTP 401,
// before any upgrade" (Bearer header or ?token=).
func TestWSTokenCheckedBeforeUpgrade(t *testing.T) {
	t.Parallel()
	s := start(t, cfg{Tokens: []string{"right-token", "second-token"}})
	for _, tc := range []struct {
		name   string
		header string
		query  string
		ok     bool
	}{
		{"missing", "", "", false},
		{"bad bearer", "Bearer wrong", "", false},
		{"bad query", "", "token=wrong", false},
		{"empty query", "", "token=", false},
		{"prefix of the token", "Bearer right", "", false},
		{"token with another scheme", "Basic right-token", "", false},
		{"good bearer", "Bearer right-token", "", true},
		{"second configured token", "Bearer second-token", "", true},
		{"good query", "", "token=right-token", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := http.Header{}
			if tc.header != "" {
				h.Set("Authorization", tc.header)
			}
			c, resp, err := s.dialRaw(tc.query, h, []string{"ferry.v1"})
			if tc.ok {
				if err != nil {
					t.Fatalf("dial: %v (resp %v)", err, resp)
				}
				w := wrap(t, c, resp)
				w.sendJSON(map[string]any{"type": "abort"})
				w.expectError("not_started", "", false)
				return
			}
			if err == nil {
				c.Close()
				t.Fatalf("handshake succeeded, want 401")
			}
			if resp == nil {
				t.Fatalf("no HTTP answer: %v", err)
			}
			if resp.StatusCode != http.StatusUnauthorized {
				t.Errorf("status %d, want 401", resp.StatusCode)
			}
			if resp.Header.Get("Upgrade") != "" || resp.Header.Get("Sec-WebSocket-Accept") != "" {
				t.Errorf("401 carries upgrade headers: %v", resp.Header)
			}
			body, _ := io.ReadAll(resp.Body)
			wantJSONError(t, "handshake 401", resp, body, "unauthorized")
			if resp.Header.Get("X-Content-Type-Options") != "nosniff" {
				t.Errorf("401 without X-Content-Type-Options: nosniff")
			}
		})
	}
}

// §1: "A handshake whose Origin is not allowed (by default: any origin
// other than the server's own host) is refused with HTTP 403."
func TestWSOriginCheck(t *testing.T) {
	t.Parallel()
	def := start(t, cfg{})
	conf := start(t, cfg{AllowedOrigins: []string{"https://app.example"}})
	for _, tc := range []struct {
		name   string
		s      *server
		origin string
		ok     bool
	}{
		{"default: foreign origin", def, "https://evil.example", false},
		{"default: null origin", def, "null", false},
		{"default: same host other port", def, "http://127.0.0.1:1", false},
		{"default: the server's own origin", def, def.URL, true},
		{"default: no Origin (not a browser)", def, "", true},
		{"configured: allowed origin", conf, "https://app.example", true},
		{"configured: the server's own origin", conf, conf.URL, true},
		{"configured: foreign origin", conf, "https://evil.example", false},
		{"configured: look-alike origin", conf, "https://app.example.evil.example", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := http.Header{}
			if tc.origin != "" {
				h.Set("Origin", tc.origin)
			}
			c, resp, err := tc.s.dialRaw("", h, []string{"ferry.v1"})
			if tc.ok {
				if err != nil {
					t.Fatalf("dial with Origin %q: %v", tc.origin, err)
				}
				c.Close()
				return
			}
			if err == nil {
				c.Close()
				t.Fatalf("handshake with Origin %q succeeded, want 403", tc.origin)
			}
			if resp == nil || resp.StatusCode != http.StatusForbidden {
				t.Fatalf("handshake with Origin %q: %v %v, want 403", tc.origin, err, resp)
			}
			if resp.Header.Get("X-Content-Type-Options") != "nosniff" {
				t.Errorf("403 without X-Content-Type-Options: nosniff")
			}
		})
	}
}

// The 401 comes before the upgrade whatever else the request says: a plain
// GET without upgrade headers gets the same JSON 401.
func TestWSPlainGetWithoutTokenIs401(t *testing.T) {
	t.Parallel()
	s := start(t, cfg{Tokens: []string{"tok"}})
	resp, body := s.doAuth(t, http.MethodGet, "/ws/upload", nil, false)
	wantStatus(t, "GET /ws/upload without token", resp, body, http.StatusUnauthorized)
	wantJSONError(t, "GET /ws/upload without token", resp, body, "unauthorized")
}
