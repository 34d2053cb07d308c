package upload

import (
	"io"
	"sync"
)

// Binary messages travel from the read pump to storage and the hasher in
// pieces, so that a connection's memory does not depend on max_frame: a
// piece goes read pump -> session loop (storage write) -> hasher -> pool.
// Pieces come from a pool shared by the Handler's sessions, so an idle
// connection holds none, and the pool bounds what all sessions hold
// together (see piecePool).
const (
	// pieceSize is large enough that the read(2)s and the hand-offs
	// between goroutines a piece costs stay few: with one-frame messages,
	// 256 KiB pieces made a third of the read(2)s of 64 KiB ones (server
	// CPU per GiB within noise of it, BenchmarkUploadCPU and
	// docs/performance.md). Storage sees them whole; storage/local writes
	// them to the file 32 KiB at a time.
	pieceSize = 256 << 10
	// piecesInFlight is how many pieces one connection may hold at once.
	// It lets reading run ahead of storage (a Checkpoint) and hashing by
	// up to 1 MiB (as 16 pieces of 64 KiB did before), and bounds the
	// connection's memory.
	piecesInFlight = 4
	// ownPieceSize is the size of the one piece every session may always
	// have, whatever the others hold: small, because a thousand sessions
	// waiting for storage each keep theirs.
	ownPieceSize = 16 << 10
	// sharedPieces is how many pieces of pieceSize all the sessions of a
	// Handler may hold at once (32 MiB, as before with 512 of 64 KiB).
	sharedPieces = 128
)

// piecePool is the Handler's pool of pieces. It bounds the memory they take
// whatever the number of sessions: at most sharedPieces of pieceSize for
// all sessions together, plus one piece of ownPieceSize per session.
//
// The piece of its own is what keeps every session moving: a session whose
// storage Write waits for memory (the S3 part buffers, a budget of their
// own) may hold shared pieces while the sessions that hold the part buffers
// need a piece to read the bytes that would fill and free them. If all
// pieces were shared, that could deadlock; with a piece of its own, a
// session can always read on, and its piece comes back from the hasher
// whatever the others do. When the shared pieces are spent, read-ahead
// shrinks to that one small piece instead of memory growing.
type piecePool struct {
	shared chan struct{} // one token per shared piece out
	big    sync.Pool     // of *[]byte of pieceSize
	small  sync.Pool     // of *[]byte of ownPieceSize
}

func newPiecePool() *piecePool { return newPiecePoolOf(sharedPieces) }

func newPiecePoolOf(shared int) *piecePool {
	return &piecePool{
		shared: make(chan struct{}, shared),
		big:    sync.Pool{New: func() any { b := make([]byte, pieceSize); return &b }},
		small:  sync.Pool{New: func() any { b := make([]byte, ownPieceSize); return &b }},
	}
}

// pieceQuota limits one session's pieces to piecesInFlight, and gives it
// its own piece when the shared ones are spent: get blocks while that many
// are out, or while the session's own piece is out and no shared one is
// left; put hands one back.
type pieceQuota struct {
	pool  *piecePool
	slots chan struct{}
	own   chan struct{} // holds a token while the session's own piece is out
}

func newPieceQuota(pool *piecePool) *pieceQuota {
	return &pieceQuota{pool: pool, slots: make(chan struct{}, piecesInFlight), own: make(chan struct{}, 1)}
}

// get returns a piece (a shared one if any is left), or false if done is
// closed while it waits.
func (q *pieceQuota) get(done <-chan struct{}) (*[]byte, bool) {
	select {
	case q.slots <- struct{}{}:
	case <-done:
		return nil, false
	}
	select {
	case q.pool.shared <- struct{}{}:
		return q.pool.big.Get().(*[]byte), true
	default:
	}
	select {
	case q.pool.shared <- struct{}{}:
		return q.pool.big.Get().(*[]byte), true
	case q.own <- struct{}{}:
		return q.pool.small.Get().(*[]byte), true
	case <-done:
		<-q.slots
		return nil, false
	}
}

// put hands a piece back; it never blocks. Safe from any goroutine.
func (q *pieceQuota) put(p *[]byte) {
	if cap(*p) == ownPieceSize {
		q.pool.small.Put(p)
		<-q.own
	} else {
		q.pool.big.Put(p)
		<-q.pool.shared
	}
	<-q.slots
}

// readPiece fills b from r until b is full or r ends. It returns io.EOF
// (with the bytes before it) when the message ended. progress is called after
// each read, so that the caller can note that the peer is alive while a
// long message trickles in.
func readPiece(r io.Reader, b []byte, progress func()) (int, error) {
	n := 0
	for n < len(b) {
		m, err := r.Read(b[n:])
		n += m
		if m > 0 {
			progress()
		}
		if err != nil {
			return n, err
		}
	}
	return n, nil
}
