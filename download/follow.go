package download

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/ferryhq/ferry/internal/httperr"
	"github.com/ferryhq/ferry/storage"
)

// followWriteTimeout bounds each write of a ?follow=1 stream. A follow can
// last as long as an upload does, longer than any server-wide WriteTimeout,
// so the deadline is pushed forward before every round of writes instead;
// a client that takes no bytes for this long is dropped.
const followWriteTimeout = time.Minute

// Defaults of the Config fields that bound follow streams. A follow holds a
// connection, a goroutine and a poll of storage for as long as its upload
// lasts, so without caps a thousand readers of one stalled upload would sit
// on the server until it expired.
const (
	defaultMaxFollowersPerUpload = 16
	defaultMaxFollowers          = 1024
	defaultFollowIdle            = 10 * time.Minute
	// followRetryAfter is the Retry-After of a 503 too_many_followers.
	followRetryAfter = 5 * time.Second
)

// errStreamEnded is the error a follow ends with when it stops before the
// whole file was sent; the wrapped cause says why.
var errStreamEnded = errors.New("follow ended before the file was complete")

// errStalled is why a follow ends whose upload made no progress for
// Config.FollowIdle or outlived its expiry.
var errStalled = errors.New("the upload made no progress")

// follow serves GET /files/{id}?follow=1: 200 with no Content-Length (so
// HTTP/1.1 chunks it), the upload's durable bytes as they appear, then the
// rest once it completes. The stream ends cleanly only when every byte of
// the completed file has been sent; on any other end (the upload deleted,
// aborted or expired, a storage error, the request's context cancelled) the
// connection is cut so that the client cannot take a short body for the
// whole file. It returns storage.ErrNotFound (wrapped) if the id is unknown
// when the request arrives, and a 503 too_many_followers *httperr.Error when
// the upload or the server already has as many followers as the Config
// allows, both before any header is written.
func (h *Handler) follow(w http.ResponseWriter, req *http.Request, id string) error {
	ctx := req.Context()
	info, err := h.backend.Stat(ctx, id)
	if err != nil {
		return fmt.Errorf("download: follow %s: %w", id, err)
	}
	if !h.followers.acquire(id) {
		return &httperr.Error{Status: http.StatusServiceUnavailable, Code: "too_many_followers",
			Message: id + ": too many ?follow=1 downloads at once",
			Header:  http.Header{"Retry-After": {strconv.Itoa(int(followRetryAfter / time.Second))}}}
	}
	defer h.followers.release(id)
	hdr := w.Header()
	// The type cannot be sniffed from bytes that have not arrived yet, and
	// the name's extension is not evidence of anything.
	ctype := declaredType(info.Meta.MIME)
	if ctype == "" {
		ctype = "application/octet-stream"
	}
	attach := !showsInline(ctype, h.inline) || queryFlag(req, "download")
	hdr.Set("Content-Type", ctype)
	hdr.Set("Content-Disposition", contentDisposition(attach, info.Meta.Name, id))
	hdr.Set("Content-Security-Policy", "sandbox")
	hdr.Set("Cache-Control", "no-store")
	hdr.Del("Content-Length")
	w.WriteHeader(http.StatusOK)
	if req.Method == http.MethodHead {
		return nil
	}

	rc := http.NewResponseController(w)
	s := &stream{h: h, id: id, w: w, rc: rc}
	// Headers go out at once, so that a client sees the download start even
	// while no byte has been checkpointed yet.
	s.flush()
	err = s.run(ctx, info)
	if s.partialReader != nil {
		s.partialReader.Close()
	}
	if err == nil {
		return nil
	}
	if ctx.Err() == nil {
		h.log.Info("follow download cut short", "id", id, "sent", s.sent, "err", err)
	}
	s.abort()
	return nil
}

// stream is the state of one ?follow=1 response.
type stream struct {
	h  *Handler
	id string
	w  io.Writer
	rc *http.ResponseController

	sent          int64             // bytes of the file written so far
	partialReader io.ReadSeekCloser // open reader over the upload, or nil
	waitForFile   bool              // the backend cannot read this upload before it completes
}

