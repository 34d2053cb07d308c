package contract_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/ferryhq/ferry/internal/fixture"
	"github.com/ferryhq/ferry/storage"
	"github.com/ferryhq/ferry/storage/local"
	"github.com/ferryhq/ferry/storage/s3"
	"github.com/ferryhq/ferry/storage/s3/s3test"
	"github.com/ferryhq/ferry/upload"
	"github.com/ferryhq/ferry/web"
)

// ---------------------------------------------------------------------------
// Servers

// cfg is what a test may choose about the server it starts.
type cfg struct {
	MaxSize        int64
	MaxFrame       int64
	AllowedTypes   []string
	Tokens         []string
	AllowedOrigins []string
	PingPeriod     time.Duration
	Expiry         time.Duration // storage/local expiry; 0 = its default
	Dir            string        // shared data directory; "" = a fresh one
	Sweep          time.Duration // > 0: run the expiry sweeper this often
	// Storage is "local" (or "") or "s3": a fresh bucket of the MinIO that
	// scripts/with-minio.sh starts (the test skips without one, fails when
	// CI=true; see s3test.Lookup). Dir does not apply to "s3". Under
	// TestOnS3 the default is "s3".
	Storage string
}

// server is a running ferry under test.
type server struct {
	t      *testing.T
	URL    string // http://127.0.0.1:port
	Dir    string
	srv    *web.Server
	ts     *httptest.Server
	token  string // sent by the helpers when set
	client *http.Client
	// clock is the server's and its storage's clock: a test moves it
	// forward (clock.advance) instead of sleeping until something expires
	// or until two uploads get different times.
	clock *testClock
}

// testClock is the wall clock plus an offset that only grows. Times still
// pass as they do (timers, deadlines and the sweep's ticker are real); a
// test adds to the offset to make expiry come, or to give two uploads
// distinct times, without waiting.
type testClock struct{ offset atomic.Int64 }

// now is the clock's time; the servers' Config.Now.
func (c *testClock) now() time.Time { return time.Now().Add(time.Duration(c.offset.Load())) }

// advance moves the clock d forward.
func (c *testClock) advance(d time.Duration) { c.offset.Add(int64(d)) }

// media is testdata/media/<name> of the module, read once at start-up.
func media(name string) []byte {
	b, err := os.ReadFile(fixture.Path("media", name))
	if err != nil {
		panic(err)
	}
	return b
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func start(t *testing.T, c cfg) *server {
	t.Helper()
	if c.Storage == "" && onS3(t) {
		c.Storage = "s3"
	}
	var (
		b     storage.Backend
		dir   string
		clock = &testClock{}
	)
	switch c.Storage {
	case "", "local":
		dir = c.Dir
		if dir == "" {
			dir = t.TempDir()
		}
		lb, err := local.New(local.Config{Dir: dir, Expiry: c.Expiry, Now: clock.now})
		if err != nil {
			t.Fatalf("local.New: %v", err)
		}
		b = lb
	case "s3":
		if c.Dir != "" {
			t.Fatalf("start: cfg.Dir %q with Storage s3", c.Dir)
		}
		b = s3test.NewBackend(t, func(sc *s3.Config) { sc.Expiry, sc.Now = c.Expiry, clock.now })
	default:
		t.Fatalf("start: unknown cfg.Storage %q", c.Storage)
	}
	srv, err := web.New(web.Config{
		Config: upload.Config{
			Backend:      b,
			MaxSize:      c.MaxSize,
			MaxFrame:     c.MaxFrame,
			AllowedTypes: c.AllowedTypes,
			PingPeriod:   c.PingPeriod,
			Logger:       quiet,
		},
		Tokens:         c.Tokens,
		AllowedOrigins: c.AllowedOrigins,
		SweepInterval:  c.Sweep,
		Now:            clock.now,
	})
	if err != nil {
		t.Fatalf("web.New: %v", err)
	}
	ts := httptest.NewServer(srv.Handler())
	s := &server{t: t, URL: ts.URL, Dir: dir, srv: srv, ts: ts, clock: clock,
		client: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{}}}
	if len(c.Tokens) > 0 {
		s.token = c.Tokens[0]
	}
	ctx, cancel := context.WithCancel(context.Background())
	sweepDone := make(chan struct{})
	if c.Sweep > 0 {
		go func() { defer close(sweepDone); srv.SweepExpired(ctx) }()
	} else {
		close(sweepDone)
	}
	t.Cleanup(func() {
		cancel()
		<-sweepDone
		sctx, scancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer scancel()
		_ = srv.Shutdown(sctx)
		ts.CloseClientConnections()
		ts.Close()
		s.client.CloseIdleConnections()
	})
	return s
}

