// Package eventrelay carries upload events between ferry instances that
// share an S3 bucket, so that GET /api/events on any instance tells what
// happens on every one.
//
// Each instance writes every event of its own (progress throttled to one
// per upload per second) as a small object, <prefix>events/<event id>.<instance>,
// whose body is the Event's JSON. The others find it by listing the prefix
// every Config.Poll (250 ms) from a little before their last listing (the
// keys sort by time: event ids are UUID v7), and fetch it. Any instance
// deletes event objects older than Config.Keep. The relay needs no server
// beside the store, works on any S3 store, and no instance needs to know
// another.
//
// MinIO's bucket-notification listening API (ListenBucketNotification)
// would spare the listings, but on the MinIO release the tests pin it
// delivered events seconds late, in bursts, and lost some (docs/design.md,
// "Events across instances"), so listing is used everywhere.
//
// Relay.Bus carries this instance's events and the others' alike, for
// subscribers that want every instance's (the event stream); observers that
// must see each event once in the whole deployment (webhooks) stay on the
// local Bus the Backend publishes on.
package eventrelay

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/ferryhq/ferry/events"
	"github.com/ferryhq/ferry/eventstream"
	"github.com/ferryhq/ferry/storage"
	"github.com/ferryhq/ferry/storage/s3"
)

// Defaults of Config's zero values.
const (
	// DefaultPoll: the events prefix is listed four times a second, so an
	// event reaches the other instances well within a second (a PUT, a
	// LIST and a GET after it happened). On AWS S3 that is about 350,000
	// LIST requests a day per instance: raise it there if that matters.
	DefaultPoll = 250 * time.Millisecond
	// DefaultKeep: event objects are deleted after two minutes. Listings
	// go back only a few seconds; an instance cut off from the store for
	// longer misses what happened meanwhile, as its clients' streams do
	// (they resync when they reconnect).
	DefaultKeep = 2 * time.Minute
	// DefaultProgressEvery: at most one progress object per upload per
	// second, the rate at which the event stream sends them anyway.
	DefaultProgressEvery = time.Second
	// DefaultQueue is how many events may wait to be written before new
	// ones are dropped (and counted) rather than slowing the uploads.
	DefaultQueue = 4096
	// skew is how far before the last listing the next one starts: events
	// written by an instance whose clock is behind by up to this much, or
	// whose PUT was slow, are still found.
	skew = 5 * time.Second
	dir  = "events/"
)

// Config configures a Relay.
type Config struct {
	// S3 is the store the Backend uses: the same endpoint, credentials,
	// bucket and prefix.
	S3 s3.Config
	// Local is the Bus the Backend publishes this instance's events on
	// (events.Wrap's).
	Local *events.Bus
	// Poll, Keep, ProgressEvery and Queue: 0 means the defaults above.
	Poll, Keep, ProgressEvery time.Duration
	Queue                     int
	// Logger: nil means slog.Default().
	Logger *slog.Logger
}

// Relay writes this instance's events to the store and publishes the other
// instances' on Bus.
type Relay struct {
	cfg      Config
	c        *minio.Client
	bucket   string
	prefix   string // <s3 prefix>events/
	instance string
	bus      *events.Bus
	out      chan events.Event
	dropped  atomic.Int64
	closing  atomic.Bool
	cancel   context.CancelFunc
	wg       sync.WaitGroup
	log      *slog.Logger
}

