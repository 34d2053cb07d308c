package web

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/ferryhq/ferry/download"
	"github.com/ferryhq/ferry/events"
	"github.com/ferryhq/ferry/eventstream"
	"github.com/ferryhq/ferry/httpupload"
	"github.com/ferryhq/ferry/internal/httperr"
	"github.com/ferryhq/ferry/internal/realip"
	"github.com/ferryhq/ferry/storage"
	"github.com/ferryhq/ferry/upload"
)

// Config configures a Server. Zero values mean the documented default.
type Config struct {
	// Config is what the upload handlers take, with upload.Config's meaning
	// and defaults: Backend (required; it also serves downloads), MaxSize,
	// MaxFrame, AllowedTypes, PingPeriod, MessageRate, MessageBurst, NewID
	// and Logger (nil means slog.Default(); it receives every request error
	// and lifecycle event). MaxSize, AllowedTypes and NewID apply to the
	// HTTP uploads (tus, IETF) too. CheckOrigin and Registerer are the
	// Server's own (AllowedOrigins, /metrics): New refuses them set.
	upload.Config
	// Tokens are full-access tokens (Bearer header or ?token=). When any
	// of Tokens, UploadTokens and ReadTokens is set, every route but
	// /healthz, OPTIONS /uploads/ and the uploader page needs a token whose
	// scope covers it (docs/design.md, "Access"); with none set, nothing
	// needs one.
	Tokens []string
	// UploadTokens may only upload: /ws/upload and POST, HEAD, PATCH and
	// DELETE on /uploads/. They cannot read, list or delete stored files.
	UploadTokens []string
	// ReadTokens may only read: GET and HEAD /files/<id>, GET /api/files,
	// GET /api/files/<id>, POST /api/files/<id>/link and /metrics.
	ReadTokens []string
	// LinkSecrets are the HMAC-SHA256 keys of signed links, at least
	// MinLinkSecret bytes each: the first signs, every one verifies. Empty:
	// a random key is made by New, so links die with the process (New logs
	// a warning when tokens are configured).
	LinkSecrets [][]byte
	// LinkTTL is how long a minted link lives when the request names no
	// ttl; 0 means DefaultLinkTTL (7 days).
	LinkTTL time.Duration
	// LinkMaxTTL is the longest ttl a mint request may ask for; 0 means
	// DefaultLinkMaxTTL (30 days).
	LinkMaxTTL time.Duration
	// AllowedHosts are the Host names the server answers to besides the
	// ones always allowed (localhost, *.localhost, IP address literals):
	// "files.example.com", "*.example.com", or "*" for any. Any other Host
	// answers 421 {"error":"bad_host"}, against DNS rebinding.
	AllowedHosts []string
	// AllowedOrigins are the browser origins (scheme://host[:port]) allowed to
	// open WebSockets and make cross-origin requests besides the server's own;
	// "*" allows any. Empty: the server's own origin only.
	AllowedOrigins []string
	// InlineActive serves active types (HTML, JavaScript, SVG, XML) inline,
	// under Content-Security-Policy: sandbox; false makes them attachments.
	InlineActive bool
	// AttachPDF serves PDF as an attachment; false shows it inline, as
	// docs/protocol.md §2 lists it among the types shown inline.
	AttachPDF bool
	// SweepInterval is how often expired uploads are deleted; 0 means
	// DefaultSweepInterval.
	SweepInterval time.Duration
	// Events, when set, is served as Server-Sent Events on GET /api/events
	// (read scope; package eventstream). Publishing on it is the Backend's
	// job (events.Wrap); nil: no /api/events route.
	Events *events.Bus
	// Now is the clock of expiry: the sweep deletes what expired by it, and
	// tus and IETF requests answer 410 for uploads past their expiry by
	// it. nil means time.Now. It should be the backend's clock (local.Config
	// and s3.Config have their own Now), so tests set the time instead of
	// waiting for it.
	Now func() time.Time
	// TrustedProxies are the reverse proxies whose forwarding headers
	// (X-Forwarded-For/-Proto/-Host, Forwarded) say who the client is and
	// which scheme and host it asked for; the Host and Origin checks and the
	// logs then use those. Nil: the headers are ignored, from everyone.
	TrustedProxies *realip.Proxies
}

// DefaultSweepInterval is how often expired uploads are deleted when
// Config.SweepInterval is 0.
const DefaultSweepInterval = time.Minute

// Server is ferry's HTTP and WebSocket front: routes, middleware, the error
// map and the embedded uploader page.
type Server struct {
	cfg       Config
	echo      *echo.Echo
	uploads   *upload.Handler
	resumable *httpupload.Handler
	events    *eventstream.Handler // nil without Config.Events
	registry  *prometheus.Registry
	logger    *slog.Logger
	tokens    *tokenSet
	links     *LinkSigner
	hosts     hostPolicy
	now       func() time.Time
}

