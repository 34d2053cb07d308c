package events_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"testing"
	"time"

	"github.com/ferryhq/ferry/events"
	"github.com/ferryhq/ferry/storage"
	"github.com/ferryhq/ferry/storage/local"
	"github.com/ferryhq/ferry/storage/storagetest"
)

func newLocal(t *testing.T) storage.Backend {
	t.Helper()
	b, err := local.New(local.Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestConformance: the wrapper is transparent; it passes the storage
// contract's suite as the backend it wraps does, capabilities included.
func TestConformance(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) storage.Backend {
		return events.Wrap(newLocal(t), events.NewBus(), nil)
	})
}

// recorder collects the events published on a Bus, inline.
type recorder struct{ got []events.Event }

func record(bus *events.Bus) *recorder {
	r := &recorder{}
	bus.Observe(func(e events.Event) { r.got = append(r.got, e) })
	return r
}

func (r *recorder) kinds() []events.Kind {
	var ks []events.Kind
	for _, e := range r.got {
		ks = append(ks, e.Kind)
	}
	return ks
}

func (r *recorder) expect(t *testing.T, want ...events.Kind) {
	t.Helper()
	got := r.kinds()
	if len(got) != len(want) {
		t.Fatalf("events %v; want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("events %v; want %v", got, want)
		}
	}
}

func TestEventsOfOneUpload(t *testing.T) {
	bus := events.NewBus()
	rec := record(bus)
	b := events.Wrap(newLocal(t), bus, nil)
	ctx := t.Context()
	data := []byte("hello, events")
	id := storage.NewID()
	w, err := b.Create(ctx, id, storage.Meta{Name: "a.txt", Size: int64(len(data)), MIME: "text/plain"})
	if err != nil {
		t.Fatal(err)
	}
	rec.expect(t, events.Created)
	if _, err := w.Write(data[:5]); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Checkpoint(ctx, nil); err != nil {
		t.Fatal(err)
	}
	// A checkpoint that makes nothing new durable says nothing.
	if _, err := w.Checkpoint(ctx, nil); err != nil {
		t.Fatal(err)
	}
	rec.expect(t, events.Created, events.Progress)
	if p := rec.got[1].Upload; p.Offset != 5 || p.Size != int64(len(data)) || p.Name != "a.txt" || p.Type != "text/plain" {
		t.Fatalf("progress event %+v", p)
	}
	w.Close()

	w, err = b.Resume(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(data[5:]); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Checkpoint(ctx, nil); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	digest := hex.EncodeToString(sum[:])
	if _, err := w.Commit(ctx, digest); err != nil {
		t.Fatal(err)
	}
	rec.expect(t, events.Created, events.Progress, events.Progress, events.Complete)
	done := rec.got[3]
	if done.Upload.SHA256 != digest || done.Upload.URL != "/files/"+id || done.Upload.Offset != int64(len(data)) || done.Upload.ID != id {
		t.Fatalf("complete event %+v", done)
	}
	if err := b.Delete(ctx, id); err != nil {
		t.Fatal(err)
	}
	rec.expect(t, events.Created, events.Progress, events.Progress, events.Complete, events.Deleted)
	if del := rec.got[4].Upload; del.ID != id || del.Name != "a.txt" || del.SHA256 != digest {
		t.Fatalf("deleted event %+v", del)
	}
	seen := map[string]bool{}
	for _, e := range rec.got {
		if seen[e.ID] || !storage.ValidID(e.ID) || e.Time.IsZero() {
			t.Fatalf("event ids must be fresh UUIDs with a time: %+v", rec.got)
		}
		seen[e.ID] = true
	}
	// A failed Delete says nothing.
	if err := b.Delete(ctx, id); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("second Delete: %v", err)
	}
	if len(rec.got) != 5 {
		t.Fatalf("a failed Delete published %v", rec.kinds())
	}
}

