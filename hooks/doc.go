// Package hooks tells another HTTP service what happens to uploads, and lets
// it refuse or rename an upload before it is created (ferry serve
// --hook-url).
//
// Every hook is a POST of one JSON Payload to the hook URL, signed with an
// HMAC-SHA256 of the body when a secret is set (SignatureHeader, Verify).
// pre-create is synchronous: Hooks.Gate is an events.Gate, and its answer
// (a Decision) may refuse the upload with a message the client sees, or
// change its name and type. If the hook does not answer in time, fails or
// answers something else than a 2xx JSON Decision, the upload is not
// created: pre-create fails closed, since an authorisation check that is
// down must not let everything through.
//
// The other hooks are observed on an events.Bus (Hooks.Observe) and
// delivered in the background, at least once: post-finish, post-terminate
// and post-expire are written to an outbox on disk, inline, before the
// protocol tells the client, and sent with retries and exponential backoff
// until the receiver answers 2xx, across restarts and kill -9. A receiver
// that is down delays deliveries, never uploads. Each Payload carries an
// ID the receiver drops duplicates by; post-finish and the events that say
// an upload is gone have IDs derived from the upload's, so every copy of
// one of them, however it came to be sent twice, has the same ID.
//
// The gap between the store's commit and the outbox write is closed by a
// marker written when an upload is created (or first seen growing): at
// start and every ReconcileEvery, each marked upload is looked up in the
// store and a complete one gets its post-finish, a vanished one its
// post-terminate, with their fixed IDs.
package hooks
