package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ferryhq/ferry/storage"
	"github.com/ferryhq/ferry/storage/local"
	"github.com/ferryhq/ferry/upload"
	"github.com/ferryhq/ferry/web"
)

// tusDo sends one tus request with a token and returns the response.
func tusDo(t *testing.T, method, url, token string, hdr map[string]string, body []byte) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(method, url, bytes.NewReader(body))
	req.Header.Set("Tus-Resumable", "1.0.0")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

// startTus starts a tus upload of size bytes and returns its id.
func startTus(t *testing.T, base, token string, size int) string {
	t.Helper()
	resp := tusDo(t, http.MethodPost, base+"/uploads/", token, map[string]string{"Upload-Length": strconv.Itoa(size)}, nil)
	loc := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusCreated || !strings.Contains(loc, "/uploads/") {
		t.Fatalf("tus POST: %s, Location %q", resp.Status, loc)
	}
	return loc[strings.LastIndex(loc, "/")+1:]
}

// appendTus appends data at off.
func appendTus(t *testing.T, base, token, id string, off int, data []byte) {
	t.Helper()
	resp := tusDo(t, http.MethodPatch, base+"/uploads/"+id, token, map[string]string{
		"Upload-Offset": strconv.Itoa(off), "Content-Type": "application/offset+octet-stream"}, data)
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("tus PATCH: %s", resp.Status)
	}
}

// waitRun is `ferry wait` running in the background.
type waitRun struct {
	stdout, stderr syncBuffer
	done           chan error
}

func startWait(ctx context.Context, args ...string) *waitRun {
	w := &waitRun{done: make(chan error, 1)}
	go func() { w.done <- runWait(ctx, args, &w.stdout, &w.stderr) }()
	return w
}

// result is what ferry wait returned.
func (w *waitRun) result(t *testing.T) error {
	t.Helper()
	select {
	case err := <-w.done:
		return err
	case <-time.After(60 * time.Second):
		t.Fatalf("ferry wait did not return; stderr:\n%s", w.stderr.String())
		return nil
	}
}

func TestWaitCommand(t *testing.T) {
	base := startServe(t, "--data", t.TempDir(), "--token", "full", "--read-token", "rd", "--upload-token", "up")
	ctx := t.Context()

	t.Run("already complete, given as a URL", func(t *testing.T) {
		id := putOverHTTP(t, base, "up", "a.txt", []byte("done already"))
		w := startWait(ctx, "--server", base, "--token", "rd", base+"/files/"+id)
		if err := w.result(t); err != nil {
			t.Fatalf("wait: %v\n%s", err, w.stderr.String())
		}
		if got := w.stdout.String(); got != base+"/files/"+id+"\n" {
			t.Fatalf("stdout %q", got)
		}
	})

	t.Run("two uploads finishing while waiting", func(t *testing.T) {
		a, b := startTus(t, base, "up", 10), startTus(t, base, "up", 4)
		appendTus(t, base, "up", a, 0, []byte("01234"))
		w := startWait(ctx, "--server", base, "--token", "rd", "--poll", "1h", a, b)
		// The stream is open once the waiter has read the state: finishing
		// before or after that must both be seen (the subscription is made
		// before the state is read).
		appendTus(t, base, "up", a, 5, []byte("56789"))
		select {
		case err := <-w.done:
			t.Fatalf("wait returned %v with %s still incomplete", err, b)
		case <-time.After(50 * time.Millisecond):
		}
		appendTus(t, base, "up", b, 0, []byte("abcd"))
		if err := w.result(t); err != nil {
			t.Fatalf("wait: %v\n%s", err, w.stderr.String())
		}
		if got := w.stdout.String(); got != base+"/files/"+a+"\n"+base+"/files/"+b+"\n" {
			t.Fatalf("stdout %q", got)
		}
		if strings.Contains(w.stderr.String(), "polling") {
			t.Fatalf("wait polled instead of following the stream:\n%s", w.stderr.String())
		}
	})

	t.Run("deleted while waiting", func(t *testing.T) {
		id := startTus(t, base, "up", 10)
		w := startWait(ctx, "--server", base, "--token", "rd", "--poll", "1h", id)
		// Deleting before the waiter reads the state is a 404 for it, after
		// it a deleted event: both fail the wait.
		tusDo(t, http.MethodDelete, base+"/uploads/"+id, "up", nil, nil)
		err := w.result(t)
		if err == nil || !strings.Contains(w.stderr.String(), id) || w.stdout.String() != "" {
			t.Fatalf("wait of a deleted upload: %v, stdout %q, stderr:\n%s", err, w.stdout.String(), w.stderr.String())
		}
	})

	t.Run("no such upload", func(t *testing.T) {
		id := storage.NewID()
		err := startWait(ctx, "--server", base, "--token", "rd", id).result(t)
		if err == nil || !strings.Contains(err.Error(), "no such upload") {
			t.Fatalf("wait for nothing: %v", err)
		}
	})

	t.Run("timeout", func(t *testing.T) {
		id := startTus(t, base, "up", 10)
		w := startWait(ctx, "--server", base, "--token", "rd", "--timeout", "300ms", id)
		err := w.result(t)
		if err == nil || !strings.Contains(err.Error(), "timed out") || !strings.Contains(err.Error(), id) {
			t.Fatalf("wait with a timeout: %v", err)
		}
	})

	t.Run("token refused", func(t *testing.T) {
		id := startTus(t, base, "up", 10)
		for token, want := range map[string]string{"up": "read scope", "": "needs a token"} {
			err := startWait(ctx, "--server", base, "--token", token, id).result(t)
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Fatalf("wait with token %q: %v; want %q", token, err, want)
			}
		}
	})

	t.Run("bad arguments", func(t *testing.T) {
		for _, args := range [][]string{{}, {"not-an-id"}, {"--poll", "0", storage.NewID()}} {
			if err := runWait(ctx, args, io.Discard, io.Discard); err == nil {
				t.Errorf("wait %q succeeded", args)
			}
		}
	})
}

