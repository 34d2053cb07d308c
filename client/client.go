package client

import (
	"context"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/gorilla/websocket"
)

// Tunables. The read timeout outlives two of the server's default
// 30 s ping periods, so a live but quiet server is never mistaken for a dead one.
const (
	chunkSize = 1 << 20
	// windowChunks: the server reports `received` at most every 20 ms,
	// so the window must cover 20 ms of transfer: 8 chunks of 1 MiB cap an
	// upload near 420 MB/s, 32 chunks near 1.3 GB/s (docs/performance.md).
	windowChunks     = 32
	maxRetries       = 10
	timeout          = 90 * time.Second
	handshakeTimeout = 30 * time.Second
	// bufferSize is gorilla's read buffer: its 4 KiB default halves
	// throughput (ANCHORS.md).
	bufferSize = 64 << 10
	// writeBufferSize is gorilla's write buffer, which is also the largest
	// frame it sends: a whole chunk, so that each binary message goes out
	// as one frame, as browsers send theirs. In 64 KiB frames the server
	// made twice the read(2)s per byte (a frame header and its payload are
	// read apart; BenchmarkUploadCPU, docs/performance.md).
	writeBufferSize = chunkSize
	minBackoff      = 250 * time.Millisecond
	maxBackoff      = 15 * time.Second
	// closeGrace is how long a closing client waits for the server's close frame.
	closeGrace = time.Second
	// pongWait bounds a pong that waits behind a chunk being written.
	pongWait = 10 * time.Second
	// readLimit caps one server frame.
	readLimit = 64 << 10
)

// Progress is what the server last reported about an upload: Received bytes
// accepted from the socket and Offset bytes durable (the resume point), both
// positions in a file of Size bytes.
type Progress struct {
	ID       string
	Received int64
	Offset   int64
	Size     int64
}

// Options configures Upload. Zero values mean the documented default.
type Options struct {
	// Server is the server's base URL, http(s)://host:port[/prefix] (ws:// and
	// wss:// are accepted too); the WebSocket endpoint is Server + "/ws/upload".
	Server string
	// Token, when set, is sent as "Authorization: Bearer <Token>".
	Token string
	// Name is the file name sent in start; required unless ResumeID is set.
	Name string
	// MIME is the declared content type; empty lets the server sniff it.
	MIME string
	// SHA256 is the expected lower-case hex digest of the source. When set it
	// is sent in start, so the server refuses (and deletes) an upload whose
	// bytes differ. When empty, Upload hashes the source itself, concurrently
	// with sending, and checks the server's digest against it at the end.
	SHA256 string
	// ResumeID continues this upload instead of starting a new one.
	ResumeID string
	// ChunkSize is the number of bytes per binary message; 0 means
	// min(the server's max_frame, 1 MiB). It is capped at max_frame.
	ChunkSize int
	// Window is how many bytes may be sent beyond what the server has
	// reported received; 0 means 32 chunks. It is never less than one chunk.
	Window int64
	// Progress, when set, is called on every ready and progress frame, and
	// on complete (with Offset = Size). Calls come from one goroutine at a
	// time, in order, and should return quickly.
	Progress func(Progress)
	// OnID, when set, is called once, when the server has assigned or
	// confirmed the upload's id (before any byte is sent), so the caller can
	// persist it and resume after a crash. It is never called concurrently
	// with Progress.
	OnID func(id string)
	// MaxRetries is how many reconnects in a row may fail before Upload gives
	// up; 0 means 10. The count starts over whenever a connection made the
	// durable offset advance. Backoff is exponential from 250 ms to 15 s, with jitter.
	MaxRetries int
	// Timeout is how long the server may stay silent (no frame, no ping) and
	// how long one message may take to write before the connection is
	// considered dead and is replaced; 0 means 90 s.
	Timeout time.Duration
	// Dialer opens the WebSocket; nil means one with a 64 KiB read buffer,
	// a 1 MiB write buffer (a default chunk goes out as one frame) and a
	// 30 s handshake timeout. The ferry.v1 subprotocol is always offered.
	Dialer *websocket.Dialer
	// Header is added to the handshake request.
	Header http.Header
}

// Result describes a completed upload.
type Result struct {
	ID string
	// URL is the absolute download URL: the server's /files/<id> resolved
	// against Options.Server (http or https, without its query).
	URL string
	// SHA256 is the digest the server computed over the stored bytes.
	SHA256 string
	Size   int64
}

