package upload

import (
	"io"
	"sync"
)

// Binary messages travel from the read pump to storage and the hasher in
// pieces of pieceSize bytes, so that a connection's memory does not depend
// on max_frame: a piece goes read pump -> session loop (storage write) ->
// hasher -> pool. Pieces come from a pool shared by the Handler's sessions,
// so an idle connection holds none.
const (
	// pieceSize is small enough for the page cache to take in one go (on
	// a VM that hands freed memory back to its host, write(2)s of 64 KiB or
	// less stay fast where 1 MiB ones slow down: docs/performance.md) and
	// large enough that handing pieces between goroutines costs little.
	pieceSize = 64 << 10
	// piecesInFlight is how many pieces one connection may hold at once.
	// It lets reading run ahead of storage (a Checkpoint) and hashing by
	// up to 1 MiB, and bounds the connection's memory.
	piecesInFlight = 16
)

// piecePool is the Handler's pool of pieces.
type piecePool struct{ pool sync.Pool }

func newPiecePool() *piecePool {
	return &piecePool{pool: sync.Pool{New: func() any {
		b := make([]byte, pieceSize)
		return &b
	}}}
}

// pieceQuota limits one session's pieces to piecesInFlight: get blocks
// while that many are out, put hands one back.
type pieceQuota struct {
	pool  *piecePool
	slots chan struct{}
}

func newPieceQuota(pool *piecePool) *pieceQuota {
	return &pieceQuota{pool: pool, slots: make(chan struct{}, piecesInFlight)}
}

// get returns a piece, or false if done is closed while it waits.
func (q *pieceQuota) get(done <-chan struct{}) (*[]byte, bool) {
	select {
	case q.slots <- struct{}{}:
	case <-done:
		return nil, false
	}
	return q.pool.pool.Get().(*[]byte), true
}

// put hands a piece back; it never blocks. Safe from any goroutine.
func (q *pieceQuota) put(p *[]byte) {
	q.pool.pool.Put(p)
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
