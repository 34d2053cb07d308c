package download

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ferryhq/ferry/internal/httperr"
	"github.com/ferryhq/ferry/storage"
	"github.com/ferryhq/ferry/storage/checkpoint"
)

// defaultFollowPoll is how often a ?follow=1 download asks storage for new
// durable bytes when Config.FollowPoll is zero.
const defaultFollowPoll = 100 * time.Millisecond

// copyBufferSize is the buffer a body is copied through: each Read and each
// socket write moves this much, so a bigger buffer means fewer system calls.
const copyBufferSize = 256 << 10

// Config configures a Handler. The zero value of every field but Backend
// means its default.
type Config struct {
	// Backend is where files are read from. Required.
	Backend storage.Backend
	// FollowPoll is how often a ?follow=1 download polls Stat for new
	// durable bytes. 0 means 100ms; negative is an error.
	FollowPoll time.Duration
	// Logger receives failures that cannot be answered any more (a storage
	// error in the middle of a body). nil means slog.Default().
	Logger *slog.Logger
	// InlineActive serves active types (HTML, JavaScript, SVG and other
	// XML, PDF) inline, still under Content-Security-Policy: sandbox. false
	// (the default) serves them as attachments, so that an uploaded page or
	// document is never rendered on the server's origin unasked.
	InlineActive bool
	// InlinePDF serves PDF inline (under the same sandbox) even when
	// InlineActive is false, as docs/protocol.md §2 lists PDF among the
	// types shown inline. ferry serve sets it unless --attach-pdf is given.
	InlinePDF bool
	// MaxFollowersPerUpload caps the ?follow=1 downloads of one upload at
	// once; one more answers 503 too_many_followers with Retry-After. 0 means
	// 16; negative is an error.
	MaxFollowersPerUpload int
	// MaxFollowers caps the ?follow=1 downloads of all uploads at once, as
	// MaxFollowersPerUpload does for one. 0 means 1024; negative is an error.
	MaxFollowers int
	// FollowIdle ends a ?follow=1 download (without the terminating chunk)
	// when the upload's durable offset has not moved for this long. A follow
	// also ends once the upload is past its ExpiresAt, whatever this is. 0
	// means 10 minutes; negative is an error.
	FollowIdle time.Duration
}

// Handler serves the read side of the wire contract (docs/protocol.md §2):
// downloads and the file API's reads, as http.HandlerFuncs. It is safe for
// concurrent use; the only state it keeps between requests is the count of
// follow streams.
type Handler struct {
	backend storage.Backend
	// partial is the backend's PartialOpener, nil when it cannot read an
	// upload before it completes.
	partial   storage.PartialOpener
	poll      time.Duration
	idle      time.Duration // Config.FollowIdle
	inline    inlinePolicy
	followers *followers
	log       *slog.Logger
	// now tells the time for FollowIdle and ExpiresAt: time.Now, or a
	// test's clock.
	now func() time.Time
	// bufs holds *[]byte of copyBufferSize for the copies of bodies.
	bufs sync.Pool
}

// New returns a Handler for cfg. It fails if cfg.Backend is nil or a
// duration or a cap is negative.
func New(cfg Config) (*Handler, error) {
	switch {
	case cfg.Backend == nil:
		return nil, errors.New("download: Config.Backend is nil")
	case cfg.FollowPoll < 0:
		return nil, fmt.Errorf("download: Config.FollowPoll is negative (%v)", cfg.FollowPoll)
	case cfg.FollowIdle < 0:
		return nil, fmt.Errorf("download: Config.FollowIdle is negative (%v)", cfg.FollowIdle)
	case cfg.MaxFollowersPerUpload < 0:
		return nil, fmt.Errorf("download: Config.MaxFollowersPerUpload is negative (%d)", cfg.MaxFollowersPerUpload)
	case cfg.MaxFollowers < 0:
		return nil, fmt.Errorf("download: Config.MaxFollowers is negative (%d)", cfg.MaxFollowers)
	}
	h := &Handler{backend: cfg.Backend, poll: cfg.FollowPoll, idle: cfg.FollowIdle,
		inline: inlinePolicy{active: cfg.InlineActive, pdf: cfg.InlinePDF}, log: cfg.Logger, now: time.Now}
	h.bufs.New = func() any {
		buf := make([]byte, copyBufferSize)
		return &buf
	}
	if h.poll == 0 {
		h.poll = defaultFollowPoll
	}
	if h.idle == 0 {
		h.idle = defaultFollowIdle
	}
	h.followers = newFollowers(cmp.Or(cfg.MaxFollowersPerUpload, defaultMaxFollowersPerUpload),
		cmp.Or(cfg.MaxFollowers, defaultMaxFollowers))
	if h.log == nil {
		h.log = slog.Default()
	}
	h.partial, _ = storage.As[storage.PartialOpener](cfg.Backend)
	return h, nil
}

