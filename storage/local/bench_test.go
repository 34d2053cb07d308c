//go:build linux

package local_test

import (
	"context"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/ferryhq/ferry/storage"
	"github.com/ferryhq/ferry/storage/local"
)

const (
	benchSize       = 256 << 20 // one upload
	benchFrame      = 1 << 20   // what a WebSocket frame hands to Write
	benchCheckpoint = 64 << 20  // bytes between Checkpoints
	benchBareWrite  = 32 << 10  // the baseline's write(2) size
	// benchPause lets the VM settle between runs: right after a big file is
	// deleted its freed memory makes the next write look several times faster
	// (docs/performance.md, "What these taught us about this machine").
	benchPause = 2 * time.Second
)

// BenchmarkWriteCheckpoint measures Writer.Write plus Checkpoint for a
// 256 MiB upload in 1 MiB frames with a Checkpoint every 64 MiB, against the
// ceiling: a bare os.File written in 32 KiB writes with an fdatasync every
// 64 MiB. Both run in every iteration, in alternating order, and the
// iteration reports both rates, their ratio and each side's CPU time, so
// machine noise that spans an iteration hits both sides alike. Run with a
// small fixed -benchtime (figures in docs/performance.md):
//
//	go test -run '^$' -bench WriteCheckpoint -benchtime 2x -count 5 ./storage/local
func BenchmarkWriteCheckpoint(b *testing.B) {
	dir := b.TempDir()
	backend, err := local.New(local.Config{Dir: dir})
	if err != nil {
		b.Fatal(err)
	}
	frame := make([]byte, benchFrame)
	rand.NewChaCha8([32]byte{1}).Read(frame)

	// The writing goroutine stays on one thread so that the thread's CPU
	// time (user+sys, from getrusage) can be charged to each side: a figure
	// that other load on the machine disturbs far less than wall time.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()

	var ours, bare cost
	b.ResetTimer()
	for i := range b.N {
		runs := []func(){
			func() { ours = ours.plus(timeLocal(b, backend, frame)) },
			func() { bare = bare.plus(timeBare(b, dir, frame)) },
		}
		if i%2 == 1 {
			runs[0], runs[1] = runs[1], runs[0]
		}
		for _, run := range runs {
			b.StopTimer()
			syscall.Sync()
			time.Sleep(benchPause)
			b.StartTimer()
			run()
		}
	}
	b.StopTimer()
	gib := float64(benchSize) * float64(b.N) / (1 << 30)
	mbps := func(d time.Duration) float64 { return float64(benchSize) * float64(b.N) / 1e6 / d.Seconds() }
	b.ReportMetric(mbps(ours.wall), "local-MB/s")
	b.ReportMetric(mbps(bare.wall), "bare-MB/s")
	b.ReportMetric(bare.wall.Seconds()/ours.wall.Seconds(), "local/bare")
	b.ReportMetric(float64(ours.cpu.Milliseconds())/gib, "local-cpu-ms/GiB")
	b.ReportMetric(float64(bare.cpu.Milliseconds())/gib, "bare-cpu-ms/GiB")
}

// cost is what one side's run took: wall time and its thread's CPU time.
type cost struct{ wall, cpu time.Duration }

func (c cost) plus(d cost) cost { return cost{c.wall + d.wall, c.cpu + d.cpu} }

// measure starts a measurement; calling the result ends it.
func measure() func() cost {
	start, cpu := time.Now(), threadCPU()
	return func() cost { return cost{time.Since(start), threadCPU() - cpu} }
}

// threadCPU is the calling thread's user plus system time.
func threadCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(rusageThread, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// rusageThread is Linux's RUSAGE_THREAD, which package syscall does not name.
const rusageThread = 1

// timeLocal uploads benchSize bytes through the backend and deletes them.
func timeLocal(b *testing.B, backend *local.Backend, frame []byte) cost {
	ctx := context.Background()
	id := uuid.NewString()
	done := measure()
	w, err := backend.Create(ctx, id, storage.Meta{Name: "bench", Size: benchSize})
	if err != nil {
		b.Fatal(err)
	}
	state := make([]byte, 128) // about the size of a marshalled SHA-256 state
	for w.Written() < benchSize {
		if _, err := w.Write(frame); err != nil {
			b.Fatal(err)
		}
		if w.Written()%benchCheckpoint == 0 {
			if _, err := w.Checkpoint(ctx, state); err != nil {
				b.Fatal(err)
			}
		}
	}
	if _, err := w.Commit(ctx, strings.Repeat("0", 64)); err != nil {
		b.Fatal(err)
	}
	c := done()
	b.StopTimer()
	if err := backend.Delete(ctx, id); err != nil {
		b.Fatal(err)
	}
	b.StartTimer()
	return c
}

// timeBare writes benchSize bytes to a plain file the fastest simple way
// and removes it.
func timeBare(b *testing.B, dir string, frame []byte) cost {
	path := filepath.Join(dir, "bare")
	done := measure()
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	for written := 0; written < benchSize; {
		for off := 0; off < len(frame); off += benchBareWrite {
			if _, err := f.Write(frame[off : off+benchBareWrite]); err != nil {
				b.Fatal(err)
			}
		}
		written += len(frame)
		if written%benchCheckpoint == 0 {
			if err := syscall.Fdatasync(int(f.Fd())); err != nil {
				b.Fatal(err)
			}
		}
	}
	if err := f.Close(); err != nil {
		b.Fatal(err)
	}
	c := done()
	b.StopTimer()
	os.Remove(path)
	b.StartTimer()
	return c
}
