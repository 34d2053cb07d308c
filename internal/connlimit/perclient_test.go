package connlimit

import (
	"bufio"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/ferryhq/ferry/internal/realip"
)

// A trusted proxy's connections are not capped as one client's; everyone
// else's still are.
func TestTrustedProxyIsNotCappedPerHost(t *testing.T) {
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := New(raw, 0, 2)
	proxies, _ := realip.Parse([]string{"127.0.0.2"})
	l.TrustProxies(proxies)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) })}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	get := func(c net.Conn) string {
		c.SetDeadline(time.Now().Add(2 * time.Second))
		c.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"))
		line, _ := bufio.NewReader(c).ReadString('\n')
		return strings.TrimSpace(line)
	}
	for i := range 4 {
		if got := get(dialFrom(t, "127.0.0.2", raw.Addr().String())); got != "HTTP/1.1 200 OK" {
			t.Fatalf("proxy connection %d: %q", i+1, got)
		}
	}
	for i, want := range []string{"HTTP/1.1 200 OK", "HTTP/1.1 200 OK", "HTTP/1.1 503 Service Unavailable"} {
		if got := get(dialFrom(t, "127.0.0.3", raw.Addr().String())); got != want {
			t.Fatalf("direct connection %d: %q, want %q", i+1, got, want)
		}
	}
}

func TestPerClientCapsProxiedRequestsByRealClient(t *testing.T) {
	proxies, _ := realip.Parse([]string{"10.0.0.1"})
	p := NewPerClient(2, proxies)
	release := make(chan struct{})
	entered := make(chan struct{}, 10)
	h := p.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		entered <- struct{}{}
		<-release
	}))
	serve := func(remote, xff string) chan int {
		done := make(chan int, 1)
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.RemoteAddr = remote
		if xff != "" {
			r.Header.Set("X-Forwarded-For", xff)
		}
		go func() {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, r)
			done <- rec.Code
		}()
		return done
	}
	var held []chan int
	for range 2 {
		held = append(held, serve("10.0.0.1:1", "192.0.2.2"))
		<-entered
	}
	if code := <-serve("10.0.0.1:1", "192.0.2.2"); code != http.StatusServiceUnavailable {
		t.Fatalf("third request of 192.0.2.2 through the proxy: %d, want 503", code)
	}
	// Another client through the same proxy, and a direct client that a
	// forged X-Forwarded-For cannot put under 192.0.2.2's cap.
	for _, c := range []struct{ remote, xff string }{{"10.0.0.1:1", "192.0.2.3"}, {"10.0.0.9:1", "192.0.2.2"}} {
		held = append(held, serve(c.remote, c.xff))
		select {
		case <-entered:
		case code := <-held[len(held)-1]:
			t.Fatalf("request from %s for %s answered %d, want it served", c.remote, c.xff, code)
		}
	}
	if p.Refused() != 1 {
		t.Errorf("Refused() = %d, want 1", p.Refused())
	}
	close(release)
	for _, d := range held {
		if code := <-d; code != http.StatusOK {
			t.Errorf("held request: %d", code)
		}
	}
	// Released: 192.0.2.2 may come again.
	if code := <-serve("10.0.0.1:1", "192.0.2.2"); code != http.StatusOK {
		t.Errorf("after release: %d", code)
	}
}
