package httpupload

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/ferryhq/ferry/storage"
	"github.com/ferryhq/ferry/storage/checkpoint"
)

// Pacing and sizes of a body streaming into storage.
const (
	// checkpointEvery is the least time between two checkpoints while a
	// body streams in (a backend's CheckpointInterval may raise it). No
	// offset is told to anyone mid-request, so this only bounds what a
	// kill -9 can lose of an unanswered request.
	checkpointEvery = 250 * time.Millisecond
	// piecesInFlight is how many pieces one request may have waiting for
	// the hasher: reading runs that far ahead of hashing.
	piecesInFlight = 4
	// storeGrace is how long storage may take to make a request's bytes
	// durable after its client has gone.
	storeGrace = 30 * time.Second
)

// transfer is one request's hold on an upload: its Writer, the digest and
// sniffing of its bytes, and the signal that a newer request wants it.
type transfer struct {
	h     *Handler
	w     storage.Writer
	track *checkpoint.Tracker
	// pieces is where the body is read into, from the Handler's bank.
	pieces *pieceHold
	id     string
	// ctx is for storage calls: it outlives the request by storeGrace, so
	// that bytes received before a client vanished are still made durable.
	ctx    context.Context
	cancel context.CancelFunc
	// yield is closed when a newer request takes the upload over.
	yield <-chan struct{}

	written, durable int64
	// resized: SetSize since the last checkpoint, which must record it even
	// when no byte came with it.
	resized        bool
	lastCheckpoint time.Time
	done           bool // committed, aborted or closed
}

// hold makes a transfer of the upload w holds. It fails (releasing w) when
// the upload's saved state cannot be used.
func (h *Handler) hold(r *http.Request, w storage.Writer) (*transfer, error) {
	ctx, cancel := context.WithCancel(context.WithoutCancel(r.Context()))
	// Once the client is gone, storage has storeGrace to finish.
	stopGrace := context.AfterFunc(r.Context(), func() { time.AfterFunc(storeGrace, cancel) })
	t := &transfer{h: h, w: w, id: w.ID(), ctx: ctx, lastCheckpoint: time.Now(),
		pieces: h.pieces.hold(), cancel: func() { stopGrace(); cancel() }}
	info := w.Info()
	t.written, t.durable = info.Offset, info.Offset
	track, err := checkpoint.Restore(w, piecesInFlight, t.pieces.put)
	if err != nil {
		w.Close()
		cancel()
		return nil, storageError("restore upload state", err)
	}
	t.track = track
	if y, ok := w.(storage.Yielder); ok {
		ch, err := y.Yield(ctx)
		if err != nil {
			t.release()
			return nil, storageError("offer takeover", err)
		}
		t.yield = ch
	}
	return t, nil
}

// size is the upload's declared size, or storage.SizeUnknown.
func (t *transfer) size() int64 { return t.w.Info().Meta.Size }

// release ends the transfer: the Writer is closed unless it was committed
// or aborted. Bytes not checkpointed are dropped (a checksum mismatch
// relies on it).
func (t *transfer) release() {
	if !t.done {
		t.done = true
		t.w.Close()
	}
	t.track.Stop()
	t.cancel()
}

// errStop says the body was not read to its end because the upload was
// taken over or the server is shutting down.
type errStop struct{ answer error }

func (e errStop) Error() string { return e.answer.Error() }

// chunk is what one Read of the body gave.
type chunk struct {
	piece *[]byte
	n     int
	err   error
}

// copyBody streams body into the upload until EOF, limit bytes (then one
// more byte answers tooLong), a read error, or a stop. With durableAsYouGo
// it checkpoints every checkpointEvery while bytes come, and as soon as
// that much time has passed when they pause; sum, if not nil, sees every
// byte of the body. A read error (the client went away) returns the error
// after the bytes before it were written; the caller decides what to keep.
//
// A goroutine reads the body, so that a pause of the client, a takeover or
// Shutdown is acted on while a Read is blocked.
func (t *transfer) copyBody(w http.ResponseWriter, body io.Reader, limit int64, tooLong error, durableAsYouGo bool, sum io.Writer) (int64, error) {
	reads := make(chan chunk, 2)
	quit := make(chan struct{})
	go readPieces(body, limit, t.pieces, reads, quit)
	var n int64
	ended := false // the reader has sent its last chunk
	defer func() {
		close(quit)
		if ended {
			return
		}
		// Unblock a Read waiting on a silent client, then drop what is
		// still coming: the reader returns after its first error. The
		// connection cannot carry another request after that.
		w.Header().Set("Connection", "close")
		_ = http.NewResponseController(w).SetReadDeadline(time.Now())
		for c := range reads {
			if c.piece != nil {
				t.pieces.put(c.piece)
			}
		}
	}()
	interval := max(checkpointEvery, t.h.minCheckpoint)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	for {
		select {
		case <-t.yield:
			return n, errStop{errTakenOver}
		case <-t.h.closing:
			return n, errStop{errShuttingDown}
		case <-timer.C:
			if err := t.checkpoint(); err != nil {
				return n, err
			}
			continue
		case c := <-reads:
			ended = c.err != nil
			if int64(c.n) > limit-n {
				t.pieces.put(c.piece)
				return n, tooLong
			}
			if c.n > 0 {
				if err := t.store((*c.piece)[:c.n], c.piece, sum); err != nil {
					return n, err
				}
				n += int64(c.n)
			} else if c.piece != nil {
				t.pieces.put(c.piece)
			}
			if c.err == io.EOF {
				return n, nil
			}
			if c.err != nil {
				return n, errCutOff(c.err)
			}
			if durableAsYouGo && t.written > t.durable {
				if wait := interval - time.Since(t.lastCheckpoint); wait > 0 {
					timer.Reset(wait)
				} else if err := t.checkpoint(); err != nil {
					return n, err
				}
			}
		}
	}
}

