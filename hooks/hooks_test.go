package hooks_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/ferryhq/ferry/events"
	"github.com/ferryhq/ferry/hooks"
	"github.com/ferryhq/ferry/storage"
	"github.com/ferryhq/ferry/storage/local"
)

// sink is a hook endpoint that records what it is sent; answer, when set,
// decides each response.
type sink struct {
	mu     sync.Mutex
	got    []hooks.Payload
	hdr    []http.Header
	answer func(w http.ResponseWriter, p hooks.Payload)
	srv    *httptest.Server
	secret []byte
	badSig int
}

func newSink(t *testing.T, secret string, answer func(http.ResponseWriter, hooks.Payload)) *sink {
	s := &sink{answer: answer, secret: []byte(secret)}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var p hooks.Payload
		if err := json.Unmarshal(body, &p); err != nil {
			t.Errorf("hook body %q: %v", body, err)
		}
		s.mu.Lock()
		if len(s.secret) > 0 && !hooks.Verify(s.secret, body, r.Header.Get(hooks.SignatureHeader)) {
			s.badSig++
		}
		s.got = append(s.got, p)
		s.hdr = append(s.hdr, r.Header.Clone())
		s.mu.Unlock()
		if s.answer != nil {
			s.answer(w, p)
		}
	}))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *sink) payloads() []hooks.Payload {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]hooks.Payload(nil), s.got...)
}

