package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/ferryhq/ferry/client"
	"github.com/ferryhq/ferry/storage"
	"github.com/ferryhq/ferry/storage/local"
	"github.com/ferryhq/ferry/upload"
)

// uploadTestServer serves the real upload handler over a local backend. If
// gate is set, its listener stalls the first connection (see gateListener).
func uploadTestServer(t *testing.T, gate *gateListener) (*httptest.Server, *local.Backend) {
	t.Helper()
	backend, err := local.New(local.Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	h, err := upload.NewHandler(upload.Config{Backend: backend})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/ws/upload", h)
	srv := httptest.NewUnstartedServer(mux)
	if gate != nil {
		gate.Listener = srv.Listener
		gate.release = make(chan struct{})
		srv.Listener = gate
	}
	srv.Start()
	t.Cleanup(srv.Close)
	if gate != nil {
		t.Cleanup(gate.cut) // before srv.Close, which waits for the handler
	}
	return srv, backend
}

// gateListener's first connection stops delivering bytes to the server
// after limit, as a stalled network would, until cut makes it fail as a
// reset would.
type gateListener struct {
	net.Listener
	limit   int64
	once    sync.Once
	release chan struct{}
	cutOnce sync.Once
	stalled atomic.Bool // the gated connection has read its limit
}

func (l *gateListener) cut() { l.cutOnce.Do(func() { close(l.release) }) }

func (l *gateListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	gated := false
	l.once.Do(func() { gated = true })
	if !gated {
		return c, nil
	}
	return &gateConn{Conn: c, l: l}, nil
}

type gateConn struct {
	net.Conn
	l    *gateListener
	read int64 // only the server's reading goroutine touches it
}

func (c *gateConn) Read(p []byte) (int, error) {
	if c.read >= c.l.limit {
		c.l.stalled.Store(true)
		<-c.l.release
		return 0, net.ErrClosed
	}
	n, err := c.Conn.Read(p[:min(int64(len(p)), c.l.limit-c.read)])
	c.read += int64(n)
	return n, err
}

// uploadTestFile writes size deterministic bytes to a new file in dir.
func uploadTestFile(t *testing.T, dir, name string, size int) (string, []byte) {
	t.Helper()
	data := make([]byte, size)
	x := uint32(size) | 1
	for i := range data {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		data[i] = byte(x)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return path, data
}

// isolateUploadEnv points the resume state at a fresh directory and clears
// the environment defaults; it returns the state directory.
func isolateUploadEnv(t *testing.T) string {
	t.Helper()
	cache := t.TempDir()
	t.Setenv("XDG_CACHE_HOME", cache)
	t.Setenv("FERRY_SERVER", "")
	t.Setenv("FERRY_TOKEN", "")
	return filepath.Join(cache, "ferry", "uploads")
}

// stateFiles returns the resume states saved in dir.
func stateFiles(t *testing.T, dir string) []resumeState {
	t.Helper()
	names, _ := filepath.Glob(filepath.Join(dir, "*.json"))
	var out []resumeState
	for _, n := range names {
		b, err := os.ReadFile(n)
		if err != nil {
			t.Fatal(err)
		}
		var st resumeState
		if err := json.Unmarshal(b, &st); err != nil {
			t.Fatalf("state %s: %v", n, err)
		}
		out = append(out, st)
	}
	return out
}

// checkStored asserts that url names a completed file holding want.
func checkStored(t *testing.T, srvURL string, backend *local.Backend, url string, want []byte) string {
	t.Helper()
	id, ok := strings.CutPrefix(url, srvURL+"/files/")
	if !ok {
		t.Fatalf("URL %q is not %s/files/<id>", url, srvURL)
	}
	obj, err := backend.Open(context.Background(), id)
	if err != nil {
		t.Fatalf("Open(%s): %v", id, err)
	}
	defer obj.Close()
	got, err := io.ReadAll(obj)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("file %s holds %d bytes that differ from the %d uploaded", id, len(got), len(want))
	}
	return id
}

func TestUploadCommandTwoFiles(t *testing.T) {
	stateDir := isolateUploadEnv(t)
	srv, backend := uploadTestServer(t, nil)
	dir := t.TempDir()
	a, dataA := uploadTestFile(t, dir, "a.bin", 3<<20+11)
	b, dataB := uploadTestFile(t, dir, "b.txt", 0)
	t.Setenv("FERRY_SERVER", srv.URL) // the environment default is used...
	var stdout, stderr bytes.Buffer
	// ...and flags work between file names.
	if err := runUpload(context.Background(), []string{a, "--token", "", b}, &stdout, &stderr); err != nil {
		t.Fatalf("runUpload: %v\nstderr:\n%s", err, stderr.String())
	}
	lines := strings.Fields(stdout.String())
	if len(lines) != 2 {
		t.Fatalf("stdout %q, want two URLs", stdout.String())
	}
	checkStored(t, srv.URL, backend, lines[0], dataA)
	checkStored(t, srv.URL, backend, lines[1], dataB)
	if !strings.Contains(stderr.String(), "a.bin") {
		t.Errorf("stderr shows no progress bar for a.bin: %q", stderr.String())
	}
	if st := stateFiles(t, stateDir); len(st) != 0 {
		t.Errorf("resume states left after completion: %+v", st)
	}
}

func TestUploadCommandInterruptedThenResumed(t *testing.T) {
	stateDir := isolateUploadEnv(t)
	const size, gate = 8 << 20, 2 << 20
	gl := &gateListener{limit: gate}
	srv, backend := uploadTestServer(t, gl)
	path, data := uploadTestFile(t, t.TempDir(), "big.bin", size)
	args := []string{"--server", srv.URL, path}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	var stdout1, stderr1 bytes.Buffer
	go func() { done <- runUpload(ctx, args, &stdout1, &stderr1) }()

	// Interrupt once the upload is under way and stalled. The server makes
	// bytes durable only between messages, and the stall is in the middle
	// of one: what it received becomes durable when the connection drops.
	id := waitFor(t, done, func() (string, bool) {
		st := stateFiles(t, stateDir)
		if len(st) != 1 {
			return "", false
		}
		return st[0].ID, gl.stalled.Load()
	})
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted runUpload: %v, want context.Canceled", err)
	}
	if stdout1.Len() != 0 {
		t.Errorf("interrupted run printed %q", stdout1.String())
	}
	st := stateFiles(t, stateDir)
	if len(st) != 1 || st[0].ID != id || st[0].Size != size {
		t.Fatalf("resume state after the interrupt: %+v, want one for %s", st, id)
	}
	gl.cut() // the server notices the first connection is gone
	var info storage.Info
	deadline := time.Now().Add(10 * time.Second)
	for {
		var err error
		info, err = backend.Stat(context.Background(), id)
		if err == nil && info.Offset > 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if info.Offset == 0 || info.Complete {
		t.Fatalf("server state after the interrupt: %+v; want a partial upload", info)
	}

	var stdout2, stderr2 bytes.Buffer
	if err := runUpload(context.Background(), args, &stdout2, &stderr2); err != nil {
		t.Fatalf("second runUpload: %v\nstderr:\n%s", err, stderr2.String())
	}
	if got := checkStored(t, srv.URL, backend, strings.TrimSpace(stdout2.String()), data); got != id {
		t.Errorf("second run completed %s, want the saved upload %s resumed", got, id)
	}
	if st := stateFiles(t, stateDir); len(st) != 0 {
		t.Errorf("resume states left after completion: %+v", st)
	}
}

// waitFor polls cond until it holds, failing if run ends first or it takes
// far too long. It returns cond's value.
func waitFor(t *testing.T, run <-chan error, cond func() (string, bool)) string {
	t.Helper()
	deadline := time.After(20 * time.Second)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		if v, ok := cond(); ok {
			return v
		}
		select {
		case err := <-run:
			t.Fatalf("runUpload ended early: %v", err)
		case <-deadline:
			t.Fatal("condition not reached")
		case <-tick.C:
		}
	}
}

