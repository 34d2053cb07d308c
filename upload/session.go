package upload

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/gorilla/websocket"

	"github.com/ferryhq/ferry/storage"
	"github.com/ferryhq/ferry/storage/checkpoint"
)

// Pacing of checkpoints and progress frames.
const (
	// checkpointEvery is the least time between two checkpoints made to
	// report progress (a backend's CheckpointInterval may raise it), and
	// how long after the last frame a pause in the stream counts as idle:
	// then whatever is pending is checkpointed at once.
	checkpointEvery = 20 * time.Millisecond
	// checkpointCost paces checkpoints while frames keep coming: the next
	// one waits checkpointCost times as long as the last one took, so that
	// a slow disk's fixed cost per sync is spread over more bytes.
	checkpointCost = 4
	// maxCheckpointWait caps that wait, so durable offsets keep moving
	// under a steady stream.
	maxCheckpointWait = 200 * time.Millisecond
	// progressEvery is the contract's least gap between progress frames.
	progressEvery = 20 * time.Millisecond
)

// upload is the active upload of a session. Only the session loop touches it.
type upload struct {
	w        storage.Writer
	id       string
	size     int64
	declared string              // the client's expected sha256, lower-case, or ""
	track    *checkpoint.Tracker // digest and sniffing of the bytes so far

	received int64 // accepted and written to storage (= w.Written())
	durable  int64 // what the last Checkpoint returned

	lastCheckpoint time.Time
	lastFrame      time.Time
	wait           time.Duration // between checkpoints while frames keep coming
	retry          time.Time     // no progress checkpoint before this (slots were busy)

	// What the last progress frame said.
	repReceived, repOffset int64
}

// handle runs one client message through the state machine.
func (s *session) handle(m inbound) {
	if m.binary {
		s.onPiece(m)
		return
	}
	if m.tooLong {
		s.reject(badRequest(fmt.Sprintf("text frame is over %d bytes", maxTextFrame)))
		return
	}
	req, err := parseRequest(m.text)
	if err != nil && !(s.up != nil && (req.Type == TypeStart || req.Type == TypeResume)) {
		s.reject(err)
		return
	}
	if s.ctx.Err() != nil && (req.Type == TypeStart || req.Type == TypeResume) {
		return // the connection is gone: nobody would learn the new id
	}
	switch req.Type {
	case TypeStart:
		s.onStart(req.Start)
	case TypeResume:
		s.onResume(req.ID)
	case TypeEnd:
		s.onEnd()
	case TypeAbort:
		s.onAbort()
	}
}

// reject answers a frame that could not be acted on. Parse errors never
// touch the active upload, whatever their code.
func (s *session) reject(err error) {
	id := ""
	if s.up != nil {
		id = s.up.id
	}
	s.sendError(protocolError(err, id))
}

func (s *session) sendError(e *Error) {
	s.h.metrics.error(e.Code)
	s.log.Debug("upload: error frame", "code", e.Code, "id", e.ID, "message", e.Message)
	s.send(ErrorFrame{Type: TypeError, Code: e.Code, Message: e.Message, ID: e.ID})
}

func (s *session) onStart(f StartFrame) {
	if s.up != nil {
		s.sendError(&Error{Code: CodeAlreadyStarted, Message: "an upload is already active on this connection", ID: s.up.id})
		return
	}
	if s.h.maxSize > 0 && f.Size > s.h.maxSize {
		s.sendError(&Error{Code: CodeTooLarge, Message: fmt.Sprintf("the declared size is over this server's limit of %d bytes", s.h.maxSize)})
		return
	}
	if f.MIME != "" && !s.h.allowed.Allows(f.MIME) {
		s.sendError(&Error{Code: CodeForbiddenType, Message: fmt.Sprintf("this server does not accept %q files", clip(f.MIME))})
		return
	}
	id := s.h.newID()
	if !storage.ValidID(id) {
		s.log.Error("upload: NewID returned an id that is not a UUID v4 or v7", "id", clip(id))
		s.sendError(&Error{Code: CodeStorageError, Message: "the server could not allocate an upload id"})
		return
	}
	w, err := s.h.backend.Create(s.storeCtx, id, storage.Meta{Name: f.Name, Size: f.Size, MIME: f.MIME, SHA256: f.SHA256})
	if err != nil {
		s.storageError("create", id, err)
		return
	}
	s.begin(w)
}

