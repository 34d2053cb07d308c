// Package storagetest checks storage.Backend implementations against the
// contract written in storage's doc comments, and helps other packages test
// how they cope when storage fails.
//
// Run is the conformance suite, in the manner of gocloud.dev's drivertest:
// one set of tests, through the storage API only, that every backend runs
// through a small harness (storage/local on a temporary directory,
// storage/s3 against a real MinIO). It covers round trips, seeking, resuming
// from the last Checkpoint with its state, locking, the sentinel errors of
// every method (storage.Meta.Validate's refusals and hostile ids among
// them), uploads of deferred size, deletion while a Writer holds the upload,
// listing, and the optional capabilities (storage.Expirer,
// storage.PartialOpener, storage.Pinger, storage.TakeOverer) when the
// backend has them, skipping those it does not.
//
// Faulty wraps any Backend to inject failures into its Writers (a full disk,
// a Checkpoint that fails), so that the upload protocols can be tested for
// what a client sees when storage gives out.
package storagetest
