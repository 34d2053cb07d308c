package upload

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/ferryhq/ferry/storage"
	"github.com/ferryhq/ferry/storage/storagetest"
)

// after says what a test expects of the upload once the error was sent.
type after int

const (
	noUpload     after = iota // nothing was or is active
	stillActive               // the upload is active at its offset
	endedKept                 // no longer active; resumable
	endedDeleted              // no longer active; its bytes are gone
)

// TestHandlerErrorCodes reaches every error code the server sends in an
// error frame, and checks what each leaves behind: the contract says which
// errors keep an upload active, which end it, and which delete its bytes.
func TestHandlerErrorCodes(t *testing.T) {
	faulty := func(cfg *Config, f storagetest.Faulty) {
		f.Backend = cfg.Backend
		cfg.Backend = &f
	}
	started := func(t *testing.T, p *peer, size int64) string {
		t.Helper()
		return p.start("f.bin", size, "").ID
	}
	// writePastFour gets 4 of 10 bytes durable, then sends 4 more: the
	// write that a Faulty backend with FailWriteAfter 4 refuses.
	writePastFour := func(t *testing.T, ts *testServer, p *peer) string {
		id := started(t, p, 10)
		p.sendBinary([]byte("0123"))
		p.waitOffset(4)
		p.sendBinary([]byte("4567"))
		return id
	}
	bad := func(frame string) func(*testing.T, *testServer, *peer) string {
		return func(t *testing.T, ts *testServer, p *peer) string {
			p.sendText(frame)
			return ""
		}
	}
	tests := []struct {
		name   string
		config func(*Config)
		// run drives the connection up to the error and returns the id of
		// the upload it concerns, if any.
		run   func(t *testing.T, ts *testServer, p *peer) string
		want  Code
		after after
	}{
		{name: "bad_request/not JSON", run: bad(`{"type":`), want: CodeBadRequest},
		{name: "bad_request/array", run: bad(`[]`), want: CodeBadRequest},
		{name: "bad_request/string", run: bad(`"start"`), want: CodeBadRequest},
		{name: "bad_request/null", run: bad(`null`), want: CodeBadRequest},
		{name: "bad_request/no type", run: bad(`{"name":"a","size":1}`), want: CodeBadRequest},
		{name: "bad_request/type not string", run: bad(`{"type":7}`), want: CodeBadRequest},
		{name: "bad_request/type null", run: bad(`{"type":null}`), want: CodeBadRequest},
		{name: "bad_request/no name", run: bad(`{"type":"start","size":1}`), want: CodeBadRequest},
		{name: "bad_request/empty name", run: bad(`{"type":"start","name":"","size":1}`), want: CodeBadRequest},
		{name: "bad_request/name not string", run: bad(`{"type":"start","name":5,"size":1}`), want: CodeBadRequest},
		{name: "bad_request/name too long", run: bad(`{"type":"start","name":"` + strings.Repeat("n", 60_000) + `","size":1}`), want: CodeBadRequest},
		{name: "bad_request/name blank", run: bad(`{"type":"start","name":" \t\u202e ","size":1}`), want: CodeBadRequest},
		{name: "bad_request/no size", run: bad(`{"type":"start","name":"a"}`), want: CodeBadRequest},
		{name: "bad_request/size 1.5", run: bad(`{"type":"start","name":"a","size":1.5}`), want: CodeBadRequest},
		{name: "bad_request/size string", run: bad(`{"type":"start","name":"a","size":"5"}`), want: CodeBadRequest},
		{name: "bad_request/size -1", run: bad(`{"type":"start","name":"a","size":-1}`), want: CodeBadRequest},
		{name: "bad_request/size null", run: bad(`{"type":"start","name":"a","size":null}`), want: CodeBadRequest},
		{name: "bad_request/size 1e3", run: bad(`{"type":"start","name":"a","size":1e3}`), want: CodeBadRequest},
		{name: "bad_request/size true", run: bad(`{"type":"start","name":"a","size":true}`), want: CodeBadRequest},
		{name: "bad_request/sha256 short", run: bad(`{"type":"start","name":"a","size":1,"sha256":"abc"}`), want: CodeBadRequest},
		{name: "bad_request/sha256 not hex", run: bad(`{"type":"start","name":"a","size":1,"sha256":"` + strings.Repeat("g", 64) + `"}`), want: CodeBadRequest},
		{name: "bad_request/sha256 number", run: bad(`{"type":"start","name":"a","size":1,"sha256":12}`), want: CodeBadRequest},
		{name: "bad_request/mime not string", run: bad(`{"type":"start","name":"a","size":1,"mime":["x"]}`), want: CodeBadRequest},
		{name: "bad_request/mime not a type", run: bad(`{"type":"start","name":"a","size":1,"mime":"no slash"}`), want: CodeBadRequest},
		{name: "bad_request/resume without id", run: bad(`{"type":"resume"}`), want: CodeBadRequest},
		{name: "bad_request/resume id not string", run: bad(`{"type":"resume","id":42}`), want: CodeBadRequest},
		{name: "bad_request/text frame too long", run: bad(`{"type":"start","name":"` + strings.Repeat("a", maxTextFrame) + `","size":1}`), want: CodeBadRequest},
		{
			name: "bad_request/keeps active upload",
			run: func(t *testing.T, ts *testServer, p *peer) string {
				id := started(t, p, 10)
				p.sendBinary([]byte("01234"))
				p.sendText(`{"type":"end","x":`)
				return id
			},
			want: CodeBadRequest, after: stillActive,
		},
		{name: "unknown_type/made up", run: bad(`{"type":"upload"}`), want: CodeUnknownType},
		{name: "unknown_type/server frame", run: bad(`{"type":"ready","id":"x"}`), want: CodeUnknownType},
		{
			name: "unknown_type/keeps active upload",
			run: func(t *testing.T, ts *testServer, p *peer) string {
				id := started(t, p, 10)
				p.sendText(`{"type":"pause"}`)
				return id
			},
			want: CodeUnknownType, after: stillActive,
		},
		{
			name: "not_started/binary",
			run:  func(t *testing.T, ts *testServer, p *peer) string { p.sendBinary([]byte("x")); return "" },
			want: CodeNotStarted,
		},
		{name: "not_started/end", run: bad(`{"type":"end"}`), want: CodeNotStarted},
		{name: "not_started/abort", run: bad(`{"type":"abort"}`), want: CodeNotStarted},
		{
			name: "already_started/start",
			run: func(t *testing.T, ts *testServer, p *peer) string {
				id := started(t, p, 10)
				p.sendJSON(StartFrame{Type: TypeStart, Name: "again", Size: 1})
				return id
			},
			want: CodeAlreadyStarted, after: stillActive,
		},
		{
			name: "already_started/malformed start",
			run: func(t *testing.T, ts *testServer, p *peer) string {
				id := started(t, p, 10)
				// Too large as well, but the active upload comes first: an
				// error that ends uploads must not be sent about this one.
				p.sendText(`{"type":"start","name":"a","size":99999999999999999999}`)
				return id
			},
			want: CodeAlreadyStarted, after: stillActive,
		},
		{
			name: "already_started/resume",
			run: func(t *testing.T, ts *testServer, p *peer) string {
				id := started(t, p, 10)
				p.sendJSON(ResumeFrame{Type: TypeResume, ID: id})
				return id
			},
			want: CodeAlreadyStarted, after: stillActive,
		},
		{
			name:   "too_large/over MaxSize",
			config: func(c *Config) { c.MaxSize = 100 },
			run:    bad(`{"type":"start","name":"a","size":101}`),
			want:   CodeTooLarge,
		},
		{name: "too_large/over int64", run: bad(`{"type":"start","name":"a","size":99999999999999999999}`), want: CodeTooLarge},
		{
			name: "size_exceeded/keeps offset",
			run: func(t *testing.T, ts *testServer, p *peer) string {
				id := started(t, p, 10)
				p.sendBinary([]byte("0123456"))
				p.sendBinary([]byte("7890")) // 11 > 10
				return id
			},
			want: CodeSizeExceeded, after: stillActive,
		},
		{
			name: "incomplete/stays active",
			run: func(t *testing.T, ts *testServer, p *peer) string {
				id := started(t, p, 10)
				p.sendBinary([]byte("01234"))
				p.end()
				return id
			},
			want: CodeIncomplete, after: stillActive,
		},
		{
			name: "checksum_mismatch/deletes",
			run: func(t *testing.T, ts *testServer, p *peer) string {
				id := p.start("f.bin", 3, hexSum([]byte("abd"))).ID
				p.sendBinary([]byte("abc"))
				p.end()
				return id
			},
			want: CodeChecksumMismatch, after: endedDeleted,
		},
		{
			name:   "forbidden_type/declared",
			config: func(c *Config) { c.AllowedTypes = []string{"image/*"} },
			run:    bad(`{"type":"start","name":"a.html","size":10,"mime":"text/html"}`),
			want:   CodeForbiddenType,
		},
		{
			name:   "forbidden_type/sniffed",
			config: func(c *Config) { c.AllowedTypes = []string{"image/*"} },
			run: func(t *testing.T, ts *testServer, p *peer) string {
				page := []byte("<!DOCTYPE html><html><script>alert(1)</script></html>")
				p.sendJSON(StartFrame{Type: TypeStart, Name: "cat.png", Size: int64(len(page)) + 100, MIME: "image/png"})
				id := p.expect(TypeReady).ID
				p.sendBinary(page)
				return id
			},
			want: CodeForbiddenType, after: endedDeleted,
		},
		{
			name:   "forbidden_type/sniffed across frames",
			config: func(c *Config) { c.AllowedTypes = []string{"image/png"} },
			run: func(t *testing.T, ts *testServer, p *peer) string {
				data := []byte(strings.Repeat("plain text, not a picture. ", 30))
				id := p.start("x.png", int64(len(data)), "").ID
				// Undecided until 512 bytes are in; 518 get there.
				p.sendChunks(data[:518], 7)
				return id
			},
			want: CodeForbiddenType, after: endedDeleted,
		},
		{
			name: "not_found/unknown id",
			run: func(t *testing.T, ts *testServer, p *peer) string {
				p.sendJSON(ResumeFrame{Type: TypeResume, ID: "0192f8a4-7b3c-7d2e-8f10-1234567890ab"})
				return ""
			},
			want: CodeNotFound,
		},
		{name: "not_found/path id", run: bad(`{"type":"resume","id":"../../etc/passwd"}`), want: CodeNotFound},
		{name: "not_found/empty id", run: bad(`{"type":"resume","id":""}`), want: CodeNotFound},
		{name: "not_found/upper-case id", run: bad(`{"type":"resume","id":"0192F8A4-7B3C-7D2E-8F10-1234567890AB"}`), want: CodeNotFound},
		{
			name: "not_found/aborted id",
			run: func(t *testing.T, ts *testServer, p *peer) string {
				id := started(t, p, 10)
				p.sendJSON(ControlFrame{Type: TypeAbort})
				if f := p.expect(TypeAborted); f.ID != id {
					t.Fatalf("aborted %q, want %q", f.ID, id)
				}
				p.sendJSON(ResumeFrame{Type: TypeResume, ID: id})
				return id
			},
			want: CodeNotFound, after: endedDeleted,
		},
		{
			name: "not_found/deleted while writing",
			run: func(t *testing.T, ts *testServer, p *peer) string {
				id := started(t, p, 10)
				p.sendBinary([]byte("01234"))
				p.waitOffset(5)
				if err := ts.backend.Delete(context.Background(), id); err != nil {
					t.Fatalf("delete: %v", err)
				}
				p.sendBinary([]byte("56789"))
				return id
			},
			want: CodeNotFound, after: endedDeleted,
		},
		{
			name: "locked/held by another connection",
			run: func(t *testing.T, ts *testServer, p *peer) string {
				other := dial(t, ts.url)
				id := other.start("f.bin", 10, "").ID
				p.sendJSON(ResumeFrame{Type: TypeResume, ID: id})
				return id
			},
			want: CodeLocked,
		},
		{
			name: "quota_exceeded/disk full",
			config: func(c *Config) {
				faulty(c, storagetest.Faulty{FailWriteAfter: 4, WriteErr: storage.ErrNoSpace})
			},
			run:  writePastFour,
			want: CodeQuotaExceeded, after: endedKept,
		},
		{
			name: "storage_error/write",
			config: func(c *Config) {
				faulty(c, storagetest.Faulty{FailWriteAfter: 4, WriteErr: errors.New("/secret/path: disk on fire")})
			},
			run:  writePastFour,
			want: CodeStorageError, after: endedKept,
		},
		{
			// A store that refuses a Write the session had checked: the
			// upload must end (its Writer's position is no longer known),
			// so the client is not told size_exceeded, which keeps it active.
			name: "storage_error/write refused as size_exceeded",
			config: func(c *Config) {
				faulty(c, storagetest.Faulty{FailWriteAfter: 4, WriteErr: storage.ErrSizeExceeded})
			},
			run:  writePastFour,
			want: CodeStorageError, after: endedKept,
		},
		{
			name: "storage_error/write refused as invalid",
			config: func(c *Config) {
				faulty(c, storagetest.Faulty{FailWriteAfter: 4, WriteErr: storage.ErrInvalid})
			},
			run:  writePastFour,
			want: CodeStorageError, after: endedKept,
		},
		{
			name: "storage_error/checkpoint",
			config: func(c *Config) {
				faulty(c, storagetest.Faulty{FailWriteAfter: 0, CheckpointErr: errors.New("/secret/path: fsync failed")})
			},
			run: func(t *testing.T, ts *testServer, p *peer) string {
				id := started(t, p, 10)
				p.sendBinary([]byte("01234"))
				return id
			},
			want: CodeStorageError, after: endedKept,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := Config{Backend: newLocal(t, t.TempDir())}
			if tt.config != nil {
				tt.config(&cfg)
			}
			ts := newTestServer(t, cfg)
			p := dial(t, ts.url)
			id := tt.run(t, ts, p)
			f := p.expectError(tt.want)
			if strings.Contains(f.Message, "secret") {
				t.Errorf("message leaks internal text: %q", f.Message)
			}
			if id != "" && f.ID != id {
				t.Errorf("error names upload %q, want %q", f.ID, id)
			}
			checkAfter(t, ts, p, id, tt.after)
		})
	}
}

