//go:build linux

package main

// End-to-end S3 benchmarks: ferry serving from a real MinIO (the one
// scripts/with-minio.sh starts) against minio-go talking to the same MinIO
// directly, measured in the same iteration in alternating order. The ferry
// server is a separate process (this test binary re-executed through
// TestMain), so that its RSS can be read from /proc, unless
// FERRY_BENCH_INPROC=1 runs it in-process (for -cpuprofile to see the server).
//
//	scripts/with-minio.sh go test -run '^$' -bench 'BenchmarkS3' -benchtime 3x -count 3 ./cmd/ferry/
//
// Sizes: FERRY_BENCH_SIZE (upload/download, default 256MiB),
// FERRY_BENCH_CONC_SIZE (each concurrent upload, default 24MiB),
// FERRY_BENCH_CONC (number of concurrent uploads, default 50).
// Results and how to read them: docs/performance.md (S3 end to end).

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"runtime/pprof"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/ferryhq/ferry/client"
)

const benchPause = 2 * time.Second

// A ferry server process started by these benchmarks writes a CPU profile to
// $FERRY_BENCH_SERVER_CPUPROFILE when set (with FERRY_BENCH_SERVER_CPUPROFILE
// given to the benchmark), finished on SIGUSR1 before the process is killed.
func init() {
	path := os.Getenv("FERRY_BENCH_SERVER_CPUPROFILE")
	if os.Getenv("FERRY_E2E_SERVE") != "1" || path == "" {
		return
	}
	f, err := os.Create(path)
	if err != nil {
		fmt.Fprintln(os.Stderr, "server cpuprofile:", err)
		return
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		fmt.Fprintln(os.Stderr, "server cpuprofile:", err)
		return
	}
	usr1 := make(chan os.Signal, 1)
	signal.Notify(usr1, syscall.SIGUSR1)
	go func() {
		<-usr1
		pprof.StopCPUProfile()
		f.Close()
	}()
}

// benchS3 is the MinIO the benchmarks use; they skip without one.
type benchS3 struct {
	endpoint, access, secret string
	client                   *minio.Client
}

func benchMinio(b *testing.B) *benchS3 {
	b.Helper()
	s := &benchS3{
		endpoint: os.Getenv("FERRY_TEST_S3_ENDPOINT"),
		access:   os.Getenv("FERRY_TEST_S3_ACCESS_KEY"),
		secret:   os.Getenv("FERRY_TEST_S3_SECRET_KEY"),
	}
	if s.endpoint == "" {
		b.Skip("no MinIO: FERRY_TEST_S3_ENDPOINT is not set (run through scripts/with-minio.sh)")
	}
	c, err := minio.New(s.endpoint, &minio.Options{Creds: credentials.NewStaticV4(s.access, s.secret, "")})
	if err != nil {
		b.Fatal(err)
	}
	s.client = c
	return s
}

// bucket makes a fresh bucket for minio-go's baseline objects and removes it
// (with its objects) when the benchmark ends.
func (s *benchS3) bucket(b *testing.B, prefix string) string {
	b.Helper()
	name := fmt.Sprintf("%s-%d", prefix, time.Now().UnixNano())
	if err := s.client.MakeBucket(context.Background(), name, minio.MakeBucketOptions{}); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		ctx := context.Background()
		for obj := range s.client.ListObjects(ctx, name, minio.ListObjectsOptions{Recursive: true}) {
			if obj.Err == nil {
				_ = s.client.RemoveObject(ctx, name, obj.Key, minio.RemoveObjectOptions{})
			}
		}
		_ = s.client.RemoveBucket(ctx, name)
	})
	return name
}

// benchServer is a ferry server on S3 for a benchmark.
type benchServer struct {
	url  string
	pid  int // 0 when in-process
	kill func()
}

