package local

// maxSyncs is how many fsyncs the process runs at once. A goroutine blocked
// in a syscall holds an OS thread, and the Go runtime never ends idle
// threads: 600 uploads checkpointing together left 600 threads (and their
// stacks) behind for the life of the process (docs/reliability.md). The
// disk serves syncs one queue at a time anyway, so a few at once cost
// nothing in throughput.
const maxSyncs = 16

var syncSlots = make(chan struct{}, maxSyncs)

// synced runs sync, a blocking fsync-like call, within the process's cap.
func synced(sync func() error) error {
	syncSlots <- struct{}{}
	defer func() { <-syncSlots }()
	return sync()
}
