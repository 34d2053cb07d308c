package web_test

// The page's upload speed in headless Chromium, against the best a bare
// in-page WebSocket does on the same server and against Uppy with
// @uppy/tus uploading to tusd, all in one run with one file
// (docs/performance.md, "The uploader page in Chromium"). Off by default:
// FERRY_BROWSER_BENCH=1 (make bench-browser) runs it; FERRY_BENCH_MIB sets
// the file size (300) and FERRY_BENCH_ROUNDS the rounds (3).

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/ferryhq/ferry/storage/local"
	"github.com/ferryhq/ferry/upload"
	"github.com/ferryhq/ferry/web"
)

// benchPage holds a file input and the bare sender: one WebSocket that
// sends `start`, then every 8 MiB Blob slice (the page's chunk) of the file at once, then
// `end`, and waits for `complete`. Sending everything at once is the most
// a sender can ask of the browser; it measures the browser and server, not
// a flow-control policy.
const benchPage = `<!doctype html>
<meta charset="utf-8"><title>bare sender</title>
<input type="file" id="f">
<script>
window.bareWS = async () => {
  const file = document.getElementById('f').files[0];
  const t0 = performance.now();
  const url = location.origin.replace(/^http/, 'ws') + '/ws/upload';
  const ws = new WebSocket(url, ['ferry.v1']);
  const waiting = [];
  const got = [];
  ws.onmessage = (ev) => {
    const f = JSON.parse(ev.data);
    if (f.type === 'progress') return;
    const w = waiting.shift();
    if (w) w(f); else got.push(f);
  };
  const next = () => got.length ? Promise.resolve(got.shift()) : new Promise((r) => waiting.push(r));
  await new Promise((res, rej) => { ws.onopen = res; ws.onerror = () => rej(new Error('no connection')); });
  ws.send(JSON.stringify({ type: 'start', name: file.name, size: file.size }));
  const ready = await next();
  if (ready.type !== 'ready') throw new Error(JSON.stringify(ready));
  const chunk = Math.min(8 << 20, ready.max_frame);
  for (let a = 0; a < file.size; a += chunk) ws.send(file.slice(a, Math.min(file.size, a + chunk)));
  ws.send(JSON.stringify({ type: 'end' }));
  const done = await next();
  ws.close();
  if (done.type !== 'complete') throw new Error(JSON.stringify(done));
  return { ms: performance.now() - t0, id: done.id, sha256: done.sha256 };
};
</script>`

type benchResult struct {
	MS     float64 `json:"ms"`
	ID     string  `json:"id"`
	SHA256 string  `json:"sha256"`
}

