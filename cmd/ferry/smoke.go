package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"strings"
	"time"

	"github.com/ferryhq/ferry/client"
)

// smokeConfig is what `ferry smoke` is told.
type smokeConfig struct {
	server, token string
	size          byteSize
}

// runSmoke checks a live deployment end to end, printing each step, and
// fails on the first step that does not behave as the contract says.
func runSmoke(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	c := smokeConfig{size: 12 << 20}
	fs := newFlagSet("smoke", stderr, `Usage: ferry smoke --server URL [--token T] [--size N]

Checks a live ferry deployment end to end: uploads a random file with a forced
reconnect in the middle, verifies the downloaded sha256, single and multiple
ranges, If-Range and a 416, then deletes the file. Prints each step; exits
non-zero on the first failure.
`)
	e := envFlags{fs}
	e.String(&c.server, "server", "http://localhost:8080", "base URL of the ferry server")
	e.String(&c.token, "token", "", "access token, when the server needs one")
	e.Var(&c.size, "size", "size of the random test file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if c.size < 200 {
		return errors.New("smoke: --size must be at least 200 bytes")
	}
	s := &smoke{cfg: c, out: stdout, http: &http.Client{Timeout: 2 * time.Minute}}
	s.server = strings.TrimRight(c.server, "/")
	if err := s.run(ctx); err != nil {
		fmt.Fprintf(stdout, "FAIL %v\n", err)
		return fmt.Errorf("smoke test failed: %w", err)
	}
	fmt.Fprintln(stdout, "PASS all checks")
	return nil
}

type smoke struct {
	cfg    smokeConfig
	server string
	out    io.Writer
	http   *http.Client
	data   []byte
	id     string
	etag   string
}

func (s *smoke) step(name string, fn func() error) error {
	start := time.Now()
	if err := fn(); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	fmt.Fprintf(s.out, "ok   %-44s %s\n", name, time.Since(start).Round(time.Millisecond))
	return nil
}

func (s *smoke) run(ctx context.Context) error {
	steps := []struct {
		name string
		fn   func() error
	}{
		{"server healthy (GET /healthz)", func() error { return s.health(ctx) }},
		{"upload with a forced reconnect", func() error { return s.upload(ctx) }},
		{"download whole file, sha256 matches", func() error { return s.whole(ctx) }},
		{"single range (bytes=0-99)", func() error { return s.single(ctx) }},
		{"multiple ranges (bytes=0-9,20-29)", func() error { return s.multi(ctx) }},
		{"If-Range honoured and refused", func() error { return s.ifRange(ctx) }},
		{"unsatisfiable range answers 416", func() error { return s.unsatisfiable(ctx) }},
		{"delete the file", func() error { return s.remove(ctx) }},
	}
	for _, st := range steps {
		if err := s.step(st.name, st.fn); err != nil {
			if s.id != "" && st.name != "delete the file" {
				_ = s.remove(context.WithoutCancel(ctx)) // leave nothing behind
			}
			return err
		}
	}
	return nil
}

func (s *smoke) request(ctx context.Context, method, path string, header map[string]string) (*http.Response, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, s.server+path, nil)
	if err != nil {
		return nil, nil, err
	}
	if s.cfg.token != "" {
		req.Header.Set("Authorization", "Bearer "+s.cfg.token)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := s.http.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp, body, err
}

func (s *smoke) health(ctx context.Context) error {
	resp, _, err := s.request(ctx, http.MethodGet, "/healthz", nil)
	if err != nil {
		return err
	}
	return wantStatus(resp, http.StatusOK)
}

