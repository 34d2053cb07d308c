package download_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"testing"

	"github.com/ferryhq/ferry/storage"
)

// spyBackend records the calls that reach the backend.
type spyBackend struct {
	storage.Backend

	mu    sync.Mutex
	calls []string
	limit int // the limit of the last List
}

func (s *spyBackend) record(call string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, call)
}

func (s *spyBackend) Calls() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.calls...)
}

func (s *spyBackend) Stat(ctx context.Context, id string) (storage.Info, error) {
	s.record("Stat " + id)
	return s.Backend.Stat(ctx, id)
}

func (s *spyBackend) Open(ctx context.Context, id string) (storage.Object, error) {
	s.record("Open " + id)
	return s.Backend.Open(ctx, id)
}

func (s *spyBackend) Delete(ctx context.Context, id string) error {
	s.record("Delete " + id)
	return s.Backend.Delete(ctx, id)
}

func (s *spyBackend) List(ctx context.Context, after string, limit int) (storage.ListPage, error) {
	s.record("List")
	s.mu.Lock()
	s.limit = limit
	s.mu.Unlock()
	return s.Backend.List(ctx, after, limit)
}

// panicBackend hands out Objects that panic when their bytes are touched,
// to prove that an answer never reads the body.
type panicBackend struct{ storage.Backend }

func (b panicBackend) Open(ctx context.Context, id string) (storage.Object, error) {
	obj, err := b.Backend.Open(ctx, id)
	if err != nil {
		return nil, err
	}
	return panicObject{obj}, nil
}

type panicObject struct{ storage.Object }

func (panicObject) Read([]byte) (int, error) { panic("Read of an object whose body must not be read") }
func (panicObject) Seek(int64, int) (int64, error) {
	panic("Seek of an object whose body must not be read")
}

// objectStore hides every optional interface of the backend it wraps, like
// an object store that cannot read an upload before it completes.
type objectStore struct{ storage.Backend }

// failingObject fails every Read after the first n bytes.
type failingObject struct {
	storage.Object
	n int64
}

func (o *failingObject) Read(p []byte) (int, error) {
	if o.n <= 0 {
		return 0, errors.New("disk on fire")
	}
	if int64(len(p)) > o.n {
		p = p[:o.n]
	}
	n, err := o.Object.Read(p)
	o.n -= int64(n)
	return n, err
}

// failingReads serves Objects that break after n bytes.
type failingReads struct {
	storage.Backend
	n int64
}

func (b failingReads) Open(ctx context.Context, id string) (storage.Object, error) {
	obj, err := b.Backend.Open(ctx, id)
	if err != nil {
		return nil, err
	}
	return &failingObject{Object: obj, n: b.n}, nil
}

// rawMeta reports the name and type it was given for the files it names,
// in place of theirs: values storage.Meta.Validate refuses (a name over
// storage.MaxNameBytes, a type that is not a media type), as a record
// written before that check, or by another implementation, might hold.
type rawMeta struct {
	storage.Backend

	mu    sync.Mutex
	metas map[string]storage.Meta // id -> the Name and MIME to report
}

// put stores data as a completed file under placeholders that storage
// accepts, and has the file report meta's Name and MIME from then on.
func (b *rawMeta) put(t *testing.T, meta storage.Meta, data []byte) storage.Info {
	t.Helper()
	info := put(t, b.Backend, storage.Meta{Name: "placeholder"}, data)
	b.mu.Lock()
	if b.metas == nil {
		b.metas = make(map[string]storage.Meta)
	}
	b.metas[info.ID] = meta
	b.mu.Unlock()
	return b.report(info)
}

// report returns info with the Name and MIME set for its id, if any.
func (b *rawMeta) report(info storage.Info) storage.Info {
	b.mu.Lock()
	defer b.mu.Unlock()
	if m, ok := b.metas[info.ID]; ok {
		info.Meta.Name, info.Meta.MIME = m.Name, m.MIME
	}
	return info
}

func (b *rawMeta) Stat(ctx context.Context, id string) (storage.Info, error) {
	info, err := b.Backend.Stat(ctx, id)
	return b.report(info), err
}

func (b *rawMeta) Open(ctx context.Context, id string) (storage.Object, error) {
	obj, err := b.Backend.Open(ctx, id)
	if err != nil {
		return nil, err
	}
	return rawObject{Object: obj, b: b}, nil
}

// rawObject is an Object whose Info is reported through its rawMeta.
type rawObject struct {
	storage.Object
	b *rawMeta
}

func (o rawObject) Info() storage.Info { return o.b.report(o.Object.Info()) }

var _ io.ReadSeeker = panicObject{}

// hiddenParts is a backend whose PartialOpener cannot read uploads in
// progress (an S3 store with HideParts): OpenPartial answers
// errors.ErrUnsupported.
type hiddenParts struct{ storage.Backend }

func (hiddenParts) OpenPartial(ctx context.Context, id string) (io.ReadSeekCloser, error) {
	return nil, fmt.Errorf("parts of %s are not readable before completion: %w", id, errors.ErrUnsupported)
}