func TestUploadCommandStartsOverWhenServerForgot(t *testing.T) {
	stateDir := isolateUploadEnv(t)
	srv, backend := uploadTestServer(t, nil)
	path, data := uploadTestFile(t, t.TempDir(), "gone.bin", 100_000)
	abs, _ := filepath.Abs(path)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	stale := uuid.NewString()
	store, err := openResumeStore()
	if err != nil {
		t.Fatal(err)
	}
	st := resumeState{Server: srv.URL, Path: abs, Size: fi.Size(), ModTime: fi.ModTime(), ID: stale}
	if err := store.save(resumeKey(srv.URL, abs, fi.Size(), fi.ModTime()), st); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	if err := runUpload(context.Background(), []string{"--server", srv.URL + "/", path}, &stdout, &stderr); err != nil {
		t.Fatalf("runUpload: %v\nstderr:\n%s", err, stderr.String())
	}
	if id := checkStored(t, srv.URL, backend, strings.TrimSpace(stdout.String()), data); id == stale {
		t.Error("completed under the id the server did not know")
	}
	if left := stateFiles(t, stateDir); len(left) != 0 {
		t.Errorf("resume states left: %+v", left)
	}
}

func TestUploadCommandFailures(t *testing.T) {
	isolateUploadEnv(t)
	srv, backend := uploadTestServer(t, nil)
	dir := t.TempDir()
	good, data := uploadTestFile(t, dir, "good.bin", 5000)
	tests := []struct {
		name    string
		args    []string
		wantURL int // URLs expected on stdout
		wantErr string
	}{
		{"missing file among good ones", []string{"--server", srv.URL, filepath.Join(dir, "nope"), good}, 1, "no such file"},
		{"a directory", []string{"--server", srv.URL, dir}, 0, "not a regular file"},
		{"no files", []string{"--server", srv.URL}, 0, "no FILE"},
		{"server refuses", []string{"--server", srv.URL + "/nothing-here", good}, 0, "404"},
		{"bad flag", []string{"--bogus", good}, 0, "bogus"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			err := runUpload(context.Background(), tt.args, &stdout, &stderr)
			if err == nil || !strings.Contains(err.Error()+stderr.String(), tt.wantErr) {
				t.Fatalf("runUpload error %v (stderr %q), want one mentioning %q", err, stderr.String(), tt.wantErr)
			}
			urls := strings.Fields(stdout.String())
			if len(urls) != tt.wantURL {
				t.Fatalf("stdout %q, want %d URLs", stdout.String(), tt.wantURL)
			}
			for _, u := range urls {
				checkStored(t, srv.URL, backend, u, data)
			}
		})
	}
}

