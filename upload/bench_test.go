package upload

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// Benchmarks of the upload server. Every server runs in its own process (the
// test binary re-executed, see TestHandlerChildProcess), so that its CPU time
// and memory can be measured apart from the client's; the client runs in
// the benchmark process. Both share the machine's cores, as in every figure
// of docs/performance.md.
//
// Knobs (environment): FERRY_BENCH_SIZE (bytes per upload, default 256 MiB),
// FERRY_BENCH_PAUSE (pause after sync between uploads, default 2s),
// FERRY_BENCH_MODES (comma-separated server modes for BenchmarkUpload).
//
//	go test -run '^$' -bench BenchmarkUpload -benchtime 5x ./upload/

const benchFrame = 1 << 20

// BenchmarkUpload uploads the same bytes through each server mode in turn, in
// every iteration, and reports per mode the median MB/s (10^6 bytes/s) and
// server CPU-seconds per GiB, and the median ratio of each mode's MB/s to
// the bare baseline's in the same iteration:
//
//   - bare: gorilla/websocket, 32 KiB file writes and SHA-256 on the read
//     goroutine, no fsync (the ceiling for ferry, docs/performance.md);
//   - bare-fsync: the same, fsync before answering end;
//   - ferry: the Handler over storage/local, as shipped;
//   - ferry-noprogress: without progress frames (checkpoints as usual);
//   - ferry-nocheckpoint: without checkpoints before the final one.
func BenchmarkUpload(b *testing.B) {
	size := envInt(b, "FERRY_BENCH_SIZE", 256<<20)
	pause := envDuration(b, "FERRY_BENCH_PAUSE", 2*time.Second)
	modes := []string{"bare", "ferry", "ferry-noprogress", "bare-fsync", "ferry-nocheckpoint"}
	if s := os.Getenv("FERRY_BENCH_MODES"); s != "" {
		modes = strings.Split(s, ",")
	}
	src := make([]byte, 16<<20) // cycled: distinct frames without 256 MiB of client memory
	rand.Read(src)

	type server struct {
		url, stats, dir string
	}
	servers := make(map[string]server)
	for _, m := range modes {
		dir := b.TempDir()
		_, url := startChild(b, m, dir)
		servers[m] = server{url: url, stats: statsURL(url), dir: dir}
	}
	ckpts := make(map[string][]float64)
	ckptShare := make(map[string][]float64)
	mbps := make(map[string][]float64)
	cpu := make(map[string][]float64)
	ratio := make(map[string][]float64)

	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		got := make(map[string]float64)
		for _, m := range modes {
			b.StopTimer()
			settle(b, servers[m].dir, pause)
			before := fetchStats(b, servers[m].stats, false)
			b.StartTimer()
			took, err := benchUpload(servers[m].url, int64(size), src)
			if err != nil {
				b.Fatalf("%s: %v", m, err)
			}
			after := fetchStats(b, servers[m].stats, false)
			rate := float64(size) / took.Seconds() / 1e6
			got[m] = rate
			mbps[m] = append(mbps[m], rate)
			cpu[m] = append(cpu[m], (after.CPU-before.CPU)/(float64(size)/(1<<30)))
			if n := after.Checkpoints - before.Checkpoints; n > 0 {
				ckpts[m] = append(ckpts[m], float64(n))
				ckptShare[m] = append(ckptShare[m], (after.CheckpointSeconds-before.CheckpointSeconds)/took.Seconds())
			}
		}
		for _, m := range modes {
			if base, ok := got["bare"]; ok && m != "bare" {
				ratio[m] = append(ratio[m], got[m]/base)
			}
		}
	}
	b.StopTimer()
	for _, m := range modes {
		b.ReportMetric(median(mbps[m]), m+"-MB/s")
		b.ReportMetric(median(cpu[m]), m+"-cpu-s/GiB")
		if len(ratio[m]) > 0 {
			b.ReportMetric(median(ratio[m]), m+"/bare")
		}
		if len(ckpts[m]) > 0 {
			b.ReportMetric(median(ckpts[m]), m+"-checkpoints")
			b.ReportMetric(median(ckptShare[m]), m+"-checkpoint-time-share")
		}
	}
	if len(mbps["ferry"]) > 0 && len(mbps["ferry-noprogress"]) > 0 {
		var r []float64
		for i := range mbps["ferry"] {
			r = append(r, mbps["ferry"][i]/mbps["ferry-noprogress"][i])
		}
		b.ReportMetric(median(r), "progress-on/off")
	}
}

