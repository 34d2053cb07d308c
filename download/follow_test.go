package download_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ferryhq/ferry/storage"
)

// deadlockGuard bounds a test that waits for bytes the server should send:
// if they never come the test fails instead of hanging. It is not a timing
// assertion; nothing here should take more than a fraction of it.
const deadlockGuard = 30 * time.Second

// openFollow starts GET ?follow=1 and checks the streaming headers.
func openFollow(t *testing.T, ctx context.Context, url string) *http.Response {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url+"?follow=1", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(resp.Body)
		t.Fatalf("status %d, want 200 (%s)", resp.StatusCode, body)
	}
	if resp.ContentLength != -1 || resp.Header.Get("Content-Length") != "" {
		t.Errorf("Content-Length %d, want none", resp.ContentLength)
	}
	if !slices.Equal(resp.TransferEncoding, []string{"chunked"}) {
		t.Errorf("Transfer-Encoding %q, want chunked", resp.TransferEncoding)
	}
	if got := resp.Header.Get("Content-Security-Policy"); got != "sandbox" {
		t.Errorf("Content-Security-Policy %q, want sandbox", got)
	}
	return resp
}

// readN reads exactly len(want) bytes and compares them.
func readN(t *testing.T, r io.Reader, want []byte) {
	t.Helper()
	got := make([]byte, len(want))
	if _, err := io.ReadFull(r, got); err != nil {
		t.Fatalf("reading %d bytes: %v", len(want), err)
	}
	wantBody(t, got, want)
}

func digest(p []byte) string {
	s := sha256.Sum256(p)
	return hex.EncodeToString(s[:])
}

// TestFollowLive has a writer append and checkpoint while several clients
// follow: each client gets every checkpointed chunk before the next one is
// written, and the stream ends cleanly at completion.
func TestFollowLive(t *testing.T) {
	env := newEnv(t, nil)
	data := randomBytes(300<<10, 7)
	chunks := [][]byte{data[:1], data[1 : 100<<10], data[100<<10 : 250<<10], data[250<<10:]}
	w := startUpload(t, env.store, storage.Meta{Name: "live.bin", Size: int64(len(data))}, nil)
	ctx, cancel := context.WithTimeout(t.Context(), deadlockGuard)
	defer cancel()

	const clients = 3
	var bodies []io.Reader
	for range clients {
		resp := openFollow(t, ctx, env.srv.URL+"/files/"+w.ID())
		bodies = append(bodies, resp.Body)
	}
	for _, chunk := range chunks {
		if _, err := w.Write(chunk); err != nil {
			t.Fatal(err)
		}
		if _, err := w.Checkpoint(ctx, nil); err != nil {
			t.Fatal(err)
		}
		// The upload is not complete yet: these bytes can only come from
		// the live stream.
		for _, b := range bodies {
			readN(t, b, chunk)
		}
	}
	if _, err := w.Commit(ctx, digest(data)); err != nil {
		t.Fatal(err)
	}
	for i, b := range bodies {
		rest, err := io.ReadAll(b)
		if err != nil || len(rest) != 0 {
			t.Fatalf("client %d: after completion got %d more bytes and %v, want a clean end", i, len(rest), err)
		}
	}
}