// ---------------------------------------------------------------------------
// HTTP

type hdrs map[string]string

// do sends one request (with the server's token unless the request carries
// its own credentials or noAuth is set) and reads the whole body.
func (s *server) do(t *testing.T, method, path string, h hdrs) (*http.Response, []byte) {
	t.Helper()
	return s.doAuth(t, method, path, h, true)
}

func (s *server) doAuth(t *testing.T, method, path string, h hdrs, auth bool) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, s.URL+path, nil)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	for k, v := range h {
		if strings.EqualFold(k, "Host") {
			req.Host = v
			continue
		}
		req.Header.Set(k, v)
	}
	if auth && s.token != "" && req.Header.Get("Authorization") == "" && !strings.Contains(path, "token=") {
		req.Header.Set("Authorization", "Bearer "+s.token)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading body: %v", method, path, err)
	}
	return resp, body
}

func (s *server) get(t *testing.T, path string, h hdrs) (*http.Response, []byte) {
	t.Helper()
	return s.do(t, http.MethodGet, path, h)
}

// wantStatus fails unless resp has the status.
func wantStatus(t *testing.T, what string, resp *http.Response, body []byte, status int) {
	t.Helper()
	if resp.StatusCode != status {
		t.Errorf("%s: status %d, want %d (body %q)", what, resp.StatusCode, status, trunc(body))
	}
}

// wantJSONError checks a JSON error body {"error": code}.
func wantJSONError(t *testing.T, what string, resp *http.Response, body []byte, code string) {
	t.Helper()
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("%s: Content-Type %q, want application/json", what, ct)
	}
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		t.Errorf("%s: body %q is not a JSON object: %v", what, trunc(body), err)
		return
	}
	if m["error"] != code {
		t.Errorf("%s: body %q, want {\"error\": %q}", what, trunc(body), code)
	}
}

func trunc(b []byte) string {
	if len(b) > 300 {
		return string(b[:300]) + "..."
	}
	return string(b)
}

// ---------------------------------------------------------------------------
// WebSocket

// frame is one server JSON frame, decoded with json.Number so that integer
// fields can be told from other numbers.
type frame map[string]any

func (f frame) typ() string { s, _ := f["type"].(string); return s }

func (f frame) String() string { b, _ := json.Marshal(map[string]any(f)); return string(b) }

func (f frame) has(k string) bool { _, ok := f[k]; return ok }

// str returns string field k or "" and an error if it is missing or not a string.
func (f frame) str(k string) (string, error) {
	v, ok := f[k]
	if !ok {
		return "", fmt.Errorf("field %q missing in %v", k, f)
	}
	s, ok := v.(string)
	if !ok {
		return "", fmt.Errorf("field %q is %T, want string, in %v", k, v, f)
	}
	return s, nil
}

// num returns integer field k.
func (f frame) num(k string) (int64, error) {
	v, ok := f[k]
	if !ok {
		return 0, fmt.Errorf("field %q missing in %v", k, f)
	}
	n, ok := v.(json.Number)
	if !ok {
		return 0, fmt.Errorf("field %q is %T, want a number, in %v", k, v, f)
	}
	i, err := n.Int64()
	if err != nil {
		return 0, fmt.Errorf("field %q = %s is not an integer, in %v", k, n, f)
	}
	return i, nil
}

