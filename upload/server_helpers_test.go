package upload

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/ferryhq/ferry/storage"
	"github.com/ferryhq/ferry/storage/local"
)

// frameWait bounds every wait for a server frame in tests: a broken server
// fails the test instead of hanging it.
const frameWait = 10 * time.Second

// testServer is a Handler behind a real HTTP server on 127.0.0.1.
type testServer struct {
	h       *Handler
	backend storage.Backend
	srv     *httptest.Server
	url     string // ws://127.0.0.1:port/ws/upload
}

// newTestServer starts a Handler with cfg; a nil Backend becomes a local
// backend in a temporary directory.
func newTestServer(t testing.TB, cfg Config) *testServer {
	t.Helper()
	if cfg.Backend == nil {
		cfg.Backend = newLocal(t, t.TempDir())
	}
	h, err := NewHandler(cfg)
	if err != nil {
		t.Fatalf("NewHandler: %v", err)
	}
	return serveTestHandler(t, h, cfg.Backend)
}

// serveTestHandler serves h, whose backend is backend, on 127.0.0.1 until
// the test ends, then shuts h down.
func serveTestHandler(t testing.TB, h *Handler, backend storage.Backend) *testServer {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := h.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		srv.Close()
	})
	return &testServer{h: h, backend: backend, srv: srv, url: "ws" + strings.TrimPrefix(srv.URL, "http") + "/ws/upload"}
}

func newLocal(t testing.TB, dir string) *local.Backend {
	t.Helper()
	b, err := local.New(local.Config{Dir: dir})
	if err != nil {
		t.Fatalf("local.New: %v", err)
	}
	return b
}

// peer is the test side of one connection: it speaks the protocol by hand
// and checks every progress frame it sees against the contract.
type peer struct {
	t    testing.TB
	conn *websocket.Conn
	// last progress per upload id, to check monotonicity.
	last     map[string]ServerFrame
	progress []ServerFrame
}

func dial(t testing.TB, url string) *peer {
	t.Helper()
	d := websocket.Dialer{
		Subprotocols:     []string{Subprotocol},
		ReadBufferSize:   64 << 10,
		WriteBufferSize:  64 << 10,
		HandshakeTimeout: frameWait,
	}
	conn, resp, err := d.Dial(url, nil)
	if err != nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	resp.Body.Close()
	t.Cleanup(func() { conn.Close() })
	return &peer{t: t, conn: conn, last: make(map[string]ServerFrame)}
}

func (p *peer) sendJSON(v any) {
	p.t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		p.t.Fatalf("marshal: %v", err)
	}
	p.sendText(string(b))
}

func (p *peer) sendText(s string) {
	p.t.Helper()
	p.conn.SetWriteDeadline(time.Now().Add(frameWait))
	if err := p.conn.WriteMessage(websocket.TextMessage, []byte(s)); err != nil {
		p.t.Fatalf("send text: %v", err)
	}
}

func (p *peer) sendBinary(b []byte) {
	p.t.Helper()
	p.conn.SetWriteDeadline(time.Now().Add(frameWait))
	if err := p.conn.WriteMessage(websocket.BinaryMessage, b); err != nil {
		p.t.Fatalf("send binary: %v", err)
	}
}

// sendChunks sends data in frames of n bytes.
func (p *peer) sendChunks(data []byte, n int) {
	p.t.Helper()
	for len(data) > 0 {
		k := min(n, len(data))
		p.sendBinary(data[:k])
		data = data[k:]
	}
}

func (p *peer) start(name string, size int64, sum string) ServerFrame {
	p.t.Helper()
	p.sendJSON(StartFrame{Type: TypeStart, Name: name, Size: size, SHA256: sum})
	return p.expect(TypeReady)
}

func (p *peer) end() { p.t.Helper(); p.sendJSON(ControlFrame{Type: TypeEnd}) }

// next returns the next server frame, checking progress frames on the way.
func (p *peer) next() (ServerFrame, error) {
	p.t.Helper()
	return p.nextBy(time.Now().Add(frameWait))
}