// TestWaitPollsWithoutEventStream: against a server with no /api/events
// (an older ferry), ferry wait polls /api/files/<id>.
func TestWaitPollsWithoutEventStream(t *testing.T) {
	backend, err := local.New(local.Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := web.New(web.Config{Config: upload.Config{Backend: backend}})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	id := startTus(t, ts.URL, "", 3)
	w := startWait(t.Context(), "--server", ts.URL, "--poll", "20ms", id)
	for !strings.Contains(w.stderr.String(), "polling") {
		select {
		case err := <-w.done:
			t.Fatalf("wait returned %v before polling:\n%s", err, w.stderr.String())
		case <-time.After(10 * time.Millisecond):
		}
	}
	appendTus(t, ts.URL, "", id, 0, []byte("abc"))
	if err := w.result(t); err != nil {
		t.Fatalf("wait: %v\n%s", err, w.stderr.String())
	}
	if w.stdout.String() != ts.URL+"/files/"+id+"\n" {
		t.Fatalf("stdout %q", w.stdout.String())
	}
}

func TestWaitHelpDocumentsEveryFlag(t *testing.T) {
	var stderr bytes.Buffer
	if err := runWait(context.Background(), []string{"--help"}, io.Discard, &stderr); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("--help returned %v", err)
	}
	for _, want := range []string{"-server", "-token", "FERRY_TOKEN", "-timeout", "-poll", "/api/events", "ID..."} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("--help does not mention %q", want)
		}
	}
}

// TestUploadPrintsID: --print id prints the bare id, which ferry wait takes.
func TestUploadPrintsID(t *testing.T) {
	isolateUploadEnv(t)
	srv, backend := uploadTestServer(t, nil)
	path, data := uploadTestFile(t, t.TempDir(), "p.bin", 1000)
	var out bytes.Buffer
	if err := runUpload(t.Context(), []string{"--server", srv.URL, "--print", "id", path}, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	id := strings.TrimSpace(out.String())
	if !storage.ValidID(id) {
		t.Fatalf("--print id printed %q", out.String())
	}
	obj, err := backend.Open(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	defer obj.Close()
	got, _ := io.ReadAll(obj)
	if !bytes.Equal(got, data) {
		t.Fatal("the id printed is not the uploaded file's")
	}
	if err := runUpload(t.Context(), []string{"--server", srv.URL, "--print", "sha", path}, io.Discard, io.Discard); err == nil {
		t.Fatal("--print sha was accepted")
	}
}
