package realip

import (
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"
)

func TestParse(t *testing.T) {
	p, err := Parse([]string{" 10.0.0.0/8", "127.0.0.1", "::1/128", "::ffff:192.168.0.0/112", ""})
	if err != nil {
		t.Fatal(err)
	}
	for addr, want := range map[string]bool{
		"10.1.2.3": true, "11.0.0.1": false, "127.0.0.1": true, "127.0.0.2": false,
		"::1": true, "::ffff:10.0.0.1": true, "192.168.3.4": true, "192.169.0.1": false,
	} {
		if got := p.Trusted(netip.MustParseAddr(addr)); got != want {
			t.Errorf("Trusted(%s) = %v, want %v", addr, got, want)
		}
	}
	for _, bad := range []string{"10.0.0.0/33", "example.com", "1.2.3"} {
		if _, err := Parse([]string{bad}); err == nil {
			t.Errorf("Parse(%q) accepted", bad)
		}
	}
	if p, err := Parse(nil); p != nil || err != nil || p.Trusted(netip.MustParseAddr("127.0.0.1")) {
		t.Errorf("Parse(nil) = %v, %v; want nil, trusting nobody", p, err)
	}
}

func TestResolve(t *testing.T) {
	p, err := Parse([]string{"127.0.0.1", "10.0.0.0/8"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		remote  string
		tls     bool
		headers map[string]string
		want    Client
	}{
		{"direct, headers ignored", "192.0.2.7:4000", false,
			map[string]string{"X-Forwarded-For": "1.1.1.1", "X-Forwarded-Proto": "https", "X-Forwarded-Host": "evil.example"},
			Client{Addr: netip.MustParseAddr("192.0.2.7"), Scheme: "http", Host: "ferry.test"}},
		{"direct TLS, Forwarded ignored", "192.0.2.7:4000", true,
			map[string]string{"Forwarded": "for=1.1.1.1;proto=http;host=evil.example"},
			Client{Addr: netip.MustParseAddr("192.0.2.7"), Scheme: "https", Host: "ferry.test"}},
		{"trusted proxy, X-Forwarded-*", "127.0.0.1:5000", false,
			map[string]string{"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "https", "X-Forwarded-Host": "files.example.com"},
			Client{Addr: netip.MustParseAddr("203.0.113.9"), Scheme: "https", Host: "files.example.com", Proxied: true}},
		{"client-sent XFF prefix is not believed", "127.0.0.1:5000", false,
			map[string]string{"X-Forwarded-For": "6.6.6.6, 203.0.113.9", "X-Forwarded-Proto": "https"},
			Client{Addr: netip.MustParseAddr("203.0.113.9"), Scheme: "https", Host: "ferry.test", Proxied: true}},
		{"chain of trusted proxies", "127.0.0.1:5000", false,
			map[string]string{"X-Forwarded-For": "6.6.6.6, 203.0.113.9, 10.0.0.5", "X-Forwarded-Proto": "http, https, http"},
			Client{Addr: netip.MustParseAddr("203.0.113.9"), Scheme: "https", Host: "ferry.test", Proxied: true}},
		{"garbage hop stops the walk", "127.0.0.1:5000", false,
			map[string]string{"X-Forwarded-For": "203.0.113.9, unknown"},
			Client{Addr: netip.MustParseAddr("127.0.0.1"), Scheme: "http", Host: "ferry.test", Proxied: true}},
		{"IPv6 and ports in XFF", "127.0.0.1:5000", false,
			map[string]string{"X-Forwarded-For": "[2001:db8::1]:7000"},
			Client{Addr: netip.MustParseAddr("2001:db8::1"), Scheme: "http", Host: "ferry.test", Proxied: true}},
		{"bad forwarded host and proto ignored", "127.0.0.1:5000", false,
			map[string]string{"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "gopher", "X-Forwarded-Host": "a/b"},
			Client{Addr: netip.MustParseAddr("203.0.113.9"), Scheme: "http", Host: "ferry.test", Proxied: true}},
		{"Forwarded wins over X-Forwarded", "127.0.0.1:5000", false,
			map[string]string{"Forwarded": `for=6.6.6.6, for="[2001:db8::2]:80";proto=https;host=files.example.com`,
				"X-Forwarded-For": "1.1.1.1"},
			Client{Addr: netip.MustParseAddr("2001:db8::2"), Scheme: "https", Host: "files.example.com", Proxied: true}},
		{"Forwarded through two trusted proxies", "10.0.0.1:5000", false,
			map[string]string{"Forwarded": "for=198.51.100.3;proto=https;host=a.example, for=10.9.9.9"},
			Client{Addr: netip.MustParseAddr("198.51.100.3"), Scheme: "https", Host: "a.example", Proxied: true}},
		{"Forwarded obfuscated client", "127.0.0.1:5000", false,
			map[string]string{"Forwarded": "for=_hidden;proto=https"},
			Client{Addr: netip.MustParseAddr("127.0.0.1"), Scheme: "http", Host: "ferry.test", Proxied: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "http://ferry.test/files/x", nil)
			r.RemoteAddr = tt.remote
			if tt.tls {
				r.TLS = &tls.ConnectionState{}
			}
			for k, v := range tt.headers {
				r.Header.Set(k, v)
			}
			if got := p.Resolve(r); got != tt.want {
				t.Errorf("Resolve = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestHandlerRewritesOnlyTrustedRequests(t *testing.T) {
	p, _ := Parse([]string{"127.0.0.1"})
	var seen *http.Request
	h := p.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { seen = r }))
	for _, tt := range []struct {
		remote, wantRemote, wantHost, wantScheme string
	}{
		{"127.0.0.1:999", "203.0.113.9:0", "files.example.com", "https"},
		{"127.0.0.2:999", "127.0.0.2:999", "ferry.test", "http"},
	} {
		r := httptest.NewRequest(http.MethodGet, "http://ferry.test/", nil)
		r.RemoteAddr = tt.remote
		r.Header.Set("X-Forwarded-For", "203.0.113.9")
		r.Header.Set("X-Forwarded-Proto", "https")
		r.Header.Set("X-Forwarded-Host", "files.example.com")
		h.ServeHTTP(httptest.NewRecorder(), r)
		if seen.RemoteAddr != tt.wantRemote || seen.Host != tt.wantHost || Scheme(seen) != tt.wantScheme {
			t.Errorf("from %s: RemoteAddr %s, Host %s, scheme %s; want %s, %s, %s", tt.remote,
				seen.RemoteAddr, seen.Host, Scheme(seen), tt.wantRemote, tt.wantHost, tt.wantScheme)
		}
	}
	var nobody *Proxies
	r := httptest.NewRequest(http.MethodGet, "http://ferry.test/", nil)
	r.RemoteAddr = "127.0.0.1:1"
	r.Header.Set("X-Forwarded-For", "203.0.113.9")
	nobody.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { seen = r })).ServeHTTP(httptest.NewRecorder(), r)
	if seen.RemoteAddr != "127.0.0.1:1" {
		t.Errorf("nil Proxies trusted X-Forwarded-For: %s", seen.RemoteAddr)
	}
}
