package main

// Uppy (Dashboard + @uppy/tus, the prebuilt bundle from testdata/interop) in
// Debian's headless Chromium, uploading to a real ferry process on another
// origin (so CORS is on the way), across a kill -9 of that process.

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
)

// interopChromium returns Chromium's path ($FERRY_CHROMIUM or Debian's), or
// skips (fails under CI=true), as web/browser_test.go does.
func interopChromium(t *testing.T) string {
	t.Helper()
	p := os.Getenv("FERRY_CHROMIUM")
	if p == "" {
		p = "/usr/bin/chromium"
	}
	if _, err := os.Stat(p); err != nil {
		msg := fmt.Sprintf("the Uppy test needs Chromium at %s (make browser-deps; or set FERRY_CHROMIUM): %v", p, err)
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return p
}

// interopBrowser starts a headless Chromium with its own profile and
// scratch directories (inside the test's temp dir) and returns its tab.
func interopBrowser(t *testing.T, exec string) context.Context {
	t.Helper()
	// Chromium's singleton socket lives in TMPDIR and its path must be
	// short (t.TempDir() has the test's name in it): a short directory of
	// our own, removed at the end.
	scratch, err := os.MkdirTemp("", "ferry-cr")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(scratch) })
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exec),
		chromedp.UserDataDir(filepath.Join(scratch, "profile")),
		chromedp.Env("TMPDIR="+scratch),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.WindowSize(1000, 800),
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

// uppyState is what the test page records (testdata/interop/uppy.html).
type uppyState struct {
	Progress float64 `json:"progress"`
	Events   []struct {
		Type    string `json:"type"`
		URL     string `json:"url"`
		Message string `json:"message"`
	} `json:"events"`
	Responses []struct {
		Method string  `json:"method"`
		URL    string  `json:"url"`
		Status int     `json:"status"`
		Offset *string `json:"offset"`
	} `json:"responses"`
	Complete *struct {
		Successful []string `json:"successful"`
		Failed     []string `json:"failed"`
	} `json:"complete"`
}

func readUppy(ctx context.Context) (uppyState, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	raw, err := chromedp.Run(ctx, chromedp.Evaluate[[]byte](
		`JSON.stringify({progress: window.__progress, events: window.__events, responses: window.__responses, complete: window.__complete ?? null})`))
	if err != nil {
		return uppyState{}, err
	}
	var js string
	if err := json.Unmarshal(raw, &js); err != nil {
		return uppyState{}, err
	}
	var s uppyState
	err = json.Unmarshal([]byte(js), &s)
	return s, err
}

func (s uppyState) String() string {
	var b strings.Builder
	for _, r := range s.Responses {
		off := "-"
		if r.Offset != nil {
			off = *r.Offset
		}
		fmt.Fprintf(&b, "  < %s %s: %d Upload-Offset %s\n", r.Method, r.URL, r.Status, off)
	}
	for _, e := range s.Events {
		fmt.Fprintf(&b, "  = %s %s %s\n", e.Type, e.URL, e.Message)
	}
	return b.String()
}

// TestInteropUppyDashboardAcrossKill: a file added through Uppy's Dashboard
// (with ferry's token in @uppy/tus's headers) is uploading (Chromium throttles the upload to 2 MiB/s) when ferry is
// killed with -9; ferry starts again on the same address and data, and Uppy
// finishes by itself with its retryDelays. The download is the file.
func TestInteropUppyDashboardAcrossKill(t *testing.T) {
	needInterop(t)
	chromium := interopChromium(t)
	for _, protocol := range []string{"tus-v1", "ietf-draft-05"} {
		t.Run(protocol, func(t *testing.T) { uppyAcrossKill(t, chromium, protocol) })
	}
}

