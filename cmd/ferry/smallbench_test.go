//go:build linux

package main

// Small-file downloads against nginx (issue 10, target 2): the same 4 KiB
// files served by `ferry serve` (this test binary re-executed, local
// storage) and by nginx from Debian (`apt-get install -y nginx`), both on
// 127.0.0.1, hammered in turn by the same load generator: 64 keep-alive
// connections, each sending GET after GET as soon as the previous answer is
// read, for FERRY_BENCH_SMALLGET_DUR (default 3s) per server per iteration,
// the order rotating. It reports the requests per second of each and
// their ratio, and for reference the same for net/http's own
// http.FileServer (testdata/gofileserver, "gofs"): what a Go server
// reaches here with nothing but net/http. The load generator is a minimal
// HTTP/1.1 client on raw sockets (no net/http), so that it takes as little
// of the two shared cores from the servers as wrk would.
//
//	go test -run '^$' -bench 'BenchmarkSmallFileGets' -benchtime 3x ./cmd/ferry/
//
// Knobs: FERRY_BENCH_SMALLGET_CONNS (64), FERRY_BENCH_SMALLGET_SIZE (4096),
// FERRY_BENCH_SMALLGET_FILES (100), FERRY_BENCH_NGINX (the nginx binary,
// default nginx on $PATH or /usr/sbin/nginx), FERRY_BENCH_SERVER_CPUPROFILE
// (see s3bench_test.go). It skips when nginx is absent.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/ferryhq/ferry/storage"
	"github.com/ferryhq/ferry/storage/local"
)

// nginxBinary is the nginx to compare with, or a skip.
func nginxBinary(b *testing.B) string {
	b.Helper()
	if bin := os.Getenv("FERRY_BENCH_NGINX"); bin != "" {
		return bin
	}
	if bin, err := exec.LookPath("nginx"); err == nil {
		return bin
	}
	if _, err := os.Stat("/usr/sbin/nginx"); err == nil {
		return "/usr/sbin/nginx"
	}
	b.Skip("no nginx: install it with `apt-get install -y nginx` or point FERRY_BENCH_NGINX at one")
	return ""
}

// benchEnvInt reads a positive integer knob.
func benchEnvInt(b *testing.B, name string, def int) int {
	b.Helper()
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	n, err := strconv.Atoi(s)
	if err != nil || n <= 0 {
		b.Fatalf("%s=%q: want a positive integer", name, s)
	}
	return n
}

// storeSmallFiles stores n files of size random bytes in local storage at
// dir and also writes each to files/<id> under dir, nginx's copy. It returns
// the ids.
func storeSmallFiles(b *testing.B, dir string, n, size int) []string {
	b.Helper()
	store, err := local.New(local.Config{Dir: filepath.Join(dir, "data")})
	if err != nil {
		b.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "files"), 0o755); err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	ids := make([]string, n)
	for i := range ids {
		id := uuid.NewString()
		data := make([]byte, size)
		_, _ = rand.Read(data)
		sum := sha256.Sum256(data)
		w, err := store.Create(ctx, id, storage.Meta{Name: "small.bin", Size: int64(size), MIME: "application/octet-stream"})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := w.Write(data); err != nil {
			b.Fatal(err)
		}
		if _, err := w.Checkpoint(ctx, nil); err != nil {
			b.Fatal(err)
		}
		if _, err := w.Commit(ctx, hex.EncodeToString(sum[:])); err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "files", id), data, 0o644); err != nil {
			b.Fatal(err)
		}
		ids[i] = id
	}
	return ids
}

