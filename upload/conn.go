package upload

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// Tunables of a connection, after gorilla's chat example.
const (
	// writeWait is the longest one frame write may take; a peer that reads
	// slower than that is gone.
	writeWait = 10 * time.Second
	// closeLinger is how long we keep reading after our close frame (or
	// after gorilla's 1009), so that the peer receives the close frame before
	// the socket goes: closing with unread bytes would send a TCP reset,
	// which can destroy the frame in the peer's receive queue.
	closeLinger = time.Second
	// storageGrace is how long storage may go on after a session's context
	// ends (disconnect, shutdown): time to checkpoint what arrived and
	// release the upload's lock.
	storageGrace = 10 * time.Second
	// maxTextFrame bounds a control frame; ours are tiny JSON objects.
	maxTextFrame = 64 << 10
	// outQueue is how many server frames may wait for the write pump.
	outQueue = 32
)

// inbound is what the read pump hands the session loop: a text frame, or
// one piece of a binary message.
type inbound struct {
	text    []byte // a text frame
	tooLong bool   // a text frame over maxTextFrame (its bytes were dropped)

	binary      bool
	data        []byte  // the piece's bytes (may be empty)
	piece       *[]byte // the pooled buffer data lies in
	first, last bool    // the piece starts / ends its message
	// refused says that the message being received went over max_frame:
	// gorilla has closed with 1009 and no more of it will come. It is the
	// last thing the read pump hands over.
	refused bool
}

// outbound is one frame for the write pump: a text frame, or a close frame
// after which the write pump stops.
type outbound struct {
	text  []byte
	close *closeFrame
}

type closeFrame struct {
	code   int
	reason string
}

// session is one WebSocket connection. Three goroutines share it: the read
// pump (ServeHTTP's goroutine) only reads, the write pump only writes, and
// the session loop owns all upload state and the storage Writer. They meet
// through channels; nothing else is shared but the deadline lock.
//
// The session loop and the write pump start lazily (see start): a
// connection that has sent nothing costs only its read pump, and a timer
// pings it meanwhile (idlePing), so that 10,000 idle WebSockets cost 10,000
// goroutines rather than 30,000.
type session struct {
	h    *Handler
	conn *websocket.Conn
	log  *slog.Logger

	// ctx ends when the connection does (read or write failure, shutdown);
	// its cause says why. storeCtx is what storage calls run under: it
	// outlives ctx by storageGrace, so that an ending session can still
	// persist what arrived.
	ctx         context.Context
	cancel      context.CancelCauseFunc
	storeCtx    context.Context
	storeCancel context.CancelFunc
	// grace is the timer that ends storeCtx storageGrace after ctx ended;
	// run stops it when the session is over (stored is then true), so that
	// no timer outlives its session.
	graceMu sync.Mutex
	grace   *time.Timer
	stored  bool

	// in and out are made by start, before the goroutines that use them.
	in     chan inbound
	out    chan outbound
	pieces *pieceQuota

	// startMu guards started and over: start runs the session loop and the
	// write pump at most once, and not at all after the read pump found
	// the connection over before anything started them (over).
	startMu sync.Mutex
	started bool
	over    bool
	// running is started, for the read pump's check at every message
	// without the lock.
	running atomic.Bool
	// pinger pings the peer every PingPeriod until the write pump, which
	// then owns all writes, starts (guarded by startMu).
	pinger *time.Timer

	readDone  chan struct{} // closed when the read pump returns
	loopDone  chan struct{} // closed when the session loop returns
	writeDone chan struct{} // closed when the write pump returns

	// deadlineMu orders read-deadline changes: once our close frame is out
	// (closing), only the linger deadline applies.
	deadlineMu sync.Mutex
	closing    bool
	// lastExtend is when the read deadline was last pushed (read goroutine only).
	lastExtend time.Time
	// rate bounds the messages the peer may send (read goroutine only).
	rate *messageBucket

	// Session loop only.
	up           *upload
	msg          message // the binary message being received
	timer        *time.Timer
	lastProgress time.Time
}

func newSession(h *Handler, conn *websocket.Conn, r *http.Request) *session {
	ctx, cancel := context.WithCancelCause(r.Context())
	storeCtx, storeCancel := context.WithCancel(context.WithoutCancel(ctx))
	s := &session{
		h:           h,
		conn:        conn,
		log:         h.log.With("remote", r.RemoteAddr),
		ctx:         ctx,
		cancel:      cancel,
		storeCtx:    storeCtx,
		storeCancel: storeCancel,
		pieces:      newPieceQuota(h.pieces),
		readDone:    make(chan struct{}),
		loopDone:    make(chan struct{}),
		writeDone:   make(chan struct{}),
		rate:        newMessageBucket(h.messageRate, h.messageBurst, time.Now()),
	}
	context.AfterFunc(ctx, func() {
		s.startGrace()
		// The session loop says goodbye (1001 at shutdown, 1008 over a
		// limit) and releases the upload: it must run now even if the
		// peer never sent a message.
		s.start()
	})
	return s
}

