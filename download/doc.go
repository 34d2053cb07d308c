// Package download is the read side of ferry over HTTP (docs/protocol.md
// §2): GET and HEAD /files/<id>, GET /files/<id>?follow=1, and the reads of
// the file API, GET /api/files and GET /api/files/<id>. Its handlers are
// plain http.HandlerFuncs, like upload's and httpupload's, so it knows
// nothing of the router: the id is r.PathValue("id"), which http.ServeMux
// sets for "/files/{id}" and web sets from its echo route. Every error is
// answered by httperr.Write, so it has the one JSON shape. Deleting a file
// and the health check are web's (they are not reads of a file).
//
// # Downloads
//
// A download is http.ServeContent over the storage.Object, which is lazy and
// seekable, so the body streams in bounded memory and only the requested
// bytes are read. Before calling it the handler sets what ServeContent reads
// from the response: the strong ETag (the file's SHA-256), the Content-Type,
// and also Content-Disposition and Content-Security-Policy: sandbox. The body
// is copied through a 256 KiB buffer from a pool the Handler owns: system
// calls are what a download costs, and a bigger buffer makes fewer of them
// (docs/performance.md). For the same reason, an object that has ReadAt
// (a local file) is read with it at a position that Seek moves without
// asking the object, and never past the size: ServeContent's seeks to learn
// the size and its read to the end cost a small file as much as its bytes.
//
// ServeContent answers some Range headers against the contract, so it only
// ever sees one it handles right. planRange parses the header strictly
// (RFC 9110 §14.1) and the request's copy is rewritten:
//   - ignored (header removed, 200 whole file): HEAD, an empty file, an
//     unknown unit, bad syntax, a last byte before the first, a number that
//     overflows int64 (bytes=99999999999999999999-), more than 32 ranges,
//     ranges asking for more bytes than the file has, several Range headers;
//   - satisfiable: rewritten as canonical absolute ranges, dropping the
//     unsatisfiable ones (bytes=-0, a first byte past the end);
//   - nothing satisfiable: rewritten as bytes=<size>-, which ServeContent
//     answers 416, but only after If-Match, If-None-Match and If-Range, which
//     take precedence (RFC 9110 §13.2.2).
//
// ServeContent writes its own errors as text/plain. The response writer it
// gets swallows any status >= 400 and the handler returns an error instead:
// 416 range_not_satisfiable with Content-Range: bytes */size (through
// httperr.Error.Header), 412 precondition_failed. Its 304 and If-Range
// handling are used as they are: If-Range honours the Range only for a
// matching strong ETag or the exact Last-Modified second. An If-Range that
// is empty or sent twice matches nothing, so the Range is dropped before
// ServeContent, which would take an empty one for none and answer 206.
//
// The Content-Type is the type the upload was accepted with: the stored
// type when it parses as a media type (the client declared it and the
// server's allowed types passed it), else ServeContent sniffs the first 512
// bytes, exactly as the upload's sniffing did, which is deterministic and
// happens only after the conditional checks: a 304 never reads the body.
// The name's extension is never used: "evil.html" holding PNG bytes passed
// an image/* filter as an image and is served as one. Images, audio, video
// and text/plain are inline, whether the type was stored or sniffed (the
// disposition is then set just before the status goes out). Active types
// (HTML, JavaScript, SVG and other XML, PDF) are attachments unless
// Config.InlineActive; everything else is an attachment.
//
// The name in Content-Disposition is made a plain file name (controls and
// bidirectional overrides dropped, "/" and "\" turned into "_", a name of
// only dots such as ".." turned into underscores) and cut on a rune
// boundary, keeping a short extension, so that the header is at most 2 KiB.
//
// # Following an upload
//
// ?follow=1 (also ?follow, ?follow=true; ?follow=0 is off) answers 200 at
// once with no Content-Length, which HTTP/1.1 sends chunked, then polls Stat
// every Config.FollowPoll and sends the bytes below Info.Offset (the durable
// ones, which never change) through storage.PartialOpener, flushing after
// each round. When the upload completes, the rest comes from Open and the
// stream ends with the terminating chunk. A backend without PartialOpener
// (object stores) sends nothing until the upload completes, then the whole
// file. Any other end (deleted, aborted, expired, a storage error, the
// request's context done) cuts the connection without the terminating
// chunk: the connection is hijacked and closed, or where it cannot be
// hijacked (HTTP/2) the handler panics with http.ErrAbortHandler. A client
// therefore never mistakes a cut stream for the whole file (an HTTP/1.0
// client, which has no chunked encoding, reads to the connection's close and
// cannot tell). Ranges are ignored with ?follow=1, and a HEAD gets the same
// headers and no body, for an upload in progress too. The type is the
// stored one or application/octet-stream: there are no bytes to sniff yet.
//
// A follow holds a connection for as long as its upload lasts, so they are
// counted: more than Config.MaxFollowersPerUpload (16) of one upload or
// Config.MaxFollowers (1024) in all answers 503 too_many_followers with
// Retry-After before any header is written. A follow whose upload's offset
// has not moved for Config.FollowIdle (10 minutes), or whose upload is past
// its ExpiresAt though storage has not deleted it yet, is cut like any
// other early end.
//
// # The file API
//
// GET /api/files pages completed files newest first: ?limit= defaults to
// 100 and is clamped to 1000 (a number below 1 or not a number is a 400), and
// ?after= takes the previous page's next. GET /api/files/<id> also describes
// uploads in progress. Ids are checked with storage.ValidID before storage
// is asked anything, so nothing but a canonical UUID ever reaches a backend.
package download
