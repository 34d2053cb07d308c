package s3

import (
	"context"

	"github.com/ferryhq/ferry/storage"
)

// Client is the narrow interface over minio-go, exported to the tests so
// that they can wrap it to inject faults.
type Client = client

// NewWithClient is New with every store call but the startup probe going
// through wrap(the real client).
func NewWithClient(ctx context.Context, cfg Config, wrap func(Client) Client) (*Backend, error) {
	return newWrapped(ctx, cfg, wrap)
}

// Abandon makes w stop renewing its lease without releasing it, as a
// process killed with -9 would, and forgets it.
func Abandon(w storage.Writer) {
	x := w.(*writer)
	x.lease.stop()
	x.cancelParts(storage.ErrClosed)
	x.b.mem.put(x.buf)
	x.buf = nil
	x.closed = true
	x.b.unregister(x)
}

// PartSizeFor exposes partSizeFor to the tests.
var PartSizeFor = partSizeFor

// BufferStats reports the part buffer memory b's Writers hold and how many
// wait for some.
func BufferStats(b *Backend) (used int64, waiting int) { return b.mem.stats() }
