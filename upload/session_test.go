package upload

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/ferryhq/ferry/storage"
)

// TestHandlerSeveralUploadsOneConnection runs uploads of different shapes
// one after another on one connection, as a browser queue does.
func TestHandlerSeveralUploadsOneConnection(t *testing.T) {
	// No message rate limit: 5,000 one-byte frames go as fast as they can.
	ts := newTestServer(t, Config{MaxFrame: 256 << 10, MessageRate: -1})
	p := dial(t, ts.url)
	tests := []struct {
		name    string
		size    int
		frame   int
		declare bool
	}{
		{"empty", 0, 1, true},
		{"one byte", 1, 1, true},
		{"odd frames", 100_003, 4096, false},
		{"max frames", 3<<20 + 17, 256 << 10, true},
		{"tiny frames", 5000, 1, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := randomBytes(t, tt.size)
			sum := ""
			if tt.declare {
				sum = hexSum(data)
			}
			ready := p.start(tt.name, int64(tt.size), sum)
			if ready.Offset != 0 || ready.Size != int64(tt.size) || ready.MaxFrame != 256<<10 || !storage.ValidID(ready.ID) {
				t.Fatalf("ready: %+v", ready)
			}
			if time.Until(ready.ExpiresAt) < time.Hour {
				t.Errorf("expires_at %v is not in the future", ready.ExpiresAt)
			}
			p.sendChunks(data, tt.frame)
			p.end()
			f := p.expect(TypeComplete)
			want := CompleteFrame{Type: TypeComplete, ID: ready.ID, Size: int64(tt.size), SHA256: hexSum(data), URL: "/files/" + ready.ID}
			got := CompleteFrame{Type: f.Type, ID: f.ID, Size: f.Size, SHA256: f.SHA256, URL: f.URL}
			if got != want {
				t.Errorf("complete: %+v, want %+v", got, want)
			}
			if s := storedSum(t, ts.backend, ready.ID); s != hexSum(data) {
				t.Errorf("stored sha256 %s, want %s", s, hexSum(data))
			}
		})
	}
}

// TestHandlerResumeAfterDrop drops the connection mid-upload without a
// close handshake, resumes from the offset the new ready gives, and checks
// the final digest: the restored hash state must continue exactly.
func TestHandlerResumeAfterDrop(t *testing.T) {
	ts := newTestServer(t, Config{MaxFrame: 64 << 10})
	data := randomBytes(t, 1<<20+12345)
	p := dial(t, ts.url)
	id := p.start("drop.bin", int64(len(data)), hexSum(data)).ID
	p.sendChunks(data[:600_000], 50_000)
	last := p.waitOffset(300_000)
	p.conn.NetConn().Close() // a reset, not a goodbye

	q, ready := resume(t, ts.url, id)
	if ready.Type != TypeReady || ready.Offset < last.Offset || ready.Offset > 600_000 {
		t.Fatalf("resume: %+v, want ready at >= %d", ready, last.Offset)
	}
	q.sendChunks(data[ready.Offset:], 64<<10)
	q.end()
	if f := q.expect(TypeComplete); f.SHA256 != hexSum(data) {
		t.Errorf("sha256 %s, want %s", f.SHA256, hexSum(data))
	}

	// Asking again after the end: the outcome is told again.
	r, f := resume(t, ts.url, id)
	if f.Type != TypeComplete || f.SHA256 != hexSum(data) || f.Size != int64(len(data)) || f.URL != "/files/"+id {
		t.Errorf("resume of a complete upload: %+v", f)
	}
	// And the connection is free for a new upload.
	r.start("next", 0, "")
}

