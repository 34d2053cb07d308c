package web_test

// The harness of the browser tests (browser_test.go): the wrapped server,
// the headless Chromium and the page helpers, and the fixtures.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/ferryhq/ferry/storage"
	"github.com/ferryhq/ferry/storage/local"
	"github.com/ferryhq/ferry/web"
)

const (
	defaultChromium = "/usr/bin/chromium"
	// pageTimeout bounds every wait for the page; generous for a loaded CI
	// machine, never reached when things work.
	pageTimeout = 45 * time.Second
	oneMiB      = 1 << 20
	// smallFrame keeps the page's window of unacknowledged bytes (8 chunks)
	// well below the test files' sizes, so that an upload slowed by the
	// storage wrapper really is in the middle when a test acts on it.
	smallFrame = 64 << 10
)

// ---- the server side ------------------------------------------------------

// recordingBackend wraps a storage backend: it records which uploads were
// created and resumed (with the offset a resume found), and can slow writes
// down to a given rate so an upload of a few MiB stays in flight for a while.
type recordingBackend struct {
	storage.Backend
	rate atomic.Int64 // bytes per second for each writer; 0 = full speed

	mu      sync.Mutex
	creates []string
	resumes []resumeEvent
	// holdAt, while held is open, stops every write that would take its
	// upload past holdAt bytes until release: with a slow rate alone, a
	// test that a loaded machine keeps from acting for a few seconds finds
	// the upload it meant to act on finished.
	holdAt int64
	held   chan struct{}
}

type resumeEvent struct {
	ID     string
	Offset int64
	// Written counts the bytes written through this resume's writer: what
	// the client sent after resuming.
	Written *atomic.Int64
}

func (b *recordingBackend) Create(ctx context.Context, id string, meta storage.Meta) (storage.Writer, error) {
	w, err := b.Backend.Create(ctx, id, meta)
	if err != nil {
		return nil, err
	}
	b.mu.Lock()
	b.creates = append(b.creates, id)
	b.mu.Unlock()
	return &slowWriter{Writer: w, b: b}, nil
}

func (b *recordingBackend) Resume(ctx context.Context, id string) (storage.Writer, error) {
	w, err := b.Backend.Resume(ctx, id)
	if err != nil {
		return nil, err
	}
	written := new(atomic.Int64)
	b.mu.Lock()
	b.resumes = append(b.resumes, resumeEvent{ID: id, Offset: w.Info().Offset, Written: written})
	b.mu.Unlock()
	return &slowWriter{Writer: w, b: b, pos: w.Info().Offset, written: written}, nil
}

// The local backend's optional capabilities, passed through so the server
// sees the same store with or without the wrapper.

func (b *recordingBackend) OpenPartial(ctx context.Context, id string) (io.ReadSeekCloser, error) {
	return b.Backend.(storage.PartialOpener).OpenPartial(ctx, id)
}

func (b *recordingBackend) DeleteExpired(ctx context.Context, now time.Time, deleted func(storage.Info)) (int, error) {
	return b.Backend.(storage.Expirer).DeleteExpired(ctx, now, deleted)
}

func (b *recordingBackend) Ping(ctx context.Context) error {
	return b.Backend.(storage.Pinger).Ping(ctx)
}

func (b *recordingBackend) setRate(bytesPerSecond int64) { b.rate.Store(bytesPerSecond) }

// hold stops every write that would take its upload past at bytes, until
// release.
func (b *recordingBackend) hold(at int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.held == nil {
		b.held = make(chan struct{})
	}
	b.holdAt = at
}

// release lets the writes that hold stopped go on.
func (b *recordingBackend) release() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.held != nil {
		close(b.held)
		b.held = nil
	}
}

// holding returns what a write that ends its upload at end must wait for,
// or nil.
func (b *recordingBackend) holding(end int64) <-chan struct{} {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.held != nil && end > b.holdAt {
		return b.held
	}
	return nil
}