// start runs the session loop and the write pump, once: at the peer's first
// message, or when the session's context ends (shutdown, a limit, a failed
// write). It does nothing once the read pump has ended a session that
// never started (over): there is nobody to answer and no upload to release.
func (s *session) start() {
	if s.running.Load() {
		return
	}
	s.startMu.Lock()
	defer s.startMu.Unlock()
	if s.started || s.over {
		return
	}
	s.started = true
	s.running.Store(true)
	if s.pinger != nil {
		// From here the write pump pings. A ping already under way may
		// still go out beside the pump's writes: gorilla's WriteControl
		// may be called concurrently with every other method.
		s.pinger.Stop()
	}
	s.in = make(chan inbound, piecesInFlight)
	s.out = make(chan outbound, outQueue)
	s.timer = time.NewTimer(time.Hour)
	s.timer.Stop()
	go s.writePump()
	go s.loop()
}

// endRead marks a session whose read pump has ended; it reports whether
// the session loop and write pump were started (and must be waited for). If
// not, they never will be.
func (s *session) endRead() (started bool) {
	s.startMu.Lock()
	defer s.startMu.Unlock()
	if !s.started {
		s.over = true
		if s.pinger != nil {
			s.pinger.Stop()
		}
	}
	return s.started
}

// armIdlePing starts pinging the peer every PingPeriod while the write pump
// does not exist.
func (s *session) armIdlePing() {
	s.startMu.Lock()
	defer s.startMu.Unlock()
	if !s.started && !s.over {
		s.pinger = time.AfterFunc(s.h.pingPeriod, s.idlePing)
	}
}

// idlePing is the write pump's ping for a session that has none yet: it
// runs on its own timer goroutine and re-arms itself until the pump starts
// or the read pump ends.
func (s *session) idlePing() {
	s.startMu.Lock()
	idle := !s.started && !s.over
	s.startMu.Unlock()
	if !idle {
		return
	}
	if err := s.conn.WriteControl(websocket.PingMessage, nil, time.Now().Add(writeWait)); err != nil {
		s.broken(err)
		return
	}
	s.startMu.Lock()
	defer s.startMu.Unlock()
	if !s.started && !s.over {
		s.pinger.Reset(s.h.pingPeriod)
	}
}

// startGrace runs when the session's context ends: storage calls get
// storageGrace more, unless the session is already over.
func (s *session) startGrace() {
	s.graceMu.Lock()
	defer s.graceMu.Unlock()
	if !s.stored {
		s.grace = time.AfterFunc(storageGrace, s.storeCancel)
	}
}

// endStorage ends the session's storage context and stops the grace timer.
func (s *session) endStorage() {
	s.graceMu.Lock()
	s.stored = true
	if s.grace != nil {
		s.grace.Stop()
	}
	s.graceMu.Unlock()
	s.storeCancel()
}

// run serves the connection until it ends and its upload has been
// checkpointed and released.
func (s *session) run() {
	s.h.metrics.sessionStarted()
	defer s.h.metrics.sessionEnded()
	defer s.endStorage()

	s.conn.SetReadLimit(s.h.maxFrame)
	s.extendReadDeadline()
	s.conn.SetPongHandler(func(string) error {
		s.extendReadDeadline()
		return nil
	})
	s.armIdlePing()
	if s.ctx.Err() != nil {
		s.start() // ended before it began (Shutdown raced the upgrade)
	}
	if s.readPump() {
		<-s.loopDone
		<-s.writeDone
	}
	s.conn.Close()
}