// run sends the file as it becomes durable, starting from info, and returns
// nil once the complete file has been sent; any error means it was not. An
// upload whose offset has not moved for Config.FollowIdle, or that is past
// its ExpiresAt, ends the stream with errStalled.
func (s *stream) run(ctx context.Context, info storage.Info) error {
	ticker := time.NewTicker(s.h.poll)
	defer ticker.Stop()
	offset, moved := info.Offset, s.h.now()
	for {
		if info.Complete {
			return s.sendComplete(ctx, info.Meta.Size)
		}
		now := s.h.now()
		if info.Offset != offset {
			offset, moved = info.Offset, now
		}
		switch {
		case now.Sub(moved) >= s.h.idle:
			return fmt.Errorf("%w: %w: offset %d for %v", errStreamEnded, errStalled, offset, s.h.idle)
		case !info.ExpiresAt.IsZero() && now.After(info.ExpiresAt):
			return fmt.Errorf("%w: %w: expired at %v", errStreamEnded, errStalled, info.ExpiresAt)
		}
		if s.h.partial != nil && !s.waitForFile && info.Offset > s.sent {
			if err := s.sendPartial(ctx, info.Offset); err != nil {
				// The upload may have been committed under the reader's
				// feet (a backend may move its bytes): a fresh Stat tells a
				// completion from a real failure.
				if s.partialReader != nil {
					s.partialReader.Close()
					s.partialReader = nil
				}
				var serr error
				info, serr = s.h.backend.Stat(ctx, s.id)
				switch {
				case serr == nil && info.Complete:
				case serr == nil && errors.Is(err, errors.ErrUnsupported):
					// These bytes are readable only once complete (an S3
					// store with HideParts): wait for the file.
					s.waitForFile = true
				default:
					return errors.Join(errStreamEnded, err, serr)
				}
				continue
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w: %w", errStreamEnded, context.Cause(ctx))
		case <-ticker.C:
		}
		var err error
		if info, err = s.h.backend.Stat(ctx, s.id); err != nil {
			// ErrNotFound: deleted, aborted or expired.
			return fmt.Errorf("%w: stat: %w", errStreamEnded, err)
		}
	}
}

// sendPartial writes the upload's durable bytes from s.sent up to offset.
func (s *stream) sendPartial(ctx context.Context, offset int64) error {
	if s.partialReader == nil {
		r, err := s.h.partial.OpenPartial(ctx, s.id)
		if err != nil {
			return fmt.Errorf("open partial: %w", err)
		}
		s.partialReader = r
	}
	return s.copyFrom(s.partialReader, offset)
}

// sendComplete writes the completed file from s.sent to its end.
func (s *stream) sendComplete(ctx context.Context, size int64) error {
	obj, err := s.h.backend.Open(ctx, s.id)
	if err != nil {
		return fmt.Errorf("%w: open: %w", errStreamEnded, err)
	}
	defer obj.Close()
	if err := s.copyFrom(obj, size); err != nil {
		return fmt.Errorf("%w: %w", errStreamEnded, err)
	}
	return nil
}

// copyFrom writes r's bytes from s.sent up to end and flushes them.
func (s *stream) copyFrom(r io.ReadSeeker, end int64) error {
	if _, err := r.Seek(s.sent, io.SeekStart); err != nil {
		return fmt.Errorf("seek to %d: %w", s.sent, err)
	}
	// Ignored: a writer without deadlines is left to the server's own.
	_ = s.rc.SetWriteDeadline(time.Now().Add(followWriteTimeout))
	buf := s.h.bufs.Get().(*[]byte)
	defer s.h.bufs.Put(buf)
	n, err := io.CopyBuffer(s.w, io.LimitReader(r, end-s.sent), *buf)
	if err == nil && s.sent+n < end {
		err = io.ErrUnexpectedEOF // the durable bytes are shorter than Stat said
	}
	s.sent += n
	if err != nil {
		return fmt.Errorf("copy bytes %d-%d: %w", s.sent, end, err)
	}
	s.flush()
	return nil
}

// flush pushes buffered bytes to the client. A writer that cannot flush
// still sends everything, only later, so its error is not fatal.
func (s *stream) flush() {
	_ = s.rc.Flush()
}

// abort ends the response without the terminating zero-length chunk, so
// that the client sees a truncated transfer rather than a complete file.
// Over HTTP/1.x the connection is hijacked and closed after the bytes sent
// so far are flushed; where hijacking is impossible (HTTP/2, or a wrapped
// writer that hides it) the handler panics with http.ErrAbortHandler, which
// net/http (and echo's Recover middleware) treat as "abort this response
// quietly" (an HTTP/2 stream gets RST_STREAM).
func (s *stream) abort() {
	s.flush()
	conn, _, err := s.rc.Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	conn.Close()
}

// followers counts the follow streams running, per upload and in total,
// against their caps.
type followers struct {
	maxPerUpload, max int

	mu        sync.Mutex
	perUpload map[string]int // upload id -> its follow streams; never 0
	total     int
}

func newFollowers(maxPerUpload, max int) *followers {
	return &followers{maxPerUpload: maxPerUpload, max: max, perUpload: make(map[string]int)}
}

// acquire counts one more follow stream of upload id and reports true, or
// reports false and counts nothing when a cap is reached. Each true is
// undone by one release.
func (f *followers) acquire(id string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.total >= f.max || f.perUpload[id] >= f.maxPerUpload {
		return false
	}
	f.total++
	f.perUpload[id]++
	return true
}

// release ends a follow stream counted by acquire.
func (f *followers) release(id string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.total--
	if f.perUpload[id]--; f.perUpload[id] <= 0 {
		delete(f.perUpload, id)
	}
}
