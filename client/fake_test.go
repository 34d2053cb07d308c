package client_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/gorilla/websocket"

	"github.com/ferryhq/ferry/client"
	"github.com/ferryhq/ferry/upload"
)

// The fake server below speaks just enough of the protocol to script what
// the real one does rarely: errors, close codes, silence, slow acks. The
// real handler is exercised in client_test.go.

// fakeAction is what a fake server does at a scripted point of a connection.
type fakeAction struct {
	errCode   upload.Code // send this error frame and keep reading
	closeCode int         // send a close frame with this code and hang up
	drop      bool        // hang up without a close frame
	silent    bool        // stop reading and writing until the client leaves
}

// fakeHook is called on connection conn (1-based) at event "handshake"
// (start or resume read), "chunk" (a binary message stored; at is the
// upload's size so far) or "end". A zero action carries on.
type fakeHook func(conn int, event string, at int64) fakeAction

type fakeUpload struct {
	name     string
	size     int64
	data     []byte // durable bytes
	complete bool
}

// fakeServer keeps uploads in memory, all bytes durable at once.
type fakeServer struct {
	t        *testing.T
	srv      *httptest.Server
	maxFrame int64
	ackEvery int   // send progress after this many binary messages
	window   int64 // if > 0, fail the test when more than this is unacknowledged
	hook     fakeHook
	badSum   bool   // answer complete with a wrong digest
	status   int    // if non-zero, refuse every handshake with this HTTP status
	prefix   string // path the server is mounted under
	token    string // if set, the Bearer token every handshake needs

	subprotocols []string // what each handshake negotiated

	conns    atomic.Int32
	mu       sync.Mutex
	uploads  map[string]*fakeUpload
	readies  []int64 // offset of every ready sent
	closes   []int   // close codes the client sent
	maxAhead int64   // most bytes received beyond the last progress
}

func newFakeServer(t *testing.T, configure func(*fakeServer)) *fakeServer {
	t.Helper()
	f := &fakeServer{t: t, maxFrame: 1 << 20, ackEvery: 1, uploads: map[string]*fakeUpload{}}
	if configure != nil {
		configure(f)
	}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeServer) upload(id string) *fakeUpload {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.uploads[id]
}

func (f *fakeServer) readyOffsets() []int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]int64(nil), f.readies...)
}

func (f *fakeServer) serve(w http.ResponseWriter, r *http.Request) {
	if f.status != 0 {
		http.Error(w, "refused", f.status)
		return
	}
	if r.URL.Path != f.prefix+"/ws/upload" {
		http.NotFound(w, r)
		return
	}
	if f.token != "" && r.Header.Get("Authorization") != "Bearer "+f.token {
		http.Error(w, `{"error": "unauthorized"}`, http.StatusUnauthorized)
		return
	}
	up := websocket.Upgrader{Subprotocols: []string{upload.Subprotocol}}
	ws, err := up.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	defer ws.Close()
	f.mu.Lock()
	f.subprotocols = append(f.subprotocols, ws.Subprotocol())
	f.mu.Unlock()
	echo := ws.CloseHandler()
	ws.SetCloseHandler(func(code int, text string) error {
		// Recorded before the echo, which is what lets the client return.
		f.mu.Lock()
		f.closes = append(f.closes, code)
		f.mu.Unlock()
		return echo(code, text)
	})
	n := int(f.conns.Add(1))
	f.session(n, ws)
}

// act carries out a scripted action; it reports whether the session ends.
func (f *fakeServer) act(ws *websocket.Conn, a fakeAction, id string) bool {
	switch {
	case a.errCode != "":
		f.send(ws, upload.ErrorFrame{Type: upload.TypeError, Code: a.errCode, Message: "scripted", ID: id})
		return true
	case a.closeCode != 0:
		ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(a.closeCode, ""), time.Now().Add(time.Second))
		return true
	case a.drop:
		return true
	case a.silent:
		// Read on without answering (pings included) until the client gives up.
		ws.SetPingHandler(func(string) error { return nil })
		for {
			if _, _, err := ws.ReadMessage(); err != nil {
				return true
			}
		}
	}
	return false
}