// checkAfter checks what an error left behind, through the connection (is an
// upload active?) and through a new one (can it be resumed?).
func checkAfter(t *testing.T, ts *testServer, p *peer, id string, want after) {
	t.Helper()
	// end answers incomplete while an upload is active, not_started if none.
	p.end()
	f := p.expect(TypeError)
	active := f.Code == CodeIncomplete
	if f.Code != CodeIncomplete && f.Code != CodeNotStarted {
		t.Fatalf("end after the error: %s (%s)", f.Code, f.Message)
	}
	if active != (want == stillActive) {
		t.Errorf("upload active after the error: %v, want %v", active, want == stillActive)
	}
	switch want {
	case endedKept, endedDeleted:
		info, err := ts.backend.Stat(context.Background(), id)
		if want == endedDeleted && !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("upload still stored (err %v); it should have been deleted", err)
		}
		if want == endedKept {
			if err != nil {
				t.Fatalf("upload gone: %v", err)
			}
			q, f := resume(t, ts.url, id)
			if f.Type != TypeReady || f.Offset != info.Offset {
				t.Errorf("resume after the error: %+v, want ready at %d", f, info.Offset)
			}
			q.conn.Close()
		}
	}
}

// TestHandlerSizeExceededKeepsOffset continues an upload after a rejected
// frame: nothing of that frame may have been stored.
func TestHandlerSizeExceededKeepsOffset(t *testing.T) {
	ts := newTestServer(t, Config{})
	p := dial(t, ts.url)
	data := []byte("0123456789")
	ready := p.start("f.bin", 10, hexSum(data))
	p.sendBinary(data[:6])
	p.sendBinary([]byte("abcdefgh"))
	p.expectError(CodeSizeExceeded)
	p.sendBinary(data[6:])
	p.end()
	f := p.expect(TypeComplete)
	if f.SHA256 != hexSum(data) || storedSum(t, ts.backend, ready.ID) != hexSum(data) {
		t.Errorf("stored bytes differ: %+v", f)
	}
}

