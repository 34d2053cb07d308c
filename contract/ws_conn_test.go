package contract_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// §1: "a resume of an upload that another live connection holds answers
// locked" (on this instance and on another instance sharing the storage);
// locked leaves no upload active; "A lock dies with its connection".
func TestLockedAcrossConnectionsAndInstances(t *testing.T) {
	t.Parallel()
	s1 := start(t, cfg{})
	s2 := start(t, cfg{Dir: s1.Dir})
	body := data(5000, 90)
	for _, tc := range []struct {
		name    string
		release func(w *ws)
	}{
		{"released by a clean close", func(w *ws) { w.closeClean() }},
		{"released by a reset", func(w *ws) { w.drop() }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			holder := s1.dial(t)
			id := holder.startUpload("l.bin", int64(len(body)), nil)
			holder.sendBin(body[:1000])
			holder.waitOffset(id, 1000, 5*time.Second)

			for name, s := range map[string]*server{"same instance": s1, "other instance": s2} {
				w := s.dial(t)
				w.sendJSON(map[string]any{"type": "resume", "id": id})
				w.expectError("locked", id, true)
				w.sendBin([]byte{1})
				w.expectError("not_started", "", false)
				w.closeClean()
				_ = name
			}
			// The holder is undisturbed.
			holder.sendBin(body[1000:2000])
			holder.waitOffset(id, 2000, 5*time.Second)
			tc.release(holder)

			w := s2.dial(t)
			r := w.resumeUntilReady(id, 5*time.Second)
			checkReady(t, r, id, 2000, int64(len(body)))
			w.sendBin(body[2000:])
			w.finish(id, body)
		})
	}
}

// §1 liveness: "drops a connection that has answered no ping for two
// periods; the upload stays resumable" and its lock dies; a connection that
// answers pings keeps its lock, and the pings come every period.
//
// The server measures silence by its own clock, so a period short enough
// for a quick test also makes a healthy peer look silent whenever the
// machine does not run the server or the client for a moment (load average
// 30 and more on two cores did, with periods of 100 and 300 ms). So the
// silent connection talks to a server pinging every 100 ms, and every
// healthy connection to a second instance on the same storage (locks hold
// across instances) pinging every livePeriod, long beside such stalls.
func TestLivenessReleasesSilentConnection(t *testing.T) {
	t.Parallel()
	const (
		period     = 100 * time.Millisecond
		livePeriod = 2 * time.Second
		wantPings  = 3
	)
	s := start(t, cfg{PingPeriod: period})
	ls := start(t, cfg{Dir: s.Dir, PingPeriod: livePeriod})
	body := data(3000, 91)

	// A live connection (its reader answers pings) keeps the lock over
	// several pings, which come no more often than every period.
	began := time.Now()
	lc, resp, err := ls.dialRaw("", nil, []string{"ferry.v1"})
	if err != nil {
		t.Fatal(err)
	}
	pings := make(chan time.Time, 64)
	lc.SetPingHandler(func(msg string) error {
		select {
		case pings <- time.Now():
		default:
		}
		return lc.WriteControl(websocket.PongMessage, []byte(msg), time.Now().Add(10*time.Second))
	})
	live := wrap(t, lc, resp)
	id := live.startUpload("live.bin", int64(len(body)), nil)
	live.sendBin(body[:500])
	live.waitOffset(id, 500, time.Minute)
	var last time.Time
	for n := 0; n < wantPings; n++ {
		select {
		case last = <-pings:
		case <-live.done:
			t.Fatalf("the server dropped a connection that answered each of its %d pings (period %v): %v", n, livePeriod, live.closed(time.Second))
		case <-time.After(time.Minute + 2*livePeriod):
			t.Fatalf("%d pings in a minute with a ping period of %v", n, livePeriod)
		}
	}
	// The server's timers cannot fire early, whatever the load.
	if took := last.Sub(began); took < (wantPings-1)*livePeriod {
		t.Errorf("%d pings within %v of the dial, with a ping period of %v", wantPings, took, livePeriod)
	}
	lw := ls.dial(t)
	lw.sendJSON(map[string]any{"type": "resume", "id": id})
	if f := lw.next(); f.typ() != "error" || f["code"] != "locked" {
		t.Fatalf("resume of an upload held by a live connection that answers every ping: %v, want locked (holder's connection: %v)",
			f, live.closed(100*time.Millisecond))
	}
	live.sendBin(body[500:])
	live.finish(id, body)

	// A silent connection: it reads its ready frame (answering pings
	// meanwhile), sends 1200 bytes, and then never reads again, so never
	// answers a ping. On a loaded machine the server may drop it before
	// it got that far, for the reason above: then it starts again.
	var c *websocket.Conn
	var sid string
	for attempt := 1; c == nil; attempt++ {
		c, sid, err = startSilent(t, s, body[:1200])
		if err != nil {
			if attempt == 10 {
				t.Fatalf("a connection that reads its ready frame, with a ping period of %v, ten times: %v", period, err)
			}
			t.Logf("setting up the silent connection, attempt %d: %v", attempt, err)
		}
	}
	defer c.Close()

	// Resumes on the other instance are answered locked until the server
	// drops the silent connection.
	silent := time.Now()
	w := ls.dial(t)
	r := w.resumeUntilReady(sid, time.Minute)
	took := time.Since(silent)
	if r.typ() != "ready" {
		t.Fatalf("resume of a silent connection's upload: %v after %v, want ready once the server dropped it (2 periods = %v)", r, took, 2*period)
	}
	t.Logf("silent connection's lock released after %v (ping period %v)", took, period)
	// Nobody closed it but the server.
	_ = c.SetReadDeadline(time.Now().Add(time.Minute))
	for {
		_, _, err := c.ReadMessage()
		if err == nil {
			continue
		}
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			t.Fatalf("the silent connection is still open after its upload was resumed elsewhere: %v", err)
		}
		break
	}
	off, _ := r.num("offset")
	if off > 1200 {
		t.Fatalf("resume offset %d past the 1200 bytes sent", off)
	}
	w.sendBin(body[off:])
	w.finish(sid, body)
}