// Start checks that the store answers, then starts relaying until Close.
func Start(ctx context.Context, cfg Config) (*Relay, error) {
	if cfg.Local == nil {
		return nil, errors.New("eventrelay: Config.Local is required")
	}
	if cfg.Poll < 0 || cfg.Keep < 0 || cfg.ProgressEvery < 0 || cfg.Queue < 0 {
		return nil, errors.New("eventrelay: negative Config durations or Queue")
	}
	if cfg.Poll == 0 {
		cfg.Poll = DefaultPoll
	}
	if cfg.Keep == 0 {
		cfg.Keep = DefaultKeep
	}
	if cfg.ProgressEvery == 0 {
		cfg.ProgressEvery = DefaultProgressEvery
	}
	if cfg.Queue == 0 {
		cfg.Queue = DefaultQueue
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	c, s3cfg, err := s3.NewClient(cfg.S3)
	if err != nil {
		return nil, fmt.Errorf("eventrelay: %w", err)
	}
	if _, err := c.BucketExists(ctx, s3cfg.Bucket); err != nil {
		return nil, fmt.Errorf("eventrelay: bucket %s: %w", s3cfg.Bucket, err)
	}
	r := &Relay{
		cfg: cfg, c: c, bucket: s3cfg.Bucket, prefix: s3cfg.Prefix + dir,
		instance: strings.ReplaceAll(storage.NewID(), "-", ""),
		bus:      events.NewBus(), out: make(chan events.Event, cfg.Queue), log: cfg.Logger,
	}
	runCtx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	cfg.Local.Observe(r.observe)
	since := time.Now()
	r.wg.Add(3)
	go func() { defer r.wg.Done(); r.write(runCtx) }()
	go func() { defer r.wg.Done(); r.receive(runCtx, since) }()
	go func() { defer r.wg.Done(); r.clean(runCtx) }()
	return r, nil
}

// Bus carries every instance's events, this one's included, each once.
func (r *Relay) Bus() *events.Bus { return r.bus }

// Dropped is the number of this instance's events that were not written
// because the queue was full (the store too slow for the event rate).
func (r *Relay) Dropped() int64 { return r.dropped.Load() }

// Close stops relaying; events still queued are not written.
func (r *Relay) Close() error {
	r.closing.Store(true)
	r.cancel()
	r.wg.Wait()
	return nil
}

// observe runs inline in the local Bus's Publish: it must not block.
func (r *Relay) observe(e events.Event) {
	r.bus.Publish(e)
	if r.closing.Load() {
		return
	}
	select {
	case r.out <- e:
	default:
		if r.dropped.Add(1)%1000 == 1 {
			r.log.Warn("the event relay is behind: events of this instance are not reaching the others", "dropped", r.dropped.Load())
		}
	}
}

// write PUTs this instance's events, one at a time so that they keep their
// order, progress throttled per upload.
func (r *Relay) write(ctx context.Context) {
	th := eventstream.NewThrottle(r.cfg.ProgressEvery)
	tick := time.NewTicker(r.cfg.ProgressEvery / 4)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			for _, e := range th.Due(time.Now()) {
				r.put(ctx, e)
			}
		case e := <-r.out:
			if e.Kind == events.Progress {
				if !th.Offer(e, time.Now()) {
					continue
				}
			} else {
				th.Settle(e.Upload.ID)
			}
			r.put(ctx, e)
		}
	}
}

func (r *Relay) put(ctx context.Context, e events.Event) {
	body, _ := json.Marshal(e) // an Event always encodes
	key := r.prefix + e.ID + "." + r.instance
	for attempt := 0; ; attempt++ {
		pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		_, err := r.c.PutObject(pctx, r.bucket, key, bytes.NewReader(body), int64(len(body)),
			minio.PutObjectOptions{ContentType: "application/json", DisableMultipart: true})
		cancel()
		if err == nil || ctx.Err() != nil {
			return
		}
		if attempt == 2 {
			r.log.Warn("an event could not be written for the other instances", "event", e.ID, "type", e.Kind, "upload", e.Upload.ID, "err", err)
			return
		}
		time.Sleep(100 * time.Millisecond << attempt)
	}
}

