package upload

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/gorilla/websocket"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/ferryhq/ferry/storage"
	"github.com/ferryhq/ferry/storage/checkpoint"
)

// Defaults for the zero values of Config.
const (
	// DefaultMaxFrame is the largest binary message accepted when
	// Config.MaxFrame is 0. Chromium sends a file a third faster in 8 MiB
	// messages than in 1 MiB ones (docs/performance.md, the uploader page);
	// a message is read in pieces, and only the last message of an upload
	// is held whole (to refuse one that would pass the declared size), so
	// the cost is up to this much memory per upload in its last message.
	DefaultMaxFrame = 8 << 20
	// DefaultPingPeriod is how often the server pings when
	// Config.PingPeriod is 0.
	DefaultPingPeriod = 30 * time.Second
	// DefaultMessageRate is how many messages a second a connection may
	// send on average when Config.MessageRate is 0. Clients send binary
	// messages of up to max_frame (1 MiB by default): 2,000 a second is
	// 2 GB/s at that size, but only 2 KB/s of one-byte messages.
	DefaultMessageRate = 2000
)

// Config configures a Handler. Zero values mean the documented default.
type Config struct {
	Backend      storage.Backend          // required
	MaxSize      int64                    // largest declared size accepted; 0 = no limit
	MaxFrame     int64                    // largest binary message; 0 = DefaultMaxFrame (8 MiB)
	AllowedTypes []string                 // e.g. "image/*", "video/mp4"; empty = any type
	PingPeriod   time.Duration            // 0 = 30s; a connection silent for 2 periods is dropped
	CheckOrigin  func(*http.Request) bool // nil = same host only (gorilla's default)
	Registerer   prometheus.Registerer    // nil = no metrics
	Logger       *slog.Logger             // nil = slog.Default()
	NewID        func() string            // nil = uuid v7 (google/uuid)

	// MessageRate is how many messages (text or binary) a second a
	// connection may send on average; one that sends more is closed with
	// 1008 (policy violation), and what it sent before stays resumable.
	// 0 = DefaultMessageRate; negative = no limit. With a small MaxFrame
	// clients send more, smaller messages: raise it to match.
	MessageRate int
	// MessageBurst is how many messages a connection may send at once,
	// after a pause, before MessageRate applies (a token bucket's size).
	// 0 = one second's worth of MessageRate (2,000 by default).
	MessageBurst int
}

// maxParallelCheckpoints is how many sessions of a Handler may checkpoint
// at once for progress. Sync capacity is the store's, not the connection's:
// with many uploads at once each one checkpoints less often, over more bytes,
// instead of all of them queueing fsyncs.
const maxParallelCheckpoints = 4

// socketBufferSize is gorilla's write buffer: 64 KiB runs about twice as
// fast as its 4 KiB default on loopback (a bare server that discards took
// 2,100-2,300 MB/s with 64 KiB, 992 MB/s with 4 KiB). Write buffers are
// pooled, so an idle connection holds none.
const socketBufferSize = 64 << 10

// readBufferSize is gorilla's read buffer, which every connection keeps for
// its whole life, idle or not. The session reads binary messages in 256 KiB
// pieces, which a bufio.Reader passes straight to the socket once its
// buffer is empty, so a small buffer costs nothing in speed (BenchmarkUpload:
// 338 MB/s and 2.19 CPU-s/GiB with 4 KiB against 332 and 2.26 with 64 KiB)
// and saves 60 KiB a connection: 600 MB for 10,000 idle WebSockets.
const readBufferSize = 4 << 10

// Handler serves the upload WebSocket endpoint (GET /ws/upload): one session
// per connection, each speaking the ferry.v1 wire contract. It is safe for
// concurrent use.
type Handler struct {
	backend    storage.Backend
	maxSize    int64
	maxFrame   int64
	allowed    checkpoint.Types
	pingPeriod time.Duration
	log        *slog.Logger
	newID      func() string
	metrics    *metrics
	upgrader   websocket.Upgrader
	// messageRate and messageBurst bound each connection's messages
	// (messageRate 0: no limit).
	messageRate, messageBurst int
	// minCheckpoint is the least time between two checkpoints made only to
	// report progress: checkpointEvery, or the backend's hint if longer.
	minCheckpoint time.Duration
	// noProgress turns progress frames off; benchmarks use it to measure
	// what they cost. Checkpoints are made all the same.
	noProgress bool
	pieces     *piecePool
	// checkpointSlots holds a token per Checkpoint in progress.
	checkpointSlots chan struct{}

	mu       sync.Mutex
	sessions map[*session]struct{}
	closing  bool
	wg       sync.WaitGroup
}

