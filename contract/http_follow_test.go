package contract_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"slices"
	"testing"
	"time"
)

// stream reads a response body in the background.
type stream struct {
	resp   *http.Response
	chunks chan []byte
	done   chan error // the body's final read error (io.EOF: clean end)
	buf    []byte
}

func (s *server) follow(t *testing.T, id string) *stream {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.URL+"/files/"+id+"?follow=1", nil)
	if s.token != "" {
		req.Header.Set("Authorization", "Bearer "+s.token)
	}
	resp, err := (&http.Client{Transport: &http.Transport{}}).Do(req)
	if err != nil {
		cancel()
		t.Fatalf("GET ?follow=1: %v", err)
	}
	st := &stream{resp: resp, chunks: make(chan []byte, 1024), done: make(chan error, 1)}
	go func() {
		for {
			b := make([]byte, 32<<10)
			n, err := resp.Body.Read(b)
			if n > 0 {
				st.chunks <- b[:n]
			}
			if err != nil {
				close(st.chunks)
				st.done <- err
				return
			}
		}
	}()
	t.Cleanup(func() { cancel(); resp.Body.Close() })
	return st
}

// waitLen waits until n bytes have arrived.
func (st *stream) waitLen(t *testing.T, n int, d time.Duration) {
	t.Helper()
	timer := time.NewTimer(d)
	defer timer.Stop()
	for len(st.buf) < n {
		select {
		case b, ok := <-st.chunks:
			if !ok {
				t.Fatalf("follow stream ended after %d bytes, want %d", len(st.buf), n)
			}
			st.buf = append(st.buf, b...)
		case <-timer.C:
			t.Fatalf("follow stream has %d bytes after %v, want %d", len(st.buf), d, n)
		}
	}
}

// end waits for the stream's end and returns its final error.
func (st *stream) end(t *testing.T, d time.Duration) error {
	t.Helper()
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		select {
		case b, ok := <-st.chunks:
			if ok {
				st.buf = append(st.buf, b...)
				continue
			}
			return <-st.done
		case <-timer.C:
			t.Fatalf("follow stream did not end within %v (%d bytes so far)", d, len(st.buf))
		}
	}
}

func checkFollowHeaders(t *testing.T, resp *http.Response) {
	t.Helper()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("?follow=1: status %d, want 200", resp.StatusCode)
	}
	if resp.ContentLength != -1 || resp.Header.Get("Content-Length") != "" {
		t.Errorf("?follow=1: Content-Length %q, want none", resp.Header.Get("Content-Length"))
	}
	if !slices.Contains(resp.TransferEncoding, "chunked") {
		t.Errorf("?follow=1: Transfer-Encoding %v, want chunked", resp.TransferEncoding)
	}
	checkSandbox(t, "?follow=1", resp)
	if resp.Header.Get("X-Content-Type-Options") != "nosniff" {
		t.Errorf("?follow=1 without nosniff")
	}
}

// §2: "?follow=1 answers 200 with Transfer-Encoding: chunked (no
// Content-Length) and sends the upload's bytes as they become durable,
// flushing as it goes, and ends when the upload completes."
func TestFollowLiveUpload(t *testing.T) {
	t.Parallel()
	s := start(t, cfg{})
	body := data(300_000, 300)
	w := s.dial(t)
	id := w.startUpload("live.bin", int64(len(body)), nil)
	w.sendBin(body[:100_000])
	w.waitOffset(id, 100_000, 5*time.Second)

	st := s.follow(t, id)
	checkFollowHeaders(t, st.resp)
	st.waitLen(t, 100_000, 5*time.Second) // live: before any more is sent
	if !bytes.Equal(st.buf, body[:len(st.buf)]) {
		t.Fatalf("follow stream's first bytes differ from the upload")
	}
	w.sendBin(body[100_000:200_000])
	st.waitLen(t, 200_000, 5*time.Second)
	w.sendBin(body[200_000:])
	w.finish(id, body)
	if err := st.end(t, 10*time.Second); err != io.EOF {
		t.Errorf("follow stream of a completed upload ended with %v, want a clean end", err)
	}
	if !bytes.Equal(st.buf, body) {
		t.Errorf("follow stream carried %d bytes that are not the file (%d)", len(st.buf), len(body))
	}
}

