// Package storage is the contract between ferry's protocol layers (upload,
// download) and the places bytes are kept (storage/local, storage/s3). It
// holds interfaces, metadata types and sentinel errors, and imports nothing
// that knows about HTTP or WebSocket.
//
// # Backend
//
// A Backend is deliberately small: create or resume an upload, stat, open,
// list and delete. Everything an upload needs beyond that lives in its
// Writer. Every method first checks the id with ValidID and answers
// ErrNotFound for anything that is not a canonical lower-case UUID v4 or v7,
// before a path or object key is ever built from it; that single rule is what
// keeps client input from reaching outside the store.
//
// # Writer: a resumable writer
//
// A Writer is one upload held open for appending, in the manner of
// distribution's storage driver: Write appends, Commit publishes the whole
// file atomically, Abort throws it away, Close lets go and leaves it
// resumable. While a Writer exists it holds the upload's lock, and the lock is
// shared by every process using the same store, so two connections, even on
// two servers, never write one upload. A lock dies with the process that held
// it.
//
// # Checkpoint: the durable offset
//
// Write does not promise durability; Checkpoint does. It makes every byte
// written so far survive a crash and stores, in the same atomic step, an
// opaque state blob that the caller supplies (the upload layer stores its
// running SHA-256 state there). Resume returns a Writer at the offset of the
// last completed Checkpoint together with that Checkpoint's state, and drops
// any bytes that arrived after it, because the state does not cover them.
// So the offset the server reports to a client as durable is always one it
// can continue from, with a hash that matches the bytes.
//
// # Capabilities
//
// Features that not every store can offer are separate one-method
// interfaces, found by type assertion: PartialOpener (read an upload while it
// is still being written), Expirer (delete abandoned uploads), Pinger (health
// checks) and CheckpointHinter (the store prefers fewer checkpoints). Callers
// offer a feature only when the backend has it.
//
// # Errors
//
// The sentinel errors (ErrNotFound, ErrLocked, ErrComplete, ...) are the
// whole error vocabulary. Backends translate their native errors into them at
// their edge, wrapping with %w so the cause stays readable, and callers test
// them with errors.Is. Exactly one place maps them to HTTP statuses and one
// place to protocol error codes.
//
// The conformance suite in storage/storagetest checks every backend against
// this contract.
package storage