// readPieces reads body in pieces onto reads until an error (io.EOF at the
// end), reading at most limit+1 bytes, and closes reads. It stops early
// when quit is closed.
func readPieces(body io.Reader, limit int64, pieces *pieceHold, reads chan<- chunk, quit <-chan struct{}) {
	defer close(reads)
	var n int64
	for {
		piece := pieces.get(quit)
		if piece == nil {
			return
		}
		buf := *piece
		if room := limit - n; room < int64(len(buf)) {
			buf = buf[:max(room, 0)+1] // one byte more tells a body that is too long
		}
		m, err := body.Read(buf)
		n += int64(m)
		select {
		case reads <- chunk{piece: piece, n: m, err: err}:
		case <-quit:
			pieces.put(piece)
			return
		}
		if err != nil || n > limit {
			return
		}
	}
}

// store writes the next bytes of the upload, which lie in piece (handed
// on to the hasher, which recycles it).
func (t *transfer) store(data []byte, piece *[]byte, sum io.Writer) error {
	if _, err := t.w.Write(data); err != nil {
		t.pieces.put(piece)
		return storageError("write", err)
	}
	if sum != nil {
		sum.Write(data)
	}
	t.written += int64(len(data))
	t.h.metrics.bytes(len(data))
	if t.track.Add(data, piece, t.size(), t.h.allowed) == checkpoint.Forbidden {
		return t.forbid()
	}
	return nil
}

// forbid deletes an upload whose sniffed content type is not allowed.
func (t *transfer) forbid() error {
	t.done = true
	if err := t.w.Abort(t.ctx); err != nil && !errors.Is(err, storage.ErrNotFound) {
		t.w.Close()
		t.h.log.Warn("httpupload: abort after forbidden content", "id", t.id, "err", err)
	}
	return errForbiddenType(t.track.SniffedType())
}

// checkpoint makes every written byte durable with the state that covers it.
func (t *transfer) checkpoint() error {
	if t.written == t.durable && !t.resized {
		return nil
	}
	state, _, err := t.track.State(t.written)
	if err != nil {
		return storageError("hash", err)
	}
	start := time.Now()
	off, err := t.w.Checkpoint(t.ctx, state)
	t.h.metrics.checkpoint(time.Since(start))
	if err != nil {
		return storageError("checkpoint", err)
	}
	if off != t.written {
		return storageError("checkpoint", fmt.Errorf("made %d bytes durable, %d were written", off, t.written))
	}
	t.durable, t.lastCheckpoint, t.resized = off, time.Now(), false
	return nil
}

// setSize fixes the length of an upload created without one; the next
// checkpoint makes it durable.
func (t *transfer) setSize(size int64) error {
	if err := t.w.SetSize(size); err != nil {
		return storageError("set length", err)
	}
	t.resized = true
	return nil
}

// finish completes an upload whose every byte is written: the sniffing
// verdict is made final, the whole file's digest checked against the
// declared one (a mismatch deletes the upload: its bytes cannot be
// trusted) and the file committed.
func (t *transfer) finish() (storage.Info, error) {
	size := t.size()
	if t.track.Decide(size, t.h.allowed) != checkpoint.Allowed {
		return storage.Info{}, t.forbid()
	}
	// A Writer whose Commit makes the written bytes durable itself needs no
	// Checkpoint first: one round to the disk instead of two.
	if !storage.CommitSyncs(t.w) {
		if err := t.checkpoint(); err != nil {
			return storage.Info{}, err
		}
	}
	_, sum, err := t.track.State(t.written)
	if err != nil {
		return storage.Info{}, storageError("hash", err)
	}
	if declared := t.w.Info().Meta.SHA256; declared != "" && declared != sum {
		t.done = true
		if err := t.w.Abort(t.ctx); err != nil && !errors.Is(err, storage.ErrNotFound) {
			t.w.Close()
			t.h.log.Warn("httpupload: abort after checksum mismatch", "id", t.id, "err", err)
		}
		return storage.Info{}, errChecksum("the file's sha256 is %s, not the declared %s; the upload was deleted", sum, declared)
	}
	info, err := t.w.Commit(t.ctx, sum)
	if err != nil {
		return storage.Info{}, storageError("commit", err)
	}
	t.durable, t.resized = t.written, false
	t.done = true
	t.h.metrics.completed()
	return info, nil
}
