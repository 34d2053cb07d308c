package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ferryhq/ferry/hooks"
)

// The hook receiver is this test binary run again with
// FERRY_HOOK_RECEIVER=<addr>: a separate process, as a real receiver is,
// that the tests kill and restart. It checks every request's signature
// (FERRY_HOOK_SECRET), appends each event it has not seen before to the
// file FERRY_HOOK_LOG as a JSON line and drops the others by event ID, as
// a receiver of at-least-once deliveries does (FERRY_HOOK_LOG.raw has
// every delivery, duplicates included); the file also tells a
// restarted receiver what it has seen. With FERRY_HOOK_FLAKY=1 it records
// an event, then answers 503 the first time it sees it, so that ferry
// sends it again. pre-create refuses names starting with "refuse" and
// renames "rename-x" to "x" with type text/x-renamed.
func runHookReceiver(addr string) int {
	logPath, secret := os.Getenv("FERRY_HOOK_LOG"), []byte(os.Getenv("FERRY_HOOK_SECRET"))
	flaky := os.Getenv("FERRY_HOOK_FLAKY") == "1"
	seen := map[string]bool{}
	if f, err := os.Open(logPath); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			var p hooks.Payload
			if json.Unmarshal(sc.Bytes(), &p) == nil {
				seen[p.ID] = true
			}
		}
		f.Close()
	}
	out, err := os.OpenFile(logPath, os.O_CREATE|os.O_APPEND|os.O_RDWR, 0o600)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if err := endLine(out); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	raw, err := os.OpenFile(logPath+".raw", os.O_CREATE|os.O_APPEND|os.O_RDWR, 0o600)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if err := endLine(raw); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	var mu sync.Mutex
	refusedOnce := map[string]bool{}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(http.ResponseWriter, *http.Request) {})
	mux.HandleFunc("POST /hook", func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			return
		}
		if !hooks.Verify(secret, body, r.Header.Get(hooks.SignatureHeader)) {
			fmt.Fprintln(os.Stderr, "receiver: bad signature")
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		var p hooks.Payload
		if err := json.Unmarshal(body, &p); err != nil || p.ID != r.Header.Get(hooks.IDHeader) || p.Type != r.Header.Get(hooks.HookHeader) {
			http.Error(w, "bad payload", http.StatusBadRequest)
			return
		}
		if p.Type == hooks.PreCreate {
			var d hooks.Decision
			switch name := p.Upload.Name; {
			case strings.HasPrefix(name, "refuse"):
				d = hooks.Decision{Refuse: true, Message: "the receiver refuses " + name}
			case strings.HasPrefix(name, "rename-"):
				d = hooks.Decision{Name: strings.TrimPrefix(name, "rename-"), Type: "text/x-renamed"}
			}
			_ = json.NewEncoder(w).Encode(d)
			return
		}
		mu.Lock()
		defer mu.Unlock()
		_, _ = raw.Write(append(body, '\n'))
		if !seen[p.ID] {
			seen[p.ID] = true
			if _, err := out.Write(append(body, '\n')); err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
		}
		if flaky && !refusedOnce[p.ID] {
			refusedOnce[p.ID] = true
			http.Error(w, "try again", http.StatusServiceUnavailable)
		}
	})
	fmt.Fprintln(os.Stderr, "receiver:", http.ListenAndServe(addr, mux))
	return 1
}

// endLine ends the last line of a log that a receiver killed in the middle
// of a write left unfinished, so that the next record starts a line of its
// own (the readers skip the broken one).
func endLine(f *os.File) error {
	st, err := f.Stat()
	if err != nil || st.Size() == 0 {
		return err
	}
	last := make([]byte, 1)
	if _, err := f.ReadAt(last, st.Size()-1); err != nil {
		return err
	}
	if last[0] == '\n' {
		return nil
	}
	_, err = f.Write([]byte{'\n'})
	return err
}

// receiver is a hook receiver process the test controls.
type receiver struct {
	t      *testing.T
	addr   string
	log    string
	secret string
	flaky  bool
	in     *instance
}

func newReceiver(t *testing.T, secret string, flaky bool) *receiver {
	return &receiver{t: t, addr: freeAddr(t), log: t.TempDir() + "/events.jsonl", secret: secret, flaky: flaky}
}

// url is where ferry sends the hooks.
func (r *receiver) url() string { return "http://" + r.addr + "/hook" }

// start runs the receiver until stop or the end of the test.
func (r *receiver) start() {
	r.t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	flaky := "0"
	if r.flaky {
		flaky = "1"
	}
	cmd.Env = append(os.Environ(), "FERRY_HOOK_RECEIVER="+r.addr, "FERRY_HOOK_LOG="+r.log,
		"FERRY_HOOK_SECRET="+r.secret, "FERRY_HOOK_FLAKY="+flaky)
	r.in = launch(r.t, r.addr, cmd)
	waitHealthy(r.t, r.in.url, r.in.done, r.in.logs)
}

// stop kills the receiver (kill -9).
func (r *receiver) stop() { r.in.kill() }

// events returns what the receiver has recorded: each event once.
func (r *receiver) events() []hooks.Payload { return r.read(r.log) }

// deliveries returns every request the receiver took, duplicates included.
func (r *receiver) deliveries() []hooks.Payload { return r.read(r.log + ".raw") }

func (r *receiver) read(path string) []hooks.Payload {
	r.t.Helper()
	data, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		r.t.Fatal(err)
	}
	// The receiver appends a line at a time, and a read may come in the
	// middle of a write (more likely on a loaded machine): the last line
	// counts once it has its newline. The receiver writes only bodies that
	// parsed, so a line that does not was torn by a kill -9 in the middle
	// of its write (endLine ended it): that event was not recorded.
	lines := strings.Split(string(data), "\n")
	var out []hooks.Payload
	for _, line := range lines[:len(lines)-1] {
		if line == "" {
			continue
		}
		var p hooks.Payload
		if err := json.Unmarshal([]byte(line), &p); err != nil {
			r.t.Logf("receiver log line %q, torn by a kill: %v", line, err)
			continue
		}
		out = append(out, p)
	}
	return out
}

// waitFor waits until the receiver has recorded n events of type kind and
// returns them, failing after 2 minutes (ample on a loaded machine).
func (r *receiver) waitFor(kind string, n int) []hooks.Payload {
	r.t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		var got []hooks.Payload
		for _, p := range r.events() {
			if p.Type == kind {
				got = append(got, p)
			}
		}
		if len(got) >= n || time.Now().After(deadline) {
			if len(got) < n {
				r.t.Fatalf("the receiver got %d %s events, want %d: %+v", len(got), kind, n, got)
			}
			return got
		}
		time.Sleep(50 * time.Millisecond)
	}
}