// TestHandlerSizeExceededFragmented rejects a big message, fragmented on the
// wire (gorilla's client sends 64 KiB frames), that would pass the size.
func TestHandlerSizeExceededFragmented(t *testing.T) {
	ts := newTestServer(t, Config{MaxFrame: 1 << 20})
	p := dial(t, ts.url)
	data := randomBytes(t, 300_000)
	id := p.start("f.bin", int64(len(data)), hexSum(data)).ID
	p.sendBinary(data[:200_000])
	p.sendBinary(randomBytes(t, 200_000))
	p.expectError(CodeSizeExceeded)
	p.sendBinary(data[200_000:])
	p.end()
	if f := p.expect(TypeComplete); f.SHA256 != hexSum(data) || storedSum(t, ts.backend, id) != hexSum(data) {
		t.Errorf("stored bytes differ: %+v", f)
	}
}

// TestHandlerIncompleteThenResume ends too early, then finishes the upload on
// another connection.
func TestHandlerIncompleteThenResume(t *testing.T) {
	ts := newTestServer(t, Config{})
	data := randomBytes(t, 1000)
	p := dial(t, ts.url)
	id := p.start("f.bin", int64(len(data)), hexSum(data)).ID
	p.sendBinary(data[:400])
	p.end()
	p.expectError(CodeIncomplete)
	p.waitOffset(400)
	p.conn.Close()

	q, ready := resume(t, ts.url, id)
	if ready.Type != TypeReady || ready.Offset != 400 || ready.Size != 1000 {
		t.Fatalf("resume: %+v, want ready at 400 of 1000", ready)
	}
	q.sendBinary(data[400:])
	q.end()
	if f := q.expect(TypeComplete); f.SHA256 != hexSum(data) {
		t.Errorf("sha256 %s, want %s", f.SHA256, hexSum(data))
	}
}

