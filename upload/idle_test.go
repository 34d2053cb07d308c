package upload

import (
	"context"
	"errors"
	"io"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// liveSessions returns the Handler's live sessions.
func (h *Handler) liveSessions() []*session {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]*session, 0, len(h.sessions))
	for s := range h.sessions {
		out = append(out, s)
	}
	return out
}

// waitSessions waits until the Handler has n live sessions.
func waitSessions(t *testing.T, h *Handler, n int) {
	t.Helper()
	for deadline := time.Now().Add(frameWait); len(h.liveSessions()) != n; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d sessions, want %d", len(h.liveSessions()), n)
		}
	}
}

// isStarted reports whether the session's loop and write pump run.
func (s *session) isStarted() bool {
	s.startMu.Lock()
	defer s.startMu.Unlock()
	return s.started
}

// TestHandlerIdleConnectionsCostOneGoroutine holds connections that send
// nothing: each must cost the server about one goroutine (its read pump),
// not three.
func TestHandlerIdleConnectionsCostOneGoroutine(t *testing.T) {
	const n = 60
	ts := newTestServer(t, Config{})
	// A connection that has sent something runs its loop: not counted.
	busy := dial(t, ts.url)
	busy.sendText(`{"type":"ping"}`)
	busy.expectError(CodeUnknownType)
	waitSessions(t, ts.h, 1)
	before := runtime.NumGoroutine()

	for range n {
		dial(t, ts.url)
	}
	waitSessions(t, ts.h, n+1)
	// The dialer's and the handshakes' goroutines end a moment after the
	// upgrade: take the least of a few looks.
	after := runtime.NumGoroutine()
	for range 20 {
		time.Sleep(10 * time.Millisecond)
		after = min(after, runtime.NumGoroutine())
	}
	t.Logf("%d idle connections: %d goroutines more", n, after-before)
	if d := after - before; d > n*3/2 {
		t.Errorf("%d idle connections cost %d goroutines, want about %d (one each)", n, d, n)
	}
	started := 0
	for _, s := range ts.h.liveSessions() {
		if s.isStarted() {
			started++
		}
	}
	if started != 1 {
		t.Errorf("%d sessions started their loop, want 1 (the one that sent a frame)", started)
	}
}

// TestHandlerIdleConnectionLiveness checks the contract's liveness for a
// connection that never sends a frame: it is pinged every period, stays
// while it answers, is dropped once silent for two periods, and starts its
// session as soon as it speaks.
func TestHandlerIdleConnectionLiveness(t *testing.T) {
	// Short, but not so short that a loaded test machine looks silent.
	const period = 250 * time.Millisecond
	ts := newTestServer(t, Config{PingPeriod: period})

	// Answers pings (gorilla answers them while the client reads).
	p := dial(t, ts.url)
	var pings atomic.Int32
	p.conn.SetPingHandler(func(data string) error {
		pings.Add(1)
		return p.conn.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(frameWait))
	})
	readErr := make(chan error, 1)
	go func() {
		p.conn.SetReadDeadline(time.Now().Add(frameWait))
		_, _, err := p.conn.ReadMessage()
		readErr <- err
	}()
	// Reads the socket below gorilla, so never answers a ping: the server
	// must close it after two periods.
	silent := dial(t, ts.url)
	silent.conn.NetConn().SetReadDeadline(time.Now().Add(frameWait))
	var ne interface{ Timeout() bool }
	if _, err := io.Copy(io.Discard, silent.conn.NetConn()); errors.As(err, &ne) && ne.Timeout() {
		t.Fatal("the silent idle connection was not dropped")
	}
	// The other one stays.
	waitSessions(t, ts.h, 1)
	for pings.Load() < 4 {
		select {
		case err := <-readErr:
			t.Fatalf("the idle connection that answers pings ended after %d pings: %v", pings.Load(), err)
		case <-time.After(period / 4):
		}
	}
	// Four pings span more than two periods: p was kept by its pongs.
	ss := ts.h.liveSessions()
	if len(ss) != 1 || ss[0].isStarted() {
		t.Fatalf("want one idle session, not started; got %d", len(ss))
	}

	// Speaking starts the session, which then answers.
	q := dial(t, ts.url)
	q.sendText(`{"type":"ping"}`)
	q.expectError(CodeUnknownType)
	q.start("idle-then-busy", 3, "")
	q.sendBinary([]byte("abc"))
	q.end()
	q.expect(TypeComplete)
}

// TestHandlerShutdownClosesIdleConnections checks that Shutdown closes a
// connection that never sent a frame the way it closes the others: 1001
// "shutting_down", then Shutdown returns.
func TestHandlerShutdownClosesIdleConnections(t *testing.T) {
	ts := newTestServer(t, Config{})
	peers := []*peer{dial(t, ts.url), dial(t, ts.url), dial(t, ts.url)}
	waitSessions(t, ts.h, len(peers))
	for _, s := range ts.h.liveSessions() {
		if s.isStarted() {
			t.Fatal("a session that received nothing started its loop")
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), frameWait)
	defer cancel()
	errc := make(chan error, 1)
	go func() { errc <- ts.h.Shutdown(ctx) }()
	for _, p := range peers {
		if code, reason := p.expectClose(); code != websocket.CloseGoingAway || reason != "shutting_down" {
			t.Errorf("close %d %q, want 1001 shutting_down", code, reason)
		}
	}
	if err := <-errc; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
}
