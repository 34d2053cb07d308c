//go:build linux

package main

// Uploads over HTTP (tus 1.0) against tusd, the reference tus server: the
// same bytes go to ferry (this test binary re-executed as `ferry serve`) and
// to tusd (a separate process, .tools/bin/tusd or $FERRY_TUSD), both on
// 127.0.0.1, in the same benchmark iteration, the order alternating. Every
// upload gets a freshly started server, so that its CPU time (utime+stime
// from /proc/<pid>/stat) and peak RSS (VmHWM) are its own. The uploader is
// Go's net/http client on one keep-alive connection with a streaming body
// (like `curl -T`), the bytes generated from a 1 MiB random block, never a
// whole file in memory or on the client's disk.
//
//	go test -run '^$' -bench 'BenchmarkTusVsTusd$' -benchtime 3x ./cmd/ferry/
//	scripts/with-minio.sh go test -run '^$' -bench 'BenchmarkTusVsTusdS3' -benchtime 3x ./cmd/ferry/
//	go test -run '^$' -bench 'BenchmarkTusSmallUploads' -benchtime 3x ./cmd/ferry/
//
// Knobs: FERRY_BENCH_TUS_SIZE (local uploads, default 1GiB),
// FERRY_BENCH_TUS_S3_SIZE (to MinIO, default 256MiB), FERRY_BENCH_TUS_CHUNK
// (the PATCH size of the chunked runs, default 8MiB), FERRY_BENCH_DIR (where
// both servers store: default the system temp dir, on this VM's disk; /dev/shm
// takes fsync out), FERRY_BENCH_SMALL_N (uploads per server per iteration,
// default 2000), FERRY_BENCH_SMALL_CLIENTS (16), FERRY_BENCH_TUSD_ARGS (extra
// tusd flags, space-separated), FERRY_BENCH_SERVER_CPUPROFILE (ferry servers
// write CPU profiles to <path>.<benchmark>[.<kind>].<iteration>).
//
// BenchmarkTusSmallUploads also uploads its small files over ferry's
// WebSocket, beside tus, in the same iterations. The benchmarks skip when
// tusd is absent. Results: docs/performance.md
// ("Uploads over HTTP (tus, IETF) vs tusd").

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/ferryhq/ferry/client"
	"github.com/gorilla/websocket"
)

// clockTicks is USER_HZ, the unit of /proc/<pid>/stat's CPU times (100 on
// every Linux this runs on).
const clockTicks = 100

// tusdBinary is the tusd to compare with, or a skip.
func tusdBinary(b *testing.B) string {
	b.Helper()
	bin := os.Getenv("FERRY_TUSD")
	if bin == "" {
		bin, _ = filepath.Abs("../../.tools/bin/tusd")
	}
	if _, err := os.Stat(bin); err != nil {
		b.Skipf("no tusd (%v): install it with `GOBIN=$PWD/.tools/bin go install github.com/tus/tusd/v2/cmd/tusd@v2.9.1` "+
			"from the repository root, or point FERRY_TUSD at one", err)
	}
	return bin
}

// upServer is one server process under measurement.
type upServer struct {
	kind string // "ferry" or "tusd"
	url  string // http://host:port
	pid  int
	kill func()
}

