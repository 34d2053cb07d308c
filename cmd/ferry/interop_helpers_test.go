package main

// Shared helpers of the interop tests (interop_*_test.go): ferry processes on
// a fixed address that can be killed and brought back on the same data, and
// the third-party clients in testdata/interop (tus-js-client, Uppy), which
// `make interop-deps` installs with `npm ci`.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// interopDir is testdata/interop, relative to this package's directory (go
// test runs in it).
const interopDir = "../../testdata/interop"

// needInterop skips (fails under CI=true) when node or the installed
// clients are missing, and returns the path of node.
func needInterop(t *testing.T) string {
	t.Helper()
	missing := func(msg string) {
		msg += " (make interop-deps installs the clients: npm ci --prefix testdata/interop)"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		missing("interop tests need node: " + err.Error())
	}
	for _, p := range []string{"tus-js-client/package.json", "uppy/dist/uppy.min.mjs"} {
		if _, err := os.Stat(filepath.Join(interopDir, "node_modules", p)); err != nil {
			missing("interop tests need " + p + ": " + err.Error())
		}
	}
	return node
}

// startInstanceAt is startInstance on a given address, so that a test can
// kill -9 a ferry and start another on the same address and data, where the
// clients' upload URLs still point.
//
// With FERRY_INTEROP_AGAINST=tusd it starts the reference tus server
// (.tools/bin/tusd, `make tusd`) instead, with the same data directory and
// allowed origin, so the tests show what tusd does with the same clients.
func startInstanceAt(t *testing.T, addr string, args ...string) *instance {
	t.Helper()
	if againstTusd() {
		in := launch(t, addr, tusdCommand(t, addr, args))
		waitTusd(t, in)
		return in
	}
	in := launch(t, addr, ferryCommand(addr, args))
	waitHealthy(t, in.url, in.done, in.logs)
	return in
}

// ---- the same tests against tusd ------------------------------------------

func againstTusd() bool { return os.Getenv("FERRY_INTEROP_AGAINST") == "tusd" }

// tusdDirs maps a tusd's base URL to its upload directory, where the tests
// read what ferry would serve at /files/<id> and /api/files/<id>.
var tusdDirs sync.Map

func tusdCommand(t *testing.T, addr string, args []string) *exec.Cmd {
	t.Helper()
	bin, _ := filepath.Abs("../../.tools/bin/tusd")
	if _, err := os.Stat(bin); err != nil {
		t.Skipf("FERRY_INTEROP_AGAINST=tusd: %v (make tusd)", err)
	}
	host, port, _ := strings.Cut(addr, ":")
	targs := []string{"-host", host, "-port", port, "-base-path", "/uploads/", "-enable-experimental-protocol"}
	for i := 0; i+1 < len(args); i++ {
		switch args[i] {
		case "--data":
			targs = append(targs, "-upload-dir", args[i+1])
			tusdDirs.Store("http://"+addr, args[i+1])
		case "--allowed-origins":
			targs = append(targs, "-cors-allow-origin", "^"+regexp.QuoteMeta(args[i+1])+"$")
		case "--storage":
			t.Skip("FERRY_INTEROP_AGAINST=tusd: only local storage")
		}
	}
	return exec.Command(bin, targs...)
}

func waitTusd(t *testing.T, in *instance) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		req, _ := http.NewRequest(http.MethodOptions, in.url+"/uploads/", nil)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("tusd never answered:\n%s", in.logs.String())
}

// tusdStored reads what tusd stored for id: the bytes and its .info file's
// metadata.
func tusdStored(t *testing.T, base, id string) ([]byte, fileInfo) {
	t.Helper()
	dir, ok := tusdDirs.Load(base)
	if !ok {
		t.Fatalf("no tusd at %s", base)
	}
	data, err := os.ReadFile(filepath.Join(dir.(string), id))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(dir.(string), id+".info"))
	if err != nil {
		t.Fatal(err)
	}
	var info struct {
		ID       string
		Size     int64
		Offset   int64
		MetaData map[string]string
	}
	if err := json.Unmarshal(raw, &info); err != nil {
		t.Fatal(err)
	}
	name, typ := info.MetaData["filename"], info.MetaData["filetype"]
	return data, fileInfo{ID: id, Name: name, MIME: typ, Size: info.Size, Offset: int64(len(data)), Complete: int64(len(data)) == info.Size}
}

// writeRandomFile writes n random bytes into a file of the test's and
// returns the path and the bytes.
func writeRandomFile(t *testing.T, name string, n int) (string, []byte) {
	t.Helper()
	data, _ := randomBytes(t, n)
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p, data
}