// TestHandlerProgress checks the progress invariants over a whole upload and
// that bytes become durable and reported when the client goes quiet.
func TestHandlerProgress(t *testing.T) {
	ts := newTestServer(t, Config{MaxFrame: 64 << 10})
	data := randomBytes(t, 4<<20)
	p := dial(t, ts.url)
	id := p.start("p.bin", int64(len(data)), "").ID
	p.sendChunks(data[:1<<20], 32<<10)
	// The client is idle now: the server must still checkpoint and report
	// every byte on its own (the peer's checks run on every progress frame).
	if f := p.waitOffset(1 << 20); f.Offset != 1<<20 || f.Received != 1<<20 || f.ID != id || f.Size != int64(len(data)) {
		t.Errorf("progress after going quiet: %+v", f)
	}
	info, err := ts.backend.Stat(context.Background(), id)
	if err != nil || info.Offset < 1<<20 {
		t.Errorf("storage has offset %d (%v); the reported offset must be durable", info.Offset, err)
	}
	p.sendChunks(data[1<<20:], 64<<10)
	p.end()
	p.expect(TypeComplete)
	if len(p.progress) < 2 {
		t.Errorf("only %d progress frames for 4 MiB", len(p.progress))
	}
}

// TestHandlerVanishMidFrame cuts the connection in the middle of a frame:
// the partial frame is dropped, everything before it stays, and the lock is
// released so that the upload can be resumed at once.
func TestHandlerVanishMidFrame(t *testing.T) {
	ts := newTestServer(t, Config{MaxFrame: 1 << 20})
	data := randomBytes(t, 300_000)
	p := dial(t, ts.url)
	id := p.start("v.bin", int64(len(data)), hexSum(data)).ID
	p.sendBinary(data[:100_000])
	p.sendBinary(data[100_000:200_000])
	// Read everything the server has to say first: closing a socket with
	// unread bytes sends a reset, which may drop bytes in flight.
	p.waitOffset(200_000)

	// A masked binary frame that announces 100,000 bytes and brings 1,000.
	hdr := []byte{0x82, 0x80 | 127, 0, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4}
	binary.BigEndian.PutUint64(hdr[2:10], 100_000)
	raw := p.conn.NetConn()
	if _, err := raw.Write(append(hdr, make([]byte, 1000)...)); err != nil {
		t.Fatal(err)
	}
	raw.Close()

	q, ready := resume(t, ts.url, id)
	if ready.Type != TypeReady || ready.Offset != 200_000 {
		t.Fatalf("resume: %+v, want ready at 200000 (every whole frame, nothing of the cut one)", ready)
	}
	q.sendBinary(data[200_000:])
	q.end()
	if f := q.expect(TypeComplete); f.SHA256 != hexSum(data) {
		t.Errorf("sha256 %s, want %s", f.SHA256, hexSum(data))
	}
}

// TestHandlerVanishMidStream cuts the connection in the middle of a message
// that was being streamed to storage (far from the end of the upload): what
// arrived of it may be kept, but the upload must resume consistently.
func TestHandlerVanishMidStream(t *testing.T) {
	ts := newTestServer(t, Config{MaxFrame: 1 << 20})
	data := randomBytes(t, 4<<20)
	p := dial(t, ts.url)
	id := p.start("s.bin", int64(len(data)), hexSum(data)).ID
	p.sendBinary(data[:1<<20])
	p.waitOffset(1 << 20)
	// A frame that announces 1 MiB and brings 300,000 bytes (masked with a
	// zero key, so the payload goes as is).
	hdr := []byte{0x82, 0x80 | 127, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}
	binary.BigEndian.PutUint64(hdr[2:10], 1<<20)
	raw := p.conn.NetConn()
	if _, err := raw.Write(append(hdr, data[1<<20:1<<20+300_000]...)); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond) // let the pieces arrive before the cut
	raw.Close()

	q, ready := resume(t, ts.url, id)
	if ready.Type != TypeReady || ready.Offset < 1<<20 || ready.Offset > 1<<20+300_000 {
		t.Fatalf("resume: %+v, want ready between %d and %d", ready, 1<<20, 1<<20+300_000)
	}
	t.Logf("resumed at %d (%d bytes of the cut message kept)", ready.Offset, ready.Offset-1<<20)
	q.sendChunks(data[ready.Offset:], 1<<20)
	q.end()
	if f := q.expect(TypeComplete); f.SHA256 != hexSum(data) {
		t.Errorf("sha256 %s, want %s", f.SHA256, hexSum(data))
	}
}