// startSilent opens a connection to s, starts an upload of 3000 bytes,
// reads the ready frame and sends head: a connection that is to fall
// silent. An error means the server ended the connection first.
func startSilent(t *testing.T, s *server, head []byte) (*websocket.Conn, string, error) {
	t.Helper()
	c, _, err := s.dialRaw("", nil, []string{"ferry.v1"})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.WriteMessage(websocket.TextMessage, []byte(`{"type":"start","name":"silent.bin","size":3000}`)); err != nil {
		c.Close()
		return nil, "", fmt.Errorf("sending start: %w", err)
	}
	_ = c.SetReadDeadline(time.Now().Add(time.Minute))
	_, msg, err := c.ReadMessage() // the ready frame; after this we never read again
	if err != nil {
		c.Close()
		return nil, "", fmt.Errorf("reading the ready frame: %w", err)
	}
	sid := checkReady(t, decodeFrame(t, msg), "", 0, 3000)
	if err := c.WriteMessage(websocket.BinaryMessage, head); err != nil {
		c.Close()
		return nil, "", fmt.Errorf("sending %d bytes: %w", len(head), err)
	}
	return c, sid, nil
}

// §1: "a larger [binary message than max_frame] closes the connection with
// close code 1009 (the server sends the close frame and lingers briefly so
// that the client receives it)." A message of exactly max_frame is accepted.
func TestMaxFrame(t *testing.T) {
	t.Parallel()
	const mf = 32 << 10
	s := start(t, cfg{MaxFrame: mf})
	t.Run("exactly max_frame is accepted", func(t *testing.T) {
		t.Parallel()
		w := s.dial(t)
		body := data(2*mf, 92)
		id := w.startUpload("m.bin", int64(len(body)), nil)
		w.sendChunks(body, mf)
		w.finish(id, body)
	})
	for _, tc := range []struct {
		name   string
		active bool
		size   int
	}{
		{"one byte over, upload active", true, mf + 1},
		{"far over, upload active", true, 4 << 20},
		{"one byte over, no upload", false, mf + 1},
		{"far over, no upload", false, 4 << 20},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			w := s.dial(t)
			var id string
			if tc.active {
				id = w.startUpload("big.bin", 10<<20, nil)
			}
			go func() {
				// May fail once the server closes; the close frame is what counts.
				_ = w.c.SetWriteDeadline(time.Now().Add(10 * time.Second))
				_ = w.c.WriteMessage(websocket.BinaryMessage, make([]byte, tc.size))
			}()
			err := w.closed(15 * time.Second)
			var ce *websocket.CloseError
			if !errors.As(err, &ce) {
				t.Fatalf("connection ended with %v, want a close frame with code 1009", err)
			}
			if ce.Code != websocket.CloseMessageTooBig {
				t.Errorf("close code %d, want 1009", ce.Code)
			}
			if tc.active {
				// The upload itself is not lost.
				w2 := s.dial(t)
				r := w2.resumeUntilReady(id, 5*time.Second)
				if r.typ() != "ready" {
					t.Errorf("resume after the 1009 close: %v, want ready", r)
				}
			}
		})
	}
}

