package httpupload

import "sync"

// Sizes of the pieces request bodies are read into (see pieceBank).
const (
	// pieceSize is the unit a body is read, stored and hashed in while the
	// Handler's shared read-ahead memory lasts. Each piece costs a Read
	// (one read(2) when the socket holds that much) and three hand-offs:
	// reading goroutine to the request's, to the hasher's, back to the
	// reader. 1 MiB pieces made a third of the read(2)s of 256 KiB ones
	// and cut the server's CPU per GiB uploaded by about 0.1 s (1.40 to
	// 1.28, BenchmarkUploadCPU, docs/performance.md); storage/local still
	// writes them to the file 32 KiB at a time.
	pieceSize = 1 << 20
	// ownPieceSize is the size of the one piece every request may always
	// have, whatever the others hold: small, because a thousand requests
	// waiting for storage each keep theirs.
	ownPieceSize = 16 << 10
	// sharedPieces is how many pieces of pieceSize all the requests of a
	// Handler may hold at once (16 MiB, as when pieces were 256 KiB):
	// read-ahead waiting for storage, for the hasher, or for a slow
	// client's bytes.
	sharedPieces = 16
)

// pieceBank hands out the pieces a Handler reads request bodies into, so
// that the memory those hold is bounded whatever the number of requests:
// at most sharedPieces of pieceSize for all requests together, plus one
// piece of ownPieceSize per request.
//
// The piece of its own is what keeps every request moving: a request whose
// storage Write waits for memory (the S3 part buffers, a budget of their
// own) may hold shared pieces while the requests that hold the part
// buffers need a piece to read the bytes that would fill and free them. If
// all pieces were shared, that could deadlock; with a piece of its own,
// each request can always read on, and its piece comes back from the hasher
// whatever the others do. When the shared pieces are spent, read-ahead
// shrinks to that one small piece instead of memory growing.
type pieceBank struct {
	shared chan struct{} // one token per shared piece out
	big    sync.Pool     // of *[]byte of pieceSize
	small  sync.Pool     // of *[]byte of ownPieceSize
}

func newPieceBank(shared int) *pieceBank {
	return &pieceBank{
		shared: make(chan struct{}, shared),
		big:    sync.Pool{New: func() any { b := make([]byte, pieceSize); return &b }},
		small:  sync.Pool{New: func() any { b := make([]byte, ownPieceSize); return &b }},
	}
}

// pieceHold is one request's access to the bank: its own piece, and the
// shared ones. get and put may be called from different goroutines.
type pieceHold struct {
	bank *pieceBank
	own  chan struct{} // holds a token while the request's own piece is out
}

func (b *pieceBank) hold() *pieceHold {
	return &pieceHold{bank: b, own: make(chan struct{}, 1)}
}

// get returns a piece to read into: a shared one if any is left, else the
// request's own one, waiting for either to come back if need be. It
// returns nil if quit is closed first.
func (h *pieceHold) get(quit <-chan struct{}) *[]byte {
	select {
	case h.bank.shared <- struct{}{}:
		return h.bank.big.Get().(*[]byte)
	default:
	}
	select {
	case h.bank.shared <- struct{}{}:
		return h.bank.big.Get().(*[]byte)
	case h.own <- struct{}{}:
		return h.bank.small.Get().(*[]byte)
	case <-quit:
		return nil
	}
}

// put gives back a piece that get returned; it never blocks.
func (h *pieceHold) put(p *[]byte) {
	if cap(*p) == ownPieceSize {
		h.bank.small.Put(p)
		<-h.own
		return
	}
	h.bank.big.Put(p)
	<-h.bank.shared
}
