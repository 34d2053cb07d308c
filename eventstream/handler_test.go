package eventstream_test

import (
	"bufio"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ferryhq/ferry/events"
	"github.com/ferryhq/ferry/eventstream"
	"github.com/ferryhq/ferry/storage"
)

// frame is one SSE block as a client reads it: an event, or comments.
type frame struct {
	id, event, data string
	comments        []string
}

// sseReader reads a live stream the way an EventSource does.
type sseReader struct {
	t    *testing.T
	resp *http.Response
	sc   *bufio.Scanner
}

func open(t *testing.T, url string, header http.Header) *sseReader {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("GET %s: %s %s", url, resp.Status, resp.Header.Get("Content-Type"))
	}
	return &sseReader{t: t, resp: resp, sc: bufio.NewScanner(resp.Body)}
}

// next reads the next block; ok is false at the end of the stream.
func (r *sseReader) next() (f frame, ok bool) {
	seen := false
	for r.sc.Scan() {
		line := r.sc.Text()
		if line == "" {
			if seen {
				return f, true
			}
			continue
		}
		seen = true
		field, value, _ := strings.Cut(line, ":")
		value = strings.TrimPrefix(value, " ")
		switch field {
		case "":
			f.comments = append(f.comments, value)
		case "id":
			f.id = value
		case "event":
			f.event = value
		case "data":
			f.data = value
		}
	}
	return f, false
}

// nextEvent skips comment-only blocks and the retry field.
func (r *sseReader) nextEvent() frame {
	r.t.Helper()
	for {
		f, ok := r.next()
		if !ok {
			r.t.Fatal("the stream ended")
		}
		if f.event != "" {
			return f
		}
	}
}

// until reads blocks until one satisfies ok, failing if the stream ends.
func (r *sseReader) until(what string, match func(frame) bool) frame {
	r.t.Helper()
	for {
		f, ok := r.next()
		if !ok {
			r.t.Fatalf("the stream ended before %s", what)
		}
		if match(f) {
			return f
		}
	}
}

func (r *sseReader) expectEnd() {
	r.t.Helper()
	for {
		f, ok := r.next()
		if !ok {
			return
		}
		if f.event != "" && f.event != "resync" {
			r.t.Fatalf("unexpected event %+v before the end", f)
		}
	}
}

func decode(t *testing.T, f frame) events.Event {
	t.Helper()
	var e events.Event
	if err := json.Unmarshal([]byte(f.data), &e); err != nil {
		t.Fatalf("data %q: %v", f.data, err)
	}
	if e.ID != f.id || string(e.Kind) != f.event {
		t.Fatalf("frame id %q event %q carries %+v", f.id, f.event, e)
	}
	return e
}

func serve(t *testing.T, cfg eventstream.Config) (*events.Bus, *eventstream.Handler, *httptest.Server) {
	t.Helper()
	if cfg.Bus == nil {
		cfg.Bus = events.NewBus()
	}
	h, err := eventstream.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(func() {
		h.Close()
		srv.Close()
	})
	return cfg.Bus, h, srv
}

func ev(k events.Kind, id string, offset int64) events.Event {
	return events.New(k, storage.Info{ID: id, Offset: offset, Meta: storage.Meta{Name: "f.bin", Size: 100}}, time.Now())
}

func TestStreamAndFilters(t *testing.T) {
	a, b, c := storage.NewID(), storage.NewID(), storage.NewID()
	for _, tc := range []struct {
		name  string
		query string
		want  []string // upload ids, in order
	}{
		{"everything", "", []string{a, b, c}},
		{"one id", "?id=" + b, []string{b}},
		{"repeated", "?id=" + a + "&id=" + c, []string{a, c}},
		{"comma list", "?id=" + c + ",%20" + a, []string{a, c}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bus, _, srv := serve(t, eventstream.Config{})
			r := open(t, srv.URL+tc.query, nil)
			hello, _ := r.next()
			if len(hello.comments) == 0 {
				t.Fatalf("first block %+v; want the greeting comment", hello)
			}
			kinds := []events.Kind{events.Created, events.Complete, events.Deleted}
			for i, id := range []string{a, b, c} {
				bus.Publish(ev(kinds[i], id, 0))
			}
			for _, want := range tc.want {
				e := decode(t, r.nextEvent())
				if e.Upload.ID != want {
					t.Fatalf("event of %s; want %s", e.Upload.ID, want)
				}
				if e.Upload.URL != "/files/"+want || e.Upload.Name != "f.bin" {
					t.Fatalf("event %+v", e)
				}
			}
			// Nothing else is queued: a marker event of a followed id comes next.
			last := tc.want[len(tc.want)-1]
			marker := ev(events.Expired, last, 0)
			bus.Publish(marker)
			if e := decode(t, r.nextEvent()); e.ID != marker.ID {
				t.Fatalf("got %+v; want the marker", e)
			}
		})
	}
}

func TestBadFilter(t *testing.T) {
	_, _, srv := serve(t, eventstream.Config{})
	many := make([]string, eventstream.MaxIDs+1)
	for i := range many {
		many[i] = storage.NewID()
	}
	for _, q := range []string{"?id=nope", "?id=,", "?id=" + storage.NewID() + ",../x", "?id=" + strings.Join(many, ",")} {
		resp, err := http.Get(srv.URL + q)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("%.60s: %s; want 400", q, resp.Status)
		}
	}
}

