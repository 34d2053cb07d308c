// Package local is ferry's default storage backend: one local directory.
//
// # Layout
//
// Every upload, complete or not, is three files named by its id directly
// under the data directory:
//
//	<id>.data  the bytes, appended in place and never moved
//	<id>.json  the record: declared metadata, created/modified times, the
//	           durable offset with the caller's checkpoint state, and, once
//	           complete, the digest
//	<id>.lock  the flock(2) target that makes one Writer the only one
//
// Ids reach the file system only after storage.ValidID accepted them, so a
// name can never leave the directory. Temporary files start with ".tmp-" and
// are never mistaken for an upload.
//
// # Durability
//
// The record is the single source of truth and is only ever replaced whole:
// written to a temporary file, fsynced, renamed over <id>.json, and the
// directory fsynced. Checkpoint first fdatasyncs the data file, then renames
// a record carrying the new offset and state, so after a crash (kill -9 or
// power loss) the record names an offset whose bytes are on disk and the
// state that goes with exactly that offset. Resume cuts the data file back
// to that offset, dropping bytes that have no matching state.
//
// Commit renames a record marked complete over the old one. That rename is
// the publication: Open serves only uploads whose record says complete, and
// by then every byte is already durable and the data file is never written
// again, so no reader sees a half-written file.
//
// # Locking and deletion
//
// A Writer holds an exclusive flock on <id>.lock. flock belongs to the open
// file, so it excludes other processes sharing the directory and other
// Writers in this process alike, and the kernel drops it when the process
// dies: a crashed server never leaves an upload locked.
//
// Delete does not take the lock (it must work while someone writes). It
// marks a Writer of this process at once, so its next Write fails, and it
// removes the data file before the record. A Writer in another process
// notices at its next Checkpoint or Commit: the record is gone, or, if
// Delete raced with the rename, the data file it holds is unlinked, and the
// Writer removes the record it just wrote. Either way a deleted upload stays
// deleted.
//
// # Deferred size and takeover
//
// An upload created with storage.SizeUnknown keeps -1 as its record's size
// until a Checkpoint after Writer.SetSize renames a record with the size,
// the offset and the state together.
//
// TakeOver asks a holder through the Backend's table of live Writers: a
// Writer that called Yield is asked by closing its Yield channel, and
// TakeOver waits for it to let go (its release wakes TakeOver at once), and
// otherwise tries the flock every 50 ms until its context ends. A Writer in
// another process sharing the directory cannot be asked: TakeOver then
// answers storage.ErrLocked at once, as for a Writer that never yielded.
//
// # Writes
//
// Write issues pwrite(2)s of at most 32 KiB, which stay fast on VMs where
// large writes are slow, and allocates nothing. A Write stores all of its
// bytes or none.
package local