// startBenchServer runs `ferry serve` on a fresh bucket of s, as a separate
// process unless inproc. It is stopped when the benchmark ends, or earlier
// by calling kill.
func startBenchServer(b *testing.B, s *benchS3, inproc bool) *benchServer {
	b.Helper()
	addr := freeAddr(b)
	bucket := fmt.Sprintf("ferry-bench-%d", time.Now().UnixNano())
	args := []string{"--addr", addr, "--storage", "s3", "--s3-endpoint", s.endpoint, "--s3-insecure",
		"--s3-bucket", bucket, "--s3-create-bucket"}
	// FERRY_BENCH_S3_ARGS adds serve flags, e.g. --s3-hide-parts to measure
	// without staging parts for live follow.
	args = append(args, strings.Fields(os.Getenv("FERRY_BENCH_S3_ARGS"))...)
	srv := &benchServer{url: "http://" + addr}
	logs := &syncBuffer{}
	done := make(chan struct{})
	if inproc {
		b.Setenv("FERRY_S3_ACCESS_KEY", s.access)
		b.Setenv("FERRY_S3_SECRET_KEY", s.secret)
		ctx, cancel := context.WithCancel(context.Background())
		go func() {
			if err := runServe(ctx, args, io.Discard, logs); err != nil {
				fmt.Fprintln(logs, "serve:", err)
			}
			close(done)
		}()
		srv.kill = sync.OnceFunc(func() { cancel(); <-done })
	} else {
		encoded, _ := json.Marshal(args)
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), "FERRY_E2E_SERVE=1", "FERRY_E2E_ARGS="+string(encoded),
			"FERRY_S3_ACCESS_KEY="+s.access, "FERRY_S3_SECRET_KEY="+s.secret)
		cmd.Stdout, cmd.Stderr = logs, logs
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		go func() { _ = cmd.Wait(); close(done) }()
		srv.pid = cmd.Process.Pid
		srv.kill = sync.OnceFunc(func() {
			if os.Getenv("FERRY_BENCH_SERVER_CPUPROFILE") != "" {
				_ = cmd.Process.Signal(syscall.SIGUSR1)
				time.Sleep(time.Second)
			}
			_ = cmd.Process.Signal(syscall.SIGKILL)
			<-done
		})
	}
	b.Cleanup(srv.kill)
	waitHealthy(b, srv.url, done, logs)
	return srv
}

// remove deletes an uploaded file through the API.
func (srv *benchServer) remove(b *testing.B, id string) {
	b.Helper()
	req, _ := http.NewRequest(http.MethodDelete, srv.url+"/api/files/"+id, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		b.Fatalf("DELETE %s: %s", id, resp.Status)
	}
}

func benchEnvSize(b *testing.B, name string, def int64) int64 {
	b.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	var n byteSize
	if err := n.Set(v); err != nil {
		b.Fatalf("%s: %v", name, err)
	}
	return int64(n)
}

// benchData caches random payloads across the benchmark's N=1 probe run and
// its real run.
var benchData = struct {
	sync.Mutex
	m map[int64][2]any
}{m: map[int64][2]any{}}

func benchRandom(b *testing.B, n int64) ([]byte, string) {
	b.Helper()
	benchData.Lock()
	defer benchData.Unlock()
	if v, ok := benchData.m[n]; ok {
		return v[0].([]byte), v[1].(string)
	}
	data := make([]byte, n)
	if _, err := rand.Read(data); err != nil {
		b.Fatal(err)
	}
	sum := sha256.Sum256(data)
	hexSum := hex.EncodeToString(sum[:])
	benchData.m = map[int64][2]any{n: {data, hexSum}} // keep one payload at a time
	return data, hexSum
}

// settle lets the VM's writeback and memory return finish between measured
// transfers (see docs/performance.md).
func settle() {
	syscall.Sync()
	time.Sleep(benchPause)
}

func mbps(bytes int64, d time.Duration) float64 { return float64(bytes) / 1e6 / d.Seconds() }