func (s *session) onResume(id string) {
	if s.up != nil {
		s.sendError(&Error{Code: CodeAlreadyStarted, Message: "an upload is already active on this connection", ID: s.up.id})
		return
	}
	if !storage.ValidID(id) {
		s.sendError(protocolError(storage.ErrNotFound, ""))
		return
	}
	w, err := s.h.backend.Resume(s.storeCtx, id)
	if errors.Is(err, storage.ErrComplete) {
		// The client may have lost the answer to its end: tell it again.
		info, err := s.h.backend.Stat(s.storeCtx, id)
		if err != nil {
			s.storageError("stat", id, err)
			return
		}
		s.send(CompleteFrame{Type: TypeComplete, ID: id, Size: info.Meta.Size, SHA256: info.SHA256, URL: FileURL(id)})
		return
	}
	if err != nil {
		s.storageError("resume", id, err)
		return
	}
	s.begin(w)
}

// begin makes w the active upload, restoring the digest and sniffing state
// of its last Checkpoint, and answers ready.
func (s *session) begin(w storage.Writer) {
	info := w.Info()
	if info.Meta.Size == storage.SizeUnknown {
		// Begun over HTTP without a length: a ferry.v1 client has no way to
		// declare one, so the upload must be finished where it began.
		w.Close()
		s.sendError(&Error{Code: CodeBadRequest, ID: info.ID, Message: "this upload's length is not known yet: " +
			"finish it over HTTP (tus or IETF Resumable Uploads), which can declare it"})
		return
	}
	track, err := checkpoint.Restore(w, piecesInFlight, s.pieces.put)
	if err != nil {
		s.abandon(w, err)
		return
	}
	s.up = &upload{
		w:              w,
		id:             w.ID(),
		size:           info.Meta.Size,
		declared:       info.Meta.SHA256,
		track:          track,
		received:       info.Offset,
		durable:        info.Offset,
		lastCheckpoint: time.Now(),
		wait:           s.h.minCheckpoint,
		repReceived:    info.Offset,
		repOffset:      info.Offset,
	}
	s.send(ReadyFrame{
		Type:      TypeReady,
		ID:        s.up.id,
		Offset:    info.Offset,
		Size:      info.Meta.Size,
		MaxFrame:  s.h.maxFrame,
		ExpiresAt: info.ExpiresAt,
	})
}

// abandon releases a Writer whose saved state cannot be used.
func (s *session) abandon(w storage.Writer, err error) {
	w.Close()
	s.storageError("restore", w.ID(), err)
}

// forbidContent deletes an upload whose sniffed content type is not allowed.
func (s *session) forbidContent() {
	u := s.up
	if err := u.w.Abort(s.storeCtx); err != nil && !errors.Is(err, storage.ErrNotFound) {
		s.log.Warn("upload: abort after forbidden content", "id", u.id, "err", err)
	}
	s.end()
	s.sendError(&Error{Code: CodeForbiddenType, ID: u.id, Message: fmt.Sprintf(
		"the content is %s, which this server does not accept; the upload was deleted", u.track.SniffedType())})
}

func (s *session) onEnd() {
	u := s.up
	if u == nil {
		s.sendError(&Error{Code: CodeNotStarted, Message: "no upload is active: nothing to end"})
		return
	}
	if u.received < u.size {
		// Make what arrived durable before telling the client to go on; this
		// is also where an upload deleted meanwhile is noticed (not_found).
		if err := s.checkpoint(true); err != nil {
			s.fail("checkpoint", err)
			return
		}
		s.sendError(&Error{Code: CodeIncomplete, ID: u.id, Message: fmt.Sprintf(
			"%d of %d bytes received; send the remaining %d", u.received, u.size, u.size-u.received)})
		return
	}
	if u.track.Decide(u.size, s.h.allowed) != checkpoint.Allowed {
		s.forbidContent()
		return
	}
	// A Writer whose Commit makes the written bytes durable itself needs no
	// Checkpoint first: one round to the disk instead of two.
	if u.durable < u.received && !storage.CommitSyncs(u.w) {
		if err := s.checkpoint(true); err != nil {
			s.fail("checkpoint", err)
			return
		}
	}
	_, sum, err := u.track.State(u.received)
	if err != nil {
		s.fail("hash", err)
		return
	}
	if u.declared != "" && sum != u.declared {
		err := u.w.Abort(s.storeCtx)
		if err != nil && !errors.Is(err, storage.ErrNotFound) {
			s.log.Warn("upload: abort after checksum mismatch", "id", u.id, "err", err)
		}
		s.end()
		s.sendError(&Error{Code: CodeChecksumMismatch, ID: u.id, Message: fmt.Sprintf(
			"the received bytes have sha256 %s, not the declared %s; the upload was deleted", sum, u.declared)})
		return
	}
	info, err := u.w.Commit(s.storeCtx, sum)
	if err != nil {
		s.fail("commit", err)
		return
	}
	s.end()
	s.h.metrics.complete()
	s.send(CompleteFrame{Type: TypeComplete, ID: u.id, Size: info.Meta.Size, SHA256: sum, URL: FileURL(u.id)})
}

