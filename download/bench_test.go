package download_test

// Benchmarks of docs/performance.md. Each one measures ferry's handler and
// the baseline, http.ServeFile of the very same data file, alternately in
// the same run, and reports both and their ratio: on a shared 2-core machine
// only ratios taken side by side mean anything.
//
//	go test -run '^$' -bench 'FullDownload|Ranges64' -benchtime 5x -count 5 ./download
//	FERRY_BENCH_1GIB=1 go test -run '^$' -bench Heap1GiB -benchtime 1x ./download

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/ferryhq/ferry/download"
	"github.com/ferryhq/ferry/storage"
	"github.com/ferryhq/ferry/storage/local"
)

// benchSetup is one large stored file served two ways.
type benchSetup struct {
	size     int64
	ferry    string // URL of the file through download.Handler
	baseline string // URL of the same bytes through http.ServeFile
	client   *http.Client
	bufs     sync.Pool // of *[]byte for the client's copies
}

// newBenchSetup stores a file of size bytes, written in 1 MiB pieces so the
// benchmark process never holds it, and starts both servers on 127.0.0.1.
func newBenchSetup(b *testing.B, size int64) *benchSetup {
	b.Helper()
	store, err := local.New(local.Config{Dir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	id := uuid.NewString()
	w, err := store.Create(ctx, id, storage.Meta{Name: "big.bin", Size: size, MIME: "application/octet-stream"})
	if err != nil {
		b.Fatal(err)
	}
	h := sha256.New()
	buf := make([]byte, 1<<20)
	r := rand.New(rand.NewPCG(1, 2))
	for left := size; left > 0; left -= int64(len(buf)) {
		p := buf[:min(left, int64(len(buf)))]
		for i := 0; i+8 <= len(p); i += 8 {
			v := r.Uint64()
			for j := range 8 {
				p[i+j] = byte(v >> (8 * j))
			}
		}
		h.Write(p)
		if _, err := w.Write(p); err != nil {
			b.Fatal(err)
		}
	}
	if _, err := w.Checkpoint(ctx, nil); err != nil {
		b.Fatal(err)
	}
	if _, err := w.Commit(ctx, hex.EncodeToString(h.Sum(nil))); err != nil {
		b.Fatal(err)
	}

	logger := slog.New(slog.DiscardHandler)
	dh, err := download.New(download.Config{Backend: store, Logger: logger})
	if err != nil {
		b.Fatal(err)
	}
	ferry := httptest.NewServer(routes(dh, logger))
	b.Cleanup(ferry.Close)
	// The local backend keeps a file's bytes in
	// <dir>/files/<last two hex digits of the id>/<id>.data.
	path := filepath.Join(store.Dir(), "files", id[len(id)-2:], id+".data")
	base := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.ServeFile(w, r, path)
	}))
	b.Cleanup(base.Close)

	tr := &http.Transport{MaxIdleConnsPerHost: 128, DisableCompression: true}
	b.Cleanup(tr.CloseIdleConnections)
	return &benchSetup{
		size:     size,
		ferry:    ferry.URL + "/files/" + id,
		baseline: base.URL + "/f",
		client:   &http.Client{Transport: tr},
		bufs: sync.Pool{New: func() any {
			buf := make([]byte, 256<<10)
			return &buf
		}},
	}
}

