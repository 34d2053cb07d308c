package storage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"strings"
	"time"

	"github.com/google/uuid"
)

// Sentinel errors. Backends translate their native errors into these at their
// edge (wrapping with %w so the cause stays visible); callers test them with
// errors.Is. Nothing here knows about HTTP or WebSocket: the web and upload
// packages map these to statuses and protocol codes in exactly one place each.
var (
	// ErrNotFound: no upload or file with that id (unknown, deleted, aborted,
	// expired, or an id that is not a canonical UUID).
	ErrNotFound = errors.New("storage: not found")
	// ErrExpired: an incomplete upload untouched past the backend's expiry
	// period, not deleted yet. It wraps ErrNotFound, so errors.Is(err,
	// ErrNotFound) holds too: callers that do not tell expiry apart answer
	// "not found", and once the upload is deleted that is all there is.
	ErrExpired = fmt.Errorf("storage: upload expired: %w", ErrNotFound)
	// ErrLocked: another live writer holds the upload.
	ErrLocked = errors.New("storage: upload is locked by another writer")
	// ErrExists: Create was called with an id that is already in use.
	ErrExists = errors.New("storage: upload already exists")
	// ErrComplete: Resume of an upload that is already complete.
	ErrComplete = errors.New("storage: upload is already complete")
	// ErrIncomplete: Commit before all declared bytes were written and
	// checkpointed, or Open of an upload that is not complete.
	ErrIncomplete = errors.New("storage: upload is incomplete")
	// ErrSizeExceeded: a Write that would take the upload past its declared size.
	// Nothing of that Write is stored.
	ErrSizeExceeded = errors.New("storage: write past the declared size")
	// ErrNoSpace: the store is full (ENOSPC, EDQUOT, or a configured quota
	// or reserve). Unlike ErrTooLarge, the same upload may fit later.
	ErrNoSpace = errors.New("storage: no space left")
	// ErrTooLarge: the store cannot hold an upload this large, however much
	// room it has (S3's 5 TiB object limit, a declared size beyond the
	// whole local file system).
	ErrTooLarge = errors.New("storage: the store cannot hold an upload this large")
	// ErrClosed: the Writer was already committed, aborted or closed.
	ErrClosed = errors.New("storage: writer is closed")
	// ErrInvalid: an argument the backend cannot accept (a Meta that fails
	// Meta.Validate, a malformed id given to Create).
	ErrInvalid = errors.New("storage: invalid argument")
)

// NewID returns a new upload id: a UUID v7 (time-ordered), lower case. It
// returns "" if the system's random source fails; callers refuse the upload
// then (an empty id is not ValidID).
func NewID() string {
	id, err := uuid.NewV7()
	if err != nil {
		return ""
	}
	return id.String()
}

// ValidID reports whether id is a canonical lower-case UUID of version 4 or 7,
// the only ids the contract allows. Backends call it before touching any
// path or key, so nothing outside the store is ever reachable through an id.
// It is the pattern
// ^[0-9a-f]{8}-[0-9a-f]{4}-[47][0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$
// written out, because every download asks it and a regexp costs about 5%
// of a small file's download (docs/performance.md, "Small files").
func ValidID(id string) bool {
	if len(id) != 36 || id[14] != '4' && id[14] != '7' {
		return false
	}
	switch id[19] {
	case '8', '9', 'a', 'b':
	default:
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
				return false
			}
		}
	}
	return true
}

// MaxNameBytes is the longest file name an upload protocol accepts, in
// bytes: the name travels in headers (Content-Disposition, tus
// Upload-Metadata), which clients cap.
const MaxNameBytes = 1024

// SizeUnknown is Meta.Size for an upload whose length is declared later, with
// Writer.SetSize (tus creation-defer-length; an IETF upload created without
// Upload-Length). Until then its Writes are bounded only by the store.
const SizeUnknown int64 = -1

// Meta is what a client declares when it starts an upload.
type Meta struct {
	Name   string // original file name, non-empty, at most MaxNameBytes
	Size   int64  // declared size in bytes, >= 0, or SizeUnknown
	MIME   string // declared content type ("type/subtype", see MediaType); may be empty
	SHA256 string // expected digest, lower-case hex (ValidSHA256); may be empty
}

