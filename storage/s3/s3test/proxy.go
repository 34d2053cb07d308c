package s3test

import (
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
)

// LosingProxy is an HTTP proxy on 127.0.0.1 in front of the S3 server at
// endpoint (host:port, plain HTTP) that passes every request through, but
// one: once armed with Arm, it passes the next PUT of a key ending in the
// suffix to the server, lets the server answer it in full, and keeps the
// answer. The client hears nothing until it gives up (its context ends),
// as when a saturated store takes a write and answers too late. It closes
// when the test ends.
type LosingProxy struct {
	// Addr is the proxy's host:port: the Config.Endpoint to use.
	Addr string

	mu     sync.Mutex
	suffix string
	landed chan struct{}
}

// NewLosingProxy starts a LosingProxy in front of endpoint.
func NewLosingProxy(t testing.TB, endpoint string) *LosingProxy {
	t.Helper()
	target := &url.URL{Scheme: "http", Host: endpoint}
	rp := &httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) {
		r.SetURL(target)
		r.Out.Host = r.In.Host // the client signed this Host
	}}
	p := &LosingProxy{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		done := p.take(r)
		if done == nil {
			rp.ServeHTTP(w, r)
			return
		}
		rec := httptest.NewRecorder()
		rp.ServeHTTP(rec, r)
		t.Logf("s3test: the store answered %s %s with %d; the proxy keeps the answer", r.Method, r.URL.Path, rec.Code)
		close(done)
		<-r.Context().Done()
	}))
	t.Cleanup(srv.Close)
	p.Addr = strings.TrimPrefix(srv.URL, "http://")
	return p
}

// take reports whether the proxy is armed for r, disarming it; it returns
// the channel to close once the store has answered r, or nil.
func (p *LosingProxy) take(r *http.Request) chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.suffix == "" || r.Method != http.MethodPut || !strings.HasSuffix(r.URL.Path, p.suffix) {
		return nil
	}
	p.suffix = ""
	return p.landed
}

// Arm makes the proxy keep the answer to the next PUT of a key ending in
// suffix. The channel it returns is closed once the store has answered that
// PUT (the write landed, or was refused; the test log says which).
func (p *LosingProxy) Arm(suffix string) <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.suffix, p.landed = suffix, make(chan struct{})
	return p.landed
}
