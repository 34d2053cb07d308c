package web_test

// Browser tests: the uploader page in a real headless Chromium (Debian's
// /usr/bin/chromium, or $FERRY_CHROMIUM), driven with chromedp, against the
// real server over a real local storage directory.
//
// The harness wraps the server twice: an HTTP wrapper records every request
// (path, Range, status) and tracks the hijacked WebSocket connections so a
// test can cut them, and a storage wrapper records resumes and can slow
// writes down, so that "mid-upload" lasts long enough to act on with files of
// a few MiB. Each finished test leaves a screenshot in $FERRY_ARTIFACTS
// (default <repo>/artifacts/browser/), and one on failure.
//
// FERRY_UPDATE_DOCS=1 makes TestBrowserReadmeScreenshot rewrite
// docs/screenshot.png.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
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
	"strconv"
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
	"github.com/ferryhq/ferry/upload"
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
}

type resumeEvent struct {
	ID     string
	Offset int64
}

func (b *recordingBackend) Create(ctx context.Context, id string, meta storage.Meta) (storage.Writer, error) {
	w, err := b.Backend.Create(ctx, id, meta)
	if err != nil {
		return nil, err
	}
	b.mu.Lock()
	b.creates = append(b.creates, id)
	b.mu.Unlock()
	return &slowWriter{Writer: w, rate: &b.rate}, nil
}

func (b *recordingBackend) Resume(ctx context.Context, id string) (storage.Writer, error) {
	w, err := b.Backend.Resume(ctx, id)
	if err != nil {
		return nil, err
	}
	b.mu.Lock()
	b.resumes = append(b.resumes, resumeEvent{ID: id, Offset: w.Info().Offset})
	b.mu.Unlock()
	return &slowWriter{Writer: w, rate: &b.rate}, nil
}

// The local backend's optional capabilities, passed through so the server
// sees the same store with or without the wrapper.

func (b *recordingBackend) OpenPartial(ctx context.Context, id string) (io.ReadSeekCloser, error) {
	return b.Backend.(storage.PartialOpener).OpenPartial(ctx, id)
}

func (b *recordingBackend) DeleteExpired(ctx context.Context, now time.Time) (int, error) {
	return b.Backend.(storage.Expirer).DeleteExpired(ctx, now)
}

func (b *recordingBackend) Ping(ctx context.Context) error {
	return b.Backend.(storage.Pinger).Ping(ctx)
}

func (b *recordingBackend) setRate(bytesPerSecond int64) { b.rate.Store(bytesPerSecond) }

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
	rate *atomic.Int64
}

func (w *slowWriter) Write(p []byte) (int, error) {
	if r := w.rate.Load(); r > 0 {
		time.Sleep(time.Duration(int64(len(p)) * int64(time.Second) / r))
	}
	return w.Writer.Write(p)
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
	e.cfg = cfg
	e.srv, err = web.New(cfg)
	if err != nil {
		t.Fatalf("web.New: %v", err)
	}
	e.http = &httpLog{next: e.srv.Handler()}
	e.ts = httptest.NewServer(e.http)
	e.url = e.ts.URL
	t.Cleanup(e.stopServer)

	e.ctx = startBrowser(t, exec)
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
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exec),
		chromedp.UserDataDir(t.TempDir()),
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

// ---- scenarios ------------------------------------------------------------

