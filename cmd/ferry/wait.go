package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/ferryhq/ferry/events"
	"github.com/ferryhq/ferry/storage"
)

const waitHeader = `Usage: ferry wait [flags] ID...

Waits until every upload named is complete, then prints its download URL on
stdout, one line per ID in the order given. ID is an upload id, or a URL that
ends in /files/<id> (what ferry upload prints), so that a CI job can write

  id=$(ferry upload --print id build.tar) && ferry wait "$id"

or wait for an upload that another job is making.

ferry wait follows the server's events (GET /api/events, Server-Sent Events)
and reconnects when the stream ends, reading the uploads' state
(GET /api/files/<id>) once the stream is open and every 30 s besides; when
the server has no event stream (an older ferry, or a proxy that does not
pass it on) it polls GET /api/files/<id> every --poll instead. --token needs
read scope.

The exit status is non-zero when an upload is deleted (the client aborted,
its checksum failed, someone deleted it), expires, or does not exist, or
when --timeout passes first.
`

// waitConfig is what `ferry wait` is told by flags and environment.
type waitConfig struct {
	server, token string
	timeout, poll time.Duration
}

// runWait waits for every ID in args to complete. It returns flag.ErrHelp
// for --help, an error for bad flags or no ID, and an error naming the
// uploads that failed or were still incomplete at the timeout.
func runWait(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("wait", stderr, waitHeader)
	var c waitConfig
	e := envFlags{fs}
	e.String(&c.server, "server", "http://localhost:8080", "base URL of the ferry server")
	e.Secret(&c.token, "token", "access token with read scope, sent as Authorization: Bearer (of a comma-separated list, the first)")
	e.Duration(&c.timeout, "timeout", 0, "give up (non-zero exit) after this long; 0: wait for ever")
	e.Duration(&c.poll, "poll", 2*time.Second, "how often to ask for the uploads' state when the event stream is not available")
	args, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(args) == 0 {
		fs.Usage()
		return errors.New("wait: no ID given")
	}
	if c.poll <= 0 || c.timeout < 0 {
		return fmt.Errorf("wait: --poll %s and --timeout %s: want a positive poll and a timeout >= 0", c.poll, c.timeout)
	}
	c.server = strings.TrimRight(c.server, "/")
	c.token, _, _ = strings.Cut(c.token, ",")
	var ids []string
	for _, arg := range args {
		id := fileIDOf(arg)
		if !storage.ValidID(id) {
			return fmt.Errorf("wait: %s: not an upload id or a /files/<id> URL", arg)
		}
		ids = append(ids, id)
	}
	if c.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.timeout)
		defer cancel()
	}
	w := &waiter{c: c, stderr: stderr, outcome: map[string]error{}}
	for _, id := range ids {
		w.outcome[id] = errPending
	}
	if err := w.run(ctx); err != nil {
		return err
	}
	var failed []error
	for _, id := range ids {
		if err := w.outcome[id]; err != nil {
			failed = append(failed, fmt.Errorf("%s: %w", id, err))
		}
	}
	if len(failed) > 0 {
		for _, err := range failed {
			fmt.Fprintln(stderr, "ferry wait:", err)
		}
		return fmt.Errorf("wait: %d of %d uploads did not complete: %w", len(failed), len(ids), errors.Join(failed...))
	}
	for _, id := range ids {
		fmt.Fprintln(stdout, c.server+"/files/"+id)
	}
	return nil
}

// recheckEvery is how often ferry wait reads the uploads' state while it
// follows the event stream, in case an event never reaches it.
const recheckEvery = 30 * time.Second

var (
	errPending = errors.New("still in progress")
	// errNoStream: the server offers no event stream; poll instead.
	errNoStream = errors.New("no event stream")
	errGone     = errors.New("no such upload (deleted, expired, or never created)")
)

// waiter follows the uploads of one `ferry wait` to their end.
type waiter struct {
	c       waitConfig
	stderr  io.Writer
	outcome map[string]error // errPending until settled; nil once complete
}

func (w *waiter) pending() []string {
	var out []string
	for id, err := range w.outcome {
		if err == errPending {
			out = append(out, id)
		}
	}
	return out
}

// settle records the end of an upload, once: a deletion after completion
// changes nothing for the waiter.
func (w *waiter) settle(id string, err error) {
	if w.outcome[id] == errPending {
		w.outcome[id] = err
		if err == nil {
			fmt.Fprintf(w.stderr, "ferry wait: %s complete\n", id)
		}
	}
}

// run follows the event stream until every upload is settled, reconnecting
// when it ends, and polls when there is none. It returns an error only when
// the wait itself fails (timeout, token refused).
func (w *waiter) run(ctx context.Context) error {
	failures := 0
	for len(w.pending()) > 0 {
		err := w.follow(ctx)
		switch {
		case len(w.pending()) == 0:
			return nil
		case ctx.Err() != nil:
			return w.timedOut(ctx)
		case errors.Is(err, errNoStream):
			fmt.Fprintf(w.stderr, "ferry wait: %v; polling every %s\n", err, w.c.poll)
			return w.pollAll(ctx)
		case isAuthError(err):
			return fmt.Errorf("wait: %w", err)
		case err != nil:
			failures++
			fmt.Fprintf(w.stderr, "ferry wait: event stream: %v; reconnecting\n", err)
		default:
			failures = 0 // the stream ended cleanly (the server restarted, or we lagged)
		}
		if failures >= 3 {
			fmt.Fprintf(w.stderr, "ferry wait: the event stream failed %d times; polling every %s\n", failures, w.c.poll)
			return w.pollAll(ctx)
		}
		if !sleep(ctx, time.Second) {
			return w.timedOut(ctx)
		}
	}
	return nil
}