var uuidRE = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[47][0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

type prog struct {
	at                     time.Time
	id                     string
	received, offset, size int64
}

// ws is a client connection with a background reader: it always answers
// pings, queues every frame, and checks every progress frame against the
// contract (fields, offset <= received <= size, no decrease, start at the
// ready offset) as it arrives.
type ws struct {
	t      *testing.T // the test driving it; a subtest may swap it in
	rt     *testing.T // the reader goroutine's, fixed
	c      *websocket.Conn
	resp   *http.Response
	mu     sync.Mutex
	queue  []frame
	notify chan struct{}
	done   chan struct{}
	err    error // terminal read error, set before done closes

	progress []prog
	last     map[string]prog
	floor    map[string]int64
	sizes    map[string]int64
	binaries int // binary messages received from the server (never allowed)
}

func (s *server) wsURL(query string) string {
	u := "ws" + strings.TrimPrefix(s.URL, "http") + "/ws/upload"
	if query != "" {
		u += "?" + query
	}
	return u
}

// dialRaw opens a WebSocket with exactly the given header, query and offered
// subprotocols (no token is added).
func (s *server) dialRaw(query string, h http.Header, protos []string) (*websocket.Conn, *http.Response, error) {
	d := websocket.Dialer{HandshakeTimeout: 10 * time.Second, Subprotocols: protos}
	return d.Dial(s.wsURL(query), h)
}

// dial opens an upload connection offering ferry.v1, with the server's token.
func (s *server) dial(t *testing.T) *ws {
	t.Helper()
	h := http.Header{}
	if s.token != "" {
		h.Set("Authorization", "Bearer "+s.token)
	}
	c, resp, err := s.dialRaw("", h, []string{"ferry.v1"})
	if err != nil {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		t.Fatalf("dial %s: %v (status %d)", s.wsURL(""), err, status)
	}
	return wrap(t, c, resp)
}

// wrapSilent wraps a connection without a reader: it never answers pings.
func wrap(t *testing.T, c *websocket.Conn, resp *http.Response) *ws {
	w := &ws{t: t, rt: t, c: c, resp: resp, notify: make(chan struct{}, 1), done: make(chan struct{}),
		last: map[string]prog{}, floor: map[string]int64{}, sizes: map[string]int64{}}
	go w.readLoop()
	t.Cleanup(func() {
		_ = c.Close()
		<-w.done
	})
	return w
}

func (w *ws) readLoop() {
	defer close(w.done)
	for {
		mt, msg, err := w.c.ReadMessage()
		if err != nil {
			w.mu.Lock()
			w.err = err
			w.mu.Unlock()
			w.wake()
			return
		}
		if mt != websocket.TextMessage {
			w.mu.Lock()
			w.binaries++
			w.mu.Unlock()
			w.rt.Errorf("server sent a binary message (%d bytes); the contract has only JSON text frames", len(msg))
			continue
		}
		dec := json.NewDecoder(bytes.NewReader(msg))
		dec.UseNumber()
		var f frame
		if err := dec.Decode(&f); err != nil {
			w.rt.Errorf("server text frame %q is not a JSON object: %v", trunc(msg), err)
			continue
		}
		if _, err := f.str("type"); err != nil {
			w.rt.Errorf("server frame without a string type: %v", err)
		}
		now := time.Now()
		w.mu.Lock()
		switch f.typ() {
		case "ready":
			id, _ := f.str("id")
			off, _ := f.num("offset")
			size, _ := f.num("size")
			w.floor[id], w.sizes[id] = off, size
			delete(w.last, id)
		case "progress":
			w.checkProgress(now, f)
		}
		w.queue = append(w.queue, f)
		w.mu.Unlock()
		w.wake()
	}
}

func (w *ws) wake() {
	select {
	case w.notify <- struct{}{}:
	default:
	}
}

// checkProgress enforces the progress clauses; w.mu is held.
func (w *ws) checkProgress(at time.Time, f frame) {
	t := w.rt
	id, err1 := f.str("id")
	rec, err2 := f.num("received")
	off, err3 := f.num("offset")
	size, err4 := f.num("size")
	if err := errors.Join(err1, err2, err3, err4); err != nil {
		t.Errorf("progress frame: %v", err)
		return
	}
	if !(off <= rec && rec <= size) {
		t.Errorf("progress %v: want offset <= received <= size", f)
	}
	if want, ok := w.sizes[id]; ok && size != want {
		t.Errorf("progress %v: size %d, ready said %d", f, size, want)
	}
	if fl, ok := w.floor[id]; ok && (off < fl || rec < fl) {
		t.Errorf("progress %v: below the ready offset %d (both start at the ready offset)", f, fl)
	} else if !ok {
		t.Errorf("progress %v for an id this connection got no ready for", f)
	}
	if p, ok := w.last[id]; ok && (off < p.offset || rec < p.received) {
		t.Errorf("progress went backwards: received %d -> %d, offset %d -> %d", p.received, rec, p.offset, off)
	}
	p := prog{at: at, id: id, received: rec, offset: off, size: size}
	w.last[id] = p
	w.progress = append(w.progress, p)
}

// maxOffset is the largest durable offset the server reported for id.
func (w *ws) maxOffset(id string) int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.last[id].offset
}