// Three files dropped on the zone and one chosen through the file input all
// reach 100%, with the server holding exactly their bytes. The writes are
// slowed at first so the fourth file visibly waits in the queue while three
// upload at once (the default).
func TestBrowserUploadsDroppedAndChosenFiles(t *testing.T) {
	e := newBrowserEnv(t, web.Config{})
	e.backend.setRate(oneMiB / 4) // slow until the queue was seen at work
	e.open("")

	dropped := []genFile{
		{Name: "alpha.bin", Type: "application/octet-stream", Seed: 1, Size: 2*oneMiB + 12345},
		{Name: "bravo.bin", Type: "application/octet-stream", Seed: 2, Size: 3*oneMiB - 7},
		{Name: "charlie.txt", Type: "text/plain", Seed: 3, Size: oneMiB + 1},
	}
	chosen := genFile{Name: "delta.dat", Seed: 4, Size: 2*oneMiB + 777}
	e.dropFiles(dropped...)
	e.pickFiles(writeTempFile(t, chosen))

	// Three upload at once (the default) and the chosen file waits its turn.
	e.waitFor("three uploads under way and one queued", fmt.Sprintf(`(() => {
  const li = [...document.querySelectorAll('#uploads > li')];
  const active = li.filter((l) => ['hashing', 'connecting', 'uploading', 'finishing', 'waiting'].includes(l.dataset.state)).length;
  if (active > 3) return active + ' uploads run at once, want at most 3';
  return li.length === 4 && active === 3 && %s.dataset.state === 'queued';
})()`, uploadItem(chosen.Name)))
	e.backend.setRate(0)

	// Watch the queue to the end: never more than 3 at once.
	deadline := time.Now().Add(pageTimeout)
	maxActive := 0
	for {
		us := e.uploads()
		active, done := 0, 0
		for _, u := range us {
			switch u.State {
			case "connecting", "hashing", "uploading", "finishing", "waiting":
				active++
			case "done":
				done++
			case "error":
				t.Fatalf("%s stopped: %s", u.Name, u.Error)
			}
		}
		maxActive = max(maxActive, active)
		if len(us) == 4 && done == 4 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out; uploads: %s", e.describe())
		}
		time.Sleep(30 * time.Millisecond)
	}
	if maxActive > 3 {
		t.Errorf("%d uploads ran at once, want at most 3", maxActive)
	}
	e.checkStored(append(dropped, chosen)...)
	e.waitFor("the completions to be announced", announced("live", chosen.Name+" uploaded."))

	total := evalJS[[]float64](e, `[document.getElementById('total-progress').value, document.getElementById('total-progress').max]`)
	if len(total) != 2 || total[0] != total[1] {
		t.Errorf("total progress %v, want full", total)
	}
	if got := evalJS[string](e, `document.getElementById('total-label').textContent`); !strings.HasPrefix(got, "4 of 4 files done") {
		t.Errorf("total label %q, want it to start with \"4 of 4 files done\"", got)
	}
	// The completed files are listed, each with a download link.
	e.waitFor("the file list", `document.querySelectorAll('#files > li').length === 4`)
	links := evalJS[[]string](e, `[...document.querySelectorAll('#files [data-action=download]')].map((a) => a.getAttribute('href'))`)
	for _, l := range links {
		if !strings.HasPrefix(l, "/files/") || !strings.Contains(l, "download=1") {
			t.Errorf("download link %q", l)
		}
	}
	if n := evalJS[int](e, `localStorage.getItem('ferry.uploads') === null ? 0 : Object.keys(JSON.parse(localStorage.getItem('ferry.uploads'))).length`); n != 0 {
		t.Errorf("%d uploads still remembered after completing, want none", n)
	}
}

// The server cuts the WebSocket mid-upload; the page reconnects by itself,
// resumes from the server's offset and completes.
func TestBrowserResumesAfterConnectionDrop(t *testing.T) {
	e := newBrowserEnv(t, web.Config{Config: upload.Config{MaxFrame: smallFrame}})
	e.backend.setRate(oneMiB) // slow until the cut, so the cut is mid-upload
	e.open("")
	f := genFile{Name: "river.bin", Type: "application/octet-stream", Seed: 11, Size: 5*oneMiB + 321}
	e.dropFiles(f)
	e.waitFor("a first durable MiB", offsetAtLeast(f.Name, oneMiB))
	id := e.upload(f.Name).ID
	if n := e.http.dropSockets(); n == 0 {
		t.Fatal("no WebSocket to drop")
	}
	e.backend.setRate(0)
	e.waitFor("the upload to complete", allDone(1))
	e.checkStored(f)
	resumes := e.backend.resumesOf(id)
	if len(resumes) == 0 || resumes[0].Offset < oneMiB {
		t.Errorf("resumes of %s: %+v; want one from at least %d bytes", id, resumes, oneMiB)
	}
	if n := e.backend.createCount(); n != 1 {
		t.Errorf("%d uploads created, want 1 (the page must resume, not start over)", n)
	}
}