// TestProgressThrottled: within one interval only the first progress of an
// upload is sent; the final event replaces what was held back, and other
// uploads are throttled apart.
func TestProgressThrottled(t *testing.T) {
	bus, _, srv := serve(t, eventstream.Config{ProgressEvery: time.Hour})
	r := open(t, srv.URL, nil)
	a, b := storage.NewID(), storage.NewID()
	for off := int64(1); off <= 50; off++ {
		bus.Publish(ev(events.Progress, a, off))
		bus.Publish(ev(events.Progress, b, off))
	}
	bus.Publish(ev(events.Complete, a, 100))
	want := []struct {
		kind   events.Kind
		id     string
		offset int64
	}{{events.Progress, a, 1}, {events.Progress, b, 1}, {events.Complete, a, 100}}
	for _, w := range want {
		e := decode(t, r.nextEvent())
		if e.Kind != w.kind || e.Upload.ID != w.id || e.Upload.Offset != w.offset {
			t.Fatalf("got %s %s@%d; want %s %s@%d", e.Kind, e.Upload.ID, e.Upload.Offset, w.kind, w.id, w.offset)
		}
	}
	// a is settled: its next progress goes at once; b's is still held.
	bus.Publish(ev(events.Progress, b, 60))
	bus.Publish(ev(events.Progress, a, 7))
	if e := decode(t, r.nextEvent()); e.Upload.ID != a || e.Upload.Offset != 7 {
		t.Fatalf("got %+v; want a's progress at 7", e)
	}
}

// TestHeldBackProgressIsSent: the newest progress held back goes out once
// its interval has passed.
func TestHeldBackProgressIsSent(t *testing.T) {
	bus, _, srv := serve(t, eventstream.Config{ProgressEvery: 20 * time.Millisecond})
	r := open(t, srv.URL, nil)
	a := storage.NewID()
	for off := int64(1); off <= 5; off++ {
		bus.Publish(ev(events.Progress, a, off))
	}
	if e := decode(t, r.nextEvent()); e.Upload.Offset != 1 {
		t.Fatalf("first progress at %d", e.Upload.Offset)
	}
	if e := decode(t, r.nextEvent()); e.Upload.Offset != 5 {
		t.Fatalf("held-back progress at %d; want the newest, 5", e.Upload.Offset)
	}
}

func TestHeartbeat(t *testing.T) {
	_, _, srv := serve(t, eventstream.Config{Heartbeat: 10 * time.Millisecond})
	r := open(t, srv.URL, nil)
	r.until("a ping", func(f frame) bool { return len(f.comments) == 1 && f.comments[0] == "ping" && f.event == "" })
}

func TestLastEventIDAsksForResync(t *testing.T) {
	bus, _, srv := serve(t, eventstream.Config{})
	r := open(t, srv.URL, http.Header{"Last-Event-Id": {"0190c5d2-0000-7000-8000-000000000000"}})
	f := r.nextEvent()
	var rs eventstream.Resync
	if err := json.Unmarshal([]byte(f.data), &rs); err != nil || f.event != "resync" || f.id != "" ||
		rs.Reason != "reconnected" || rs.LastEventID != "0190c5d2-0000-7000-8000-000000000000" {
		t.Fatalf("first event %+v (%v); want a resync without an id", f, err)
	}
	e := ev(events.Created, storage.NewID(), 0)
	bus.Publish(e)
	if got := decode(t, r.nextEvent()); got.ID != e.ID {
		t.Fatalf("got %+v", got)
	}
}

func TestCloseEndsStreamsAndRefusesNew(t *testing.T) {
	_, h, srv := serve(t, eventstream.Config{})
	r := open(t, srv.URL, nil)
	r.next()
	h.Close()
	r.expectEnd()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("after Close: %s; want 503", resp.Status)
	}
}

// stuckWriter is a client that stops reading: the first write of an event
// blocks until released (a fault injected on the ResponseWriter).
type stuckWriter struct {
	mu      sync.Mutex
	header  http.Header
	buf     strings.Builder
	blocked chan struct{} // closed when a write of an event blocks
	release chan struct{}
	once    sync.Once
}

func (w *stuckWriter) Header() http.Header { return w.header }
func (w *stuckWriter) WriteHeader(int)     {}
func (w *stuckWriter) Flush()              {}
func (w *stuckWriter) Write(p []byte) (int, error) {
	if strings.HasPrefix(string(p), "id: ") {
		w.once.Do(func() { close(w.blocked) })
		<-w.release
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.Write(p)
}

// TestLaggingClientIsToldAndDropped: a client that falls Buffer events
// behind is told to resync, and its stream ends so that it reconnects.
func TestLaggingClientIsToldAndDropped(t *testing.T) {
	bus := events.NewBus()
	h, err := eventstream.New(eventstream.Config{Bus: bus, Buffer: 4})
	if err != nil {
		t.Fatal(err)
	}
	w := &stuckWriter{header: http.Header{}, blocked: make(chan struct{}), release: make(chan struct{})}
	done := make(chan struct{})
	go func() {
		defer close(done)
		h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/api/events", nil))
	}()
	// Publish until the handler is stuck writing the first event, then
	// enough to overflow the buffer behind it.
	id := storage.NewID()
	kinds := []events.Kind{events.Created, events.Complete}
	for i := 0; ; i++ {
		bus.Publish(ev(kinds[i%2], id, 0))
		select {
		case <-w.blocked:
		case <-time.After(time.Millisecond):
			continue
		}
		break
	}
	for range 5 {
		bus.Publish(ev(events.Deleted, id, 0))
	}
	close(w.release)
	<-done
	w.mu.Lock()
	out := w.buf.String()
	w.mu.Unlock()
	if !strings.HasSuffix(out, "event: resync\ndata: {\"reason\":\"lagging\"}\n\n") {
		t.Fatalf("the stream of a lagging client ends with %q", out[max(0, len(out)-200):])
	}
}