func (f *fakeServer) hookAt(conn int, event string, at int64) fakeAction {
	if f.hook == nil {
		return fakeAction{}
	}
	return f.hook(conn, event, at)
}

func (f *fakeServer) send(ws *websocket.Conn, v any) {
	if err := ws.WriteJSON(v); err != nil {
		f.t.Logf("fake server: write: %v", err)
	}
}

func (f *fakeServer) session(conn int, ws *websocket.Conn) {
	var cur *fakeUpload
	var id string
	var sinceAck int
	var acked int64
	for {
		typ, data, err := ws.ReadMessage()
		if err != nil {
			return
		}
		if typ == websocket.BinaryMessage {
			if cur == nil {
				f.send(ws, upload.ErrorFrame{Type: upload.TypeError, Code: upload.CodeNotStarted})
				continue
			}
			if int64(len(data)) > f.maxFrame {
				ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseMessageTooBig, ""), time.Now().Add(time.Second))
				return
			}
			f.mu.Lock()
			cur.data = append(cur.data, data...)
			at := int64(len(cur.data))
			if ahead := at - acked; ahead > f.maxAhead {
				f.maxAhead = ahead
			}
			f.mu.Unlock()
			if f.window > 0 && at-acked > f.window {
				f.t.Errorf("client has %d bytes unacknowledged, window is %d", at-acked, f.window)
			}
			if f.act(ws, f.hookAt(conn, "chunk", at), id) {
				return
			}
			if sinceAck++; sinceAck >= f.ackEvery {
				sinceAck, acked = 0, at
				f.send(ws, upload.ProgressFrame{Type: upload.TypeProgress, ID: id, Received: at, Offset: at, Size: cur.size})
			}
			continue
		}
		var m struct {
			Type string `json:"type"`
			ID   string `json:"id"`
			upload.StartFrame
		}
		if err := json.Unmarshal(data, &m); err != nil {
			f.t.Errorf("fake server: bad frame %q", data)
			return
		}
		switch m.Type {
		case upload.TypeStart, upload.TypeResume:
			f.mu.Lock()
			if m.Type == upload.TypeStart {
				id = uuid.NewString()
				cur = &fakeUpload{name: m.Name, size: m.Size}
				f.uploads[id] = cur
			} else {
				id, cur = m.ID, f.uploads[m.ID]
			}
			f.mu.Unlock()
			if cur == nil {
				f.send(ws, upload.ErrorFrame{Type: upload.TypeError, Code: upload.CodeNotFound, ID: m.ID})
				continue
			}
			if f.act(ws, f.hookAt(conn, "handshake", int64(len(cur.data))), id) {
				return
			}
			if cur.complete {
				f.sendComplete(ws, id, cur)
				continue
			}
			f.mu.Lock()
			acked = int64(len(cur.data))
			f.readies = append(f.readies, acked)
			f.mu.Unlock()
			f.send(ws, upload.ReadyFrame{Type: upload.TypeReady, ID: id, Offset: acked, Size: cur.size, MaxFrame: f.maxFrame})
		case upload.TypeEnd:
			if f.act(ws, f.hookAt(conn, "end", int64(len(cur.data))), id) {
				return
			}
			if int64(len(cur.data)) != cur.size {
				f.send(ws, upload.ErrorFrame{Type: upload.TypeError, Code: upload.CodeIncomplete, ID: id})
				continue
			}
			f.mu.Lock()
			cur.complete = true
			f.mu.Unlock()
			f.sendComplete(ws, id, cur)
		default:
			f.send(ws, upload.ErrorFrame{Type: upload.TypeError, Code: upload.CodeUnknownType})
		}
	}
}