// Upload sends size bytes read from src to the server and returns once the
// server has stored and verified them.
//
// It opens a WebSocket (subprotocol ferry.v1), sends start (or resume when
// opts.ResumeID is set), then streams chunks from the server's offset,
// keeping up to opts.Window bytes in flight beyond what the server has
// reported received, sends end and waits for complete. When the connection
// drops or the server answers a retryable error (storage_error, locked,
// shutting_down, incomplete, HTTP 5xx at the handshake), it reconnects with
// backoff, resumes, and resends from the server's durable offset.
//
// Errors: a refusal from the server that retrying cannot cure (for example
// checksum_mismatch, too_large, forbidden_type, not_found, bad_request, and
// HTTP 401 at the handshake as unauthorized) is returned as an *Error, so
// CodeOf(err) tells which; giving up after opts.MaxRetries wraps the last
// error (an *Error among them keeps its code). When the caller gave no
// SHA256 and the server's digest differs from the source's, the error is
// an *Error with CodeChecksumMismatch and the upload's id; the server keeps
// the file in that case. Cancelling ctx closes the connection cleanly,
// leaving the upload resumable from its durable offset, and returns ctx.Err().
//
// src must not change during the upload; it is read concurrently (ReadAt's
// contract allows it) when Upload verifies the digest itself.
func Upload(ctx context.Context, src io.ReaderAt, size int64, opts Options) (Result, error) {
	u, err := newTransfer(src, size, opts)
	if err != nil {
		return Result{}, err
	}
	return u.run(ctx)
}

// transfer is the state of one Upload call across its connections.
type transfer struct {
	src     io.ReaderAt
	size    int64
	opts    Options
	wsURL   string
	where   string   // wsURL without its query (which may hold a token), for messages
	httpURL *url.URL // base for Result.URL
	header  http.Header
	dialer  *websocket.Dialer

	id      string // known once a server answered ready or complete
	durable int64  // highest durable offset any connection reported
	// idNotified is touched only by read loops, which never overlap.
	idNotified bool
}

func newTransfer(src io.ReaderAt, size int64, opts Options) (*transfer, error) {
	if src == nil {
		return nil, errors.New("upload: nil source")
	}
	if size < 0 {
		return nil, fmt.Errorf("upload: negative size %d", size)
	}
	if opts.ResumeID == "" && opts.Name == "" {
		return nil, errors.New("upload: Options.Name is required to start an upload")
	}
	if opts.SHA256 != "" {
		opts.SHA256 = strings.ToLower(opts.SHA256)
		if b, err := hex.DecodeString(opts.SHA256); err != nil || len(b) != 32 {
			return nil, fmt.Errorf("upload: Options.SHA256 %q is not 64 hex digits", opts.SHA256)
		}
	}
	if opts.ChunkSize < 0 || opts.Window < 0 || opts.MaxRetries < 0 || opts.Timeout < 0 {
		return nil, errors.New("upload: negative ChunkSize, Window, MaxRetries or Timeout")
	}
	if opts.MaxRetries == 0 {
		opts.MaxRetries = maxRetries
	}
	if opts.Timeout == 0 {
		opts.Timeout = timeout
	}
	wsURL, httpURL, err := endpoints(opts.Server)
	if err != nil {
		return nil, err
	}
	header := opts.Header.Clone()
	if header == nil {
		header = http.Header{}
	}
	if opts.Token != "" {
		header.Set("Authorization", "Bearer "+opts.Token)
	}
	return &transfer{
		src: src, size: size, opts: opts,
		wsURL: wsURL, where: strings.SplitN(wsURL, "?", 2)[0], httpURL: httpURL, header: header,
		dialer: newDialer(opts.Dialer),
		id:     opts.ResumeID,
	}, nil
}

// endpoints derives the WebSocket URL and the HTTP base URL from a server
// base URL. A URL without a scheme is taken as http://.
func endpoints(server string) (wsURL string, httpBase *url.URL, err error) {
	if server == "" {
		return "", nil, errors.New("upload: Options.Server is required")
	}
	if !strings.Contains(server, "://") {
		server = "http://" + server
	}
	u, err := url.Parse(server)
	if err != nil {
		return "", nil, fmt.Errorf("upload: server URL: %w", err)
	}
	if u.Host == "" {
		return "", nil, fmt.Errorf("upload: server URL %q has no host", server)
	}
	ws, base := *u, *u
	switch strings.ToLower(u.Scheme) {
	case "http", "ws":
		ws.Scheme, base.Scheme = "ws", "http"
	case "https", "wss":
		ws.Scheme, base.Scheme = "wss", "https"
	default:
		return "", nil, fmt.Errorf("upload: server URL %q: scheme must be http or https", server)
	}
	ws.Path = strings.TrimSuffix(u.Path, "/") + "/ws/upload"
	ws.RawPath, ws.Fragment = "", ""
	base.Path = strings.TrimSuffix(u.Path, "/")
	base.RawPath, base.RawQuery, base.Fragment, base.User = "", "", "", nil
	return ws.String(), &base, nil
}

// newDialer copies d (or builds the default) and makes it offer ferry.v1.
func newDialer(d *websocket.Dialer) *websocket.Dialer {
	var out websocket.Dialer
	if d != nil {
		out = *d
	} else {
		out = websocket.Dialer{
			Proxy:            http.ProxyFromEnvironment,
			HandshakeTimeout: handshakeTimeout,
			ReadBufferSize:   bufferSize,
			WriteBufferSize:  writeBufferSize,
		}
	}
	if !slices.Contains(out.Subprotocols, Subprotocol) {
		out.Subprotocols = append(slices.Clone(out.Subprotocols), Subprotocol)
	}
	return &out
}

