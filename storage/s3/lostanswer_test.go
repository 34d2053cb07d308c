package s3_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ferryhq/ferry/storage"
	"github.com/ferryhq/ferry/storage/s3"
	"github.com/ferryhq/ferry/storage/s3/s3test"
)

// TestCheckpointAnswerLost: a Checkpoint whose state write reached the store
// but whose answer was lost (its context ended first: the WebSocket
// session's storage grace after a disconnect, a tus request's) fails, and
// the upload still resumes, from the state the store kept. The Checkpoint
// cannot tell whether its state landed, so it must not delete the pending
// object that state may list: Resume would find the state pointing at a
// missing object and answer not_found for an upload whose bytes were all
// acknowledged.
func TestCheckpointAnswerLost(t *testing.T) {
	tests := []struct {
		name        string
		first, then int // Checkpoint at first (succeeds), then at then (answer lost)
	}{
		{"pending bytes", 100, 200},
		{"pending bytes after earlier ones", 100, 3 * mib},
		{"a whole part and pending bytes", 100, s3.MinPartSize + 100},
	}
	s := newSite(t)
	proxy := s3test.NewLosingProxy(t, s.cfg.Endpoint)
	b := s.backend(t, func(c *s3.Config) { c.Endpoint = proxy.Addr })
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := payload(uint64(95+i), 2*s3.MinPartSize+mib)
			id := newID()
			w := create(t, b, id, int64(len(data)))
			write(t, w, data[:tt.first])
			checkpoint(t, w, "first")
			write(t, w, data[tt.first:tt.then])

			landed := proxy.Arm(id + "/state")
			ctx, cancel := context.WithCancel(t.Context())
			go func() {
				<-landed
				cancel()
			}()
			if _, err := w.Checkpoint(ctx, []byte("then")); err == nil {
				t.Fatal("Checkpoint succeeded though its answer was lost")
			}
			cancel()
			w.Close()

			// The state write landed: Resume continues from it.
			w, err := b.Resume(t.Context(), id)
			if err != nil {
				t.Fatalf("Resume after a Checkpoint whose answer was lost: %v", err)
			}
			t.Cleanup(func() { w.Close() })
			if off := w.Info().Offset; off != int64(tt.then) || string(w.State()) != "then" {
				t.Fatalf("Resume: offset %d, state %q; want %d, %q", off, w.State(), tt.then, "then")
			}
			s.finish(t, b, w, id, data, tt.then)
		})
	}
}

// TestResumeRacesAHolderPastItsLease: a Writer whose lease ran out while it
// still works (its renewals fail, as they do on a saturated store) goes on
// until its next conditional write fails. A Resume on another instance that
// takes the lease meanwhile may find that the state it read has moved on
// under it: the holder checkpointed past the pending bytes it listed (and
// removed them), or committed the file. That is a change of hands (locked,
// or complete), not an upload that does not exist; and the file the holder
// committed must not be destroyed as if the store had purged its upload.
func TestResumeRacesAHolderPastItsLease(t *testing.T) {
	tests := []struct {
		name string
		// race runs the holder's step inside the resuming instance's store
		// call; it arms the hook of f, and calls step at most once.
		race    func(f *faultClient, step func())
		step    func(t *testing.T, w storage.Writer, data []byte)
		wantErr error
		// then finishes the upload (on the resuming instance, if at all)
		// and checks it.
		then func(t *testing.T, b *s3.Backend, id string, data []byte)
	}{
		{
			name: "holder checkpoints past the pending bytes",
			race: func(f *faultClient, step func()) {
				var once sync.Once
				f.set(func(f *faultClient) {
					f.beforeGet = func(key string) {
						if strings.Contains(key, "/pending-") {
							once.Do(step)
						}
					}
				})
			},
			step: func(t *testing.T, w storage.Writer, data []byte) {
				checkpoint(t, w, "moved on")
			},
			wantErr: storage.ErrLocked,
			then: func(t *testing.T, b *s3.Backend, id string, data []byte) {
				w := resumeAt(t, b, id, s3.MinPartSize+100, "moved on")
				write(t, w, data[w.Written():])
				checkpoint(t, w, "all")
				commit(t, w, data)
				sameBytes(t, "file", contents(t, b, id), data)
			},
		},
		{
			name: "holder commits",
			race: func(f *faultClient, step func()) {
				var once sync.Once
				f.set(func(f *faultClient) { f.beforeListParts = func() { once.Do(step) } })
			},
			step: func(t *testing.T, w storage.Writer, data []byte) {
				write(t, w, data[w.Written():])
				checkpoint(t, w, "all")
				commit(t, w, data)
			},
			wantErr: storage.ErrComplete,
			then: func(t *testing.T, b *s3.Backend, id string, data []byte) {
				sameBytes(t, "file", contents(t, b, id), data)
			},
		},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSite(t)
			short := func(c *s3.Config) { c.LeaseTTL = s3.MinLeaseTTL }
			holder, hf := s.faulty(t, short)
			taker, tf := s.faulty(t, short)
			data := payload(uint64(120+i), 2*s3.MinPartSize)
			id := newID()
			w := create(t, holder, id, int64(len(data)))
			write(t, w, data[:mib])
			checkpoint(t, w, "1 MiB")
			write(t, w, data[mib:s3.MinPartSize+100]) // part 1 goes up in the background
			// From now on the holder cannot renew its lease, and does not
			// know it.
			hf.set(func(f *faultClient) {
				f.failPut = func(key string) error {
					if strings.HasSuffix(key, "/lease") {
						return errors.New("injected: renewal timed out")
					}
					return nil
				}
			})
			var stepped bool
			tt.race(tf, func() {
				stepped = true
				tt.step(t, w, data)
			})
			var err error
			for {
				_, err = taker.Resume(t.Context(), id)
				if !errors.Is(err, storage.ErrLocked) || stepped {
					break
				}
				time.Sleep(50 * time.Millisecond) // until the holder's lease runs out
			}
			if !stepped {
				t.Fatalf("Resume returned before the holder's step: %v", err)
			}
			wantErr(t, "Resume while the holder moved on", err, tt.wantErr)
			tt.then(t, taker, id, data)
		})
	}
}