func TestAbortAndExpiry(t *testing.T) {
	bus := events.NewBus()
	rec := record(bus)
	b := events.Wrap(newLocal(t), bus, nil)
	ctx := t.Context()
	w, err := b.Create(ctx, storage.NewID(), storage.Meta{Name: "gone", Size: 10})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Abort(ctx); err != nil {
		t.Fatal(err)
	}
	rec.expect(t, events.Created, events.Deleted)

	idle := storage.NewID()
	w, err = b.Create(ctx, idle, storage.Meta{Name: "idle", Size: 10})
	if err != nil {
		t.Fatal(err)
	}
	w.Close()
	var told []string
	n, err := b.DeleteExpired(ctx, time.Now().AddDate(10, 0, 0), func(info storage.Info) { told = append(told, info.ID) })
	if err != nil || n != 1 || len(told) != 1 || told[0] != idle {
		t.Fatalf("DeleteExpired = %d, %v, told %v", n, err, told)
	}
	rec.expect(t, events.Created, events.Deleted, events.Created, events.Expired)
	if e := rec.got[3]; e.Upload.ID != idle || e.Upload.Name != "idle" {
		t.Fatalf("expired event %+v", e)
	}
}

func TestGate(t *testing.T) {
	refuse := errors.New("not on Sundays")
	gate := func(ctx context.Context, id string, meta storage.Meta) (storage.Meta, error) {
		switch meta.Name {
		case "refused":
			return meta, &storage.RefusedError{Message: "not today"}
		case "broken":
			return meta, refuse
		case "resize":
			meta.Size++
			return meta, nil
		case "bad":
			meta.Name = ""
			return meta, nil
		}
		meta.Name = "renamed-" + meta.Name
		meta.MIME = "text/plain"
		return meta, nil
	}
	bus := events.NewBus()
	rec := record(bus)
	inner := newLocal(t)
	b := events.Wrap(inner, bus, gate)
	ctx := t.Context()
	for _, tc := range []struct {
		name string
		want error
	}{
		{"refused", storage.ErrRefused},
		{"broken", refuse},
		{"resize", storage.ErrInvalid},
		{"bad", storage.ErrInvalid},
	} {
		id := storage.NewID()
		_, err := b.Create(ctx, id, storage.Meta{Name: tc.name, Size: 3})
		if !errors.Is(err, tc.want) {
			t.Errorf("Create %q: %v; want %v", tc.name, err, tc.want)
		}
		if _, err := inner.Stat(ctx, id); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("Create %q refused but left %v", tc.name, err)
		}
	}
	var refused *storage.RefusedError
	if _, err := b.Create(ctx, storage.NewID(), storage.Meta{Name: "refused", Size: 3}); !errors.As(err, &refused) || refused.Message != "not today" {
		t.Errorf("refusal %v does not carry its message", err)
	}
	if len(rec.got) != 0 {
		t.Fatalf("refused creations published %v", rec.kinds())
	}
	id := storage.NewID()
	w, err := b.Create(ctx, id, storage.Meta{Name: "x.bin", Size: 3})
	if err != nil {
		t.Fatal(err)
	}
	w.Close()
	info, err := inner.Stat(ctx, id)
	if err != nil || info.Meta.Name != "renamed-x.bin" || info.Meta.MIME != "text/plain" {
		t.Fatalf("stored %+v, %v; want the gate's metadata", info.Meta, err)
	}
	if rec.got[0].Upload.Name != "renamed-x.bin" {
		t.Fatalf("created event %+v", rec.got[0])
	}
}

func TestCapabilitiesThroughTheWrapper(t *testing.T) {
	inner := newLocal(t)
	b := events.Wrap(inner, events.NewBus(), nil)
	if _, ok := storage.As[storage.PartialOpener](b); !ok {
		t.Error("PartialOpener of the wrapped backend not found")
	}
	if _, ok := storage.As[storage.CheckpointHinter](b); ok {
		t.Error("local storage has no CheckpointHinter, yet one was found")
	}
	ctx := t.Context()
	id := storage.NewID()
	w, err := b.Create(ctx, id, storage.Meta{Name: "p", Size: 4})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if _, err := w.Write([]byte("part")); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Checkpoint(ctx, nil); err != nil {
		t.Fatal(err)
	}
	po, _ := storage.As[storage.PartialOpener](b)
	r, err := po.OpenPartial(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	got := make([]byte, 4)
	if _, err := r.Read(got); err != nil || !bytes.Equal(got, []byte("part")) {
		t.Fatalf("partial read %q, %v", got, err)
	}
}