// exposedHeaders are the response headers cross-origin scripts may read:
// what a ranged or resumable download needs, and every tus and IETF
// resumable-upload header a client reads.
var exposedHeaders = []string{"Content-Range", "Accept-Ranges", "Content-Length", "ETag", "Content-Disposition",
	"Location", "Content-Location", "Retry-After", "Upload-Offset", "Upload-Length", "Upload-Defer-Length",
	"Upload-Metadata", "Upload-Expires", "Upload-Complete", "Upload-Incomplete", "Upload-Limit",
	"Upload-Draft-Interop-Version", "Tus-Resumable", "Tus-Version", "Tus-Extension", "Tus-Max-Size",
	"Tus-Checksum-Algorithm"}

// allowedRequestHeaders are the request headers cross-origin scripts may send.
var allowedRequestHeaders = []string{"Authorization", "Range", "If-Range", "If-Match", "If-None-Match", "If-Modified-Since",
	"Content-Type", "Content-Disposition", "X-HTTP-Method-Override", "X-Requested-With", "X-Request-ID", "Last-Event-ID",
	"Tus-Resumable", "Upload-Length", "Upload-Defer-Length", "Upload-Metadata", "Upload-Offset", "Upload-Checksum",
	"Upload-Concat", "Upload-Complete", "Upload-Incomplete", "Upload-Draft-Interop-Version"}