func (b *recordingBackend) resumesOf(id string) []resumeEvent {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []resumeEvent
	for _, r := range b.resumes {
		if r.ID == id {
			out = append(out, r)
		}
	}
	return out
}

func (b *recordingBackend) createCount() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.creates)
}

type slowWriter struct {
	storage.Writer
	b       *recordingBackend
	pos     int64         // the upload's size after the last write
	written *atomic.Int64 // nil, or counts the bytes written
}

func (w *slowWriter) Write(p []byte) (int, error) {
	if r := w.b.rate.Load(); r > 0 {
		time.Sleep(time.Duration(int64(len(p)) * int64(time.Second) / r))
	}
	if held := w.b.holding(w.pos + int64(len(p))); held != nil {
		<-held
	}
	n, err := w.Writer.Write(p)
	w.pos += int64(n)
	if w.written != nil {
		w.written.Add(int64(n))
	}
	return n, err
}

// httpLog records every request with its response status, and keeps the
// WebSocket connections (hijacked) so a test can cut them.
type httpLog struct {
	next http.Handler
	// downloadRate, when set, paces the bodies of GET /files/... at that
	// many bytes per second, as a slow network would, so a media element
	// cannot have the whole file before it seeks.
	downloadRate atomic.Int64

	mu      sync.Mutex
	reqs    []*loggedRequest
	sockets map[*trackedConn]struct{}
}

type loggedRequest struct {
	Method, Path, Query, Range, Auth string
	Status                           int
}

func (h *httpLog) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	req := &loggedRequest{
		Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery,
		Range: r.Header.Get("Range"), Auth: r.Header.Get("Authorization"),
	}
	h.mu.Lock()
	h.reqs = append(h.reqs, req)
	h.mu.Unlock()
	h.next.ServeHTTP(&statusRecorder{ResponseWriter: w, log: h, req: req}, r)
}

func (h *httpLog) setStatus(req *loggedRequest, code int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if req.Status == 0 {
		req.Status = code
	}
}

// requests returns a copy of the requests whose path starts with prefix.
func (h *httpLog) requests(prefix string) []loggedRequest {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []loggedRequest
	for _, r := range h.reqs {
		if strings.HasPrefix(r.Path, prefix) {
			out = append(out, *r)
		}
	}
	return out
}

// dropSockets closes every live WebSocket connection from the server side,
// as a crashed proxy or a lost network would, and returns how many it closed.
func (h *httpLog) dropSockets() int {
	h.mu.Lock()
	conns := make([]*trackedConn, 0, len(h.sockets))
	for c := range h.sockets {
		conns = append(conns, c)
	}
	h.mu.Unlock()
	for _, c := range conns {
		c.Close()
	}
	return len(conns)
}

type statusRecorder struct {
	http.ResponseWriter
	log *httpLog
	req *loggedRequest
}

func (w *statusRecorder) WriteHeader(code int) {
	if code >= 200 {
		w.log.setStatus(w.req, code)
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusRecorder) Write(p []byte) (int, error) {
	w.log.setStatus(w.req, http.StatusOK)
	rate := w.log.downloadRate.Load()
	if rate <= 0 || !strings.HasPrefix(w.req.Path, "/files/") {
		return w.ResponseWriter.Write(p)
	}
	written := 0
	for len(p) > 0 {
		n := min(len(p), 16<<10)
		time.Sleep(time.Duration(int64(n) * int64(time.Second) / rate))
		m, err := w.ResponseWriter.Write(p[:n])
		written += m
		if err != nil {
			return written, err
		}
		_ = http.NewResponseController(w.ResponseWriter).Flush()
		p = p[n:]
	}
	return written, nil
}

func (w *statusRecorder) Flush() { _ = http.NewResponseController(w.ResponseWriter).Flush() }

func (w *statusRecorder) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *statusRecorder) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, brw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, err
	}
	w.log.setStatus(w.req, http.StatusSwitchingProtocols)
	tc := &trackedConn{Conn: c, log: w.log}
	w.log.mu.Lock()
	if w.log.sockets == nil {
		w.log.sockets = map[*trackedConn]struct{}{}
	}
	w.log.sockets[tc] = struct{}{}
	w.log.mu.Unlock()
	return tc, brw, nil
}

