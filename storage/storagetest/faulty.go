package storagetest

import (
	"context"
	"fmt"

	"github.com/ferryhq/ferry/storage"
)

// Faulty wraps a Backend to inject storage failures into its Writers, for
// testing how callers cope with a full disk or a failing store.
//
// Each Writer that Create or Resume returns counts the bytes it accepts.
// Once a Write would take that count past FailWriteAfter, that Write and
// every later one fail with WriteErr and store nothing (a full disk stays
// full). Once the count has reached FailWriteAfter, Checkpoint fails with
// CheckpointErr without making anything durable, and so does a Commit that
// would make bytes durable that no Checkpoint covers (storage.CommitSyncer).
// A nil error disables that fault. Other methods (SetSize among them), and
// the wrapped Backend's own methods, pass through. A faulty Writer is a
// storage.Yielder exactly when the Writer it wraps is one, and Yield passes
// through; its CommitSyncs is the wrapped Writer's.
//
// Faulty has no capabilities of its own but storage.TakeOverer: a type
// assertion for storage.PartialOpener or storage.Expirer on it fails; call
// those on Backend. TakeOver passes through when Backend is a TakeOverer and
// is Resume otherwise (Writers that cannot yield are never asked to).
// The fields are read only, so one Faulty serves many goroutines.
type Faulty struct {
	storage.Backend
	// FailWriteAfter is how many bytes each Writer accepts before faults start.
	FailWriteAfter int64
	// WriteErr is what Write returns (wrapped) once faults start, for example
	// storage.ErrNoSpace for "disk full".
	WriteErr error
	// CheckpointErr is what Checkpoint returns (wrapped) once faults start.
	CheckpointErr error
}

// Create creates the upload in the wrapped Backend and returns a faulty Writer.
func (f *Faulty) Create(ctx context.Context, id string, meta storage.Meta) (storage.Writer, error) {
	w, err := f.Backend.Create(ctx, id, meta)
	if err != nil {
		return nil, err
	}
	return f.wrap(w), nil
}

// Resume resumes the upload in the wrapped Backend and returns a faulty Writer.
func (f *Faulty) Resume(ctx context.Context, id string) (storage.Writer, error) {
	w, err := f.Backend.Resume(ctx, id)
	if err != nil {
		return nil, err
	}
	return f.wrap(w), nil
}

// TakeOver takes the upload over in the wrapped Backend (see Faulty) and
// returns a faulty Writer.
func (f *Faulty) TakeOver(ctx context.Context, id string) (storage.Writer, error) {
	to, ok := f.Backend.(storage.TakeOverer)
	if !ok {
		return f.Resume(ctx, id)
	}
	w, err := to.TakeOver(ctx, id)
	if err != nil {
		return nil, err
	}
	return f.wrap(w), nil
}

// wrap returns a faulty Writer over w that has w's optional interfaces.
func (f *Faulty) wrap(w storage.Writer) storage.Writer {
	fw := &faultyWriter{Writer: w, f: f}
	if y, ok := w.(storage.Yielder); ok {
		return &yieldingWriter{faultyWriter: fw, y: y}
	}
	return fw
}

type faultyWriter struct {
	storage.Writer
	f        *Faulty
	accepted int64 // bytes this Writer passed on
	failing  bool  // a Write already hit the limit
}

func (w *faultyWriter) Write(p []byte) (int, error) {
	if w.f.WriteErr != nil && (w.failing || w.accepted+int64(len(p)) > w.f.FailWriteAfter) {
		w.failing = true
		return 0, fmt.Errorf("storagetest: injected write fault after %d bytes: %w", w.accepted, w.f.WriteErr)
	}
	n, err := w.Writer.Write(p)
	w.accepted += int64(n)
	return n, err
}

func (w *faultyWriter) Checkpoint(ctx context.Context, state []byte) (int64, error) {
	if w.f.CheckpointErr != nil && (w.failing || w.accepted >= w.f.FailWriteAfter) {
		return w.Writer.Info().Offset, fmt.Errorf("storagetest: injected checkpoint fault after %d bytes: %w", w.accepted, w.f.CheckpointErr)
	}
	return w.Writer.Checkpoint(ctx, state)
}

// Commit fails with CheckpointErr as Checkpoint does when it would make
// bytes durable that no Checkpoint covers; otherwise it passes through.
func (w *faultyWriter) Commit(ctx context.Context, sha256 string) (storage.Info, error) {
	if w.f.CheckpointErr != nil && w.Writer.Written() != w.Writer.Info().Offset &&
		(w.failing || w.accepted >= w.f.FailWriteAfter) {
		return storage.Info{}, fmt.Errorf("storagetest: injected commit fault after %d bytes: %w", w.accepted, w.f.CheckpointErr)
	}
	return w.Writer.Commit(ctx, sha256)
}

// CommitSyncs is the wrapped Writer's (storage.CommitSyncs).
func (w *faultyWriter) CommitSyncs() bool { return storage.CommitSyncs(w.Writer) }

// SetSize passes through: declaring the size stores nothing.
func (w *faultyWriter) SetSize(size int64) error { return w.Writer.SetSize(size) }

// yieldingWriter is a faultyWriter over a storage.Yielder.
type yieldingWriter struct {
	*faultyWriter
	y storage.Yielder
}

func (w *yieldingWriter) Yield(ctx context.Context) (<-chan struct{}, error) { return w.y.Yield(ctx) }
