package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// conn is one WebSocket connection of an upload. The goroutine that calls
// run is the only one that writes messages; readLoop reads, answers pings
// (gorilla's WriteControl may run beside a writer), keeps the server's
// positions in atomics and hands every other frame over in order.
type conn struct {
	u  *transfer
	ws *websocket.Conn
	id string // the upload resumed, "" for a start; fixed for the connection

	received atomic.Int64  // the server's latest "received"
	offset   atomic.Int64  // the server's latest durable "offset"
	wake     chan struct{} // a value is waiting when received has moved
	frames   chan serverFrame
	quit     chan struct{} // closed when run returns; releases readLoop
	readDone chan struct{}
	readErr  error // why readLoop stopped; valid once readDone is closed
}

func newConn(u *transfer, ws *websocket.Conn) *conn {
	return &conn{
		u: u, ws: ws, id: u.id,
		wake:     make(chan struct{}, 1),
		frames:   make(chan serverFrame, 4),
		quit:     make(chan struct{}),
		readDone: make(chan struct{}),
	}
}

// run drives the connection from the handshake to complete. It returns the
// complete frame, or why the connection ended (see frameError, readError).
func (c *conn) run(ctx context.Context) (f serverFrame, err error) {
	go c.readLoop()
	// A write stuck on a stalled network would not notice ctx: cut the socket
	// if the graceful close below has not happened in time.
	stopWatch := context.AfterFunc(ctx, func() {
		time.AfterFunc(closeGrace, func() { c.ws.Close() })
	})
	defer func() {
		stopWatch()
		code := websocket.CloseNormalClosure
		if err != nil && ctx.Err() != nil {
			// The server keeps what is durable; "going away" says we may be back.
			code, err = websocket.CloseGoingAway, ctx.Err()
		}
		select {
		case <-c.readDone: // the connection is over already
		default:
			c.closeGracefully(code)
		}
		close(c.quit)
		c.ws.Close()
		<-c.readDone
		c.u.durable = max(c.u.durable, c.offset.Load())
	}()

	ready, err := c.handshake(ctx)
	if err != nil || ready.Type == typeComplete {
		return ready, err
	}
	if err := c.stream(ctx, ready); err != nil {
		return serverFrame{}, err
	}
	if err := c.send(controlFrame{Type: typeEnd}); err != nil {
		return serverFrame{}, c.writeError(err)
	}
	done, err := c.next(ctx)
	switch {
	case err != nil:
		return serverFrame{}, err
	case done.Type == typeError:
		return serverFrame{}, frameError(done)
	case done.Type != typeComplete:
		return serverFrame{}, unexpected(done, "complete")
	}
	return done, nil
}

// handshake sends start or resume and returns the server's ready, or its
// complete when the upload was already finished.
func (c *conn) handshake(ctx context.Context) (serverFrame, error) {
	var first any = resumeFrame{Type: typeResume, ID: c.id}
	if c.id == "" {
		first = startFrame{Type: typeStart, Name: c.u.opts.Name, Size: c.u.size, MIME: c.u.opts.MIME, SHA256: c.u.opts.SHA256}
	}
	if err := c.send(first); err != nil {
		return serverFrame{}, c.writeError(err)
	}
	f, err := c.next(ctx)
	if err != nil {
		return serverFrame{}, err
	}
	switch f.Type {
	case typeError:
		return serverFrame{}, frameError(f)
	case typeReady, typeComplete:
	default:
		return serverFrame{}, unexpected(f, "ready")
	}
	if c.id != "" && f.ID != c.id {
		return serverFrame{}, fmt.Errorf("upload: resumed %s but the server answered for %q", c.id, f.ID)
	}
	if f.Size != c.u.size {
		return serverFrame{}, fmt.Errorf("upload: upload %s has size %d, the source has %d", f.ID, f.Size, c.u.size)
	}
	if f.Type == typeReady && (f.Offset < 0 || f.Offset > f.Size) {
		return serverFrame{}, fmt.Errorf("upload: server's ready offset %d is outside 0..%d", f.Offset, f.Size)
	}
	c.u.id = f.ID
	return f, nil
}