// TestPartTimeoutThenResume: a part upload that runs past the part timeout
// fails the Writer (at the Checkpoint that waits for it) with the
// context's error, not storage.ErrNotFound, whether the store never got the
// part, or took it and answered too late; the upload resumes from the last
// Checkpoint and completes. This is the sequence the 1,000-upload run logged
// before its not_found answers (upload part 1: context deadline exceeded
// (copy staged part 1 ...)).
func TestPartTimeoutThenResume(t *testing.T) {
	tests := []struct {
		name string
		call string // the store call that hangs, once
		key  string // ... on a key with this suffix (the data key: "")
		n    int    // ... for this part (0: any)
		land bool   // the store takes it before the answer is held
	}{
		{"staged copy lands, answer too late", "CopyObjectPart", "", 1, true},
		{"staged copy never reaches the store", "CopyObjectPart", "", 1, false},
		{"staging put lands, answer too late", "PutObject", "/part-00001", 0, true},
		{"last part lands, answer too late", "PutObjectPart", "", 2, true},
	}
	s := newSite(t)
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, f := s.faulty(t, func(c *s3.Config) { c.PartTimeout = time.Second })
			data := payload(uint64(130+i), s3.MinPartSize+mib)
			id := newID()
			w := create(t, b, id, int64(len(data)))
			write(t, w, data[:mib])
			checkpoint(t, w, "1 MiB")
			var once sync.Once
			f.set(func(f *faultClient) {
				f.hang = func(call, key string, n int) (land, hold bool) {
					land = true
					if call == tt.call && strings.HasSuffix(key, tt.key) && (tt.n == 0 || n == tt.n) {
						once.Do(func() { land, hold = tt.land, true })
					}
					return land, hold
				}
			})
			// Both parts go up in the background; the Checkpoint waits for them.
			write(t, w, data[mib:])
			_, err := w.Checkpoint(t.Context(), []byte("all"))
			if !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, storage.ErrNotFound) {
				t.Fatalf("Checkpoint with a part past its timeout: %v; want the deadline's error", err)
			}
			w.Close()
			// On another instance, whose part timeout leaves room for a
			// loaded machine.
			b = s.backend(t, nil)
			w = resumeAt(t, b, id, mib, "1 MiB")
			s.finish(t, b, w, id, data, mib)
		})
	}
}

// TestExpireSweepListingBreaksOff: a DeleteExpired whose listing of
// uploads/ breaks off after some of an upload's helper objects, before its
// state (which sorts last), must not take that upload for the leftovers of a
// crashed Create: that aborted its multipart upload and removed everything
// under uploads/<id>/ as soon as the objects listed were older than the
// expiry period, as the staged parts of an upload running longer than that
// are, and the upload was then not_found.
func TestExpireSweepListingBreaksOff(t *testing.T) {
	s := newSite(t)
	// The Backend's clock runs a day and an hour ahead of the store's: its
	// state is fresh at that time, its staged part (timed by the store) is not.
	later := time.Now().Add(s3.DefaultExpiry + time.Hour)
	b, f := s.faulty(t, func(c *s3.Config) { c.Now = func() time.Time { return later } })
	data := payload(140, s3.MinPartSize+mib)
	id := newID()
	w := create(t, b, id, int64(len(data)))
	off := s3.MinPartSize + 100
	write(t, w, data[:off])
	checkpoint(t, w, "part 1 and 100")
	w.Close()

	var once sync.Once
	f.set(func(f *faultClient) {
		f.breakList = func(key string) (stop bool) {
			if strings.HasSuffix(key, id+"/part-00001") {
				once.Do(func() { stop = true })
			}
			return stop
		}
	})
	if _, err := b.DeleteExpired(t.Context(), later, nil); err == nil {
		t.Fatal("DeleteExpired reported no error though its listing broke off")
	}
	w = resumeAt(t, b, id, int64(off), "part 1 and 100")
	write(t, w, data[off:])
	checkpoint(t, w, "all")
	commit(t, w, data)
	sameBytes(t, "file", contents(t, b, id), data)
}