// clientEvent is one JSON line of testdata/interop/upload.mjs.
type clientEvent struct {
	Event    string            `json:"event"`
	URL      string            `json:"url"`
	Method   string            `json:"method"`
	Status   int               `json:"status"`
	Headers  map[string]string `json:"headers"`
	Offset   int64             `json:"offset"`
	Accepted int64             `json:"accepted"`
	Sent     int64             `json:"sent"`
	Total    int64             `json:"total"`
	Message  string            `json:"message"`
	Body     string            `json:"body"`
	MS       int64             `json:"ms"` // since the client started
}

// clientRun is what one run of upload.mjs printed.
type clientRun struct {
	events []clientEvent
	output string // stdout and stderr as they came, for failure messages
	err    error  // the process's exit error
}

// last returns the last event of the kind, or nil.
func (r *clientRun) last(kind string) *clientEvent {
	for i := len(r.events) - 1; i >= 0; i-- {
		if r.events[i].Event == kind {
			return &r.events[i]
		}
	}
	return nil
}

// responses returns the responses the client saw, as "METHOD status" lines
// with the interesting headers, for failure messages.
func (r *clientRun) exchanges() string {
	var b strings.Builder
	for _, e := range r.events {
		switch e.Event {
		case "request":
			fmt.Fprintf(&b, "  %6dms > %s %s %v\n", e.MS, e.Method, e.URL, e.Headers)
		case "response":
			fmt.Fprintf(&b, "  %6dms < %s %s: %d %v\n", e.MS, e.Method, e.URL, e.Status, e.Headers)
		case "error", "aborted", "success":
			fmt.Fprintf(&b, "  %6dms = %s %s %s %d\n", e.MS, e.Event, e.Message, e.Body, e.Offset)
		}
	}
	return b.String()
}

// runUploader runs testdata/interop/upload.mjs with flags and waits for it,
// up to timeout.
func runUploader(t *testing.T, node string, timeout time.Duration, flags ...string) *clientRun {
	t.Helper()
	return watchUploader(t, node, timeout, nil, flags...)
}

// watchUploader is runUploader calling onEvent (when not nil) with each
// event as it is printed.
func watchUploader(t *testing.T, node string, timeout time.Duration, onEvent func(clientEvent), flags ...string) *clientRun {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, append([]string{filepath.Join(interopDir, "upload.mjs"), "--log-requests"}, flags...)...)
	// Only the flags count: no INTEROP_* defaults from the environment.
	cmd.Env = slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, "INTEROP_") })
	var out syncBuffer
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	run := &clientRun{}
	sc := bufio.NewScanner(stdout)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Bytes()
		out.Write(append(append([]byte(nil), line...), '\n'))
		var e clientEvent
		if json.Unmarshal(line, &e) == nil {
			run.events = append(run.events, e)
			if onEvent != nil {
				onEvent(e)
			}
		}
	}
	run.err = cmd.Wait()
	if ctx.Err() != nil {
		run.err = fmt.Errorf("tus-js-client did not finish within %s: %w", timeout, ctx.Err())
	}
	run.output = out.String()
	return run
}

// fileInfo is GET /api/files/<id>.
type fileInfo struct {
	ID       string `json:"id"`
	Name     string `json:"name"`
	Size     int64  `json:"size"`
	MIME     string `json:"mime"`
	SHA256   string `json:"sha256"`
	Complete bool   `json:"complete"`
	Offset   int64  `json:"offset"`
}

func getFileInfo(t *testing.T, base, id string) fileInfo {
	t.Helper()
	if againstTusd() {
		_, fi := tusdStored(t, base, id)
		return fi
	}
	resp, err := http.Get(base + "/api/files/" + id)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("GET /api/files/%s: %s %s", id, resp.Status, body)
	}
	var fi fileInfo
	if err := json.Unmarshal(body, &fi); err != nil {
		t.Fatalf("GET /api/files/%s: %v in %s", id, err, body)
	}
	return fi
}

// listedIDs returns the ids GET /api/files lists (the newest page).
func listedIDs(t *testing.T, base string) []string {
	t.Helper()
	if againstTusd() {
		return nil
	}
	resp, err := http.Get(base + "/api/files?limit=100")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var list struct {
		Files []fileInfo `json:"files"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&list); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, f := range list.Files {
		ids = append(ids, f.ID)
	}
	return ids
}

// idOf is the last path segment of an upload URL (/uploads/<id>).
func idOf(uploadURL string) string {
	return uploadURL[strings.LastIndex(strings.TrimSuffix(uploadURL, "/"), "/")+1:]
}

// checkDownload compares GET /files/<id> with want, byte for byte.
func checkDownload(t *testing.T, base, id string, want []byte) {
	t.Helper()
	var got []byte
	if againstTusd() {
		got, _ = tusdStored(t, base, id)
	} else {
		got = download(t, base+"/files/"+id)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("GET /files/%s: %d bytes that differ from the %d uploaded (first difference at %d)",
			id, len(got), len(want), firstDiff(got, want))
	}
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}
