package upload

import (
	"crypto/sha256"
	"encoding"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
)

// hasher computes an upload's SHA-256 on its own goroutine, so that hashing
// overlaps with reading the next bytes from the socket and writing them to
// storage. Bytes reach it in order through one channel; a snapshot request
// travels the same channel, so its answer covers exactly the bytes sent
// before it.
type hasher struct {
	in      chan hashJob
	done    chan struct{}
	release func(*[]byte) // hands a hashed piece back to its pool
}

// hashJob is either bytes to hash (then their piece, if any, is released)
// or a request for a snapshot of the state so far.
type hashJob struct {
	data  []byte
	piece *[]byte
	reply chan hashSnapshot
}

// hashSnapshot is the hash state after a prefix of the upload.
type hashSnapshot struct {
	n     int64  // bytes hashed
	state []byte // the digest's MarshalBinary
	sum   string // lower-case hex digest of those bytes
	err   error
}

// newHasher starts a hasher whose digest already covers n bytes (restored
// from a checkpoint; nil state means a fresh digest). It returns an error if
// state cannot be restored. release is called with each piece once hashed.
func newHasher(state []byte, n int64, release func(*[]byte)) (*hasher, error) {
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
	// Room for every piece a session can have out, and a few more jobs.
	h := &hasher{in: make(chan hashJob, piecesInFlight+4), done: make(chan struct{}), release: release}
	go h.run(d, n)
	return h, nil
}

func (h *hasher) run(d hash.Hash, n int64) {
	defer close(h.done)
	m, _ := d.(encoding.BinaryMarshaler)
	for job := range h.in {
		d.Write(job.data) // hash.Hash.Write never fails
		n += int64(len(job.data))
		if job.piece != nil {
			h.release(job.piece)
		}
		if job.reply != nil {
			s := hashSnapshot{n: n, sum: hex.EncodeToString(d.Sum(nil))}
			if m == nil {
				s.err = errors.New("sha256 digest cannot save its state")
			} else if s.state, s.err = m.MarshalBinary(); s.err != nil {
				s.err = fmt.Errorf("save sha256 state: %w", s.err)
			}
			job.reply <- s
		}
	}
}

// add queues data for hashing. data lies in piece, which the hasher
// releases when done; a nil piece means data is the caller's to drop.
func (h *hasher) add(data []byte, piece *[]byte) {
	h.in <- hashJob{data: data, piece: piece}
}

// snapshot waits for every frame added so far to be hashed and returns the
// state and digest at that point.
func (h *hasher) snapshot() hashSnapshot {
	reply := make(chan hashSnapshot, 1)
	h.in <- hashJob{reply: reply}
	return <-reply
}

// stop ends the hasher after it has released every queued piece.
func (h *hasher) stop() {
	close(h.in)
	<-h.done
}

// Checkpoint state layout (opaque to storage, version 1):
//
//	byte 0     version (1)
//	byte 1     flags: bit 0 = the content type has been sniffed and allowed
//	bytes 2-9  bytes covered by the digest (big-endian), = the durable offset
//	bytes 10-11 length of the sniff prefix (big-endian), then the prefix
//	the rest   the sha256 digest's MarshalBinary
//
// The covered length lets a resume check that state and offset belong
// together instead of trusting them blindly.
const (
	stateVersion   = 1
	flagSniffed    = 1 << 0
	stateHeaderLen = 12
)

// savedState is what an upload keeps with each Checkpoint.
type savedState struct {
	n       int64
	sniffed bool
	prefix  []byte
	digest  []byte
}

func (s savedState) encode() []byte {
	b := make([]byte, stateHeaderLen, stateHeaderLen+len(s.prefix)+len(s.digest))
	b[0] = stateVersion
	if s.sniffed {
		b[1] |= flagSniffed
	}
	binary.BigEndian.PutUint64(b[2:10], uint64(s.n))
	binary.BigEndian.PutUint16(b[10:12], uint16(len(s.prefix)))
	b = append(b, s.prefix...)
	return append(b, s.digest...)
}

// errBadState reports checkpoint state this version cannot use.
var errBadState = errors.New("checkpoint state is unreadable")

func decodeState(b []byte) (savedState, error) {
	if len(b) < stateHeaderLen || b[0] != stateVersion {
		return savedState{}, errBadState
	}
	s := savedState{
		sniffed: b[1]&flagSniffed != 0,
		n:       int64(binary.BigEndian.Uint64(b[2:10])),
	}
	np := int(binary.BigEndian.Uint16(b[10:12]))
	if np > sniffLen || len(b) < stateHeaderLen+np || s.n < 0 {
		return savedState{}, errBadState
	}
	s.prefix = append([]byte(nil), b[stateHeaderLen:stateHeaderLen+np]...)
	s.digest = b[stateHeaderLen+np:]
	return s, nil
}
