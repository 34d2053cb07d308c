package contract_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"testing"
	"time"
)

// §1 ready: "answer to start (offset 0)" with id (UUID v4/v7, canonical
// lower-case), offset, size, max_frame, expires_at (RFC 3339; the last
// write plus the expiry period, 24 h by default).
func TestReadyFrameFields(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name      string
		maxFrame  int64
		expiry    time.Duration
		wantFrame int64 // 0: any positive
		wantExp   time.Duration
	}{
		{"defaults", 0, 0, 0, 24 * time.Hour},
		{"configured", 4096, time.Hour, 4096, time.Hour},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := start(t, cfg{MaxFrame: tc.maxFrame, Expiry: tc.expiry})
			w := s.dial(t)
			before := time.Now()
			w.sendJSON(map[string]any{"type": "start", "name": "a.bin", "size": 12345})
			f := w.expect("ready")
			after := time.Now()
			id := checkReady(t, f, "", 0, 12345)
			for _, k := range []string{"id", "offset", "size", "max_frame", "expires_at"} {
				if !f.has(k) {
					t.Errorf("ready %v has no %q", f, k)
				}
			}
			if mf, _ := f.num("max_frame"); tc.wantFrame != 0 && mf != tc.wantFrame {
				t.Errorf("ready max_frame %d, want the configured %d", mf, tc.wantFrame)
			}
			ea, _ := f.str("expires_at")
			exp, err := time.Parse(time.RFC3339, ea)
			if err != nil {
				t.Fatalf("expires_at %q: %v", ea, err)
			}
			if !exp.After(after) {
				t.Errorf("expires_at %v is not in the future", exp)
			}
			lo, hi := before.Add(tc.wantExp).Add(-2*time.Second), after.Add(tc.wantExp).Add(2*time.Second)
			if exp.Before(lo) || exp.After(hi) {
				t.Errorf("expires_at %v, want about now + %v (%v .. %v)", exp, tc.wantExp, lo, hi)
			}
			// Two starts give two different ids.
			w.sendJSON(map[string]any{"type": "abort"})
			w.expect("aborted")
			w.sendJSON(map[string]any{"type": "start", "name": "a.bin", "size": 1})
			if id2 := checkReady(t, w.expect("ready"), "", 0, 1); id2 == id {
				t.Errorf("two uploads got the same id %s", id)
			}
		})
	}
}

// §1: "expires_at is when the upload will be deleted if nothing more is
// written to it (the last write plus the expiry period)" — a resume after
// more writes answers a later expires_at.
func TestExpiresAtMovesWithWrites(t *testing.T) {
	t.Parallel()
	s := start(t, cfg{Expiry: time.Hour})
	w := s.dial(t)
	w.sendJSON(map[string]any{"type": "start", "name": "e.bin", "size": 100})
	f := w.expect("ready")
	id := checkReady(t, f, "", 0, 100)
	ea1, _ := f.str("expires_at")
	exp1, _ := time.Parse(time.RFC3339, ea1)
	s.clock.advance(time.Minute) // RFC 3339 may be second-granular
	beforeWrite := s.clock.now()
	w.sendBin(data(40, 1))
	w.waitOffset(id, 40, 5*time.Second)
	afterWrite := s.clock.now()
	w.closeClean()

	w2 := s.dial(t)
	r := w2.resumeUntilReady(id, 5*time.Second)
	checkReady(t, r, id, 40, 100)
	ea2, _ := r.str("expires_at")
	exp2, err := time.Parse(time.RFC3339, ea2)
	if err != nil {
		t.Fatalf("expires_at %q: %v", ea2, err)
	}
	if !exp2.After(exp1) {
		t.Errorf("expires_at after a later write is %v, not after the first %v", exp2, exp1)
	}
	lo, hi := beforeWrite.Add(time.Hour).Add(-2*time.Second), afterWrite.Add(time.Hour).Add(2*time.Second)
	if exp2.Before(lo) || exp2.After(hi) {
		t.Errorf("expires_at %v, want the last write + 1h (%v .. %v)", exp2, lo, hi)
	}
}