// A reload mid-upload, then choosing the same file again, resumes from the
// server's offset instead of starting over.
func TestBrowserResumesAfterReloadAndReselect(t *testing.T) {
	e := newBrowserEnv(t, web.Config{Config: upload.Config{MaxFrame: smallFrame}})
	e.backend.setRate(oneMiB) // slow until the reload, so the reload is mid-upload
	e.open("")
	f := genFile{Name: "archive.tar", Seed: 21, Size: 5 * oneMiB}
	path := writeTempFile(t, f)
	e.pickFiles(path)
	e.waitFor("a first durable MiB", offsetAtLeast(f.Name, oneMiB))
	u := e.upload(f.Name)
	if u.ID == "" {
		t.Fatalf("no id shown for %s", f.Name)
	}
	if got := evalJS[string](e, `localStorage.getItem('ferry.uploads') || ''`); !strings.Contains(got, u.ID) {
		t.Fatalf("localStorage does not remember the upload: %q", got)
	}

	e.do(chromedp.Reload())
	e.backend.setRate(0)
	e.waitFor("the page to start again", `document.documentElement.dataset.ready === 'true'`)
	e.waitFor("the unfinished upload to be listed", fmt.Sprintf(
		`!document.getElementById('unfinished').hidden && document.getElementById('unfinished-list').textContent.includes(%s)`, jsString(f.Name)))
	e.screenshotTo(filepath.Join(artifactsDir(t), artifactName(t)+"-after-reload.png"))

	e.pickFiles(path)
	e.waitFor("the upload to complete", allDone(1))
	e.checkStored(f)
	resumes := e.backend.resumesOf(u.ID)
	if len(resumes) == 0 {
		t.Fatalf("upload %s was never resumed", u.ID)
	}
	if resumes[0].Offset < int64(u.Value) || resumes[0].Offset == 0 {
		t.Errorf("resumed from %d, want at least the %v bytes the page showed saved before the reload", resumes[0].Offset, u.Value)
	}
	if n := e.backend.createCount(); n != 1 {
		t.Errorf("%d uploads created, want 1", n)
	}
	if got := evalJS[string](e, `localStorage.getItem('ferry.uploads') || ''`); strings.Contains(got, u.ID) {
		t.Errorf("the completed upload is still remembered: %q", got)
	}
}

// A file over the server's limit, and one of a type the server does not
// take, show errors a person understands, also announced to screen readers.
func TestBrowserShowsTooLargeAndForbiddenType(t *testing.T) {
	e := newBrowserEnv(t, web.Config{Config: upload.Config{MaxSize: oneMiB, AllowedTypes: []string{"image/*", "application/octet-stream"}}})
	e.open("")
	big := genFile{Name: "huge.iso", Type: "application/octet-stream", Seed: 31, Size: oneMiB + 1}
	page := genFile{Name: "page.html", Type: "text/html", Data: []byte("<!doctype html><title>hi</title><p>hello")}
	e.dropFiles(big, page)
	for _, c := range []struct {
		f    genFile
		want string
	}{
		{big, "larger than the server accepts"},
		{page, "does not accept this type of file"},
	} {
		e.waitFor("the error", stateIs(c.f.Name, "error"))
		if u := e.upload(c.f.Name); !strings.Contains(u.Error, c.want) {
			t.Errorf("%s: error text %q, want it to say %q", c.f.Name, u.Error, c.want)
		}
		e.waitFor("the alert", announced("live-alert", c.want))
	}
	if got := evalJS[string](e, `document.getElementById('total-label').textContent`); !strings.Contains(got, "2 stopped") {
		t.Errorf("total label %q, want it to count 2 stopped uploads", got)
	}
	res, body := e.fetch("/api/files")
	var list struct{ Files []json.RawMessage }
	if err := json.Unmarshal(body, &list); err != nil || res.StatusCode != http.StatusOK || len(list.Files) != 0 {
		t.Errorf("GET /api/files: %s %s; want no files", res.Status, body)
	}
}