// §2: follow "on a complete file ... sends the whole file the same way".
func TestFollowCompleteFile(t *testing.T) {
	t.Parallel()
	s := start(t, cfg{})
	body := data(70_000, 301)
	id := s.upload(t, "done.bin", "", body)
	st := s.follow(t, id)
	checkFollowHeaders(t, st.resp)
	if err := st.end(t, 10*time.Second); err != io.EOF {
		t.Errorf("follow of a complete file ended with %v, want a clean end", err)
	}
	if !bytes.Equal(st.buf, body) {
		t.Errorf("follow of a complete file: %d bytes, not the file", len(st.buf))
	}
}

// §2: follow "ends early, without a clean terminating chunk, if the upload
// is aborted, deleted or expires".
func TestFollowEndsUncleanOnAbortOrDelete(t *testing.T) {
	t.Parallel()
	s := start(t, cfg{})
	for _, tc := range []struct {
		name string
		kill func(t *testing.T, w *ws, id string)
	}{
		{"aborted", func(t *testing.T, w *ws, id string) {
			w.sendJSON(map[string]any{"type": "abort"})
			w.expect("aborted")
		}},
		{"deleted", func(t *testing.T, w *ws, id string) {
			resp, b := s.do(t, http.MethodDelete, "/api/files/"+id, nil)
			wantStatus(t, "DELETE", resp, b, http.StatusNoContent)
		}},
		{"deleted by checksum_mismatch", func(t *testing.T, w *ws, id string) {
			w.sendBin(data(90_000, 304))
			w.sendJSON(map[string]any{"type": "end"})
			w.expectError("checksum_mismatch", id, true)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			w := s.dial(t)
			id := w.startUpload("f.bin", 100_000, map[string]any{"sha256": sha([]byte("not this"))})
			w.sendBin(data(10_000, 302))
			w.waitOffset(id, 10_000, 5*time.Second)
			st := s.follow(t, id)
			checkFollowHeaders(t, st.resp)
			st.waitLen(t, 10_000, 5*time.Second)
			tc.kill(t, w, id)
			err := st.end(t, 10*time.Second)
			if err == nil || errors.Is(err, io.EOF) {
				t.Errorf("follow of an upload that was %s ended with %v, want an unclean end (no terminating chunk)", tc.name, err)
			}
		})
	}
}

// §2: follow of an unknown id is the usual 404.
func TestFollowUnknown(t *testing.T) {
	t.Parallel()
	s := start(t, cfg{})
	resp, b := s.get(t, "/files/3f2b8c1e-9a4d-4e2f-8b6a-1c2d3e4f5a6b?follow=1", nil)
	wantStatus(t, "follow unknown", resp, b, http.StatusNotFound)
	wantJSONError(t, "follow unknown", resp, b, "not_found")
	resp, b = s.get(t, "/files/not-a-uuid?follow=1", nil)
	wantStatus(t, "follow non-uuid", resp, b, http.StatusNotFound)
}

// §2 follow "flushing as it goes": the answer starts at once, even for an
// upload with no bytes yet, and bytes arrive as they become durable.
func TestFollowStartsBeforeAnyByte(t *testing.T) {
	t.Parallel()
	s := start(t, cfg{})
	w := s.dial(t)
	body := data(5000, 303)
	id := w.startUpload("empty-yet.bin", int64(len(body)), nil)
	began := time.Now()
	got := make(chan *stream, 1)
	go func() { got <- s.follow(t, id) }()
	var st *stream
	select {
	case st = <-got:
	case <-time.After(5 * time.Second):
		t.Fatalf("?follow=1 of an upload with no durable bytes sent no headers in 5s")
	}
	t.Logf("follow headers after %v", time.Since(began))
	checkFollowHeaders(t, st.resp)
	w.sendBin(body[:1000])
	st.waitLen(t, 1000, 5*time.Second)
	w.sendBin(body[1000:])
	w.finish(id, body)
	if err := st.end(t, 10*time.Second); err != io.EOF {
		t.Errorf("follow ended with %v, want a clean end", err)
	}
	if !bytes.Equal(st.buf, body) {
		t.Errorf("follow carried the wrong bytes")
	}
}