// TestHandlerLiveness drops a client that stops answering pings, and frees
// its upload for another connection.
func TestHandlerLiveness(t *testing.T) {
	// Short, but not so short that a loaded test machine looks silent.
	const period = 250 * time.Millisecond
	ts := newTestServer(t, Config{PingPeriod: period})
	p := dial(t, ts.url)
	id := p.start("l.bin", 10, "").ID
	p.sendBinary([]byte("01234"))
	// From here p never reads, so gorilla never answers the server's pings.
	q, ready := resume(t, ts.url, id)
	if ready.Type != TypeReady || ready.Offset != 5 {
		t.Fatalf("resume after the silent client was dropped: %+v", ready)
	}
	q.sendBinary([]byte("56789"))
	q.end()
	q.expect(TypeComplete)
	// The silent connection was closed by the server.
	p.conn.SetReadDeadline(time.Now().Add(frameWait))
	for {
		if _, _, err := p.conn.ReadMessage(); err != nil {
			break
		}
	}

	// A client that answers pings stays, however long it idles.
	r := dial(t, ts.url)
	r.start("idle", 1, "")
	done := make(chan error, 1)
	go func() {
		r.conn.SetReadDeadline(time.Now().Add(3 * period))
		_, _, err := r.conn.ReadMessage()
		done <- err
	}()
	var ne interface{ Timeout() bool }
	if err := <-done; !errors.As(err, &ne) || !ne.Timeout() {
		t.Errorf("an idle client that answers pings was dropped: %v", err)
	}
}

// TestHandlerShutdown closes every session with 1001 "shutting_down" after
// checkpointing what it received, refuses new connections, and leaves the
// uploads resumable from everything that arrived.
func TestHandlerShutdown(t *testing.T) {
	backend := newLocal(t, t.TempDir())
	ts := newTestServer(t, Config{Backend: backend})
	data := randomBytes(t, 200_000)
	peers := make([]*peer, 3)
	ids := make([]string, len(peers))
	for i := range peers {
		peers[i] = dial(t, ts.url)
		ids[i] = peers[i].start(fmt.Sprintf("s%d", i), int64(len(data)), "").ID
		peers[i].sendBinary(data[:50_000*(i+1)])
	}
	idle := dial(t, ts.url)
	// Let the frames arrive: the server answers everything in order.
	for _, p := range append(peers, idle) {
		p.sendText(`{"type":"ping"}`)
		p.expectError(CodeUnknownType)
	}

	ctx, cancel := context.WithTimeout(context.Background(), frameWait)
	defer cancel()
	errc := make(chan error, 1)
	go func() { errc <- ts.h.Shutdown(ctx) }()
	for _, p := range append(peers, idle) {
		if code, reason := p.expectClose(); code != websocket.CloseGoingAway || reason != "shutting_down" {
			t.Errorf("close %d %q, want 1001 shutting_down", code, reason)
		}
	}
	if err := <-errc; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if status, _ := handshake(t, ts.url, nil); status != 503 {
		t.Errorf("handshake after Shutdown: %d, want 503", status)
	}

	after := newTestServer(t, Config{Backend: backend})
	for i, id := range ids {
		_, f := resume(t, after.url, id)
		if f.Type != TypeReady || f.Offset != int64(50_000*(i+1)) {
			t.Errorf("upload %d after shutdown: %+v, want ready at %d", i, f, 50_000*(i+1))
		}
	}
}