func median(xs []float64) float64 {
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	if len(s) == 0 {
		return 0
	}
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// BenchmarkS3UploadThroughFerry: client.Upload through a ferry process on
// MinIO against minio-go PutObject (default options) of the same bytes to
// the same MinIO, alternating which goes first.
func BenchmarkS3UploadThroughFerry(b *testing.B) {
	s := benchMinio(b)
	size := benchEnvSize(b, "FERRY_BENCH_SIZE", 256<<20)
	data, sum := benchRandom(b, size)
	srv := startBenchServer(b, s, os.Getenv("FERRY_BENCH_INPROC") == "1")
	bucket := s.bucket(b, "bench-put")
	ctx := context.Background()

	var ferryDur, putDur time.Duration
	var ratios []float64
	b.ResetTimer()
	b.StopTimer()
	for i := 0; i < b.N; i++ {
		var fd, pd time.Duration
		var id string
		runFerry := func() {
			settle()
			b.StartTimer()
			start := time.Now()
			res, err := client.Upload(ctx, bytes.NewReader(data), size, client.Options{
				Server: srv.url, Name: fmt.Sprintf("bench-%d.bin", i), SHA256: sum,
			})
			fd = time.Since(start)
			b.StopTimer()
			if err != nil {
				b.Fatal(err)
			}
			if res.SHA256 != sum || res.Size != size {
				b.Fatalf("stored %s/%d, want %s/%d", res.SHA256, res.Size, sum, size)
			}
			id = res.ID
		}
		runPut := func() {
			settle()
			b.StartTimer()
			start := time.Now()
			_, err := s.client.PutObject(ctx, bucket, "obj", bytes.NewReader(data), size, minio.PutObjectOptions{})
			pd = time.Since(start)
			b.StopTimer()
			if err != nil {
				b.Fatal(err)
			}
		}
		if i%2 == 0 {
			runFerry()
			runPut()
		} else {
			runPut()
			runFerry()
		}
		srv.remove(b, id)
		if err := s.client.RemoveObject(ctx, bucket, "obj", minio.RemoveObjectOptions{}); err != nil {
			b.Fatal(err)
		}
		ferryDur += fd
		putDur += pd
		ratios = append(ratios, mbps(size, fd)/mbps(size, pd))
		b.Logf("iter %d: ferry %.0f MB/s, PutObject %.0f MB/s, ratio %.2f", i, mbps(size, fd), mbps(size, pd), ratios[len(ratios)-1])
	}
	total := size * int64(b.N)
	b.ReportMetric(mbps(total, ferryDur), "ferry-MB/s")
	b.ReportMetric(mbps(total, putDur), "putobject-MB/s")
	b.ReportMetric(mbps(total, ferryDur)/mbps(total, putDur), "ferry/put")
	b.ReportMetric(median(ratios), "ferry/put-median")
}

// readAllDiscard reads r to EOF into one 256 KiB buffer (not io.Copy to
// io.Discard, whose ReadFrom would use its own 8 KiB buffer).
func readAllDiscard(r io.Reader, buf []byte) (int64, error) {
	var n int64
	for {
		k, err := r.Read(buf)
		n += int64(k)
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, err
		}
	}
}

// BenchmarkS3DownloadThroughFerry: a full GET /files/<id> through a ferry
// process on MinIO against minio-go Client.GetObject of a copy of the same
// bytes, alternating which goes first.
func BenchmarkS3DownloadThroughFerry(b *testing.B) {
	s := benchMinio(b)
	size := benchEnvSize(b, "FERRY_BENCH_SIZE", 256<<20)
	data, sum := benchRandom(b, size)
	srv := startBenchServer(b, s, os.Getenv("FERRY_BENCH_INPROC") == "1")
	bucket := s.bucket(b, "bench-get")
	ctx := context.Background()

	res, err := client.Upload(ctx, bytes.NewReader(data), size, client.Options{Server: srv.url, Name: "bench.bin", SHA256: sum})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := s.client.PutObject(ctx, bucket, "obj", bytes.NewReader(data), size, minio.PutObjectOptions{}); err != nil {
		b.Fatal(err)
	}
	hc := &http.Client{Transport: &http.Transport{DisableCompression: true}}
	defer hc.CloseIdleConnections()
	buf := make([]byte, 256<<10)

	var ferryDur, getDur time.Duration
	var ratios []float64
	b.ResetTimer()
	b.StopTimer()
	for i := 0; i < b.N; i++ {
		var fd, gd time.Duration
		runFerry := func() {
			settle()
			b.StartTimer()
			start := time.Now()
			resp, err := hc.Get(res.URL)
			if err != nil {
				b.Fatal(err)
			}
			n, err := readAllDiscard(resp.Body, buf)
			resp.Body.Close()
			fd = time.Since(start)
			b.StopTimer()
			if err != nil || resp.StatusCode != 200 || n != size {
				b.Fatalf("GET %s: %s, %d bytes, %v", res.URL, resp.Status, n, err)
			}
		}
		runGet := func() {
			settle()
			b.StartTimer()
			start := time.Now()
			obj, err := s.client.GetObject(ctx, bucket, "obj", minio.GetObjectOptions{})
			if err != nil {
				b.Fatal(err)
			}
			n, err := readAllDiscard(obj, buf)
			obj.Close()
			gd = time.Since(start)
			b.StopTimer()
			if err != nil || n != size {
				b.Fatalf("GetObject: %d bytes, %v", n, err)
			}
		}
		if i%2 == 0 {
			runFerry()
			runGet()
		} else {
			runGet()
			runFerry()
		}
		ferryDur += fd
		getDur += gd
		ratios = append(ratios, mbps(size, fd)/mbps(size, gd))
		b.Logf("iter %d: ferry %.0f MB/s, GetObject %.0f MB/s, ratio %.2f", i, mbps(size, fd), mbps(size, gd), ratios[len(ratios)-1])
	}
	total := size * int64(b.N)
	b.ReportMetric(mbps(total, ferryDur), "ferry-MB/s")
	b.ReportMetric(mbps(total, getDur), "getobject-MB/s")
	b.ReportMetric(mbps(total, ferryDur)/mbps(total, getDur), "ferry/get")
	b.ReportMetric(median(ratios), "ferry/get-median")
	b.StopTimer()
	srv.remove(b, res.ID)
}