func uppyAcrossKill(t *testing.T, chromium, protocol string) {

	// The page and the Uppy bundle, on an origin of their own.
	mux := http.NewServeMux()
	mux.Handle("GET /uppy/", http.StripPrefix("/uppy/", http.FileServer(http.Dir(filepath.Join(interopDir, "node_modules", "uppy", "dist")))))
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		http.ServeFile(w, r, filepath.Join(interopDir, "uppy.html"))
	})
	page := httptest.NewServer(mux)
	t.Cleanup(page.Close)

	addr, data := freeAddr(t), t.TempDir()
	// A token too: the CORS preflight must allow Authorization.
	args := []string{"--data", data, "--allowed-origins", page.URL, "--token", "tok"}
	f := startInstanceAt(t, addr, args...)

	size := 6 << 20
	path, want := writeRandomFile(t, "uppy-dashboard.bin", size)

	ctx := interopBrowser(t, chromium)
	do := func(what string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		c, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		if err := chromedp.Do(c, actions...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	if _, err := chromedp.Call(ctx, network.Enable, network.EnableParams{}); err != nil {
		t.Fatalf("Network.enable: %v", err)
	}
	// A slow network, so that the upload is still going when ferry dies.
	if _, err := chromedp.Call(ctx, network.EmulateNetworkConditionsByRule, network.EmulateNetworkConditionsByRuleParams{
		MatchedNetworkConditions: []*network.Conditions{{URLPattern: f.url + "/*", UploadThroughput: 2 << 20, DownloadThroughput: -1}},
	}); err != nil {
		t.Fatalf("Network.emulateNetworkConditionsByRule: %v", err)
	}
	do("opening the page", chromedp.Navigate(page.URL+"/?endpoint="+f.url+"/uploads/&chunk=1048576&token=tok&protocol="+protocol))
	waitJS(t, ctx, "the page to load Uppy", `document.documentElement.dataset.ready === 'true'`, 20*time.Second)
	do("adding the file through the Dashboard",
		chromedp.SetUploadFiles(chromedp.CSS(`#dashboard input.uppy-Dashboard-input:not([webkitdirectory])`), []string{path}))

	// Kill ferry once a quarter is through, bring it back a moment later.
	deadline := time.Now().Add(20 * time.Second)
	var before uppyState
	for {
		s, err := readUppy(ctx)
		if err != nil {
			t.Fatalf("reading the page: %v", err)
		}
		if s.Complete != nil {
			t.Fatalf("the upload ended before ferry could be killed:\n%s", s)
		}
		if s.Progress >= 0.25 {
			before = s
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the upload did not reach 25%% in 20 s (at %.0f%%):\n%s", s.Progress*100, s)
		}
		time.Sleep(25 * time.Millisecond)
	}
	f.kill()
	time.Sleep(500 * time.Millisecond)
	f = startInstanceAt(t, addr, args...)

	var final uppyState
	deadline = time.Now().Add(45 * time.Second)
	for {
		s, err := readUppy(ctx)
		if err != nil {
			t.Fatalf("reading the page: %v", err)
		}
		if s.Complete != nil {
			final = s
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Uppy did not finish within 45 s of the restart (at %.0f%%):\n%s", s.Progress*100, s)
		}
		time.Sleep(100 * time.Millisecond)
	}
	shot(t, ctx)
	if len(final.Complete.Successful) != 1 || len(final.Complete.Failed) != 0 {
		t.Fatalf("Uppy finished with %v succeeded, %v failed:\n%s", final.Complete.Successful, final.Complete.Failed, final)
	}
	url := final.Complete.Successful[0]
	if !strings.HasPrefix(url, f.url+"/uploads/") {
		t.Errorf("upload URL %s is not under %s/uploads/", url, f.url)
	}

	// What ferry had reported before the kill must be there after it.
	var reported int64
	for _, r := range before.Responses {
		if r.Method == "PATCH" && r.Status/100 == 2 && r.Offset != nil {
			var off int64
			fmt.Sscan(*r.Offset, &off)
			reported = max(reported, off)
		}
	}
	resumedHead := false
	for _, r := range final.Responses[len(before.Responses):] {
		if r.Method == "HEAD" && r.Status/100 == 2 && r.Offset != nil {
			var off int64
			fmt.Sscan(*r.Offset, &off)
			resumedHead = true
			if off < reported {
				t.Errorf("after kill -9 HEAD said offset %d, but ferry had reported %d before:\n%s", off, reported, final)
			}
		}
	}
	if !resumedHead {
		t.Errorf("Uppy never asked for the offset after the restart:\n%s", final)
	}
	t.Logf("killed at %.0f%% (ferry had reported %d of %d bytes); Uppy resumed and finished:\n%s", before.Progress*100, reported, size, final)
	for _, r := range final.Responses {
		if r.Status >= 500 {
			t.Errorf("%s %s answered %d (Uppy retried):\n%s", r.Method, r.URL, r.Status, final)
			break
		}
	}
	id := idOf(url)
	checkDownload(t, f.url, id+"?token=tok", want)
	fi := getFileInfo(t, f.url, id+"?token=tok")
	// Over the IETF drafts Uppy sends the name only in Upload-Metadata,
	// which ferry reads there too when Content-Disposition says nothing.
	if fi.Name != "uppy-dashboard.bin" {
		t.Errorf("/api/files/%s over %s: name %q, want uppy-dashboard.bin (Uppy's metadata)", id, protocol, fi.Name)
	}
}

func waitJS(t *testing.T, ctx context.Context, what, expr string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		c, cancel := context.WithTimeout(ctx, 5*time.Second)
		ok, err := chromedp.Run(c, chromedp.Evaluate[bool](expr))
		cancel()
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s (last error %v)", what, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// shot saves a screenshot of the page into $FERRY_ARTIFACTS (default
// artifacts/interop/ at the repository's root).
func shot(t *testing.T, ctx context.Context) {
	dir := os.Getenv("FERRY_ARTIFACTS")
	if dir == "" {
		dir = filepath.Join("..", "..", "artifacts", "interop")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Logf("screenshot: %v", err)
		return
	}
	c, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	buf, err := chromedp.Run(c, chromedp.FullScreenshot(100)) // quality 100: PNG
	if err != nil {
		t.Logf("screenshot: %v", err)
		return
	}
	name := strings.NewReplacer("/", "_", " ", "_").Replace(t.Name()) + ".png"
	if err := os.WriteFile(filepath.Join(dir, name), buf, 0o644); err != nil {
		t.Logf("screenshot: %v", err)
	}
}