func (w *ws) progressFor(id string) []prog {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []prog
	for _, p := range w.progress {
		if p.id == id {
			out = append(out, p)
		}
	}
	return out
}

func (w *ws) sendJSON(v any) {
	w.t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		w.t.Fatal(err)
	}
	w.sendText(string(b))
}

func (w *ws) sendText(s string) {
	w.t.Helper()
	_ = w.c.SetWriteDeadline(time.Now().Add(20 * time.Second))
	if err := w.c.WriteMessage(websocket.TextMessage, []byte(s)); err != nil {
		w.t.Fatalf("send text %q: %v", trunc([]byte(s)), err)
	}
}

func (w *ws) sendBin(b []byte) {
	w.t.Helper()
	_ = w.c.SetWriteDeadline(time.Now().Add(20 * time.Second))
	if err := w.c.WriteMessage(websocket.BinaryMessage, b); err != nil {
		w.t.Fatalf("send %d bytes: %v", len(b), err)
	}
}

// sendChunks sends data as binary messages of at most n bytes.
func (w *ws) sendChunks(data []byte, n int) {
	w.t.Helper()
	for len(data) > 0 {
		k := min(n, len(data))
		w.sendBin(data[:k])
		data = data[k:]
	}
}

const frameWait = 15 * time.Second

// pop returns the next queued frame (progress included) or an error when
// none arrives in d or the connection ended.
func (w *ws) pop(d time.Duration) (frame, error) {
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	for {
		w.mu.Lock()
		if len(w.queue) > 0 {
			f := w.queue[0]
			w.queue = w.queue[1:]
			w.mu.Unlock()
			return f, nil
		}
		err := w.err
		w.mu.Unlock()
		if err != nil {
			return nil, fmt.Errorf("connection ended: %w", err)
		}
		select {
		case <-w.notify:
		case <-deadline.C:
			return nil, fmt.Errorf("no frame within %v", d)
		}
	}
}

// next returns the next frame that is not progress.
func (w *ws) next() frame {
	w.t.Helper()
	for {
		f, err := w.pop(frameWait)
		if err != nil {
			w.t.Fatalf("waiting for a frame: %v", err)
		}
		if f.typ() != "progress" {
			return f
		}
	}
}

// tryNext is next without failing the test.
func (w *ws) tryNext(d time.Duration) (frame, error) {
	end := time.Now().Add(d)
	for {
		f, err := w.pop(time.Until(end))
		if err != nil || f.typ() != "progress" {
			return f, err
		}
	}
}

// waitOffset reads frames until a progress for id reports offset >= n; any
// other frame meanwhile fails the test.
func (w *ws) waitOffset(id string, n int64, d time.Duration) prog {
	w.t.Helper()
	end := time.Now().Add(d)
	for {
		f, err := w.pop(time.Until(end))
		if err != nil {
			w.t.Fatalf("waiting for progress offset >= %d of %s (last reported %d): %v", n, id, w.maxOffset(id), err)
		}
		if f.typ() != "progress" {
			w.t.Fatalf("waiting for progress offset >= %d: got %v", n, f)
		}
		if fid, _ := f.str("id"); fid != id {
			continue
		}
		if off, _ := f.num("offset"); off >= n {
			rec, _ := f.num("received")
			size, _ := f.num("size")
			return prog{at: time.Now(), id: id, offset: off, received: rec, size: size}
		}
	}
}

