package main

import (
	"bytes"
	"os"
	"runtime"
	"strconv"
	"sync"
)

// osThreads returns the number of OS threads of this process, or -1 if it
// cannot be read.
func osThreads() int {
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return -1
	}
	for line := range bytes.Lines(status) {
		if rest, ok := bytes.CutPrefix(line, []byte("Threads:")); ok {
			n, err := strconv.Atoi(string(bytes.TrimSpace(rest)))
			if err != nil {
				return -1
			}
			return n
		}
	}
	return -1
}

// endIdleThreads ends OS threads beyond keep that the Go runtime holds idle,
// and returns how many threads there were before and after. The runtime
// makes a thread whenever a goroutine sits in a blocking system call (file
// writes and fsync under load: hundreds), keeps each idle one for good with
// its stacks (about 33 KiB), and never ends one by itself. It does end the
// thread of a goroutine that exits while locked to it: so as many goroutines
// as there are threads to end lock one thread each, wait until all are
// locked (so that no two share one), and exit. A thread taken from the idle
// pool ends; if the pool runs short, the runtime makes one and it ends too.
func endIdleThreads(keep int) (before, after int) {
	before = osThreads()
	n := before - keep
	if before < 0 || n <= 0 {
		return before, before
	}
	var locked, exited sync.WaitGroup
	locked.Add(n)
	exited.Add(n)
	release := make(chan struct{})
	for range n {
		go func() {
			defer exited.Done()
			runtime.LockOSThread()
			locked.Done()
			<-release
			// Returning without UnlockOSThread ends this thread.
		}()
	}
	locked.Wait()
	close(release)
	exited.Wait()
	return before, osThreads()
}