// NewHandler checks cfg, fills in its defaults and registers the metrics.
// It returns an error if Backend is nil, a size, frame limit, period or
// burst is negative, an allowed type is not "type/subtype", "type/*" or
// "*/*", or the metrics cannot be registered.
func NewHandler(cfg Config) (*Handler, error) {
	if cfg.Backend == nil {
		return nil, errors.New("upload: Config.Backend is required")
	}
	if cfg.MaxSize < 0 || cfg.MaxFrame < 0 || cfg.PingPeriod < 0 || cfg.MessageBurst < 0 {
		return nil, errors.New("upload: Config.MaxSize, MaxFrame, PingPeriod and MessageBurst must not be negative")
	}
	switch {
	case cfg.MessageRate == 0:
		cfg.MessageRate = DefaultMessageRate
	case cfg.MessageRate < 0:
		cfg.MessageRate = 0 // no limit
	}
	if cfg.MessageBurst == 0 {
		cfg.MessageBurst = cfg.MessageRate
	}
	if cfg.MaxFrame == 0 {
		cfg.MaxFrame = DefaultMaxFrame
	}
	if cfg.MaxFrame > 1<<30 {
		return nil, fmt.Errorf("upload: Config.MaxFrame %d is over 1 GiB", cfg.MaxFrame)
	}
	if cfg.PingPeriod == 0 {
		cfg.PingPeriod = DefaultPingPeriod
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.NewID == nil {
		cfg.NewID = storage.NewID
	}
	allowed, err := checkpoint.ParseTypes(cfg.AllowedTypes)
	if err != nil {
		return nil, fmt.Errorf("upload: Config.AllowedTypes: %w", err)
	}
	m, err := newMetrics(cfg.Registerer)
	if err != nil {
		return nil, fmt.Errorf("upload: %w", err)
	}
	h := &Handler{
		backend:         cfg.Backend,
		maxSize:         cfg.MaxSize,
		maxFrame:        cfg.MaxFrame,
		allowed:         allowed,
		pingPeriod:      cfg.PingPeriod,
		messageRate:     cfg.MessageRate,
		messageBurst:    cfg.MessageBurst,
		log:             cfg.Logger,
		newID:           cfg.NewID,
		metrics:         m,
		minCheckpoint:   checkpointEvery,
		pieces:          newPiecePool(),
		checkpointSlots: make(chan struct{}, maxParallelCheckpoints),
		sessions:        make(map[*session]struct{}),
	}
	if hinter, ok := storage.As[storage.CheckpointHinter](cfg.Backend); ok {
		h.minCheckpoint = max(h.minCheckpoint, hinter.CheckpointInterval())
	}
	h.upgrader = websocket.Upgrader{
		ReadBufferSize:  readBufferSize,
		WriteBufferSize: socketBufferSize,
		// Sessions write a few small frames a second: share write buffers
		// between connections instead of holding 64 KiB per idle one.
		WriteBufferPool: &sync.Pool{},
		Subprotocols:    []string{Subprotocol},
		// nil is gorilla's same-host rule; a refused Origin gets 403
		// before any upgrade, as the contract asks.
		CheckOrigin: cfg.CheckOrigin,
	}
	return h, nil
}

// ServeHTTP upgrades the request to a WebSocket and runs its session until the
// connection ends. A handshake that is not a WebSocket upgrade, or whose
// Origin is not allowed, is refused before any upgrade (400 and 403); after
// Shutdown has begun, new connections get 503.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.mu.Lock()
	if h.closing {
		h.mu.Unlock()
		http.Error(w, string(CodeShuttingDown), http.StatusServiceUnavailable)
		return
	}
	h.wg.Add(1)
	h.mu.Unlock()
	defer h.wg.Done()

	conn, err := h.upgrader.Upgrade(w, r, nil)
	if err != nil {
		// The upgrader has already answered the client.
		h.log.Debug("upload: handshake refused", "remote", r.RemoteAddr, "err", err)
		return
	}
	s := newSession(h, conn, r)
	if h.track(s) {
		defer h.untrack(s)
	} else {
		// Shutdown began while we upgraded: the session closes at once,
		// the way Shutdown closes the others.
		s.cancel(errShuttingDown)
	}
	s.run()
}

func (h *Handler) track(s *session) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closing {
		return false
	}
	h.sessions[s] = struct{}{}
	return true
}

func (h *Handler) untrack(s *session) {
	h.mu.Lock()
	delete(h.sessions, s)
	h.mu.Unlock()
}

// errShuttingDown is the cause with which Shutdown ends sessions.
var errShuttingDown = errors.New("server is shutting down")

// Shutdown stops accepting connections, tells every session to checkpoint
// what it has received, release its upload and close with 1001 (going away,
// reason "shutting_down"), and waits for them to finish. If ctx ends first it
// closes the remaining connections at once and returns ctx's error; their
// sessions still checkpoint in the background with a short grace period.
func (h *Handler) Shutdown(ctx context.Context) error {
	h.mu.Lock()
	h.closing = true
	sessions := make([]*session, 0, len(h.sessions))
	for s := range h.sessions {
		sessions = append(sessions, s)
	}
	h.mu.Unlock()

	for _, s := range sessions {
		s.cancel(errShuttingDown)
	}
	done := make(chan struct{})
	go func() {
		h.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		h.mu.Lock()
		for s := range h.sessions {
			s.conn.NetConn().Close()
		}
		h.mu.Unlock()
		return fmt.Errorf("upload: shutdown: %w", ctx.Err())
	}
}