// readPump reads messages and hands them to the session loop until the
// connection fails: the peer closed or vanished, the liveness deadline
// passed, a message was over max_frame, or our close handshake ended. It
// reports whether the session loop and write pump were started.
func (s *session) readPump() (started bool) {
	defer close(s.readDone)
	err := s.readMessages()
	if errors.Is(err, websocket.ErrReadLimit) {
		// Before the cancel, so that the loop, which stores what it has
		// when the session ends, learns first that the message in progress
		// must not be kept.
		s.deliver(inbound{binary: true, refused: true})
	}
	if !s.endRead() {
		// Nothing was ever sent, and the server had nothing to say: end
		// here rather than start two goroutines only to see them stop.
		s.cancel(fmt.Errorf("%w: read: %w", errConnEnded, err))
		s.log.Debug("upload: connection ended", "cause", err)
		return false
	}
	// Cancel before closing in: the loop then always finds a cause.
	s.cancel(fmt.Errorf("%w: read: %w", errConnEnded, err))
	close(s.in)
	if errors.Is(err, websocket.ErrReadLimit) {
		// gorilla has sent the 1009 close; the rest of the oversized
		// message is still arriving. Drain it so the peer gets the close.
		s.setCloseDeadline()
		io.Copy(io.Discard, s.conn.NetConn())
	}
	s.log.Debug("upload: connection ended", "cause", err)
	return true
}

func (s *session) readMessages() error {
	refusing := false // the peer sent too many messages: read only for the close
	for {
		// The session may have kept us from reading for a while (handing
		// over a message waits for it): that was not the peer's silence.
		s.extendReadDeadline()
		typ, r, err := s.conn.NextReader()
		if err != nil {
			return err
		}
		// The peer has something to say: from here the session needs its
		// loop and write pump.
		s.start()
		s.extendReadDeadline()
		if !refusing && !s.rate.take(time.Now()) {
			// Tiny messages cost the server far more per byte than large
			// ones. End the session: the loop checkpoints what arrived
			// before and closes with 1008; this message and any later one
			// are dropped unread while the close handshake runs.
			refusing = true
			s.log.Info("upload: closing a connection over the message rate",
				"rate", s.rate.rate, "burst", s.rate.burst)
			s.cancel(&policyError{reason: fmt.Sprintf(
				"too many messages: over %d a second; send fewer, larger binary messages", int(s.rate.rate))})
		}
		if refusing {
			if _, err := io.Copy(io.Discard, r); err != nil {
				return err
			}
			continue
		}
		var m inbound
		switch typ {
		case websocket.TextMessage:
			text, err := io.ReadAll(io.LimitReader(r, maxTextFrame+1))
			if err != nil {
				return err
			}
			if len(text) > maxTextFrame {
				if _, err := io.Copy(io.Discard, r); err != nil {
					return err
				}
				m = inbound{tooLong: true}
			} else {
				m = inbound{text: text}
			}
		case websocket.BinaryMessage:
			if err := s.readBinary(r); err != nil {
				return err
			}
			continue
		}
		s.deliver(m)
	}
}

// readBinary hands a binary message to the session loop piece by piece, as
// it arrives. A piece cut short by a failing connection is dropped.
func (s *session) readBinary(r io.Reader) error {
	for first := true; ; first = false {
		p, ok := s.pieces.get(s.loopDone)
		if !ok {
			// The session is over; we only read on for the close.
			_, err := io.Copy(io.Discard, r)
			return err
		}
		// Waiting for a piece is the server being slow (storage, hashing),
		// not the peer being silent: restart the liveness clock.
		s.extendReadDeadline()
		n, err := readPiece(r, *p, s.extendReadDeadline)
		if err != nil && err != io.EOF {
			s.pieces.put(p)
			return err
		}
		last := err == io.EOF
		s.deliver(inbound{binary: true, data: (*p)[:n], piece: p, first: first, last: last})
		if last {
			return nil
		}
	}
}

// deliver passes m to the session loop, or drops it if the loop is gone.
func (s *session) deliver(m inbound) {
	s.start() // a no-op unless the first thing read is gorilla's 1009
	select {
	case s.in <- m:
	case <-s.loopDone:
		if m.piece != nil {
			s.pieces.put(m.piece)
		}
	}
}

// extendReadDeadline pushes the liveness deadline to two ping periods from
// now. Pongs and incoming bytes both count: a peer busy sending a long
// message on a slow link is not silent, even if its pong waits behind it.
func (s *session) extendReadDeadline() {
	now := time.Now()
	if now.Sub(s.lastExtend) < s.h.pingPeriod/16 {
		return // cheap enough to skip: the deadline is still nearly two periods away
	}
	s.lastExtend = now
	s.deadlineMu.Lock()
	defer s.deadlineMu.Unlock()
	if !s.closing {
		s.conn.SetReadDeadline(now.Add(2 * s.h.pingPeriod))
	}
}

// setCloseDeadline gives the peer closeLinger to answer our close frame;
// liveness no longer extends it.
func (s *session) setCloseDeadline() {
	s.deadlineMu.Lock()
	defer s.deadlineMu.Unlock()
	s.closing = true
	s.conn.SetReadDeadline(time.Now().Add(closeLinger))
}