func (f *fakeServer) sendComplete(ws *websocket.Conn, id string, u *fakeUpload) {
	sum := sha256.Sum256(u.data)
	if f.badSum {
		sum[0] ^= 1
	}
	f.send(ws, upload.CompleteFrame{Type: upload.TypeComplete, ID: id, Size: u.size,
		SHA256: hex.EncodeToString(sum[:]), URL: upload.FileURL(id)})
}

func TestUploadKeepsWindowInFlight(t *testing.T) {
	const chunk, window = 1024, 6 * 1024
	// The fake acknowledges only every fourth message: a client that waited
	// for each ack would stall and fail on the context deadline.
	f := newFakeServer(t, func(f *fakeServer) { f.ackEvery, f.window = 4, window })
	data := payload(50*chunk + 17)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	res, err := client.Upload(ctx, bytes.NewReader(data), int64(len(data)),
		client.Options{Server: f.srv.URL, Name: "w.bin", ChunkSize: chunk, Window: window})
	if err != nil {
		t.Fatalf("Upload: %v", err)
	}
	if got := f.upload(res.ID).data; !bytes.Equal(got, data) {
		t.Fatalf("stored %d bytes, want the %d sent", len(got), len(data))
	}
	f.mu.Lock()
	ahead := f.maxAhead
	f.mu.Unlock()
	if ahead < 4*chunk {
		t.Errorf("at most %d bytes were in flight, want at least 4 chunks (%d)", ahead, 4*chunk)
	}
}

func TestUploadDefaultWindowIs32Chunks(t *testing.T) {
	const chunk = 1000
	// Acks every 32 messages: only a client with 32 chunks in flight keeps
	// going, and the fake fails one that sends more.
	f := newFakeServer(t, func(f *fakeServer) { f.maxFrame, f.ackEvery, f.window = chunk, 32, 32*chunk })
	data := payload(100 * chunk)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := client.Upload(ctx, bytes.NewReader(data), int64(len(data)),
		client.Options{Server: f.srv.URL, Name: "d.bin"}); err != nil {
		t.Fatalf("Upload: %v", err)
	}
}

func TestUploadRetriesTransientFailures(t *testing.T) {
	data := payload(20 * 1024)
	tests := []struct {
		name string
		hook fakeHook
		// wantResume: later connections must resume at a non-zero offset.
		wantResume bool
	}{
		{"storage_error at start", func(c int, ev string, _ int64) fakeAction {
			if c == 1 && ev == "handshake" {
				return fakeAction{errCode: upload.CodeStorageError}
			}
			return fakeAction{}
		}, false},
		{"locked at resume", func(c int, ev string, at int64) fakeAction {
			if c == 1 && ev == "chunk" && at >= 8*1024 {
				return fakeAction{drop: true}
			}
			if c == 2 && ev == "handshake" {
				return fakeAction{errCode: upload.CodeLocked}
			}
			return fakeAction{}
		}, true},
		{"going away mid-stream", func(c int, ev string, at int64) fakeAction {
			if c == 1 && ev == "chunk" && at >= 4*1024 {
				return fakeAction{closeCode: websocket.CloseGoingAway}
			}
			return fakeAction{}
		}, true},
		{"server error close at end", func(c int, ev string, _ int64) fakeAction {
			if c == 1 && ev == "end" {
				return fakeAction{closeCode: websocket.CloseInternalServerErr}
			}
			return fakeAction{}
		}, true},
		{"reset after every few chunks", func(c int, ev string, at int64) fakeAction {
			if ev == "chunk" && at%(3*1024) == 0 {
				return fakeAction{drop: true}
			}
			return fakeAction{}
		}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeServer(t, func(f *fakeServer) { f.hook = tt.hook })
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			var onID []string
			res, err := client.Upload(ctx, bytes.NewReader(data), int64(len(data)), client.Options{
				Server: f.srv.URL, Name: "r.bin", ChunkSize: 1024,
				OnID: func(id string) { onID = append(onID, id) },
			})
			if err != nil {
				t.Fatalf("Upload: %v", err)
			}
			if got := f.upload(res.ID).data; !bytes.Equal(got, data) {
				t.Fatalf("stored bytes differ from the source (%d vs %d bytes)", len(got), len(data))
			}
			if n := f.conns.Load(); n < 2 {
				t.Errorf("%d connections, want a reconnect", n)
			}
			if len(onID) != 1 || onID[0] != res.ID {
				t.Errorf("OnID calls %q, want exactly [%s]", onID, res.ID)
			}
			if offs := f.readyOffsets(); tt.wantResume && (len(offs) < 2 || offs[len(offs)-1] == 0) {
				t.Errorf("ready offsets %v: the client did not resume where the server was", offs)
			}
		})
	}
}