// closed waits for the connection's terminal read error.
func (w *ws) closed(d time.Duration) error {
	select {
	case <-w.done:
		w.mu.Lock()
		defer w.mu.Unlock()
		return w.err
	case <-time.After(d):
		return nil
	}
}

// drop closes the TCP connection without a close frame.
func (w *ws) drop() {
	_ = w.c.NetConn().Close()
	<-w.done
}

// closeClean sends a close frame and closes the connection.
func (w *ws) closeClean() {
	_ = w.c.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
	select {
	case <-w.done:
	case <-time.After(2 * time.Second):
	}
	_ = w.c.Close()
	<-w.done
}

// expect reads the next non-progress frame and checks its type.
func (w *ws) expect(typ string) frame {
	w.t.Helper()
	f := w.next()
	if f.typ() != typ {
		w.t.Fatalf("got %v, want a %q frame", f, typ)
	}
	return f
}

// expectError reads the next non-progress frame and checks it is an error
// with code. When id is non-empty the frame must carry it if mustID, and
// must not carry another id in any case.
func (w *ws) expectError(code, id string, mustID bool) frame {
	w.t.Helper()
	f := w.next()
	checkError(w.t, f, code, id, mustID)
	return f
}

func checkError(t *testing.T, f frame, code, id string, mustID bool) {
	t.Helper()
	if f.typ() != "error" {
		t.Fatalf("got %v, want an error frame with code %q", f, code)
	}
	if c, err := f.str("code"); err != nil || c != code {
		t.Fatalf("got %v, want error code %q", f, code)
	}
	if m, err := f.str("message"); err != nil {
		t.Errorf("error frame %v: %v (every error carries a message for people)", f, err)
	} else if m == "" {
		t.Errorf("error frame %v: empty message", f)
	}
	if id == "" {
		return
	}
	if got, ok := f["id"]; ok {
		if got != id {
			t.Errorf("error frame %v: id %v, want %s", f, got, id)
		}
	} else if mustID {
		t.Errorf("error frame %v: no id, want %s (errors carry the id where one is known)", f, id)
	}
}

// startUpload sends start and checks the ready frame; it returns the id.
func (w *ws) startUpload(name string, size int64, extra map[string]any) string {
	w.t.Helper()
	m := map[string]any{"type": "start", "name": name, "size": size}
	for k, v := range extra {
		m[k] = v
	}
	w.sendJSON(m)
	f := w.expect("ready")
	return checkReady(w.t, f, "", 0, size)
}

// checkReady checks a ready frame's fields; id "" accepts any new id.
func checkReady(t *testing.T, f frame, id string, offset, size int64) string {
	t.Helper()
	got, err := f.str("id")
	if err != nil {
		t.Fatalf("ready: %v", err)
	}
	if !uuidRE.MatchString(got) {
		t.Errorf("ready id %q is not a canonical lower-case UUID v4/v7", got)
	}
	if id != "" && got != id {
		t.Errorf("ready id %q, want %q", got, id)
	}
	if off, err := f.num("offset"); err != nil {
		t.Errorf("ready: %v", err)
	} else if offset >= 0 && off != offset {
		t.Errorf("ready offset %d, want %d", off, offset)
	}
	if sz, err := f.num("size"); err != nil {
		t.Errorf("ready: %v", err)
	} else if sz != size {
		t.Errorf("ready size %d, want %d", sz, size)
	}
	if mf, err := f.num("max_frame"); err != nil {
		t.Errorf("ready: %v", err)
	} else if mf <= 0 {
		t.Errorf("ready max_frame %d, want > 0", mf)
	}
	if ea, err := f.str("expires_at"); err != nil {
		t.Errorf("ready: %v", err)
	} else if _, err := time.Parse(time.RFC3339, ea); err != nil {
		t.Errorf("ready expires_at %q is not RFC 3339: %v", ea, err)
	}
	return got
}

// finish sends end and checks the complete frame against data.
func (w *ws) finish(id string, data []byte) frame {
	w.t.Helper()
	w.sendJSON(map[string]any{"type": "end"})
	f := w.expect("complete")
	checkComplete(w.t, f, id, data)
	return f
}

