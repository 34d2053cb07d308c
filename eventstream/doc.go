// Package eventstream serves an events.Bus to HTTP clients as Server-Sent
// Events: GET /api/events. A client (a browser's EventSource, curl -N, or
// `ferry wait`) learns as they happen that uploads are created, progress,
// complete, or are deleted or expired, optionally only for the ids it
// names.
//
// The stream is live only: nothing is replayed. A client that reconnects
// (with Last-Event-ID) is told to re-read the state of the uploads it
// cares about (GET /api/files/<id>) before going on.
package eventstream
