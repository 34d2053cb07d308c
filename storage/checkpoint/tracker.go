package checkpoint

import (
	"fmt"

	"github.com/ferryhq/ferry/storage"
)

// Tracker follows one upload's bytes for as long as a protocol holds its
// Writer: the digest and the sniffing of what was written since the last
// Checkpoint. It is used by one goroutine at a time.
type Tracker struct {
	hash  *Hasher
	sniff Sniffer
}

// Restore makes the Tracker of the upload w holds, from the state of its
// last Checkpoint (none for a fresh upload). queue and release are the
// Hasher's (see NewHasher). It returns an error wrapping ErrBadState if the
// state does not describe exactly the upload's durable bytes: a digest over
// other bytes would be wrong.
func Restore(w storage.Writer, queue int, release func(*[]byte)) (*Tracker, error) {
	info := w.Info()
	var st State
	if raw := w.State(); raw != nil {
		var err error
		if st, err = Decode(raw); err != nil {
			return nil, err
		}
	}
	consistent := st.N == info.Offset && w.Written() == info.Offset &&
		(st.Sniffed || int64(len(st.Prefix)) == min(info.Offset, SniffLen))
	if !consistent {
		return nil, fmt.Errorf("%w: covers %d bytes, upload has %d", ErrBadState, st.N, info.Offset)
	}
	h, err := NewHasher(st.Digest, st.N, queue, release)
	if err != nil {
		return nil, err
	}
	return &Tracker{hash: h, sniff: Sniffer{Decided: st.Sniffed, Prefix: st.Prefix}}, nil
}

// Add takes the next bytes written to the upload: it sniffs them (unless
// decided) and queues them for hashing, then returns the sniffing verdict.
// piece is as in Hasher.Add. size is the upload's declared size or
// storage.SizeUnknown.
func (t *Tracker) Add(data []byte, piece *[]byte, size int64, allowed Types) Verdict {
	v := t.sniff.Feed(data, size, allowed) // before the hasher may recycle data
	t.hash.Add(data, piece)
	return v
}

// Decide makes the sniffing verdict final once the whole upload of size
// bytes has been added (a file shorter than SniffLen, or one whose size was
// not known while its bytes arrived).
func (t *Tracker) Decide(size int64, allowed Types) Verdict {
	if t.sniff.Decided {
		return Allowed
	}
	return t.sniff.Feed(nil, size, allowed)
}

// SniffedType is the type sniffing found, once it has decided or forbidden.
func (t *Tracker) SniffedType() string { return t.sniff.Type }

// State waits for every added byte to be hashed and returns the encoded
// state that covers them, to be checkpointed with exactly written bytes (an
// error otherwise), and the digest so far.
func (t *Tracker) State(written int64) (state []byte, sum string, err error) {
	snap := t.hash.Snapshot()
	if snap.Err != nil {
		return nil, "", snap.Err
	}
	if snap.N != written {
		return nil, "", fmt.Errorf("digest covers %d bytes, %d were written", snap.N, written)
	}
	st := State{N: snap.N, Sniffed: t.sniff.Decided, Prefix: t.sniff.Prefix, Digest: snap.State}
	return st.Encode(), snap.Sum, nil
}

// Stop ends the Tracker's hasher once it has released every queued piece.
func (t *Tracker) Stop() { t.hash.Stop() }
