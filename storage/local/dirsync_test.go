//go:build unix

package local

import (
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
)

// Callers that sync a directory while a sync of it runs share the next
// one: one sync for all of them, and none returns before a sync that
// started after its call has finished.
func TestDirSyncerGroupsConcurrentSyncs(t *testing.T) {
	dir := t.TempDir()
	release := make(chan struct{})
	started := make(chan struct{}, 16)
	var syncs, finished atomic.Int32
	s := &dirSyncer{fsync: func(string) error {
		n := syncs.Add(1)
		started <- struct{}{}
		if n == 1 {
			<-release // the first sync runs until the others have queued
		}
		finished.Add(1)
		return nil
	}}
	first := make(chan error)
	go func() { first <- s.sync(dir) }()
	<-started

	const n = 10
	var wg sync.WaitGroup
	var early atomic.Int32
	queued := make(chan struct{}, n)
	for range n {
		wg.Go(func() {
			queued <- struct{}{}
			if err := s.sync(dir); err != nil {
				t.Error(err)
			}
			if finished.Load() < 2 {
				early.Add(1) // returned on the sync that ran before its call
			}
		})
	}
	for range n {
		<-queued
	}
	// Let every caller join the round after the first sync before it ends.
	for {
		s.mu.Lock()
		st := s.dirs[dir]
		all := st != nil && st.waiting != nil && st.waiting.callers == n
		s.mu.Unlock()
		if all {
			break
		}
		runtime.Gosched()
	}
	close(release)
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if early.Load() != 0 {
		t.Fatalf("%d callers returned before a sync that started after their call", early.Load())
	}
	if got := syncs.Load(); got != 2 {
		t.Fatalf("%d syncs of one directory, %d of them while one ran, ran %d fsyncs; want 2", n+1, n, got)
	}
}
