package upload

import (
	"encoding/binary"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// clientFrame is one client WebSocket frame as it goes on the wire, masked
// with a zero key so that the payload goes as is. opcode is 2 for the first
// frame of a binary message and 0 for a continuation.
func clientFrame(fin bool, opcode byte, payload []byte) []byte {
	b0 := opcode
	if fin {
		b0 |= 0x80
	}
	hdr := []byte{b0}
	switch n := len(payload); {
	case n < 126:
		hdr = append(hdr, 0x80|byte(n))
	case n <= 0xffff:
		hdr = append(hdr, 0x80|126, byte(n>>8), byte(n))
	default:
		hdr = append(hdr, 0x80|127)
		hdr = binary.BigEndian.AppendUint64(hdr, uint64(n))
	}
	hdr = append(hdr, 0, 0, 0, 0) // the masking key
	return append(hdr, payload...)
}

// TestHandlerFragmentedOverMaxKeepsNothing sends a message over max_frame in
// fragments, so that the server learns its size only after it has streamed
// the first ones to storage: the connection closes with 1009, and nothing of
// the message may have become durable, neither while it arrived (no progress
// may report it) nor at the close (a resume reports the offset before it).
func TestHandlerFragmentedOverMaxKeepsNothing(t *testing.T) {
	const maxFrame = 256 << 10
	ts := newTestServer(t, Config{MaxFrame: maxFrame})
	data := randomBytes(t, 4<<20)
	p := dial(t, ts.url)
	id := p.start("f.bin", int64(len(data)), hexSum(data)).ID
	p.sendBinary(data[:maxFrame])
	p.waitOffset(maxFrame)

	raw := p.conn.NetConn()
	write := func(b []byte) {
		t.Helper()
		raw.SetWriteDeadline(time.Now().Add(frameWait))
		if _, err := raw.Write(b); err != nil {
			t.Fatalf("write: %v", err)
		}
	}
	// 300,000 bytes of the file's next bytes, in three fragments. The
	// upload has far more than max_frame to go, so the server streams the
	// first two to storage as they come.
	msg := data[maxFrame : maxFrame+300_000]
	write(clientFrame(false, websocket.BinaryMessage, msg[:100_000]))
	write(clientFrame(false, 0, msg[100_000:200_000]))
	// Long enough for any checkpoint to fall due in the middle of the message.
	time.Sleep(200 * time.Millisecond)
	write(clientFrame(true, 0, msg[200_000:])) // now 300,000 > max_frame

	if code, _ := p.expectClose(); code != websocket.CloseMessageTooBig {
		t.Fatalf("close code %d, want %d", code, websocket.CloseMessageTooBig)
	}
	for _, f := range p.progress {
		if f.Offset > maxFrame {
			t.Errorf("progress reported part of the refused message durable: %+v", f)
		}
	}
	q, ready := resume(t, ts.url, id)
	if ready.Type != TypeReady || ready.Offset != maxFrame {
		t.Fatalf("resume after 1009: %+v, want ready at %d (nothing of the refused message)", ready, maxFrame)
	}
	q.sendChunks(data[maxFrame:], maxFrame)
	q.end()
	if f := q.expect(TypeComplete); f.SHA256 != hexSum(data) || storedSum(t, ts.backend, id) != hexSum(data) {
		t.Errorf("stored bytes differ: %+v", f)
	}
}

// TestHandlerMessageRate closes a connection that sends tiny messages faster
// than the limit with 1008, and keeps what it sent before: the last progress
// is where a resume continues, and the file completes intact from there.
func TestHandlerMessageRate(t *testing.T) {
	ts := newTestServer(t, Config{MessageRate: 50, MessageBurst: 20})
	data := randomBytes(t, 1000)
	p := dial(t, ts.url)
	id := p.start("r.bin", int64(len(data)), hexSum(data)).ID
	// One-byte messages as fast as we can: the burst goes through, then
	// the limit. The server may close before we are done.
	for i := range data {
		p.conn.SetWriteDeadline(time.Now().Add(frameWait))
		if err := p.conn.WriteMessage(websocket.BinaryMessage, data[i:i+1]); err != nil {
			break
		}
	}
	code, reason := p.expectClose()
	if code != websocket.ClosePolicyViolation || !strings.Contains(reason, "too many messages") {
		t.Fatalf("close %d %q, want %d about too many messages", code, reason, websocket.ClosePolicyViolation)
	}
	if len(p.progress) == 0 {
		t.Fatal("no progress before the close")
	}
	last := p.progress[len(p.progress)-1]
	// The start took one of the 20 tokens; a few more came with time.
	if last.Offset != last.Received || last.Offset < 19 || last.Offset >= int64(len(data)) {
		t.Fatalf("last progress %+v: want every accepted byte durable, at least the burst's 19 and not all %d", last, len(data))
	}

	q, ready := resume(t, ts.url, id)
	if ready.Type != TypeReady || ready.Offset != last.Offset {
		t.Fatalf("resume: %+v, want ready at %d", ready, last.Offset)
	}
	q.sendBinary(data[ready.Offset:])
	q.end()
	if f := q.expect(TypeComplete); f.SHA256 != hexSum(data) {
		t.Errorf("sha256 %s, want %s", f.SHA256, hexSum(data))
	}
}

// TestHandlerMessageRateConfig checks the defaults and that a negative rate
// turns the limit off.
func TestHandlerMessageRateConfig(t *testing.T) {
	tests := []struct {
		rate, burst         int
		wantRate, wantBurst int
	}{
		{0, 0, DefaultMessageRate, DefaultMessageRate},
		{100, 0, 100, 100},
		{1, 0, 1, 1},
		{100, 7, 100, 7},
		{-1, 0, 0, 0},
	}
	for _, tt := range tests {
		h, err := NewHandler(Config{Backend: newLocal(t, t.TempDir()), MessageRate: tt.rate, MessageBurst: tt.burst})
		if err != nil {
			t.Fatalf("NewHandler(rate %d, burst %d): %v", tt.rate, tt.burst, err)
		}
		b := newMessageBucket(h.messageRate, h.messageBurst, time.Now())
		if tt.wantRate == 0 {
			if b != nil {
				t.Errorf("rate %d: limit %+v, want none", tt.rate, b)
			}
			continue
		}
		if b == nil || b.rate != float64(tt.wantRate) || b.burst != float64(tt.wantBurst) {
			t.Errorf("rate %d, burst %d: bucket %+v, want rate %d, burst %d", tt.rate, tt.burst, b, tt.wantRate, tt.wantBurst)
		}
	}
}

func TestMessageBucket(t *testing.T) {
	t0 := time.Now()
	b := newMessageBucket(10, 3, t0)
	for i := range 3 {
		if !b.take(t0) {
			t.Fatalf("message %d of the burst refused", i)
		}
	}
	if b.take(t0) {
		t.Fatal("a fourth message at once was allowed")
	}
	if b.take(t0.Add(50 * time.Millisecond)) {
		t.Error("allowed after half a token's time")
	}
	if !b.take(t0.Add(100 * time.Millisecond)) {
		t.Error("refused after a token's time")
	}
	// A long pause refills the bucket up to the burst, no more.
	later := t0.Add(time.Hour)
	for i := range 3 {
		if !b.take(later) {
			t.Fatalf("message %d after a pause refused", i)
		}
	}
	if b.take(later) {
		t.Error("the bucket held more than its burst")
	}
	var none *messageBucket
	if !none.take(t0) {
		t.Error("no limit refused a message")
	}
}

// TestHandlerStopsGraceTimer checks that the timer that bounds storage
// after a connection ends does not outlive its session.
func TestHandlerStopsGraceTimer(t *testing.T) {
	ts := newTestServer(t, Config{})
	p := dial(t, ts.url)
	p.start("g.bin", 10, "")
	p.sendBinary([]byte("01234"))
	p.waitOffset(5)

	ts.h.mu.Lock()
	var s *session
	for s = range ts.h.sessions {
	}
	ts.h.mu.Unlock()
	if s == nil {
		t.Fatal("no session")
	}
	p.conn.Close()
	for deadline := time.Now().Add(frameWait); ; time.Sleep(5 * time.Millisecond) {
		ts.h.mu.Lock()
		n := len(ts.h.sessions)
		ts.h.mu.Unlock()
		if n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the session did not end")
		}
	}
	s.graceMu.Lock()
	defer s.graceMu.Unlock()
	// Stop reports whether the timer was still running.
	if s.grace != nil && s.grace.Stop() {
		t.Error("the storage grace timer outlived its session")
	}
}