func TestUploadReturnsFinalErrors(t *testing.T) {
	data := payload(4096)
	tests := []struct {
		name      string
		configure func(*fakeServer)
		opts      client.Options
		want      client.Code
	}{
		{"too_large", func(f *fakeServer) {
			f.hook = func(int, string, int64) fakeAction { return fakeAction{errCode: upload.CodeTooLarge} }
		}, client.Options{}, client.CodeTooLarge},
		{"forbidden_type mid-stream", func(f *fakeServer) {
			f.hook = func(_ int, ev string, _ int64) fakeAction {
				if ev == "chunk" {
					return fakeAction{errCode: upload.CodeForbiddenType}
				}
				return fakeAction{}
			}
		}, client.Options{}, client.CodeForbiddenType},
		{"not_found on resume", nil, client.Options{ResumeID: uuid.NewString()}, client.CodeNotFound},
		{"unauthorized handshake", func(f *fakeServer) { f.status = http.StatusUnauthorized }, client.Options{}, client.CodeUnauthorized},
		{"policy close", func(f *fakeServer) {
			f.hook = func(int, string, int64) fakeAction { return fakeAction{closeCode: websocket.ClosePolicyViolation} }
		}, client.Options{}, client.CodeUnauthorized},
		{"digest differs from the source", func(f *fakeServer) { f.badSum = true }, client.Options{}, client.CodeChecksumMismatch},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeServer(t, tt.configure)
			opts := tt.opts
			opts.Server, opts.Name, opts.ChunkSize = f.srv.URL, "e.bin", 1024
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			_, err := client.Upload(ctx, bytes.NewReader(data), int64(len(data)), opts)
			if got := client.CodeOf(err); got != tt.want {
				t.Fatalf("Upload error %v (code %q), want code %q", err, got, tt.want)
			}
			if n := f.conns.Load(); n > 1 {
				t.Errorf("%d connections for an error that retrying cannot cure", n)
			}
		})
	}
}

func TestUploadRefusedHandshakeIsNotRetried(t *testing.T) {
	for _, status := range []int{http.StatusForbidden, http.StatusNotFound} {
		t.Run(http.StatusText(status), func(t *testing.T) {
			var hits atomic.Int32
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				hits.Add(1)
				http.Error(w, "no", status)
			}))
			defer srv.Close()
			_, err := client.Upload(context.Background(), strings.NewReader("x"), 1, client.Options{Server: srv.URL, Name: "x"})
			if err == nil || !strings.Contains(err.Error(), http.StatusText(status)) {
				t.Fatalf("Upload error %v, want one naming HTTP %d", err, status)
			}
			if hits.Load() != 1 {
				t.Errorf("%d handshakes, want 1", hits.Load())
			}
		})
	}
}

