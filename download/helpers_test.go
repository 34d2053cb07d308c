package download_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/ferryhq/ferry/download"
	"github.com/ferryhq/ferry/internal/httperr"
	"github.com/ferryhq/ferry/storage"
	"github.com/ferryhq/ferry/storage/local"
)

// testEnv is a download.Handler behind a real HTTP server on 127.0.0.1.
type testEnv struct {
	store   *local.Backend  // the files
	backend storage.Backend // what the handler reads: store, or a wrapper of it
	srv     *httptest.Server
}

// newEnv serves the handler over a fresh local store. wrap, if not nil,
// puts a wrapper between the handler and the store.
func newEnv(t *testing.T, wrap func(storage.Backend) storage.Backend) *testEnv {
	t.Helper()
	return newEnvConfig(t, local.Config{}, download.Config{}, wrap)
}

// newEnvConfig is newEnv with a store configured by sc (its Dir is set
// here) and a handler configured by dc (its Backend, and when they are
// zero its FollowPoll and Logger, are set here).
func newEnvConfig(t *testing.T, sc local.Config, dc download.Config, wrap func(storage.Backend) storage.Backend) *testEnv {
	t.Helper()
	sc.Dir = t.TempDir()
	store, err := local.New(sc)
	if err != nil {
		t.Fatal(err)
	}
	env := &testEnv{store: store, backend: store}
	if wrap != nil {
		env.backend = wrap(store)
	}
	dc.Backend = env.backend
	env.srv = newServerConfig(t, dc)
	return env
}

// newServer serves a download.Handler over backend the way the web layer
// registers it.
func newServer(t *testing.T, backend storage.Backend) *httptest.Server {
	t.Helper()
	return newServerConfig(t, download.Config{Backend: backend})
}

// newServerConfig is newServer with a Config; a zero FollowPoll becomes a
// fast 2ms and a nil Logger discards. Each of opts is applied to the
// Handler before it serves.
func newServerConfig(t *testing.T, cfg download.Config, opts ...func(*download.Handler)) *httptest.Server {
	t.Helper()
	if cfg.FollowPoll == 0 {
		cfg.FollowPoll = 2 * time.Millisecond
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	logger := cfg.Logger
	h, err := download.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, opt := range opts {
		opt(h)
	}
	srv := httptest.NewServer(routes(h, logger))
	t.Cleanup(srv.Close)
	return srv
}

// routes serves h's handlers the way web's router does: GET and HEAD
// /files/{id}, GET /api/files and GET /api/files/{id}, where the id is one
// segment of the path as it came (escapes left in, like echo's :id) handed
// over as r.PathValue("id"); any other request is the JSON 404. Unlike
// http.ServeMux it neither cleans nor unescapes the path, so hostile ids
// reach the handler as web passes them.
func routes(h *download.Handler, logger *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		path := r.URL.RawPath
		if path == "" {
			path = r.URL.Path
		}
		get, head := r.Method == http.MethodGet, r.Method == http.MethodHead
		file, isFile := strings.CutPrefix(path, "/files/")
		info, isInfo := strings.CutPrefix(path, "/api/files/")
		switch {
		case isFile && (get || head) && !strings.Contains(file, "/"):
			r.SetPathValue("id", file)
			h.File(w, r)
		case path == "/api/files" && get:
			h.ListFiles(w, r)
		case isInfo && get && !strings.Contains(info, "/"):
			r.SetPathValue("id", info)
			h.FileInfo(w, r)
		default:
			httperr.Write(w, r, httperr.ErrNotFound, logger)
		}
	})
}

// put stores data as a completed file and returns its Info.
func put(t testing.TB, b storage.Backend, meta storage.Meta, data []byte) storage.Info {
	t.Helper()
	ctx := context.Background()
	meta.Size = int64(len(data))
	w, err := b.Create(ctx, uuid.NewString(), meta)
	if err != nil {
		t.Fatal(err)
	}
	for p := data; len(p) > 0; {
		n := min(len(p), 1<<20)
		if _, err := w.Write(p[:n]); err != nil {
			t.Fatal(err)
		}
		p = p[n:]
	}
	if _, err := w.Checkpoint(ctx, nil); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	info, err := w.Commit(ctx, hex.EncodeToString(sum[:]))
	if err != nil {
		t.Fatal(err)
	}
	return info
}

// startUpload creates an upload, writes and checkpoints data (which may be
// empty) and returns its open Writer; the test closes it.
func startUpload(t *testing.T, b storage.Backend, meta storage.Meta, data []byte) storage.Writer {
	t.Helper()
	ctx := context.Background()
	w, err := b.Create(ctx, uuid.NewString(), meta)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	if len(data) > 0 {
		if _, err := w.Write(data); err != nil {
			t.Fatal(err)
		}
		if _, err := w.Checkpoint(ctx, nil); err != nil {
			t.Fatal(err)
		}
	}
	return w
}

// randomBytes returns n reproducible pseudo-random bytes.
func randomBytes(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, seed))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// do sends a request with the given headers and returns the response and
// its whole body.
func do(t *testing.T, method, url string, header map[string]string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading body: %v", method, url, err)
	}
	return resp, body
}

// wantError checks that a response is the contract's JSON error answer.
func wantError(t *testing.T, resp *http.Response, body []byte, status int, code string) {
	t.Helper()
	if resp.StatusCode != status {
		t.Fatalf("status %d, want %d (body %q)", resp.StatusCode, status, body)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type %q, want application/json", ct)
	}
	var got map[string]string
	if err := json.Unmarshal(body, &got); err != nil || got["error"] != code || len(got) != 1 {
		t.Errorf("body %q, want {\"error\":%q}", body, code)
	}
	for _, h := range []string{"Etag", "Last-Modified", "Content-Disposition", "Accept-Ranges"} {
		if v := resp.Header.Get(h); v != "" {
			t.Errorf("error response carries %s: %q", h, v)
		}
	}
}

// wantBody fails unless got equals want, reporting only sizes for big ones.
func wantBody(t *testing.T, got, want []byte) {
	t.Helper()
	if !bytes.Equal(got, want) {
		if len(got) > 64 || len(want) > 64 {
			t.Fatalf("body: got %d bytes, want %d bytes (different)", len(got), len(want))
		}
		t.Fatalf("body: got %q, want %q", got, want)
	}
}