func (s *session) onAbort() {
	u := s.up
	if u == nil {
		s.sendError(&Error{Code: CodeNotStarted, Message: "no upload is active: nothing to abort"})
		return
	}
	err := u.w.Abort(s.storeCtx)
	if err != nil {
		u.w.Close() // make sure the lock goes even if Abort failed half-way
	}
	s.end()
	if err != nil {
		s.storageError("abort", u.id, err)
		return
	}
	s.send(AbortedFrame{Type: TypeAborted, ID: u.id})
}

// fail reports a storage failure of the active upload. Errors that end an
// upload release its Writer: nothing is checkpointed after a failed write,
// since its digest would not match, so the upload stays resumable from its
// last durable offset.
func (s *session) fail(op string, err error) {
	u := s.up
	e := protocolError(err, u.id)
	if endsUpload(e.Code) {
		u.w.Close()
		s.end()
	}
	s.logStorage(op, u.id, e, err)
	s.sendError(e)
}

// failWrite ends the active upload after a failed Write, whatever the
// error: the Writer may have stored part of the bytes, so its position is no
// longer known to match received, and another piece written through it
// could land at the wrong offset. Closing it drops whatever followed the
// last Checkpoint, so the upload stays resumable from its durable offset.
// An error whose code would tell the client that the upload is still active
// (size_exceeded, bad_request: a Write the session believed valid) is
// reported as storage_error.
func (s *session) failWrite(err error) {
	u := s.up
	e := protocolError(err, u.id)
	if !endsUpload(e.Code) {
		e = &Error{Code: CodeStorageError, ID: u.id, Message: "the server could not store the upload; it can be resumed later"}
	}
	u.w.Close()
	s.end()
	s.log.Warn("upload: storage failed", "op", "write", "id", u.id, "code", e.Code, "err", err)
	s.sendError(e)
}

// storageError reports a failure while no upload is active.
func (s *session) storageError(op, id string, err error) {
	e := protocolError(err, id)
	s.logStorage(op, id, e, err)
	s.sendError(e)
}

func (s *session) logStorage(op, id string, e *Error, err error) {
	if e.Code == CodeStorageError || e.Code == CodeQuotaExceeded {
		s.log.Warn("upload: storage failed", "op", op, "id", id, "code", e.Code, "err", err)
	}
}

// end forgets the active upload once its Writer is committed, aborted or
// closed.
func (s *session) end() {
	s.up.track.Stop()
	s.up = nil
	s.timer.Stop()
}

// checkpoint makes everything received durable together with the digest
// state that covers it.
//
// A checkpoint made only to report progress (must false) is skipped, with
// errCheckpointBusy, while maxParallelCheckpoints of the Handler's sessions
// are making one: with many uploads at once the store's sync capacity is
// shared, and each upload then checkpoints less often, over more bytes.
// Checkpoints that must happen (end, disconnect) go ahead at once, like the
// Commit that follows them: queueing them would only delay the upload.
func (s *session) checkpoint(must bool) error {
	u := s.up
	if !must {
		select {
		case s.h.checkpointSlots <- struct{}{}:
			defer func() { <-s.h.checkpointSlots }()
		default:
			return errCheckpointBusy
		}
	}

	state, _, err := u.track.State(u.received)
	if err != nil {
		return err
	}
	start := time.Now()
	off, err := u.w.Checkpoint(s.storeCtx, state)
	took := time.Since(start)
	s.h.metrics.checkpoint(took.Seconds())
	if err != nil {
		return err
	}
	if off != u.received {
		return fmt.Errorf("checkpoint made %d bytes durable, %d were written", off, u.received)
	}
	u.durable = off
	u.lastCheckpoint = time.Now()
	u.wait = max(s.h.minCheckpoint, min(checkpointCost*took, maxCheckpointWait))
	return nil
}