// §1 complete: id, size, sha256 (lower-case hex computed by the server), url
// "/files/<id>", and the stored bytes are the sent bytes.
func TestUploadCompletes(t *testing.T) {
	t.Parallel()
	s := start(t, cfg{MaxFrame: 64 << 10})
	for _, tc := range []struct {
		name  string
		size  int
		chunk int
	}{
		{"empty file", 0, 1},
		{"one byte", 1, 1},
		{"one message", 1000, 1000},
		{"many small messages", 10_000, 7},
		{"max_frame messages", 300_000, 64 << 10},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			body := data(tc.size, uint64(tc.size))
			w := s.dial(t)
			id := w.startUpload("f.bin", int64(len(body)), nil)
			w.sendChunks(body, tc.chunk)
			w.finish(id, body)

			resp, got := s.get(t, "/files/"+id, nil)
			wantStatus(t, "GET /files/"+id, resp, got, http.StatusOK)
			if !bytes.Equal(got, body) {
				t.Errorf("downloaded %d bytes differ from the %d uploaded", len(got), len(body))
			}
		})
	}
}

// §1: "received and offset ... offset <= received <= size always, and
// neither ever decreases within a connection" (checked on every frame by the
// reader); pacing: "no two progress frames closer than 20 ms". The sound,
// timing-independent form: N frames span at least (N-1)*20ms on the server,
// and the server cannot send before the first byte nor after the client saw
// the last frame.
func TestProgressInvariantsAndPacing(t *testing.T) {
	t.Parallel()
	s := start(t, cfg{MaxFrame: 64 << 10})
	w := s.dial(t)
	const size = 3 << 20
	body := data(size, 7)
	id := w.startUpload("p.bin", size, nil)
	t0 := time.Now()
	for off := 0; off < size; off += 16 << 10 {
		w.sendBin(body[off : off+16<<10])
		if off%(256<<10) == 0 {
			time.Sleep(15 * time.Millisecond) // give the server pauses to report in
		}
	}
	w.finish(id, body)
	t1 := time.Now()
	ps := w.progressFor(id)
	span := t1.Sub(t0)
	if max := int(span/(20*time.Millisecond)) + 2; len(ps) > max {
		t.Errorf("%d progress frames within %v: more than one per 20 ms (max %d)", len(ps), span, max)
	}
	if len(ps) == 0 {
		t.Errorf("no progress frame during a %v upload of %d bytes", span, size)
	}
	var closest time.Duration = time.Hour
	for i := 1; i < len(ps); i++ {
		closest = min(closest, ps[i].at.Sub(ps[i-1].at))
	}
	t.Logf("%d progress frames over %v; closest arrival gap %v (client side, informative)", len(ps), span, closest)
}

// §1 pacing: "durable bytes never wait more than 250 ms to be reported" —
// after the last chunk, with the client sending nothing more, a progress
// frame reports every byte durable. Bound generous for a loaded machine.
func TestProgressArrivesWithoutFurtherInput(t *testing.T) {
	t.Parallel()
	s := start(t, cfg{})
	w := s.dial(t)
	body := data(3000, 3)
	id := w.startUpload("idle.bin", int64(len(body))+1000, nil)
	var worst time.Duration
	for i, off := 0, 0; off < len(body); i, off = i+1, off+1000 {
		w.sendBin(body[off : off+1000])
		sent := time.Now()
		p := w.waitOffset(id, int64(off+1000), 3*time.Second)
		d := p.at.Sub(sent)
		worst = max(worst, d)
		if p.received < p.offset {
			t.Errorf("progress received %d < offset %d", p.received, p.offset)
		}
	}
	t.Logf("slowest report of durable bytes after the client went quiet: %v (contract: 250 ms after they are durable)", worst)
	if worst > 2*time.Second {
		t.Errorf("durable bytes took %v to be reported with no further input", worst)
	}
	// Still active: the rest and end complete it.
	rest := data(1000, 4)
	w.sendBin(rest)
	w.finish(id, append(body, rest...))
}

