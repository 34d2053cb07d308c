// Package realip finds who a request really came from when it passed
// through reverse proxies that the operator trusts (--trusted-proxies): the
// client's address, and the scheme and host it asked for. The forwarding
// headers (X-Forwarded-For, -Proto, -Host, and RFC 7239 Forwarded) are
// believed only when the connection itself comes from a trusted proxy;
// from anyone else they are ignored, since anyone can send them.
package realip

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// Proxies is the set of trusted proxy networks. The nil *Proxies trusts
// nobody, so that code can hold one unconditionally.
type Proxies struct {
	nets []netip.Prefix
}

// Parse reads a list of CIDRs ("10.0.0.0/8", "::1/128") or single
// addresses ("127.0.0.1"). An empty list gives nil: nobody is trusted.
func Parse(list []string) (*Proxies, error) {
	var p Proxies
	for _, s := range list {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		if !strings.Contains(s, "/") {
			a, err := netip.ParseAddr(s)
			if err != nil {
				return nil, fmt.Errorf("trusted proxy %q: want a CIDR or an address: %w", s, err)
			}
			a = a.Unmap()
			p.nets = append(p.nets, netip.PrefixFrom(a, a.BitLen()))
			continue
		}
		n, err := netip.ParsePrefix(s)
		if err != nil {
			return nil, fmt.Errorf("trusted proxy %q: %w", s, err)
		}
		if n.Addr().Is4In6() {
			n = netip.PrefixFrom(n.Addr().Unmap(), n.Bits()-96)
		}
		p.nets = append(p.nets, n.Masked())
	}
	if len(p.nets) == 0 {
		return nil, nil
	}
	return &p, nil
}

// Trusted reports whether a is the address of a trusted proxy.
func (p *Proxies) Trusted(a netip.Addr) bool {
	if p == nil || !a.IsValid() {
		return false
	}
	a = a.Unmap()
	for _, n := range p.nets {
		if n.Contains(a) {
			return true
		}
	}
	return false
}

// Client is where a request came from, as its client saw it.
type Client struct {
	// Addr is the client's address: the first hop, counted from this
	// server, that is not a trusted proxy.
	Addr netip.Addr
	// Scheme is "https" or "http": what the client used to reach the
	// first trusted proxy (or this server).
	Scheme string
	// Host is the Host the client asked for.
	Host string
	// Proxied says the request came through a trusted proxy.
	Proxied bool
}

// Resolve works out the client of r. Without a trusted proxy as the peer
// it is the peer itself, r.Host, and https exactly when r came over TLS.
func (p *Proxies) Resolve(r *http.Request) Client {
	c := Client{Addr: addrOf(r.RemoteAddr), Scheme: "http", Host: r.Host}
	if r.TLS != nil {
		c.Scheme = "https"
	}
	if !p.Trusted(c.Addr) {
		return c
	}
	c.Proxied = true
	if fwd := r.Header.Values("Forwarded"); len(fwd) > 0 {
		p.fromForwarded(&c, fwd)
		return c
	}
	p.fromXForwarded(&c, r.Header)
	return c
}

// fromXForwarded walks X-Forwarded-For from the right (the hop nearest to
// us) past trusted proxies; the first address that is not one is the
// client. X-Forwarded-Proto and -Host are the values of that hop when they
// list one per hop, else the last value (what our proxy said).
func (p *Proxies) fromXForwarded(c *Client, h http.Header) {
	hops := splitValues(h.Values("X-Forwarded-For"))
	idx := -1
	for i := len(hops) - 1; i >= 0; i-- {
		a := addrOf(hops[i])
		if !a.IsValid() {
			break // garbage or an obfuscated hop: nothing further left is believable
		}
		idx, c.Addr = i, a
		if !p.Trusted(a) {
			break
		}
	}
	pick := func(name string) string {
		vals := splitValues(h.Values(name))
		switch {
		case len(vals) == 0:
			return ""
		case idx >= 0 && len(vals) == len(hops):
			return vals[idx]
		}
		return vals[len(vals)-1]
	}
	if proto := strings.ToLower(pick("X-Forwarded-Proto")); proto == "http" || proto == "https" {
		c.Scheme = proto
	}
	if host := pick("X-Forwarded-Host"); validHost(host) {
		c.Host = host
	}
}