// §1: "The client resends from offset ... a later resume ... answers an
// offset at least as large" as any reported; the final file is right.
func TestResumeAfterDroppedConnection(t *testing.T) {
	t.Parallel()
	s := start(t, cfg{MaxFrame: 64 << 10})
	body := data(1<<20, 93)
	w := s.dial(t)
	id := w.startUpload("drop.bin", int64(len(body)), nil)
	sent := 0
	for _, cut := range []int{300 << 10, 700 << 10} {
		w.sendChunks(body[sent:cut], 16<<10)
		sent = cut
		w.waitOffset(id, 1, 5*time.Second)
		reported := w.maxOffset(id)
		w.drop()

		w = s.dial(t)
		r := w.resumeUntilReady(id, 5*time.Second)
		checkReady(t, r, id, -1, int64(len(body)))
		off, _ := r.num("offset")
		if off < reported {
			t.Fatalf("resume offset %d below the offset %d reported before the drop", off, reported)
		}
		if off > int64(sent) {
			t.Fatalf("resume offset %d past the %d bytes sent", off, sent)
		}
		sent = int(off)
	}
	w.sendChunks(body[sent:], 16<<10)
	w.finish(id, body)
	resp, got := s.get(t, "/files/"+id, nil)
	wantStatus(t, "download", resp, got, http.StatusOK)
	if !bytes.Equal(got, body) {
		t.Errorf("downloaded file differs from the uploaded one")
	}
}

// §1: a connection that dies in the middle of a binary message: the
// resume offset is at least the reported one, at most what arrived, and the
// bytes below it are the file's (the final checksum proves it).
func TestResumeAfterDropMidMessage(t *testing.T) {
	t.Parallel()
	const mf = 64 << 10
	s := start(t, cfg{MaxFrame: mf})
	body := data(1<<20, 97)
	for _, cut := range []int{1, 1000, 40_000, mf - 1} {
		t.Run(fmt.Sprint(cut), func(t *testing.T) {
			t.Parallel()
			w := s.dial(t)
			id := w.startUpload("mid.bin", int64(len(body)), nil)
			const sent = 100 << 10
			w.sendChunks(body[:sent], 20<<10)
			w.waitOffset(id, sent, 5*time.Second)
			frame := rawFrame(true, 0, 2, true, body[sent:sent+mf])
			hdr := len(frame) - mf // header + mask
			if _, err := w.c.NetConn().Write(frame[:hdr+cut]); err != nil {
				t.Fatal(err)
			}
			time.Sleep(20 * time.Millisecond)
			w.drop()

			w2 := s.dial(t)
			r := w2.resumeUntilReady(id, 5*time.Second)
			checkReady(t, r, id, -1, int64(len(body)))
			off, _ := r.num("offset")
			if off < sent || off > int64(sent+cut) {
				t.Fatalf("resume offset %d, want between %d (reported) and %d (arrived)", off, sent, sent+cut)
			}
			w2.sendChunks(body[off:], mf)
			w2.finish(id, body)
		})
	}
}