type trackedConn struct {
	net.Conn
	log *httpLog
}

func (c *trackedConn) Close() error {
	c.log.mu.Lock()
	delete(c.log.sockets, c)
	c.log.mu.Unlock()
	return c.Conn.Close()
}

// ---- the browser side -----------------------------------------------------

// browserEnv is one test's server, browser tab and records.
type browserEnv struct {
	t       *testing.T
	cfg     web.Config
	backend *recordingBackend
	http    *httpLog
	srv     *web.Server
	ts      *httptest.Server
	url     string
	token   string
	ctx     context.Context // the browser tab
	console *consoleLog
}

type consoleLog struct {
	mu         sync.Mutex
	lines      []string
	exceptions []string
}

// newBrowserEnv starts a server with cfg (its Backend is filled in) and a browser.
func newBrowserEnv(t *testing.T, cfg web.Config) *browserEnv {
	t.Helper()
	return newBrowserEnvWrapped(t, cfg, nil)
}

// newBrowserEnvWrapped is newBrowserEnv whose server stores through
// wrap(the recording backend), when wrap is not nil.
func newBrowserEnvWrapped(t *testing.T, cfg web.Config, wrap func(storage.Backend) storage.Backend) *browserEnv {
	t.Helper()
	return newBrowserEnvSetup(t, cfg, wrap, browserSetup{})
}

// browserSetup adjusts the browser of a test: a profile prepared before it
// starts (knowing the server's origin), and extra command-line flags.
type browserSetup struct {
	profile func(dir, origin string) error
	flags   []chromedp.ExecAllocatorOption
}

// newBrowserEnvSetup is newBrowserEnvWrapped whose browser starts with setup.
func newBrowserEnvSetup(t *testing.T, cfg web.Config, wrap func(storage.Backend) storage.Backend, setup browserSetup) *browserEnv {
	t.Helper()
	exec := chromiumPath(t)
	b, err := local.New(local.Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatalf("local.New: %v", err)
	}
	e := &browserEnv{t: t, backend: &recordingBackend{Backend: b}, console: &consoleLog{}}
	if len(cfg.Tokens) > 0 {
		e.token = cfg.Tokens[0]
	}
	cfg.Backend = e.backend
	if wrap != nil {
		cfg.Backend = wrap(e.backend)
	}
	e.cfg = cfg
	e.srv, err = web.New(cfg)
	if err != nil {
		t.Fatalf("web.New: %v", err)
	}
	e.http = &httpLog{next: e.srv.Handler()}
	e.ts = httptest.NewServer(e.http)
	e.url = e.ts.URL
	t.Cleanup(e.stopServer)

	e.ctx = startBrowserSetup(t, exec, e.url, setup)
	go func() {
		for m, err := range chromedp.Console(e.ctx) {
			if err != nil {
				return
			}
			e.console.mu.Lock()
			e.console.lines = append(e.console.lines, m.String())
			if m.IsException() {
				e.console.exceptions = append(e.console.exceptions, m.String())
			}
			e.console.mu.Unlock()
		}
	}()
	// Runs before the browser closes (cleanups run last-in first-out).
	t.Cleanup(func() {
		e.console.mu.Lock()
		exceptions := slicesClone(e.console.exceptions)
		lines := slicesClone(e.console.lines)
		e.console.mu.Unlock()
		for _, x := range exceptions {
			t.Errorf("the page threw an uncaught exception: %s", x)
		}
		name := artifactName(t)
		if t.Failed() {
			name += "-failed"
			for _, l := range lines {
				t.Logf("console: %s", l)
			}
		}
		e.screenshotTo(filepath.Join(artifactsDir(t), name+".png"))
	})
	return e
}

func slicesClone(s []string) []string { return append([]string(nil), s...) }