// fromForwarded does the same walk over RFC 7239 Forwarded elements: the
// element of the first untrusted hop (or the leftmost) gives for=, proto=
// and host=.
func (p *Proxies) fromForwarded(c *Client, values []string) {
	elems := splitValues(values)
	for i := len(elems) - 1; i >= 0; i-- {
		params := parseElement(elems[i])
		a := addrOf(params["for"])
		if !a.IsValid() {
			break
		}
		c.Addr = a
		if proto := strings.ToLower(params["proto"]); proto == "http" || proto == "https" {
			c.Scheme = proto
		}
		if host := params["host"]; validHost(host) {
			c.Host = host
		}
		if !p.Trusted(a) {
			break
		}
	}
}

// parseElement splits one Forwarded element (for=...;proto=...;host=...)
// into lower-cased names and unquoted values.
func parseElement(e string) map[string]string {
	out := map[string]string{}
	for _, pair := range strings.Split(e, ";") {
		name, value, ok := strings.Cut(strings.TrimSpace(pair), "=")
		if !ok {
			continue
		}
		value = strings.TrimSpace(value)
		if len(value) >= 2 && value[0] == '"' && value[len(value)-1] == '"' {
			value = strings.ReplaceAll(value[1:len(value)-1], `\"`, `"`)
		}
		out[strings.ToLower(strings.TrimSpace(name))] = value
	}
	return out
}

// splitValues splits comma-separated header values into trimmed items.
// (No Forwarded value we use contains a comma inside quotes.)
func splitValues(values []string) []string {
	var out []string
	for _, v := range values {
		for _, item := range strings.Split(v, ",") {
			if item = strings.TrimSpace(item); item != "" {
				out = append(out, item)
			}
		}
	}
	return out
}

// addrOf parses "1.2.3.4", "1.2.3.4:5", "[::1]:5", "[::1]" or "::1";
// anything else is the invalid Addr.
func addrOf(s string) netip.Addr {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap()
	}
	s = strings.TrimSuffix(strings.TrimPrefix(s, "["), "]")
	if a, err := netip.ParseAddr(s); err == nil && a.Zone() == "" {
		return a.Unmap()
	}
	return netip.Addr{}
}

// validHost accepts a forwarded host that is a plausible Host header value:
// no spaces, slashes or control characters.
func validHost(h string) bool {
	if h == "" || len(h) > 255 {
		return false
	}
	for _, r := range h {
		if r <= ' ' || r >= 0x7f || strings.ContainsRune(`/\?#@"`, r) {
			return false
		}
	}
	return true
}

type ctxKey struct{}

// Handler rewrites each request from a trusted proxy to what its client
// sent: RemoteAddr becomes the client's address, Host the forwarded host,
// and the scheme (Scheme) the forwarded one. Everything after it (logs,
// the Host and Origin checks, per-client caps) then sees the real client.
// Requests from anyone else pass unchanged.
func (p *Proxies) Handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := p.Resolve(r)
		r2 := r.WithContext(context.WithValue(r.Context(), ctxKey{}, c))
		if c.Proxied {
			r2.RemoteAddr = net.JoinHostPort(c.Addr.String(), "0")
			r2.Host = c.Host
		}
		next.ServeHTTP(w, r2)
	})
}

// FromRequest returns what Handler resolved for r, if r passed through it.
func FromRequest(r *http.Request) (Client, bool) {
	c, ok := r.Context().Value(ctxKey{}).(Client)
	return c, ok
}

// Scheme is the scheme the client of r used: what Handler resolved, or
// without it, https exactly when r came over TLS.
func Scheme(r *http.Request) string {
	if c, ok := r.Context().Value(ctxKey{}).(Client); ok {
		return c.Scheme
	}
	if r.TLS != nil {
		return "https"
	}
	return "http"
}
