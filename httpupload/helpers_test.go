package httpupload

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ferryhq/ferry/storage"
	"github.com/ferryhq/ferry/storage/local"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// testServer is a Handler over local storage behind a real listener.
type testServer struct {
	*httptest.Server
	h       *Handler
	backend storage.Backend
}

// newServer starts a Handler; mod may change its Config (Backend is a
// fresh local directory unless mod sets another).
func newServer(t *testing.T, mod func(*Config)) *testServer {
	t.Helper()
	b, err := local.New(local.Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{Backend: b, Logger: quiet, TakeoverWait: 5 * time.Second}
	if mod != nil {
		mod(&cfg)
	}
	h, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(h)
	t.Cleanup(ts.Close)
	return &testServer{Server: ts, h: h, backend: cfg.Backend}
}

type hdr map[string]string

// do sends one request and returns the answer with its body read.
func (s *testServer) do(t *testing.T, method, path string, h hdr, body io.Reader) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, s.URL+path, body)
	if err != nil {
		t.Fatal(err)
	}
	if b, ok := body.(*bytes.Reader); ok {
		req.ContentLength = int64(b.Len())
	}
	for k, v := range h {
		req.Header.Set(k, v)
	}
	resp, err := s.Client().Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func tusHdr(extra hdr) hdr {
	h := hdr{"Tus-Resumable": "1.0.0"}
	for k, v := range extra {
		h[k] = v
	}
	return h
}

// createTus makes an upload of size bytes over tus and returns its path.
func (s *testServer) createTus(t *testing.T, size int64, meta string) string {
	t.Helper()
	resp, body := s.do(t, "POST", "/uploads/", tusHdr(hdr{"Upload-Length": strconv.FormatInt(size, 10), "Upload-Metadata": meta}), nil)
	if resp.StatusCode != 201 {
		t.Fatalf("create: %d %s", resp.StatusCode, body)
	}
	return resp.Header.Get("Location")
}

// patchTus appends data at offset over tus and returns the answer.
func (s *testServer) patchTus(t *testing.T, loc string, offset int64, data []byte, extra hdr) *http.Response {
	t.Helper()
	h := tusHdr(hdr{"Upload-Offset": strconv.FormatInt(offset, 10), "Content-Type": "application/offset+octet-stream"})
	for k, v := range extra {
		h[k] = v
	}
	resp, _ := s.do(t, "PATCH", loc, h, bytes.NewReader(data))
	return resp
}

func (s *testServer) offset(t *testing.T, loc string) int64 {
	t.Helper()
	resp, body := s.do(t, "HEAD", loc, tusHdr(nil), nil)
	if resp.StatusCode != 200 {
		t.Fatalf("HEAD %s: %d %s", loc, resp.StatusCode, body)
	}
	n, err := strconv.ParseInt(resp.Header.Get("Upload-Offset"), 10, 64)
	if err != nil {
		t.Fatalf("HEAD %s: Upload-Offset %q", loc, resp.Header.Get("Upload-Offset"))
	}
	return n
}

// stored reads the completed file of upload loc from storage.
func (s *testServer) stored(t *testing.T, loc string) (storage.Info, []byte) {
	t.Helper()
	id := strings.TrimPrefix(loc, DefaultBasePath)
	obj, err := s.backend.Open(t.Context(), id)
	if err != nil {
		t.Fatalf("open %s: %v", id, err)
	}
	defer obj.Close()
	b, err := io.ReadAll(obj)
	if err != nil {
		t.Fatal(err)
	}
	return obj.Info(), b
}

func randomData(t *testing.T, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	rand.Read(b)
	return b
}

func sum(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }
