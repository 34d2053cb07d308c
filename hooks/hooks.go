package hooks

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/ferryhq/ferry/events"
	"github.com/ferryhq/ferry/storage"
)

// Defaults of Config's zero fields.
const (
	// DefaultTimeout bounds one hook request: a pre-create hook that has
	// not answered by then refuses the upload (as unavailable), a post-*
	// request is retried.
	DefaultTimeout = 5 * time.Second
	// DefaultRetryMin is the wait after a first failed delivery; each
	// further failure doubles it, up to DefaultRetryMax.
	DefaultRetryMin = time.Second
	DefaultRetryMax = 5 * time.Minute
	// ReconcileEvery is how often marked uploads are looked up again.
	ReconcileEvery = 10 * time.Minute
	// maxInFlight is how many deliveries go at once.
	maxInFlight = 4
	// maxMessage is the longest refusal message passed on to a client.
	maxMessage = 1024
)

// Config says where hooks go and which.
type Config struct {
	// URL receives every hook as a POST.
	URL string
	// Secret, when set, signs every request (SignatureHeader).
	Secret []byte
	// Events lists the hooks sent among PreCreate, PostFinish,
	// PostTerminate and PostExpire; nil: all four.
	Events []string
	// Progress, when positive, sends post-receive for an upload at most
	// once per Progress while its durable bytes advance. Zero: never.
	Progress time.Duration
	// PublicURL, when set (e.g. https://files.example.com), makes the
	// download URL in payloads absolute.
	PublicURL string
	// Outbox is the directory of the on-disk outbox. It belongs to one
	// process: instances sharing S3 each need their own.
	Outbox string
	// Timeout bounds each request (DefaultTimeout).
	Timeout time.Duration
	// RetryMin and RetryMax bound the backoff between attempts
	// (DefaultRetryMin, DefaultRetryMax).
	RetryMin, RetryMax time.Duration
	// Client sends the requests (http.DefaultClient's transport).
	Client *http.Client
	// Logger gets failed deliveries (slog.Default()).
	Logger *slog.Logger
}

// Statter looks an upload up; Run reconciles marked uploads with it.
type Statter interface {
	Stat(ctx context.Context, id string) (storage.Info, error)
}

// Hooks sends the hooks of one ferry process. Make one with New; give
// Gate to events.Wrap, Observe to the Bus, and run Run.
type Hooks struct {
	cfg     Config
	enabled map[string]bool
	box     *outbox
	client  *http.Client
	log     *slog.Logger

	mu       sync.Mutex
	queue    map[string]*delivery // by key: outbox file name, or progress-<upload id>
	marked   map[string]bool      // uploads with an outbox marker
	lastProg map[string]time.Time // when post-receive last went, by upload
	wake     chan struct{}
}

// delivery is one hook request waiting to be sent.
type delivery struct {
	key      string
	file     bool   // the body is in the outbox under key
	body     []byte // the body, for those not in the outbox
	kind, id string
	attempts int
	next     time.Time
	inFlight bool
}

// New checks cfg and opens its outbox.
func New(cfg Config) (*Hooks, error) {
	if !strings.HasPrefix(cfg.URL, "http://") && !strings.HasPrefix(cfg.URL, "https://") {
		return nil, fmt.Errorf("hooks: the hook URL %q is not http:// or https://", cfg.URL)
	}
	if cfg.PublicURL != "" && !strings.HasPrefix(cfg.PublicURL, "http://") && !strings.HasPrefix(cfg.PublicURL, "https://") {
		return nil, fmt.Errorf("hooks: the public URL %q is not http:// or https://", cfg.PublicURL)
	}
	if cfg.Events == nil {
		cfg.Events = []string{PreCreate, PostFinish, PostTerminate, PostExpire}
	}
	enabled := map[string]bool{}
	for _, e := range cfg.Events {
		switch e {
		case PreCreate, PostFinish, PostTerminate, PostExpire:
			enabled[e] = true
		case PostReceive:
			return nil, errors.New("hooks: post-receive is turned on by a progress interval, not in the list of hooks")
		default:
			return nil, fmt.Errorf("hooks: unknown hook %q (want pre-create, post-finish, post-terminate or post-expire)", e)
		}
	}
	if cfg.Progress > 0 {
		enabled[PostReceive] = true
	}
	cfg.PublicURL = strings.TrimRight(cfg.PublicURL, "/")
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.RetryMin <= 0 {
		cfg.RetryMin = DefaultRetryMin
	}
	if cfg.RetryMax <= 0 {
		cfg.RetryMax = DefaultRetryMax
	}
	cfg.RetryMin = min(cfg.RetryMin, cfg.RetryMax)
	h := &Hooks{cfg: cfg, enabled: enabled, client: cfg.Client, log: cfg.Logger,
		queue: map[string]*delivery{}, marked: map[string]bool{}, lastProg: map[string]time.Time{},
		wake: make(chan struct{}, 1)}
	if h.client == nil {
		h.client = &http.Client{}
	}
	if h.log == nil {
		h.log = slog.Default()
	}
	if h.durable() {
		if cfg.Outbox == "" {
			return nil, errors.New("hooks: no outbox directory")
		}
		box, err := openOutbox(cfg.Outbox)
		if err != nil {
			return nil, err
		}
		h.box = box
		ids, err := box.marked()
		if err != nil {
			return nil, err
		}
		for _, id := range ids {
			h.marked[id] = true
		}
	}
	return h, nil
}