// stopServer cuts the WebSockets, waits for the upload sessions to wind
// down, and closes the listener, so nothing writes to the storage directory
// while it is removed.
func (e *browserEnv) stopServer() {
	e.http.downloadRate.Store(0)
	e.backend.setRate(0)
	e.backend.release()
	e.http.dropSockets()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := e.srv.Shutdown(ctx); err != nil {
		e.t.Logf("server shutdown: %v", err)
	}
	e.ts.Close()
}

// restartServer serves again on the same address after stopServer.
func (e *browserEnv) restartServer() {
	e.t.Helper()
	addr := strings.TrimPrefix(e.url, "http://")
	var l net.Listener
	var err error
	for range 50 { // the old socket may take a moment to let go of the port
		if l, err = net.Listen("tcp", addr); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		e.t.Fatalf("listening again on %s: %v", addr, err)
	}
	srv, err := web.New(e.cfg)
	if err != nil {
		e.t.Fatalf("web.New: %v", err)
	}
	e.srv = srv
	e.http.next = srv.Handler()
	ts := httptest.NewUnstartedServer(e.http)
	ts.Listener.Close()
	ts.Listener = l
	ts.Start()
	e.ts = ts
}

func chromiumPath(t *testing.T) string {
	t.Helper()
	p := os.Getenv("FERRY_CHROMIUM")
	if p == "" {
		p = defaultChromium
	}
	if _, err := os.Stat(p); err != nil {
		msg := fmt.Sprintf("browser tests need Chromium at %s (Debian: apt-get install chromium; or set FERRY_CHROMIUM): %v", p, err)
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return p
}

// startBrowser launches a fresh headless Chromium with its own profile and
// returns its first tab.
func startBrowser(t *testing.T, exec string) context.Context {
	t.Helper()
	return startBrowserSetup(t, exec, "", browserSetup{})
}

// startBrowserSetup is startBrowser with setup, for a server at origin.
func startBrowserSetup(t *testing.T, exec, origin string, setup browserSetup) context.Context {
	t.Helper()
	profile := t.TempDir()
	if setup.profile != nil {
		if err := setup.profile(profile, origin); err != nil {
			t.Fatalf("preparing the browser profile: %v", err)
		}
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exec),
		chromedp.UserDataDir(profile),
		// Chromium keeps scratch directories in TMPDIR and leaves them when
		// killed: keep them in the test's own directory, which is removed.
		chromedp.Env("TMPDIR="+t.TempDir()),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("autoplay-policy", "no-user-gesture-required"),
		chromedp.WindowSize(1100, 900),
	)
	opts = append(opts, setup.flags...)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(allocCtx)
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
	})
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("starting Chromium: %v", err)
	}
	return ctx
}

func artifactsDir(t *testing.T) string {
	d := os.Getenv("FERRY_ARTIFACTS")
	if d == "" {
		d = filepath.Join("..", "artifacts", "browser")
	}
	if err := os.MkdirAll(d, 0o755); err != nil {
		t.Logf("artifacts: %v", err)
	}
	return d
}

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

func artifactName(t *testing.T) string { return unsafeName.ReplaceAllString(t.Name(), "_") }

func (e *browserEnv) screenshotTo(path string) {
	ctx, cancel := context.WithTimeout(e.ctx, 10*time.Second)
	defer cancel()
	buf, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		e.t.Logf("screenshot: %v", err)
		return
	}
	if err := os.WriteFile(path, buf, 0o644); err != nil {
		e.t.Logf("screenshot: %v", err)
	}
}

func (e *browserEnv) do(actions ...chromedp.Action[chromedp.Void]) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(e.ctx, pageTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		e.t.Fatalf("browser: %v\nuploads: %s", err, e.describe())
	}
}