// An uploaded WAV plays in the page's <audio> element, which seeks through
// Range requests that the server answers with 206.
func TestBrowserMediaSeeksWithRange(t *testing.T) {
	e := newBrowserEnv(t, web.Config{Config: upload.Config{AllowedTypes: []string{"audio/*", "video/*", "image/*"}}})
	e.open("")
	f := genFile{Name: "tone.wav", Data: wavFile(60, 22050)}
	e.pickFiles(writeTempFile(t, f))
	e.waitFor("the upload to complete", allDone(1))
	e.checkStored(f)
	id := e.upload(f.Name).ID
	e.http.downloadRate.Store(256 << 10)

	item := fmt.Sprintf(`#files > li[data-id="%s"]`, id)
	e.waitFor("the file list", fmt.Sprintf(`!!document.querySelector('%s [data-action=play]:not([hidden])')`, item))
	e.do(chromedp.Click(chromedp.CSS(item + " [data-action=play]")))
	e.waitFor("the media metadata", fmt.Sprintf(`(() => { const m = document.querySelector('%s audio');
  if (m && m.error) return 'media error ' + m.error.code;
  return !!m && m.readyState >= 1 && Number.isFinite(m.duration) && m.duration > 50; })()`, item))
	e.do(chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`(() => { const m = document.querySelector('%s audio');
  m.addEventListener('seeked', () => { m.dataset.seeked = String(m.currentTime); });
  m.currentTime = m.duration * 0.85; })()`, item)))
	e.waitFor("the seek", fmt.Sprintf(`(() => { const m = document.querySelector('%s audio');
  return !!m.dataset.seeked && m.readyState >= 2; })()`, item))
	at := evalJS[float64](e, fmt.Sprintf(`Number(document.querySelector('%s audio').dataset.seeked)`, item))
	if at < 45 {
		t.Errorf("seeked to %.1fs, want about 51s", at)
	}

	var partial []loggedRequest
	seekedPast := false
	for _, r := range e.http.requests("/files/" + id) {
		if r.Method == http.MethodGet && r.Status == http.StatusPartialContent {
			partial = append(partial, r)
			if start, ok := rangeStart(r.Range); ok && start > int64(len(f.Data))/2 {
				seekedPast = true
			}
		}
	}
	if len(partial) == 0 {
		t.Fatalf("the server answered no 206 to the media element; requests: %+v", e.http.requests("/files/"))
	}
	if !seekedPast {
		t.Errorf("no Range request started past the middle of the file after the seek; 206s: %+v", partial)
	}
}

// rangeStart is the first byte of a "bytes=a-..." header.
func rangeStart(h string) (int64, bool) {
	spec, ok := strings.CutPrefix(h, "bytes=")
	if !ok {
		return 0, false
	}
	a, _, _ := strings.Cut(spec, "-")
	n, err := strconv.ParseInt(a, 10, 64)
	return n, err == nil
}

