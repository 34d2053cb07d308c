package main

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ferryhq/ferry/client"
)

// The burst of issue 10's target 7 (docs/reliability.md, "Memory after a
// burst"): 200 uploads of 8 MiB at once against a real `ferry serve` process,
// then nothing for 60 s; the server's RSS must be back within twice its idle
// RSS by then.
const (
	burstUploads = 200
	burstSize    = 8 << 20
	burstWindow  = 60 * time.Second
	burstFactor  = 2
)

// TestBurstMemory runs with FERRY_BURST=1 (make burst, about 2 minutes).
// FERRY_LOAD_SCALE scales the number of uploads. The release it checks is
// releaseMemoryWhenQuiet (serve.go): without it RSS stays at the burst's
// peak, 128 MiB against 19 MiB idle here.
func TestBurstMemory(t *testing.T) {
	if os.Getenv("FERRY_BURST") != "1" {
		t.Skip("memory after a burst of uploads: set FERRY_BURST=1 (make burst; about 2 minutes)")
	}
	srv := startInstanceAt(t, freeAddr(t), "--data", t.TempDir())
	pid := srv.cmd.Process.Pid
	mon := newLoadMonitor(pid, srv.url)
	defer mon.close()
	for range 5 {
		if resp, err := http.Get(srv.url + "/healthz"); err == nil {
			resp.Body.Close()
		}
	}
	time.Sleep(3 * time.Second)
	idle := mon.sample()

	n := loadScale(burstUploads)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	hc := &http.Client{Transport: loadTransport(nil, n)}
	start := time.Now()
	var wg sync.WaitGroup
	var done, failed atomic.Int64
	release := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f := newLoadFile(burstSize)
			want := f.sha256()
			<-release // all at once
			var err error
			if i%2 == 0 {
				var res client.Result
				res, err = client.Upload(ctx, f, f.size, client.Options{Server: srv.url, Name: "burst.bin", SHA256: want})
				if err == nil && (res.SHA256 != want || res.Size != f.size) {
					err = fmt.Errorf("websocket upload %s: server has sha256 %s size %d, want %s", res.ID, res.SHA256, res.Size, want)
				}
			} else {
				var id string
				if id, err = tusUploadAll(ctx, hc, srv.url, f, 1<<20); err == nil {
					var sum string
					if sum, _, err = storedSHA256(ctx, hc, srv.url, id); err == nil && sum != want {
						err = fmt.Errorf("tus upload %s: server has sha256 %s, want %s", id, sum, want)
					}
				}
			}
			if err != nil {
				failed.Add(1)
				t.Errorf("upload %d: %v", i, err)
				return
			}
			done.Add(1)
		}()
	}
	close(release)
	wg.Wait()
	hc.CloseIdleConnections()
	end := time.Now()
	peak := mon.peak(start)

	marks := []time.Duration{0, 10 * time.Second, 30 * time.Second, burstWindow}
	var lines []string
	var last loadSample
	for _, m := range marks {
		time.Sleep(time.Until(end.Add(m)))
		last = mon.sample()
		lines = append(lines, fmt.Sprintf("+%s: RSS %.1f MiB, goroutines %d, fds %d", m, float64(last.rss)/(1<<20), last.goroutines, last.fds))
	}
	t.Logf("%d uploads of %d MiB at once (half WebSocket, half tus) took %s, %d failed; idle RSS %.1f MiB, peak %.1f MiB (%d goroutines); after:\n%s\n%s",
		done.Load(), burstSize>>20, end.Sub(start).Round(time.Second), failed.Load(),
		float64(idle.rss)/(1<<20), float64(peak.rss)/(1<<20), peak.goroutines, strings.Join(lines, "\n"), burstRuntime(mon))
	if limit := idle.rss * burstFactor; last.rss > limit {
		t.Errorf("RSS %.1f MiB %s after the burst; idle was %.1f MiB (at most %d times idle: %.1f MiB)",
			float64(last.rss)/(1<<20), burstWindow, float64(idle.rss)/(1<<20), burstFactor, float64(limit)/(1<<20))
	}
}

// burstRuntime is the server's own account of its memory (the go_memstats
// and go_threads lines of /metrics), for the log.
func burstRuntime(mon *loadMonitor) string {
	resp, err := mon.hc.Get(mon.metrics)
	if err != nil {
		return err.Error()
	}
	defer resp.Body.Close()
	var out []string
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		l := sc.Text()
		if !strings.HasPrefix(l, "#") && (strings.HasPrefix(l, "go_memstats_") && strings.Contains(l, "_bytes ") || strings.HasPrefix(l, "go_threads")) {
			out = append(out, l)
		}
	}
	rollup, _ := os.ReadFile(fmt.Sprintf("/proc/%d/smaps_rollup", mon.pid))
	return strings.Join(out, "\n") + "\n" + string(rollup)
}