// open loads the page (with an optional query string), waits for app.js,
// and records what the page says in its live regions (window.__announced),
// since each announcement replaces the one before.
func (e *browserEnv) open(query string) {
	e.t.Helper()
	e.do(chromedp.Navigate(e.url + "/" + query))
	e.waitFor("the page to start", `document.documentElement.dataset.ready === 'true'`)
	e.do(chromedp.Evaluate[chromedp.Void](`(() => {
  window.__announced = [];
  for (const id of ['live', 'live-alert']) {
    const el = document.getElementById(id);
    new MutationObserver(() => window.__announced.push(id + ': ' + el.textContent))
      .observe(el, { childList: true, characterData: true, subtree: true });
  }
})()`))
}

// announced is true once the page said something containing text in a
// live region (kind "live" or "live-alert").
func announced(kind, text string) string {
	return fmt.Sprintf(`window.__announced.some((a) => a.startsWith(%s) && a.includes(%s))`, jsString(kind+": "), jsString(text))
}

func evalJS[T any](e *browserEnv, expr string) T {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(e.ctx, pageTimeout)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr, func(p *runtime.EvaluateParams) { p.AwaitPromise = new(true) }))
	if err != nil {
		e.t.Fatalf("evaluating %.80q: %v", expr, err)
	}
	return v
}

