package s3

import (
	"context"
	"fmt"
	"sync"
)

// budget hands out the part buffers of every Writer of a Backend from one
// amount of memory (Config.BufferMemory). A Writer takes a buffer before it
// puts the first byte of a part into it and gives it back when the part is
// uploaded (or the Writer ends), so a Writer waiting for one holds none
// that is partly filled: every buffer out belongs to a part that is being
// filled by its client or uploaded to the store, and comes back. When the
// budget is spent, get waits, in the order the requests came; the Write
// that called it waits, and so does the socket read that would feed it:
// back-pressure to the client instead of memory growing.
//
// Buffers given back are kept for the next get of the same size, as long as
// keeping them fits within the budget, and let go of once no buffer is out,
// so that memory comes back after a burst.
type budget struct {
	total int64

	mu        sync.Mutex
	used      int64 // reserved by the buffers out
	waiting   []*budgetWait
	free      map[int][][]byte // buffers given back, by capacity
	freeBytes int64
}

// budgetWait is a get waiting for its turn.
type budgetWait struct {
	n       int64
	ready   chan struct{} // closed when the reservation is granted
	granted bool
}

func newBudget(total int64) *budget {
	return &budget{total: total, free: make(map[int][][]byte)}
}

// reservation is what a buffer of capacity n takes from the budget: n, or
// the whole budget for a part bigger than it (that upload then runs alone,
// and memory exceeds the budget by the difference).
func (b *budget) reservation(n int) int64 { return min(int64(n), b.total) }

// get returns an empty buffer of capacity n once the budget has room for
// it. It returns an error wrapping ctx's if ctx ends first.
func (b *budget) get(ctx context.Context, n int) ([]byte, error) {
	r := b.reservation(n)
	b.mu.Lock()
	if len(b.waiting) == 0 && b.used+r <= b.total {
		b.used += r
		buf := b.take(n)
		b.mu.Unlock()
		return buf, nil
	}
	w := &budgetWait{n: r, ready: make(chan struct{})}
	b.waiting = append(b.waiting, w)
	b.mu.Unlock()

	select {
	case <-w.ready:
	case <-ctx.Done():
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if !w.granted {
		for i, x := range b.waiting {
			if x == w {
				b.waiting = append(b.waiting[:i:i], b.waiting[i+1:]...)
				break
			}
		}
		// Whoever waited behind this one may fit now.
		b.grant()
		return nil, fmt.Errorf("waiting for part buffer memory: %w", context.Cause(ctx))
	}
	return b.take(n), nil
}

// take returns a buffer of capacity n for a reservation just made: a free
// one, or a new one once free ones of other sizes are let go of as far as
// needed to keep what is allocated within the budget. b.mu is held.
func (b *budget) take(n int) []byte {
	if list := b.free[n]; len(list) > 0 {
		buf := list[len(list)-1]
		b.free[n] = list[:len(list)-1]
		b.freeBytes -= int64(n)
		return buf
	}
	for size, list := range b.free {
		if b.used+b.freeBytes <= b.total {
			break
		}
		b.freeBytes -= int64(size) * int64(len(list))
		delete(b.free, size)
	}
	return make([]byte, 0, n)
}

// put gives back a buffer that get returned.
func (b *budget) put(buf []byte) {
	if buf == nil {
		return
	}
	n := cap(buf)
	b.mu.Lock()
	defer b.mu.Unlock()
	b.used -= b.reservation(n)
	if b.used == 0 && len(b.waiting) == 0 {
		// Nothing out, nobody waiting: hand the memory back.
		clear(b.free)
		b.freeBytes = 0
		return
	}
	b.free[n] = append(b.free[n], buf[:0])
	b.freeBytes += int64(n)
	b.grant()
}

// grant hands the budget to the waiting gets that fit, first come first
// served: a big one at the head is not overtaken by smaller ones. b.mu is
// held.
func (b *budget) grant() {
	for len(b.waiting) > 0 && b.used+b.waiting[0].n <= b.total {
		w := b.waiting[0]
		b.waiting = b.waiting[1:]
		b.used += w.n
		w.granted = true
		close(w.ready)
	}
}

// stats reports the bytes reserved by buffers out and how many gets wait:
// for tests and the figures of docs/performance.md.
func (b *budget) stats() (used int64, waiting int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.used, len(b.waiting)
}
