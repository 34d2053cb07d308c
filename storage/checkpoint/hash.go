package checkpoint

import (
	"crypto/sha256"
	"encoding"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
)

// Hasher computes an upload's SHA-256 on its own goroutine, so that hashing
// overlaps with reading the next bytes and writing them to storage. Bytes
// reach it in order through one channel; a snapshot request travels the same
// channel, so its answer covers exactly the bytes added before it.
type Hasher struct {
	in      chan hashJob
	done    chan struct{}
	release func(*[]byte) // hands a hashed piece back to its pool
}

// hashJob is either bytes to hash (then their piece, if any, is released)
// or a request for a snapshot of the state so far.
type hashJob struct {
	data  []byte
	piece *[]byte
	reply chan Snapshot
}

// Snapshot is the hash state after a prefix of the upload.
type Snapshot struct {
	N     int64  // bytes hashed
	State []byte // the digest's MarshalBinary
	Sum   string // lower-case hex digest of those bytes
	Err   error
}

// NewHasher starts a Hasher whose digest already covers n bytes (restored
// from a checkpoint; nil state means a fresh digest). queue is how many
// Adds may wait unhashed before Add blocks. release (may be nil) is called
// with each piece once hashed. It returns an error if state cannot be
// restored.
func NewHasher(state []byte, n int64, queue int, release func(*[]byte)) (*Hasher, error) {
	d := sha256.New()
	if state != nil {
		u, ok := d.(encoding.BinaryUnmarshaler)
		if !ok {
			return nil, errors.New("sha256 digest cannot restore its state")
		}
		if err := u.UnmarshalBinary(state); err != nil {
			return nil, fmt.Errorf("restore sha256 state: %w", err)
		}
	}
	if release == nil {
		release = func(*[]byte) {}
	}
	h := &Hasher{in: make(chan hashJob, queue+4), done: make(chan struct{}), release: release}
	go h.run(d, n)
	return h, nil
}

func (h *Hasher) run(d hash.Hash, n int64) {
	defer close(h.done)
	m, _ := d.(encoding.BinaryMarshaler)
	for job := range h.in {
		d.Write(job.data) // hash.Hash.Write never fails
		n += int64(len(job.data))
		if job.piece != nil {
			h.release(job.piece)
		}
		if job.reply != nil {
			s := Snapshot{N: n, Sum: hex.EncodeToString(d.Sum(nil))}
			if m == nil {
				s.Err = errors.New("sha256 digest cannot save its state")
			} else if s.State, s.Err = m.MarshalBinary(); s.Err != nil {
				s.Err = fmt.Errorf("save sha256 state: %w", s.Err)
			}
			job.reply <- s
		}
	}
}

// Add queues data for hashing. data lies in piece, which the Hasher
// releases when done; a nil piece means data must stay unchanged until the
// next Snapshot returns.
func (h *Hasher) Add(data []byte, piece *[]byte) {
	h.in <- hashJob{data: data, piece: piece}
}

// Snapshot waits for every piece added so far to be hashed and returns the
// state and digest at that point.
func (h *Hasher) Snapshot() Snapshot {
	reply := make(chan Snapshot, 1)
	h.in <- hashJob{reply: reply}
	return <-reply
}

// Stop ends the Hasher after it has released every queued piece.
func (h *Hasher) Stop() {
	close(h.in)
	<-h.done
}
