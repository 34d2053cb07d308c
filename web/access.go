package web

import (
	"crypto/sha256"
	"crypto/subtle"
	"net"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/ferryhq/ferry/internal/httperr"
)

// scope is what a token may do, as bits: a route needs a set of them and a
// token holds a set. A full-access token (Config.Tokens) holds every bit.
type scope uint8

const (
	// scopeUpload: create, resume, append to and end uploads (/ws/upload,
	// /uploads/…), but not read or list stored files.
	scopeUpload scope = 1 << iota
	// scopeRead: download files, list them, read their metadata, mint
	// signed links, read /metrics.
	scopeRead
	// scopeAdmin: delete files through the API (DELETE /api/files/<id>).
	scopeAdmin

	scopeFull = scopeUpload | scopeRead | scopeAdmin
)

// Errors the access checks answer with. A token that is known but lacks the
// scope is 403; no or an unknown token stays 401 (httperr.ErrUnauthorized).
var (
	errForbidden = &httperr.Error{Status: http.StatusForbidden, Code: "forbidden", Message: "the token's scope does not allow this"}
	errBadHost   = &httperr.Error{Status: http.StatusMisdirectedRequest, Code: "bad_host",
		Message: "Host is not in --allowed-hosts (DNS rebinding guard)"}
)

// tokenSet holds the configured tokens as SHA-256 digests with their scopes,
// so every comparison is of 32 bytes and takes the same time whatever the
// length of the token presented.
type tokenSet struct {
	digests [][sha256.Size]byte
	scopes  []scope
}

func newTokenSet(full, uploadOnly, readOnly []string) *tokenSet {
	ts := &tokenSet{}
	add := func(tokens []string, sc scope) {
		for _, t := range tokens {
			if t = strings.TrimSpace(t); t != "" {
				ts.digests = append(ts.digests, sha256.Sum256([]byte(t)))
				ts.scopes = append(ts.scopes, sc)
			}
		}
	}
	add(full, scopeFull)
	add(uploadOnly, scopeUpload)
	add(readOnly, scopeRead)
	return ts
}

// enabled reports whether any token is configured, i.e. whether requests
// must authenticate at all.
func (ts *tokenSet) enabled() bool { return len(ts.digests) > 0 }

// scopesOf returns the union of the scopes of every configured token equal
// to token, and false when none is. Every configured token is compared, in
// constant time, so timing tells nothing about which one (or how much of
// one) matched.
func (ts *tokenSet) scopesOf(token string) (scope, bool) {
	if token == "" {
		return 0, false
	}
	d := sha256.Sum256([]byte(token))
	var has scope
	matched := 0
	for i := range ts.digests {
		eq := subtle.ConstantTimeCompare(d[:], ts.digests[i][:])
		matched |= eq
		has |= ts.scopes[i] & scope(-eq) // all bits when eq == 1, none when 0
	}
	return has, matched == 1
}

// require refuses, before any handler (or WebSocket upgrade) runs, a request
// without a configured token (401) or whose token lacks need (403). With no
// tokens configured every request passes.
func (s *Server) require(need scope) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		if !s.tokens.enabled() {
			return next
		}
		return func(c echo.Context) error {
			if err := s.checkToken(c.Request(), need); err != nil {
				return err
			}
			return next(c)
		}
	}
}

func (s *Server) checkToken(r *http.Request, need scope) error {
	has, ok := s.tokens.scopesOf(requestToken(r))
	if !ok {
		return httperr.ErrUnauthorized
	}
	if has&need != need {
		return errForbidden
	}
	return nil
}

// requireFileRead guards GET and HEAD /files/<id>: a token with read scope,
// or a signed link for this id (?exp=&sig=, see links.go). A request with a
// signature and no token answers the link's own error (403 link_expired or
// invalid_link); with a token as well, a bad link falls back to the token.
func (s *Server) requireFileRead(next echo.HandlerFunc) echo.HandlerFunc {
	if !s.tokens.enabled() {
		return next
	}
	return func(c echo.Context) error {
		r := c.Request()
		q := r.URL.Query()
		if q.Has("sig") || q.Has("exp") {
			err := s.links.verify(c.Param("id"), q.Get("exp"), q.Get("sig"), s.now())
			if err == nil {
				return next(c)
			}
			if requestToken(r) == "" {
				return err
			}
		}
		if err := s.checkToken(r, scopeRead); err != nil {
			return err
		}
		return next(c)
	}
}

// requestToken is the token a request carries: the Bearer header, else
// ?token=. Another scheme in Authorization (a proxy's Basic credentials) is
// not ferry's and does not hide the query token.
func requestToken(r *http.Request) string {
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if ok && strings.EqualFold(scheme, "Bearer") {
		return strings.TrimSpace(token)
	}
	return r.URL.Query().Get("token")
}

// hostGuard refuses (421 bad_host) a request whose Host is not one this
// server answers to, before routing, tokens or the WebSocket upgrade: the
// defence against DNS rebinding, where a page on attacker.example has its
// name re-pointed at ferry's address and so passes every same-origin check.
// /healthz is exempt: it tells nothing, and orchestrators' probes address
// an instance by whatever name or address they know it by.
func (s *Server) hostGuard(next echo.HandlerFunc) echo.HandlerFunc {
	if s.hosts.any {
		return next
	}
	return func(c echo.Context) error {
		r := c.Request()
		if r.URL.Path == "/healthz" || s.hosts.allowed(r.Host) {
			return next(c)
		}
		return errBadHost
	}
}

// hostPolicy is the set of Host names a server answers to.
//
// Always allowed, whatever the configuration: "localhost" and names under
// ".localhost" (browsers resolve them to loopback themselves, never through
// DNS), IP address literals (a page whose origin is an IP address reached
// this server by that address, so it cannot be a rebound name), and a
// request with no Host at all (HTTP/1.0: not a browser). Configured entries
// are names ("files.example.com"), wildcards for subdomains
// ("*.example.com"), or "*" for any host.
type hostPolicy struct {
	any      bool
	names    map[string]bool
	suffixes []string // ".example.com" for "*.example.com"
}

func newHostPolicy(allowed []string) hostPolicy {
	p := hostPolicy{names: map[string]bool{}}
	for _, h := range allowed {
		h = strings.TrimSpace(h)
		switch {
		case h == "":
		case h == "*":
			p.any = true
		case strings.HasPrefix(h, "*."):
			p.suffixes = append(p.suffixes, normalizeHost(h[1:]))
		default:
			p.names[normalizeHost(h)] = true
		}
	}
	return p
}

// normalizeHost lower-cases a host, drops a port, the brackets of an IPv6
// literal and a trailing dot.
func normalizeHost(h string) string {
	if host, _, err := net.SplitHostPort(h); err == nil {
		h = host
	}
	h = strings.TrimSuffix(strings.TrimPrefix(h, "["), "]")
	return strings.TrimSuffix(strings.ToLower(h), ".")
}

func (p hostPolicy) allowed(hostHeader string) bool {
	if p.any || hostHeader == "" {
		return true
	}
	h := normalizeHost(hostHeader)
	if h == "localhost" || strings.HasSuffix(h, ".localhost") || net.ParseIP(h) != nil || p.names[h] {
		return true
	}
	for _, suf := range p.suffixes {
		if strings.HasSuffix(h, suf) {
			return true
		}
	}
	return false
}
