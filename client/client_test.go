package client_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/ferryhq/ferry/client"
	"github.com/ferryhq/ferry/storage"
	"github.com/ferryhq/ferry/storage/local"
	"github.com/ferryhq/ferry/upload"
)

// These tests run the client against the real upload.Handler over loopback.

// newHandlerServer serves cfg's Handler on /ws/upload, over a local
// backend in a temporary directory, through wrap's listener if given.
func newHandlerServer(t *testing.T, cfg upload.Config, wrap func(net.Listener) net.Listener) (*httptest.Server, *local.Backend) {
	t.Helper()
	backend, err := local.New(local.Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Backend == nil {
		cfg.Backend = backend
	} else if spy, ok := cfg.Backend.(*resumeSpy); ok {
		spy.Backend = backend
	}
	h, err := upload.NewHandler(cfg)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/ws/upload", h)
	srv := httptest.NewUnstartedServer(mux)
	if wrap != nil {
		srv.Listener = wrap(srv.Listener)
	}
	srv.Start()
	t.Cleanup(srv.Close)
	return srv, backend
}

// resumeSpy records the durable offset of every successful Resume.
type resumeSpy struct {
	storage.Backend
	mu      sync.Mutex
	offsets []int64
}

func (s *resumeSpy) Resume(ctx context.Context, id string) (storage.Writer, error) {
	w, err := s.Backend.Resume(ctx, id)
	if err == nil {
		s.mu.Lock()
		s.offsets = append(s.offsets, w.Info().Offset)
		s.mu.Unlock()
	}
	return w, err
}

func (s *resumeSpy) resumedAt() []int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]int64(nil), s.offsets...)
}

// storedBytes reads a completed file back from the backend.
func storedBytes(t *testing.T, b *local.Backend, id string) []byte {
	t.Helper()
	obj, err := b.Open(context.Background(), id)
	if err != nil {
		t.Fatalf("Open(%s): %v", id, err)
	}
	defer obj.Close()
	got, err := io.ReadAll(obj)
	if err != nil {
		t.Fatalf("reading %s: %v", id, err)
	}
	return got
}

func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

func TestUploadToServer(t *testing.T) {
	tests := []struct {
		name     string
		size     int
		chunk    int
		giveHash bool
	}{
		{"empty", 0, 0, false},
		{"one byte", 1, 0, true},
		{"unaligned, default chunks", 3<<20 + 5, 0, false},
		{"small chunks with digest", 300_001, 4096, true},
	}
	srv, backend := newHandlerServer(t, upload.Config{}, nil)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := payload(tt.size)
			want := sha256Hex(data)
			opts := client.Options{Server: srv.URL, Name: "f.bin", MIME: "application/octet-stream", ChunkSize: tt.chunk}
			if tt.giveHash {
				opts.SHA256 = strings.ToUpper(want) // case must not matter
			}
			var last client.Progress
			opts.Progress = func(p client.Progress) { last = p }
			res, err := client.Upload(context.Background(), bytes.NewReader(data), int64(len(data)), opts)
			if err != nil {
				t.Fatalf("Upload: %v", err)
			}
			if res.SHA256 != want || res.Size != int64(len(data)) {
				t.Errorf("Result %+v, want sha256 %s and size %d", res, want, len(data))
			}
			if wantURL := srv.URL + "/files/" + res.ID; res.URL != wantURL {
				t.Errorf("URL %q, want %q", res.URL, wantURL)
			}
			if last.ID != res.ID || last.Size != int64(len(data)) || last.Offset != last.Size {
				t.Errorf("last progress %+v does not describe upload %s", last, res.ID)
			}
			if got := storedBytes(t, backend, res.ID); !bytes.Equal(got, data) {
				t.Errorf("stored %d bytes that differ from the %d sent", len(got), len(data))
			}
		})
	}
}

// cutListener hangs up each of its first cuts connections once the server
// has read cutAfter bytes from it, and counts what every connection read.
type cutListener struct {
	net.Listener
	cutAfter int64
	cuts     atomic.Int32

	mu   sync.Mutex
	read []*atomic.Int64 // bytes read per accepted connection
}