func checkComplete(t *testing.T, f frame, id string, data []byte) {
	t.Helper()
	if f.typ() != "complete" {
		t.Fatalf("got %v, want complete", f)
	}
	if got, err := f.str("id"); err != nil || got != id {
		t.Errorf("complete %v: id, want %s", f, id)
	}
	if sz, err := f.num("size"); err != nil || sz != int64(len(data)) {
		t.Errorf("complete %v: size, want %d", f, len(data))
	}
	if sum, err := f.str("sha256"); err != nil || sum != sha(data) {
		t.Errorf("complete %v: sha256, want %s (lower-case hex of the file)", f, sha(data))
	}
	if u, err := f.str("url"); err != nil || u != "/files/"+id {
		t.Errorf("complete %v: url, want /files/%s", f, id)
	}
}

// upload runs a whole upload on a fresh connection and returns its id.
func (s *server) upload(t *testing.T, name, mime string, data []byte) string {
	t.Helper()
	w := s.dial(t)
	extra := map[string]any{}
	if mime != "" {
		extra["mime"] = mime
	}
	id := w.startUpload(name, int64(len(data)), extra)
	w.sendChunks(data, 64<<10)
	w.finish(id, data)
	w.closeClean()
	return id
}

// uploadOn runs a whole upload on an open connection.
func (w *ws) upload(name, mime string, data []byte) string {
	w.t.Helper()
	extra := map[string]any{}
	if mime != "" {
		extra["mime"] = mime
	}
	id := w.startUpload(name, int64(len(data)), extra)
	w.sendChunks(data, 64<<10)
	w.finish(id, data)
	return id
}

// resumeUntilReady sends resume until it is not answered locked (a lock
// dies with its connection, which the server notices after a moment).
func (w *ws) resumeUntilReady(id string, d time.Duration) frame {
	w.t.Helper()
	end := time.Now().Add(d)
	for {
		w.sendJSON(map[string]any{"type": "resume", "id": id})
		f := w.next()
		if f.typ() == "error" && f["code"] == "locked" && time.Now().Before(end) {
			time.Sleep(25 * time.Millisecond)
			continue
		}
		return f
	}
}

// ---------------------------------------------------------------------------
// Data

func data(n int, seed uint64) []byte {
	r := rand.New(rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8), byte(seed >> 16), 0xfe}))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func sha(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

// ---------------------------------------------------------------------------
// A server in a child process (for kill -9)

const childEnv = "FERRY_CONTRACT_CHILD_DIR"

func TestMain(m *testing.M) {
	if dir := os.Getenv(childEnv); dir != "" {
		runChild(dir)
		return
	}
	os.Exit(m.Run())
}

func runChild(dir string) {
	b, err := local.New(local.Config{Dir: dir})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	srv, err := web.New(web.Config{Config: upload.Config{Backend: b, Logger: quiet}})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	fmt.Println("http://" + ln.Addr().String())
	_ = http.Serve(ln, srv.Handler())
	os.Exit(0)
}

// child starts a ferry server in a child process over dir.
func child(t *testing.T, dir string) (*server, *exec.Cmd) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	line := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		if sc.Scan() {
			line <- sc.Text()
		}
		close(line)
		_, _ = io.Copy(io.Discard, out)
	}()
	select {
	case u, ok := <-line:
		if !ok || !strings.HasPrefix(u, "http://") {
			t.Fatalf("child server did not start (%q)", u)
		}
		return &server{t: t, URL: u, Dir: dir, client: &http.Client{Timeout: 30 * time.Second}}, cmd
	case <-time.After(30 * time.Second):
		t.Fatal("child server did not start in 30s")
	}
	return nil, nil
}

// ---------------------------------------------------------------------------
// Small parsers

var contentRangeRE = regexp.MustCompile(`^bytes (\d+)-(\d+)/(\d+)$`)

