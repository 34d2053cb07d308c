package httpupload

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ferryhq/ferry/internal/httperr"
	"github.com/ferryhq/ferry/storage"
	"github.com/ferryhq/ferry/storage/checkpoint"
)

// Defaults for the zero values of Config.
const (
	// DefaultBasePath is where uploads live when Config.BasePath is "".
	DefaultBasePath = "/uploads/"
	// DefaultTakeoverWait is how long a request waits for an older request
	// on the same upload to let go when Config.TakeoverWait is 0.
	DefaultTakeoverWait = 15 * time.Second
)

// Config configures a Handler. Zero values mean the documented default.
type Config struct {
	Backend      storage.Backend       // required
	BasePath     string                // "" = /uploads/; must start and end with "/"
	MaxSize      int64                 // largest upload accepted; 0 = no limit
	AllowedTypes []string              // as upload.Config's; empty = any type
	TakeoverWait time.Duration         // 0 = 15s
	Registerer   prometheus.Registerer // nil = no metrics
	Logger       *slog.Logger          // nil = slog.Default()
	NewID        func() string         // nil = uuid v7 (google/uuid)
	// Now is the clock against which an upload's ExpiresAt is compared
	// (410 once past it); nil = time.Now. It should be the backend's clock.
	Now func() time.Time
	// Interim says whether an IETF creation request gets the 104 interim
	// response; nil = always. A reverse proxy that takes a 1xx for the final
	// answer (nginx 1.22 does) must not get one: it stops passing the body.
	Interim func(*http.Request) bool
}

// Handler serves uploads over plain HTTP with tus 1.0 and the IETF
// resumable upload draft at BasePath (POST) and BasePath<id> (HEAD,
// PATCH, DELETE, OPTIONS). It is safe for concurrent use.
type Handler struct {
	backend      storage.Backend
	base         string
	maxSize      int64
	allowed      checkpoint.Types
	takeoverWait time.Duration
	log          *slog.Logger
	newID        func() string
	now          func() time.Time
	sendInterim  func(*http.Request) bool // nil: always
	metrics      *metrics
	// minCheckpoint is the least time between two checkpoints made while a
	// body streams in; the backend's hint if it has one.
	minCheckpoint time.Duration
	// pieces bounds the memory request bodies are read into.
	pieces *pieceBank

	mu      sync.Mutex
	closing chan struct{} // closed by Shutdown
	active  sync.WaitGroup
}