func (l *cutListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	n := new(atomic.Int64)
	l.mu.Lock()
	l.read = append(l.read, n)
	l.mu.Unlock()
	budget := int64(-1)
	if l.cuts.Add(-1) >= 0 {
		budget = l.cutAfter
	}
	return &cutConn{Conn: c, budget: budget, read: n}, nil
}

func (l *cutListener) perConn() []int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]int64, len(l.read))
	for i, n := range l.read {
		out[i] = n.Load()
	}
	return out
}

type cutConn struct {
	net.Conn
	budget int64 // -1: never cut
	read   *atomic.Int64
}

func (c *cutConn) Read(p []byte) (int, error) {
	if c.budget >= 0 {
		left := c.budget - c.read.Load()
		if left <= 0 {
			c.Conn.Close()
			return 0, net.ErrClosed
		}
		p = p[:min(int64(len(p)), left)]
	}
	n, err := c.Conn.Read(p)
	c.read.Add(int64(n))
	return n, err
}

func TestUploadResumesAfterServerDrops(t *testing.T) {
	const size, cutAfter = 6 << 20, 1 << 20
	var cl *cutListener
	spy := &resumeSpy{}
	srv, backend := newHandlerServer(t, upload.Config{Backend: spy}, func(l net.Listener) net.Listener {
		cl = &cutListener{Listener: l, cutAfter: cutAfter}
		cl.cuts.Store(3)
		return cl
	})
	data := payload(size)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := client.Upload(ctx, bytes.NewReader(data), size,
		client.Options{Server: srv.URL, Name: "drops.bin", ChunkSize: 128 << 10})
	if err != nil {
		t.Fatalf("Upload: %v", err)
	}
	if got := storedBytes(t, backend, res.ID); !bytes.Equal(got, data) {
		t.Fatal("stored bytes differ from the source")
	}
	per, resumed := cl.perConn(), spy.resumedAt()
	t.Logf("bytes read per connection %v, resumed at %v", per, resumed)
	if len(per) < 4 || len(resumed) == 0 {
		t.Fatalf("want 3 cut connections, then a resume")
	}
	// The last connection must carry exactly the bytes from the server's
	// durable offset on (plus framing): had the client started over, it
	// would carry the whole file.
	from := resumed[len(resumed)-1]
	const framing = 64 << 10 // handshake, frame headers and masks, end
	if last := per[len(per)-1]; from == 0 || last < size-from || last > size-from+framing {
		t.Errorf("the last connection carried %d bytes after a resume at %d of %d: want the rest from there", last, from, size)
	}
}

func TestUploadCancelThenResumeOnServer(t *testing.T) {
	const size = 8 << 20
	srv, backend := newHandlerServer(t, upload.Config{}, nil)
	data := payload(size)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var id string
	var reached int64
	_, err := client.Upload(ctx, bytes.NewReader(data), size, client.Options{
		Server: srv.URL, Name: "cancel.bin", ChunkSize: 64 << 10,
		OnID: func(s string) { id = s },
		Progress: func(p client.Progress) {
			if p.Offset >= 1<<20 && reached == 0 {
				reached = p.Offset
				cancel()
			}
		},
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Upload: %v, want context.Canceled", err)
	}
	if reached == 0 || id == "" {
		t.Fatalf("cancelled before any durable progress (id %q)", id)
	}

	var first *client.Progress
	ctx2, cancel2 := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel2()
	res, err := client.Upload(ctx2, bytes.NewReader(data), size, client.Options{
		Server: srv.URL, ResumeID: id,
		Progress: func(p client.Progress) {
			if first == nil {
				first = &p
			}
		},
	})
	if err != nil {
		t.Fatalf("resumed Upload: %v", err)
	}
	if res.ID != id {
		t.Errorf("resumed upload completed as %s, want %s", res.ID, id)
	}
	if first == nil || first.Offset < reached {
		t.Errorf("resume started at %+v, want at least offset %d reported before the cancel", first, reached)
	}
	if got := storedBytes(t, backend, id); !bytes.Equal(got, data) {
		t.Fatal("stored bytes differ from the source")
	}
}

func TestUploadServerRefusals(t *testing.T) {
	data := payload(10_000)
	tests := []struct {
		name string
		cfg  upload.Config
		opts client.Options
		want client.Code
	}{
		{"wrong digest", upload.Config{}, client.Options{SHA256: strings.Repeat("ab", 32)}, client.CodeChecksumMismatch},
		{"over max size", upload.Config{MaxSize: 9_999}, client.Options{}, client.CodeTooLarge},
		{"type not allowed", upload.Config{AllowedTypes: []string{"image/*"}}, client.Options{MIME: "text/plain"}, client.CodeForbiddenType},
		{"unknown id", upload.Config{}, client.Options{ResumeID: uuid.NewString()}, client.CodeNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, _ := newHandlerServer(t, tt.cfg, nil)
			opts := tt.opts
			opts.Server, opts.Name = srv.URL, "refused.bin"
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			_, err := client.Upload(ctx, bytes.NewReader(data), int64(len(data)), opts)
			if got := client.CodeOf(err); got != tt.want {
				t.Fatalf("Upload error %v (code %q), want code %q", err, got, tt.want)
			}
		})
	}
}