// parseContentRange parses "bytes a-b/size".
func parseContentRange(s string) (first, last, size int64, ok bool) {
	m := contentRangeRE.FindStringSubmatch(s)
	if m == nil {
		return 0, 0, 0, false
	}
	first, _ = strconv.ParseInt(m[1], 10, 64)
	last, _ = strconv.ParseInt(m[2], 10, 64)
	size, _ = strconv.ParseInt(m[3], 10, 64)
	return first, last, size, true
}

// param is one parameter of a header like Content-Disposition.
type param struct {
	value  string // unquoted
	quoted bool
	raw    string
}

// parseParams parses `type; a=b; c="d"` strictly: quoted-strings must be
// well formed, parameter names unique.
func parseParams(h string) (string, map[string]param, error) {
	typ, rest, _ := strings.Cut(h, ";")
	params := map[string]param{}
	i := 0
	for {
		for i < len(rest) && (rest[i] == ' ' || rest[i] == '\t') {
			i++
		}
		if i >= len(rest) {
			break
		}
		eq := strings.IndexByte(rest[i:], '=')
		if eq < 0 {
			return "", nil, fmt.Errorf("parameter without '=' at %q", rest[i:])
		}
		name := strings.ToLower(strings.TrimSpace(rest[i : i+eq]))
		i += eq + 1
		var p param
		start := i
		if i < len(rest) && rest[i] == '"' {
			p.quoted = true
			i++
			var sb strings.Builder
			closed := false
			for i < len(rest) {
				c := rest[i]
				if c == '\\' {
					if i+1 >= len(rest) {
						return "", nil, fmt.Errorf("dangling backslash in %q", rest[start:])
					}
					sb.WriteByte(rest[i+1])
					i += 2
					continue
				}
				if c == '"' {
					closed = true
					i++
					break
				}
				if c < 0x20 && c != '\t' || c == 0x7f {
					return "", nil, fmt.Errorf("control character %#x in quoted-string", c)
				}
				sb.WriteByte(c)
				i++
			}
			if !closed {
				return "", nil, fmt.Errorf("unterminated quoted-string %q", rest[start:])
			}
			p.value = sb.String()
		} else {
			j := strings.IndexByte(rest[i:], ';')
			if j < 0 {
				j = len(rest) - i
			}
			p.value = strings.TrimSpace(rest[i : i+j])
			i += j
		}
		p.raw = rest[start:i]
		if _, dup := params[name]; dup {
			return "", nil, fmt.Errorf("parameter %q twice", name)
		}
		params[name] = p
		for i < len(rest) && (rest[i] == ' ' || rest[i] == '\t') {
			i++
		}
		if i < len(rest) {
			if rest[i] != ';' {
				return "", nil, fmt.Errorf("junk after parameter %q: %q", name, rest[i:])
			}
			i++
		}
	}
	return strings.ToLower(strings.TrimSpace(typ)), params, nil
}

// decodeExtValue decodes an RFC 8187 ext-value "UTF-8”pct-encoded" and
// checks that it uses only attr-char and %HH.
func decodeExtValue(v string) (string, error) {
	charset, rest, ok := strings.Cut(v, "'")
	if !ok || !strings.EqualFold(charset, "UTF-8") {
		return "", fmt.Errorf("ext-value %q does not start with UTF-8'", v)
	}
	_, enc, ok := strings.Cut(rest, "'")
	if !ok {
		return "", fmt.Errorf("ext-value %q has no language delimiter", v)
	}
	for i := 0; i < len(enc); i++ {
		c := enc[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.IndexByte("!#$&+-.^_`|~", c) >= 0:
		case c == '%':
			if i+2 >= len(enc) || !isHex(enc[i+1]) || !isHex(enc[i+2]) {
				return "", fmt.Errorf("bad pct-encoding in %q", enc)
			}
			i += 2
		default:
			return "", fmt.Errorf("ext-value %q has %q, not an attr-char", v, c)
		}
	}
	return url.PathUnescape(enc)
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

// listIncludes reports whether a comma-separated header holds want
// (case-insensitively).
func listIncludes(h []string, want string) bool {
	for _, v := range h {
		for _, item := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(item), want) {
				return true
			}
		}
	}
	return false
}

func jsonDecoder(b []byte) *json.Decoder {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	return d
}