// New checks cfg and fills in its defaults. It returns an error if Backend
// is nil, a size or wait is negative, BasePath is malformed, an allowed type
// does not parse, or the metrics cannot be registered.
func New(cfg Config) (*Handler, error) {
	if cfg.Backend == nil {
		return nil, errors.New("httpupload: Config.Backend is required")
	}
	if cfg.MaxSize < 0 || cfg.TakeoverWait < 0 {
		return nil, errors.New("httpupload: Config.MaxSize and TakeoverWait must not be negative")
	}
	if cfg.BasePath == "" {
		cfg.BasePath = DefaultBasePath
	}
	if !strings.HasPrefix(cfg.BasePath, "/") || !strings.HasSuffix(cfg.BasePath, "/") {
		return nil, fmt.Errorf("httpupload: Config.BasePath %q must start and end with /", cfg.BasePath)
	}
	if cfg.TakeoverWait == 0 {
		cfg.TakeoverWait = DefaultTakeoverWait
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.NewID == nil {
		cfg.NewID = storage.NewID
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	allowed, err := checkpoint.ParseTypes(cfg.AllowedTypes)
	if err != nil {
		return nil, fmt.Errorf("httpupload: Config.AllowedTypes: %w", err)
	}
	m, err := newMetrics(cfg.Registerer)
	if err != nil {
		return nil, fmt.Errorf("httpupload: %w", err)
	}
	h := &Handler{
		backend:       cfg.Backend,
		base:          cfg.BasePath,
		maxSize:       cfg.MaxSize,
		allowed:       allowed,
		takeoverWait:  cfg.TakeoverWait,
		log:           cfg.Logger,
		newID:         cfg.NewID,
		now:           cfg.Now,
		sendInterim:   cfg.Interim,
		metrics:       m,
		minCheckpoint: checkpointEvery,
		pieces:        newPieceBank(sharedPieces),
		closing:       make(chan struct{}),
	}
	if hinter, ok := storage.As[storage.CheckpointHinter](cfg.Backend); ok {
		h.minCheckpoint = max(h.minCheckpoint, hinter.CheckpointInterval())
	}
	return h, nil
}

// Stamp sets on h the headers that every answer to r carries in r's
// protocol (Tus-Resumable for tus, the interop version for the IETF draft),
// for middleware that answers before the Handler does (a missing token, a
// refused Origin).
func Stamp(h http.Header, r *http.Request) {
	p, _ := detect(r)
	p.stamp(h)
}

// Location is the URL path of upload id under the default base path.
func Location(id string) string { return DefaultBasePath + id }

// ServeHTTP routes a request under BasePath by method. A POST with
// X-HTTP-Method-Override (tus, for clients that cannot send PATCH or
// DELETE) is served as the method it names.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	method := r.Method
	if o := r.Header.Get("X-HTTP-Method-Override"); o != "" && method == http.MethodPost {
		method = strings.ToUpper(o)
	}
	p, named := detect(r)
	p.stamp(w.Header())
	rest, ok := strings.CutPrefix(r.URL.Path, h.base)
	if !ok && r.URL.Path+"/" == h.base {
		rest, ok = "", true
	}
	if !ok || strings.Contains(rest, "/") {
		h.answer(w, r, p, httperr.ErrNotFound)
		return
	}
	if p.tus && r.Header.Get("Tus-Resumable") != TusVersion && method != http.MethodOptions {
		h.answer(w, r, p, errUnsupportedVersion())
		return
	}
	var err error
	switch {
	case method == http.MethodOptions:
		h.options(w, p)
		return
	case rest == "" && method == http.MethodPost:
		if !named {
			err = errUnsupportedVersion()
			break
		}
		err = h.create(w, r, p)
	case rest == "":
		err = methodNotAllowed(w, "OPTIONS, POST")
	case method == http.MethodHead:
		err = h.head(w, r, p, rest)
	case method == http.MethodPatch:
		if !named {
			err = errUnsupportedVersion()
			break
		}
		err = h.append(w, r, p, rest)
	case method == http.MethodDelete:
		err = h.terminate(w, r, p, rest)
	default:
		err = methodNotAllowed(w, "OPTIONS, HEAD, PATCH, DELETE")
	}
	if err != nil {
		h.answer(w, r, p, err)
	}
}

func methodNotAllowed(w http.ResponseWriter, allow string) error {
	w.Header().Set("Allow", allow)
	return &httperr.Error{Status: http.StatusMethodNotAllowed, Code: "method_not_allowed"}
}

// answer sends err in the request's protocol.
func (h *Handler) answer(w http.ResponseWriter, r *http.Request, p protocol, err error) {
	status, _ := httperr.Classify(err)
	h.metrics.failed(status)
	if status < 500 {
		h.log.Debug("httpupload: refused", "method", r.Method, "path", r.URL.Path, "status", status, "err", err)
	}
	p.stamp(w.Header())
	w.Header().Del("Upload-Offset") // an error never reports an offset, but for 409's own
	httperr.Write(w, r, err, h.log)
}

// options answers protocol discovery (tus OPTIONS, and the limits the IETF
// draft announces).
func (h *Handler) options(w http.ResponseWriter, p protocol) {
	hd := w.Header()
	hd.Set("Tus-Resumable", TusVersion)
	hd.Set("Tus-Version", TusVersion)
	hd.Set("Tus-Extension", tusExtensions)
	hd.Set("Tus-Checksum-Algorithm", checksumAlgorithms)
	if h.maxSize > 0 {
		hd.Set("Tus-Max-Size", strconv.FormatInt(h.maxSize, 10))
	}
	if limit := h.uploadLimit(); limit != "" {
		hd.Set("Upload-Limit", limit)
	}
	if p.interop != "" {
		hd.Set("Upload-Draft-Interop-Version", p.interop)
	}
	w.WriteHeader(http.StatusNoContent)
}

// uploadLimit is the IETF Upload-Limit value: the server's maximum size.
func (h *Handler) uploadLimit() string {
	if h.maxSize > 0 {
		return "max-size=" + strconv.FormatInt(h.maxSize, 10)
	}
	return ""
}

// Shutdown ends every request that is streaming a body: each makes what it
// received durable, releases its upload and answers 503 with Retry-After
// (its client resumes from the offset HEAD reports). It waits for them, or
// for ctx.
func (h *Handler) Shutdown(ctx context.Context) error {
	h.mu.Lock()
	select {
	case <-h.closing:
	default:
		close(h.closing)
	}
	h.mu.Unlock()
	done := make(chan struct{})
	go func() {
		h.active.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("httpupload: shutdown: %w", ctx.Err())
	}
}

// begin counts a request that holds an upload; it returns false once
// Shutdown has begun.
func (h *Handler) begin() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	select {
	case <-h.closing:
		return false
	default:
		h.active.Add(1)
		return true
	}
}