// TestHandlerParallelWithBadClients runs good uploads while other clients
// misbehave in every way we can think of; the good ones must all complete
// with the right bytes, and the server must still answer afterwards.
func TestHandlerParallelWithBadClients(t *testing.T) {
	ts := newTestServer(t, Config{MaxFrame: 64 << 10, PingPeriod: time.Second})
	const good = 6
	var wg sync.WaitGroup
	ids := make([]string, good)
	sums := make([]string, good)
	for i := range good {
		data := randomBytes(t, 500_000+i*77_777)
		p := dial(t, ts.url)
		ids[i] = p.start(fmt.Sprintf("good%d", i), int64(len(data)), hexSum(data)).ID
		sums[i] = hexSum(data)
		wg.Go(func() {
			p.sendChunks(data, 1000+i*9000)
			p.end()
			if f := p.expect(TypeComplete); f.SHA256 != sums[i] {
				t.Errorf("upload %d: sha256 %s, want %s", i, f.SHA256, sums[i])
			}
		})
	}
	bad := []func(p *peer){
		func(p *peer) { // garbage of every kind
			for _, s := range []string{`{`, `[]`, `{"type":"start","size":-1,"name":"x"}`, `{"type":"resume","id":"../../x"}`, "\xff\xfe"} {
				p.sendText(s)
			}
			p.sendBinary([]byte("no upload"))
		},
		func(p *peer) { // too big a frame
			p.start("big", 1<<20, "")
			p.conn.WriteMessage(websocket.BinaryMessage, make([]byte, 128<<10))
		},
		func(p *peer) { // vanishes mid-frame
			p.start("gone", 1<<20, "")
			p.conn.NetConn().Write([]byte{0x82, 0xFE, 0xFF, 0xFF, 1, 2, 3, 4, 5, 6})
			p.conn.NetConn().Close()
		},
		func(p *peer) { // passes its size, then lies about its digest
			p.start("liar", 10, hexSum([]byte("0123456789")))
			p.sendBinary([]byte("01234567890"))
			p.sendBinary([]byte("abcdefghij"))
			p.end()
		},
		func(p *peer) { // tries to take over and abort the good uploads
			for _, id := range ids {
				p.sendJSON(ResumeFrame{Type: TypeResume, ID: id})
				p.sendJSON(ControlFrame{Type: TypeAbort})
			}
		},
		func(p *peer) { // a control frame over 125 bytes: a protocol error
			p.conn.NetConn().Write(append([]byte{0x89, 0x80 | 126, 0, 200, 1, 2, 3, 4}, make([]byte, 200)...))
		},
	}
	for range 3 {
		for _, f := range bad {
			wg.Go(func() {
				p := dial(t, ts.url)
				f(p)
				// Read whatever comes back until the server or we give up.
				p.conn.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
				for {
					if _, _, err := p.conn.ReadMessage(); err != nil {
						break
					}
				}
			})
		}
	}
	wg.Wait()
	for i, id := range ids {
		if s := storedSum(t, ts.backend, id); s != sums[i] {
			t.Errorf("upload %d stored %s, want %s", i, s, sums[i])
		}
	}
	dial(t, ts.url).start("still alive", 0, "")
}

// TestHandlerMetrics checks the Prometheus collectors after a small workload.
func TestHandlerMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	ts := newTestServer(t, Config{Registerer: reg})
	// A second handler on the same registry shares the collectors.
	if _, err := NewHandler(Config{Backend: ts.backend, Registerer: reg}); err != nil {
		t.Fatalf("second handler: %v", err)
	}
	p := dial(t, ts.url)
	p.start("m", 3, "")
	// An end before every byte arrived checkpoints (Commit needs none).
	p.sendBinary([]byte("ab"))
	p.end()
	p.expectError(CodeIncomplete)
	p.sendBinary([]byte("c"))
	p.end()
	p.expect(TypeComplete)
	p.end()
	p.expectError(CodeNotStarted)

	got := gather(t, reg)
	want := map[string]float64{
		"ferry_upload_sessions_active":                  1,
		"ferry_upload_received_bytes_total":             3,
		"ferry_uploads_completed_total":                 1,
		`ferry_upload_errors_total{code="not_started"}`: 1,
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
	if got["ferry_upload_checkpoint_seconds_count"] < 1 {
		t.Errorf("no checkpoint observed")
	}
}

