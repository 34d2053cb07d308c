// Package checkpoint is what an upload keeps with each storage Checkpoint
// besides its bytes: the running SHA-256 of everything durable and the
// state of content-type sniffing. Every upload protocol (the WebSocket in
// upload/, tus and IETF in httpupload/) keeps it in the one format defined
// here, so an upload begun over one protocol can be resumed over another
// without re-reading a stored byte.
//
// A Tracker is restored from a storage.Writer (Restore), fed the bytes
// written after it (Add), asked for the state to checkpoint (State), and
// stopped when the Writer is released (Stop).
package checkpoint