// procStatusKiB reads a "VmRSS:"-style field of /proc/<pid>/status in KiB.
func procStatusKiB(pid int, field string) (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), field+":"); ok {
			return strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
		}
	}
	return 0, fmt.Errorf("no %s in /proc/%d/status", field, pid)
}

// BenchmarkS3ConcurrentUploadsMemory: 50 uploads at once through one ferry
// process on MinIO; reports the process's peak RSS (VmHWM, cross-checked by
// sampling VmRSS every 10 ms) and its growth over idle per upload. Each
// iteration uses a fresh server process, so VmHWM starts over.
func BenchmarkS3ConcurrentUploadsMemory(b *testing.B) {
	s := benchMinio(b)
	size := benchEnvSize(b, "FERRY_BENCH_CONC_SIZE", 24<<20)
	conc := int(benchEnvSize(b, "FERRY_BENCH_CONC", 50))
	data, sum := benchRandom(b, size)
	ctx := context.Background()

	var peaks, idles, perUpload, rates []float64
	b.ResetTimer()
	b.StopTimer()
	for i := 0; i < b.N; i++ {
		srv := startBenchServer(b, s, false)
		settle()
		idle, err := procStatusKiB(srv.pid, "VmRSS")
		if err != nil {
			b.Fatal(err)
		}
		var sampled int64
		stop := make(chan struct{})
		sampler := make(chan struct{})
		go func() {
			defer close(sampler)
			t := time.NewTicker(10 * time.Millisecond)
			defer t.Stop()
			for {
				if v, err := procStatusKiB(srv.pid, "VmRSS"); err == nil && v > sampled {
					sampled = v
				}
				select {
				case <-stop:
					return
				case <-t.C:
				}
			}
		}()
		ids := make([]string, conc)
		errs := make([]error, conc)
		var wg sync.WaitGroup
		b.StartTimer()
		start := time.Now()
		for j := range conc {
			wg.Go(func() {
				res, err := client.Upload(ctx, bytes.NewReader(data), size, client.Options{
					Server: srv.url, Name: fmt.Sprintf("conc-%d.bin", j), SHA256: sum,
				})
				if err == nil {
					ids[j] = res.ID
				}
				errs[j] = err
			})
		}
		wg.Wait()
		elapsed := time.Since(start)
		b.StopTimer()
		close(stop)
		<-sampler
		hwm, err := procStatusKiB(srv.pid, "VmHWM")
		if err != nil {
			b.Fatal(err)
		}
		for j, err := range errs {
			if err != nil {
				b.Fatalf("upload %d: %v", j, err)
			}
		}
		for _, id := range ids {
			srv.remove(b, id)
		}
		srv.kill()
		peak := max(hwm, sampled)
		peaks = append(peaks, float64(peak)/1024)
		idles = append(idles, float64(idle)/1024)
		perUpload = append(perUpload, float64(peak-idle)/1024/float64(conc))
		rates = append(rates, mbps(size*int64(conc), elapsed))
		b.Logf("iter %d: idle %.1f MiB, VmHWM %.1f MiB, sampled VmRSS peak %.1f MiB, %.2f MiB/upload, %.0f MB/s aggregate",
			i, float64(idle)/1024, float64(hwm)/1024, float64(sampled)/1024, perUpload[len(perUpload)-1], rates[len(rates)-1])
	}
	b.ReportMetric(median(peaks), "peak-RSS-MiB")
	b.ReportMetric(median(idles), "idle-RSS-MiB")
	b.ReportMetric(median(perUpload), "MiB/upload")
	b.ReportMetric(median(rates), "aggregate-MB/s")
}