// startProc starts cmd (whose output goes to logPath) and waits until
// ready(url) says it serves.
func startProc(b *testing.B, kind, addr string, cmd *exec.Cmd, logPath string, ready func(string) bool, beforeKill func()) *upServer {
	b.Helper()
	logf, err := os.Create(logPath)
	if err != nil {
		b.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); logf.Close(); close(done) }()
	srv := &upServer{kind: kind, url: "http://" + addr, pid: cmd.Process.Pid}
	srv.kill = sync.OnceFunc(func() {
		if beforeKill != nil {
			beforeKill()
		}
		_ = cmd.Process.Signal(syscall.SIGKILL)
		<-done
	})
	b.Cleanup(srv.kill)
	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case <-done:
			logs, _ := os.ReadFile(logPath)
			b.Fatalf("%s exited early:\n%s", kind, logs)
		default:
		}
		if ready(srv.url) {
			return srv
		}
		if time.Now().After(deadline) {
			logs, _ := os.ReadFile(logPath)
			b.Fatalf("%s never became ready:\n%s", kind, logs)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// startFerryProc runs `ferry serve args...` (the test binary); profile, if
// not empty, is where it writes a CPU profile (see s3bench_test.go's init).
func startFerryProc(b *testing.B, logDir, profile string, env []string, args ...string) *upServer {
	b.Helper()
	addr := freeAddr(b)
	encoded, _ := json.Marshal(append([]string{"--addr", addr}, args...))
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "FERRY_E2E_SERVE=1", "FERRY_E2E_ARGS="+string(encoded),
		"FERRY_BENCH_SERVER_CPUPROFILE="+profile)
	cmd.Env = append(cmd.Env, env...)
	var beforeKill func()
	if profile != "" {
		beforeKill = func() { _ = cmd.Process.Signal(syscall.SIGUSR1); time.Sleep(time.Second) }
	}
	return startProc(b, "ferry", addr, cmd, filepath.Join(logDir, "ferry.log"), func(u string) bool {
		resp, err := http.Get(u + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	}, beforeKill)
}

// startTusdProc runs tusd on /uploads/ with args (its storage flags).
func startTusdProc(b *testing.B, bin, logDir string, env []string, args ...string) *upServer {
	b.Helper()
	addr := freeAddr(b)
	host, port, _ := net.SplitHostPort(addr)
	targs := append([]string{"-host", host, "-port", port, "-base-path", "/uploads/"}, args...)
	targs = append(targs, strings.Fields(os.Getenv("FERRY_BENCH_TUSD_ARGS"))...)
	cmd := exec.Command(bin, targs...)
	cmd.Env = append(os.Environ(), env...)
	return startProc(b, "tusd", addr, cmd, filepath.Join(logDir, "tusd.log"), func(u string) bool {
		req, _ := http.NewRequest(http.MethodOptions, u+"/uploads/", nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode < 300
	}, nil)
}

// cpuSeconds is a process's user+system CPU time so far.
func cpuSeconds(pid int) (float64, error) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// Fields after "(comm)": state is field 3, utime 14, stime 15.
	i := strings.LastIndexByte(string(raw), ')')
	f := strings.Fields(string(raw[i+1:]))
	if len(f) < 13 {
		return 0, fmt.Errorf("short /proc/%d/stat", pid)
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("bad /proc/%d/stat: %q", pid, raw)
	}
	return float64(ut+st) / clockTicks, nil
}

// genSource is the file being uploaded: size bytes repeating one random
// 1 MiB block, read from anywhere without disk or a whole copy in memory.
type genSource struct {
	block []byte
	size  int64
	sum   string // hex SHA-256 of all size bytes
}

var genSources sync.Map // size -> *genSource

func newGenSource(b *testing.B, size int64) *genSource {
	b.Helper()
	if v, ok := genSources.Load(size); ok {
		return v.(*genSource)
	}
	g := &genSource{block: make([]byte, 1<<20), size: size}
	if _, err := rand.Read(g.block); err != nil {
		b.Fatal(err)
	}
	h := sha256.New()
	if _, err := io.Copy(h, g.reader(0, size)); err != nil {
		b.Fatal(err)
	}
	g.sum = hex.EncodeToString(h.Sum(nil))
	genSources.Store(size, g)
	return g
}

// reader yields bytes [off, off+n) of the file.
func (g *genSource) reader(off, n int64) io.Reader { return &genReader{g: g, pos: off, end: off + n} }

type genReader struct {
	g        *genSource
	pos, end int64
}

func (r *genReader) Read(p []byte) (int, error) {
	if r.pos >= r.end {
		return 0, io.EOF
	}
	bl := int64(len(r.g.block))
	k := copy(p, r.g.block[r.pos%bl:])
	if rest := r.end - r.pos; int64(k) > rest {
		k = int(rest)
	}
	r.pos += int64(k)
	return k, nil
}

// benchHTTPClient is one uploader: conns keep-alive connections (1 for a
// single upload), 64 KiB buffers.
func benchHTTPClient(conns int) *http.Client {
	return &http.Client{Transport: &http.Transport{
		DisableCompression: true, MaxConnsPerHost: conns, MaxIdleConnsPerHost: conns,
		WriteBufferSize: 64 << 10, ReadBufferSize: 64 << 10,
	}}
}

func drain(resp *http.Response) {
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
}

var tusFilename = "filename " + base64.StdEncoding.EncodeToString([]byte("bench.bin"))

// tusUpload uploads g through the tus server at base: a creation, then
// PATCHes of chunk bytes (chunk <= 0: the whole file in one). It returns the
// upload's URL.
func tusUpload(hc *http.Client, base string, g *genSource, chunk int64) (string, error) {
	req, _ := http.NewRequest(http.MethodPost, base+"/uploads/", nil)
	req.Header.Set("Tus-Resumable", "1.0.0")
	req.Header.Set("Upload-Length", strconv.FormatInt(g.size, 10))
	req.Header.Set("Upload-Metadata", tusFilename)
	resp, err := hc.Do(req)
	if err != nil {
		return "", err
	}
	drain(resp)
	if resp.StatusCode != http.StatusCreated {
		return "", fmt.Errorf("POST: %s", resp.Status)
	}
	baseURL, _ := url.Parse(base)
	locURL, err := baseURL.Parse(resp.Header.Get("Location"))
	if err != nil {
		return "", fmt.Errorf("POST: Location %q: %v", resp.Header.Get("Location"), err)
	}
	loc := locURL.String()
	for off := int64(0); off < g.size; {
		n := g.size - off
		if chunk > 0 && n > chunk {
			n = chunk
		}
		req, _ := http.NewRequest(http.MethodPatch, loc, io.NopCloser(g.reader(off, n)))
		req.ContentLength = n
		req.Header.Set("Tus-Resumable", "1.0.0")
		req.Header.Set("Upload-Offset", strconv.FormatInt(off, 10))
		req.Header.Set("Content-Type", "application/offset+octet-stream")
		resp, err := hc.Do(req)
		if err != nil {
			return loc, err
		}
		drain(resp)
		if resp.StatusCode != http.StatusNoContent {
			return loc, fmt.Errorf("PATCH at %d: %s", off, resp.Status)
		}
		off += n
		if got := resp.Header.Get("Upload-Offset"); got != strconv.FormatInt(off, 10) {
			return loc, fmt.Errorf("PATCH: Upload-Offset %s, want %d", got, off)
		}
	}
	return loc, nil
}

// ferryStoredSHA256 asks ferry's API for a completed upload's digest.
func ferryStoredSHA256(base, loc string) (string, error) {
	id := loc[strings.LastIndexByte(loc, '/')+1:]
	resp, err := http.Get(base + "/api/files/" + id)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var f struct {
		SHA256 string `json:"sha256"`
		Size   int64  `json:"size"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&f); err != nil || resp.StatusCode != 200 {
		return "", fmt.Errorf("GET /api/files/%s: %s, %v", id, resp.Status, err)
	}
	return f.SHA256, nil
}

// serverRun is what one upload to one fresh server measured.
type serverRun struct {
	mbps, cpuPerGiB, rssMiB float64
	// clientCPUPerGiB is the uploader's (this process's) CPU time.
	clientCPUPerGiB float64
	// syncedMBps counts, for tusd on local disk, the upload and then an
	// fdatasync of its data file: tusd answers before its bytes are
	// durable, ferry after.
	syncedMBps float64
}

// tusScenario compares ferry and tusd on one kind of upload.
type tusScenario struct {
	size, chunk int64
	// start starts a fresh server of kind ("ferry" or "tusd") storing in
	// dir; cleanup, if not nil, deletes what one upload left at loc.
	start   func(b *testing.B, kind, dir, profile string) *upServer
	cleanup func(b *testing.B, srv *upServer, loc string)
	// tusdFile, if not nil, is where tusd stored the upload at loc.
	tusdFile func(dir, loc string) string
}

func benchDir(b *testing.B) string {
	b.Helper()
	dir, err := os.MkdirTemp(os.Getenv("FERRY_BENCH_DIR"), "tusbench-")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

func (sc tusScenario) run(b *testing.B) {
	g := newGenSource(b, sc.size)
	root := benchDir(b)
	profile := os.Getenv("FERRY_BENCH_SERVER_CPUPROFILE")
	runs := map[string][]serverRun{}
	var ratios, cpuRatios, syncedRatios, synced []float64

	one := func(kind string, i int) serverRun {
		dir, err := os.MkdirTemp(root, kind+"-")
		if err != nil {
			b.Fatal(err)
		}
		prof := ""
		if profile != "" && kind == "ferry" {
			prof = fmt.Sprintf("%s.%s.%d", profile, strings.ReplaceAll(b.Name(), "/", "_"), i)
		}
		srv := sc.start(b, kind, dir, prof)
		settle()
		hc := benchHTTPClient(1)
		defer hc.CloseIdleConnections()
		cpu0, err := cpuSeconds(srv.pid)
		if err != nil {
			b.Fatal(err)
		}
		self0 := selfCPUSeconds()
		b.StartTimer()
		start := time.Now()
		loc, err := tusUpload(hc, srv.url, g, sc.chunk)
		d := time.Since(start)
		b.StopTimer()
		clientCPU := selfCPUSeconds() - self0
		if err != nil {
			b.Fatalf("%s: %v", kind, err)
		}
		cpu1, err := cpuSeconds(srv.pid)
		if err != nil {
			b.Fatal(err)
		}
		gib := float64(sc.size) / (1 << 30)
		run := serverRun{mbps: mbps(sc.size, d), clientCPUPerGiB: clientCPU / gib}
		if kind == "tusd" && sc.tusdFile != nil {
			start := time.Now()
			if err := fdatasyncFile(sc.tusdFile(dir, loc)); err != nil {
				b.Fatal(err)
			}
			run.syncedMBps = mbps(sc.size, d+time.Since(start))
		}
		hwm, err := procStatusKiB(srv.pid, "VmHWM")
		if err != nil {
			b.Fatal(err)
		}
		if kind == "ferry" {
			sum, err := ferryStoredSHA256(srv.url, loc)
			if err != nil || sum != g.sum {
				b.Fatalf("ferry stored sha256 %q (%v), want %s", sum, err, g.sum)
			}
		}
		if sc.cleanup != nil {
			sc.cleanup(b, srv, loc)
		}
		srv.kill()
		os.RemoveAll(dir)
		run.cpuPerGiB = (cpu1 - cpu0) / gib
		run.rssMiB = float64(hwm) / 1024
		return run
	}

	b.ResetTimer()
	b.StopTimer()
	for i := 0; i < b.N; i++ {
		order := []string{"ferry", "tusd"}
		if i%2 == 1 {
			order = []string{"tusd", "ferry"}
		}
		got := map[string]serverRun{}
		for _, kind := range order {
			got[kind] = one(kind, i)
			runs[kind] = append(runs[kind], got[kind])
		}
		f, t := got["ferry"], got["tusd"]
		ratios = append(ratios, f.mbps/t.mbps)
		cpuRatios = append(cpuRatios, f.cpuPerGiB/t.cpuPerGiB)
		b.Logf("iter %d: ferry %.0f MB/s %.2f CPU-s/GiB %.1f MiB | tusd %.0f MB/s %.2f CPU-s/GiB %.1f MiB | ratio %.2f, CPU %.2f (load %s)",
			i, f.mbps, f.cpuPerGiB, f.rssMiB, t.mbps, t.cpuPerGiB, t.rssMiB, ratios[i], cpuRatios[i], loadAvg())
		if t.syncedMBps > 0 {
			synced = append(synced, t.syncedMBps)
			syncedRatios = append(syncedRatios, f.mbps/t.syncedMBps)
			b.Logf("iter %d: tusd then fdatasync of its file %.0f MB/s, ferry/that %.2f", i, t.syncedMBps, syncedRatios[len(syncedRatios)-1])
		}
	}
	if len(synced) > 0 {
		b.ReportMetric(median(synced), "tusd+sync-MB/s")
		b.ReportMetric(median(syncedRatios), "ferry/tusd+sync")
	}
	for _, kind := range []string{"ferry", "tusd"} {
		var m, c, r, cc []float64
		for _, x := range runs[kind] {
			m, c, r, cc = append(m, x.mbps), append(c, x.cpuPerGiB), append(r, x.rssMiB), append(cc, x.clientCPUPerGiB)
		}
		b.ReportMetric(median(cc), "client-CPU-s/GiB-"+kind)
		b.ReportMetric(median(m), kind+"-MB/s")
		b.ReportMetric(median(c), kind+"-CPU-s/GiB")
		b.ReportMetric(median(r), kind+"-peakRSS-MiB")
	}
	b.ReportMetric(median(ratios), "ferry/tusd")
	b.ReportMetric(median(cpuRatios), "ferry/tusd-CPU")
}

// loadAvg is the 1-minute load average, to print beside the figures.
func loadAvg() string {
	raw, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	return strings.Fields(string(raw))[0]
}

// localScenario: ferry on local storage in dir, tusd's filestore in dir.
func localScenario(b *testing.B, size, chunk int64) tusScenario {
	bin := tusdBinary(b)
	return tusScenario{size: size, chunk: chunk,
		start: func(b *testing.B, kind, dir, profile string) *upServer {
			if kind == "ferry" {
				return startFerryProc(b, dir, profile, nil, "--data", filepath.Join(dir, "data"))
			}
			return startTusdProc(b, bin, dir, nil, "-upload-dir", filepath.Join(dir, "data"))
		},
		tusdFile: func(dir, loc string) string {
			return filepath.Join(dir, "data", loc[strings.LastIndexByte(loc, '/')+1:])
		}}
}

// selfCPUSeconds is this process's user+system CPU time so far.
func selfCPUSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

// fdatasyncFile makes a file's data durable, as ferry does before it
// answers the last PATCH.
func fdatasyncFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return syscall.Fdatasync(int(f.Fd()))
}

// BenchmarkTusVsTusd: a 1 GiB file (FERRY_BENCH_TUS_SIZE) in one PATCH and
// in 8 MiB PATCHes (tus-js-client's usual chunking), ferry on local storage
// against tusd's filestore, both storing in the same directory tree.
func BenchmarkTusVsTusd(b *testing.B) {
	size := benchEnvSize(b, "FERRY_BENCH_TUS_SIZE", 1<<30)
	chunk := benchEnvSize(b, "FERRY_BENCH_TUS_CHUNK", 8<<20)
	b.Run("one-patch", func(b *testing.B) { localScenario(b, size, 0).run(b) })
	b.Run("patches", func(b *testing.B) { localScenario(b, size, chunk).run(b) })
}

// BenchmarkTusVsTusdS3: 256 MiB (FERRY_BENCH_TUS_S3_SIZE) to the MinIO of
// scripts/with-minio.sh, ferry --storage s3 against tusd's s3store (its
// defaults: 50 MiB preferred parts, 10 concurrent part uploads, MD5 and
// SHA-256 of every part), in one PATCH and in 8 MiB PATCHes.
func BenchmarkTusVsTusdS3(b *testing.B) {
	bin := tusdBinary(b)
	s := benchMinio(b)
	size := benchEnvSize(b, "FERRY_BENCH_TUS_S3_SIZE", 256<<20)
	chunk := benchEnvSize(b, "FERRY_BENCH_TUS_CHUNK", 8<<20)
	sc := func(b *testing.B, chunk int64) tusScenario {
		tusdBucket := s.bucket(b, "tusd-bench")
		return tusScenario{size: size, chunk: chunk,
			start: func(b *testing.B, kind, dir, profile string) *upServer {
				if kind == "ferry" {
					bucket := fmt.Sprintf("ferry-tusbench-%d", time.Now().UnixNano())
					return startFerryProc(b, dir, profile,
						[]string{"FERRY_S3_ACCESS_KEY=" + s.access, "FERRY_S3_SECRET_KEY=" + s.secret},
						"--storage", "s3", "--s3-endpoint", s.endpoint, "--s3-insecure",
						"--s3-bucket", bucket, "--s3-create-bucket")
				}
				return startTusdProc(b, bin, dir,
					[]string{"AWS_ACCESS_KEY_ID=" + s.access, "AWS_SECRET_ACCESS_KEY=" + s.secret, "AWS_REGION=us-east-1"},
					"-s3-bucket", tusdBucket, "-s3-endpoint", "http://"+s.endpoint, "-s3-disable-ssl")
			},
			cleanup: func(b *testing.B, srv *upServer, loc string) {
				req, _ := http.NewRequest(http.MethodDelete, loc, nil)
				req.Header.Set("Tus-Resumable", "1.0.0")
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					b.Logf("%s: DELETE %s: %v", srv.kind, loc, err)
					return
				}
				drain(resp)
				if resp.StatusCode != http.StatusNoContent {
					b.Logf("%s: DELETE %s: %s", srv.kind, loc, resp.Status)
				}
			}}
	}
	b.Run("one-patch", func(b *testing.B) { sc(b, 0).run(b) })
	b.Run("patches", func(b *testing.B) { sc(b, chunk).run(b) })
}

// BenchmarkTusSmallUploads (issue 10, target 3): 4 KiB files from 16
// parallel clients, one file after another on each; uploads per second and
// server CPU per upload, ferry on local storage against tusd's filestore, in
// the same iteration, each server fresh and each kind first in turn:
//   - tusd and ferry-tus: one tus creation-with-upload request per file (POST
//     with the whole body), each client on its own keep-alive connection;
//   - ferry-ws: each client holds one WebSocket and, per file, sends start,
//     one binary message and end, and waits for complete (docs/protocol.md
//     lets a connection carry one upload after another).
func BenchmarkTusSmallUploads(b *testing.B) {
	bin := tusdBinary(b)
	total := int(benchEnvSize(b, "FERRY_BENCH_SMALL_N", 2000))
	clients := int(benchEnvSize(b, "FERRY_BENCH_SMALL_CLIENTS", 16))
	const size = 4 << 10
	body := make([]byte, size)
	if _, err := rand.Read(body); err != nil {
		b.Fatal(err)
	}
	sum := sha256.Sum256(body)
	bodySum := hex.EncodeToString(sum[:])
	root := benchDir(b)
	kinds := []string{"ferry-ws", "ferry-tus", "tusd"}
	rates := map[string][]float64{}
	cpus := map[string][]float64{}
	var wsRatios, tusRatios []float64

	profile := os.Getenv("FERRY_BENCH_SERVER_CPUPROFILE")
	one := func(kind string, i int) (rate, cpuMs float64) {
		dir, err := os.MkdirTemp(root, kind+"-")
		if err != nil {
			b.Fatal(err)
		}
		var srv *upServer
		if kind == "tusd" {
			srv = startTusdProc(b, bin, dir, nil, "-upload-dir", filepath.Join(dir, "data"))
		} else {
			prof := ""
			if profile != "" {
				prof = fmt.Sprintf("%s.%s.%s.%d", profile, strings.ReplaceAll(b.Name(), "/", "_"), kind, i)
			}
			srv = startFerryProc(b, dir, prof, nil, "--data", filepath.Join(dir, "data"))
		}
		settle()
		hc := benchHTTPClient(clients)
		defer hc.CloseIdleConnections()
		var next atomic.Int64
		errs := make(chan error, clients)
		cpu0, _ := cpuSeconds(srv.pid)
		b.StartTimer()
		start := time.Now()
		var wg sync.WaitGroup
		for range clients {
			wg.Go(func() {
				if kind == "ferry-ws" {
					if err := wsSmallUploads(srv.url, body, bodySum, func() bool { return next.Add(1) <= int64(total) }); err != nil {
						errs <- err
					}
					return
				}
				for next.Add(1) <= int64(total) {
					req, _ := http.NewRequestWithContext(context.Background(), http.MethodPost, srv.url+"/uploads/", bytes.NewReader(body))
					req.Header.Set("Tus-Resumable", "1.0.0")
					req.Header.Set("Upload-Length", strconv.Itoa(size))
					req.Header.Set("Upload-Metadata", tusFilename)
					req.Header.Set("Content-Type", "application/offset+octet-stream")
					resp, err := hc.Do(req)
					if err != nil {
						errs <- err
						return
					}
					drain(resp)
					if resp.StatusCode != http.StatusCreated || resp.Header.Get("Upload-Offset") != strconv.Itoa(size) {
						errs <- fmt.Errorf("%s: POST: %s, Upload-Offset %q", kind, resp.Status, resp.Header.Get("Upload-Offset"))
						return
					}
				}
			})
		}
		wg.Wait()
		d := time.Since(start)
		b.StopTimer()
		cpu1, _ := cpuSeconds(srv.pid)
		srv.kill()
		os.RemoveAll(dir)
		select {
		case err := <-errs:
			b.Fatalf("%s: %v", kind, err)
		default:
		}
		return float64(total) / d.Seconds(), (cpu1 - cpu0) * 1000 / float64(total)
	}

	b.ResetTimer()
	b.StopTimer()
	for i := 0; i < b.N; i++ {
		order := append(append([]string(nil), kinds[i%3:]...), kinds[:i%3]...)
		got := map[string]float64{}
		for _, kind := range order {
			r, c := one(kind, i)
			got[kind] = r
			rates[kind] = append(rates[kind], r)
			cpus[kind] = append(cpus[kind], c)
			b.Logf("iter %d: %s %.0f uploads/s, %.2f CPU-ms per upload (load %s)", i, kind, r, c, loadAvg())
		}
		wsRatios = append(wsRatios, got["ferry-ws"]/got["tusd"])
		tusRatios = append(tusRatios, got["ferry-tus"]/got["tusd"])
		b.Logf("iter %d: ws/tusd %.2f, tus/tusd %.2f", i, wsRatios[i], tusRatios[i])
	}
	for _, kind := range kinds {
		b.ReportMetric(median(rates[kind]), kind+"-uploads/s")
		b.ReportMetric(median(cpus[kind]), kind+"-CPU-ms/upload")
	}
	b.ReportMetric(median(wsRatios), "ws/tusd")
	b.ReportMetric(median(tusRatios), "tus/tusd")
}

// wsSmallUploads uploads body over one WebSocket to ferry at base, one file
// after another while more() says so: start, one binary message, end, and
// the complete frame (progress frames in between are skipped), checking the
// digest the server computed.
func wsSmallUploads(base string, body []byte, sum string, more func() bool) error {
	d := websocket.Dialer{Subprotocols: []string{client.Subprotocol}}
	ws, resp, err := d.Dial("ws"+strings.TrimPrefix(base, "http")+"/ws/upload", nil)
	if err != nil {
		return fmt.Errorf("dial: %v", err)
	}
	resp.Body.Close()
	defer ws.Close()
	type frame struct {
		Type, ID, SHA256, Code, Message string
	}
	await := func(want string) (frame, error) {
		for {
			var f frame
			if err := ws.ReadJSON(&f); err != nil {
				return f, err
			}
			switch f.Type {
			case "progress":
				continue
			case want:
				return f, nil
			}
			return f, fmt.Errorf("got %+v, want %s", f, want)
		}
	}
	for more() {
		if err := ws.WriteJSON(map[string]any{"type": "start", "name": "bench.bin", "size": len(body)}); err != nil {
			return err
		}
		if _, err := await("ready"); err != nil {
			return fmt.Errorf("start: %v", err)
		}
		if err := ws.WriteMessage(websocket.BinaryMessage, body); err != nil {
			return err
		}
		if err := ws.WriteJSON(map[string]string{"type": "end"}); err != nil {
			return err
		}
		f, err := await("complete")
		if err != nil {
			return fmt.Errorf("end: %v", err)
		}
		if f.SHA256 != sum {
			return fmt.Errorf("upload %s: sha256 %s, want %s", f.ID, f.SHA256, sum)
		}
	}
	return ws.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""))
}

// ReadAt reads bytes of the file at off, so the WebSocket client can send it.
func (g *genSource) ReadAt(p []byte, off int64) (int, error) {
	if off >= g.size {
		return 0, io.EOF
	}
	n, _ := io.ReadFull(g.reader(off, int64(len(p))), p)
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// shaAloneCPU hashes the file's size bytes with SHA-256 on one goroutine,
// 256 KiB at a time from a ring of buffers larger than the L2 cache (the
// server's pieces are not in cache either), and returns the CPU-seconds it
// took: the part of an upload's cost the contract's digest accounts for.
func shaAloneCPU(g *genSource) float64 {
	const piece = 256 << 10
	ring := make([][]byte, 16)
	for i := range ring {
		ring[i] = make([]byte, piece)
		_, _ = io.ReadFull(g.reader(int64(i)*piece, piece), ring[i])
	}
	h := sha256.New()
	c0 := selfCPUSeconds()
	for n, i := int64(0), 0; n < g.size; n, i = n+piece, i+1 {
		h.Write(ring[i%len(ring)][:min(piece, g.size-n)])
	}
	h.Sum(nil)
	return selfCPUSeconds() - c0
}

// BenchmarkUploadCPU (issue 10, target 5): server CPU-seconds per GiB for
// one 1 GiB upload (FERRY_BENCH_TUS_SIZE), ferry over the WebSocket (the Go
// client, 1 MiB messages) and over tus in one PATCH, against tusd's
// filestore in one PATCH and SHA-256 alone, all in the same iteration, each
// server fresh and each kind first in turn. The
// target is ferry <= 1.1 x (tusd + SHA-256 alone): what ferry does beyond
// the digest the contract requires should cost what tusd costs. Storage is
// FERRY_BENCH_DIR (default the temp dir on disk; /dev/shm, tmpfs, keeps the
// kernel's writeback out of the servers' CPU time).
func BenchmarkUploadCPU(b *testing.B) {
	bin := tusdBinary(b)
	size := benchEnvSize(b, "FERRY_BENCH_TUS_SIZE", 1<<30)
	g := newGenSource(b, size)
	root := benchDir(b)
	profile := os.Getenv("FERRY_BENCH_SERVER_CPUPROFILE")
	gib := float64(size) / (1 << 30)
	kinds := []string{"ferry-ws", "ferry-tus", "tusd"}
	cpu := map[string][]float64{}
	rate := map[string][]float64{}
	var sha, wsRatio, tusRatio []float64

	one := func(kind string, i int) (cpuPerGiB, mb float64) {
		dir, err := os.MkdirTemp(root, kind+"-")
		if err != nil {
			b.Fatal(err)
		}
		defer os.RemoveAll(dir)
		var srv *upServer
		if kind == "tusd" {
			srv = startTusdProc(b, bin, dir, nil, "-upload-dir", filepath.Join(dir, "data"))
		} else {
			prof := ""
			if profile != "" {
				prof = fmt.Sprintf("%s.%s.%s.%d", profile, strings.ReplaceAll(b.Name(), "/", "_"), kind, i)
			}
			srv = startFerryProc(b, dir, prof, nil, "--data", filepath.Join(dir, "data"))
		}
		defer srv.kill()
		settle()
		cpu0, err := cpuSeconds(srv.pid)
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		start := time.Now()
		if kind == "ferry-ws" {
			var res client.Result
			res, err = client.Upload(context.Background(), g, size, client.Options{Server: srv.url, Name: "bench.bin", SHA256: g.sum})
			if err == nil && res.SHA256 != g.sum {
				err = fmt.Errorf("stored sha256 %s, want %s", res.SHA256, g.sum)
			}
		} else {
			hc := benchHTTPClient(1)
			_, err = tusUpload(hc, srv.url, g, 0)
			hc.CloseIdleConnections()
		}
		d := time.Since(start)
		b.StopTimer()
		if err != nil {
			b.Fatalf("%s: %v", kind, err)
		}
		cpu1, err := cpuSeconds(srv.pid)
		if err != nil {
			b.Fatal(err)
		}
		return (cpu1 - cpu0) / gib, mbps(size, d)
	}

	b.ResetTimer()
	b.StopTimer()
	for i := 0; i < b.N; i++ {
		got := map[string]float64{}
		// The first upload after the SHA-256 step costs more (the VM has had
		// longer to hand freed memory back to its host): each kind goes
		// first in turn, so a run of 3 iterations is fair to all.
		order := append(append([]string(nil), kinds[i%3:]...), kinds[:i%3]...)
		for _, kind := range order {
			c, m := one(kind, i)
			got[kind] = c
			cpu[kind], rate[kind] = append(cpu[kind], c), append(rate[kind], m)
		}
		s := shaAloneCPU(g) / gib
		sha = append(sha, s)
		base := got["tusd"] + s
		wsRatio = append(wsRatio, got["ferry-ws"]/base)
		tusRatio = append(tusRatio, got["ferry-tus"]/base)
		b.Logf("iter %d: CPU-s/GiB ferry-ws %.2f, ferry-tus %.2f, tusd %.2f, SHA-256 alone %.2f | ferry/(tusd+sha) ws %.2f, tus %.2f (load %s)",
			i, got["ferry-ws"], got["ferry-tus"], got["tusd"], s, wsRatio[i], tusRatio[i], loadAvg())
	}
	for _, kind := range kinds {
		b.ReportMetric(median(cpu[kind]), kind+"-CPU-s/GiB")
		b.ReportMetric(median(rate[kind]), kind+"-MB/s")
	}
	b.ReportMetric(median(sha), "sha256-CPU-s/GiB")
	b.ReportMetric(median(wsRatio), "ws/(tusd+sha)")
	b.ReportMetric(median(tusRatio), "tus/(tusd+sha)")
}