// New builds a Server from cfg. It returns an error when cfg.Backend is nil,
// CheckOrigin or Registerer is set, LinkTTL, LinkMaxTTL or SweepInterval is
// negative, or a handler refuses its part of cfg (a negative size, frame
// limit or period among them).
func New(cfg Config) (*Server, error) {
	if cfg.Backend == nil {
		return nil, errors.New("web: Config.Backend is required")
	}
	if cfg.CheckOrigin != nil || cfg.Registerer != nil {
		return nil, errors.New("web: Config.CheckOrigin and Registerer are the Server's own: set AllowedOrigins instead")
	}
	if cfg.LinkTTL < 0 || cfg.LinkMaxTTL < 0 || cfg.SweepInterval < 0 {
		return nil, errors.New("web: Config.LinkTTL, LinkMaxTTL and SweepInterval must not be negative")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.SweepInterval == 0 {
		cfg.SweepInterval = DefaultSweepInterval
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.LinkTTL == 0 {
		cfg.LinkTTL = DefaultLinkTTL
	}
	if cfg.LinkMaxTTL == 0 {
		cfg.LinkMaxTTL = DefaultLinkMaxTTL
	}
	s := &Server{cfg: cfg, logger: cfg.Logger, registry: prometheus.NewRegistry(), now: time.Now,
		tokens: newTokenSet(cfg.Tokens, cfg.UploadTokens, cfg.ReadTokens), hosts: newHostPolicy(cfg.AllowedHosts)}
	secrets := cfg.LinkSecrets
	if len(secrets) == 0 {
		key := make([]byte, MinLinkSecret)
		if _, err := rand.Read(key); err != nil {
			return nil, fmt.Errorf("web: making a link secret: %w", err)
		}
		secrets = [][]byte{key}
		if s.tokens.enabled() {
			cfg.Logger.Warn("no link secret is set: signed links die with this process and other instances refuse them (set --link-secret)")
		}
	}
	links, err := NewLinkSigner(secrets)
	if err != nil {
		return nil, err
	}
	s.links = links
	s.registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	wsCfg := cfg.Config
	wsCfg.CheckOrigin, wsCfg.Registerer = s.originAllowed, s.registry
	uploads, err := upload.NewHandler(wsCfg)
	if err != nil {
		return nil, fmt.Errorf("web: upload handler: %w", err)
	}
	s.uploads = uploads
	resumable, err := httpupload.New(httpupload.Config{
		Backend:      cfg.Backend,
		MaxSize:      cfg.MaxSize,
		AllowedTypes: cfg.AllowedTypes,
		Registerer:   s.registry,
		Logger:       cfg.Logger,
		NewID:        cfg.NewID,
		Now:          cfg.Now,
		// No 104 through a proxy: nginx (1.22) takes it for the final
		// answer and stops passing the upload's body (docs/deploy.md).
		Interim: func(r *http.Request) bool {
			c, ok := realip.FromRequest(r)
			return !ok || !c.Proxied
		},
	})
	if err != nil {
		return nil, fmt.Errorf("web: HTTP upload handler: %w", err)
	}
	s.resumable = resumable
	downloads, err := download.New(download.Config{Backend: cfg.Backend, Logger: cfg.Logger,
		InlineActive: cfg.InlineActive, InlinePDF: !cfg.AttachPDF})
	if err != nil {
		return nil, fmt.Errorf("web: download handler: %w", err)
	}
	assets, err := newAssets()
	if err != nil {
		return nil, fmt.Errorf("web: embedded assets: %w", err)
	}

	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = errorHandler(cfg.Logger)
	e.Use(nosniff, middleware.Recover(), newRequestMetrics(s.registry), s.hostGuard)
	if len(cfg.AllowedOrigins) > 0 {
		e.Use(middleware.CORSWithConfig(middleware.CORSConfig{
			AllowOrigins: cfg.AllowedOrigins,
			AllowMethods: []string{http.MethodGet, http.MethodHead, http.MethodDelete, http.MethodOptions,
				http.MethodPost, http.MethodPatch},
			AllowHeaders:  allowedRequestHeaders,
			ExposeHeaders: exposedHeaders,
		}))
	}
	canUpload, canRead, canAdmin := s.require(scopeUpload), s.require(scopeRead), s.require(scopeFull)

	e.GET("/", assets.index)
	e.HEAD("/", assets.index)
	e.GET("/static/*", assets.file)
	e.HEAD("/static/*", assets.file)
	e.GET("/healthz", s.health)
	e.HEAD("/healthz", s.health)
	e.GET("/api/limits", s.limits)

	e.GET("/ws/upload", echo.WrapHandler(uploads), canUpload)
	e.GET("/files/:id", withID(downloads.File), s.requireFileRead)
	e.HEAD("/files/:id", withID(downloads.File), s.requireFileRead)
	e.GET("/api/files", echo.WrapHandler(http.HandlerFunc(downloads.ListFiles)), canRead)
	e.GET("/api/files/:id", withID(downloads.FileInfo), canRead)
	e.POST("/api/files/:id/link", s.mintLink, canRead)
	e.DELETE("/api/files/:id", s.deleteFile, canAdmin)
	if cfg.Events != nil {
		s.events, err = eventstream.New(eventstream.Config{Bus: cfg.Events, Logger: cfg.Logger})
		if err != nil {
			return nil, fmt.Errorf("web: event stream: %w", err)
		}
		e.GET("/api/events", echo.WrapHandler(s.events), canRead)
	}
	// Uploads over HTTP (tus, IETF). OPTIONS is discovery and needs no
	// token, as browsers send no credentials on a CORS preflight.
	httpUploads := echo.WrapHandler(resumable)
	// The protocol's headers go on every answer, refusals by the
	// middleware below included (tus requires Tus-Resumable on all).
	stamp := func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			httpupload.Stamp(c.Response().Header(), c.Request())
			return next(c)
		}
	}
	for _, path := range []string{"/uploads", "/uploads/", "/uploads/:id"} {
		e.OPTIONS(path, httpUploads, stamp, s.sameOrigin)
		e.Match([]string{http.MethodPost, http.MethodHead, http.MethodPatch, http.MethodDelete}, path, httpUploads, stamp, s.sameOrigin, canUpload)
	}
	e.GET("/metrics", echo.WrapHandler(promhttp.HandlerFor(s.registry, promhttp.HandlerOpts{})), canRead)
	s.echo = e
	return s, nil
}

// Handler is the http.Handler that serves every route.
// Requests from TrustedProxies reach the routes as their clients sent them
// (realip.Handler).
func (s *Server) Handler() http.Handler {
	if s.cfg.TrustedProxies == nil {
		// Nobody is trusted, so every request would pass unchanged, and
		// a request without the resolved Client is taken as unproxied:
		// the wrapper would only copy each request.
		return s.echo
	}
	return s.cfg.TrustedProxies.Handler(s.echo)
}

// Shutdown tells every upload connection the server is going away (close
// 1001 after their bytes are made durable), ends every HTTP upload request
// that is streaming a body (503 after its bytes are made durable), and
// waits for them or ctx. It ends every /api/events stream. Other HTTP requests are drained by the caller's
// http.Server.Shutdown.
func (s *Server) Shutdown(ctx context.Context) error {
	if s.events != nil {
		s.events.Close() // an open stream would hold http.Server.Shutdown to its deadline
	}
	errc := make(chan error, 1)
	go func() { errc <- s.resumable.Shutdown(ctx) }()
	return errors.Join(s.uploads.Shutdown(ctx), <-errc)
}