// errCheckpointBusy says a progress checkpoint was skipped because the
// Handler's other sessions are using every checkpoint slot.
var errCheckpointBusy = errors.New("all checkpoint slots are busy")

// checkpointDue returns when the pending bytes of u should be checkpointed:
// u.wait after the last checkpoint while frames keep coming, or as soon as
// the stream has paused for checkpointEvery, but never sooner than the
// backend's interval. It returns the zero time if nothing is pending, or if
// a message is half stored (the end of the message paces again).
func (s *session) checkpointDue(u *upload) time.Time {
	if u.received == u.durable || s.midMessage() {
		return time.Time{}
	}
	streaming := u.lastCheckpoint.Add(u.wait)
	idle := u.lastFrame.Add(checkpointEvery)
	if earliest := u.lastCheckpoint.Add(s.h.minCheckpoint); idle.Before(earliest) {
		idle = earliest
	}
	due := streaming
	if idle.Before(streaming) {
		due = idle
	}
	if due.Before(u.retry) {
		due = u.retry
	}
	return due
}

// pace checkpoints and reports progress when they are due, and sets the
// timer for the next time one will be. It runs after every stored frame and
// whenever the timer fires, so bytes that arrived become durable and are
// reported even when no further frame comes.
func (s *session) pace() {
	u := s.up
	if u == nil {
		return
	}
	now := time.Now()
	if due := s.checkpointDue(u); !due.IsZero() && !now.Before(due) {
		err := s.checkpoint(false)
		switch {
		case errors.Is(err, errCheckpointBusy):
			u.retry = now.Add(u.wait) // try again later, not on every piece
		case err != nil:
			s.fail("checkpoint", err)
			return
		}
		now = time.Now()
	}
	if s.unreported() && now.Sub(s.lastProgress) >= progressEvery {
		s.progress(now)
	}

	next := s.checkpointDue(u)
	if s.unreported() {
		if p := s.lastProgress.Add(progressEvery); next.IsZero() || p.Before(next) {
			next = p
		}
	}
	if next.IsZero() {
		s.timer.Stop()
		return
	}
	s.timer.Reset(max(next.Sub(now), time.Millisecond))
}

// unreported says whether the active upload has moved since the last
// progress frame.
func (s *session) unreported() bool {
	u := s.up
	return !s.h.noProgress && u != nil && (u.durable != u.repOffset || u.received != u.repReceived)
}

// progress sends a progress frame. If the queue to the client is full it
// tries again at the next pace (a later frame says all this one would).
func (s *session) progress(now time.Time) {
	u := s.up
	s.lastProgress = now
	if s.trySend(ProgressFrame{Type: TypeProgress, ID: u.id, Received: u.received, Offset: u.durable, Size: u.size}) {
		u.repReceived, u.repOffset = u.received, u.durable
	}
}

// finish runs when the connection has ended: the active upload is
// checkpointed (with storage's grace period) and released, so that it can be
// resumed at once, here or on another instance. If the server ended the
// session while the connection is up, the client is told the final offset
// and why: the server is going away (1001), or the client broke a limit
// (1008, see policyError).
func (s *session) finish() {
	// The connection is still up when the server ended the session
	// (Shutdown, the request context going away, a limit): say goodbye.
	cause := context.Cause(s.ctx)
	live := !errors.Is(cause, errConnEnded)
	if u := s.up; u != nil {
		if u.received > u.durable {
			if err := s.checkpoint(true); err != nil {
				s.log.Warn("upload: checkpoint at disconnect", "id", u.id, "err", err)
			}
		}
		if live && s.unreported() {
			// Keep the contract's pacing even for this last frame.
			time.Sleep(time.Until(s.lastProgress.Add(progressEvery)))
			s.progress(time.Now())
		}
		u.w.Close()
		s.end()
	}
	if !live {
		return
	}
	var pe *policyError
	if errors.As(cause, &pe) {
		s.sendClose(websocket.ClosePolicyViolation, pe.reason)
		return
	}
	s.sendClose(websocket.CloseGoingAway, string(CodeShuttingDown))
}