// BenchmarkConcurrentUploads runs 200 uploads at once against a fresh server
// process per iteration and reports its peak RSS and peak heap, and their
// growth over the idle process divided by the number of uploads.
func BenchmarkConcurrentUploads(b *testing.B) {
	const uploads = 200
	size := envInt(b, "FERRY_BENCH_CONCURRENT_SIZE", 8<<20)
	src := make([]byte, 16<<20)
	rand.Read(src)
	for _, m := range []string{"ferry", "bare", "bare-fsync"} {
		b.Run(m, func(b *testing.B) {
			dir := b.TempDir()
			var peakRSS, peakHeap, perRSS, perHeap []float64
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				settle(b, dir, time.Second)
				cmd, url := startChild(b, m, dir)
				stats := statsURL(url)
				idle := fetchStats(b, stats, true)
				b.StartTimer()
				var wg sync.WaitGroup
				errs := make(chan error, uploads)
				for range uploads {
					wg.Go(func() {
						if _, err := benchUpload(url, int64(size), src); err != nil {
							errs <- err
						}
					})
				}
				wg.Wait()
				close(errs)
				if err := <-errs; err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				st := fetchStats(b, stats, false)
				peakRSS = append(peakRSS, float64(st.PeakRSS)/(1<<20))
				peakHeap = append(peakHeap, float64(st.PeakHeap)/(1<<20))
				perRSS = append(perRSS, float64(st.PeakRSS-idle.RSS)/uploads/(1<<20))
				perHeap = append(perHeap, float64(st.PeakHeap-idle.Heap)/uploads/(1<<20))
				cmd.Process.Kill()
				cmd.Wait()
				b.StartTimer()
			}
			b.ReportMetric(median(peakRSS), "peak-RSS-MiB")
			b.ReportMetric(median(peakHeap), "peak-heap-MiB")
			b.ReportMetric(median(perRSS), "RSS-MiB/upload")
			b.ReportMetric(median(perHeap), "heap-MiB/upload")
			b.SetBytes(int64(size) * uploads)
		})
	}
}

// benchUpload uploads size bytes (src, cycled) in 1 MiB frames without
// waiting for any answer until end, and returns the time from the start
// frame to the complete frame.
func benchUpload(url string, size int64, src []byte) (time.Duration, error) {
	d := websocket.Dialer{ReadBufferSize: 64 << 10, WriteBufferSize: 64 << 10, Subprotocols: []string{Subprotocol}}
	conn, resp, err := d.Dial(url, nil)
	if err != nil {
		return 0, fmt.Errorf("dial: %w", err)
	}
	resp.Body.Close()
	defer conn.Close()
	began := time.Now()
	if err := conn.WriteJSON(StartFrame{Type: TypeStart, Name: "bench.bin", Size: size}); err != nil {
		return 0, err
	}
	var ready ServerFrame
	if err := conn.ReadJSON(&ready); err != nil || ready.Type != TypeReady {
		return 0, fmt.Errorf("start: %+v %v", ready, err)
	}
	done := make(chan error, 1)
	go func() {
		for {
			var f ServerFrame
			if err := conn.ReadJSON(&f); err != nil {
				done <- err
				return
			}
			switch f.Type {
			case TypeComplete:
				done <- nil
				return
			case TypeError:
				done <- fmt.Errorf("server: %s %s", f.Code, f.Message)
				return
			}
		}
	}()
	for off := int64(0); off < size; {
		n := min(int64(benchFrame), size-off)
		at := off % int64(len(src)-benchFrame)
		if err := conn.WriteMessage(websocket.BinaryMessage, src[at:at+n]); err != nil {
			return 0, fmt.Errorf("send: %w (%v)", err, drain(done))
		}
		off += n
	}
	if err := conn.WriteJSON(ControlFrame{Type: TypeEnd}); err != nil {
		return 0, err
	}
	if err := <-done; err != nil {
		return 0, err
	}
	return time.Since(began), nil
}

func drain(done chan error) error {
	select {
	case err := <-done:
		return err
	case <-time.After(time.Second):
		return errors.New("no answer")
	}
}

// settle empties a server's data directory, flushes the page cache to disk
// and waits, so that one upload's writeback does not slow the next one
// (docs/performance.md: the VM hands freed memory back to its host, so
// benchmarks that write must sync and pause).
func settle(b *testing.B, dir string, pause time.Duration) {
	b.Helper()
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		os.Remove(filepath.Join(dir, e.Name()))
	}
	exec.Command("sync").Run()
	time.Sleep(pause)
}

func statsURL(wsURL string) string {
	return "http" + strings.TrimSuffix(strings.TrimPrefix(wsURL, "ws"), "/ws/upload") + "/stats"
}

func fetchStats(b *testing.B, url string, reset bool) childStats {
	b.Helper()
	if reset {
		url += "?reset=1"
	}
	resp, err := http.Get(url)
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	var st childStats
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		b.Fatal(err)
	}
	return st
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func envInt(b *testing.B, name string, def int) int {
	b.Helper()
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		b.Fatalf("%s: %v", name, err)
	}
	return n
}

func envDuration(b *testing.B, name string, def time.Duration) time.Duration {
	b.Helper()
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		b.Fatalf("%s: %v", name, err)
	}
	return d
}
