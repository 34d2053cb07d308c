package checkpoint

import (
	"encoding/binary"
	"errors"
)

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

// State is what an upload keeps with each Checkpoint.
type State struct {
	N       int64  // bytes the digest covers
	Sniffed bool   // the content type was sniffed and allowed
	Prefix  []byte // the upload's first bytes while not Sniffed
	Digest  []byte // the sha256 digest's MarshalBinary
}

// Encode returns the bytes to hand to storage.Writer.Checkpoint.
func (s State) Encode() []byte {
	b := make([]byte, stateHeaderLen, stateHeaderLen+len(s.Prefix)+len(s.Digest))
	b[0] = stateVersion
	if s.Sniffed {
		b[1] |= flagSniffed
	}
	binary.BigEndian.PutUint64(b[2:10], uint64(s.N))
	binary.BigEndian.PutUint16(b[10:12], uint16(len(s.Prefix)))
	b = append(b, s.Prefix...)
	return append(b, s.Digest...)
}

// ErrBadState reports checkpoint state this version cannot use.
var ErrBadState = errors.New("checkpoint state is unreadable")

// Decode parses state written by Encode. ErrBadState if b is damaged or of
// another version.
func Decode(b []byte) (State, error) {
	if len(b) < stateHeaderLen || b[0] != stateVersion {
		return State{}, ErrBadState
	}
	s := State{
		Sniffed: b[1]&flagSniffed != 0,
		N:       int64(binary.BigEndian.Uint64(b[2:10])),
	}
	np := int(binary.BigEndian.Uint16(b[10:12]))
	if np > SniffLen || len(b) < stateHeaderLen+np || s.N < 0 {
		return State{}, ErrBadState
	}
	s.Prefix = append([]byte(nil), b[stateHeaderLen:stateHeaderLen+np]...)
	s.Digest = b[stateHeaderLen+np:]
	return s, nil
}