// wait waits until the sink has been sent n requests.
func (s *sink) wait(t *testing.T, n int) []hooks.Payload {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if got := s.payloads(); len(got) >= n {
			return got
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("the hook endpoint got %d requests, want %d: %+v", len(s.payloads()), n, s.payloads())
	return nil
}

func newHooks(t *testing.T, cfg hooks.Config) *hooks.Hooks {
	t.Helper()
	if cfg.Outbox == "" {
		cfg.Outbox = t.TempDir()
	}
	h, err := hooks.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestGate(t *testing.T) {
	meta := storage.Meta{Name: "a.bin", Size: 10, MIME: "application/octet-stream"}
	for _, tc := range []struct {
		name    string
		events  []string
		answer  func(w http.ResponseWriter, p hooks.Payload)
		want    storage.Meta
		refusal string // the message of a refusal
		fails   bool   // ErrUnavailable
		calls   int
	}{
		{name: "empty answer allows", answer: func(http.ResponseWriter, hooks.Payload) {}, want: meta, calls: 1},
		{name: "rename", answer: func(w http.ResponseWriter, p hooks.Payload) {
			_, _ = io.WriteString(w, `{"name":"b.txt","type":"text/plain"}`)
		}, want: storage.Meta{Name: "b.txt", Size: 10, MIME: "text/plain"}, calls: 1},
		{name: "refuse", answer: func(w http.ResponseWriter, p hooks.Payload) {
			_, _ = io.WriteString(w, `{"refuse":true,"message":"quota of `+p.Upload.Name+` reached"}`)
		}, refusal: "quota of a.bin reached", calls: 1},
		{name: "refuse without a message", answer: func(w http.ResponseWriter, p hooks.Payload) {
			_, _ = io.WriteString(w, `{"refuse":true}`)
		}, refusal: "the upload was refused", calls: 1},
		{name: "a 500 fails closed", answer: func(w http.ResponseWriter, p hooks.Payload) {
			http.Error(w, "down", http.StatusInternalServerError)
		}, fails: true, calls: 1},
		{name: "a 403 is not a refusal but a failure", answer: func(w http.ResponseWriter, p hooks.Payload) {
			http.Error(w, "no", http.StatusForbidden)
		}, fails: true, calls: 1},
		{name: "not JSON fails closed", answer: func(w http.ResponseWriter, p hooks.Payload) {
			_, _ = io.WriteString(w, "OK")
		}, fails: true, calls: 1},
		{name: "too slow fails closed", answer: func(w http.ResponseWriter, p hooks.Payload) {
			time.Sleep(300 * time.Millisecond)
		}, fails: true, calls: 1},
		{name: "pre-create not sent", events: []string{hooks.PostFinish}, answer: func(w http.ResponseWriter, p hooks.Payload) {
			http.Error(w, "down", http.StatusInternalServerError)
		}, want: meta, calls: 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newSink(t, "k", tc.answer)
			h := newHooks(t, hooks.Config{URL: s.srv.URL, Secret: []byte("k"), Events: tc.events, Timeout: 100 * time.Millisecond})
			id := storage.NewID()
			got, err := h.Gate(t.Context(), id, meta)
			var refused *storage.RefusedError
			switch {
			case tc.refusal != "":
				if !errors.As(err, &refused) || refused.Message != tc.refusal {
					t.Fatalf("Gate: %v; want the refusal %q", err, tc.refusal)
				}
			case tc.fails:
				if !errors.Is(err, hooks.ErrUnavailable) || errors.Is(err, storage.ErrRefused) {
					t.Fatalf("Gate: %v; want ErrUnavailable", err)
				}
			default:
				if err != nil || got != tc.want {
					t.Fatalf("Gate = %+v, %v; want %+v", got, err, tc.want)
				}
			}
			calls := s.payloads()
			if len(calls) != tc.calls {
				t.Fatalf("%d calls; want %d", len(calls), tc.calls)
			}
			if tc.calls > 0 {
				p := calls[0]
				if p.Type != hooks.PreCreate || p.Upload.ID != id || p.Upload.Name != "a.bin" || p.Upload.Size != 10 || s.badSig != 0 {
					t.Fatalf("pre-create payload %+v (bad signatures %d)", p, s.badSig)
				}
				if s.hdr[0].Get(hooks.HookHeader) != hooks.PreCreate || s.hdr[0].Get(hooks.IDHeader) != p.ID {
					t.Fatalf("headers %v", s.hdr[0])
				}
			}
		})
	}
}

func TestSignature(t *testing.T) {
	body := []byte(`{"id":"x"}`)
	// The documented recipe: hex HMAC-SHA256 of the body, after "sha256=".
	m := hmac.New(sha256.New, []byte("secret"))
	m.Write(body)
	want := "sha256=" + hex.EncodeToString(m.Sum(nil))
	got := hooks.Sign([]byte("secret"), body)
	if got != want {
		t.Fatalf("Sign = %q; want %q", got, want)
	}
	if !hooks.Verify([]byte("secret"), body, got) {
		t.Fatal("Verify refuses Sign's signature")
	}
	for _, bad := range []string{"", got[:len(got)-1] + "0", hooks.Sign([]byte("other"), body), hooks.Sign([]byte("secret"), []byte(`{"id":"y"}`))} {
		if bad != got && hooks.Verify([]byte("secret"), body, bad) {
			t.Fatalf("Verify accepts %q", bad)
		}
	}
}

func localStore(t *testing.T) storage.Backend {
	t.Helper()
	b, err := local.New(local.Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// finish writes data as a complete upload through b and returns its id.
func finish(t *testing.T, b storage.Backend, name string, data []byte) (string, string) {
	t.Helper()
	ctx := t.Context()
	id := storage.NewID()
	w, err := b.Create(ctx, id, storage.Meta{Name: name, Size: int64(len(data))})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if _, err := w.Write(data); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Checkpoint(ctx, nil); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	if _, err := w.Commit(ctx, hex.EncodeToString(sum[:])); err != nil {
		t.Fatal(err)
	}
	return id, hex.EncodeToString(sum[:])
}

func run(t *testing.T, h *hooks.Hooks, store hooks.Statter) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { h.Run(ctx, store); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
}

// TestDeliveryRetriesWithTheSameID: a receiver that fails gets the event
// again, with backoff, under the same ID, until it answers 2xx; then the
// outbox is empty.
func TestDeliveryRetriesWithTheSameID(t *testing.T) {
	var mu sync.Mutex
	fails := 3
	s := newSink(t, "k", func(w http.ResponseWriter, p hooks.Payload) {
		mu.Lock()
		defer mu.Unlock()
		if p.Type == hooks.PostFinish && fails > 0 {
			fails--
			http.Error(w, "busy", http.StatusServiceUnavailable)
		}
	})
	dir := t.TempDir()
	h := newHooks(t, hooks.Config{URL: s.srv.URL, Secret: []byte("k"), Outbox: dir, PublicURL: "https://f.example/",
		RetryMin: time.Millisecond, RetryMax: 20 * time.Millisecond})
	bus := events.NewBus()
	bus.Observe(h.Observe)
	store := events.Wrap(localStore(t), bus, h.Gate)
	id, sum := finish(t, store, "f.bin", []byte("finished"))
	// Observe ran inline: the event is in the outbox before Commit returned.
	if pending, _ := filepath.Glob(filepath.Join(dir, "pending", "*.json")); len(pending) != 1 {
		t.Fatalf("outbox holds %v after Commit; want the post-finish", pending)
	}
	run(t, h, store)
	got := s.wait(t, 1+4) // pre-create, then 3 failures and a success
	var finishes []hooks.Payload
	for _, p := range got {
		if p.Type == hooks.PostFinish {
			finishes = append(finishes, p)
		}
	}
	if len(finishes) != 4 || s.badSig != 0 {
		t.Fatalf("post-finish sent %d times (bad signatures %d); want 4", len(finishes), s.badSig)
	}
	for _, p := range finishes {
		if p.ID != finishes[0].ID || p.Upload.ID != id || p.Upload.SHA256 != sum || p.Upload.URL != "https://f.example/files/"+id ||
			p.Upload.Size != 8 || p.Upload.Name != "f.bin" {
			t.Fatalf("post-finish %+v", p)
		}
	}
	waitEmpty(t, dir)
}

func waitEmpty(t *testing.T, dir string) {
	t.Helper()
	for range 2000 {
		pending, _ := filepath.Glob(filepath.Join(dir, "pending", "*.json"))
		marks, _ := filepath.Glob(filepath.Join(dir, "uploads", "*"))
		if len(pending) == 0 && len(marks) == 0 {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatal("the outbox still holds events or markers after delivery")
}

// TestEveryHook: post-receive (throttled), post-terminate on a delete or an
// abort, post-expire on the sweep, each to the receiver.
func TestEveryHook(t *testing.T) {
	s := newSink(t, "", nil)
	dir := t.TempDir()
	h := newHooks(t, hooks.Config{URL: s.srv.URL, Outbox: dir, Progress: time.Hour, Events: []string{hooks.PostFinish, hooks.PostTerminate, hooks.PostExpire}})
	bus := events.NewBus()
	bus.Observe(h.Observe)
	store := events.Wrap(localStore(t), bus, h.Gate)
	ctx := t.Context()

	// Two checkpoints within the interval: one post-receive.
	id := storage.NewID()
	w, err := store.Create(ctx, id, storage.Meta{Name: "p", Size: 4})
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range []string{"ab", "cd"} {
		if _, err := w.Write([]byte(b)); err != nil {
			t.Fatal(err)
		}
		if _, err := w.Checkpoint(ctx, nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Abort(ctx); err != nil {
		t.Fatal(err)
	}
	done, _ := finish(t, store, "d", []byte("x"))
	if err := store.Delete(ctx, done); err != nil {
		t.Fatal(err)
	}
	idle := storage.NewID()
	w, err = store.Create(ctx, idle, storage.Meta{Name: "idle", Size: 9})
	if err != nil {
		t.Fatal(err)
	}
	w.Close()
	if n, err := store.DeleteExpired(ctx, time.Now().AddDate(1, 0, 0), nil); n != 1 || err != nil {
		t.Fatalf("DeleteExpired = %d, %v", n, err)
	}
	run(t, h, store)
	// The post-receive of the aborted upload is dropped by its end; the
	// others: terminate (abort), finish, terminate (delete), expire.
	got := s.wait(t, 4)
	time.Sleep(50 * time.Millisecond)
	kinds := map[string][]string{}
	for _, p := range s.payloads() {
		kinds[p.Upload.ID] = append(kinds[p.Upload.ID], p.Type)
	}
	want := map[string][]string{
		id:   {hooks.PostTerminate},
		done: {hooks.PostFinish, hooks.PostTerminate},
		idle: {hooks.PostExpire},
	}
	for u, k := range want {
		if len(kinds[u]) != len(k) {
			t.Fatalf("hooks %v; want %v (all: %+v)", kinds, want, got)
		}
	}
	waitEmpty(t, dir)

	// Progress goes out when it is sent before the upload ends.
	before := len(s.payloads())
	id2 := storage.NewID()
	w, err = store.Create(ctx, id2, storage.Meta{Name: "q", Size: 4})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	for _, b := range []string{"ab", "cd"} {
		if _, err := w.Write([]byte(b)); err != nil {
			t.Fatal(err)
		}
		if _, err := w.Checkpoint(ctx, nil); err != nil {
			t.Fatal(err)
		}
	}
	got = s.wait(t, before+1)
	last := got[len(got)-1]
	if last.Type != hooks.PostReceive || last.Upload.ID != id2 || last.Upload.Offset != 2 {
		t.Fatalf("post-receive %+v; want the first checkpoint's, the second throttled", last)
	}
	time.Sleep(50 * time.Millisecond)
	if n := len(s.payloads()); n != len(got) {
		t.Fatalf("a second post-receive within the interval was sent: %+v", s.payloads()[len(got):])
	}
}

// TestReconcileClosesTheCrashWindow: a process that died after the store's
// commit but before its outbox write left the upload's marker; the next
// one sends its post-finish, with the ID the lost event had, and one that
// died after a delete sends post-terminate.
func TestReconcileClosesTheCrashWindow(t *testing.T) {
	dir := t.TempDir()
	inner := localStore(t)
	// The first process: it writes the upload, its marker, and no event.
	first := newHooks(t, hooks.Config{URL: "http://127.0.0.1:1/", Outbox: dir})
	bus := events.NewBus()
	var lost []events.Event
	bus.Observe(func(e events.Event) {
		if e.Kind == events.Complete || e.Kind == events.Deleted {
			lost = append(lost, e) // the crash: Observe never sees it
			return
		}
		first.Observe(e)
	})
	store := events.Wrap(inner, bus, nil)
	id, sum := finish(t, store, "f", []byte("data"))
	gone, _ := finish(t, store, "g", []byte("gone"))
	if err := store.Delete(t.Context(), gone); err != nil {
		t.Fatal(err)
	}
	if len(lost) != 3 {
		t.Fatalf("events %v", lost)
	}

	// The normal path's post-finish, for its ID.
	s := newSink(t, "", nil)
	ref := newHooks(t, hooks.Config{URL: s.srv.URL})
	ref.Observe(lost[0])
	run(t, ref, inner)
	want := s.wait(t, 1)[0]

	second := newHooks(t, hooks.Config{URL: s.srv.URL, Outbox: dir})
	run(t, second, inner)
	got := s.wait(t, 3)[1:]
	byUpload := map[string]hooks.Payload{}
	for _, p := range got {
		byUpload[p.Upload.ID] = p
	}
	if p := byUpload[id]; p.Type != hooks.PostFinish || p.ID != want.ID || p.Upload.SHA256 != sum {
		t.Fatalf("reconciled %+v; want the post-finish %+v", p, want)
	}
	if p := byUpload[gone]; p.Type != hooks.PostTerminate {
		t.Fatalf("reconciled %+v; want a post-terminate", p)
	}
	waitEmpty(t, dir)
}

// TestReplayAfterRestart: what one process queued and could not deliver,
// the next delivers.
func TestReplayAfterRestart(t *testing.T) {
	dir := t.TempDir()
	first := newHooks(t, hooks.Config{URL: "http://127.0.0.1:1/", Outbox: dir})
	bus := events.NewBus()
	bus.Observe(first.Observe)
	store := events.Wrap(localStore(t), bus, nil)
	id, _ := finish(t, store, "f", []byte("data"))
	s := newSink(t, "", nil)
	second := newHooks(t, hooks.Config{URL: s.srv.URL, Outbox: dir})
	run(t, second, store)
	if p := s.wait(t, 1)[0]; p.Type != hooks.PostFinish || p.Upload.ID != id {
		t.Fatalf("replayed %+v", p)
	}
	waitEmpty(t, dir)
}

func TestNewRefusesBadConfig(t *testing.T) {
	for _, cfg := range []hooks.Config{
		{URL: "ftp://x"},
		{URL: "http://x", Events: []string{"post-receive"}},
		{URL: "http://x", Events: []string{"pre-creat"}},
		{URL: "http://x", PublicURL: "files.example.com"},
	} {
		cfg.Outbox = t.TempDir()
		if _, err := hooks.New(cfg); err == nil {
			t.Errorf("New(%+v) accepted it", cfg)
		}
	}
}

// TestUnreadableOutboxFileIsSetAside: a file in the outbox that is not an
// event is renamed *.bad and not sent, and the others still go.
func TestUnreadableOutboxFileIsSetAside(t *testing.T) {
	dir := t.TempDir()
	first := newHooks(t, hooks.Config{URL: "http://127.0.0.1:1/", Outbox: dir})
	bus := events.NewBus()
	bus.Observe(first.Observe)
	store := events.Wrap(localStore(t), bus, nil)
	id, _ := finish(t, store, "f", []byte("data"))
	bad := filepath.Join(dir, "pending", "00000000000000000001-x.json")
	if err := os.WriteFile(bad, []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	s := newSink(t, "", nil)
	run(t, newHooks(t, hooks.Config{URL: s.srv.URL, Outbox: dir}), store)
	if p := s.wait(t, 1)[0]; p.Upload.ID != id {
		t.Fatalf("sent %+v", p)
	}
	for range 2000 {
		if _, err := os.Stat(bad + ".bad"); err == nil {
			if len(s.payloads()) != 1 {
				t.Fatalf("sent %+v", s.payloads())
			}
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatal("the unreadable file was not set aside")
}