// nextBy is next with a deadline.
func (p *peer) nextBy(deadline time.Time) (ServerFrame, error) {
	p.t.Helper()
	p.conn.SetReadDeadline(deadline)
	typ, b, err := p.conn.ReadMessage()
	if err != nil {
		return ServerFrame{}, err
	}
	if typ != websocket.TextMessage {
		p.t.Fatalf("server sent a message of type %d", typ)
	}
	var f ServerFrame
	if err := json.Unmarshal(b, &f); err != nil {
		p.t.Fatalf("server frame %q: %v", b, err)
	}
	if f.Type == TypeProgress {
		p.checkProgress(f)
	}
	return f, nil
}

func (p *peer) checkProgress(f ServerFrame) {
	p.t.Helper()
	if !(0 <= f.Offset && f.Offset <= f.Received && f.Received <= f.Size) {
		p.t.Errorf("progress breaks offset <= received <= size: %+v", f)
	}
	if prev, ok := p.last[f.ID]; ok && (f.Offset < prev.Offset || f.Received < prev.Received) {
		p.t.Errorf("progress went back: %+v after %+v", f, prev)
	}
	p.last[f.ID] = f
	p.progress = append(p.progress, f)
}

// expect returns the next frame that is not progress and fails unless it has
// type typ.
func (p *peer) expect(typ string) ServerFrame {
	p.t.Helper()
	for {
		f, err := p.next()
		if err != nil {
			p.t.Fatalf("waiting for %s: %v", typ, err)
		}
		if f.Type == TypeProgress && typ != TypeProgress {
			continue
		}
		if f.Type != typ {
			p.t.Fatalf("got %+v, want a %s frame", f, typ)
		}
		return f
	}
}

func (p *peer) expectError(code Code) ServerFrame {
	p.t.Helper()
	f := p.expect(TypeError)
	if f.Code != code {
		p.t.Fatalf("got error %s (%s), want %s", f.Code, f.Message, code)
	}
	if f.Message == "" {
		p.t.Errorf("error %s has no message", f.Code)
	}
	return f
}

// waitOffset reads progress until the durable offset reaches at least n and
// returns that frame.
func (p *peer) waitOffset(n int64) ServerFrame {
	p.t.Helper()
	for {
		f := p.expect(TypeProgress)
		if f.Offset >= n {
			return f
		}
	}
}

// expectClose reads until the server's close frame and returns its code and
// reason.
func (p *peer) expectClose() (int, string) {
	p.t.Helper()
	for {
		_, err := p.next()
		if err == nil {
			continue
		}
		var ce *websocket.CloseError
		if !errors.As(err, &ce) {
			p.t.Fatalf("want a close frame, got %v", err)
		}
		return ce.Code, ce.Text
	}
}

// resume sends resume until the previous holder of the upload's lock has let
// go (a dropped connection is noticed a moment later) and returns the answer.
func resume(t testing.TB, url, id string) (*peer, ServerFrame) {
	t.Helper()
	deadline := time.Now().Add(frameWait)
	for {
		p := dial(t, url)
		p.sendJSON(ResumeFrame{Type: TypeResume, ID: id})
		f, err := p.next()
		if err != nil {
			t.Fatalf("resume %s: %v", id, err)
		}
		if f.Type == TypeError && f.Code == CodeLocked && time.Now().Before(deadline) {
			p.conn.Close()
			time.Sleep(20 * time.Millisecond)
			continue
		}
		return p, f
	}
}

func randomBytes(t testing.TB, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

func hexSum(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// storedSum reads a completed file back through the backend.
func storedSum(t testing.TB, b storage.Backend, id string) string {
	t.Helper()
	obj, err := b.Open(context.Background(), id)
	if err != nil {
		t.Fatalf("open %s: %v", id, err)
	}
	defer obj.Close()
	h := sha256.New()
	if _, err := io.Copy(h, obj); err != nil {
		t.Fatalf("read %s: %v", id, err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// handshake makes a raw WebSocket handshake and returns the HTTP status.
func handshake(t testing.TB, url string, header http.Header) (int, string) {
	t.Helper()
	d := websocket.Dialer{Subprotocols: []string{Subprotocol}, HandshakeTimeout: frameWait}
	conn, resp, err := d.Dial(url, header)
	if conn != nil {
		defer conn.Close()
		return resp.StatusCode, conn.Subprotocol()
	}
	if resp == nil {
		t.Fatalf("dial: %v", err)
	}
	return resp.StatusCode, ""
}
