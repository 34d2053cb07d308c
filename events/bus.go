package events

import "sync"

// Bus hands every published Event to every subscriber, in process. Publish
// never waits for a subscriber: observers run inline and must be quick, and
// a Subscription that falls a whole buffer behind is closed (its reader
// learns it lost events and starts again from whatever state it keeps).
// The zero Bus is not usable; make one with NewBus.
type Bus struct {
	mu        sync.Mutex
	subs      map[*Subscription]struct{}
	observers []func(Event)
}

// NewBus returns a Bus with no subscribers.
func NewBus() *Bus {
	return &Bus{subs: make(map[*Subscription]struct{})}
}

// Observe calls fn with every Event published from now on, inline in
// Publish and so before the call that raised it returns to its protocol:
// an observer that records Complete events in a durable outbox has done so
// before the client is told the upload is complete. fn is called from the
// goroutine of each Publish, outside the Bus's lock, so it may be called
// from several at once: one upload's slow observer (an fsync) holds up
// that upload only, never another's checkpoints. fn must not call Publish
// on this Bus.
func (b *Bus) Observe(fn func(Event)) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.observers = append(b.observers, fn)
}

// Subscribe returns a Subscription that receives every Event published from
// now on, buffering up to buffer of them (at least 1).
func (b *Bus) Subscribe(buffer int) *Subscription {
	s := &Subscription{bus: b, c: make(chan Event, max(buffer, 1))}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.subs[s] = struct{}{}
	return s
}

// Publish hands e to every observer, then to every Subscription, closing
// the Subscriptions whose buffer is full. An upload's Writer publishes its
// events one at a time, so observers see them in order.
func (b *Bus) Publish(e Event) {
	b.mu.Lock()
	observers := b.observers
	b.mu.Unlock()
	for _, fn := range observers {
		fn(e)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	for s := range b.subs {
		select {
		case s.c <- e:
		default:
			s.overflowed = true
			b.dropLocked(s)
		}
	}
}

func (b *Bus) dropLocked(s *Subscription) {
	if _, ok := b.subs[s]; ok {
		delete(b.subs, s)
		close(s.c)
	}
}

// Subscription is one reader of a Bus.
type Subscription struct {
	bus        *Bus
	c          chan Event
	overflowed bool // guarded by bus.mu
}

// C delivers the Events in the order they were published. It is closed by
// Close, or by the Bus when the reader fell a whole buffer behind
// (Overflowed then reports true).
func (s *Subscription) C() <-chan Event { return s.c }

// Overflowed reports whether the Bus closed C because the reader fell
// behind. Call it once C is closed.
func (s *Subscription) Overflowed() bool {
	s.bus.mu.Lock()
	defer s.bus.mu.Unlock()
	return s.overflowed
}

// Close stops the Subscription and closes C. It may be called more than
// once.
func (s *Subscription) Close() {
	s.bus.mu.Lock()
	defer s.bus.mu.Unlock()
	s.bus.dropLocked(s)
}