func TestUploadHelpDocumentsEveryFlag(t *testing.T) {
	var stderr bytes.Buffer
	err := runUpload(context.Background(), []string{"--help"}, io.Discard, &stderr)
	if !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("--help returned %v, want flag.ErrHelp", err)
	}
	for _, want := range []string{"-server", "FERRY_SERVER", "-token", "FERRY_TOKEN", "http://localhost:8080", "FILE..."} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("--help does not mention %q:\n%s", want, stderr.String())
		}
	}
}

func TestParseInterspersed(t *testing.T) {
	tests := []struct {
		args      []string
		wantFiles []string
		wantSrv   string
	}{
		{[]string{"a", "b"}, []string{"a", "b"}, "def"},
		{[]string{"--server", "s", "a"}, []string{"a"}, "s"},
		{[]string{"a", "--server=s", "b"}, []string{"a", "b"}, "s"},
		{[]string{"a", "--", "--server", "b"}, []string{"a", "--server", "b"}, "def"},
		{[]string{"-", "a"}, []string{"-", "a"}, "def"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			fs := flag.NewFlagSet("t", flag.ContinueOnError)
			srv := fs.String("server", "def", "")
			files, err := parseInterspersed(fs, tt.args)
			if err != nil {
				t.Fatal(err)
			}
			if strings.Join(files, "|") != strings.Join(tt.wantFiles, "|") || *srv != tt.wantSrv {
				t.Fatalf("files %q server %q, want %q and %q", files, *srv, tt.wantFiles, tt.wantSrv)
			}
		})
	}
}

func TestResumeStore(t *testing.T) {
	store := resumeStore{dir: t.TempDir()}
	mtime := time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)
	st := resumeState{Server: "http://s", Path: "/f", Size: 10, ModTime: mtime, ID: uuid.NewString()}
	key := resumeKey(st.Server, st.Path, st.Size, st.ModTime)
	if _, ok := store.load(key, st); ok {
		t.Fatal("load found a state before any save")
	}
	if err := store.save(key, st); err != nil {
		t.Fatal(err)
	}
	got, ok := store.load(key, st)
	if !ok || got.ID != st.ID {
		t.Fatalf("load = %+v, %v; want the saved state", got, ok)
	}
	other := st
	other.Size = 11
	if _, ok := store.load(key, other); ok {
		t.Error("load accepted a state saved for another file version")
	}
	for _, k := range []resumeState{
		{Server: "http://other", Path: st.Path, Size: st.Size, ModTime: mtime},
		{Server: st.Server, Path: "/g", Size: st.Size, ModTime: mtime},
		{Server: st.Server, Path: st.Path, Size: 11, ModTime: mtime},
		{Server: st.Server, Path: st.Path, Size: st.Size, ModTime: mtime.Add(time.Nanosecond)},
	} {
		if resumeKey(k.Server, k.Path, k.Size, k.ModTime) == key {
			t.Errorf("key of %+v collides with the original's", k)
		}
	}
	if err := store.remove(key); err != nil {
		t.Fatal(err)
	}
	if err := store.remove(key); err != nil {
		t.Errorf("removing a missing state: %v", err)
	}
	if entries, _ := os.ReadDir(store.dir); len(entries) != 0 {
		t.Errorf("files left in the store: %v", entries)
	}
}

func TestUploadBar(t *testing.T) {
	tests := []struct {
		name    string
		size    int64
		offsets []int64
		want    []string // in the output
		empty   bool     // no output at all
	}{
		{"fresh", 1000, []int64{0, 400, 1000}, []string{"f.bin", "100%"}, false},
		{"resumed", 1000, []int64{500, 800, 1000}, []string{"f.bin (resumed at 50%)", "500/500 B"}, false},
		{"empty file", 0, []int64{0}, nil, true},
		{"all durable already", 1000, []int64{1000}, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			b := newUploadBar(&out, "f.bin", tt.size)
			for _, off := range tt.offsets {
				b.progress(client.Progress{Offset: off, Received: off, Size: tt.size})
			}
			b.finish()
			if tt.empty != (out.Len() == 0) {
				t.Fatalf("output %q, want empty %v", out.String(), tt.empty)
			}
			for _, w := range tt.want {
				if !strings.Contains(out.String(), w) {
					t.Errorf("output %q does not contain %q", out.String(), w)
				}
			}
		})
	}
}