// TestHandlerFrameOverMax closes with 1009 and leaves the upload resumable.
func TestHandlerFrameOverMax(t *testing.T) {
	ts := newTestServer(t, Config{MaxFrame: 1 << 10})
	p := dial(t, ts.url)
	ready := p.start("f.bin", 1<<20, "")
	if ready.MaxFrame != 1<<10 {
		t.Errorf("max_frame %d, want %d", ready.MaxFrame, 1<<10)
	}
	p.sendBinary(make([]byte, 1<<10)) // exactly max_frame is fine
	p.waitOffset(1 << 10)
	p.conn.SetWriteDeadline(time.Now().Add(frameWait))
	// The server closes while we are still writing; the write may fail.
	p.conn.WriteMessage(websocket.BinaryMessage, make([]byte, 256<<10))
	if code, _ := p.expectClose(); code != websocket.CloseMessageTooBig {
		t.Errorf("close code %d, want %d", code, websocket.CloseMessageTooBig)
	}
	_, f := resume(t, ts.url, ready.ID)
	if f.Type != TypeReady || f.Offset != 1<<10 {
		t.Errorf("resume after 1009: %+v, want ready at %d", f, 1<<10)
	}
}

// TestHandlerHandshake covers what happens before the upgrade.
func TestHandlerHandshake(t *testing.T) {
	ts := newTestServer(t, Config{})
	tests := []struct {
		name     string
		header   http.Header
		status   int
		protocol string
	}{
		{"same origin", http.Header{"Origin": {ts.srv.URL}}, http.StatusSwitchingProtocols, Subprotocol},
		{"no origin", nil, http.StatusSwitchingProtocols, Subprotocol},
		{"foreign origin", http.Header{"Origin": {"http://evil.example"}}, http.StatusForbidden, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, proto := handshake(t, ts.url, tt.header)
			if status != tt.status || proto != tt.protocol {
				t.Errorf("status %d protocol %q, want %d %q", status, proto, tt.status, tt.protocol)
			}
		})
	}
	t.Run("plain GET", func(t *testing.T) {
		resp, err := http.Get(ts.srv.URL + "/ws/upload")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("status %d, want 400", resp.StatusCode)
		}
	})
	t.Run("custom CheckOrigin", func(t *testing.T) {
		ts := newTestServer(t, Config{CheckOrigin: func(r *http.Request) bool {
			return r.Header.Get("Origin") == "https://app.example"
		}})
		if status, _ := handshake(t, ts.url, http.Header{"Origin": {"https://app.example"}}); status != http.StatusSwitchingProtocols {
			t.Errorf("allowed origin: status %d", status)
		}
		if status, _ := handshake(t, ts.url, http.Header{"Origin": {ts.srv.URL}}); status != http.StatusForbidden {
			t.Errorf("other origin: status %d", status)
		}
	})
}

