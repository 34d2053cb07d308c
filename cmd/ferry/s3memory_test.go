//go:build linux

package main

// The S3 memory budget under load (issue 10, target 6): many uploads to
// MinIO at once through one `ferry serve`, whose peak RSS must stay within
// its --s3-buffer-memory plus 200 MiB. It moves gigabytes through MinIO,
// so it only runs with FERRY_TEST_S3_MEMORY=1:
//
//	FERRY_TEST_S3_MEMORY=1 scripts/with-minio.sh go test -run TestS3ManyUploadsMemory -v ./cmd/ferry/
//
// Knobs: FERRY_TEST_S3_MEMORY_UPLOADS (1000), FERRY_TEST_S3_MEMORY_SIZE
// (bytes per upload, default 9 MiB: a whole 8 MiB part and a piece of the
// next), FERRY_TEST_S3_MEMORY_BUDGET (--s3-buffer-memory, default 256MiB).

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"
)

func TestS3ManyUploadsMemory(t *testing.T) {
	if os.Getenv("FERRY_TEST_S3_MEMORY") == "" {
		t.Skip("set FERRY_TEST_S3_MEMORY=1 to run 1000 concurrent uploads to MinIO")
	}
	envInt := func(name string, def int64) int64 {
		if s := os.Getenv(name); s != "" {
			var v byteSize
			if err := v.Set(s); err != nil || v <= 0 {
				t.Fatalf("%s=%q: want a positive number", name, s)
			}
			return int64(v)
		}
		return def
	}
	n := int(envInt("FERRY_TEST_S3_MEMORY_UPLOADS", 1000))
	size := envInt("FERRY_TEST_S3_MEMORY_SIZE", 9<<20)
	budget := envInt("FERRY_TEST_S3_MEMORY_BUDGET", 256<<20)
	const allowance = 200 << 20

	in := s3Instances(t, 1, "--s3-buffer-memory", strconv.FormatInt(budget, 10), "--max-conns-per-ip", "0")[0]
	pid := in.cmd.Process.Pid
	data := make([]byte, size)
	_, _ = rand.Read(data)
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: n, DisableCompression: true}}
	defer hc.CloseIdleConnections()

	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Minute)
	defer cancel()
	idle := loadProcStatus(pid, "VmRSS")
	var sampled int64
	stop := make(chan struct{})
	sampler := make(chan struct{})
	go func() {
		defer close(sampler)
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			sampled = max(sampled, loadProcStatus(pid, "VmRSS"))
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	}()
	start := time.Now()
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			loc, err := tusCreate(ctx, hc, in.url, fmt.Sprintf("mem-%d.bin", i), size)
			if err != nil {
				errs[i] = err
				return
			}
			off, err := tusPatch(ctx, hc, loc, 0, size, bytes.NewReader(data))
			if err == nil && off != size {
				err = fmt.Errorf("PATCH answered offset %d, want %d", off, size)
			}
			errs[i] = err
		})
	}
	wg.Wait()
	took := time.Since(start)
	close(stop)
	<-sampler
	hwm := loadProcStatus(pid, "VmHWM")
	failed := 0
	for i, err := range errs {
		if err != nil {
			failed++
			if failed <= 5 {
				t.Errorf("upload %d: %v", i, err)
			}
		}
	}
	peak := max(hwm, sampled) // bytes
	t.Logf("%d uploads of %d bytes in %v (%.0f MB/s), %d failed; server RSS idle %d MiB, peak %d MiB; budget %d MiB + %d MiB allowed; load average %s",
		n, size, took.Round(time.Millisecond), float64(size)*float64(n)/took.Seconds()/1e6, failed,
		idle>>20, peak>>20, budget>>20, allowance>>20, loadAvg())
	if peak > budget+allowance {
		t.Errorf("peak server RSS %d MiB exceeds the budget %d MiB + %d MiB", peak>>20, budget>>20, allowance>>20)
	}
}