// §1: "an offset the server has reported survives a crash of the server
// process (kill -9) and a restart"; the killed process's lock dies with it.
func TestReportedOffsetSurvivesKill9(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cs, cmd := child(t, dir)
	body := data(2<<20, 94)
	w := cs.dial(t)
	id := w.startUpload("crash.bin", int64(len(body)), nil)
	w.sendChunks(body[:1<<20], 32<<10)
	w.waitOffset(id, 512<<10, 10*time.Second)
	// Another process holds it: an instance in this process sees it locked.
	other := start(t, cfg{Dir: dir})
	ow := other.dial(t)
	ow.sendJSON(map[string]any{"type": "resume", "id": id})
	ow.expectError("locked", id, true)
	// A follower sees only durable bytes: never more than survive the kill.
	st := cs.follow(t, id)
	checkFollowHeaders(t, st.resp)
	st.waitLen(t, 512<<10, 10*time.Second)
	w.sendChunks(body[1<<20:3<<19], 32<<10) // more in flight at the kill
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	_ = w.closed(5 * time.Second)
	reported := w.maxOffset(id)

	s := start(t, cfg{Dir: dir})
	w2 := s.dial(t)
	r := w2.resumeUntilReady(id, 5*time.Second)
	checkReady(t, r, id, -1, int64(len(body)))
	off, _ := r.num("offset")
	_ = st.end(t, 10*time.Second)
	t.Logf("reported %d and followed %d bytes before kill -9, resume offset %d", reported, len(st.buf), off)
	if off < reported {
		t.Fatalf("after kill -9 the resume offset is %d, below the reported %d", off, reported)
	}
	if int64(len(st.buf)) > off {
		t.Errorf("?follow=1 streamed %d bytes before kill -9 but only %d survived: it sent bytes that were not durable", len(st.buf), off)
	}
	if !bytes.Equal(st.buf, body[:len(st.buf)]) {
		t.Errorf("?follow=1 streamed bytes that are not the upload's")
	}
	w2.sendChunks(body[off:], 64<<10)
	w2.finish(id, body)
}

// §1 error codes: shutting_down ends the connection with close code 1001;
// the upload stays resumable at an offset at least the reported one.
func TestShutdownClosesGoingAway(t *testing.T) {
	t.Parallel()
	s := start(t, cfg{})
	body := data(10_000, 95)
	w := s.dial(t)
	id := w.startUpload("sd.bin", int64(len(body)), nil)
	w.sendBin(body[:4000])
	w.waitOffset(id, 4000, 5*time.Second)
	go func() { _ = s.srv.Shutdown(t.Context()) }()
	err := w.closed(10 * time.Second)
	var ce *websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != websocket.CloseGoingAway {
		t.Fatalf("on shutdown the connection ended with %v, want close code 1001", err)
	}
	s2 := start(t, cfg{Dir: s.Dir})
	w2 := s2.dial(t)
	r := w2.resumeUntilReady(id, 5*time.Second)
	checkReady(t, r, id, 4000, int64(len(body)))
	w2.sendBin(body[4000:])
	w2.finish(id, body)
}