// run makes connections until the upload completes, fails for good, or ctx ends.
func (u *transfer) run(ctx context.Context) (Result, error) {
	var local *digest
	if u.opts.SHA256 == "" {
		local = startDigest(ctx, u.src, u.size)
		defer local.stop()
	}
	failures := 0
	for {
		before := u.durable
		done, err := u.connect(ctx)
		if err == nil {
			return u.result(ctx, done, local)
		}
		if ctx.Err() != nil {
			return Result{}, ctx.Err()
		}
		if !isRetryable(err) {
			return Result{}, err
		}
		if u.durable > before {
			failures = 0
		}
		failures++
		if failures > u.opts.MaxRetries {
			return Result{}, fmt.Errorf("upload: giving up after %d failed attempts in a row: %w", failures, err)
		}
		t := time.NewTimer(backoff(failures))
		select {
		case <-ctx.Done():
			t.Stop()
			return Result{}, ctx.Err()
		case <-t.C:
		}
	}
}

// backoff is the pause before reconnect attempt n (1-based): exponential,
// capped, with jitter so that many clients cut off together do not return together.
func backoff(n int) time.Duration {
	d := maxBackoff
	if n < 16 {
		d = min(minBackoff<<(n-1), maxBackoff)
	}
	return d/2 + rand.N(d/2+1)
}

// connect runs one connection: dial, handshake, stream, finish.
func (u *transfer) connect(ctx context.Context) (serverFrame, error) {
	ws, resp, err := u.dialer.DialContext(ctx, u.wsURL, u.header)
	if err != nil {
		return serverFrame{}, u.dialError(ctx, resp, err)
	}
	c := newConn(u, ws)
	return c.run(ctx)
}

// dialError classifies a failed handshake: 401 is CodeUnauthorized, 5xx, 429
// and network failures are worth retrying, other refusals are not.
func (u *transfer) dialError(ctx context.Context, resp *http.Response, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if resp != nil && errors.Is(err, websocket.ErrBadHandshake) {
		switch code := resp.StatusCode; {
		case code == http.StatusUnauthorized:
			return &Error{Code: CodeUnauthorized, Message: "the server refused the token (HTTP 401)", ID: u.id}
		case code == http.StatusTooManyRequests || code >= 500:
			return retryable(fmt.Errorf("upload: handshake with %s: HTTP %s", u.where, resp.Status))
		default:
			return fmt.Errorf("upload: handshake with %s refused: HTTP %s", u.where, resp.Status)
		}
	}
	var certErr *tls.CertificateVerificationError
	if errors.As(err, &certErr) {
		return fmt.Errorf("upload: connecting to %s: %w", u.where, err)
	}
	return retryable(fmt.Errorf("upload: connecting to %s: %w", u.where, err))
}

// result checks the server's complete frame against the source and builds the Result.
func (u *transfer) result(ctx context.Context, f serverFrame, local *digest) (Result, error) {
	if f.Size != u.size {
		return Result{}, fmt.Errorf("upload: server completed %s with %d bytes, source has %d", f.ID, f.Size, u.size)
	}
	want := u.opts.SHA256
	if local != nil {
		sum, err := local.wait(ctx)
		if err != nil {
			return Result{}, err
		}
		want = sum
	}
	if !strings.EqualFold(f.SHA256, want) {
		return Result{}, &Error{Code: CodeChecksumMismatch, ID: f.ID,
			Message: fmt.Sprintf("the server stored sha256 %s, the source has %s", f.SHA256, want)}
	}
	return Result{ID: f.ID, URL: u.fileURL(f), SHA256: strings.ToLower(f.SHA256), Size: f.Size}, nil
}

// fileURL makes the complete frame's url absolute against the server's base
// URL, keeping a path prefix the server may be mounted under.
func (u *transfer) fileURL(f serverFrame) string {
	p := f.URL
	if p == "" {
		p = fileURLOf(f.ID)
	}
	if ref, err := url.Parse(p); err == nil && ref.IsAbs() {
		return p
	}
	base := *u.httpURL
	if !strings.HasPrefix(p, "/") {
		p = "/" + p
	}
	base.Path += p
	return base.String()
}

// retryableError marks a failure that a new connection may cure.
type retryableError struct{ err error }

func (e *retryableError) Error() string { return e.err.Error() }
func (e *retryableError) Unwrap() error { return e.err }

func retryable(err error) error { return &retryableError{err} }

func isRetryable(err error) bool {
	var t *retryableError
	return errors.As(err, &t)
}

// frameError turns an error frame into an error, marking the codes that a
// reconnect and resume can get past.
func frameError(f serverFrame) error {
	e := &Error{Code: f.Code, Message: f.Message, ID: f.ID}
	switch f.Code {
	case CodeStorageError, CodeLocked, CodeShuttingDown, CodeIncomplete:
		return retryable(e)
	}
	return e
}
