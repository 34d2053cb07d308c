package client

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
)

// digestBuffer is the read size of the local hash: large enough to keep
// system calls rare, small enough to stay in cache.
const digestBuffer = 256 << 10

// digest hashes the source in its own goroutine, in one sequential pass that
// ignores how the upload resends: its result is the digest of the source
// whatever the connections did. It runs off the sending path, so on a
// multi-core machine it costs little wall time.
type digest struct {
	done   chan struct{}
	cancel context.CancelFunc
	sum    string // valid after done is closed
	err    error  // valid after done is closed
}

func startDigest(ctx context.Context, src io.ReaderAt, size int64) *digest {
	ctx, cancel := context.WithCancel(ctx)
	d := &digest{done: make(chan struct{}), cancel: cancel}
	go func() {
		defer close(d.done)
		d.sum, d.err = hashSource(ctx, src, size)
	}()
	return d
}

func hashSource(ctx context.Context, src io.ReaderAt, size int64) (string, error) {
	h := sha256.New()
	buf := make([]byte, digestBuffer)
	for off := int64(0); off < size; {
		if err := ctx.Err(); err != nil {
			return "", err
		}
		n := int(min(int64(len(buf)), size-off))
		if err := readFull(src, buf[:n], off); err != nil {
			return "", err
		}
		h.Write(buf[:n])
		off += int64(n)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// wait returns the source's digest once it is computed.
func (d *digest) wait(ctx context.Context) (string, error) {
	select {
	case <-d.done:
		if d.err != nil {
			return "", fmt.Errorf("upload: hashing the source: %w", d.err)
		}
		return d.sum, nil
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

// stop ends the hashing early and waits for its goroutine.
func (d *digest) stop() {
	d.cancel()
	<-d.done
}

// readFull fills p from src at off. A source shorter than its declared size
// is an error: the server would wait forever for the missing bytes.
func readFull(src io.ReaderAt, p []byte, off int64) error {
	n, err := src.ReadAt(p, off)
	if n == len(p) {
		return nil // ReadAt may report io.EOF along with the last bytes
	}
	if err == nil || err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return fmt.Errorf("upload: reading the source at offset %d: %w", off, err)
}