// startFileNginx runs nginx in the foreground serving dir/files/ on /files/.
func startFileNginx(b *testing.B, bin, dir string) *upServer {
	b.Helper()
	addr := freeAddr(b)
	prefix := filepath.Join(dir, "nginx")
	if err := os.MkdirAll(filepath.Join(prefix, "logs"), 0o755); err != nil {
		b.Fatal(err)
	}
	// nginx as packaged: sendfile on, no access log (ferry keeps none),
	// keep-alive connections that last the whole run. As root its workers
	// would switch to www-data, who may not read a test's temp dir.
	user := ""
	if os.Geteuid() == 0 {
		user = "user root;"
	}
	conf := fmt.Sprintf(`%s
worker_processes auto;
pid %[2]s/nginx.pid;
error_log %[2]s/logs/error.log;
events { worker_connections 4096; }
http {
	access_log off;
	sendfile on;
	tcp_nopush on;
	keepalive_requests 100000000;
	keepalive_timeout 120s;
	default_type application/octet-stream;
	client_body_temp_path %[2]s/body;
	proxy_temp_path %[2]s/proxy;
	fastcgi_temp_path %[2]s/fastcgi;
	uwsgi_temp_path %[2]s/uwsgi;
	scgi_temp_path %[2]s/scgi;
	server {
		listen %[3]s;
		location /files/ { alias %[4]s/; }
	}
}
`, user, prefix, addr, filepath.Join(dir, "files"))
	confPath := filepath.Join(prefix, "nginx.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		b.Fatal(err)
	}
	cmd := exec.Command(bin, "-p", prefix, "-c", confPath, "-g", "daemon off;")
	return startProc(b, "nginx", addr, cmd, filepath.Join(prefix, "logs", "stdout.log"), func(u string) bool {
		resp, err := http.Get(u + "/files/")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return true
	}, nil)
}

// startGoFileServer builds and runs testdata/gofileserver, net/http's own
// http.FileServer on dir/files/ (the copy nginx serves): the reference for
// what a server built on net/http reaches here.
func startGoFileServer(b *testing.B, dir string) *upServer {
	b.Helper()
	bin := filepath.Join(dir, "gofileserver")
	if out, err := exec.Command("go", "build", "-o", bin, "./testdata/gofileserver").CombinedOutput(); err != nil {
		b.Fatalf("building testdata/gofileserver: %v\n%s", err, out)
	}
	addr := freeAddr(b)
	cmd := exec.Command(bin, addr, filepath.Join(dir, "files"))
	return startProc(b, "go-fileserver", addr, cmd, filepath.Join(dir, "gofileserver.log"), func(u string) bool {
		resp, err := http.Get(u + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return true
	}, nil)
}

// getLoad has conns connections GET base+"/files/"+ids[i] round robin for
// d, each one request at a time, and returns how many answers came back.
// Every answer must be a 200 with want bytes.
func getLoad(base string, ids []string, conns int, want int, d time.Duration) (int64, error) {
	host := base[len("http://"):]
	var total atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, conns)
	stop := time.Now().Add(d)
	for c := range conns {
		wg.Go(func() {
			n, err := getLoop(host, ids, c, want, stop)
			total.Add(n)
			if err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	return total.Load(), <-errs
}

// getLoop is one connection of getLoad.
func getLoop(host string, ids []string, first, want int, stop time.Time) (int64, error) {
	conn, err := net.Dial("tcp", host)
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	reqs := make([][]byte, len(ids))
	for i, id := range ids {
		reqs[i] = []byte("GET /files/" + id + " HTTP/1.1\r\nHost: " + host + "\r\nUser-Agent: ferry-bench\r\n\r\n")
	}
	br := bufio.NewReaderSize(conn, 64<<10)
	body := make([]byte, want)
	var n int64
	for i := first; time.Now().Before(stop); i++ {
		if _, err := conn.Write(reqs[i%len(reqs)]); err != nil {
			return n, err
		}
		length, err := readHead(br)
		if err != nil {
			return n, err
		}
		if length != want {
			return n, fmt.Errorf("GET %s: %d bytes, want %d", ids[i%len(ids)], length, want)
		}
		if _, err := io.ReadFull(br, body); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

// readHead reads a response's status line and header, which must say 200
// and give a Content-Length, and returns that length.
func readHead(br *bufio.Reader) (int, error) {
	line, err := br.ReadSlice('\n')
	if err != nil {
		return 0, err
	}
	if !bytes.HasPrefix(line, []byte("HTTP/1.1 200 ")) {
		return 0, fmt.Errorf("status line %q", line)
	}
	length := -1
	for {
		line, err = br.ReadSlice('\n')
		if err != nil {
			return 0, err
		}
		if len(line) <= 2 {
			break
		}
		if k, v, ok := bytes.Cut(line, []byte(":")); ok && bytes.EqualFold(k, []byte("Content-Length")) {
			length, err = strconv.Atoi(string(bytes.TrimSpace(v)))
			if err != nil {
				return 0, fmt.Errorf("content-length %q", v)
			}
		}
	}
	if length < 0 {
		return 0, errors.New("no Content-Length")
	}
	return length, nil
}

// BenchmarkSmallFileGets: 4 KiB GETs at 64 connections, ferry against nginx.
func BenchmarkSmallFileGets(b *testing.B) {
	bin := nginxBinary(b)
	conns := benchEnvInt(b, "FERRY_BENCH_SMALLGET_CONNS", 64)
	size := benchEnvInt(b, "FERRY_BENCH_SMALLGET_SIZE", 4096)
	nfiles := benchEnvInt(b, "FERRY_BENCH_SMALLGET_FILES", 100)
	dur := 3 * time.Second
	if s := os.Getenv("FERRY_BENCH_SMALLGET_DUR"); s != "" {
		var err error
		if dur, err = time.ParseDuration(s); err != nil {
			b.Fatal(err)
		}
	}
	dir := b.TempDir()
	ids := storeSmallFiles(b, dir, nfiles, size)
	profile := os.Getenv("FERRY_BENCH_SERVER_CPUPROFILE")
	if profile != "" {
		profile += ".smallgets"
	}
	servers := [3]*upServer{
		startFerryProc(b, dir, profile, nil, "--data", filepath.Join(dir, "data"), "--max-conns-per-ip", "0"),
		startFileNginx(b, bin, dir),
		startGoFileServer(b, dir),
	}
	// Warm up: page cache, connections, both servers' first requests.
	for _, s := range servers {
		if _, err := getLoad(s.url, ids, conns, size, 300*time.Millisecond); err != nil {
			b.Fatalf("%s: %v", s.kind, err)
		}
	}
	var reqs [3]int64
	var spent [3]time.Duration
	var cpu [3]float64
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		for k := range 3 {
			j := (i + k) % 3
			cpu0 := treeCPUSeconds(servers[j].pid)
			start := time.Now()
			n, err := getLoad(servers[j].url, ids, conns, size, dur)
			spent[j] += time.Since(start)
			cpu[j] += treeCPUSeconds(servers[j].pid) - cpu0
			if err != nil {
				b.Fatalf("%s: %v", servers[j].kind, err)
			}
			reqs[j] += n
		}
		b.Logf("iteration %d: load average %s", i, loadAvg())
	}
	b.StopTimer()
	servers[0].kill() // writes the profile, if asked
	rps := func(j int) float64 { return float64(reqs[j]) / spent[j].Seconds() }
	b.ReportMetric(rps(0), "ferry-req/s")
	b.ReportMetric(rps(1), "nginx-req/s")
	b.ReportMetric(rps(0)/rps(1), "ratio")
	// Server CPU per request: what a loaded machine changes least.
	us := func(j int) float64 { return cpu[j] / float64(reqs[j]) * 1e6 }
	b.ReportMetric(us(0), "ferry-CPU-µs/req")
	b.ReportMetric(us(1), "nginx-CPU-µs/req")
	b.ReportMetric(rps(2), "gofs-req/s")
	b.ReportMetric(rps(2)/rps(1), "gofs-ratio")
	b.ReportMetric(us(2), "gofs-CPU-µs/req")
}

// treeCPUSeconds is the user+system CPU time of process pid and of its
// live children (nginx's workers).
func treeCPUSeconds(pid int) float64 {
	total, _ := cpuSeconds(pid)
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pid, pid))
	if err != nil {
		return total
	}
	for _, f := range strings.Fields(string(raw)) {
		if child, err := strconv.Atoi(f); err == nil {
			c, _ := cpuSeconds(child)
			total += c
		}
	}
	return total
}

// BenchmarkLargeFileGets: the other two download figures of issue 10
// against the same nginx: a whole file (FERRY_BENCH_LARGEGET_SIZE, default
// 1 GiB) on one connection, and 1 MiB random ranges of it from 64
// connections (256 requests a round), each through a 256 KiB buffer with
// net/http's client. nginx serves a hard link of ferry's data file, so the
// bytes and the page cache are the same.
//
//	go test -run '^$' -bench 'BenchmarkLargeFileGets' -benchtime 3x ./cmd/ferry/
func BenchmarkLargeFileGets(b *testing.B) {
	bin := nginxBinary(b)
	size := int64(benchEnvInt(b, "FERRY_BENCH_LARGEGET_SIZE", 1<<30))
	dir := b.TempDir()
	id := storeLargeFile(b, dir, size)
	servers := [2]*upServer{
		startFerryProc(b, dir, "", nil, "--data", filepath.Join(dir, "data"), "--max-conns-per-ip", "0"),
		startFileNginx(b, bin, dir),
	}
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 128, DisableCompression: true}}
	defer hc.CloseIdleConnections()
	buf := sync.Pool{New: func() any { p := make([]byte, 256<<10); return &p }}
	get := func(url, rng string, want int64) error {
		req, _ := http.NewRequest(http.MethodGet, url, nil)
		if rng != "" {
			req.Header.Set("Range", rng)
		}
		resp, err := hc.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		p := buf.Get().(*[]byte)
		defer buf.Put(p)
		n, err := io.CopyBuffer(struct{ io.Writer }{io.Discard}, resp.Body, *p)
		if err == nil && n != want {
			err = fmt.Errorf("GET %s %s: %s with %d bytes, want %d", url, rng, resp.Status, n, want)
		}
		return err
	}
	ranges := func(url string, seed uint64) error {
		var wg sync.WaitGroup
		errs := make(chan error, 64)
		for c := range 64 {
			wg.Go(func() {
				r := mrand.New(mrand.NewPCG(seed, uint64(c)))
				for range 4 {
					off := r.Int64N(size - 1<<20 + 1)
					if err := get(url, fmt.Sprintf("bytes=%d-%d", off, off+1<<20-1), 1<<20); err != nil {
						errs <- err
						return
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		return <-errs
	}
	for _, s := range servers { // warm the page cache and the connections
		if err := get(s.url+"/files/"+id, "", size); err != nil {
			b.Fatalf("%s: %v", s.kind, err)
		}
		if err := ranges(s.url+"/files/"+id, 0); err != nil {
			b.Fatalf("%s: %v", s.kind, err)
		}
	}
	var full, rng [2]time.Duration
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		for k := range 2 {
			j := (i + k) % 2
			url := servers[j].url + "/files/" + id
			start := time.Now()
			if err := get(url, "", size); err != nil {
				b.Fatalf("%s: %v", servers[j].kind, err)
			}
			full[j] += time.Since(start)
			start = time.Now()
			if err := ranges(url, uint64(i+1)); err != nil {
				b.Fatalf("%s: %v", servers[j].kind, err)
			}
			rng[j] += time.Since(start)
		}
		b.Logf("iteration %d: load average %s", i, loadAvg())
	}
	mbps := func(j int) float64 { return float64(size) * float64(b.N) / full[j].Seconds() / 1e6 }
	rps := func(j int) float64 { return float64(256*b.N) / rng[j].Seconds() }
	b.ReportMetric(mbps(0), "ferry-full-MB/s")
	b.ReportMetric(mbps(1), "nginx-full-MB/s")
	b.ReportMetric(mbps(0)/mbps(1), "full-ratio")
	b.ReportMetric(rps(0), "ferry-range-req/s")
	b.ReportMetric(rps(1), "nginx-range-req/s")
	b.ReportMetric(rps(0)/rps(1), "range-ratio")
}

// storeLargeFile stores size random-ish bytes (a 1 MiB random block over
// and over, written in 1 MiB pieces) as a completed file in local storage
// under dir/data and hard-links its data file as dir/files/<id> for nginx.
func storeLargeFile(b *testing.B, dir string, size int64) string {
	b.Helper()
	store, err := local.New(local.Config{Dir: filepath.Join(dir, "data")})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	id := uuid.NewString()
	w, err := store.Create(ctx, id, storage.Meta{Name: "big.bin", Size: size, MIME: "application/octet-stream"})
	if err != nil {
		b.Fatal(err)
	}
	block := make([]byte, 1<<20)
	_, _ = rand.Read(block)
	h := sha256.New()
	for left := size; left > 0; left -= int64(len(block)) {
		p := block[:min(left, int64(len(block)))]
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
	if err := os.MkdirAll(filepath.Join(dir, "files"), 0o755); err != nil {
		b.Fatal(err)
	}
	// The local backend keeps a file's bytes in <id>.data, somewhere under
	// its directory.
	var data string
	_ = filepath.WalkDir(filepath.Join(dir, "data"), func(path string, d fs.DirEntry, err error) error {
		if err == nil && d.Name() == id+".data" {
			data = path
		}
		return nil
	})
	if err := os.Link(data, filepath.Join(dir, "files", id)); err != nil {
		b.Fatalf("no data file of %s to link for nginx: %v", id, err)
	}
	return id
}