// A server with tokens: the page tells "unauthorized" from "unreachable",
// asks for the token, and once it is saved the waiting upload carries on;
// the thumbnail and the links carry the token.
func TestBrowserAsksForToken(t *testing.T) {
	const token = "river-otter-42"
	e := newBrowserEnv(t, web.Config{Tokens: []string{token}})
	e.open("")
	e.waitFor("the token request", `!document.getElementById('settings').hidden && !document.getElementById('token-needed').hidden`)

	f := genFile{Name: "harbour.png", Type: "image/png", Data: pngFile(96, 64)}
	e.dropFiles(f)
	e.waitFor("the upload to stop", stateIs(f.Name, "error"))
	if u := e.upload(f.Name); !strings.Contains(u.Error, "access token") {
		t.Errorf("error text %q, want it to ask for the access token", u.Error)
	}
	refused := false
	for _, r := range e.http.requests("/ws/upload") {
		refused = refused || r.Status == http.StatusUnauthorized
	}
	if !refused {
		t.Errorf("the server never refused the WebSocket with 401; requests: %+v", e.http.requests("/ws/"))
	}

	e.do(
		chromedp.SendKeys(chromedp.ID("token"), token),
		chromedp.Click(chromedp.CSS("#settings-form button[type=submit]")),
	)
	e.waitFor("the upload to complete", allDone(1))
	e.checkStored(f)
	id := e.upload(f.Name).ID
	e.waitFor("the thumbnail", fmt.Sprintf(`(() => { const img = document.querySelector('#files > li[data-id="%s"] .file-thumb img');
  return !!img && img.complete && img.naturalWidth === 96; })()`, id))
	for _, sel := range []string{".file-thumb img", "[data-action=download]", ".file-name"} {
		attr := "href"
		if strings.Contains(sel, "img") {
			attr = "src"
		}
		got := evalJS[string](e, fmt.Sprintf(`document.querySelector('#files > li[data-id="%s"] %s').getAttribute('%s')`, id, sel, attr))
		if !strings.Contains(got, "token="+token) {
			t.Errorf("%s %s=%q, want ?token=", sel, attr, got)
		}
	}
	if got := evalJS[string](e, `localStorage.getItem('ferry.token') || ''`); got != token {
		t.Errorf("stored token %q", got)
	}
}

// With the server gone the page says so and keeps trying; when the server
// is back ("Retry now" skips the wait) the upload completes.
func TestBrowserServerUnreachable(t *testing.T) {
	e := newBrowserEnv(t, web.Config{})
	e.open("")
	e.stopServer()
	f := genFile{Name: "lighthouse.bin", Seed: 41, Size: oneMiB + 4096}
	e.dropFiles(f)
	e.waitFor("the unreachable notice", fmt.Sprintf(`(() => { const li = %s;
  return !!li && li.dataset.state === 'waiting' && li.querySelector('.upload-error').textContent.includes('Cannot reach the server'); })()`, uploadItem(f.Name)))
	e.screenshotTo(filepath.Join(artifactsDir(t), artifactName(t)+"-unreachable.png"))

	e.restartServer()
	e.waitFor("the retry button", fmt.Sprintf(`(() => { const li = %s; const b = li.querySelector('[data-action=retry-now]');
  return li.dataset.state === 'done' || (li.dataset.state === 'waiting' && !b.hidden); })()`, uploadItem(f.Name)))
	// Press "Retry now" if the page is still waiting (in the page, so the
	// backoff timer cannot hide the button between a check and a click).
	evalJS[bool](e, uploadItem(f.Name)+`.querySelector('[data-action=retry-now]:not([hidden])')?.click() ?? false`)
	e.waitFor("the upload to complete", allDone(1))
	e.checkStored(f)
}