// §1: "After complete, aborted or an error that ends the upload, the client
// may send another start or resume on the same connection."
func TestManyUploadsOnOneConnection(t *testing.T) {
	t.Parallel()
	s := start(t, cfg{})
	w := s.dial(t)
	a := data(500, 10)
	idA := w.upload("a.bin", "", a)
	// After complete: nothing active.
	w.sendBin([]byte{1})
	w.expectError("not_started", "", false)

	idB := w.startUpload("b.bin", 10, nil)
	w.sendBin([]byte("12345"))
	w.sendJSON(map[string]any{"type": "abort"})
	ab := w.expect("aborted")
	if got, _ := ab.str("id"); got != idB {
		t.Errorf("aborted %v, want id %s", ab, idB)
	}
	w.sendJSON(map[string]any{"type": "end"})
	w.expectError("not_started", "", false)

	c := data(700, 11)
	idC := w.upload("c.bin", "", c)
	if idA == idC || idA == idB || idB == idC {
		t.Errorf("ids repeat: %s %s %s", idA, idB, idC)
	}
	// resume of a complete upload on the same connection answers complete.
	w.sendJSON(map[string]any{"type": "resume", "id": idA})
	checkComplete(t, w.expect("complete"), idA, a)
	// ... and leaves nothing active.
	w.sendJSON(map[string]any{"type": "end"})
	w.expectError("not_started", "", false)
	// A new start works after that.
	d := data(3, 12)
	w.upload("d.bin", "", d)
}

// §1: "resume of an upload that is already complete answers complete again
// (a client that lost the connection right after end learns the outcome)."
func TestResumeOfCompleteAnswersComplete(t *testing.T) {
	t.Parallel()
	s := start(t, cfg{})
	body := data(4321, 20)
	w := s.dial(t)
	id := w.startUpload("done.bin", int64(len(body)), map[string]any{"sha256": sha(body)})
	w.sendBin(body)
	w.sendJSON(map[string]any{"type": "end"})
	first := w.expect("complete")
	checkComplete(t, first, id, body)
	w.drop()

	w2 := s.dial(t)
	w2.sendJSON(map[string]any{"type": "resume", "id": id})
	again := w2.expect("complete")
	checkComplete(t, again, id, body)
	for _, k := range []string{"id", "size", "sha256", "url"} {
		if first[k] != again[k] {
			t.Errorf("complete %s: %v on end, %v on resume", k, first[k], again[k])
		}
	}
	// The connection is free for another upload.
	w2.upload("next.bin", "", []byte("x"))
}

// §1 abort: "give up this upload: its stored bytes are deleted"; answer
// aborted with id; resume of an aborted id answers not_found.
func TestAbortDeletesUpload(t *testing.T) {
	t.Parallel()
	s := start(t, cfg{})
	w := s.dial(t)
	id := w.startUpload("gone.bin", 1000, nil)
	w.sendBin(data(600, 30))
	w.waitOffset(id, 600, 5*time.Second)
	// The upload is visible while in progress.
	resp, body := s.get(t, "/api/files/"+id, nil)
	wantStatus(t, "GET /api/files/<in progress>", resp, body, http.StatusOK)

	w.sendJSON(map[string]any{"type": "abort"})
	f := w.expect("aborted")
	if got, err := f.str("id"); err != nil || got != id {
		t.Errorf("aborted frame %v, want id %s", f, id)
	}
	for _, p := range []string{"/api/files/" + id, "/files/" + id} {
		resp, body := s.get(t, p, nil)
		wantStatus(t, "GET "+p+" after abort", resp, body, http.StatusNotFound)
	}
	resp, body = s.do(t, http.MethodDelete, "/api/files/"+id, nil)
	wantStatus(t, "DELETE after abort", resp, body, http.StatusNotFound)
	w.sendBin([]byte{1})
	w.expectError("not_started", "", false)
	w.sendJSON(map[string]any{"type": "resume", "id": id})
	w.expectError("not_found", id, false)

	// Not listed either.
	resp, body = s.get(t, "/api/files", nil)
	var list struct{ Files []map[string]any }
	_ = json.Unmarshal(body, &list)
	for _, f := range list.Files {
		if f["id"] == id {
			t.Errorf("aborted upload %s listed in /api/files", id)
		}
	}
	_ = resp
}
