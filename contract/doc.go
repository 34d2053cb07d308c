// Package contract is an independent, black-box audit of ferry's wire
// contract (docs/protocol.md, "ferry wire contract, version 1").
//
// Its tests start a real server (storage/local behind web.Server, on an
// httptest listener, or in a child process that is killed with SIGKILL) and
// then talk to it only the way a client would: WebSocket frames on
// /ws/upload and plain HTTP everywhere else. Frames are built and decoded as
// plain JSON maps, never with the upload package's types, so a field name
// that drifts from the contract is caught here.
//
// Each test names the clause it checks. The package has no non-test code.
package contract
