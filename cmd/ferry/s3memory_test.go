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
// next), FERRY_TEST_S3_MEMORY_BUDGET (--s3-buffer-memory, default 256MiB),
// FERRY_TEST_S3_MEMORY_PROTOCOLS (mixed: every other upload over the
// WebSocket, the others over tus; or tus, or ws).

import (
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ferryhq/ferry/client"
)

// A server started by TestS3ManyUploadsMemory writes a heap profile to
// $FERRY_TEST_S3_MEMORY_HEAPPROFILE on SIGUSR2.
func init() {
	path := os.Getenv("FERRY_TEST_S3_MEMORY_HEAPPROFILE")
	if os.Getenv("FERRY_E2E_SERVE") != "1" || path == "" {
		return
	}
	usr2 := make(chan os.Signal, 1)
	signal.Notify(usr2, syscall.SIGUSR2)
	go func() {
		<-usr2
		f, err := os.Create(path)
		if err != nil {
			fmt.Fprintln(os.Stderr, "heap profile:", err)
			return
		}
		defer f.Close()
		if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
			fmt.Fprintln(os.Stderr, "heap profile:", err)
		}
	}()
}

// patchAll sends data to the tus upload at loc in one PATCH and, as tus
// clients do, after a 423 Locked (an earlier request still lets go of the
// upload) asks for the offset and sends the rest again, up to 20 times.
func patchAll(ctx context.Context, hc *http.Client, loc string, data []byte) error {
	size := int64(len(data))
	var off int64
	for try := 0; ; try++ {
		got, err := tusPatch(ctx, hc, loc, off, size-off, bytes.NewReader(data[off:]))
		if err == nil {
			if got != size {
				return fmt.Errorf("PATCH answered offset %d, want %d", got, size)
			}
			return nil
		}
		if try == 20 || !strings.Contains(err.Error(), "423") {
			return fmt.Errorf("after %d retries: %w", try, err)
		}
		time.Sleep(time.Second)
		if off, err = tusHead(ctx, hc, loc); err != nil {
			return err
		}
	}
}

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
	protocols := cmp.Or(os.Getenv("FERRY_TEST_S3_MEMORY_PROTOCOLS"), "mixed")
	if protocols != "mixed" && protocols != "tus" && protocols != "ws" {
		t.Fatalf("FERRY_TEST_S3_MEMORY_PROTOCOLS=%q: want mixed, tus or ws", protocols)
	}
	const allowance = 200 << 20

	endpoint, access, secret := minioEnv(t)
	t.Setenv("FERRY_S3_ACCESS_KEY", access)
	t.Setenv("FERRY_S3_SECRET_KEY", secret)
	// The default lease TTL, not the e2e tests' 2 s: a thousand uploads
	// renew their leases on a loaded machine.
	in := startInstance(t, "--storage", "s3", "--s3-endpoint", endpoint, "--s3-insecure",
		"--s3-bucket", fmt.Sprintf("ferry-mem-%d", time.Now().UnixNano()), "--s3-create-bucket",
		"--s3-buffer-memory", strconv.FormatInt(budget, 10), "--max-conns-per-ip", "0")
	pid := in.cmd.Process.Pid
	data := make([]byte, size)
	_, _ = rand.Read(data)
	sum := sha256.Sum256(data)
	want := hex.EncodeToString(sum[:])
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: n, DisableCompression: true}}
	defer hc.CloseIdleConnections()

	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Minute)
	defer cancel()
	// With FERRY_TEST_S3_MEMORY_HEAPPROFILE=path the server writes a heap
	// profile there the first time its RSS passes the bound, or at the end.
	heapProfile := os.Getenv("FERRY_TEST_S3_MEMORY_HEAPPROFILE")
	idle := loadProcStatus(pid, "VmRSS")
	var sampled int64
	stop := make(chan struct{})
	sampler := make(chan struct{})
	go func() {
		defer close(sampler)
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			rss := loadProcStatus(pid, "VmRSS")
			if heapProfile != "" && rss > budget+allowance && sampled <= budget+allowance {
				_ = in.cmd.Process.Signal(syscall.SIGUSR2)
				heapProfile = ""
			}
			sampled = max(sampled, rss)
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
		name := fmt.Sprintf("mem-%d.bin", i)
		if protocols == "ws" || protocols == "mixed" && i%2 == 1 {
			// The client retries a lost connection by itself; like the tus
			// side, it rides out a loaded MinIO's locked answers.
			wg.Go(func() {
				_, errs[i] = client.Upload(ctx, bytes.NewReader(data), size,
					client.Options{Server: in.url, Name: name, SHA256: want, Timeout: 10 * time.Minute, MaxRetries: 30})
			})
			continue
		}
		wg.Go(func() {
			loc, err := tusCreate(ctx, hc, in.url, name, size)
			if err != nil {
				errs[i] = err
				return
			}
			errs[i] = patchAll(ctx, hc, loc, data)
		})
	}
	wg.Wait()
	took := time.Since(start)
	close(stop)
	<-sampler
	hwm := loadProcStatus(pid, "VmHWM")
	if heapProfile != "" {
		_ = in.cmd.Process.Signal(syscall.SIGUSR2)
		time.Sleep(time.Second)
	}
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
	t.Logf("%d uploads (%s) of %d bytes in %v (%.0f MB/s), %d failed; server RSS idle %d MiB, peak %d MiB; budget %d MiB + %d MiB allowed; load average %s",
		n, protocols, size, took.Round(time.Millisecond), float64(size)*float64(n)/took.Seconds()/1e6, failed,
		idle>>20, peak>>20, budget>>20, allowance>>20, loadAvg())
	if peak > budget+allowance {
		t.Errorf("peak server RSS %d MiB exceeds the budget %d MiB + %d MiB", peak>>20, budget>>20, allowance>>20)
	}
}
