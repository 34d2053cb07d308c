package main

import (
	"runtime"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestEndIdleThreads makes the runtime start about a hundred threads (one per
// goroutine blocked in a raw read of a pipe, as goroutines blocked in file
// writes or fsync do), lets them all go idle, and checks endIdleThreads ends
// them: without it they stay for the life of the process.
func TestEndIdleThreads(t *testing.T) {
	const blocked = 100
	var wg sync.WaitGroup
	writers := make([]int, 0, blocked)
	for range blocked {
		var p [2]int
		if err := syscall.Pipe(p[:]); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { syscall.Close(p[0]); syscall.Close(p[1]) })
		writers = append(writers, p[1])
		wg.Add(1)
		go func() {
			defer wg.Done()
			var b [1]byte
			syscall.Read(p[0], b[:]) // blocks its thread
		}()
	}
	deadline := time.Now().Add(10 * time.Second)
	for osThreads() < blocked && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	for _, w := range writers {
		syscall.Write(w, []byte{1})
	}
	wg.Wait()
	idle := osThreads()
	if idle < blocked {
		t.Fatalf("only %d threads after %d blocking reads", idle, blocked)
	}

	keep := runtime.GOMAXPROCS(0) + 8
	before, _ := endIdleThreads(keep)
	if before < blocked {
		t.Fatalf("endIdleThreads saw %d threads, want at least %d", before, blocked)
	}
	// A thread ends just after its goroutine returns: give it a moment.
	after := osThreads()
	for deadline := time.Now().Add(5 * time.Second); after > keep+20 && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
		after = osThreads()
	}
	if after > keep+20 {
		t.Fatalf("%d threads left of %d, want at most %d", after, before, keep+20)
	}
	t.Logf("threads: %d idle, %d after", before, after)
}