// get downloads url (with an optional Range) to io.Discard and checks what
// it got.
func (s *benchSetup) get(url, rng string, wantStatus int, wantLen int64) error {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	if rng != "" {
		req.Header.Set("Range", rng)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	// A 256 KiB buffer, as a download client would use, rather than
	// io.Discard's 8 KiB reads, so that the client costs both servers less.
	buf := s.bufs.Get().(*[]byte)
	defer s.bufs.Put(buf)
	n, err := io.CopyBuffer(struct{ io.Writer }{io.Discard}, resp.Body, *buf)
	if err != nil {
		return err
	}
	if resp.StatusCode != wantStatus || n != wantLen {
		return fmt.Errorf("GET %s %s: status %d with %d bytes, want %d with %d", url, rng, resp.StatusCode, n, wantStatus, wantLen)
	}
	return nil
}

// BenchmarkFullDownload downloads a 256 MiB file whole, alternating between
// ferry and http.ServeFile, and reports the MB/s (10^6 bytes) of each.
func BenchmarkFullDownload(b *testing.B) {
	s := newBenchSetup(b, 256<<20)
	var spent [2]time.Duration // ferry, baseline
	urls := [2]string{s.ferry, s.baseline}
	// Warm the page cache and the connections.
	for _, u := range urls {
		if err := s.get(u, "", http.StatusOK, s.size); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		for k := range 2 {
			j := (i + k) % 2 // alternate which goes first
			start := time.Now()
			if err := s.get(urls[j], "", http.StatusOK, s.size); err != nil {
				b.Fatal(err)
			}
			spent[j] += time.Since(start)
		}
	}
	mbps := func(d time.Duration) float64 { return float64(s.size) * float64(b.N) / d.Seconds() / 1e6 }
	b.ReportMetric(mbps(spent[0]), "ferry-MB/s")
	b.ReportMetric(mbps(spent[1]), "servefile-MB/s")
	b.ReportMetric(mbps(spent[0])/mbps(spent[1]), "ratio")
}

// BenchmarkRanges64 has 64 concurrent clients fetch random 1 MiB ranges of
// a 256 MiB file, one round of 256 requests against ferry and one against
// http.ServeFile per iteration, and reports the requests per second of each.
func BenchmarkRanges64(b *testing.B) {
	const (
		clients    = 64
		perClient  = 4
		rangeBytes = 1 << 20
	)
	s := newBenchSetup(b, 256<<20)
	round := func(url string, seed uint64) time.Duration {
		var wg sync.WaitGroup
		errs := make(chan error, clients)
		start := time.Now()
		for c := range clients {
			wg.Go(func() {
				r := rand.New(rand.NewPCG(seed, uint64(c)))
				for range perClient {
					off := r.Int64N(s.size - rangeBytes + 1)
					rng := fmt.Sprintf("bytes=%d-%d", off, off+rangeBytes-1)
					if err := s.get(url, rng, http.StatusPartialContent, rangeBytes); err != nil {
						errs <- err
						return
					}
				}
			})
		}
		wg.Wait()
		d := time.Since(start)
		close(errs)
		for err := range errs {
			b.Fatal(err)
		}
		return d
	}
	urls := [2]string{s.ferry, s.baseline}
	for _, u := range urls { // warm up: page cache and 64 connections each
		round(u, 0)
	}
	var spent [2]time.Duration
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		for k := range 2 {
			j := (i + k) % 2
			spent[j] += round(urls[j], uint64(i+1))
		}
	}
	rps := func(d time.Duration) float64 { return float64(clients*perClient*b.N) / d.Seconds() }
	b.ReportMetric(rps(spent[0]), "ferry-req/s")
	b.ReportMetric(rps(spent[1]), "servefile-req/s")
	b.ReportMetric(rps(spent[0])/rps(spent[1]), "ratio")
}

// BenchmarkHeap1GiB downloads a 16 MiB and a 1 GiB file through ferry's
// handler in this process and reports the heap (runtime.MemStats, sampled
// during the download, peak) for each: flat means memory does not grow with
// file size. It writes 1 GiB to disk, so it only runs with
// FERRY_BENCH_1GIB=1.
func BenchmarkHeap1GiB(b *testing.B) {
	if os.Getenv("FERRY_BENCH_1GIB") == "" {
		b.Skip("set FERRY_BENCH_1GIB=1 to download 1 GiB")
	}
	for _, size := range []int64{16 << 20, 1 << 30} {
		b.Run(fmt.Sprintf("%dMiB", size>>20), func(b *testing.B) {
			s := newBenchSetup(b, size)
			var inuse, sys uint64
			for b.Loop() {
				runtime.GC()
				stop := make(chan struct{})
				done := make(chan struct{})
				go func() {
					defer close(done)
					tick := time.NewTicker(10 * time.Millisecond)
					defer tick.Stop()
					var ms runtime.MemStats
					for {
						runtime.ReadMemStats(&ms)
						inuse = max(inuse, ms.HeapInuse)
						sys = max(sys, ms.HeapSys)
						select {
						case <-stop:
							return
						case <-tick.C:
						}
					}
				}()
				err := s.get(s.ferry, "", http.StatusOK, size)
				close(stop)
				<-done
				if err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(inuse)/(1<<20), "peak-HeapInuse-MiB")
			b.ReportMetric(float64(sys)/(1<<20), "peak-HeapSys-MiB")
			b.ReportMetric(float64(size)*float64(b.N)/b.Elapsed().Seconds()/1e6, "MB/s")
		})
	}
}