func (w *waiter) timedOut(ctx context.Context) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("wait: timed out after %s; still in progress: %s", w.c.timeout, strings.Join(w.pending(), ", "))
	}
	return fmt.Errorf("wait: %w", ctx.Err())
}

// follow opens the event stream for the pending uploads, reads their state
// once the stream is open (so nothing between the two is missed), and then
// settles them as their events come. It returns nil when the stream ends
// cleanly or nothing is pending any more.
func (w *waiter) follow(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	resp, err := w.get(ctx, "/api/events?id="+url.QueryEscape(strings.Join(w.pending(), ",")))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		return authError(resp.StatusCode)
	case resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusMethodNotAllowed:
		return fmt.Errorf("%w: GET /api/events answered %s", errNoStream, resp.Status)
	case resp.StatusCode != http.StatusOK:
		return fmt.Errorf("GET /api/events answered %s", resp.Status)
	case !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream"):
		return fmt.Errorf("%w: GET /api/events answered %s", errNoStream, resp.Header.Get("Content-Type"))
	}
	if err := w.checkAll(ctx); err != nil {
		return err
	}
	lines := make(chan string)
	readErr := make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			case <-ctx.Done():
				return
			}
		}
		readErr <- sc.Err()
	}()
	// The state is read again now and then while the stream is open: an
	// instance that does not hear other instances' events (S3 storage on a
	// store without notifications: docs/design.md) must not leave the wait
	// hanging.
	recheck := time.NewTicker(recheckEvery)
	defer recheck.Stop()
	var kind string
	for len(w.pending()) > 0 {
		var line string
		select {
		case <-ctx.Done():
			return ctx.Err()
		case err := <-readErr:
			return err // nil: the server ended the stream
		case <-recheck.C:
			if err := w.checkAll(ctx); err != nil {
				return err
			}
			continue
		case line = <-lines:
		}
		switch {
		case strings.HasPrefix(line, "event:"):
			kind = strings.TrimSpace(strings.TrimPrefix(line, "event:"))
		case strings.HasPrefix(line, "data:") && kind == "resync":
			// Events may have been missed: read the state again.
			if err := w.checkAll(ctx); err != nil {
				return err
			}
		case strings.HasPrefix(line, "data:"):
			var e events.Event
			if err := json.Unmarshal([]byte(strings.TrimSpace(strings.TrimPrefix(line, "data:"))), &e); err != nil {
				return fmt.Errorf("an event that is not JSON: %w", err)
			}
			w.apply(e)
		case line == "":
			kind = ""
		}
	}
	return nil
}

// apply settles an upload from one of its events.
func (w *waiter) apply(e events.Event) {
	switch e.Kind {
	case events.Complete:
		w.settle(e.Upload.ID, nil)
	case events.Deleted:
		w.settle(e.Upload.ID, errors.New("deleted before it completed"))
	case events.Expired:
		w.settle(e.Upload.ID, errors.New("expired before it completed"))
	}
}

// pollAll reads every pending upload's state every --poll until none is
// pending.
func (w *waiter) pollAll(ctx context.Context) error {
	for {
		err := w.checkAll(ctx)
		if isAuthError(err) {
			return fmt.Errorf("wait: %w", err)
		}
		if err != nil && ctx.Err() == nil {
			fmt.Fprintf(w.stderr, "ferry wait: %v; trying again\n", err)
		}
		if len(w.pending()) == 0 {
			return nil
		}
		if !sleep(ctx, w.c.poll) {
			return w.timedOut(ctx)
		}
	}
}

// checkAll reads the state of every pending upload (GET /api/files/<id>).
func (w *waiter) checkAll(ctx context.Context) error {
	for _, id := range w.pending() {
		if err := w.check(ctx, id); err != nil {
			return err
		}
	}
	return nil
}

func (w *waiter) check(ctx context.Context, id string) error {
	resp, err := w.get(ctx, "/api/files/"+id)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusNotFound:
		w.settle(id, errGone)
		return nil
	case http.StatusUnauthorized, http.StatusForbidden:
		return authError(resp.StatusCode)
	default:
		return fmt.Errorf("GET /api/files/%s answered %s", id, resp.Status)
	}
	var f struct {
		Complete bool `json:"complete"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&f); err != nil {
		return fmt.Errorf("GET /api/files/%s: %w", id, err)
	}
	if f.Complete {
		w.settle(id, nil)
	}
	return nil
}

func (w *waiter) get(ctx context.Context, path string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, w.c.server+path, nil)
	if err != nil {
		return nil, err
	}
	if w.c.token != "" {
		req.Header.Set("Authorization", "Bearer "+w.c.token)
	}
	return http.DefaultClient.Do(req)
}

// authError is a refusal of the token: waiting longer will not help.
type authError int

func (e authError) Error() string {
	if e == http.StatusUnauthorized {
		return "the server needs a token (--token or FERRY_TOKEN)"
	}
	return "this token may not read uploads: it needs read scope (a full or read token)"
}

func isAuthError(err error) bool {
	var a authError
	return errors.As(err, &a)
}

// sleep waits d or until ctx ends, and says whether d passed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
