package upload

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/exec"
	"path/filepath"
	rtmetrics "runtime/metrics"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/prometheus/client_golang/prometheus"
)

// childEnv makes TestHandlerChildProcess serve instead of skipping. Its value
// is "<mode> <dir>"; see serveChild for the modes.
const childEnv = "FERRY_UPLOAD_TEST_CHILD"

// TestHandlerChildProcess is not a test on its own: the crash test and the
// benchmarks run the test binary as a server process they can kill, or whose
// CPU time and memory they can measure apart from the client's. It prints
// "addr <host:port>" and serves until it is killed.
func TestHandlerChildProcess(t *testing.T) {
	mode, dir, ok := strings.Cut(os.Getenv(childEnv), " ")
	if !ok {
		t.Skip("helper process for TestHandlerSurvivesKill and the benchmarks")
	}
	mux := http.NewServeMux()
	reg := prometheus.NewRegistry()
	switch mode {
	case "ferry", "ferry-noprogress", "ferry-nocheckpoint":
		h, err := NewHandler(Config{Backend: newLocal(t, dir), Logger: quietLogger(), Registerer: reg})
		if err != nil {
			t.Fatal(err)
		}
		h.noProgress = mode == "ferry-noprogress"
		if mode == "ferry-nocheckpoint" {
			h.minCheckpoint = time.Hour // only the one before Commit
		}
		mux.Handle("/ws/upload", h)
	case "bare", "bare-fsync":
		mux.Handle("/ws/upload", bareServer{dir: dir, fsync: mode == "bare-fsync"})
	default:
		t.Fatalf("unknown mode %q", mode)
	}
	peak := &peakMemory{}
	go peak.sample()
	mux.HandleFunc("/stats", func(w http.ResponseWriter, r *http.Request) {
		st := peak.stats(r.URL.Query().Has("reset"))
		if mfs, err := reg.Gather(); err == nil {
			for _, mf := range mfs {
				if mf.GetName() == "ferry_upload_checkpoint_seconds" {
					h := mf.GetMetric()[0].GetHistogram()
					st.Checkpoints, st.CheckpointSeconds = int64(h.GetSampleCount()), h.GetSampleSum()
				}
			}
		}
		json.NewEncoder(w).Encode(st)
	})
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	fmt.Printf("addr %s\n", ln.Addr())
	t.Fatal(http.Serve(ln, mux)) // returns only on failure; SIGKILL ends it
}

// startChild runs a server process in mode on dir and returns its upload URL.
func startChild(t testing.TB, mode, dir string) (*exec.Cmd, string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHandlerChildProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), childEnv+"="+mode+" "+dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if addr, ok := strings.CutPrefix(sc.Text(), "addr "); ok {
				lines <- addr
			}
		}
	}()
	select {
	case addr := <-lines:
		return cmd, "ws://" + addr + "/ws/upload"
	case <-time.After(30 * time.Second):
		t.Fatal("server process did not start")
		return nil, ""
	}
}

// childStats is what a server process reports about itself.
type childStats struct {
	CPU       float64 // user+system seconds since the process started
	PeakRSS   int64   // bytes, since the last reset
	PeakHeap  int64   // bytes of heap objects, highest sample since the last reset
	RSS       int64   // bytes now
	Heap      int64   // bytes of heap objects now
	Goroutine int64
	// Checkpoints made so far and the time they took (ferry modes).
	Checkpoints       int64
	CheckpointSeconds float64
}

// peakMemory samples the process's memory every few milliseconds.
type peakMemory struct {
	mu       sync.Mutex
	peakHeap int64
}

var memSamples = []rtmetrics.Sample{
	{Name: "/memory/classes/heap/objects:bytes"},
	{Name: "/sched/goroutines:goroutines"},
}

func (p *peakMemory) read() (heap, goroutines int64) {
	s := append([]rtmetrics.Sample(nil), memSamples...)
	rtmetrics.Read(s)
	return int64(s[0].Value.Uint64()), int64(s[1].Value.Uint64())
}

func (p *peakMemory) sample() {
	for range time.Tick(5 * time.Millisecond) {
		heap, _ := p.read()
		p.mu.Lock()
		p.peakHeap = max(p.peakHeap, heap)
		p.mu.Unlock()
	}
}

func (p *peakMemory) stats(reset bool) childStats {
	heap, gs := p.read()
	st := childStats{
		CPU:       processCPU().Seconds(),
		Heap:      heap,
		Goroutine: gs,
	}
	status, _ := os.ReadFile("/proc/self/status")
	for _, line := range strings.Split(string(status), "\n") {
		var kb int64
		if _, err := fmt.Sscanf(line, "VmHWM: %d kB", &kb); err == nil {
			st.PeakRSS = kb << 10
		}
		if _, err := fmt.Sscanf(line, "VmRSS: %d kB", &kb); err == nil {
			st.RSS = kb << 10
		}
	}
	p.mu.Lock()
	st.PeakHeap = max(p.peakHeap, heap)
	if reset {
		p.peakHeap = heap
		// Writing 5 to clear_refs resets VmHWM to the current RSS.
		os.WriteFile("/proc/self/clear_refs", []byte("5"), 0)
	}
	p.mu.Unlock()
	return st
}

// bareServer is the benchmarks' baseline: the least a WebSocket server must
// do for the contract's upload, with nothing of ferry. It answers a start
// with "ready", writes every binary message to a file in 32 KiB writes while
// hashing it with SHA-256 on the same goroutine, and answers end with the
// digest (after fsync in the fsync variant).
type bareServer struct {
	dir   string
	fsync bool
}

func (s bareServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	up := websocket.Upgrader{ReadBufferSize: 64 << 10, WriteBufferSize: 64 << 10}
	conn, err := up.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	defer conn.Close()
	buf := make([]byte, 32<<10)
	var f *os.File
	h := sha256.New()
	for n := 0; ; n++ {
		typ, rd, err := conn.NextReader()
		if err != nil {
			return
		}
		if typ == websocket.BinaryMessage {
			if _, err := io.CopyBuffer(io.MultiWriter(f, h), rd, buf); err != nil {
				return
			}
			continue
		}
		var m struct{ Type string }
		if err := json.NewDecoder(rd).Decode(&m); err != nil {
			return
		}
		switch m.Type {
		case TypeStart:
			if f, err = os.Create(filepath.Join(s.dir, fmt.Sprintf("bare-%d", n))); err != nil {
				return
			}
			h.Reset()
			conn.WriteJSON(ServerFrame{Type: TypeReady})
		case TypeEnd:
			if s.fsync {
				f.Sync()
			}
			f.Close()
			conn.WriteJSON(ServerFrame{Type: TypeComplete, SHA256: hex.EncodeToString(h.Sum(nil))})
		}
	}
}

// quietLogger drops the server's log lines so they do not mix with the
// benchmark's output.
func quietLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }
