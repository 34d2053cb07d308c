package download_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ferryhq/ferry/download"
	"github.com/ferryhq/ferry/storage"
	"github.com/ferryhq/ferry/storage/local"
)

// The tests in this file replay what a hostile client found (issue 9).

// TestInlineActive checks that active types (HTML, JavaScript, SVG, XML,
// PDF) are attachments unless Config.InlineActive says otherwise, for
// stored and sniffed types, for GET, HEAD and ?follow=1, and that the
// sandbox stays either way.
func TestInlineActive(t *testing.T) {
	html := []byte("<!DOCTYPE html><html><script>alert(1)</script></html>")
	files := []struct {
		name, mime string
		data       []byte
	}{
		{"page", "text/html", html},
		{"page-sniffed", "", html},
		{"a.pdf", "application/pdf", []byte("%PDF-1.4\n")},
		{"a-sniffed.pdf", "", []byte("%PDF-1.4\n")},
		{"x.svg", "image/svg+xml", []byte("<svg/>")},
		{"x.js", "text/javascript", []byte("alert(1)")},
		{"x.xml", "application/xml", []byte("<x/>")},
		{"x.xhtml", "application/xhtml+xml", []byte("<html/>")},
	}
	for _, inlineActive := range []bool{false, true} {
		env := newEnvConfig(t, local.Config{}, download.Config{InlineActive: inlineActive}, nil)
		want := "attachment"
		if inlineActive {
			want = "inline"
		}
		for _, f := range files {
			info := put(t, env.store, storage.Meta{Name: f.name, MIME: f.mime}, f.data)
			url := env.srv.URL + "/files/" + info.ID
			for _, q := range []string{"", "?follow=1"} {
				for _, method := range []string{http.MethodGet, http.MethodHead} {
					if q != "" && f.mime == "" {
						continue // a follow cannot sniff: octet-stream, an attachment
					}
					resp, _ := do(t, method, url+q, nil)
					cd := resp.Header.Get("Content-Disposition")
					if kind, _, _ := strings.Cut(cd, ";"); kind != want {
						t.Errorf("InlineActive %v, %s %s%s (%s): Content-Disposition %q, want %s",
							inlineActive, method, f.name, q, resp.Header.Get("Content-Type"), cd, want)
					}
					if got := resp.Header.Get("Content-Security-Policy"); got != "sandbox" {
						t.Errorf("InlineActive %v, %s %s%s: Content-Security-Policy %q, want sandbox", inlineActive, method, f.name, q, got)
					}
				}
			}
			// ?download=1 wins over InlineActive.
			resp, _ := do(t, http.MethodGet, url+"?download=1", nil)
			if cd := resp.Header.Get("Content-Disposition"); !strings.HasPrefix(cd, "attachment;") {
				t.Errorf("InlineActive %v, %s?download=1: Content-Disposition %q, want attachment", inlineActive, f.name, cd)
			}
		}
	}
}