// TestOneMessageUploadCommitsWithoutCheckpoint: on a backend whose Commit
// makes the written bytes durable itself (local storage), an upload whose
// bytes all arrived before end is committed with no Checkpoint before it:
// one round to the disk, not two. The file is whole all the same.
func TestOneMessageUploadCommitsWithoutCheckpoint(t *testing.T) {
	reg := prometheus.NewRegistry()
	// No progress checkpoint may come between the bytes and end, however
	// slowly the machine runs: only the one before Commit is in question.
	b := rareCheckpoints{newLocal(t, t.TempDir())}
	ts := newTestServer(t, Config{Registerer: reg, Backend: b})
	p := dial(t, ts.url)
	ready := p.start("one", 3, "")
	p.sendBinary([]byte("abc"))
	p.end()
	p.expect(TypeComplete)
	if s := storedSum(t, ts.backend, ready.ID); s != hexSum([]byte("abc")) {
		t.Fatalf("stored sha256 %s", s)
	}
	if n := gather(t, reg)["ferry_upload_checkpoint_seconds_count"]; n != 0 {
		t.Fatalf("%v checkpoints for a one-message upload, want 0", n)
	}
}

// rareCheckpoints is a Backend that asks for an hour between progress
// checkpoints (storage.CheckpointHinter); its Writers are the wrapped ones.
type rareCheckpoints struct{ storage.Backend }

func (rareCheckpoints) CheckpointInterval() time.Duration { return time.Hour }

func gather(t *testing.T, reg *prometheus.Registry) map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := make(map[string]float64)
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			name := mf.GetName()
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
			}
			if len(labels) > 0 {
				name += "{" + strings.Join(labels, ",") + "}"
			}
			switch mf.GetType() {
			case dto.MetricType_GAUGE:
				out[name] = m.GetGauge().GetValue()
			case dto.MetricType_COUNTER:
				out[name] = m.GetCounter().GetValue()
			case dto.MetricType_HISTOGRAM:
				out[name+"_count"] = float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	return out
}

// panickyBackend's Writers panic on Write, standing in for a bug.
type panickyBackend struct{ storage.Backend }

type panickyWriter struct{ storage.Writer }

func (b panickyBackend) Create(ctx context.Context, id string, meta storage.Meta) (storage.Writer, error) {
	w, err := b.Backend.Create(ctx, id, meta)
	return panickyWriter{w}, err
}

func (panickyWriter) Write([]byte) (int, error) { panic("bug") }

// TestHandlerPanicCostsOneConnection checks that a bug in a session closes
// that connection with 1011 and releases its upload, and nothing else.
func TestHandlerPanicCostsOneConnection(t *testing.T) {
	backend := newLocal(t, t.TempDir())
	ts := newTestServer(t, Config{Backend: panickyBackend{backend}, Logger: quietLogger()})
	p := dial(t, ts.url)
	id := p.start("p", 10, "").ID
	p.sendBinary([]byte("x"))
	if code, _ := p.expectClose(); code != websocket.CloseInternalServerErr {
		t.Errorf("close code %d, want 1011", code)
	}
	_, f := resume(t, ts.url, id)
	if f.Type != TypeReady {
		t.Errorf("resume after the panic: %+v", f)
	}
}

// hintedBackend asks for at least interval between progress checkpoints.
type hintedBackend struct {
	storage.Backend
	interval time.Duration
}

func (b hintedBackend) CheckpointInterval() time.Duration { return b.interval }

// TestHandlerHonoursCheckpointHint checks that a costly backend's interval
// holds off progress checkpoints, while end still makes everything durable.
func TestHandlerHonoursCheckpointHint(t *testing.T) {
	ts := newTestServer(t, Config{Backend: hintedBackend{newLocal(t, t.TempDir()), time.Hour}})
	p := dial(t, ts.url)
	data := randomBytes(t, 1000)
	p.start("h", int64(len(data)), hexSum(data))
	p.sendBinary(data[:600])
	for {
		f := p.expect(TypeProgress)
		if f.Offset != 0 {
			t.Fatalf("checkpointed within the backend's interval: %+v", f)
		}
		if f.Received == 600 {
			break
		}
	}
	p.sendBinary(data[600:])
	p.end()
	if f := p.expect(TypeComplete); f.SHA256 != hexSum(data) {
		t.Errorf("sha256 %s, want %s", f.SHA256, hexSum(data))
	}
}