func (s *smoke) upload(ctx context.Context) error {
	s.data = make([]byte, s.cfg.size)
	if _, err := rand.Read(s.data); err != nil {
		return err
	}
	sum := sha256.Sum256(s.data)
	opts := client.Options{
		Server: s.server,
		Token:  s.cfg.token,
		Name:   "ferry-smoke-" + time.Now().UTC().Format("20060102T150405") + ".bin",
		MIME:   "application/octet-stream",
		SHA256: hex.EncodeToString(sum[:]),
		OnID:   func(id string) { s.id = id },
	}
	// First connection: give up halfway, as a dropped connection would. A
	// small window keeps the rest of the file unsent when that happens, so the
	// cut lands mid-upload even on a fast network.
	half, cancel := context.WithCancel(ctx)
	defer cancel()
	opts.ChunkSize, opts.Window = 256<<10, 512<<10
	opts.Progress = func(p client.Progress) {
		if p.Received >= int64(len(s.data))/2 {
			cancel()
		}
	}
	_, err := client.Upload(half, bytes.NewReader(s.data), int64(len(s.data)), opts)
	if err == nil {
		return errors.New("the upload finished before the forced reconnect; use a larger --size")
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if s.id == "" {
		return fmt.Errorf("the server never answered ready: %w", err)
	}
	// Second connection: resume must continue from a durable offset > 0.
	var resumedAt int64 = -1
	opts.ResumeID = s.id
	opts.ChunkSize, opts.Window = 0, 0
	opts.Progress = func(p client.Progress) {
		if resumedAt < 0 {
			resumedAt = p.Offset
		}
	}
	res, err := client.Upload(ctx, bytes.NewReader(s.data), int64(len(s.data)), opts)
	if err != nil {
		return fmt.Errorf("resume: %w", err)
	}
	if resumedAt <= 0 {
		return fmt.Errorf("resume started at offset %d, want > 0", resumedAt)
	}
	if res.SHA256 != opts.SHA256 {
		return fmt.Errorf("server sha256 %s, want %s", res.SHA256, opts.SHA256)
	}
	fmt.Fprintf(s.out, "     uploaded %s (%d bytes), resumed at offset %d\n", s.id, len(s.data), resumedAt)
	return nil
}

func (s *smoke) path() string { return "/files/" + s.id }

func (s *smoke) whole(ctx context.Context) error {
	resp, body, err := s.request(ctx, http.MethodGet, s.path(), nil)
	if err != nil {
		return err
	}
	if err := wantStatus(resp, http.StatusOK); err != nil {
		return err
	}
	if !bytes.Equal(body, s.data) {
		got := sha256.Sum256(body)
		return fmt.Errorf("downloaded %d bytes with sha256 %x, want the %d uploaded", len(body), got, len(s.data))
	}
	if resp.Header.Get("Accept-Ranges") != "bytes" {
		return errors.New("no Accept-Ranges: bytes")
	}
	s.etag = resp.Header.Get("ETag")
	if !strings.HasPrefix(s.etag, `"`) {
		return fmt.Errorf("ETag %q is not a strong validator", s.etag)
	}
	return nil
}

func (s *smoke) single(ctx context.Context) error {
	resp, body, err := s.request(ctx, http.MethodGet, s.path(), map[string]string{"Range": "bytes=0-99"})
	if err != nil {
		return err
	}
	if err := wantStatus(resp, http.StatusPartialContent); err != nil {
		return err
	}
	if want := fmt.Sprintf("bytes 0-99/%d", len(s.data)); resp.Header.Get("Content-Range") != want {
		return fmt.Errorf("Content-Range %q, want %q", resp.Header.Get("Content-Range"), want)
	}
	if !bytes.Equal(body, s.data[:100]) {
		return errors.New("range bytes differ from the upload")
	}
	return nil
}

func (s *smoke) multi(ctx context.Context) error {
	resp, body, err := s.request(ctx, http.MethodGet, s.path(), map[string]string{"Range": "bytes=0-9,20-29"})
	if err != nil {
		return err
	}
	if err := wantStatus(resp, http.StatusPartialContent); err != nil {
		return err
	}
	mt, params, err := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/byteranges" {
		return fmt.Errorf("Content-Type %q, want multipart/byteranges", resp.Header.Get("Content-Type"))
	}
	mr := multipart.NewReader(bytes.NewReader(body), params["boundary"])
	for _, want := range [][2]int{{0, 9}, {20, 29}} {
		part, err := mr.NextPart()
		if err != nil {
			return fmt.Errorf("part %d-%d: %w", want[0], want[1], err)
		}
		got, _ := io.ReadAll(part)
		cr := fmt.Sprintf("bytes %d-%d/%d", want[0], want[1], len(s.data))
		if part.Header.Get("Content-Range") != cr || !bytes.Equal(got, s.data[want[0]:want[1]+1]) {
			return fmt.Errorf("part %q has the wrong bytes or Content-Range (want %q)", part.Header.Get("Content-Range"), cr)
		}
	}
	if _, err := mr.NextPart(); err != io.EOF {
		return errors.New("more parts than ranges")
	}
	return nil
}

func (s *smoke) ifRange(ctx context.Context) error {
	resp, _, err := s.request(ctx, http.MethodGet, s.path(), map[string]string{"Range": "bytes=0-9", "If-Range": s.etag})
	if err != nil {
		return err
	}
	if err := wantStatus(resp, http.StatusPartialContent); err != nil {
		return fmt.Errorf("matching If-Range: %w", err)
	}
	resp, body, err := s.request(ctx, http.MethodGet, s.path(), map[string]string{"Range": "bytes=0-9", "If-Range": `"stale"`})
	if err != nil {
		return err
	}
	if err := wantStatus(resp, http.StatusOK); err != nil {
		return fmt.Errorf("stale If-Range: %w", err)
	}
	if len(body) != len(s.data) {
		return fmt.Errorf("stale If-Range sent %d bytes, want the whole file", len(body))
	}
	return nil
}

func (s *smoke) unsatisfiable(ctx context.Context) error {
	resp, _, err := s.request(ctx, http.MethodGet, s.path(), map[string]string{"Range": fmt.Sprintf("bytes=%d-", len(s.data))})
	if err != nil {
		return err
	}
	if err := wantStatus(resp, http.StatusRequestedRangeNotSatisfiable); err != nil {
		return err
	}
	if want := fmt.Sprintf("bytes */%d", len(s.data)); resp.Header.Get("Content-Range") != want {
		return fmt.Errorf("Content-Range %q, want %q", resp.Header.Get("Content-Range"), want)
	}
	return nil
}

func (s *smoke) remove(ctx context.Context) error {
	resp, _, err := s.request(ctx, http.MethodDelete, "/api/files/"+s.id, nil)
	if err != nil {
		return err
	}
	if err := wantStatus(resp, http.StatusNoContent); err != nil {
		return err
	}
	resp, _, err = s.request(ctx, http.MethodGet, s.path(), nil)
	if err != nil {
		return err
	}
	return wantStatus(resp, http.StatusNotFound)
}

func wantStatus(resp *http.Response, want int) error {
	if resp.StatusCode != want {
		return fmt.Errorf("%s %s answered %s, want %d", resp.Request.Method, resp.Request.URL.Path, resp.Status, want)
	}
	return nil
}
