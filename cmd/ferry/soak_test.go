package main

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"hash"
	"io"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ferryhq/ferry/client"
)

// patternFile is a big file that exists only as a repeating random block, so
// a soak run needs neither the disk space nor the memory of its size.
type patternFile struct {
	block []byte
	size  int64
}

func (p patternFile) ReadAt(b []byte, off int64) (int, error) {
	if off >= p.size {
		return 0, io.EOF
	}
	n := 0
	for n < len(b) && off+int64(n) < p.size {
		pos := (off + int64(n)) % int64(len(p.block))
		n += copy(b[n:min(len(b), n+int(p.size-off-int64(n)))], p.block[pos:])
	}
	if n < len(b) {
		return n, io.EOF
	}
	return n, nil
}

func (p patternFile) digest() string {
	h := sha256.New()
	_, _ = io.Copy(h, io.NewSectionReader(p, 0, p.size))
	return hex.EncodeToString(h.Sum(nil))
}

// heapWatch samples the live heap until stopped and keeps the peak.
func heapWatch() (peak func() uint64, stop func()) {
	var max atomic.Uint64
	done := make(chan struct{})
	go func() {
		var m runtime.MemStats
		for {
			runtime.ReadMemStats(&m)
			if m.HeapInuse > max.Load() {
				max.Store(m.HeapInuse)
			}
			select {
			case <-done:
				return
			case <-time.After(200 * time.Millisecond):
			}
		}
	}()
	return max.Load, func() { close(done) }
}

// TestSoakLargeUploadAndDownload sends a multi-GiB file through a real
// server (client, WebSocket, local storage) and reads it back over HTTP,
// checking the digest and that the heap stays flat: memory must not grow
// with file size. It runs only with FERRY_SOAK=1 (make soak);
// FERRY_SOAK_SIZE sets the size in bytes (default 4 GiB).
func TestSoakLargeUploadAndDownload(t *testing.T) {
	if os.Getenv("FERRY_SOAK") != "1" {
		t.Skip("soak test: set FERRY_SOAK=1 (make soak)")
	}
	size := int64(4 << 30)
	if s := os.Getenv("FERRY_SOAK_SIZE"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			t.Fatalf("FERRY_SOAK_SIZE: %v", err)
		}
		size = n
	}
	block := make([]byte, 1<<20+7) // not a multiple of any chunk size
	if _, err := rand.Read(block); err != nil {
		t.Fatal(err)
	}
	file := patternFile{block: block, size: size}
	want := file.digest()
	base := startServe(t, "--data", t.TempDir())

	peak, stop := heapWatch()
	defer stop()
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Minute)
	defer cancel()
	res, err := client.Upload(ctx, file, size, client.Options{Server: base, Name: "soak.bin", SHA256: want})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("upload: %d bytes in %s (%.0f MB/s), heap peak %d MiB", size, time.Since(start).Round(time.Millisecond),
		float64(size)/time.Since(start).Seconds()/1e6, peak()>>20)

	start = time.Now()
	resp, err := http.Get(res.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var h hash.Hash = sha256.New()
	n, err := io.Copy(h, resp.Body)
	if err != nil || n != size {
		t.Fatalf("download: %d bytes, %v", n, err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != want {
		t.Fatalf("downloaded sha256 %s, want %s", got, want)
	}
	t.Logf("download: %s (%.0f MB/s), heap peak %d MiB", time.Since(start).Round(time.Millisecond),
		float64(size)/time.Since(start).Seconds()/1e6, peak()>>20)
	if peak() > 256<<20 {
		t.Fatalf("heap peaked at %d MiB while moving %d MiB: memory grows with file size", peak()>>20, size>>20)
	}
}