// receive publishes other instances' events on Bus, listing the prefix
// every Poll.
func (r *Relay) receive(ctx context.Context, since time.Time) {
	seen := newSeen()
	last := since
	tick := time.NewTicker(r.cfg.Poll)
	defer tick.Stop()
	for {
		last = r.scan(ctx, seen, last)
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// scan lists the events written since a little before last and takes the
// ones not seen yet; it returns the time this listing started.
func (r *Relay) scan(ctx context.Context, seen *seen, last time.Time) time.Time {
	started := time.Now()
	opts := minio.ListObjectsOptions{Prefix: r.prefix, StartAfter: r.prefix + floorID(last.Add(-skew))}
	for oi := range r.c.ListObjectsIter(ctx, r.bucket, opts) {
		if oi.Err != nil {
			if ctx.Err() == nil {
				r.log.Warn("listing other instances' events failed", "err", oi.Err)
			}
			return last // try the same window again
		}
		r.take(ctx, seen, oi.Key)
	}
	// The next listing starts at started-skew, later ones later still.
	seen.prune(started.Add(-2*skew - r.cfg.Poll))
	return started
}

// take fetches and publishes the event under key, unless it is this
// instance's or was taken already.
func (r *Relay) take(ctx context.Context, seen *seen, key string) {
	id, instance, ok := parseKey(strings.TrimPrefix(key, r.prefix))
	if !ok || instance == r.instance || seen.has(id) {
		return
	}
	seen.add(id)
	obj, err := r.c.GetObject(ctx, r.bucket, key, minio.GetObjectOptions{})
	if err != nil {
		r.log.Warn("reading another instance's event failed", "key", key, "err", err)
		return
	}
	defer obj.Close()
	var e events.Event
	if err := json.NewDecoder(io.LimitReader(obj, 64<<10)).Decode(&e); err != nil {
		// Deleted by the cleaner before it was read (an instance far
		// behind), or not ours: nothing to publish.
		if ctx.Err() == nil && minio.ToErrorResponse(err).Code != "NoSuchKey" {
			r.log.Warn("another instance's event is unreadable", "key", key, "err", err)
		}
		return
	}
	if e.ID != id {
		return
	}
	r.bus.Publish(e)
}

// clean deletes event objects older than Keep, every Keep/10.
func (r *Relay) clean(ctx context.Context) {
	tick := time.NewTicker(max(r.cfg.Keep/10, 100*time.Millisecond))
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		cutoff := floorID(time.Now().Add(-r.cfg.Keep))
		// Keys sort by time: stop at the first one young enough.
		lctx, cancel := context.WithCancel(ctx)
		for oi := range r.c.ListObjectsIter(lctx, r.bucket, minio.ListObjectsOptions{Prefix: r.prefix}) {
			if oi.Err != nil || strings.TrimPrefix(oi.Key, r.prefix) >= cutoff {
				break
			}
			if err := r.c.RemoveObject(ctx, r.bucket, oi.Key, minio.RemoveObjectOptions{}); err != nil && ctx.Err() == nil {
				r.log.Warn("deleting an old event failed", "key", oi.Key, "err", err)
				break
			}
		}
		cancel()
	}
}

// parseKey splits "<event id>.<instance>".
func parseKey(name string) (id, instance string, ok bool) {
	id, instance, ok = strings.Cut(name, ".")
	return id, instance, ok && storage.ValidID(id) && instance != ""
}

// floorID is the smallest UUID v7 of the millisecond t: every event id
// made at t or later sorts after it.
func floorID(t time.Time) string {
	ms := max(t.UnixMilli(), 0)
	h := fmt.Sprintf("%012x", ms)
	return h[:8] + "-" + h[8:12] + "-7000-8000-000000000000"
}

// seen remembers the ids of events taken, by their time, so that an event
// heard by notification and found again by a listing is published once.
type seen struct{ ids map[string]time.Time }

func newSeen() *seen { return &seen{ids: map[string]time.Time{}} }

func (s *seen) has(id string) bool { _, ok := s.ids[id]; return ok }
func (s *seen) add(id string)      { s.ids[id] = idTime(id) }

// prune forgets ids older than t: listings never go back that far.
func (s *seen) prune(t time.Time) {
	for id, at := range s.ids {
		if at.Before(t) {
			delete(s.ids, id)
		}
	}
}

// idTime is the time a UUID v7 was made at.
func idTime(id string) time.Time {
	ms, err := strconv.ParseInt(strings.ReplaceAll(id[:13], "-", ""), 16, 64)
	if err != nil {
		return time.Time{}
	}
	return time.UnixMilli(ms)
}
