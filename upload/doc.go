// Package upload implements the server side of ferry's resumable uploads
// over WebSocket: the wire frames (protocol.go) and the Handler. The Go
// client is package client, which knows only the wire.
//
// # Server design
//
// Handler serves GET /ws/upload. One connection is one session; there is no
// hub. A session has three goroutines, after gorilla's chat example:
//
//   - the read pump (the ServeHTTP goroutine) only reads. It hands text
//     frames, and binary messages cut into 256 KiB pieces as they arrive, to
//     the session loop in order. The WebSocket read limit is max_frame, so a
//     bigger message makes gorilla close with 1009; the pump then drains
//     what the peer is still sending for a moment, so that the close frame
//     reaches it rather than a TCP reset.
//   - the session loop owns all upload state and the storage.Writer: the
//     contract's state machine, checkpoints, progress pacing, and the
//     clean-up when the connection ends.
//   - the write pump is the only writer of frames. Every write has a
//     deadline; it pings every PingPeriod. A pong or any incoming bytes push
//     the read deadline to two periods ahead, so a silent peer is dropped
//     (time the server itself spent not reading does not count).
//
// The session loop and the write pump start at the peer's first message, or
// when the session's context ends (Shutdown's 1001 close, a limit's 1008),
// so a connection that has sent nothing costs one goroutine, its read pump,
// and no queues. Until the write pump exists a timer pings the peer every
// PingPeriod (gorilla's WriteControl may run beside any other method); once
// it exists it owns every write. A connection that ends before it ever
// started ends in its read pump.
//
// Each active upload adds a hashing goroutine: SHA-256 is the costliest step
// of an upload, so it runs beside the socket reads and storage writes rather
// than between them. A piece goes read pump -> session loop (storage write)
// -> hasher -> the Handler's piece pool. A session may hold at most 4 pieces
// (1 MiB), which bounds its memory whatever the file or frame size and lets
// reading run ahead while storage syncs; an idle connection holds none.
//
// # Whole messages without holding them
//
// A message that would take the upload past its declared size must be
// rejected whole (size_exceeded), yet holding every message until its end
// would cost max_frame per connection. No message can carry more than
// max_frame, so while the upload has at least max_frame bytes to go, its
// pieces are written as they arrive. Only nearer the end is a message held
// back until it is whole and then stored or rejected.
//
// A streamed message can still turn out to be over max_frame when it is
// sent in fragments: its size is known only at its end. Nothing of a
// message refused for that (1009) may be kept, so checkpoints are made only
// between messages, never over part of one. When gorilla refuses the
// message, the read pump tells the session loop before the session ends,
// and the loop closes the Writer without a checkpoint, which drops every
// byte written since the last one (storage.Writer.Close): the upload stays
// at its durable offset, and a resume reports that offset. Whole messages
// that were not durable yet are dropped with it; the client resends them.
// A connection that dies in the middle of a streamed message for any other
// reason keeps the pieces that arrived: they are the file's next bytes all
// the same, and the client resumes from the offset it is given.
//
// # Durability and progress
//
// A progress frame's offset is only ever a value that Writer.Checkpoint
// returned. Each Checkpoint stores, with the bytes it makes durable, the
// digest's state (crypto/sha256's MarshalBinary) covering exactly those
// bytes, so a resume restores the digest instead of re-reading the file. A
// checkpoint waits for the hasher to catch up first (a snapshot request
// travels the hasher's queue behind the bytes).
//
// While bytes keep coming, checkpoints are made checkpointCost (4) times as
// long apart as the last one took, at least checkpointEvery (20 ms) and at
// most maxCheckpointWait (200 ms): a sync has a fixed cost that a slow disk
// should spread over more bytes. When the stream pauses for 20 ms, whatever
// is pending is checkpointed at once. A backend's CheckpointInterval is the
// least gap in both cases. At most maxParallelCheckpoints sessions of a
// Handler checkpoint for progress at once; the others try again later, so
// that many uploads share the store's sync capacity instead of queueing on
// it (checkpoints before a commit or at a disconnect always happen). One
// that falls due while a message is half stored waits for its end.
//
// Progress goes out when the upload moved and 20 ms have passed since the
// previous progress frame on the connection. A timer in the session loop
// drives both even when no bytes arrive, so received bytes become durable
// and are reported without waiting for the client.
//
// When a connection ends for any reason (close, reset, liveness timeout,
// shutdown, message rate), the session stores what was already read,
// checkpoints it and closes the Writer, which releases the upload's lock;
// a message over max_frame is the exception above. Storage calls run under
// a context that outlives the session's by a short grace period for exactly
// this; its timer is stopped when the session is over. A failed Write
// always ends the upload (the Writer is closed, the upload stays resumable
// from its durable offset), whatever the error, so that no later piece can
// land at a wrong offset. Errors are mapped to protocol codes in one place
// (protocolError).
//
// # Choices where the contract is silent
//
//   - size must be a JSON integer literal: 1e3 and 1.0 are bad_request, even
//     though they denote whole numbers (see parseSize). A literal too large
//     for int64 is too_large. null is never accepted for any field. mime must
//     be "type/subtype" (parameters allowed).
//   - A text frame over 64 KiB is a bad_request (its bytes are dropped). A
//     malformed start or resume while an upload is active is
//     already_started.
//   - A name over 1,024 bytes (MaxNameBytes), or with no visible character
//     (only white space, control or invisible format characters), is a
//     bad_request. Any other name ("..", "a\b" included) is stored as
//     given: no store uses it as a path, and the download side makes it
//     safe for the header it goes into (Content-Disposition).
//   - A connection may send 2,000 messages a second on average, with
//     bursts of 2,000 (Config.MessageRate, MessageBurst): a message costs
//     the same however small it is, and one-byte messages cost hundreds of
//     times more CPU per byte than 64 KiB ones. Over that, the connection is
//     closed with 1008 and a reason that says so; what arrived before is
//     checkpointed and resumable, the message that broke the limit and any
//     later one are dropped unread.
//   - A failed Write that the store reports as size_exceeded or bad_request
//     (a Write the session had checked) is reported as storage_error, since
//     it ends the upload and those codes say it is still active.
//   - Content sniffing (http.DetectContentType) decides on the first 512
//     bytes of the file, or all of it if it is shorter, however the bytes
//     were split into messages and connections (the bytes seen so far are
//     saved with each checkpoint until it has decided). The sniffer's
//     fallbacks (application/octet-stream, text/plain) count as types: list
//     them in AllowedTypes to accept content Go cannot identify. A short
//     first message whose sniffed type is already specific and not allowed
//     (text/html) is rejected at once. Empty files are not sniffed.
//   - A storage failure found by a timer checkpoint is reported at once,
//     not at the client's next message.
//   - Error frames carry the id of the upload they concern, or of the active
//     upload for errors about a frame (bad_request, already_started).
//   - After Shutdown begins, new handshakes get 503.
package upload
