package storagetest

import (
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/ferryhq/ferry/storage"
)

// Harness is what a backend's conformance test gives RunWithHarness for
// each subtest.
type Harness struct {
	// Backend is a fresh, empty backend, cleaned up with t.Cleanup (see Run).
	Backend storage.Backend
	// Leftovers, if not nil, lists everything Backend has stored, by the
	// backend's own names (file names, object keys, multipart uploads in
	// progress), apart from what the backend keeps permanently whatever
	// its uploads. The suite then fails, in the manner of distribution's
	// storage driver suite, any subtest that leaves behind something of an
	// upload it deleted, aborted or expired (data, record, lock, parts,
	// pending objects, state, lease, temporary files), and any subtest that
	// must leave the store empty but does not. A name belongs to an upload
	// when it contains the upload's id.
	Leftovers func(t *testing.T) []string
}

// removed records, per backend under test, the ids that gone found
// removed, for the leftovers check after the subtest.
var removed sync.Map // storage.Backend -> *idSet

type idSet struct {
	mu  sync.Mutex
	ids []string
}

// noteRemoved records that id is gone from b, when b is being checked for
// leftovers.
func noteRemoved(b storage.Backend, id string) {
	if !storage.ValidID(id) {
		return // never stored: hostile or malformed ids
	}
	if v, ok := removed.Load(b); ok {
		s := v.(*idSet)
		s.mu.Lock()
		s.ids = append(s.ids, id)
		s.mu.Unlock()
	}
}

// runWithLeftovers runs one subtest on h and then checks h.Leftovers:
// nothing may remain of an upload that gone saw removed and, when empty is
// set, nothing may remain at all.
func runWithLeftovers(t *testing.T, h Harness, empty bool, run func(t *testing.T, b storage.Backend)) {
	if h.Leftovers == nil {
		run(t, h.Backend)
		return
	}
	s := &idSet{}
	removed.Store(h.Backend, s)
	defer removed.Delete(h.Backend)
	run(t, h.Backend)
	if t.Failed() || t.Skipped() {
		return
	}
	left := h.Leftovers(t)
	if empty && len(left) > 0 {
		t.Errorf("the store should be empty after this test, but it holds %q", left)
		return
	}
	s.mu.Lock()
	ids := slices.Clone(s.ids)
	s.mu.Unlock()
	for _, id := range ids {
		var of []string
		for _, name := range left {
			if strings.Contains(name, id) {
				of = append(of, name)
			}
		}
		if len(of) > 0 {
			t.Errorf("upload %s was removed but the backend still holds %q", id, of)
		}
	}
}