// stream sends the bytes from the ready offset to the end, never more than
// the window beyond what the server has reported received.
func (c *conn) stream(ctx context.Context, ready serverFrame) error {
	chunk := int64(c.u.opts.ChunkSize)
	if chunk == 0 {
		chunk = chunkSize
	}
	if ready.MaxFrame > 0 {
		chunk = min(chunk, ready.MaxFrame)
	}
	window := c.u.opts.Window
	if window == 0 {
		window = windowChunks * chunk
	}
	window = max(window, chunk) // a smaller window could never send a chunk
	buf := make([]byte, min(chunk, max(c.u.size-ready.Offset, 0)))

	for pos := ready.Offset; pos < c.u.size; {
		n := min(chunk, c.u.size-pos)
		// Read before waiting for the window, so the disk works while the network does.
		if err := readFull(c.u.src, buf[:n], pos); err != nil {
			return err
		}
		for pos+n-c.received.Load() > window {
			if err := c.waitProgress(ctx); err != nil {
				return err
			}
		}
		if err := c.poll(ctx); err != nil {
			return err
		}
		c.ws.SetWriteDeadline(time.Now().Add(c.u.opts.Timeout))
		if err := c.ws.WriteMessage(websocket.BinaryMessage, buf[:n]); err != nil {
			return c.writeError(err)
		}
		pos += n
	}
	return nil
}

// waitProgress blocks until the server reports more bytes received, or
// something ends the stream.
func (c *conn) waitProgress(ctx context.Context) error {
	select {
	case <-c.wake:
		return nil
	case f := <-c.frames:
		return streamError(f)
	case <-c.readDone:
		return c.readErrNow()
	case <-ctx.Done():
		return ctx.Err()
	}
}

// poll checks, without blocking, whether something has ended the stream.
func (c *conn) poll(ctx context.Context) error {
	select {
	case f := <-c.frames:
		return streamError(f)
	case <-c.readDone:
		return c.readErrNow()
	case <-ctx.Done():
		return ctx.Err()
	default:
		return nil
	}
}

// next waits for the next frame that is not progress.
func (c *conn) next(ctx context.Context) (serverFrame, error) {
	select {
	case f := <-c.frames:
		return f, nil
	case <-c.readDone:
		// A frame queued just before the connection closed still counts.
		select {
		case f := <-c.frames:
			return f, nil
		default:
		}
		return serverFrame{}, c.readErr
	case <-ctx.Done():
		return serverFrame{}, ctx.Err()
	}
}

// readErrNow returns a frame that readLoop queued before it stopped (as an
// error if it is one), else why it stopped. Called once readDone is closed.
func (c *conn) readErrNow() error {
	select {
	case f := <-c.frames:
		if f.Type == typeError {
			return frameError(f)
		}
	default:
	}
	return c.readErr
}

// streamError is what a frame other than progress means while bytes are
// being sent: nothing but an error is expected.
func streamError(f serverFrame) error {
	if f.Type == typeError {
		return frameError(f)
	}
	return unexpected(f, "progress")
}

func unexpected(f serverFrame, want string) error {
	return fmt.Errorf("upload: server sent %q while the client expected %s", f.Type, want)
}

// send writes one text frame.
func (c *conn) send(v any) error {
	c.ws.SetWriteDeadline(time.Now().Add(c.u.opts.Timeout))
	return c.ws.WriteJSON(v)
}

// writeError explains a failed write. The reader usually knows the real
// cause (a close frame with its code, a reset), so it is given a moment to say.
func (c *conn) writeError(err error) error {
	t := time.NewTimer(closeGrace)
	defer t.Stop()
	select {
	case <-c.readDone:
		if rerr := c.readErrNow(); rerr != nil {
			return rerr
		}
	case <-t.C:
	}
	return retryable(fmt.Errorf("upload: sending: %w", err))
}

// closeGracefully sends a close frame and waits briefly for the server's
// answer, so the server sees a clean close rather than a reset.
func (c *conn) closeGracefully(code int) {
	msg := websocket.FormatCloseMessage(code, "")
	if err := c.ws.WriteControl(websocket.CloseMessage, msg, time.Now().Add(closeGrace)); err != nil {
		return
	}
	t := time.NewTimer(closeGrace)
	defer t.Stop()
	select {
	case <-c.readDone:
	case <-t.C:
	}
}