// tapListener keeps every byte the server reads from its connections.
type tapListener struct {
	net.Listener
	mu  sync.Mutex
	got bytes.Buffer
}

func (l *tapListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &tapConn{Conn: c, l: l}, nil
}

func (l *tapListener) bytes() []byte {
	l.mu.Lock()
	defer l.mu.Unlock()
	return bytes.Clone(l.got.Bytes())
}

type tapConn struct {
	net.Conn
	l *tapListener
}

func (c *tapConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.l.mu.Lock()
	c.l.got.Write(p[:n])
	c.l.mu.Unlock()
	return n, err
}

// wsFrame is one frame's header as RFC 6455 section 5.2 lays it out.
type wsFrame struct {
	fin    bool
	opcode byte
	size   int
}

// clientFrames parses what a client sent on one connection: its HTTP
// upgrade request, then masked WebSocket frames.
func clientFrames(t *testing.T, raw []byte) []wsFrame {
	t.Helper()
	end := bytes.Index(raw, []byte("\r\n\r\n"))
	if end < 0 {
		t.Fatal("no upgrade request in what the server read")
	}
	b := raw[end+4:]
	var out []wsFrame
	for len(b) > 0 {
		if len(b) < 2 {
			t.Fatalf("truncated frame header after %d frames", len(out))
		}
		f := wsFrame{fin: b[0]&0x80 != 0, opcode: b[0] & 0x0f}
		size, head := int(b[1]&0x7f), 2
		switch size {
		case 126:
			size, head = int(b[2])<<8|int(b[3]), 4
		case 127:
			size, head = 0, 10
			for _, x := range b[2:10] {
				size = size<<8 | int(x)
			}
		}
		if b[1]&0x80 != 0 {
			head += 4 // the mask
		}
		if head+size > len(b) {
			t.Fatalf("frame %d of %d bytes runs past the %d bytes read", len(out), size, len(b)-head)
		}
		f.size = size
		out = append(out, f)
		b = b[head+size:]
	}
	return out
}

// Each chunk goes out as one frame, as browsers send their messages: a
// chunk cut into 64 KiB frames (gorilla's write buffer before) made the
// server read a frame header between every 64 KiB of payload, twice the
// read(2)s per byte.
func TestUploadSendsEachChunkInOneFrame(t *testing.T) {
	var tap *tapListener
	srv, _ := newHandlerServer(t, upload.Config{}, func(l net.Listener) net.Listener {
		tap = &tapListener{Listener: l}
		return tap
	})
	data := payload(3<<20 + 5)
	if _, err := client.Upload(context.Background(), bytes.NewReader(data), int64(len(data)),
		client.Options{Server: srv.URL, Name: "f.bin"}); err != nil {
		t.Fatalf("Upload: %v", err)
	}
	var sizes []int
	for _, f := range clientFrames(t, tap.bytes()) {
		switch {
		case f.opcode == 0:
			t.Fatalf("a continuation frame of %d bytes: a message was sent in pieces", f.size)
		case f.opcode == 2 && !f.fin:
			t.Fatalf("a binary frame of %d bytes without FIN: a message was sent in pieces", f.size)
		case f.opcode == 2:
			sizes = append(sizes, f.size)
		}
	}
	if want := []int{1 << 20, 1 << 20, 1 << 20, 5}; !slices.Equal(sizes, want) {
		t.Errorf("binary frames of %v bytes, want %v", sizes, want)
	}
}