// File serves GET and HEAD /files/{id}: the bytes of a completed file, with
// ranges and conditional requests as docs/protocol.md §2 says, or with
// ?follow=1 an upload streamed as it arrives (see doc.go). The id is
// r.PathValue("id"). Failures are answered by httperr.Write:
// storage.ErrNotFound for an id that is not a canonical UUID (without asking
// storage), an unknown id or an incomplete upload; 416 or 412 as an
// *httperr.Error; any other storage error wrapped. A read that fails once
// the body has begun cuts it short and is logged.
func (h *Handler) File(w http.ResponseWriter, r *http.Request) {
	if err := h.file(w, r); err != nil {
		httperr.Write(w, r, err, h.log)
	}
}

// file does File's work. It returns the error to answer with while nothing
// has been written, and nil once the response has begun.
func (h *Handler) file(w http.ResponseWriter, req *http.Request) error {
	id := req.PathValue("id")
	if !storage.ValidID(id) {
		return fmt.Errorf("download: id %q: %w", id, storage.ErrNotFound)
	}
	if queryFlag(req, "follow") {
		return h.follow(w, req, id)
	}
	obj, err := h.backend.Open(req.Context(), id)
	if err != nil {
		return fmt.Errorf("download: open %s: %w", id, err)
	}
	defer obj.Close()
	info := obj.Info()
	size := info.Meta.Size
	body := &readRecorder{r: obj, size: size}
	body.at, _ = obj.(io.ReaderAt)
	rw := &errorCatcher{ResponseWriter: w, bufs: &h.bufs}
	if ctype := h.setFileHeaders(w.Header(), req, info); ctype == "" {
		body.sniffing = true
		// ServeContent will sniff the type from the first bytes, and only
		// once the preconditions passed; the disposition follows the type
		// it finds, set just before the status goes out.
		attach := queryFlag(req, "download")
		rw.beforeHeader = func() {
			sniffed := http.DetectContentType(body.sniffed())
			rw.Header().Set("Content-Disposition", contentDisposition(attach || !showsInline(sniffed, h.inline), info.Meta.Name, info.ID))
		}
	}
	// The name is empty so that ServeContent never guesses the type from
	// the host's mime tables: an unknown type is sniffed from the content.
	http.ServeContent(rw, guardRange(req, size), "", info.Modified, body)

	switch rw.status {
	case 0:
	case http.StatusRequestedRangeNotSatisfiable:
		return &httperr.Error{
			Status: http.StatusRequestedRangeNotSatisfiable, Code: "range_not_satisfiable",
			Message: fmt.Sprintf("%s: no range of %q overlaps %d bytes", id, req.Header.Get("Range"), size),
			Header:  http.Header{"Content-Range": {"bytes */" + strconv.FormatInt(size, 10)}},
		}
	case http.StatusPreconditionFailed:
		return &httperr.Error{Status: http.StatusPreconditionFailed, Code: "precondition_failed",
			Message: id + ": If-Match or If-Unmodified-Since failed"}
	default:
		return fmt.Errorf("download: serve %s: ServeContent answered %d", id, rw.status)
	}
	if err := body.err(); err != nil && req.Context().Err() == nil {
		// Headers and part of the body are out: the client sees a short
		// body, and nothing can be answered any more.
		h.logCommitted(req, fmt.Errorf("download: read %s: %w", id, err))
	}
	return nil
}