// durable reports whether any hook goes through the outbox.
func (h *Hooks) durable() bool {
	return h.enabled[PostFinish] || h.enabled[PostTerminate] || h.enabled[PostExpire]
}

// ErrUnavailable is wrapped by the error of a pre-create hook that did not
// answer in time, failed or answered something else than a Decision: the
// upload is not created.
var ErrUnavailable = errors.New("hooks: the pre-create hook is unavailable")

// Gate is the pre-create hook, an events.Gate: it asks the hook about an
// upload and returns its metadata as the hook changed it, or a
// *storage.RefusedError with the hook's message, or an error wrapping
// ErrUnavailable. Without pre-create among the hooks it allows everything.
func (h *Hooks) Gate(ctx context.Context, id string, meta storage.Meta) (storage.Meta, error) {
	if !h.enabled[PreCreate] {
		return meta, nil
	}
	p := Payload{ID: storage.NewID(), Type: PreCreate, Time: time.Now().UTC(),
		Upload: events.Upload{ID: id, Name: meta.Name, Size: meta.Size, Type: meta.MIME, URL: h.url(id)}}
	body, err := json.Marshal(p)
	if err != nil {
		return meta, err
	}
	var d Decision
	if err := h.post(ctx, p.Type, p.ID, body, &d); err != nil {
		return meta, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	if d.Refuse {
		msg := d.Message
		if msg == "" {
			msg = "the upload was refused"
		}
		if len(msg) > maxMessage {
			msg = msg[:maxMessage]
		}
		return meta, &storage.RefusedError{Message: strings.ToValidUTF8(msg, "")}
	}
	if d.Name != "" {
		meta.Name = d.Name
	}
	if d.Type != "" {
		meta.MIME = d.Type
	}
	return meta, nil
}

// Observe takes an Event from the Bus, inline: a post-finish,
// post-terminate or post-expire is in the outbox when it returns, and is
// then sent in the background by Run. It never blocks on the network.
func (h *Hooks) Observe(e events.Event) {
	id := e.Upload.ID
	switch e.Kind {
	case events.Created, events.Progress:
		h.markOnce(id)
		if e.Kind == events.Progress {
			h.progress(e)
		}
	case events.Complete:
		h.final(PostFinish, "finish", e)
	case events.Deleted:
		h.final(PostTerminate, "gone", e)
	case events.Expired:
		h.final(PostExpire, "gone", e)
	}
}

// markOnce writes the marker of an upload the first time it is seen, so
// that a crash between its commit and its post-finish is found at the next
// start.
func (h *Hooks) markOnce(id string) {
	if h.box == nil {
		return
	}
	h.mu.Lock()
	seen := h.marked[id]
	h.marked[id] = true
	h.mu.Unlock()
	if seen {
		return
	}
	if err := h.box.mark(id); err != nil {
		h.log.Error("hooks: could not mark an upload in the outbox; a crash before its end may lose its post-finish", "id", id, "err", err)
	}
}

// final queues the one event that ends an upload's story (or, for a
// complete file deleted later, its second one) under its fixed ID.
func (h *Hooks) final(kind, family string, e events.Event) {
	id := e.Upload.ID
	h.mu.Lock()
	delete(h.lastProg, id)
	delete(h.queue, "progress-"+id)
	h.mu.Unlock()
	if !h.enabled[kind] {
		h.forget(id)
		return
	}
	p := Payload{ID: fixedID(family, id), Type: kind, Time: e.Time, Upload: e.Upload}
	if kind == PostFinish {
		p.Upload.URL = h.url(id)
	}
	if err := h.enqueue(p); err != nil {
		// The marker stays: the next reconcile raises it again.
		h.log.Error("hooks: could not write an event to the outbox", "hook", kind, "id", id, "err", err)
		return
	}
	h.forget(id)
}

// forget removes an upload's marker once its final event is queued.
func (h *Hooks) forget(id string) {
	h.mu.Lock()
	delete(h.marked, id)
	h.mu.Unlock()
	if h.box != nil {
		if err := h.box.unmark(id); err != nil {
			h.log.Warn("hooks: could not remove an upload's marker", "id", id, "err", err)
		}
	}
}

// enqueue writes p to the outbox and queues it.
func (h *Hooks) enqueue(p Payload) error {
	body, err := json.Marshal(p)
	if err != nil {
		return err
	}
	name := fmt.Sprintf("%020d-%s.json", p.Time.UnixNano(), p.ID)
	if err := h.box.put(name, body); err != nil {
		return err
	}
	h.add(&delivery{key: name, file: true, kind: p.Type, id: p.ID})
	return nil
}

// progress queues a post-receive, at most one per upload per interval; it
// lives in memory only, replaced by the next one: progress that is stale
// is not worth keeping.
func (h *Hooks) progress(e events.Event) {
	if !h.enabled[PostReceive] {
		return
	}
	id := e.Upload.ID
	h.mu.Lock()
	last, ok := h.lastProg[id]
	if ok && e.Time.Sub(last) < h.cfg.Progress {
		h.mu.Unlock()
		return
	}
	h.lastProg[id] = e.Time
	h.mu.Unlock()
	p := Payload{ID: e.ID, Type: PostReceive, Time: e.Time, Upload: e.Upload}
	p.Upload.URL = h.url(id)
	body, err := json.Marshal(p)
	if err != nil {
		return
	}
	h.add(&delivery{key: "progress-" + id, body: body, kind: PostReceive, id: p.ID})
}

// add queues d (replacing a waiting delivery of the same key) and wakes Run.
func (h *Hooks) add(d *delivery) {
	h.mu.Lock()
	if old, ok := h.queue[d.key]; !ok || !old.inFlight {
		h.queue[d.key] = d
	}
	h.mu.Unlock()
	select {
	case h.wake <- struct{}{}:
	default:
	}
}

// url is the download URL of upload id: absolute with a public URL.
func (h *Hooks) url(id string) string {
	return h.cfg.PublicURL + "/files/" + id
}

// Run reconciles the marked uploads with store, queues what the outbox
// holds and delivers until ctx ends; what is undelivered then stays in the
// outbox for the next start.
func (h *Hooks) Run(ctx context.Context, store Statter) {
	if h.box != nil {
		h.reconcile(ctx, store)
		names, err := h.box.list()
		if err != nil {
			h.log.Error("hooks: could not read the outbox", "err", err)
		}
		for _, n := range names {
			h.add(&delivery{key: n, file: true})
		}
	}
	results := make(chan result)
	var wg sync.WaitGroup
	defer wg.Wait()
	reconcile := time.NewTicker(ReconcileEvery)
	defer reconcile.Stop()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	inFlight := 0
	for {
		now := time.Now()
		var wait time.Duration = -1
		h.mu.Lock()
		for _, d := range h.queue {
			if d.inFlight {
				continue
			}
			if until := d.next.Sub(now); until > 0 {
				if wait < 0 || until < wait {
					wait = until
				}
				continue
			}
			if inFlight >= maxInFlight {
				continue
			}
			d.inFlight = true
			inFlight++
			wg.Add(1)
			go func(d *delivery) {
				defer wg.Done()
				err := h.send(ctx, d)
				select {
				case results <- result{d, err}:
				case <-ctx.Done():
				}
			}(d)
		}
		h.mu.Unlock()
		if wait >= 0 {
			timer.Reset(wait)
		}
		select {
		case <-ctx.Done():
			return
		case <-h.wake:
		case <-timer.C:
		case <-reconcile.C:
			if h.box != nil {
				h.reconcile(ctx, store)
			}
		case r := <-results:
			inFlight--
			h.finished(r)
		}
		if wait >= 0 && !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
	}
}

// badFileError is an outbox file that is not an event (damaged by hand or
// by a disk): sending it again cannot succeed.
type badFileError struct{ err error }

func (e *badFileError) Error() string { return "hooks: " + e.err.Error() }

type result struct {
	d   *delivery
	err error
}

// finished records the outcome of one attempt.
func (h *Hooks) finished(r result) {
	d := r.d
	h.mu.Lock()
	defer h.mu.Unlock()
	d.inFlight = false
	var bad *badFileError
	switch {
	case r.err == nil:
		if h.queue[d.key] == d {
			delete(h.queue, d.key)
		}
		if d.file {
			if err := h.box.done(d.key); err != nil {
				h.log.Warn("hooks: could not remove a delivered event from the outbox; it will be sent again", "file", d.key, "err", err)
			}
		}
		// The receiver is back: what waits for a retry goes now rather
		// than after its backoff.
		now := time.Now()
		for _, w := range h.queue {
			if w.attempts > 0 && !w.inFlight {
				w.next = now
			}
		}
		return
	case errors.As(r.err, &bad):
		// Retrying cannot help: set it aside for a person to look at.
		delete(h.queue, d.key)
		h.log.Error("hooks: an outbox file is unreadable; it is set aside and not sent", "file", d.key, "err", r.err)
		if err := h.box.setAside(d.key); err != nil {
			h.log.Error("hooks: could not set an unreadable outbox file aside", "file", d.key, "err", err)
		}
		return
	}
	d.attempts++
	wait := h.backoff(d.attempts)
	d.next = time.Now().Add(wait)
	h.log.Warn("hooks: delivery failed, will retry", "hook", d.kind, "event", d.id, "attempts", d.attempts, "retry_in", wait, "err", r.err)
}

// backoff is the wait after n failed attempts: RetryMin doubled n-1 times,
// at most RetryMax, less up to a quarter at random so that many deliveries
// that failed together do not come back together.
func (h *Hooks) backoff(n int) time.Duration {
	wait := h.cfg.RetryMin
	for i := 1; i < n && wait < h.cfg.RetryMax; i++ {
		wait *= 2
	}
	wait = min(wait, h.cfg.RetryMax)
	return wait - time.Duration(rand.Int64N(int64(wait)/4+1))
}

// send makes one attempt at delivery d.
func (h *Hooks) send(ctx context.Context, d *delivery) error {
	body := d.body
	if d.file {
		var err error
		if body, err = h.box.read(d.key); err != nil {
			return err
		}
		if d.kind == "" {
			var p Payload
			if err := json.Unmarshal(body, &p); err != nil || p.ID == "" || p.Type == "" {
				return &badFileError{fmt.Errorf("outbox file %s is not an event: %v", d.key, err)}
			}
			d.kind, d.id = p.Type, p.ID
		}
	}
	return h.post(ctx, d.kind, d.id, body, nil)
}

// post sends one hook request and, when into is not nil, decodes a JSON
// answer into it (an empty one leaves it as it is).
func (h *Hooks) post(ctx context.Context, kind, id string, body []byte, into any) error {
	ctx, cancel := context.WithTimeout(ctx, h.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.cfg.URL, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "ferry-hooks")
	req.Header.Set(HookHeader, kind)
	req.Header.Set(IDHeader, id)
	if len(h.cfg.Secret) > 0 {
		req.Header.Set(SignatureHeader, Sign(h.cfg.Secret, body))
	}
	resp, err := h.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return fmt.Errorf("%s hook: reading the answer: %w", kind, err)
	}
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s hook answered %s", kind, resp.Status)
	}
	if into != nil && len(bytes.TrimSpace(answer)) > 0 {
		if err := json.Unmarshal(answer, into); err != nil {
			return fmt.Errorf("%s hook: the answer is not the JSON expected: %w", kind, err)
		}
	}
	return nil
}

// reconcile looks up every marked upload: a complete one gets its
// post-finish and a vanished one its post-terminate (their fixed IDs make
// a copy already sent harmless); one still incomplete stays marked.
func (h *Hooks) reconcile(ctx context.Context, store Statter) {
	h.mu.Lock()
	var ids []string
	for id := range h.marked {
		ids = append(ids, id)
	}
	h.mu.Unlock()
	for _, id := range ids {
		if ctx.Err() != nil {
			return
		}
		info, err := store.Stat(ctx, id)
		switch {
		case errors.Is(err, storage.ErrNotFound):
			// Deleted or expired, and its event lost to a crash (or raised
			// by another instance, under the same ID).
			h.final(PostTerminate, "gone", events.New(events.Deleted, storage.Info{ID: id}, time.Now()))
		case err != nil:
			h.log.Warn("hooks: could not look up a marked upload; will try again", "id", id, "err", err)
		case info.Complete:
			h.final(PostFinish, "finish", events.New(events.Complete, info, time.Now()))
		}
	}
}
