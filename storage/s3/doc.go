// Package s3 is the storage.Backend over an S3-compatible object store
// (MinIO, AWS S3), through minio-go v7.
//
// # Everything lives in the bucket
//
// An upload's state is never kept on a server's disk or only in its memory:
// any instance pointed at the same bucket and prefix can resume, list or
// delete any upload, and a server that dies leaves nothing behind but what
// the bucket's own records describe. The key layout is documented on keys.
//
// # Uploads are multipart uploads with a fixed part size
//
// Create starts a multipart upload on the file's final key and picks its
// part size once, from the declared size (at least Config.PartSize, raised
// so that no upload needs more than MaxParts parts). Part n always holds
// bytes [(n-1)*size, n*size), so a part uploaded again after a crash
// replaces the same part, and many short sessions cannot run past the
// 10,000-part limit. A Writer fills one part in memory and uploads it the
// moment it is whole.
//
// # Part buffers share one budget
//
// The part buffers of all the Writers of a Backend come from one amount of
// memory, Config.BufferMemory (DefaultBufferMemory, 256 MiB). A Writer
// takes a buffer before the first byte of a part and gives it back the
// moment the part is stored, so a Writer waiting for one holds no partly
// filled buffer and the waits cannot deadlock: every buffer out is being
// filled by a client or uploaded. When the budget is spent, Write waits, in
// the order Writers asked, and so does the socket read that feeds it: the
// clients slow down and memory stays bounded (1,000 uploads at once would
// otherwise hold 24 GiB). A Write waiting for memory returns early only
// when its upload is deleted (storage.ErrNotFound); a takeover of it waits
// like the Write. Resume waits in the same way, under its context, for the
// buffer it reads the pending bytes back into.
//
// A declared size over MaxObjectSize (5 TiB, S3's limit for one object) is
// storage.ErrTooLarge at Create, before anything is stored: the store can
// never hold it, which is not a malformed request.
//
// An upload created with storage.SizeUnknown gets Config.PartSize, so its
// Writer needs no more memory than any other; it can then hold at most
// MaxParts parts of that size (78 GiB at the default 8 MiB, 48 GiB at 5 MiB),
// and a Write past that fails with storage.ErrSizeExceeded (a SetSize past
// it with storage.ErrTooLarge, leaving the size unknown). Its multipart
// upload is started at Create like any other (and aborted if the size turns
// out to be 0). Writer.SetSize binds Write and Commit at once; the next
// Checkpoint stores the size in the state object, in the same write as its
// offset, so a crash never leaves a size without its bytes. Once the size
// is known the last part is as short as it needs to be, and SetSize starts
// uploading it if the buffer already holds it whole.
//
// # Part uploads are bounded
//
// Whole parts upload in the background (at most two at once) under a
// context of the Writer's, so a store that stops answering cannot hold a
// Writer, or the session that owns it, past the bounds it was given.
// Checkpoint and Commit wait for the parts in flight only until their own
// context ends, then cancel them and fail the Writer; Close and Abort cancel
// them at once (a part that is in no Checkpoint is uploaded again by the
// next Writer anyway); and each part upload, minio-go's retries included,
// is cancelled after Config.PartTimeout (by default a minute plus a second
// per MiB of the part), which bounds a Write that waits for a part to make
// room. minio-go's own timeouts do not suffice: a request whose body the
// store stops reading waits for ever.
//
// # Checkpoint makes every byte durable
//
// The contract's durable offset must survive kill -9, so Checkpoint stores
// the bytes written since the previous Checkpoint that do not fill a part
// yet as one more "pending" object (S3 cannot append), then writes the
// upload's state object (meta, part size, the ETags of the whole parts, the
// offset, the list of pending objects and the caller's opaque state). That
// write is the commit point. A Checkpoint thus sends only new bytes: a slow
// client checkpointing every half second does not make the server send its
// current part again each time. Once a part is whole and uploaded, the next
// Checkpoint drops its pending objects. Pending objects are named by a
// sequence number, so a Checkpoint never overwrites bytes the current state
// points to. Resume reads the state, checks the parts against the store
// (paging through ListObjectParts, which answers at most 1,000 parts a
// call), and reads the pending objects back into the buffer.
//
// # Locks are leases in the bucket
//
// A Writer holds its upload through a lease object, taken with a
// conditional PUT (If-None-Match: *, or If-Match on the ETag of a lease that
// has expired) and renewed every LeaseTTL/3 with If-Match on its own last
// ETag. Every state write is conditional on the ETag of the state the
// Writer last wrote, and Resume rewrites the state, so a Writer that lost
// its lease (or whose upload was deleted) finds out at its next Checkpoint
// at the latest, and a deleted upload cannot be brought back by a Writer
// that did not notice. Lease times come from Config.Now, so the clocks of
// instances sharing a bucket must agree to well within LeaseTTL.
//
// # Takeover
//
// A Writer that calls Yield sets Yield in its lease record. TakeOver, on
// any instance, first tries Resume; if a live lease is held and its record
// says Yield, it sets Release in that record with If-Match on the holder's
// ETag (owner and expiry unchanged), then tries the lease again every
// 250 ms until it gets it or its context ends (storage.ErrLocked). A record
// without Yield answers storage.ErrLocked at once. A yielding holder reads
// its lease every 500 ms (and at once when the TakeOver runs on its own
// instance); a record that still names it but says Release closes its
// Yield channel, and it keeps the lease until it Closes or Commits. So a
// takeover across instances takes about half a second plus the holder's
// Checkpoint and Close. The races resolve through the conditional writes:
// a renewal and a Release write cannot both succeed on one ETag (the loser
// reads the record again: a record that names the holder is still its own,
// Release or not); a holder that releases normally meanwhile deletes the
// lease, and the taker's next try takes it; a holder that died keeps the
// upload until its lease expires, after which Resume takes the stale lease;
// and a Release or Yield write that minio-go retried after a lost answer
// fails its condition against itself, which the next read of the record
// settles.
//
// # Commit publishes a record
//
// S3 cannot change an object's metadata after CompleteMultipartUpload
// without copying it, and the digest is known only at the end; so the file
// is published by writing its record (info/<id>: metadata and server-computed
// sha256) after completing the multipart upload. A zero-byte file, which
// cannot be a multipart upload, is a plain PUT. Then the List entry is
// written and the helper objects deleted; a Commit that stops between these
// steps is finished by Resume (the data object is there, only the record is
// missing) or by DeleteExpired (the record is there, helpers are left).
//
// # Reading
//
// Open reads the file record first, so a missing file is storage.ErrNotFound
// before any header is written, and returns a reader that seeks without I/O
// and opens one GET (pinned to the object's ETag) from its position at the
// first Read. List walks index/ keys whose names sort newest first.
//
// An upload in progress is readable too (storage.PartialOpener, for
// ?follow=1 on any instance): each whole part is stored as an object of its
// own before it is copied into the multipart upload inside the store
// (UploadPartCopy), and OpenPartial reads those, then the pending objects
// (partial.go).
//
// # Errors
//
// minio-go's errors are turned into storage's sentinels at this package's
// edge (translate), with errors.As: NoSuchKey and NoSuchUpload become
// storage.ErrNotFound (a multipart upload the store purged, as MinIO does 24
// hours after it started, is an upload that no longer exists), a full store
// storage.ErrNoSpace. A Writer whose store call fails stays failed: its
// caller closes it and resumes, which reads the truth back from the bucket.
// A call that failed may still have landed (its answer was lost when its
// context ended, or the store finishes it later), so nothing that a write
// which may have landed points to is deleted on the strength of the
// failure: a failed Checkpoint keeps its pending object unless the state is
// gone or another Writer's. Resume, for its part, reads the state again
// before it believes a missing pending object or multipart upload: a holder
// whose lease ran out while it still worked may have moved on
// (storage.ErrLocked) or committed (storage.ErrComplete). A state that is
// unchanged but lists an object the store lacks is an error without a
// sentinel, never storage.ErrNotFound: the upload exists.
//
// Every minio-go call goes through the small client interface, which
// *minio.Core satisfies, so tests can wrap the real client to inject faults.
package s3
