package s3

import (
	"context"
	"errors"
	"testing"
	"time"
)

// waitFor polls cond until it holds; the tests use it to see a goroutine
// reach a blocking call, never to time anything.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for range 2000 {
		if cond() {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("never happened: %s", what)
}

func TestBudgetWaitsWhenSpent(t *testing.T) {
	b := newBudget(3 * mib)
	ctx := context.Background()
	one, err := b.get(ctx, 2*mib)
	if err != nil || cap(one) != 2*mib || len(one) != 0 {
		t.Fatalf("get: cap %d len %d, %v", cap(one), len(one), err)
	}
	got2, got3 := make(chan []byte, 1), make(chan []byte, 1)
	go func() { buf, _ := b.get(ctx, 2*mib); got2 <- buf }()
	waitFor(t, "the second get waits", func() bool { _, n := b.stats(); return n == 1 })
	// A smaller request that would fit does not overtake the waiting one.
	go func() { buf, _ := b.get(ctx, mib); got3 <- buf }()
	waitFor(t, "the third get waits", func() bool { _, n := b.stats(); return n == 2 })
	select {
	case <-got2:
		t.Fatal("a get returned while the budget was spent")
	case <-got3:
		t.Fatal("a smaller get overtook the one waiting before it")
	default:
	}
	b.put(one)
	second, third := <-got2, <-got3
	if cap(second) != 2*mib || cap(third) != mib {
		t.Fatalf("granted out of order: caps %d, %d", cap(second), cap(third))
	}
	if used, _ := b.stats(); used != 3*mib {
		t.Fatalf("used %d, want %d", used, 3*mib)
	}
	b.put(second)
	b.put(third)
	if used, n := b.stats(); used != 0 || n != 0 || b.freeBytes != 0 {
		t.Fatalf("after every put: used %d, waiting %d, kept %d bytes", used, n, b.freeBytes)
	}
}

func TestBudgetGetGivesUpWithItsContext(t *testing.T) {
	b := newBudget(2 * mib)
	held, _ := b.get(context.Background(), 2*mib)
	ctx, cancel := context.WithCancelCause(context.Background())
	stop := errors.New("writer closed")
	errc := make(chan error, 1)
	go func() { _, err := b.get(ctx, mib); errc <- err }()
	waitFor(t, "the get waits", func() bool { _, n := b.stats(); return n == 1 })
	cancel(stop)
	if err := <-errc; !errors.Is(err, stop) {
		t.Fatalf("get after cancel: %v, want the cause", err)
	}
	if used, n := b.stats(); used != 2*mib || n != 0 {
		t.Fatalf("a cancelled get left used %d, waiting %d", used, n)
	}
	b.put(held)
	if buf, err := b.get(context.Background(), 2*mib); err != nil || cap(buf) != 2*mib {
		t.Fatalf("get after the put: %v", err)
	}
}

// Buffers given back are reused while something is out, and what is kept
// never takes the allocated total past the budget.
func TestBudgetReusesWithinTheBudget(t *testing.T) {
	b := newBudget(4 * mib)
	ctx := context.Background()
	a, _ := b.get(ctx, 2*mib)
	c, _ := b.get(ctx, 2*mib)
	b.put(a)
	again, _ := b.get(ctx, 2*mib)
	if &again[:1][0] != &a[:1][0] {
		t.Fatal("a free buffer of the same size was not reused")
	}
	b.put(again)
	// Another size: the kept 2 MiB buffer must go to make room.
	d, _ := b.get(ctx, 2*mib-mib/2)
	if b.freeBytes+b.used > b.total {
		t.Fatalf("kept %d + reserved %d exceeds the budget %d", b.freeBytes, b.used, b.total)
	}
	b.put(c)
	b.put(d)
}

// A part bigger than the whole budget takes all of it rather than wait forever.
func TestBudgetPartBiggerThanBudget(t *testing.T) {
	b := newBudget(2 * mib)
	buf, err := b.get(context.Background(), 3*mib)
	if err != nil || cap(buf) != 3*mib {
		t.Fatalf("get: %v", err)
	}
	if used, _ := b.stats(); used != 2*mib {
		t.Fatalf("used %d, want the whole budget", used)
	}
	b.put(buf)
}