// TestHostileNames sends stored names that are long, costly to encode or
// that name directories, through a real response. Names up to
// storage.MaxNameBytes are stored; longer ones, which storage refuses, are
// served as a record written earlier or elsewhere might hold them.
func TestHostileNames(t *testing.T) {
	raw := &rawMeta{}
	env := newEnv(t, func(b storage.Backend) storage.Backend { raw.Backend = b; return raw })
	tests := []struct{ name, wantDecoded string }{
		{`..\..\windows\win.ini`, ".._.._windows_win.ini"},
		{".", "_"},
		{"..", "__"},
		{strings.Repeat("🎉", (storage.MaxNameBytes-4)/4) + ".png", ""},
		{strings.Repeat(`"`, storage.MaxNameBytes-4) + ".txt", ""},
		{strings.Repeat("🎉", 20000) + ".png", ""},
		{strings.Repeat(`"`, 20000) + ".txt", ""},
	}
	for _, tt := range tests {
		meta := storage.Meta{Name: tt.name}
		var info storage.Info
		if meta.Validate() == nil {
			info = put(t, env.store, meta, []byte("x"))
		} else {
			info = raw.put(t, meta, []byte("x"))
		}
		resp, _ := do(t, http.MethodGet, env.srv.URL+"/files/"+info.ID, nil)
		cd := resp.Header.Get("Content-Disposition")
		if len(cd) > 2<<10 {
			t.Errorf("name of %d bytes: Content-Disposition of %d bytes, want at most 2 KiB", len(tt.name), len(cd))
		}
		_, params, err := mime.ParseMediaType(cd)
		if err != nil {
			t.Errorf("Content-Disposition %.80q… does not parse: %v", cd, err)
			continue
		}
		got := params["filename"]
		if tt.wantDecoded != "" && got != tt.wantDecoded {
			t.Errorf("name %q decoded as %q, want %q", tt.name, got, tt.wantDecoded)
		}
		if ext := tt.name[strings.LastIndexByte(tt.name, '.'):]; len(tt.name) > 1000 && !strings.HasSuffix(got, ext) {
			t.Errorf("a long name lost its extension %q", ext)
		}
		if strings.ContainsAny(got, `/\`) || got == "." || got == ".." {
			t.Errorf("name %q decoded as %q, which is not a plain file name", tt.name, got)
		}
	}
}

// TestIfRangeEmpty checks that an If-Range that matches nothing because it
// is empty or given twice answers 200 with the whole file, as any other
// non-matching If-Range does, where ServeContent alone answered 206.
func TestIfRangeEmpty(t *testing.T) {
	env := newEnv(t, nil)
	data := randomBytes(100, 11)
	info := put(t, env.store, storage.Meta{Name: "x.bin", MIME: "application/octet-stream"}, data)
	url := env.srv.URL + "/files/" + info.ID
	etag := `"` + info.SHA256 + `"`
	for _, tt := range []struct {
		name    string
		ifRange []string
		rng     string
	}{
		{"empty", []string{""}, "bytes=10-19"},
		{"empty, unsatisfiable range", []string{""}, "bytes=500-"},
		{"matching then empty", []string{etag, ""}, "bytes=10-19"},
		{"matching twice", []string{etag, etag}, "bytes=10-19"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest(http.MethodGet, url, nil)
			if err != nil {
				t.Fatal(err)
			}
			req.Header["Range"] = []string{tt.rng}
			req.Header["If-Range"] = tt.ifRange
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Fatal(err)
			}
			wantWhole(t, resp, body, data)
		})
	}
	// The matching If-Range alone still honours the Range.
	resp, body := do(t, http.MethodGet, url, map[string]string{"Range": "bytes=10-19", "If-Range": etag})
	if resp.StatusCode != http.StatusPartialContent {
		t.Fatalf("matching If-Range: status %d, want 206", resp.StatusCode)
	}
	wantBody(t, body, data[10:20])
}

// tryFollow starts GET ?follow=1 and returns the response, whatever its
// status; the caller closes its body.
func tryFollow(t *testing.T, ctx context.Context, url string) *http.Response {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url+"?follow=1", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// wantTooManyFollowers checks the 503 of a follow over a cap.
func wantTooManyFollowers(t *testing.T, resp *http.Response) {
	t.Helper()
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	wantError(t, resp, body, http.StatusServiceUnavailable, "too_many_followers")
	if got := resp.Header.Get("Retry-After"); got == "" || strings.Trim(got, "0123456789") != "" {
		t.Errorf("Retry-After %q, want a number of seconds", got)
	}
}

// TestFollowCaps checks the per-upload and total caps on followers, and
// that a follow that ends frees its place.
func TestFollowCaps(t *testing.T) {
	env := newEnvConfig(t, local.Config{}, download.Config{MaxFollowersPerUpload: 2, MaxFollowers: 3}, nil)
	ctx, cancel := context.WithTimeout(t.Context(), deadlockGuard)
	defer cancel()
	a := startUpload(t, env.store, storage.Meta{Name: "a.bin", Size: 100}, []byte("a"))
	b := startUpload(t, env.store, storage.Meta{Name: "b.bin", Size: 100}, []byte("b"))
	c := startUpload(t, env.store, storage.Meta{Name: "c.bin", Size: 100}, []byte("c"))
	urlOf := func(w storage.Writer) string { return env.srv.URL + "/files/" + w.ID() }

	a1Ctx, a1Cancel := context.WithCancel(ctx)
	a1 := openFollow(t, a1Ctx, urlOf(a))
	readN(t, a1.Body, []byte("a"))
	a2 := openFollow(t, ctx, urlOf(a))
	readN(t, a2.Body, []byte("a"))
	wantTooManyFollowers(t, tryFollow(t, ctx, urlOf(a))) // a's cap

	b1 := openFollow(t, ctx, urlOf(b))
	readN(t, b1.Body, []byte("b"))
	wantTooManyFollowers(t, tryFollow(t, ctx, urlOf(c))) // the total cap
	wantTooManyFollowers(t, tryFollow(t, ctx, urlOf(b)))

	// An unknown id is still a 404, not a 503.
	resp, body := do(t, http.MethodGet, env.srv.URL+"/files/00000000-0000-4000-8000-000000000000?follow=1", nil)
	wantError(t, resp, body, http.StatusNotFound, "not_found")

	// The first follower leaves: its place goes to the next one, once the
	// handler has seen it go.
	a1Cancel()
	for {
		resp := tryFollow(t, ctx, urlOf(c))
		if resp.StatusCode == http.StatusOK {
			readN(t, resp.Body, []byte("c"))
			resp.Body.Close()
			break
		}
		wantTooManyFollowers(t, resp)
		if ctx.Err() != nil {
			t.Fatal("a follower that left kept its place")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestFollowCapDefaults checks the default caps: 16 followers of one upload.
func TestFollowCapDefaults(t *testing.T) {
	env := newEnv(t, nil)
	ctx, cancel := context.WithTimeout(t.Context(), deadlockGuard)
	defer cancel()
	w := startUpload(t, env.store, storage.Meta{Name: "a.bin", Size: 100}, []byte("a"))
	url := env.srv.URL + "/files/" + w.ID()
	for range 16 {
		readN(t, openFollow(t, ctx, url).Body, []byte("a"))
	}
	wantTooManyFollowers(t, tryFollow(t, ctx, url))
	// The cap is per upload: another one is still served.
	other := put(t, env.store, storage.Meta{Name: "b.bin"}, []byte("b"))
	resp, body := do(t, http.MethodGet, env.srv.URL+"/files/"+other.ID+"?follow=1", nil)
	if resp.StatusCode != http.StatusOK || string(body) != "b" {
		t.Fatalf("follow of another file: %d %q", resp.StatusCode, body)
	}
}

// wantCut reads the rest of a follow stream and fails unless it ends
// without the terminating chunk within the deadlock guard.
func wantCut(t *testing.T, body io.Reader) {
	t.Helper()
	done := make(chan error, 1)
	go func() {
		_, err := io.Copy(io.Discard, body)
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil || errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("follow stream ended with %v, want it cut (no terminating chunk)", err)
		}
	case <-time.After(deadlockGuard):
		t.Fatal("follow of a stalled upload did not end")
	}
}

// fakeClock is a clock that moves only when the test says.
type fakeClock struct{ ns atomic.Int64 }

func newFakeClock() *fakeClock {
	c := &fakeClock{}
	c.ns.Store(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	return c
}

func (c *fakeClock) Now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *fakeClock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

// followEnv serves a handler configured by dc whose follows tell the time
// with clock; wrap is as for newEnvConfig.
func followEnv(t *testing.T, dc download.Config, clock *fakeClock, wrap func(storage.Backend) storage.Backend) *testEnv {
	t.Helper()
	store, err := local.New(local.Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	env := &testEnv{store: store, backend: store}
	if wrap != nil {
		env.backend = wrap(store)
	}
	dc.Backend = env.backend
	env.srv = newServerConfig(t, dc, func(h *download.Handler) { download.SetClock(h, clock.Now) })
	return env
}

// appendByte writes and checkpoints one byte of an upload, then reads it
// from the follow stream: once it arrives, the handler has seen the
// upload's offset move.
func appendByte(t *testing.T, ctx context.Context, w storage.Writer, follow io.Reader, b byte) {
	t.Helper()
	if _, err := w.Write([]byte{b}); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Checkpoint(ctx, nil); err != nil {
		t.Fatal(err)
	}
	readN(t, follow, []byte{b})
}

// TestFollowIdle checks that a follow of an upload that makes no progress
// for Config.FollowIdle ends, and that progress restarts the count, on a
// clock the test moves.
func TestFollowIdle(t *testing.T) {
	const idle = time.Minute
	clock := newFakeClock()
	env := followEnv(t, download.Config{FollowIdle: idle}, clock, nil)

	t.Run("stalled", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(t.Context(), deadlockGuard)
		defer cancel()
		w := startUpload(t, env.store, storage.Meta{Name: "a.bin", Size: 100}, []byte("a"))
		resp := openFollow(t, ctx, env.srv.URL+"/files/"+w.ID())
		readN(t, resp.Body, []byte("a"))
		// Just under the limit twice: progress in between keeps it going.
		clock.Advance(idle - time.Second)
		appendByte(t, ctx, w, resp.Body, 'b')
		clock.Advance(idle - time.Second)
		appendByte(t, ctx, w, resp.Body, 'c')
		clock.Advance(idle)
		wantCut(t, resp.Body)
	})
	t.Run("progressing", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(t.Context(), deadlockGuard)
		defer cancel()
		data := randomBytes(12, 12)
		w := startUpload(t, env.store, storage.Meta{Name: "b.bin", Size: int64(len(data))}, nil)
		resp := openFollow(t, ctx, env.srv.URL+"/files/"+w.ID())
		// A byte every three quarters of the limit: the upload lasts nine
		// limits but never stalls for one.
		for _, b := range data {
			clock.Advance(idle * 3 / 4)
			appendByte(t, ctx, w, resp.Body, b)
		}
		clock.Advance(idle * 3 / 4)
		if _, err := w.Commit(ctx, digest(data)); err != nil {
			t.Fatal(err)
		}
		rest, err := io.ReadAll(resp.Body)
		if err != nil || len(rest) != 0 {
			t.Fatalf("follow of a progressing upload: %d more bytes and %v, want a clean end", len(rest), err)
		}
	})
}

// expiringBackend reports every incomplete upload as expiring at a fixed
// time but never deletes it, like a store whose sweeper has not run yet.
type expiringBackend struct {
	storage.Backend
	at time.Time
}

func (b expiringBackend) Stat(ctx context.Context, id string) (storage.Info, error) {
	info, err := b.Backend.Stat(ctx, id)
	if err == nil && !info.Complete {
		info.ExpiresAt = b.at
	}
	return info, err
}

func (b expiringBackend) OpenPartial(ctx context.Context, id string) (io.ReadSeekCloser, error) {
	return b.Backend.(storage.PartialOpener).OpenPartial(ctx, id)
}

// TestFollowExpired checks that a follow ends once its upload is past its
// ExpiresAt even while the store still has it, whatever Config.FollowIdle.
func TestFollowExpired(t *testing.T) {
	const expiry = time.Hour
	clock := newFakeClock()
	env := followEnv(t, download.Config{FollowIdle: 100 * expiry}, clock, func(b storage.Backend) storage.Backend {
		return expiringBackend{Backend: b, at: clock.Now().Add(expiry)}
	})
	ctx, cancel := context.WithTimeout(t.Context(), deadlockGuard)
	defer cancel()
	w := startUpload(t, env.store, storage.Meta{Name: "a.bin", Size: 100}, nil)
	resp := openFollow(t, ctx, env.srv.URL+"/files/"+w.ID())
	clock.Advance(expiry)
	appendByte(t, ctx, w, resp.Body, 'a') // at ExpiresAt: still going
	clock.Advance(time.Second)
	wantCut(t, resp.Body)
}

// TestFollowCapConcurrent races many followers of one upload against the
// cap: while every stream that got in stays open, exactly the cap's worth
// get a stream and the rest 503.
func TestFollowCapConcurrent(t *testing.T) {
	const limit, clients = 4, 40
	env := newEnvConfig(t, local.Config{}, download.Config{MaxFollowersPerUpload: limit}, nil)
	ctx, cancel := context.WithTimeout(t.Context(), deadlockGuard)
	defer cancel()
	w := startUpload(t, env.store, storage.Meta{Name: "a.bin", Size: 100}, []byte("a"))
	url := env.srv.URL + "/files/" + w.ID() + "?follow=1"
	var (
		wg, answered sync.WaitGroup
		mu           sync.Mutex
		statuses     = map[int]int{}
	)
	answered.Add(clients)
	for range clients {
		wg.Go(func() {
			status := -1
			defer func() {
				mu.Lock()
				statuses[status]++
				mu.Unlock()
			}()
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				answered.Done()
				t.Error(err)
				return
			}
			defer resp.Body.Close()
			status = resp.StatusCode
			if status == http.StatusServiceUnavailable {
				var e map[string]string
				if err := json.NewDecoder(resp.Body).Decode(&e); err != nil || e["error"] != "too_many_followers" {
					t.Errorf("503 body %v (%v)", e, err)
				}
			}
			// Hold the stream open until every client has its answer.
			answered.Done()
			answered.Wait()
		})
	}
	wg.Wait()
	if statuses[http.StatusOK] != limit || statuses[http.StatusServiceUnavailable] != clients-limit {
		t.Fatalf("statuses %v, want %d × 200 and %d × 503", statuses, limit, clients-limit)
	}
}