func TestUploadGivesUpAfterMaxRetries(t *testing.T) {
	f := newFakeServer(t, func(f *fakeServer) {
		f.hook = func(int, string, int64) fakeAction { return fakeAction{errCode: upload.CodeStorageError} }
	})
	_, err := client.Upload(context.Background(), strings.NewReader("abc"), 3,
		client.Options{Server: f.srv.URL, Name: "g", MaxRetries: 2})
	if client.CodeOf(err) != client.CodeStorageError {
		t.Fatalf("Upload error %v, want the last storage_error", err)
	}
	if n := f.conns.Load(); n != 3 {
		t.Errorf("%d connections, want 1 + 2 retries", n)
	}
}

func TestUploadReplacesSilentConnection(t *testing.T) {
	data := payload(8 * 1024)
	f := newFakeServer(t, func(f *fakeServer) {
		f.hook = func(c int, ev string, at int64) fakeAction {
			if c == 1 && ev == "chunk" && at >= 2*1024 {
				return fakeAction{silent: true}
			}
			return fakeAction{}
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	res, err := client.Upload(ctx, bytes.NewReader(data), int64(len(data)),
		client.Options{Server: f.srv.URL, Name: "s", ChunkSize: 1024, Window: 4096, Timeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatalf("Upload: %v", err)
	}
	if !bytes.Equal(f.upload(res.ID).data, data) {
		t.Fatal("stored bytes differ")
	}
	if f.conns.Load() < 2 {
		t.Error("the silent connection was not replaced")
	}
}

func TestUploadCancelClosesCleanlyAndStaysResumable(t *testing.T) {
	data := payload(64 * 1024)
	f := newFakeServer(t, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var id string
	_, err := client.Upload(ctx, bytes.NewReader(data), int64(len(data)), client.Options{
		Server: f.srv.URL, Name: "c", ChunkSize: 1024, Window: 2048,
		OnID: func(s string) { id = s },
		Progress: func(p client.Progress) {
			if p.Offset >= 8*1024 {
				cancel()
			}
		},
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Upload after cancel: %v, want context.Canceled", err)
	}
	f.mu.Lock()
	closes := append([]int(nil), f.closes...)
	f.mu.Unlock()
	if len(closes) != 1 || closes[0] != websocket.CloseGoingAway {
		t.Errorf("server saw close codes %v, want one clean %d", closes, websocket.CloseGoingAway)
	}
	if n := len(f.upload(id).data); n < 8*1024 || n == len(data) {
		t.Fatalf("server holds %d bytes after the cancel, want a partial upload", n)
	}

	var first *client.Progress
	res, err := client.Upload(context.Background(), bytes.NewReader(data), int64(len(data)), client.Options{
		Server: f.srv.URL, ResumeID: id, ChunkSize: 1024,
		Progress: func(p client.Progress) {
			if first == nil {
				first = &p
			}
		},
	})
	if err != nil {
		t.Fatalf("resumed Upload: %v", err)
	}
	if res.ID != id || !bytes.Equal(f.upload(id).data, data) {
		t.Fatalf("resumed upload %s stored %d bytes, want %s with the source's bytes", res.ID, len(f.upload(id).data), id)
	}
	if first == nil || first.Offset < 8*1024 {
		t.Errorf("resumed at %+v, want the offset the first run reached", first)
	}
}

func TestUploadHandshake(t *testing.T) {
	tests := []struct {
		name     string
		prefix   string
		server   func(url string) string
		token    string // the server's
		give     string // the client's
		wantCode client.Code
	}{
		{"plain", "", func(u string) string { return u }, "", "", ""},
		{"trailing slash", "", func(u string) string { return u + "/" }, "", "", ""},
		{"no scheme", "", func(u string) string { return strings.TrimPrefix(u, "http://") }, "", "", ""},
		{"ws scheme", "", func(u string) string { return "ws" + strings.TrimPrefix(u, "http") }, "", "", ""},
		{"path prefix", "/ferry", func(u string) string { return u + "/ferry" }, "", "", ""},
		{"right token", "", func(u string) string { return u }, "s3cret", "s3cret", ""},
		{"wrong token", "", func(u string) string { return u }, "s3cret", "guess", client.CodeUnauthorized},
		{"no token", "", func(u string) string { return u }, "s3cret", "", client.CodeUnauthorized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeServer(t, func(f *fakeServer) { f.prefix, f.token = tt.prefix, tt.token })
			data := payload(100)
			res, err := client.Upload(context.Background(), bytes.NewReader(data), int64(len(data)),
				client.Options{Server: tt.server(f.srv.URL), Token: tt.give, Name: "h"})
			if got := client.CodeOf(err); got != tt.wantCode || (tt.wantCode == "" && err != nil) {
				t.Fatalf("Upload error %v, want code %q", err, tt.wantCode)
			}
			if err != nil {
				return
			}
			if want := f.srv.URL + tt.prefix + "/files/" + res.ID; res.URL != want {
				t.Errorf("URL %q, want %q", res.URL, want)
			}
			f.mu.Lock()
			defer f.mu.Unlock()
			if len(f.subprotocols) != 1 || f.subprotocols[0] != upload.Subprotocol {
				t.Errorf("negotiated subprotocols %q, want [%s]", f.subprotocols, upload.Subprotocol)
			}
		})
	}
}

func TestUploadResumeOfCompleteUpload(t *testing.T) {
	data := payload(3000)
	f := newFakeServer(t, nil)
	first, err := client.Upload(context.Background(), bytes.NewReader(data), int64(len(data)),
		client.Options{Server: f.srv.URL, Name: "c"})
	if err != nil {
		t.Fatalf("first Upload: %v", err)
	}
	again, err := client.Upload(context.Background(), bytes.NewReader(data), int64(len(data)),
		client.Options{Server: f.srv.URL, ResumeID: first.ID})
	if err != nil {
		t.Fatalf("resume of a complete upload: %v", err)
	}
	if again != first {
		t.Errorf("resume answered %+v, want %+v", again, first)
	}
}

func TestUploadClampsChunkToMaxFrame(t *testing.T) {
	// The fake closes with 1009 on a message over max_frame.
	f := newFakeServer(t, func(f *fakeServer) { f.maxFrame = 1000 })
	data := payload(10_000)
	if _, err := client.Upload(context.Background(), bytes.NewReader(data), int64(len(data)),
		client.Options{Server: f.srv.URL, Name: "m", ChunkSize: 4096}); err != nil {
		t.Fatalf("Upload: %v", err)
	}
}

func TestUploadRejectsBadOptions(t *testing.T) {
	tests := []struct {
		name string
		opts client.Options
		size int64
	}{
		{"no server", client.Options{Name: "a"}, 1},
		{"bad scheme", client.Options{Server: "ftp://h", Name: "a"}, 1},
		{"no name", client.Options{Server: "http://h"}, 1},
		{"negative size", client.Options{Server: "http://h", Name: "a"}, -1},
		{"bad sha256", client.Options{Server: "http://h", Name: "a", SHA256: "abc"}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := client.Upload(context.Background(), strings.NewReader("x"), tt.size, tt.opts); err == nil {
				t.Fatal("Upload accepted bad options")
			}
		})
	}
}

func TestUploadShortSourceFails(t *testing.T) {
	f := newFakeServer(t, nil)
	_, err := client.Upload(context.Background(), strings.NewReader("short"), 100,
		client.Options{Server: f.srv.URL, Name: "s", SHA256: strings.Repeat("0", 64)})
	if err == nil || client.CodeOf(err) != "" || !strings.Contains(err.Error(), "reading the source") {
		t.Fatalf("Upload error %v, want a source read error", err)
	}
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("error %v does not wrap io.ErrUnexpectedEOF", err)
	}
}

// payload is n deterministic, non-repeating-looking bytes.
func payload(n int) []byte {
	b := make([]byte, n)
	var x uint32 = 2463534242
	for i := range b {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		b[i] = byte(x)
	}
	return b
}