func TestBrowserUploadSpeed(t *testing.T) {
	if os.Getenv("FERRY_BROWSER_BENCH") != "1" {
		t.Skip("a benchmark: FERRY_BROWSER_BENCH=1 (make bench-browser) runs it")
	}
	mib := envInt(t, "FERRY_BENCH_MIB", 300)
	rounds := envInt(t, "FERRY_BENCH_ROUNDS", 3)
	chromium := chromiumPath(t)
	tusd, err := filepath.Abs(filepath.Join("..", ".tools", "bin", "tusd"))
	if err != nil {
		t.Fatal(err)
	}
	uppyDist := filepath.Join("..", "testdata", "interop", "node_modules", "uppy", "dist")
	for _, need := range []string{tusd, filepath.Join(uppyDist, "uppy.min.mjs")} {
		if _, err := os.Stat(need); err != nil {
			t.Fatalf("the benchmark needs %s (make tusd interop-deps): %v", need, err)
		}
	}

	// The file, on disk, as a person would pick it.
	size := int64(mib) << 20
	path := filepath.Join(t.TempDir(), "bench.bin")
	want := writeBenchFile(t, path, size)

	// ferry on local storage, with the bench page and Uppy on its origin.
	dir := t.TempDir()
	backend, err := local.New(local.Config{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := web.New(web.Config{Config: upload.Config{Backend: backend}})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /bench/{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		io.WriteString(w, benchPage)
	})
	mux.Handle("GET /uppy/", http.StripPrefix("/uppy/", http.FileServer(http.Dir(uppyDist))))
	mux.HandleFunc("GET /uppy.html", func(w http.ResponseWriter, r *http.Request) {
		http.ServeFile(w, r, filepath.Join("..", "testdata", "interop", "uppy.html"))
	})
	mux.Handle("/", srv.Handler())
	ts := httptest.NewServer(mux)
	t.Cleanup(ts.Close)

	// tusd on local storage, as it ships.
	tusDir := t.TempDir()
	tusURL := startTusd(t, tusd, tusDir)

	ctx := startBrowser(t, chromium)
	run := func(what string, timeout time.Duration, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		c, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		if err := chromedp.Do(c, actions...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	wait := func(what, expr string) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Minute)
		for {
			if benchEval[bool](t, ctx, expr) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	check := func(what, sum string) {
		t.Helper()
		if sum != want {
			t.Fatalf("%s: the server's SHA-256 %q, want %q", what, sum, want)
		}
	}
	tidy := func() {
		// Keep the disks' work of one run out of the next (ANCHORS.md).
		exec.Command("sync").Run()
		time.Sleep(2 * time.Second)
	}

	bare := func() float64 {
		run("opening the bench page", time.Minute, chromedp.Navigate(ts.URL+"/bench/"), chromedp.SetUploadFiles(chromedp.ID("f"), []string{path}))
		r := benchEval[benchResult](t, ctx, `window.bareWS()`)
		check("bare WebSocket", r.SHA256)
		backend.Delete(context.Background(), r.ID)
		return r.MS
	}
	page := func() (upload, verified float64) {
		run("opening the page", time.Minute, chromedp.Navigate(ts.URL+"/"))
		wait("the page", `document.documentElement.dataset.ready === 'true'`)
		benchEval[bool](t, ctx, `(() => {
  window.__t0 = 0; window.__t1 = 0; window.__tv = 0;
  document.getElementById('file-input').addEventListener('change', () => { window.__t0 = performance.now(); }, { capture: true });
  new MutationObserver(() => {
    const li = document.querySelector('#uploads > li');
    if (!li) return;
    if (!window.__t1 && li.dataset.state === 'done') window.__t1 = performance.now();
    if (!window.__tv && li.querySelector('.upload-detail').textContent.includes('SHA-256 verified')) window.__tv = performance.now();
  }).observe(document.getElementById('uploads'), { subtree: true, attributes: true, childList: true, characterData: true });
  return true;
})()`)
		run("choosing the file", time.Minute, chromedp.SetUploadFiles(chromedp.ID("file-input"), []string{path}))
		wait("the page's upload", `(() => { const li = document.querySelector('#uploads > li');
  if (li && li.dataset.state === 'error') throw new Error(li.querySelector('.upload-error').textContent);
  return window.__t1 > 0; })()`)
		wait("the page's SHA-256 check", `window.__tv > 0`)
		r := benchEval[struct{ T0, T1, TV float64 }](t, ctx, `({t0: window.__t0, t1: window.__t1, tv: window.__tv})`)
		id := benchEval[string](t, ctx, `document.querySelector('#uploads > li').dataset.id`)
		info, err := backend.Stat(context.Background(), id)
		if err != nil {
			t.Fatalf("the page's upload: %v", err)
		}
		check("the page", info.SHA256)
		backend.Delete(context.Background(), id)
		return r.T1 - r.T0, r.TV - r.T0
	}
	// uppyTo uploads the file with Uppy (@uppy/tus, one PATCH for the whole
	// file: its default, chunkSize Infinity) to the tus endpoint and
	// returns the time it took and the upload URL Uppy reports.
	uppyTo := func(endpoint string) (float64, string) {
		run("opening Uppy", time.Minute, chromedp.Navigate(ts.URL+"/uppy.html?endpoint="+endpoint+"&chunk="+strconv.FormatInt(size, 10)))
		wait("Uppy", `document.documentElement.dataset.ready === 'true'`)
		benchEval[bool](t, ctx, `(() => {
  window.__t0 = 0; window.__t1 = 0;
  document.addEventListener('change', () => { if (!window.__t0) window.__t0 = performance.now(); }, { capture: true });
  window.uppy.on('complete', () => { window.__t1 = performance.now(); });
  return true;
})()`)
		run("adding the file to Uppy", time.Minute, chromedp.SetUploadFiles(chromedp.CSS(`#dashboard input.uppy-Dashboard-input:not([webkitdirectory])`), []string{path}))
		wait("Uppy's upload", `window.__t1 > 0`)
		if failed := benchEval[[]string](t, ctx, `window.__complete.failed`); len(failed) != 0 {
			t.Fatalf("Uppy's upload to %s failed: %v", endpoint, failed)
		}
		r := benchEval[struct{ T0, T1 float64 }](t, ctx, `({t0: window.__t0, t1: window.__t1})`)
		return r.T1 - r.T0, benchEval[string](t, ctx, `window.__complete.successful[0]`)
	}
	uppy := func() float64 {
		ms, _ := uppyTo(tusURL + "/files/")
		checkTusd(t, tusDir, size, want)
		return ms
	}
	// Uppy to ferry's own tus endpoint: the same browser-side sender as
	// Uppy + tusd, so the two differ only in the server, and against the
	// page only in the transport (HTTP PATCH against WebSocket).
	uppyFerry := func() float64 {
		ms, url := uppyTo(ts.URL + "/uploads/")
		id := url[strings.LastIndexByte(url, '/')+1:]
		info, err := backend.Stat(context.Background(), id)
		if err != nil {
			t.Fatalf("Uppy's upload to ferry (%s): %v", url, err)
		}
		check("Uppy to ferry", info.SHA256)
		backend.Delete(context.Background(), id)
		return ms
	}

	var bares, pages, verifieds, uppys, uppyFerrys []float64
	mbps := func(ms float64) float64 { return float64(size) / 1e6 / (ms / 1000) }
	for i := range rounds {
		// A different order each round, so no sender always goes first.
		order := []string{"bare", "page", "uppy", "uppy-ferry"}
		for range i {
			order = append(order[1:], order[0])
		}
		for _, who := range order {
			tidy()
			switch who {
			case "bare":
				bares = append(bares, mbps(bare()))
			case "page":
				up, v := page()
				pages = append(pages, mbps(up))
				verifieds = append(verifieds, mbps(v))
			case "uppy":
				uppys = append(uppys, mbps(uppy()))
			case "uppy-ferry":
				uppyFerrys = append(uppyFerrys, mbps(uppyFerry()))
			}
		}
		t.Logf("round %d: bare %.0f MB/s, page %.0f MB/s (verified at %.0f MB/s), Uppy+tusd %.0f MB/s, Uppy+ferry %.0f MB/s",
			i+1, bares[i], pages[i], verifieds[i], uppys[i], uppyFerrys[i])
	}
	b, p, v, u, uf := median(bares), median(pages), median(verifieds), median(uppys), median(uppyFerrys)
	load, _ := os.ReadFile("/proc/loadavg")
	t.Logf("%d MiB, %d rounds, medians in MB/s (10^6 B/s): bare WebSocket %.0f, page %.0f (%.2fx bare, %.2fx Uppy), page with its SHA-256 checked %.0f, Uppy+tusd %.0f, Uppy+ferry (tus) %.0f (%.2fx Uppy+tusd); load average %s",
		mib, rounds, b, p, p/b, p/u, v, u, uf, uf/u, string(load[:min(len(load), 14)]))
}

// benchEval evaluates expr in the tab, awaiting a promise, within 10 minutes.
func benchEval[T any](t *testing.T, ctx context.Context, expr string) T {
	t.Helper()
	c, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	v, err := chromedp.Run(c, chromedp.Evaluate[T](expr, func(p *runtime.EvaluateParams) { p.AwaitPromise = new(true) }))
	if err != nil {
		t.Fatalf("evaluating %.60q: %v", expr, err)
	}
	return v
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s) == 0 {
		return 0
	}
	return s[len(s)/2]
}

func envInt(t *testing.T, name string, def int) int {
	t.Helper()
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		t.Fatalf("%s=%q: want a whole number >= 1", name, s)
	}
	return n
}

// writeBenchFile writes size random bytes to path in 1 MiB pieces and
// returns their SHA-256.
func writeBenchFile(t *testing.T, path string, size int64) string {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	buf := make([]byte, 1<<20)
	for left := size; left > 0; left -= int64(len(buf)) {
		n := min(left, int64(len(buf)))
		rand.Read(buf[:n])
		h.Write(buf[:n])
		if _, err := f.Write(buf[:n]); err != nil {
			t.Fatal(err)
		}
	}
	return hex.EncodeToString(h.Sum(nil))
}

// startTusd runs tusd on a free loopback port with its files in dir and
// returns its base URL once it answers.
func startTusd(t *testing.T, bin, dir string) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
	l.Close()
	cmd := exec.Command(bin, "-host", "127.0.0.1", "-port", port, "-upload-dir", dir, "-base-path", "/files/")
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	url := "http://127.0.0.1:" + port
	for deadline := time.Now().Add(30 * time.Second); ; {
		resp, err := http.Get(url + "/files/")
		if err == nil {
			resp.Body.Close()
			return url
		}
		if time.Now().After(deadline) {
			t.Fatalf("tusd does not answer: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// checkTusd checks the one file tusd holds and removes what it wrote.
func checkTusd(t *testing.T, dir string, size int64, want string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, e := range entries {
		p := filepath.Join(dir, e.Name())
		if filepath.Ext(p) == "" {
			f, err := os.Open(p)
			if err != nil {
				t.Fatal(err)
			}
			h := sha256.New()
			n, err := io.Copy(h, f)
			f.Close()
			if err != nil {
				t.Fatal(err)
			}
			if n != size || hex.EncodeToString(h.Sum(nil)) != want {
				t.Fatalf("tusd holds %d bytes with another SHA-256 than the file's", n)
			}
			found = true
		}
		os.Remove(p)
	}
	if !found {
		t.Fatal("tusd holds no file after Uppy's upload")
	}
}
