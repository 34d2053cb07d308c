package events_test

import (
	"testing"
	"time"

	"github.com/ferryhq/ferry/events"
	"github.com/ferryhq/ferry/storage"
)

func TestBusDeliversInOrderAndDropsTheSlow(t *testing.T) {
	bus := events.NewBus()
	fast := bus.Subscribe(8)
	slow := bus.Subscribe(2)
	var published []string
	for range 3 {
		e := events.New(events.Progress, storage.Info{ID: storage.NewID()}, time.Now())
		published = append(published, e.ID)
		bus.Publish(e)
	}
	for i, want := range published {
		if got := <-fast.C(); got.ID != want {
			t.Fatalf("event %d: %s; want %s", i, got.ID, want)
		}
	}
	// slow took two, then fell behind: its channel is closed after them.
	n := 0
	for range slow.C() {
		n++
	}
	if n != 2 || !slow.Overflowed() {
		t.Fatalf("slow subscriber got %d events, overflowed %v; want 2, true", n, slow.Overflowed())
	}
	if fast.Overflowed() {
		t.Fatal("a subscriber that kept up was marked overflowed")
	}
	fast.Close()
	fast.Close()
	if _, ok := <-fast.C(); ok {
		t.Fatal("C is open after Close")
	}
	bus.Publish(events.New(events.Created, storage.Info{ID: storage.NewID()}, time.Now())) // no one left: no panic
}

// TestSlowObserverHoldsUpOnlyItsOwnPublish: an observer that blocks on one
// upload's event (an outbox fsync) does not stop another upload's Publish,
// which the upload hot path calls on every Checkpoint.
func TestSlowObserverHoldsUpOnlyItsOwnPublish(t *testing.T) {
	bus := events.NewBus()
	slowID := storage.NewID()
	entered, release := make(chan struct{}), make(chan struct{})
	bus.Observe(func(e events.Event) {
		if e.Upload.ID == slowID {
			close(entered)
			<-release
		}
	})
	slowDone := make(chan struct{})
	go func() {
		bus.Publish(events.New(events.Complete, storage.Info{ID: slowID}, time.Now()))
		close(slowDone)
	}()
	<-entered
	fastDone := make(chan struct{})
	go func() {
		bus.Publish(events.New(events.Progress, storage.Info{ID: storage.NewID()}, time.Now()))
		close(fastDone)
	}()
	select {
	case <-fastDone:
	case <-time.After(deadlockGuard):
		t.Fatal("a Publish waited for another upload's observer")
	}
	close(release)
	<-slowDone
}

// deadlockGuard bounds a wait that should end at once; it is not a timing
// assertion.
const deadlockGuard = 10 * time.Second