// waitFor polls a JavaScript expression until it is true. A string result
// is a failure the page already shows (an upload error): the test stops
// there instead of waiting for the timeout.
func (e *browserEnv) waitFor(what, expr string) {
	e.t.Helper()
	deadline := time.Now().Add(pageTimeout)
	var last error
	for {
		ctx, cancel := context.WithTimeout(e.ctx, 5*time.Second)
		raw, err := chromedp.Run(ctx, chromedp.Evaluate[[]byte](expr))
		cancel()
		switch {
		case err != nil:
			last = err // a reload in progress; try again
		case string(raw) == "true":
			return
		case len(raw) > 0 && raw[0] == '"':
			var msg string
			_ = json.Unmarshal(raw, &msg)
			e.t.Fatalf("waiting for %s: %s\nuploads: %s", what, msg, e.describe())
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("timed out waiting for %s (last error: %v)\nuploads: %s", what, last, e.describe())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// uploadView is what the page shows about one upload.
type uploadView struct {
	Name   string  `json:"name"`
	State  string  `json:"state"`
	ID     string  `json:"id"`
	Value  float64 `json:"value"`
	Max    float64 `json:"max"`
	Pct    string  `json:"pct"`
	Status string  `json:"status"`
	Detail string  `json:"detail"`
	Error  string  `json:"error"`
}

const uploadsJS = `[...document.querySelectorAll('#uploads > li')].map((li) => ({
  name: li.dataset.name || '', state: li.dataset.state || '', id: li.dataset.id || '',
  value: li.querySelector('progress').value, max: li.querySelector('progress').max,
  pct: li.querySelector('.upload-pct').textContent, status: li.querySelector('.upload-status').textContent,
  detail: li.querySelector('.upload-detail').textContent, error: li.querySelector('.upload-error').textContent,
}))`

func (e *browserEnv) uploads() []uploadView { return evalJS[[]uploadView](e, uploadsJS) }

func (e *browserEnv) upload(name string) uploadView {
	e.t.Helper()
	for _, u := range e.uploads() {
		if u.Name == name {
			return u
		}
	}
	e.t.Fatalf("no upload named %q on the page; uploads: %s", name, e.describe())
	return uploadView{}
}

// describe is the page's uploads as JSON, for failure messages.
func (e *browserEnv) describe() string {
	ctx, cancel := context.WithTimeout(e.ctx, 5*time.Second)
	defer cancel()
	raw, err := chromedp.Run(ctx, chromedp.Evaluate[[]byte](`JSON.stringify(`+uploadsJS+`)`))
	if err != nil {
		return fmt.Sprintf("(unavailable: %v)", err)
	}
	var s string
	_ = json.Unmarshal(raw, &s)
	return s
}

// allDone is true when the page lists n uploads, all done; it names the
// first upload that stopped on an error.
func allDone(n int) string {
	return fmt.Sprintf(`(() => {
  const li = [...document.querySelectorAll('#uploads > li')];
  const bad = li.find((l) => l.dataset.state === 'error');
  if (bad) return 'the upload of ' + bad.dataset.name + ' stopped: ' + bad.querySelector('.upload-error').textContent;
  return li.length === %d && li.every((l) => l.dataset.state === 'done');
})()`, n)
}

func uploadItem(name string) string {
	return fmt.Sprintf(`document.querySelector('#uploads > li[data-name=%s]')`, jsString(name))
}

// offsetAtLeast is true once the page shows at least n bytes of name saved.
func offsetAtLeast(name string, n int64) string {
	return fmt.Sprintf(`(() => { const li = %s; if (!li) return false;
  if (li.dataset.state === 'error') return 'the upload stopped: ' + li.querySelector('.upload-error').textContent;
  if (li.dataset.state === 'done') return 'the upload finished before the test could act on it';
  return li.querySelector('progress').value >= %d; })()`, uploadItem(name), n)
}

func stateIs(name, state string) string {
	return fmt.Sprintf(`(() => { const li = %s; return !!li && li.dataset.state === %s; })()`, uploadItem(name), jsString(state))
}

func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// genFile is a file whose bytes both Go and the page can generate: an
// xorshift32 stream from Seed, or fixed Data.
type genFile struct {
	Name     string `json:"name"`
	Type     string `json:"type"`
	Seed     uint32 `json:"seed"`
	Size     int    `json:"size"`
	Data     []byte `json:"-"`
	B64      string `json:"b64,omitempty"`
	Modified int64  `json:"modified"`
}

func (f genFile) content() []byte {
	if f.Data != nil {
		return f.Data
	}
	b := make([]byte, f.Size)
	x := f.Seed
	for i := range b {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		b[i] = byte(x)
	}
	return b
}

// dropFiles builds File objects in the page and dispatches dragenter,
// dragover and drop on the drop zone with a DataTransfer that carries them.
func (e *browserEnv) dropFiles(files ...genFile) {
	e.t.Helper()
	for i := range files {
		if files[i].Data != nil {
			files[i].B64 = base64.StdEncoding.EncodeToString(files[i].Data)
			files[i].Size = len(files[i].Data)
		}
		if files[i].Modified == 0 {
			files[i].Modified = 1767225600000 // 2026-01-01
		}
	}
	specs, err := json.Marshal(files)
	if err != nil {
		e.t.Fatal(err)
	}
	n := evalJS[int](e, fmt.Sprintf(`(() => {
  const gen = (seed, n) => {
    const a = new Uint8Array(n);
    let x = seed >>> 0;
    for (let i = 0; i < n; i++) { x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0; a[i] = x & 255; }
    return a;
  };
  const dt = new DataTransfer();
  for (const s of %s) {
    const bytes = s.b64 ? Uint8Array.from(atob(s.b64), (c) => c.charCodeAt(0)) : gen(s.seed, s.size);
    dt.items.add(new File([bytes], s.name, { type: s.type, lastModified: s.modified }));
  }
  const zone = document.getElementById('dropzone');
  for (const type of ['dragenter', 'dragover', 'drop']) {
    zone.dispatchEvent(new DragEvent(type, { bubbles: true, cancelable: true, dataTransfer: dt }));
  }
  return dt.files.length;
})()`, specs))
	if n != len(files) {
		e.t.Fatalf("dropped %d files, want %d", n, len(files))
	}
}

// pickFiles chooses files on disk through the page's <input type=file>.
func (e *browserEnv) pickFiles(paths ...string) {
	e.t.Helper()
	e.do(chromedp.SetUploadFiles(chromedp.ID("file-input"), paths))
}

// writeTempFile writes f into a temporary directory under its name.
func writeTempFile(t *testing.T, f genFile) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), f.Name)
	if err := os.WriteFile(p, f.content(), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// fetch GETs a path from the server, with the token when there is one.
func (e *browserEnv) fetch(path string) (*http.Response, []byte) {
	e.t.Helper()
	req, err := http.NewRequest(http.MethodGet, e.url+path, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	if e.token != "" {
		req.Header.Set("Authorization", "Bearer "+e.token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatalf("GET %s: %v", path, err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		e.t.Fatalf("GET %s: %v", path, err)
	}
	return res, body
}

// checkStored downloads every file the page says it uploaded and compares
// the bytes with what the page was given.
func (e *browserEnv) checkStored(files ...genFile) {
	e.t.Helper()
	byName := map[string]uploadView{}
	for _, u := range e.uploads() {
		byName[u.Name] = u
	}
	for _, f := range files {
		u, ok := byName[f.Name]
		if !ok {
			e.t.Errorf("%s: not on the page", f.Name)
			continue
		}
		want := f.content()
		if u.State != "done" || u.Pct != "100%" || u.Value != u.Max || int(u.Max) != max(len(want), 1) {
			e.t.Errorf("%s: page shows state %q, %s, progress %v/%v; want done, 100%%, %d/%d", f.Name, u.State, u.Pct, u.Value, u.Max, len(want), len(want))
		}
		if u.ID == "" {
			e.t.Errorf("%s: the page shows no upload id", f.Name)
			continue
		}
		res, got := e.fetch("/files/" + u.ID)
		if res.StatusCode != http.StatusOK {
			e.t.Errorf("%s: GET /files/%s: %s", f.Name, u.ID, res.Status)
			continue
		}
		if !bytes.Equal(got, want) {
			e.t.Errorf("%s: the server holds %d bytes that differ from the %d the page sent", f.Name, len(got), len(want))
		}
	}
}

func (e *browserEnv) emulateColorScheme(scheme string) {
	e.t.Helper()
	e.do(chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := chromedp.Call(ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
			Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: scheme}},
		})
		return err
	}))
}