// §1 liveness: "Incomplete uploads untouched for the expiry period ... are
// deleted with their bytes"; resume of an expired id answers not_found.
func TestExpiredUploadIsGone(t *testing.T) {
	t.Parallel()
	s := start(t, cfg{Expiry: time.Hour, Sweep: 100 * time.Millisecond})
	w := s.dial(t)
	w.sendJSON(map[string]any{"type": "start", "name": "old.bin", "size": 100})
	f := w.expect("ready")
	id := checkReady(t, f, "", 0, 100)
	w.sendBin(data(10, 96))
	w.waitOffset(id, 10, 5*time.Second)
	st := s.follow(t, id)
	checkFollowHeaders(t, st.resp)
	st.waitLen(t, 10, 5*time.Second)
	w.closeClean()
	s.clock.advance(2 * time.Hour)
	deadline := time.Now().Add(10 * time.Second) // for the sweep, every 100 ms
	for {
		resp, b := s.get(t, "/api/files/"+id, nil)
		if resp.StatusCode == http.StatusNotFound {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("an upload 2h past its 1h expiry is still there after 10s: %d %s", resp.StatusCode, b)
		}
		time.Sleep(100 * time.Millisecond)
	}
	w2 := s.dial(t)
	w2.sendJSON(map[string]any{"type": "resume", "id": id})
	w2.expectError("not_found", "", false)
	if err := st.end(t, 10*time.Second); err == nil || errors.Is(err, io.EOF) {
		t.Errorf("follow of an upload that expired ended with %v, want an unclean end", err)
	}
}

// §1: "resume of an ... expired id answers not_found", even when no sweep
// has deleted it yet.
func TestExpiredUploadNotResumableBeforeSweep(t *testing.T) {
	t.Parallel()
	s := start(t, cfg{Expiry: time.Hour})
	w := s.dial(t)
	id := w.startUpload("old.bin", 100, nil)
	w.closeClean()
	s.clock.advance(2 * time.Hour)
	w2 := s.dial(t)
	w2.sendJSON(map[string]any{"type": "resume", "id": id})
	w2.expectError("not_found", "", false)
}

func decodeFrame(t *testing.T, msg []byte) frame {
	t.Helper()
	var f frame
	dec := jsonDecoder(msg)
	if err := dec.Decode(&f); err != nil {
		t.Fatalf("frame %q: %v", msg, err)
	}
	return f
}

// §1 liveness: "Incomplete uploads untouched for the expiry period ... are
// deleted with their bytes" and expires_at is "the last write plus the
// expiry period" — an open connection that writes nothing does not keep an
// upload alive: once expired it is gone for everyone, and the connection
// holding it learns not_found at its next message (as after a DELETE).
func TestExpiryOfAnUploadHeldByAnIdleConnection(t *testing.T) {
	t.Parallel()
	s := start(t, cfg{Expiry: time.Hour, Sweep: 100 * time.Millisecond})
	w := s.dial(t)
	w.sendJSON(map[string]any{"type": "start", "name": "idle.bin", "size": 20})
	f := w.expect("ready")
	id := checkReady(t, f, "", 0, 20)
	w.sendBin(data(10, 98))
	w.waitOffset(id, 10, 5*time.Second)
	s.clock.advance(2 * time.Hour)
	resp, b := s.get(t, "/api/files/"+id, nil)
	wantStatus(t, "GET /api/files/<expired, held by an idle connection>", resp, b, http.StatusNotFound)
	w2 := s.dial(t)
	w2.sendJSON(map[string]any{"type": "resume", "id": id})
	r := w2.next()
	if r.typ() != "error" || (r["code"] != "not_found" && r["code"] != "locked") {
		t.Errorf("resume of an expired upload: %v, want not_found", r)
	}
	t.Logf("resume of the expired upload its idle holder still has open: %v", r)
	w.sendBin(data(10, 99))
	w.sendJSON(map[string]any{"type": "end"})
	g := w.next()
	if g.typ() != "error" || g["code"] != "not_found" {
		t.Errorf("the idle holder of an upload that expired sent its last bytes and end: %v, want not_found", g)
		resp, b := s.get(t, "/api/files/"+id, nil)
		t.Logf("and now GET /api/files/<id>: %d %s", resp.StatusCode, b)
	}
}
