package connlimit

import (
	"net/http"
	"sync"
	"sync/atomic"

	"github.com/ferryhq/ferry/internal/realip"
)

// PerClient caps the requests in flight per real client address for
// requests that come through a trusted proxy, where the Listener cannot cap
// by socket address (every connection is the proxy's). The cap is the
// per-address connection cap: a proxied request holds one upstream
// connection, so the two count the same thing. Direct requests pass: the
// Listener has already capped them. It is safe for concurrent use.
type PerClient struct {
	limit   int
	proxies *realip.Proxies

	mu       sync.Mutex
	inFlight map[string]int

	refused atomic.Int64
}

// NewPerClient caps proxied requests at limit per client address (0: no
// cap), the client being what proxies (the trusted ones) say it is.
func NewPerClient(limit int, proxies *realip.Proxies) *PerClient {
	return &PerClient{limit: limit, proxies: proxies, inFlight: map[string]int{}}
}

// Refused is how many requests were answered 503 for being over the cap.
func (p *PerClient) Refused() int64 { return p.refused.Load() }

// Handler answers a proxied request over its client's cap 503
// too_many_conns (Retry-After: 1), the Listener's refusal, and passes the
// others to next, counting them until next returns (a WebSocket session or
// a ?follow=1 download counts for as long as it lasts).
func (p *PerClient) Handler(next http.Handler) http.Handler {
	if p.limit <= 0 || p.proxies == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := p.proxies.Resolve(r)
		if !c.Proxied {
			next.ServeHTTP(w, r)
			return
		}
		key := c.Addr.String()
		if !p.acquire(key) {
			p.refused.Add(1)
			h := w.Header()
			h.Set("Retry-After", "1")
			h.Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte(`{"error":"too_many_conns"}`))
			return
		}
		defer p.release(key)
		next.ServeHTTP(w, r)
	})
}

func (p *PerClient) acquire(key string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.inFlight[key] >= p.limit {
		return false
	}
	p.inFlight[key]++
	return true
}

func (p *PerClient) release(key string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.inFlight[key]--; p.inFlight[key] <= 0 {
		delete(p.inFlight, key)
	}
}