// Pause stops the upload and keeps it resumable; resume continues from the
// server's offset; cancel aborts and the server deletes the bytes.
func TestBrowserPauseResumeCancel(t *testing.T) {
	e := newBrowserEnv(t, web.Config{Config: upload.Config{MaxFrame: smallFrame}})
	e.backend.setRate(oneMiB / 4) // slow until both were acted on
	e.open("")
	a := genFile{Name: "keep.bin", Seed: 51, Size: 3 * oneMiB}
	b := genFile{Name: "drop.bin", Seed: 52, Size: 3 * oneMiB}
	e.dropFiles(a, b)
	e.waitFor("keep.bin to make progress", offsetAtLeast(a.Name, oneMiB/4))
	e.waitFor("drop.bin to start", fmt.Sprintf(`(() => { const li = %s; return !!li.dataset.id && li.dataset.state === 'uploading'; })()`, uploadItem(b.Name)))

	e.do(chromedp.Click(chromedp.CSS(`#uploads > li[data-name="keep.bin"] [data-action=toggle]`)))
	e.waitFor("keep.bin to pause", stateIs(a.Name, "paused"))
	if got := evalJS[string](e, uploadItem(a.Name)+`.querySelector('[data-action=toggle]').textContent`); got != "Resume" {
		t.Errorf("the paused upload's button says %q, want Resume", got)
	}

	bID := e.upload(b.Name).ID
	e.do(chromedp.Click(chromedp.CSS(`#uploads > li[data-name="drop.bin"] [data-action=cancel]`)))
	e.waitFor("drop.bin to leave the list", `!document.querySelector('#uploads > li[data-name="drop.bin"]')`)
	deadline := time.Now().Add(pageTimeout)
	for {
		_, err := e.backend.Stat(context.Background(), bID)
		if errors.Is(err, storage.ErrNotFound) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the cancelled upload %s is still stored (Stat: %v)", bID, err)
		}
		time.Sleep(50 * time.Millisecond)
	}

	aID := e.upload(a.Name).ID
	e.backend.setRate(0)
	e.do(chromedp.Click(chromedp.CSS(`#uploads > li[data-name="keep.bin"] [data-action=toggle]`)))
	e.waitFor("keep.bin to complete", allDone(1))
	e.checkStored(a)
	if r := e.backend.resumesOf(aID); len(r) == 0 || r[0].Offset == 0 {
		t.Errorf("resumes of the paused upload: %+v; want one from a non-zero offset", r)
	}
	if got := evalJS[string](e, `document.getElementById('total-label').textContent`); !strings.HasPrefix(got, "1 of 1 file done") {
		t.Errorf("total label %q after the cancel, want \"1 of 1 file done…\"", got)
	}
}

// On a phone-sized screen in the dark theme nothing overflows sideways; the
// controls are reachable and visibly focused from the keyboard, and a file
// can be deleted with the keyboard alone.
func TestBrowserPhoneDarkAndKeyboard(t *testing.T) {
	e := newBrowserEnv(t, web.Config{Config: upload.Config{MaxSize: 2 * oneMiB}})
	e.do(chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2)))
	e.emulateColorScheme("dark")
	e.open("")
	ok := genFile{Name: "a-file-with-a-rather-long-name-from-a-phone-camera-2026-01-01.jpg.bin", Seed: 61, Size: 300_000}
	big := genFile{Name: "too-big.bin", Seed: 62, Size: 3 * oneMiB}
	e.dropFiles(ok, big)
	e.waitFor("the first upload", stateIs(ok.Name, "done"))
	e.waitFor("the error", stateIs(big.Name, "error"))
	e.waitFor("the file list", `document.querySelectorAll('#files > li').length === 1`)

	if overflow := evalJS[int](e, `document.documentElement.scrollWidth - window.innerWidth`); overflow > 0 {
		t.Errorf("the page is %dpx wider than a 390px screen", overflow)
	}
	bg := evalJS[string](e, `getComputedStyle(document.documentElement).backgroundColor`)
	if l := luminance(bg); l < 0 || l > 0.25 {
		t.Errorf("background %q in the dark theme, want a dark colour", bg)
	}
	// Every visible control has a name a screen reader can say.
	if unnamed := evalJS[[]string](e, `[...document.querySelectorAll('button, a[href], input:not([tabindex="-1"]), progress')]
  .filter((el) => el.offsetParent !== null)
  .filter((el) => !(el.getAttribute('aria-label') || el.getAttribute('aria-labelledby') || el.labels?.length || el.textContent.trim()))
  .map((el) => el.outerHTML.slice(0, 80))`); len(unnamed) > 0 {
		t.Errorf("controls without an accessible name: %q", unnamed)
	}

	// Tab from the top of the page to the "Choose files" button.
	focusedChoose := false
	for range 8 {
		e.do(chromedp.KeyEvent("\t"))
		if evalJS[string](e, `document.activeElement.id`) == "choose" {
			focusedChoose = true
			break
		}
	}
	if !focusedChoose {
		t.Fatalf("Tab never reached the Choose files button")
	}
	if style := evalJS[string](e, `getComputedStyle(document.activeElement).outlineStyle`); style == "none" {
		t.Errorf("the focused button shows no outline")
	}

	// Delete with the keyboard: Enter, then Enter again to confirm.
	id := e.upload(ok.Name).ID
	e.do(chromedp.Focus(chromedp.CSS(fmt.Sprintf(`#files > li[data-id="%s"] [data-action=delete]`, id))))
	e.do(chromedp.KeyEvent("\r"))
	e.waitFor("the delete confirmation", `document.activeElement.textContent === 'Confirm delete'`)
	e.do(chromedp.KeyEvent("\r"))
	e.waitFor("the file to leave the list", `document.querySelectorAll('#files > li').length === 0`)
	if res, _ := e.fetch("/files/" + id); res.StatusCode != http.StatusNotFound {
		t.Errorf("GET /files/%s after delete: %s, want 404", id, res.Status)
	}
}

