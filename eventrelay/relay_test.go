package eventrelay_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/ferryhq/ferry/eventrelay"
	"github.com/ferryhq/ferry/events"
	"github.com/ferryhq/ferry/storage"
	"github.com/ferryhq/ferry/storage/s3/s3test"
)

type node struct {
	local *events.Bus
	relay *eventrelay.Relay
	sub   *events.Subscription // of relay.Bus()
}

// nodes starts n relays on one fresh bucket, as n ferry instances would.
func nodes(t *testing.T, n int, cfg eventrelay.Config) ([]*node, s3test.Env, string) {
	t.Helper()
	env := s3test.Lookup(t)
	bucket := env.Bucket(t)
	cfg.S3 = env.Config(bucket)
	cfg.S3.Prefix = "ferry/"
	cfg.Logger = slog.New(slog.NewTextHandler(testWriter{t}, nil))
	var out []*node
	for range n {
		c := cfg
		c.Local = events.NewBus()
		r, err := eventrelay.Start(t.Context(), c)
		if err != nil {
			t.Fatal(err)
		}
		nd := &node{local: c.Local, relay: r, sub: r.Bus().Subscribe(1024)}
		t.Cleanup(func() { nd.sub.Close(); r.Close() })
		out = append(out, nd)
	}
	return out, env, bucket
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

func ev(k events.Kind, id string, off int64) events.Event {
	return events.New(k, storage.Info{ID: id, Offset: off, Meta: storage.Meta{Name: "r.bin", Size: 1000}}, time.Now())
}

// next is the next event of a subscription, failing after a minute (a
// bound on a broken relay, not a measure of speed).
func next(t *testing.T, s *events.Subscription) events.Event {
	t.Helper()
	select {
	case e, ok := <-s.C():
		if !ok {
			t.Fatal("subscription closed")
		}
		return e
	case <-time.After(time.Minute):
		t.Fatal("no event within a minute")
	}
	return events.Event{}
}

func expect(t *testing.T, s *events.Subscription, want ...events.Event) time.Duration {
	t.Helper()
	var worst time.Duration
	for _, w := range want {
		got := next(t, s)
		if got.ID != w.ID || got.Kind != w.Kind || got.Upload != w.Upload {
			t.Fatalf("got %s %s@%d (%s); want %s %s@%d (%s)", got.Kind, got.Upload.ID, got.Upload.Offset, got.ID,
				w.Kind, w.Upload.ID, w.Upload.Offset, w.ID)
		}
		worst = max(worst, time.Since(w.Time))
	}
	return worst
}

func TestRelayAcrossInstances(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  eventrelay.Config
	}{
		{"default poll", eventrelay.Config{ProgressEvery: time.Hour}},
		{"fast poll", eventrelay.Config{Poll: 20 * time.Millisecond, ProgressEvery: time.Hour}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ns, _, _ := nodes(t, 3, tc.cfg)
			a, b, c := ns[0], ns[1], ns[2]
			id := storage.NewID()
			created := ev(events.Created, id, 0)
			var progress []events.Event
			for off := int64(1); off <= 20; off++ {
				progress = append(progress, ev(events.Progress, id, off*10))
			}
			done := ev(events.Complete, id, 1000)
			a.local.Publish(created)
			for _, p := range progress {
				a.local.Publish(p)
			}
			a.local.Publish(done)

			// A's own Bus has all of its events, at once, unthrottled.
			expect(t, a.sub, append(append([]events.Event{created}, progress...), done)...)
			// The others get them with progress throttled: the first only,
			// as the interval is long and complete settles the rest.
			for _, n := range []*node{b, c} {
				lag := expect(t, n.sub, created, progress[0], done)
				t.Logf("%s: the last event reached another instance %s after it was published", tc.name, lag)
			}
			// B's event reaches A and C, and comes back to B's Bus once,
			// not a second time from the store.
			other := ev(events.Deleted, storage.NewID(), 0)
			b.local.Publish(other)
			for _, n := range ns {
				expect(t, n.sub, other)
			}
			marker := ev(events.Expired, storage.NewID(), 0)
			a.local.Publish(marker)
			for _, n := range ns {
				expect(t, n.sub, marker) // nothing came in between: no duplicate
			}
			if a.relay.Dropped() != 0 {
				t.Fatalf("%d events dropped", a.relay.Dropped())
			}
		})
	}
}

// TestRelayDeletesOldEvents: event objects do not pile up in the bucket.
func TestRelayDeletesOldEvents(t *testing.T) {
	ns, env, bucket := nodes(t, 2, eventrelay.Config{Poll: 50 * time.Millisecond, Keep: 300 * time.Millisecond})
	e := ev(events.Created, storage.NewID(), 0)
	ns[0].local.Publish(e)
	expect(t, ns[1].sub, e)
	c := env.Client(t)
	count := func() int {
		n := 0
		for oi := range c.ListObjectsIter(context.Background(), bucket, minio.ListObjectsOptions{Prefix: "ferry/events/", Recursive: true}) {
			if oi.Err != nil {
				t.Fatal(oi.Err)
			}
			n++
		}
		return n
	}
	deadline := time.Now().Add(time.Minute)
	for count() > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d event objects left a minute after they expired", count())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestStartRefusesBadConfig(t *testing.T) {
	for i, cfg := range []eventrelay.Config{
		{},
		{Local: events.NewBus(), Keep: -1},
		{Local: events.NewBus(), Poll: -1},
	} {
		if _, err := eventrelay.Start(context.Background(), cfg); err == nil {
			t.Errorf("config %d accepted", i)
		}
	}
}