// writePump is the only goroutine that writes frames (gorilla itself
// answers pings and sends protocol-error closes through its own locked
// WriteControl). It also pings every PingPeriod.
func (s *session) writePump() {
	defer close(s.writeDone)
	ping := time.NewTicker(s.h.pingPeriod)
	defer ping.Stop()
	for {
		select {
		case m := <-s.out:
			if m.close != nil {
				s.setCloseDeadline()
				msg := websocket.FormatCloseMessage(m.close.code, m.close.reason)
				if err := s.conn.WriteControl(websocket.CloseMessage, msg, time.Now().Add(writeWait)); err != nil {
					s.broken(err)
				}
				return
			}
			s.conn.SetWriteDeadline(time.Now().Add(writeWait))
			if err := s.conn.WriteMessage(websocket.TextMessage, m.text); err != nil {
				s.broken(err)
				return
			}
		case <-ping.C:
			if err := s.conn.WriteControl(websocket.PingMessage, nil, time.Now().Add(writeWait)); err != nil {
				s.broken(err)
				return
			}
		case <-s.readDone:
			return
		}
	}
}

// errConnEnded is the cause of a session whose connection failed or was
// closed by the peer or by gorilla (1009, protocol errors): there is nobody
// left to say goodbye to.
var errConnEnded = errors.New("connection ended")

// broken ends a connection we can no longer write to; closing the socket
// also wakes the read pump. If a close frame is already out (gorilla's 1009)
// the session and the socket are left to the read pump, whose linger lets
// the peer still get it.
func (s *session) broken(err error) {
	if errors.Is(err, websocket.ErrCloseSent) {
		// gorilla's read side sent that close (1009, a protocol error, the
		// answer to the peer's close) and its read is returning the reason
		// right now: the read pump ends the session with that cause, after
		// telling the loop what became of the message in progress (1009).
		// Ending it from here could race ahead of that.
		return
	}
	s.cancel(fmt.Errorf("%w: write: %w", errConnEnded, err))
	s.conn.NetConn().Close()
}

// policyError is the cause of a session that the server ends because the
// peer broke one of its limits: the session closes with 1008 (policy
// violation) and reason as the close frame's text (at most 123 bytes).
type policyError struct{ reason string }

func (e *policyError) Error() string { return e.reason }

// send queues a frame for the client. It gives up only when the write pump
// has stopped (the connection is gone), so frames are never reordered.
func (s *session) send(v any) {
	text, err := json.Marshal(v)
	if err != nil {
		s.log.Error("upload: encode frame", "err", err)
		return
	}
	select {
	case s.out <- outbound{text: text}:
	case <-s.writeDone:
	}
}

// trySend queues a frame unless the queue is full; for frames that a later
// one supersedes (progress).
func (s *session) trySend(v any) bool {
	text, err := json.Marshal(v)
	if err != nil {
		s.log.Error("upload: encode frame", "err", err)
		return false
	}
	select {
	case s.out <- outbound{text: text}:
		return true
	case <-s.writeDone:
		return true
	default:
		return false
	}
}

// sendClose queues a close frame; the write pump stops after sending it.
func (s *session) sendClose(code int, reason string) {
	select {
	case s.out <- outbound{close: &closeFrame{code: code, reason: reason}}:
	case <-s.writeDone:
	}
}

// loop is the session's state machine: it takes messages in order, runs the
// progress/checkpoint timer, and on the connection's end checkpoints and
// releases the active upload.
func (s *session) loop() {
	defer close(s.loopDone)
	defer func() {
		// A bug must cost one connection, not the process (this goroutine
		// is outside net/http's recovery).
		if v := recover(); v != nil {
			s.log.Error("upload: session panicked", "panic", v, "stack", string(debug.Stack()))
			s.cancel(errors.New("internal error"))
			if s.up != nil {
				s.up.w.Close()
				s.up.track.Stop()
				s.up = nil
			}
			s.sendClose(websocket.CloseInternalServerErr, "internal_error")
		}
	}()
	for {
		select {
		case m, ok := <-s.in:
			if !ok {
				s.finish()
				return
			}
			s.handle(m)
		case <-s.timer.C:
			s.pace()
		case <-s.ctx.Done():
			s.drain()
			s.finish()
			return
		}
	}
}

// drain handles the messages that were read before the session ended, so
// that every byte that arrived is stored (handle itself skips frames that
// would start something new).
func (s *session) drain() {
	for {
		select {
		case m, ok := <-s.in:
			if !ok {
				return
			}
			s.handle(m)
		default:
			return
		}
	}
}