func TestNewHandlerRejectsBadConfig(t *testing.T) {
	b := newLocal(t, t.TempDir())
	tests := []struct {
		name string
		cfg  Config
	}{
		{"no backend", Config{}},
		{"negative size", Config{Backend: b, MaxSize: -1}},
		{"negative frame", Config{Backend: b, MaxFrame: -1}},
		{"negative ping", Config{Backend: b, PingPeriod: -1}},
		{"negative burst", Config{Backend: b, MessageBurst: -1}},
		{"bad type", Config{Backend: b, AllowedTypes: []string{"image"}}},
		{"star type", Config{Backend: b, AllowedTypes: []string{"*/png"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := NewHandler(tt.cfg); err == nil {
				t.Error("NewHandler accepted it")
			}
		})
	}
	if _, err := NewHandler(Config{Backend: b, AllowedTypes: []string{"image/*", "Video/MP4", "*/*"}}); err != nil {
		t.Errorf("valid config: %v", err)
	}
}

// TestHandlerNewIDMustBeUUID refuses to create uploads under a bad id.
func TestHandlerNewIDMustBeUUID(t *testing.T) {
	ts := newTestServer(t, Config{NewID: func() string { return "../escape" }})
	p := dial(t, ts.url)
	p.sendJSON(StartFrame{Type: TypeStart, Name: "a", Size: 1})
	p.expectError(CodeStorageError)
}