// SweepExpired deletes expired incomplete uploads every SweepInterval until
// ctx ends. It returns at once when the backend cannot expire uploads.
func (s *Server) SweepExpired(ctx context.Context) {
	expirer, ok := storage.As[storage.Expirer](s.cfg.Backend)
	if !ok {
		return
	}
	tick := time.NewTicker(s.cfg.SweepInterval)
	defer tick.Stop()
	for {
		n, err := expirer.DeleteExpired(ctx, s.cfg.Now(), nil)
		switch {
		case err != nil && ctx.Err() == nil:
			s.logger.Warn("deleting expired uploads failed", "err", err)
		case n > 0:
			s.logger.Info("deleted expired uploads", "count", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// withID serves an echo route with an :id parameter by a net/http handler,
// which reads the id as r.PathValue("id") as it would under http.ServeMux's
// "/files/{id}": echo stays in this package. The id is echo's, the path
// segment as it came (escapes left in). The handler answers its own errors
// (httperr.Write), so nothing is returned.
func withID(h http.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		r.SetPathValue("id", c.Param("id"))
		h(c.Response(), r)
		return nil
	}
}

// nosniff marks every response, errors included, so browsers never guess a
// stored file's type into something executable.
func nosniff(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		c.Response().Header().Set("X-Content-Type-Options", "nosniff")
		return next(c)
	}
}

// sameOrigin refuses a request from a browser origin that is not allowed
// (403) before it can create or change an upload; CORS alone would only
// stop the page from reading the answer.
func (s *Server) sameOrigin(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if !s.originAllowed(c.Request()) {
			return &httperr.Error{Status: http.StatusForbidden, Code: "forbidden", Message: "origin not allowed"}
		}
		return next(c)
	}
}

// originAllowed is the WebSocket handshake's origin check: no Origin header
// (a program, not a browser), the server's own host, or a configured origin.
func (s *Server) originAllowed(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	if slices.Contains(s.cfg.AllowedOrigins, "*") || slices.Contains(s.cfg.AllowedOrigins, origin) {
		return true
	}
	u, err := url.Parse(origin)
	if err != nil || !strings.EqualFold(u.Host, r.Host) {
		return false
	}
	// The scheme counts where it is known: over TLS, or as a trusted proxy
	// forwarded it. (A proxy that is not trusted hides it, and an https
	// page behind it must keep working as before.)
	if c, ok := realip.FromRequest(r); r.TLS != nil || (ok && c.Proxied) {
		return strings.EqualFold(u.Scheme, realip.Scheme(r))
	}
	return true
}

// newRequestMetrics counts HTTP requests by route and status.
func newRequestMetrics(reg prometheus.Registerer) echo.MiddlewareFunc {
	m := &requestMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ferry_http_requests_total",
			Help: "HTTP requests answered, by route and status code.",
		}, []string{"route", "method", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "ferry_http_request_duration_seconds",
			Help:    "Time to answer HTTP requests, by route (WebSocket sessions and event streams excluded).",
			Buckets: prometheus.DefBuckets,
		}, []string{"route", "method"}),
		gets: map[seriesKey]series{},
	}
	reg.MustRegister(m.requests, m.duration)
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			start := time.Now()
			err := next(c)
			route := c.Path()
			if route == "" {
				route = "unmatched"
			}
			status := c.Response().Status
			if err != nil && !c.Response().Committed {
				status, _ = httperr.Classify(fromEcho(err))
			}
			s := m.of(seriesKey{route, c.Request().Method, status})
			s.count.Inc()
			if s.observe != nil {
				s.observe.Observe(time.Since(start).Seconds())
			}
			return err
		}
	}
}

// requestMetrics are the request counter and duration histogram, with the
// series of GET and HEAD requests (most of them) looked up once: a label
// lookup hashes every label and formats the status each time.
type requestMetrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec

	mu   sync.RWMutex
	gets map[seriesKey]series // a typed key: no allocation to look up
}

// seriesKey is what names a request's series.
type seriesKey struct {
	route, method string
	status        int
}

// series is a request's counter and duration observer; observe is nil
// for sessions (WebSocket uploads, event streams), which are not timed.
type series struct {
	count   prometheus.Counter
	observe prometheus.Observer
}

// of returns the series of k, resolved once for GET and HEAD.
func (m *requestMetrics) of(k seriesKey) series {
	cached := k.method == http.MethodGet || k.method == http.MethodHead
	if cached {
		m.mu.RLock()
		s, ok := m.gets[k]
		m.mu.RUnlock()
		if ok {
			return s
		}
	}
	s := series{count: m.requests.WithLabelValues(k.route, k.method, strconv.Itoa(k.status))}
	if k.route != "/ws/upload" && k.route != "/api/events" { // sessions, not requests
		s.observe = m.duration.WithLabelValues(k.route, k.method)
	}
	if cached {
		m.mu.Lock()
		m.gets[k] = s
		m.mu.Unlock()
	}
	return s
}
