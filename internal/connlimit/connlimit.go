// Package connlimit caps the connections a server holds open, in total and
// per client address, so that a client that opens connections and sits on
// them cannot exhaust the process's file descriptors: past a cap, a new
// connection is answered 503 and closed at once, while the connections of
// everyone else keep working.
package connlimit

import (
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ferryhq/ferry/internal/realip"
)

// DefaultPerHost is the per-address cap ferry serve uses unless told
// otherwise: room for a browser's parallel connections and a busy client
// program, far below what exhausts the file descriptors. Behind a proxy
// every client has the proxy's address, so it must be raised or turned off.
const DefaultPerHost = 512

// refusal is written to a connection over a cap before it is closed: a
// complete HTTP/1.1 answer, so that a client sees why.
const refusal = "HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nRetry-After: 1\r\n" +
	"Content-Type: application/json\r\nX-Content-Type-Options: nosniff\r\nContent-Length: 26\r\n\r\n{\"error\":\"too_many_conns\"}"

// refuseTimeout bounds the write of the refusal, so a client that does not
// read cannot hold the descriptor.
const refuseTimeout = 100 * time.Millisecond

// Listener is a net.Listener whose Accept returns only connections within
// its caps. It is safe for concurrent use.
type Listener struct {
	net.Listener
	total, perHost int // 0: no cap
	proxies        *realip.Proxies

	mu     sync.Mutex
	open   int
	byHost map[string]int

	refused atomic.Int64
}

// New wraps l: at most total connections open at once and at most perHost
// from one remote IP address (0 turns a cap off).
func New(l net.Listener, total, perHost int) *Listener {
	return &Listener{Listener: l, total: total, perHost: perHost, byHost: map[string]int{}}
}

// TrustProxies exempts connections from trusted proxies from the
// per-address cap (they still count towards the total): a proxy carries
// every client's connections, and PerClient caps those per real client once
// the request says who it is. Call it before the first Accept.
func (l *Listener) TrustProxies(p *realip.Proxies) { l.proxies = p }

// Accept waits for the next connection within the caps. Connections over a
// cap are refused (answered 503 and closed) without being returned.
func (l *Listener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		host := hostOf(c.RemoteAddr())
		if l.admit(host) {
			return &conn{Conn: c, l: l, host: host}, nil
		}
		l.refused.Add(1)
		go refuse(c)
	}
}

// Refused is how many connections were refused so far.
func (l *Listener) Refused() int64 { return l.refused.Load() }

// Open is how many admitted connections are open now.
func (l *Listener) Open() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.open
}

func (l *Listener) admit(host string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	capped := l.perHost > 0 && !l.proxies.Trusted(addrOf(host))
	if (l.total > 0 && l.open >= l.total) || (capped && l.byHost[host] >= l.perHost) {
		return false
	}
	l.open++
	l.byHost[host]++
	return true
}

func (l *Listener) release(host string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.open--
	if l.byHost[host]--; l.byHost[host] <= 0 {
		delete(l.byHost, host)
	}
}

func refuse(c net.Conn) {
	_ = c.SetWriteDeadline(time.Now().Add(refuseTimeout))
	_, _ = c.Write([]byte(refusal))
	_ = c.Close()
}

func hostOf(a net.Addr) string {
	if tcp, ok := a.(*net.TCPAddr); ok {
		return tcp.IP.String()
	}
	host, _, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	return host
}

// conn gives its slot back once, when closed.
type conn struct {
	net.Conn
	l    *Listener
	host string
	once sync.Once
}

func (c *conn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { c.l.release(c.host) })
	return err
}

// addrOf parses hostOf's answer; a non-IP address is the invalid Addr,
// which no proxy list trusts.
func addrOf(host string) netip.Addr {
	a, _ := netip.ParseAddr(host)
	return a.Unmap()
}