// logCommitted logs a failure that came after the status went out, as
// httperr logs one it answers: an error for what would be a 5xx, a debug
// line for the rest (a file deleted under its reader).
func (h *Handler) logCommitted(req *http.Request, err error) {
	status, _ := httperr.Classify(err)
	level := slog.LevelError
	if status < http.StatusInternalServerError {
		level = slog.LevelDebug
	}
	h.log.Log(req.Context(), level, "request failed", "method", req.Method, "path", req.URL.Path,
		"status", status, "committed", true, "err", err)
}

// setFileHeaders sets in hdr what http.ServeContent reads from the response
// (the validator and the type) and the headers it does not know about. It
// returns the type it set; when that is "" the content's type is unknown and
// Content-Disposition is left for the caller to set once it is sniffed.
func (h *Handler) setFileHeaders(hdr http.Header, req *http.Request, info storage.Info) string {
	hdr.Set("Etag", etag(info))
	hdr.Set("Content-Security-Policy", "sandbox")
	ctype := declaredType(info.Meta.MIME)
	if ctype == "" {
		return ""
	}
	hdr.Set("Content-Type", ctype)
	hdr.Set("Content-Disposition", contentDisposition(queryFlag(req, "download") || !showsInline(ctype, h.inline), info.Meta.Name, info.ID))
	return ctype
}

// guardRange returns a copy of req whose Range header http.ServeContent
// answers as the contract says (see planRange): removed when it is to be
// ignored, rewritten as canonical satisfiable ranges, or, when nothing is
// satisfiable, as a first byte at the end. That is ServeContent's own "no
// overlap" case: it answers 416 after it has checked If-Match, If-None-Match
// and If-Range, which come first (RFC 9110 §13.2.2). The caller's request
// stays as it came.
func guardRange(req *http.Request, size int64) *http.Request {
	if _, ok := req.Header["Range"]; !ok {
		// Nothing to rewrite: most downloads, and copying the request
		// is a good part of what a small one costs.
		return req
	}
	sreq := req.Clone(req.Context())
	plan, ranges := rangeWhole, []byteRange(nil)
	// RFC 9110 §14.2: HEAD ignores Range. An If-Range that is empty or
	// given twice matches nothing, so the Range is ignored too (ServeContent
	// would take an empty one for none at all and answer 206).
	if req.Method != http.MethodHead && !badIfRange(req.Header.Values("If-Range")) {
		plan, ranges = planRange(req.Header.Values("Range"), size)
	}
	switch plan {
	case rangeWhole:
		sreq.Header.Del("Range")
	case rangePartial:
		sreq.Header.Set("Range", formatRanges(ranges))
	case rangeUnsatisfiable:
		sreq.Header.Set("Range", "bytes="+strconv.FormatInt(size, 10)+"-")
	}
	return sreq
}

// badIfRange reports whether the If-Range field lines values can match no
// validator: an empty value, or several lines (If-Range takes exactly one
// entity tag or date, RFC 9110 §13.1.5).
func badIfRange(values []string) bool {
	return len(values) > 1 || (len(values) == 1 && strings.TrimSpace(values[0]) == "")
}

// etag is the file's strong entity tag: its SHA-256, which names exactly
// these bytes. A backend that did not record the digest still gets a strong
// tag, from the id, because a completed file never changes. A digest that
// is not storage.ValidSHA256 is not used: only that form is safe between
// quotes in a header.
func etag(info storage.Info) string {
	if storage.ValidSHA256(info.SHA256) {
		return `"` + info.SHA256 + `"`
	}
	return `"` + info.ID + `"`
}

// queryFlag reports whether the query flag name (?download=1, ?follow=1) is
// on.
func queryFlag(req *http.Request, name string) bool {
	if req.URL.RawQuery == "" {
		return false // without parsing (and allocating) an empty query
	}
	q := req.URL.Query()
	return flagSet(q.Get(name), q.Has(name))
}

// flagSet reports whether a query flag such as ?download=1 is on: present
// with an empty value or any value but "0" or "false".
func flagSet(value string, present bool) bool {
	if !present {
		return false
	}
	b, err := strconv.ParseBool(value)
	return value == "" || err != nil || b
}

