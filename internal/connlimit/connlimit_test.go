package connlimit

import (
	"bufio"
	"net"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"
)

// dialFrom opens a TCP connection to addr from the loopback address src.
func dialFrom(t *testing.T, src, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 2 * time.Second}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dial from %s: %v", src, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// TestCapsPerHostAndTotal: a client over its cap is answered 503 and
// closed; another address still gets in until the total cap.
func TestCapsPerHostAndTotal(t *testing.T) {
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := New(raw, 5, 3)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) })}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	addr := raw.Addr().String()

	get := func(c net.Conn) string {
		t.Helper()
		c.SetDeadline(time.Now().Add(2 * time.Second))
		c.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"))
		line, _ := bufio.NewReader(c).ReadString('\n')
		return strings.TrimSpace(line)
	}
	var held []net.Conn
	for range 3 {
		c := dialFrom(t, "127.0.0.2", addr)
		if got := get(c); got != "HTTP/1.1 200 OK" {
			t.Fatalf("within the per-host cap: %q", got)
		}
		held = append(held, c)
	}
	if got := get(dialFrom(t, "127.0.0.2", addr)); got != "HTTP/1.1 503 Service Unavailable" {
		t.Fatalf("over the per-host cap: %q", got)
	}
	for range 2 {
		if got := get(dialFrom(t, "127.0.0.3", addr)); got != "HTTP/1.1 200 OK" {
			t.Fatalf("another address: %q", got)
		}
	}
	if got := get(dialFrom(t, "127.0.0.4", addr)); got != "HTTP/1.1 503 Service Unavailable" {
		t.Fatalf("over the total cap: %q", got)
	}
	held[0].Close()
	deadline := time.Now().Add(2 * time.Second)
	for l.Open() > 4 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if got := get(dialFrom(t, "127.0.0.2", addr)); got != "HTTP/1.1 200 OK" {
		t.Fatalf("after a close, the slot is free again: %q", got)
	}
	if l.Refused() != 2 {
		t.Errorf("refused %d, want 2", l.Refused())
	}
}

func TestRaiseFileLimit(t *testing.T) {
	n, err := RaiseFileLimit()
	if runtime.GOOS == "windows" {
		// No limit to raise: unknown, so no default cap.
		if err != nil || n != 0 || DefaultTotal(n) != 0 {
			t.Fatalf("RaiseFileLimit on Windows: %d, %v; want 0, nil", n, err)
		}
		return
	}
	if err != nil || n == 0 {
		t.Fatalf("RaiseFileLimit: %d, %v", n, err)
	}
	if DefaultTotal(n) <= 0 || DefaultTotal(0) != 0 {
		t.Errorf("DefaultTotal(%d) = %d", n, DefaultTotal(n))
	}
}