// luminance is the relative brightness (0 black, 1 white) of a CSS
// "rgb(r, g, b)" colour, or -1 when it does not parse.
func luminance(css string) float64 {
	var r, g, b float64
	if _, err := fmt.Sscanf(strings.ReplaceAll(css, " ", ""), "rgb(%g,%g,%g)", &r, &g, &b); err != nil {
		return -1
	}
	return (0.2126*r + 0.7152*g + 0.0722*b) / 255
}

// The README's picture: finished uploads (a picture with its thumbnail, a
// sound with its player button) and one in progress, in the light theme.
// FERRY_UPDATE_DOCS=1 writes it to docs/screenshot.png; otherwise it only
// goes to the artifacts.
func TestBrowserReadmeScreenshot(t *testing.T) {
	e := newBrowserEnv(t, web.Config{Config: upload.Config{MaxFrame: smallFrame}})
	e.do(chromedp.EmulateViewport(1000, 900))
	e.emulateColorScheme("light")
	e.open("")
	done := []genFile{
		{Name: "harbour-at-dawn.png", Type: "image/png", Data: pngFile(320, 200)},
		{Name: "foghorn.wav", Type: "audio/wav", Data: wavFile(3, 8000)},
	}
	e.dropFiles(done...)
	e.waitFor("the first uploads", allDone(len(done)))
	e.waitFor("the file list", `document.querySelectorAll('#files > li').length === 2 &&
  [...document.querySelectorAll('#files img')].every((img) => img.complete && img.naturalWidth > 0)`)

	e.backend.setRate(oneMiB)
	big := genFile{Name: "survey-2026.tar.gz", Type: "application/gzip", Seed: 72, Size: 6 * oneMiB}
	e.dropFiles(big)
	e.waitFor("the big upload to be under way", offsetAtLeast(big.Name, 5*oneMiB/2))
	e.waitFor("a time-left estimate", fmt.Sprintf(`%s.querySelector('.upload-detail').textContent.includes('left')`, uploadItem(big.Name)))
	e.do(chromedp.Evaluate[chromedp.Void](`window.scrollTo(0, 0)`))
	shot, err := chromedp.Run(e.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	if u := e.upload(big.Name); u.State != "uploading" && u.State != "finishing" || u.Pct == "100%" {
		t.Errorf("the in-progress upload shows %q %s", u.State, u.Pct)
	}
	e.backend.setRate(0)
	if err := os.WriteFile(filepath.Join(artifactsDir(t), "readme.png"), shot, 0o644); err != nil {
		t.Log(err)
	}
	if os.Getenv("FERRY_UPDATE_DOCS") == "1" {
		if err := os.WriteFile(filepath.Join("..", "docs", "screenshot.png"), shot, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