// TestFollowCommitUnseen checks that bytes which become durable only with
// the completion itself still reach the follower.
func TestFollowCommitUnseen(t *testing.T) {
	env := newEnv(t, nil)
	data := randomBytes(64<<10, 8)
	w := startUpload(t, env.store, storage.Meta{Name: "x.bin", Size: int64(len(data))}, data[:1000])
	ctx, cancel := context.WithTimeout(t.Context(), deadlockGuard)
	defer cancel()
	resp := openFollow(t, ctx, env.srv.URL+"/files/"+w.ID())
	readN(t, resp.Body, data[:1000])
	if _, err := w.Write(data[1000:]); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Checkpoint(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Commit(ctx, digest(data)); err != nil {
		t.Fatal(err)
	}
	rest, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	wantBody(t, rest, data[1000:])
}

// TestFollowEndsUncleanly checks that an upload deleted or aborted while it
// is followed ends the stream without the terminating chunk, so the client
// sees an error and not a complete file.
func TestFollowEndsUncleanly(t *testing.T) {
	tests := []struct {
		name string
		end  func(t *testing.T, store storage.Backend, w storage.Writer)
	}{
		{"deleted", func(t *testing.T, store storage.Backend, w storage.Writer) {
			if err := store.Delete(t.Context(), w.ID()); err != nil {
				t.Fatal(err)
			}
		}},
		{"aborted", func(t *testing.T, _ storage.Backend, w storage.Writer) {
			if err := w.Abort(t.Context()); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := newEnv(t, nil)
			data := randomBytes(10<<10, 9)
			w := startUpload(t, env.store, storage.Meta{Name: "x.bin", Size: 100 << 10}, data)
			ctx, cancel := context.WithTimeout(t.Context(), deadlockGuard)
			defer cancel()
			resp := openFollow(t, ctx, env.srv.URL+"/files/"+w.ID())
			readN(t, resp.Body, data)
			tt.end(t, env.store, w)
			rest, err := io.ReadAll(resp.Body)
			if !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Fatalf("after %s: %d more bytes and error %v, want io.ErrUnexpectedEOF", tt.name, len(rest), err)
			}
			if ctx.Err() != nil {
				t.Fatal("the stream did not end: deadlock guard hit")
			}
		})
	}
}

// TestFollowComplete follows files that are already complete: the whole
// file, chunked, with a clean end.
func TestFollowComplete(t *testing.T) {
	env := newEnv(t, nil)
	for _, size := range []int{0, 1, 100 << 10} {
		data := randomBytes(size, 10)
		info := put(t, env.store, storage.Meta{Name: "done.bin"}, data)
		resp := openFollow(t, t.Context(), env.srv.URL+"/files/"+info.ID)
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatalf("size %d: %v", size, err)
		}
		wantBody(t, body, data)
	}
}

// TestFollowEmptyUpload follows an empty upload until it completes.
func TestFollowEmptyUpload(t *testing.T) {
	env := newEnv(t, nil)
	w := startUpload(t, env.store, storage.Meta{Name: "empty", Size: 0}, nil)
	ctx, cancel := context.WithTimeout(t.Context(), deadlockGuard)
	defer cancel()
	resp := openFollow(t, ctx, env.srv.URL+"/files/"+w.ID())
	if _, err := w.Checkpoint(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Commit(ctx, digest(nil)); err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil || len(body) != 0 {
		t.Fatalf("got %d bytes and %v, want an empty clean body", len(body), err)
	}
}

// TestFollowWithoutPartialReads follows uploads whose bytes the backend
// cannot read before completion: one without a PartialOpener (an object
// store), and one whose OpenPartial answers errors.ErrUnsupported (S3 with
// HideParts). The headers come at once, the bytes when the upload
// completes, and the stream ends cleanly.
func TestFollowWithoutPartialReads(t *testing.T) {
	for _, tc := range []struct {
		name string
		wrap func(storage.Backend) storage.Backend
	}{
		{"no PartialOpener", func(b storage.Backend) storage.Backend { return objectStore{b} }},
		{"parts unreadable", func(b storage.Backend) storage.Backend { return hiddenParts{b} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := newEnv(t, tc.wrap)
			data := randomBytes(200<<10, 11)
			w := startUpload(t, env.store, storage.Meta{Name: "x.bin", Size: int64(len(data))}, data[:50<<10])
			ctx, cancel := context.WithTimeout(t.Context(), deadlockGuard)
			defer cancel()
			// Do returns once the headers are in, which must not wait for
			// the upload to complete (it only completes below).
			resp := openFollow(t, ctx, env.srv.URL+"/files/"+w.ID())
			if _, err := w.Write(data[50<<10:]); err != nil {
				t.Fatal(err)
			}
			if _, err := w.Checkpoint(ctx, nil); err != nil {
				t.Fatal(err)
			}
			if _, err := w.Commit(ctx, digest(data)); err != nil {
				t.Fatal(err)
			}
			body, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Fatal(err)
			}
			wantBody(t, body, data)
		})
	}
}