// Validate reports whether m is a Meta a backend may store: a non-empty
// Name of at most MaxNameBytes, a Size >= 0 or SizeUnknown, a MIME that is
// empty or a media type (MediaType), and a SHA256 that is empty or
// ValidSHA256. Every Backend's Create calls it; the upload protocols check
// the same fields first, to answer each failure in their own words. The
// error wraps ErrInvalid and says which field is wrong; it quotes no client
// text, which may be anything.
func (m Meta) Validate() error {
	switch {
	case m.Name == "":
		return fmt.Errorf("empty name: %w", ErrInvalid)
	case len(m.Name) > MaxNameBytes:
		return fmt.Errorf("name of %d bytes, over the limit of %d: %w", len(m.Name), MaxNameBytes, ErrInvalid)
	case m.Size < 0 && m.Size != SizeUnknown:
		return fmt.Errorf("negative size %d: %w", m.Size, ErrInvalid)
	case m.MIME != "" && !validMediaType(m.MIME):
		return fmt.Errorf("type is not a type/subtype media type: %w", ErrInvalid)
	case m.SHA256 != "" && !ValidSHA256(m.SHA256):
		return fmt.Errorf("expected sha256 is not 64 lower-case hex digits: %w", ErrInvalid)
	}
	return nil
}

// ValidSHA256 reports whether s is a SHA-256 digest as storage keeps it
// (Meta.SHA256, Info.SHA256, Writer.Commit's argument): exactly 64
// lower-case hex digits. Such a string is also safe to put in a header as
// it is. Protocols that let a client send upper case lower it first.
func ValidSHA256(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// MediaType returns the lower-case "type/subtype" of a Content-Type value,
// parameters dropped; ok is false unless it parses (mime.ParseMediaType)
// and has both parts, which mime.ParseMediaType alone does not require (it
// also takes a bare token).
func MediaType(v string) (mt string, ok bool) {
	mt, _, err := mime.ParseMediaType(v)
	if err != nil {
		return "", false
	}
	typ, sub, ok := strings.Cut(mt, "/")
	if !ok || typ == "" || sub == "" {
		return "", false
	}
	return mt, true
}

func validMediaType(v string) bool {
	_, ok := MediaType(v)
	return ok
}

// Info describes an upload or a completed file.
type Info struct {
	ID   string
	Meta Meta // as declared at Create (Meta.SHA256 is the client's expectation)

	// SHA256 is the lower-case hex digest computed by the server; set once Complete.
	SHA256 string
	// Offset is the number of durable bytes: everything below it survives a
	// crash of the process. Equal to Meta.Size once Complete.
	Offset   int64
	Complete bool
	Created  time.Time // when the upload was created
	Modified time.Time // last durable write, or the moment of completion
	// ExpiresAt is when an incomplete upload will be deleted if nothing more
	// is written (Modified plus the backend's expiry period); zero once Complete.
	ExpiresAt time.Time
}

// Object is a reader over a completed file. Seeking is cheap (no bytes are
// fetched until Read), so an Object can feed http.ServeContent.
type Object interface {
	io.ReadSeekCloser
	// Info is the file's metadata as of Open.
	Info() Info
}

// ListPage is one page of completed files, newest first.
type ListPage struct {
	Files []Info
	// Next is the cursor for the following page; empty on the last page.
	Next string
}

// Backend stores uploads and completed files. Implementations are safe for
// concurrent use. Every method returns ErrNotFound for an id that fails ValidID.
type Backend interface {
	// Create makes a new, empty upload with the given id and returns a Writer
	// that holds its lock. ErrExists if the id is taken, ErrInvalid for a
	// meta that fails Meta.Validate, ErrTooLarge for a declared size the store can never hold,
	// ErrNoSpace for one it has no room for now. A Create that fails leaves
	// nothing behind: Stat answers ErrNotFound.
	Create(ctx context.Context, id string, meta Meta) (Writer, error)
	// Resume locks an incomplete upload and returns a Writer positioned at its
	// durable offset, with the state saved at its last Checkpoint.
	// ErrNotFound, ErrLocked (another live Writer holds it), ErrComplete.
	Resume(ctx context.Context, id string) (Writer, error)
	// Stat returns an upload's or a file's metadata. ErrNotFound.
	Stat(ctx context.Context, id string) (Info, error)
	// Open returns a reader over a completed file. ErrNotFound for an unknown
	// id and for an upload that is not complete.
	Open(ctx context.Context, id string) (Object, error)
	// List returns up to limit completed files, newest first, starting after
	// the cursor (empty for the first page).
	List(ctx context.Context, after string, limit int) (ListPage, error)
	// Delete removes a file or an incomplete upload with all its bytes. A
	// Writer holding it fails its next Write or Checkpoint with ErrNotFound.
	// ErrNotFound if there is nothing to delete.
	Delete(ctx context.Context, id string) error
}

// Writer appends to one incomplete upload and holds its lock until Commit,
// Abort or Close. A Writer is used by one goroutine at a time.
type Writer interface {
	// ID is the upload's id.
	ID() string
	// Info is the upload's metadata; Offset is the durable offset.
	Info() Info
	// Write appends p at the current position (Written). The bytes are not
	// durable until Checkpoint. A Write that would pass the declared size
	// fails with ErrSizeExceeded and stores nothing. ErrNotFound if the upload
	// was deleted meanwhile, ErrNoSpace when the store is full. Any error but
	// ErrSizeExceeded may leave the Writer failed: later calls but Close and
	// Abort fail, and the bytes after Offset are dropped (a full store gives
	// them back at once); the caller closes it and resumes from Offset.
	Write(p []byte) (int, error)
	// Written is the position after the last successful Write (>= Offset).
	Written() int64
	// SetSize declares the size of an upload created with SizeUnknown. It
	// binds Write and Commit at once (Info().Meta.Size reports it) and is
	// made durable by the next Checkpoint, atomically with that
	// Checkpoint's offset and state: after a crash, Resume reports either
	// SizeUnknown or the size, never a size without the bytes it was set
	// with. Commit needs no Checkpoint after SetSize when every byte is
	// already durable: it records the size with the file. Setting the
	// size the upload already has is a no-op. ErrInvalid if size is
	// negative, below Written or differs from a size already known;
	// ErrTooLarge if it is more than the backend can ever hold for this
	// upload, ErrNoSpace if the store has no room for the rest of it now;
	// after any of these the size stays unknown and the Writer usable.
	// ErrClosed.
	SetSize(size int64) error
	// Checkpoint makes every byte written so far durable and stores state
	// (opaque to the backend; the upload layer keeps its hash state there)
	// with it, atomically: after a crash, Resume reports the offset and the
	// state of one and the same Checkpoint. Returns the new durable offset.
	Checkpoint(ctx context.Context, state []byte) (int64, error)
	// State is the state stored by the last Checkpoint (nil for a new upload).
	State() []byte
	// Commit publishes the upload as a complete file with the server-computed
	// digest sha256, atomically: no reader ever sees a half-written file.
	// Every declared byte must have been written and checkpointed
	// (ErrIncomplete otherwise), except that a Writer whose CommitSyncs
	// (see CommitSyncer) reports true needs them only written: its Commit
	// makes them durable itself. ErrInvalid if sha256 fails ValidSHA256.
	// Releases the lock.
	Commit(ctx context.Context, sha256 string) (Info, error)
	// Abort deletes the upload and its bytes and releases the lock.
	Abort(ctx context.Context) error
	// Close releases the lock without completing. Bytes written after the last
	// Checkpoint may be lost; the upload stays resumable from Offset.
	Close() error
}

// PartialOpener is implemented by backends that can read the durable bytes of
// an upload that is not complete yet (for GET /files/<id>?follow=1). The
// returned reader starts at byte 0; the caller reads no further than the
// Offset that Stat reports. ErrNotFound.
type PartialOpener interface {
	OpenPartial(ctx context.Context, id string) (io.ReadSeekCloser, error)
}

// Expirer is implemented by backends that delete incomplete uploads left
// untouched past their expiry period. DeleteExpired removes every incomplete
// upload whose ExpiresAt is before now, calls deleted (when it is not nil)
// with the Info each one had, once it is gone, and returns how many it
// removed.
type Expirer interface {
	DeleteExpired(ctx context.Context, now time.Time, deleted func(Info)) (int, error)
}

// CheckpointHinter is implemented by backends whose Checkpoint is costly
// (object stores upload the pending bytes). CheckpointInterval is the least
// time the upload layer should leave between two Checkpoints that it makes
// only to report progress.
type CheckpointHinter interface {
	CheckpointInterval() time.Duration
}

// CommitSyncer is implemented by Writers whose Commit can also make durable
// the bytes written since the last Checkpoint, in the same round as the
// completion (local storage: one fdatasync and one record, instead of a
// Checkpoint's record and then Commit's). The upload layers then skip the
// Checkpoint they would make before Commit. Wrappers of a Writer report the
// wrapped Writer's answer (use CommitSyncs).
type CommitSyncer interface {
	// CommitSyncs reports whether Commit accepts an upload whose declared
	// bytes are all written but not all checkpointed. Such a Commit is
	// atomic: if it fails, or the process or machine dies during it, the
	// upload stays as its last Checkpoint left it, with that Checkpoint's
	// offset and state, and can be resumed from there.
	CommitSyncs() bool
}

// CommitSyncs reports whether w is a CommitSyncer whose Commit makes the
// written bytes durable itself, so that its caller need not Checkpoint
// before Commit.
func CommitSyncs(w Writer) bool {
	c, ok := w.(CommitSyncer)
	return ok && c.CommitSyncs()
}

// Yielder is implemented by Writers that can give their upload up when
// another writer asks for it, from any instance sharing the store. HTTP
// uploads use it: a client that lost its connection retries at once, while
// the server still holds the first request open.
type Yielder interface {
	// Yield marks the Writer as one that gives way: from then on a
	// TakeOver of its upload (see TakeOverer) asks it to let go, and the
	// returned channel is closed when one does. The holder should then
	// Checkpoint what it has and Close (or Commit, if it was finishing).
	// A Writer that never called Yield is never asked: TakeOver answers
	// ErrLocked while it holds the upload.
	Yield(ctx context.Context) (<-chan struct{}, error)
}

// TakeOverer is implemented by backends whose Writers are Yielders.
type TakeOverer interface {
	// TakeOver is Resume, except that when a yielding Writer (see Yielder)
	// holds the upload, it is asked to let go and waited for until it has
	// or ctx ends (then ErrLocked). A holder that does not yield answers
	// ErrLocked at once. Other errors are Resume's.
	TakeOver(ctx context.Context, id string) (Writer, error)
}

// Pinger is implemented by backends that can check that their store answers
// (for GET /healthz).
type Pinger interface {
	Ping(ctx context.Context) error
}

// Unwrapper is implemented by Backends that wrap another one to observe or
// change some of its calls (events.Backend, fault injectors in tests). As
// finds the optional capabilities of the wrapped Backend through it, so a
// wrapper implements only the capabilities whose calls it changes.
type Unwrapper interface {
	Unwrap() Backend
}

// As returns b as a T (an optional capability such as PartialOpener or
// Expirer) if b implements it, or else the first Backend down b's chain of
// Unwrap calls that does. It is how callers look for optional capabilities:
// a plain type assertion would miss those of a wrapped Backend.
func As[T any](b Backend) (T, bool) {
	for b != nil {
		if t, ok := b.(T); ok {
			return t, true
		}
		u, ok := b.(Unwrapper)
		if !ok {
			break
		}
		b = u.Unwrap()
	}
	var zero T
	return zero, false
}

// ErrRefused is returned by a Create that a policy outside the store
// refused (a pre-create hook). A *RefusedError wraps it with a message for
// the client.
var ErrRefused = errors.New("storage: upload refused")

// RefusedError is a refusal with a message meant for the client, which the
// protocols send on as it is (unlike every other error's text).
type RefusedError struct {
	// Message says why, in words for the person uploading.
	Message string
}

func (e *RefusedError) Error() string { return "storage: upload refused: " + e.Message }

// Unwrap makes errors.Is(err, ErrRefused) hold.
func (e *RefusedError) Unwrap() error { return ErrRefused }

// SeekPosition returns the position a Seek(offset, whence) moves to, for a
// reader at pos of an object of size bytes that reads at a position of its
// own (with ReadAt) rather than through a file offset. A negative result or
// an unknown whence is an error, and pos is returned with it unchanged.
func SeekPosition(pos, size, offset int64, whence int) (int64, error) {
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		offset += pos
	case io.SeekEnd:
		offset += size
	default:
		return pos, errors.New("storage: seek: invalid whence")
	}
	if offset < 0 {
		return pos, errors.New("storage: seek: negative position")
	}
	return offset, nil
}
