// Package events tells what happens to uploads, whichever protocol made it
// happen (the WebSocket, tus or the IETF draft), the expiry sweep or the API.
//
// Backend wraps a storage.Backend and publishes an Event on a Bus for every
// upload created, made durable further, completed, deleted or expired: the
// protocols need not know. Subscribers read the Bus: webhooks, GET
// /api/events. A Gate, set on the Backend, may refuse an upload or change
// its metadata before it is created (a pre-create hook).
//
// The Bus is in process and never blocks a publisher. Delivery guarantees
// beyond that (retries, an outbox that survives a crash, other instances)
// belong to the subscribers.
package events
