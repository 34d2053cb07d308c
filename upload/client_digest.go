package upload

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
)

// clientDigestBuffer is the read size of the local hash: large enough to keep
// system calls rare, small enough to stay in cache.
const clientDigestBuffer = 256 << 10

// clientDigest hashes the source in its own goroutine, in one sequential pass that
// ignores how the upload resends: its result is the digest of the source
// whatever the connections did. It runs off the sending path, so on a
// multi-core machine it costs little wall time.
type clientDigest struct {
	done   chan struct{}
	cancel context.CancelFunc
	sum    string // valid after done is closed
	err    error  // valid after done is closed
}

func startClientDigest(ctx context.Context, src io.ReaderAt, size int64) *clientDigest {
	ctx, cancel := context.WithCancel(ctx)
	d := &clientDigest{done: make(chan struct{}), cancel: cancel}
	go func() {
		defer close(d.done)
		d.sum, d.err = clientHashSource(ctx, src, size)
	}()
	return d
}

func clientHashSource(ctx context.Context, src io.ReaderAt, size int64) (string, error) {
	h := sha256.New()
	buf := make([]byte, clientDigestBuffer)
	for off := int64(0); off < size; {
		if err := ctx.Err(); err != nil {
			return "", err
		}
		n := int(min(int64(len(buf)), size-off))
		if err := clientReadFull(src, buf[:n], off); err != nil {
			return "", err
		}
		h.Write(buf[:n])
		off += int64(n)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// wait returns the source's digest once it is computed.
func (d *clientDigest) wait(ctx context.Context) (string, error) {
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
func (d *clientDigest) stop() {
	d.cancel()
	<-d.done
}

// clientReadFull fills p from src at off. A source shorter than its declared size
// is an error: the server would wait forever for the missing bytes.
func clientReadFull(src io.ReaderAt, p []byte, off int64) error {
	n, err := src.ReadAt(p, off)
	if n == len(p) {
		return nil // ReadAt may report io.EOF along with the last bytes
	}
	if err == nil || err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return fmt.Errorf("upload: reading the source at offset %d: %w", off, err)
}
