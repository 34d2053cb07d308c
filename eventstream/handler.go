package eventstream

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/ferryhq/ferry/events"
	"github.com/ferryhq/ferry/internal/httperr"
	"github.com/ferryhq/ferry/storage"
)

// Defaults of Config's zero values.
const (
	// DefaultProgressEvery: a stream sends at most one progress event per
	// upload per second. An upload over a fast link checkpoints many times
	// a second; a client needs a bar that moves, not every checkpoint.
	DefaultProgressEvery = time.Second
	// DefaultHeartbeat: a comment line every 15 s keeps proxies (nginx's
	// proxy_read_timeout is 60 s by default) and NATs from closing a quiet
	// stream, and lets the server notice a client that left.
	DefaultHeartbeat = 15 * time.Second
	// DefaultBuffer is how many events a stream may be behind before the Bus
	// drops it.
	DefaultBuffer = 1024
	// DefaultWriteTimeout is how long one write to a client may block.
	DefaultWriteTimeout = 30 * time.Second
	// MaxIDs is the most upload ids one stream may filter on.
	MaxIDs = 1000
	// RetryMillis is the reconnection delay the stream asks EventSource
	// clients to use (the SSE "retry:" field).
	RetryMillis = 2000
)

// Config configures a Handler. Zero values mean the defaults above.
type Config struct {
	// Bus is where the events come from (required).
	Bus *events.Bus
	// ProgressEvery is the shortest time between two progress events of one
	// upload on one stream. The newest progress held back is sent once the
	// interval has passed, unless the upload completes, is deleted or
	// expires first (that event says the final state).
	ProgressEvery time.Duration
	// Heartbeat is how often a quiet stream sends a comment line.
	Heartbeat time.Duration
	// Buffer is how many events a stream may be behind (a slow client)
	// before the Bus closes its subscription; the stream then tells the
	// client to resync and ends, and the client reconnects.
	Buffer int
	// WriteTimeout bounds each write to the client; a client that reads
	// nothing for that long is dropped.
	WriteTimeout time.Duration
	// Logger receives request errors; nil means slog.Default().
	Logger *slog.Logger
}

// Handler serves GET /api/events. Its zero value is not usable; make one
// with New.
type Handler struct {
	cfg     Config
	now     func() time.Time
	closing chan struct{}
	once    sync.Once
}

// New returns a Handler for cfg. It fails when cfg.Bus is nil or a
// duration or the buffer is negative.
func New(cfg Config) (*Handler, error) {
	if cfg.Bus == nil {
		return nil, errors.New("eventstream: Config.Bus is required")
	}
	if cfg.ProgressEvery < 0 || cfg.Heartbeat < 0 || cfg.Buffer < 0 || cfg.WriteTimeout < 0 {
		return nil, errors.New("eventstream: Config durations and Buffer must not be negative")
	}
	if cfg.ProgressEvery == 0 {
		cfg.ProgressEvery = DefaultProgressEvery
	}
	if cfg.Heartbeat == 0 {
		cfg.Heartbeat = DefaultHeartbeat
	}
	if cfg.Buffer == 0 {
		cfg.Buffer = DefaultBuffer
	}
	if cfg.WriteTimeout == 0 {
		cfg.WriteTimeout = DefaultWriteTimeout
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Handler{cfg: cfg, now: time.Now, closing: make(chan struct{})}, nil
}

// Close ends every stream (the server is shutting down: an open stream
// would otherwise hold http.Server.Shutdown for its whole grace period) and
// makes new requests answer 503. It may be called more than once.
func (h *Handler) Close() {
	h.once.Do(func() { close(h.closing) })
}

// Resync is the data of a "resync" event: the client may have missed
// events and should re-read the state of the uploads it follows
// (GET /api/files/<id>) before going on.
type Resync struct {
	// Reason is "reconnected" (the request carried Last-Event-ID: nothing
	// is replayed) or "lagging" (the client fell Buffer events behind; the
	// stream ends after this event).
	Reason      string `json:"reason"`
	LastEventID string `json:"last_event_id,omitempty"`
}

// ServeHTTP streams the Bus's events as text/event-stream: one SSE event
// per Event, named by its kind, with the Event's id as the SSE id and its
// JSON as data. ?id= (repeated, or comma-separated) keeps only the events
// of those uploads; an id that is not one answers 400. The subscription is
// made before the response header is sent, so a client that reads the
// uploads' state once it has the header misses nothing in between.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	filter, err := parseFilter(r)
	if err != nil {
		httperr.Write(w, r, err, h.cfg.Logger)
		return
	}
	select {
	case <-h.closing:
		httperr.Write(w, r, fmt.Errorf("eventstream: shutting down: %w", httperr.ErrUnavailable), h.cfg.Logger)
		return
	default:
	}
	sub := h.cfg.Bus.Subscribe(h.cfg.Buffer)
	defer sub.Close()

	rc := http.NewResponseController(w)
	hdr := w.Header()
	hdr.Set("Content-Type", "text/event-stream")
	hdr.Set("Cache-Control", "no-store")
	hdr.Set("X-Accel-Buffering", "no") // nginx: pass each event on, do not buffer
	w.WriteHeader(http.StatusOK)
	s := &stream{w: w, rc: rc, timeout: h.cfg.WriteTimeout}
	s.printf("retry: %d\n: ferry events\n\n", RetryMillis)
	if last := r.Header.Get("Last-Event-ID"); last != "" {
		s.resync(Resync{Reason: "reconnected", LastEventID: last})
	}
	if !s.flush() {
		return
	}

	heartbeat := time.NewTicker(h.cfg.Heartbeat)
	defer heartbeat.Stop()
	// Held-back progress is looked at four times per interval, so it is
	// sent at most a quarter interval late.
	tick := time.NewTicker(h.cfg.ProgressEvery / 4)
	defer tick.Stop()
	th := NewThrottle(h.cfg.ProgressEvery)
	for {
		select {
		case <-r.Context().Done():
			return
		case <-h.closing:
			return
		case <-heartbeat.C:
			s.printf(": ping\n\n")
		case <-tick.C:
			for _, e := range th.Due(h.now()) {
				s.event(e)
			}
		case e, ok := <-sub.C():
			if !ok {
				// The Bus dropped us (the only other closer is our defer).
				s.resync(Resync{Reason: "lagging"})
				s.flush()
				return
			}
			if filter != nil && !filter[e.Upload.ID] {
				continue
			}
			if e.Kind == events.Progress {
				if !th.Offer(e, h.now()) {
					continue
				}
			} else {
				th.Settle(e.Upload.ID)
			}
			s.event(e)
		}
		if !s.flush() {
			return
		}
	}
}