// ---- fixtures -------------------------------------------------------------

// wavFile is a mono 16-bit PCM WAV of a gliding tone, which Chromium plays
// (and seeks in) without any codec beyond PCM.
func wavFile(seconds, rate int) []byte {
	n := seconds * rate
	var buf bytes.Buffer
	buf.Grow(44 + 2*n)
	le := binary.LittleEndian
	buf.WriteString("RIFF")
	_ = binary.Write(&buf, le, uint32(36+2*n))
	buf.WriteString("WAVEfmt ")
	for _, v := range []any{uint32(16), uint16(1), uint16(1), uint32(rate), uint32(2 * rate), uint16(2), uint16(16)} {
		_ = binary.Write(&buf, le, v) // fmt chunk: PCM, mono, rate, byte rate, block align, bits
	}
	buf.WriteString("data")
	_ = binary.Write(&buf, le, uint32(2*n))
	phase := 0.0
	for i := range n {
		freq := 220 + 440*float64(i)/float64(n)
		phase += 2 * math.Pi * freq / float64(rate)
		_ = binary.Write(&buf, le, int16(8000*math.Sin(phase)))
	}
	return buf.Bytes()
}

// pngFile is a w×h gradient picture, for thumbnails.
func pngFile(w, h int) []byte {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.Set(x, y, color.RGBA{
				R: uint8(40 + 120*x/w), G: uint8(110 + 90*y/h), B: uint8(200 - 60*y/h), A: 255,
			})
		}
	}
	// A white sail on a dark hull, so the thumbnail reads as a picture.
	for y := h / 5; y < h*3/5; y++ {
		for x := w / 2; x < w/2+(y-h/5)*w/(2*h); x++ {
			img.Set(x, y, color.RGBA{250, 250, 245, 255})
		}
	}
	for y := h * 3 / 5; y < h*7/10; y++ {
		for x := w / 4; x < w*3/4; x++ {
			img.Set(x, y, color.RGBA{30, 40, 60, 255})
		}
	}
	var buf bytes.Buffer
	_ = png.Encode(&buf, img)
	return buf.Bytes()
}