// errorCatcher passes a response through to the client unless its status is
// an error (>= 400). http.ServeContent writes its errors itself, as plain
// text; the catcher swallows that status and body and keeps the status, so
// that the handler returns an error and httperr answers it like every other.
type errorCatcher struct {
	http.ResponseWriter
	bufs   *sync.Pool
	status int // the error status swallowed, 0 if none
	// beforeHeader, if set, runs once just before a success status is
	// written, when ServeContent has settled the headers.
	beforeHeader func()
}

// ReadFrom copies the body through a pooled copyBufferSize buffer instead of
// the 32 KiB one io.Copy would allocate for every response.
func (w *errorCatcher) ReadFrom(r io.Reader) (int64, error) {
	buf := w.bufs.Get().(*[]byte)
	defer w.bufs.Put(buf)
	// The struct hides ReadFrom, which would otherwise call itself.
	return io.CopyBuffer(struct{ io.Writer }{w}, r, *buf)
}

func (w *errorCatcher) WriteHeader(code int) {
	if code >= http.StatusBadRequest && w.status == 0 {
		w.status = code
		return
	}
	if w.beforeHeader != nil && code < http.StatusMultipleChoices {
		w.beforeHeader()
		w.beforeHeader = nil
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *errorCatcher) Write(p []byte) (int, error) {
	if w.status != 0 {
		return len(p), nil
	}
	return w.ResponseWriter.Write(p)
}

// Unwrap lets http.ResponseController reach the connection's writer.
func (w *errorCatcher) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// readRecorder remembers the first error other than io.EOF that reading the
// object returned, for the log: ServeContent drops it. A multipart body is
// read on a goroutine of ServeContent's, hence the lock.
type readRecorder struct {
	r io.ReadSeeker
	// at, when the object has it, reads at pos, which Seek moves without
	// asking the object: ServeContent's seeks to learn the size and to go
	// back after sniffing are then free, and no read runs into the end of
	// the file (size, which a completed file keeps). For a small file
	// those system calls cost as much as the copy.
	at   io.ReaderAt
	size int64
	pos  int64

	mu      sync.Mutex
	readErr error
	// With sniffing set, head holds the bytes read before the first Seek:
	// what ServeContent sniffs the type from when none is set (at most
	// checkpoint.SniffLen of them). Files with a known type skip this.
	sniffing bool
	head     []byte
	seeked   bool
}

func (r *readRecorder) Read(p []byte) (int, error) {
	n, err := r.read(p)
	if r.sniffing {
		r.mu.Lock()
		if !r.seeked && len(r.head) < checkpoint.SniffLen {
			r.head = append(r.head, p[:min(n, checkpoint.SniffLen-len(r.head))]...)
		}
		r.mu.Unlock()
	}
	if err != nil && err != io.EOF {
		r.mu.Lock()
		if r.readErr == nil {
			r.readErr = err
		}
		r.mu.Unlock()
	}
	return n, err
}

// read reads from the object: at pos through at, or with Read.
func (r *readRecorder) read(p []byte) (int, error) {
	if r.at == nil {
		return r.r.Read(p)
	}
	if r.pos >= r.size {
		return 0, io.EOF
	}
	p = p[:min(int64(len(p)), r.size-r.pos)]
	n, err := r.at.ReadAt(p, r.pos)
	r.pos += int64(n)
	if err == io.EOF {
		if r.pos < r.size {
			// The file is shorter than its size said.
			err = io.ErrUnexpectedEOF
		} else {
			err = nil
		}
	}
	return n, err
}

func (r *readRecorder) Seek(offset int64, whence int) (int64, error) {
	if r.sniffing {
		r.mu.Lock()
		r.seeked = true
		r.mu.Unlock()
	}
	if r.at == nil {
		return r.r.Seek(offset, whence)
	}
	pos, err := storage.SeekPosition(r.pos, r.size, offset, whence)
	if err != nil {
		return pos, err
	}
	r.pos = pos
	return pos, nil
}

// sniffed returns the first bytes of the file as ServeContent read them to
// sniff its type.
func (r *readRecorder) sniffed() []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.head
}

func (r *readRecorder) err() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.readErr
}