// parseFilter reads ?id= (repeated or comma-separated) into a set; nil
// means every upload.
func parseFilter(r *http.Request) (map[string]bool, error) {
	values := r.URL.Query()["id"]
	if len(values) == 0 {
		return nil, nil
	}
	set := map[string]bool{}
	for _, v := range values {
		for _, id := range strings.Split(v, ",") {
			id = strings.TrimSpace(id)
			if id == "" {
				continue
			}
			if !storage.ValidID(id) {
				return nil, httperr.BadRequest("id %q is not an upload id", id)
			}
			set[id] = true
		}
	}
	if len(set) == 0 {
		return nil, httperr.BadRequest("?id= names no upload")
	}
	if len(set) > MaxIDs {
		return nil, httperr.BadRequest("?id= names %d uploads, at most %d", len(set), MaxIDs)
	}
	return set, nil
}

// stream writes SSE to one client, remembering the first write error so
// that the loop ends at the next flush.
type stream struct {
	w       io.Writer
	rc      *http.ResponseController
	timeout time.Duration
	err     error
}

func (s *stream) printf(format string, args ...any) {
	if s.err != nil {
		return
	}
	// A write deadline, where the ResponseWriter supports one: the server
	// sets no WriteTimeout (uploads and downloads stream for hours).
	_ = s.rc.SetWriteDeadline(time.Now().Add(s.timeout))
	_, s.err = fmt.Fprintf(s.w, format, args...)
}

func (s *stream) event(e events.Event) {
	// An Event always encodes, and as one line.
	data, _ := json.Marshal(e)
	s.printf("id: %s\nevent: %s\ndata: %s\n\n", e.ID, e.Kind, data)
}

// resync sends a resync event. It has no SSE id, so that the client's
// Last-Event-ID stays the last real event it was given.
func (s *stream) resync(r Resync) {
	data, _ := json.Marshal(r)
	s.printf("event: resync\ndata: %s\n\n", data)
}

func (s *stream) flush() bool {
	if s.err == nil {
		s.err = s.rc.Flush()
	}
	return s.err == nil
}

// Throttle holds back the progress events of an upload that come less than
// an interval after the last one sent, keeping only the newest, until the
// interval has passed (Due) or the upload's final event settles it. It is
// not safe for concurrent use.
type Throttle struct {
	every   time.Duration
	last    map[string]time.Time    // when a progress of the upload was last sent
	pending map[string]events.Event // the newest held back, per upload
}

// NewThrottle returns a Throttle that lets one progress event per upload
// through per interval every.
func NewThrottle(every time.Duration) *Throttle {
	return &Throttle{every: every, last: map[string]time.Time{}, pending: map[string]events.Event{}}
}

// Offer says whether e (a progress event) is to be sent now; if not, it is
// held back in place of any older one of its upload.
func (t *Throttle) Offer(e events.Event, now time.Time) bool {
	id := e.Upload.ID
	if last, ok := t.last[id]; ok && now.Sub(last) < t.every {
		t.pending[id] = e
		return false
	}
	t.last[id] = now
	delete(t.pending, id)
	return true
}

// Due returns the held-back events whose interval has passed, oldest
// first, and forgets the uploads that have been quiet for an interval.
func (t *Throttle) Due(now time.Time) []events.Event {
	var out []events.Event
	for id, last := range t.last {
		if now.Sub(last) < t.every {
			continue
		}
		if e, ok := t.pending[id]; ok {
			out = append(out, e)
			t.last[id] = now
			delete(t.pending, id)
		} else {
			delete(t.last, id)
		}
	}
	// Event ids are UUID v7: they sort by time.
	slices.SortFunc(out, func(a, b events.Event) int { return strings.Compare(a.ID, b.ID) })
	return out
}

// Settle forgets an upload whose final event (complete, deleted, expired)
// or creation is being sent: a progress held back is older than it.
func (t *Throttle) Settle(id string) {
	delete(t.last, id)
	delete(t.pending, id)
}
