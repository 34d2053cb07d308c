// Package client is the Go client of ferry.v1, ferry's resumable uploads
// over WebSocket (docs/protocol.md). Upload sends one file and returns when
// the server has stored and verified it, reconnecting and resuming from the
// server's durable offset on its own; cmd/ferry's upload and smoke
// subcommands are built on it.
//
// The client knows only the wire: it declares the frames it sends and reads
// and the contract's error codes itself (wire.go) and imports nothing of the
// server, so it can be vendored or reimplemented from the protocol alone.
// Its tests check that its codes and frames match the server's.
//
// # Design
//
// Upload runs one connection at a time (conn). The goroutine that called
// Upload is the connection's only writer: it reads a chunk from the source
// at the position to send, waits while the window is full, and writes it. A
// read loop goroutine reads frames, answers pings, keeps the server's
// received/offset in atomics (waking the writer), calls the caller's
// Progress and OnID, and queues every other frame in order. Nothing of the
// file is kept in memory beyond one chunk: a resume re-reads the source from
// the server's durable offset. Failures are sorted where they arise:
// retryable ones are wrapped in retryableError, and Upload reconnects with
// backoff only for those.
//
// Without an expected SHA-256 the source is hashed in a goroutine of its
// own, in one sequential pass beside the upload (digest.go), and the
// server's digest is checked against it at the end.
package client
