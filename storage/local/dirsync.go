package local

import (
	"fmt"
	"os"
	"sync"
)

// maxDirHandles bounds the directory handles a dirSyncer keeps open: the
// shards, uploads/ and the index directories in use.
const maxDirHandles = 1024

// dirSyncer syncs directories for the Backend with group commit: Creates,
// Checkpoints, Commits and Deletes that sync the same directory while a
// sync of it runs share the next one, instead of each issuing its own.
// Every caller still returns only after a sync that started after its call,
// so what it renamed or created is durable. It also keeps the directories
// open: a directory's fsync then costs no open(2) and close(2) around it.
type dirSyncer struct {
	mu   sync.Mutex
	dirs map[string]*dirState
	// fsync, when set (by tests), replaces the directory's fsync.
	fsync func(dir string) error
}

// dirState is one directory's handle and its rounds: at most one sync runs
// at a time, and callers arriving meanwhile join the round after it.
type dirState struct {
	f       *os.File
	running bool
	waiting *syncRound
}

type syncRound struct {
	done    chan struct{}
	err     error
	callers int // how many wait for it
}

// sync makes the renames, creations and removals in dir so far durable.
func (s *dirSyncer) sync(dir string) error {
	if !syncsDirs {
		return nil
	}
	s.mu.Lock()
	st, err := s.state(dir)
	if err != nil {
		s.mu.Unlock()
		return err
	}
	if st.running {
		r := st.waiting
		if r == nil {
			r = &syncRound{done: make(chan struct{})}
			st.waiting = r
		}
		r.callers++
		s.mu.Unlock()
		<-r.done
		return r.err
	}
	st.running = true
	s.mu.Unlock()
	err = s.syncNow(dir, st)
	if next := s.next(st); next != nil {
		go s.run(dir, st, next)
	}
	return err
}

// run syncs for the waiting rounds of st until none is left.
func (s *dirSyncer) run(dir string, st *dirState, r *syncRound) {
	for r != nil {
		r.err = s.syncNow(dir, st)
		close(r.done)
		r = s.next(st)
	}
}

// next takes the round waiting on st, or marks st idle if there is none.
func (s *dirSyncer) next(st *dirState) *syncRound {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := st.waiting
	st.waiting = nil
	if r == nil {
		st.running = false
	}
	return r
}

// state returns dir's state, opening the directory if it is not open yet.
// The caller holds s.mu.
func (s *dirSyncer) state(dir string) (*dirState, error) {
	if st := s.dirs[dir]; st != nil {
		return st, nil
	}
	f, err := os.Open(dir)
	if err != nil {
		return nil, fmt.Errorf("sync directory: %w", mapErr(err))
	}
	if s.dirs == nil {
		s.dirs = make(map[string]*dirState)
	}
	if len(s.dirs) >= maxDirHandles {
		for d, st := range s.dirs {
			if !st.running {
				st.f.Close()
				delete(s.dirs, d)
			}
		}
	}
	st := &dirState{f: f}
	s.dirs[dir] = st
	return st, nil
}

func (s *dirSyncer) syncNow(dir string, st *dirState) error {
	if s.fsync != nil {
		return s.fsync(dir)
	}
	if err := synced(st.f.Sync); err != nil {
		return fmt.Errorf("sync directory %s: %w", dir, mapErr(err))
	}
	return nil
}
