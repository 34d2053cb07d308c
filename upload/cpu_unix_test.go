//go:build unix

package upload

import (
	"syscall"
	"time"
)

// processCPU is this process's user plus system time.
func processCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