// readLoop reads frames until the connection ends. It is the only goroutine
// that calls the caller's Progress and OnID, so they never overlap.
func (c *conn) readLoop() {
	defer close(c.readDone)
	// Server frames are small JSON objects; a huge one is a broken server.
	c.ws.SetReadLimit(readLimit)
	silence := c.u.opts.Timeout
	c.ws.SetPingHandler(func(data string) error {
		c.ws.SetReadDeadline(time.Now().Add(silence))
		err := c.ws.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(pongWait))
		var ne net.Error
		if err == nil || errors.Is(err, websocket.ErrCloseSent) || (errors.As(err, &ne) && ne.Timeout()) {
			return nil // a lost pong is the server's liveness check to judge
		}
		return err
	})
	for {
		c.ws.SetReadDeadline(time.Now().Add(silence))
		typ, data, err := c.ws.ReadMessage()
		if err != nil {
			c.readErr = readError(err)
			return
		}
		if typ != websocket.TextMessage {
			c.readErr = errors.New("upload: server sent a binary message")
			return
		}
		var f serverFrame
		if err := json.Unmarshal(data, &f); err != nil {
			c.readErr = fmt.Errorf("upload: undecodable frame from the server: %w", err)
			return
		}
		switch f.Type {
		case typeProgress:
			c.progress(f)
			continue
		case typeReady:
			c.ready(f)
		case typeComplete:
			// Durable progress may not have reached the end before complete.
			if f.Size == c.u.size && c.u.opts.Progress != nil {
				c.u.opts.Progress(Progress{ID: f.ID, Received: f.Size, Offset: f.Size, Size: f.Size})
			}
		}
		select {
		case c.frames <- f:
		case <-c.quit:
			return
		}
	}
}

// ready sets the positions to the server's starting point and tells the caller.
func (c *conn) ready(f serverFrame) {
	if f.Size != c.u.size || f.Offset < 0 || f.Offset > f.Size || (c.id != "" && f.ID != c.id) {
		return // run refuses this ready; the caller hears nothing of it
	}
	c.received.Store(f.Offset)
	c.offset.Store(f.Offset)
	if !c.u.idNotified && c.u.opts.OnID != nil {
		c.u.opts.OnID(f.ID)
	}
	c.u.idNotified = true
	if c.u.opts.Progress != nil {
		c.u.opts.Progress(Progress{ID: f.ID, Received: f.Offset, Offset: f.Offset, Size: f.Size})
	}
}

// progress records the server's positions, wakes a sender waiting on the
// window, and tells the caller.
func (c *conn) progress(f serverFrame) {
	if f.Received > c.received.Load() {
		c.received.Store(f.Received)
		select {
		case c.wake <- struct{}{}:
		default:
		}
	}
	if f.Offset > c.offset.Load() {
		c.offset.Store(f.Offset)
	}
	if c.u.opts.Progress != nil {
		c.u.opts.Progress(Progress{ID: f.ID, Received: f.Received, Offset: f.Offset, Size: f.Size})
	}
}

// readError classifies why reading stopped. Close codes that say the
// client itself is at fault (policy, message too big, protocol errors) are
// final; going away (the server shutting down), server errors, timeouts and
// resets are worth a new connection.
func readError(err error) error {
	var ce *websocket.CloseError
	if !errors.As(err, &ce) {
		return retryable(fmt.Errorf("upload: connection lost: %w", err))
	}
	text := ce.Text
	switch ce.Code {
	case websocket.CloseGoingAway:
		return retryable(&Error{Code: CodeShuttingDown, Message: closeText(text, "the server is going away")})
	case websocket.ClosePolicyViolation:
		return &Error{Code: CodeUnauthorized, Message: closeText(text, "the server closed the connection (policy)")}
	case websocket.CloseMessageTooBig, websocket.CloseProtocolError, websocket.CloseUnsupportedData,
		websocket.CloseInvalidFramePayloadData, websocket.CloseMandatoryExtension:
		return fmt.Errorf("upload: the server closed the connection: %w", err)
	}
	return retryable(fmt.Errorf("upload: the server closed the connection: %w", err))
}

func closeText(text, fallback string) string {
	if text == "" {
		return fallback
	}
	return text
}