// TestFollowClientGone checks that a follow whose client disconnects stops:
// the server can shut down (httptest.Server.Close waits for every handler).
func TestFollowClientGone(t *testing.T) {
	env := newEnv(t, nil)
	w := startUpload(t, env.store, storage.Meta{Name: "x.bin", Size: 100}, []byte("0123456789"))
	ctx, cancel := context.WithCancel(t.Context())
	resp := openFollow(t, ctx, env.srv.URL+"/files/"+w.ID())
	readN(t, resp.Body, []byte("0123456789"))
	cancel()
	closed := make(chan struct{})
	go func() {
		env.srv.Close()
		close(closed)
	}()
	select {
	case <-closed:
	case <-time.After(deadlockGuard):
		t.Fatal("the follow handler kept running after its client left")
	}
}

// TestFollowOther covers the answers of ?follow=1 that are not a stream.
func TestFollowOther(t *testing.T) {
	env := newEnv(t, nil)
	w := startUpload(t, env.store, storage.Meta{Name: "page.html", Size: 10}, []byte("12345"))
	url := env.srv.URL + "/files/" + w.ID()

	t.Run("unknown id", func(t *testing.T) {
		resp, body := do(t, http.MethodGet, env.srv.URL+"/files/"+strings.Repeat("0", 8)+"-0000-4000-8000-"+strings.Repeat("0", 12)+"?follow=1", nil)
		wantError(t, resp, body, http.StatusNotFound, "not_found")
	})
	t.Run("HEAD", func(t *testing.T) {
		resp, body := do(t, http.MethodHead, url+"?follow=1", nil)
		if resp.StatusCode != http.StatusOK || len(body) != 0 {
			t.Fatalf("status %d with %d bytes, want 200 and no body", resp.StatusCode, len(body))
		}
		// No stored type, and no bytes to sniff: never the name's type.
		if got := resp.Header.Get("Content-Type"); got != "application/octet-stream" {
			t.Errorf("Content-Type %q, want application/octet-stream", got)
		}
		if got := resp.Header.Get("Content-Disposition"); !strings.HasPrefix(got, "attachment;") {
			t.Errorf("Content-Disposition %q, want attachment", got)
		}
	})
	t.Run("follow=0 is a plain download", func(t *testing.T) {
		resp, body := do(t, http.MethodGet, url+"?follow=0", nil)
		wantError(t, resp, body, http.StatusNotFound, "not_found")
	})
	t.Run("Range is ignored", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(t.Context(), deadlockGuard)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url+"?follow=1", nil)
		req.Header.Set("Range", "bytes=2-3")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("status %d, want 200", resp.StatusCode)
		}
		readN(t, resp.Body, []byte("12345"))
	})
}

// TestFollowConcurrentWithDownloads runs follows and range downloads of
// other files at once, for the race detector.
func TestFollowConcurrentWithDownloads(t *testing.T) {
	env := newEnv(t, nil)
	data := randomBytes(64<<10, 12)
	file := put(t, env.store, storage.Meta{Name: "f.bin"}, data)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			hdr := map[string]string{"Range": "bytes=0-9,100-199"}
			if i%2 == 0 {
				hdr = nil
			}
			req, _ := http.NewRequest(http.MethodGet, env.srv.URL+"/files/"+file.ID, nil)
			for k, v := range hdr {
				req.Header.Set(k, v)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			defer resp.Body.Close()
			if _, err := io.Copy(io.Discard, resp.Body); err != nil {
				t.Error(err)
			}
		})
		wg.Go(func() {
			resp, err := http.Get(env.srv.URL + "/files/" + file.ID + "?follow=1")
			if err != nil {
				t.Error(err)
				return
			}
			defer resp.Body.Close()
			body, err := io.ReadAll(resp.Body)
			if err != nil || string(body) != string(data) {
				t.Errorf("follow: %d bytes, %v", len(body), err)
			}
		})
	}
	wg.Wait()
}
