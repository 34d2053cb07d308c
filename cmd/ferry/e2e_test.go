package main

// End-to-end fault tests with real processes: ferry instances are this test
// binary re-executed as `ferry serve` (so kill -9 hits a real process), and
// the object store is a real MinIO from scripts/with-minio.sh.

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/ferryhq/ferry/client"
	"github.com/ferryhq/ferry/upload"
)

// TestMain lets the test binary act as a ferry server process when the e2e
// tests start it with FERRY_E2E_SERVE set, and as the whole ferry command
// with FERRY_TEST_AS_FERRY set.
func TestMain(m *testing.M) {
	if os.Getenv("FERRY_TEST_AS_FERRY") == "1" {
		main() // the test binary is the ferry command (scripts_test.go)
		os.Exit(0)
	}
	if addr := os.Getenv("FERRY_HOOK_RECEIVER"); addr != "" {
		os.Exit(runHookReceiver(addr)) // hookreceiver_test.go
	}
	if os.Getenv("FERRY_E2E_SERVE") == "1" {
		var args []string
		if err := json.Unmarshal([]byte(os.Getenv("FERRY_E2E_ARGS")), &args); err != nil {
			fmt.Fprintln(os.Stderr, "bad FERRY_E2E_ARGS:", err)
			os.Exit(2)
		}
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		if err := runServe(ctx, args, os.Stdout, os.Stderr); err != nil {
			fmt.Fprintln(os.Stderr, "serve:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// instance is a ferry server running in its own process.
type instance struct {
	url  string
	cmd  *exec.Cmd
	logs *syncBuffer
	done chan struct{}
}

// startInstance runs `ferry serve args...` as a separate process and waits
// until it is healthy; the process is killed when the test ends.
func startInstance(t *testing.T, args ...string) *instance {
	t.Helper()
	addr := freeAddr(t)
	in := launch(t, addr, ferryCommand(addr, args))
	waitHealthy(t, in.url, in.done, in.logs)
	return in
}

// ferryCommand is the test binary re-run as `ferry serve --addr addr args...`.
func ferryCommand(addr string, args []string) *exec.Cmd {
	encoded, _ := json.Marshal(append([]string{"--addr", addr}, args...))
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "FERRY_E2E_SERVE=1", "FERRY_E2E_ARGS="+string(encoded))
	return cmd
}

// launch starts cmd, a server listening on addr, with its output kept for
// the test's log; it is killed (kill -9) when the test ends.
func launch(t *testing.T, addr string, cmd *exec.Cmd) *instance {
	t.Helper()
	in := &instance{url: "http://" + addr, cmd: cmd, logs: &syncBuffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = in.logs, in.logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = cmd.Wait(); close(in.done) }()
	t.Cleanup(func() {
		in.kill()
		if t.Failed() {
			t.Logf("logs of %s (pid %d):\n%s", in.url, cmd.Process.Pid, in.logs.String())
		}
	})
	return in
}

// waitHealthy waits until the ferry at url answers /healthz, failing the
// test if the process ends (done closes) or 2 minutes pass first (a -race
// binary starting on a loaded machine can take tens of seconds).
func waitHealthy(t testing.TB, url string, done <-chan struct{}, logs *syncBuffer) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		select {
		case <-done:
			t.Fatalf("ferry exited early:\n%s", logs.String())
		default:
		}
		if resp, err := http.Get(url + "/healthz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("ferry never became healthy:\n%s", logs.String())
}

// kill is kill -9: no chance to checkpoint, release locks or say goodbye.
func (in *instance) kill() {
	_ = in.cmd.Process.Signal(syscall.SIGKILL)
	<-in.done
}

// s3Instances starts n ferry processes sharing one fresh bucket.
func s3Instances(t *testing.T, n int, extra ...string) []*instance {
	t.Helper()
	endpoint, access, secret := minioEnv(t)
	t.Setenv("FERRY_S3_ACCESS_KEY", access)
	t.Setenv("FERRY_S3_SECRET_KEY", secret)
	bucket := fmt.Sprintf("ferry-e2e-%d", time.Now().UnixNano())
	args := append([]string{"--storage", "s3", "--s3-endpoint", endpoint, "--s3-insecure",
		"--s3-bucket", bucket, "--s3-create-bucket", "--s3-lease-ttl", "2s"}, extra...)
	var out []*instance
	for range n {
		out = append(out, startInstance(t, args...))
	}
	return out
}

func randomBytes(t *testing.T, n int) ([]byte, string) {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	return b, hex.EncodeToString(sum[:])
}

// uploadHalf uploads until the server has received about half of data, then
// drops the connection; it returns the upload's id.
func uploadHalf(t *testing.T, server string, data []byte, sum string) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var id string
	_, err := client.Upload(ctx, bytes.NewReader(data), int64(len(data)), client.Options{
		Server: server, Name: "half.bin", SHA256: sum, ChunkSize: 256 << 10, Window: 512 << 10,
		OnID: func(s string) { id = s },
		Progress: func(p client.Progress) {
			if p.Received >= int64(len(data))/2 {
				cancel()
			}
		},
	})
	if !errors.Is(err, context.Canceled) || id == "" {
		t.Fatalf("the first half did not stop as planned: id %q, err %v", id, err)
	}
	return id
}

func download(t *testing.T, url string) []byte {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// resume finishes an upload on server and returns the offset it resumed at.
func resume(t *testing.T, server, id string, data []byte, sum string) int64 {
	t.Helper()
	var at int64 = -1
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	res, err := client.Upload(ctx, bytes.NewReader(data), int64(len(data)), client.Options{
		Server: server, Name: "half.bin", SHA256: sum, ResumeID: id,
		Progress: func(p client.Progress) {
			if at < 0 {
				at = p.Offset
			}
		},
	})
	if err != nil {
		t.Fatalf("resume of %s on %s: %v", id, server, err)
	}
	if res.SHA256 != sum || res.Size != int64(len(data)) {
		t.Fatalf("completed with sha256 %s size %d, want %s %d", res.SHA256, res.Size, sum, len(data))
	}
	return at
}

func TestS3UploadCutOffResumesOnAnotherInstance(t *testing.T) {
	ferries := s3Instances(t, 2)
	data, sum := randomBytes(t, 12<<20)
	id := uploadHalf(t, ferries[0].url, data, sum)
	at := resume(t, ferries[1].url, id, data, sum)
	if at <= 0 {
		t.Fatalf("the second instance resumed at offset %d: the first one's durable bytes were lost", at)
	}
	for _, f := range ferries {
		if got := download(t, f.url+"/files/"+id); !bytes.Equal(got, data) {
			t.Fatalf("%s serves %d different bytes", f.url, len(got))
		}
	}
}

func TestS3SimultaneousResumesGiveOneLocked(t *testing.T) {
	ferries := s3Instances(t, 2)
	data, sum := randomBytes(t, 6<<20)
	id := uploadHalf(t, ferries[0].url, data, sum)

	// Right after the cut the first connection may still hold the lock for a
	// moment (its server is making the bytes durable): both answers are then
	// "locked", which is right, so try again. Two "ready" is never right.
	deadline := time.Now().Add(15 * time.Second)
	for {
		ready, locked, answers := resumeEverywhere(t, ferries, id)
		if ready > 1 {
			t.Fatalf("two connections got the same upload: %+v", answers)
		}
		if ready == 1 && locked == 1 {
			return
		}
		if ready+locked != len(ferries) || time.Now().After(deadline) {
			t.Fatalf("answers %+v: want one ready and one locked", answers)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// resumeEverywhere sends resume for id to every instance at the same moment
// and counts the answers; the connections are closed before it returns.
func resumeEverywhere(t *testing.T, ferries []*instance, id string) (ready, locked int, answers []upload.ServerFrame) {
	t.Helper()
	answers = make([]upload.ServerFrame, len(ferries))
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i, f := range ferries {
		conn, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(f.url, "http")+"/ws/upload", nil)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			if err := conn.WriteJSON(upload.ResumeFrame{Type: upload.TypeResume, ID: id}); err != nil {
				t.Error(err)
				return
			}
			_ = conn.SetReadDeadline(time.Now().Add(20 * time.Second))
			if err := conn.ReadJSON(&answers[i]); err != nil {
				t.Error(err)
			}
		}()
	}
	close(start)
	wg.Wait()
	for _, a := range answers {
		switch {
		case a.Type == upload.TypeReady:
			ready++
		case a.Type == upload.TypeError && a.Code == upload.CodeLocked:
			locked++
		}
	}
	return ready, locked, answers
}

func TestS3KillDashNineThenResumeElsewhere(t *testing.T) {
	ferries := s3Instances(t, 2)
	data, sum := randomBytes(t, 12<<20)
	conn, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(ferries[0].url, "http")+"/ws/upload", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := conn.WriteJSON(upload.StartFrame{Type: upload.TypeStart, Name: "k.bin", Size: int64(len(data)), SHA256: sum}); err != nil {
		t.Fatal(err)
	}
	var ready upload.ServerFrame
	if err := conn.ReadJSON(&ready); err != nil || ready.Type != upload.TypeReady {
		t.Fatalf("ready: %+v %v", ready, err)
	}
	// Send the first two thirds, then wait for the server to report some of
	// it durable; that reported offset is what kill -9 must not lose.
	frames := make(chan error, 1)
	go func() {
		for off := 0; off < len(data)*2/3; off += 256 << 10 {
			if err := conn.WriteMessage(websocket.BinaryMessage, data[off:off+256<<10]); err != nil {
				frames <- err
				return
			}
		}
		frames <- nil
	}()
	var reported int64
	_ = conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	for reported < int64(len(data))/3 {
		var f upload.ServerFrame
		if err := conn.ReadJSON(&f); err != nil {
			t.Fatalf("reading progress: %v", err)
		}
		if f.Type == upload.TypeProgress {
			reported = max(reported, f.Offset)
		}
	}
	ferries[0].kill()
	<-frames

	at := resume(t, ferries[1].url, ready.ID, data, sum) // waits out the dead instance's lease
	if at < reported {
		t.Fatalf("resumed at %d after kill -9, but %d had been reported durable", at, reported)
	}
	if got := download(t, ferries[1].url+"/files/"+ready.ID); !bytes.Equal(got, data) {
		t.Fatal("downloaded bytes differ")
	}
}

// launchMinIO starts a MinIO of the test's own (the shared one must not be
// restarted under other packages' tests) and waits until it is healthy. It
// returns a function that kills it. Safe to call from any goroutine.
func launchMinIO(bin, addr, dir string) (stop func(), err error) {
	cmd := exec.Command(bin, "server", "--quiet", "--address", addr, "--certs-dir", filepath.Join(dir, "certs"), filepath.Join(dir, "data"))
	cmd.Env = append(os.Environ(), "MINIO_ROOT_USER=ferrytest", "MINIO_ROOT_PASSWORD=ferrytest-secret",
		"MINIO_BROWSER=off", "MINIO_UPDATE=off")
	var logs syncBuffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	stop = func() {
		_ = cmd.Process.Signal(syscall.SIGKILL)
		<-exited
	}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := http.Get("http://" + addr + "/minio/health/cluster"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return stop, nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	stop()
	return nil, fmt.Errorf("MinIO on %s did not become healthy:\n%s", addr, logs.String())
}

// slowReader paces the client so the upload is still running when MinIO goes.
type slowReader struct {
	r     io.ReaderAt
	delay time.Duration
}

func (s slowReader) ReadAt(p []byte, off int64) (int, error) {
	time.Sleep(s.delay)
	return s.r.ReadAt(p, off)
}

func TestS3MinIORestartMidUpload(t *testing.T) {
	minioEnv(t)
	bin := os.Getenv("FERRY_TEST_MINIO_BIN")
	if bin == "" {
		t.Fatal("FERRY_TEST_MINIO_BIN is not set: run through scripts/with-minio.sh")
	}
	addr, dir := freeAddr(t), t.TempDir()
	stop, err := launchMinIO(bin, addr, dir)
	if err != nil {
		t.Fatal(err)
	}
	var stopMu sync.Mutex
	t.Cleanup(func() { stopMu.Lock(); defer stopMu.Unlock(); stop() })
	t.Setenv("FERRY_S3_ACCESS_KEY", "ferrytest")
	t.Setenv("FERRY_S3_SECRET_KEY", "ferrytest-secret")
	f := startInstance(t, "--storage", "s3", "--s3-endpoint", addr, "--s3-insecure",
		"--s3-bucket", "restart", "--s3-create-bucket", "--s3-lease-ttl", "2s")

	data, sum := randomBytes(t, 16<<20)
	restarted := make(chan error, 1)
	var once sync.Once
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	res, err := client.Upload(ctx, slowReader{bytes.NewReader(data), 15 * time.Millisecond}, int64(len(data)), client.Options{
		Server: f.url, Name: "restart.bin", SHA256: sum, ChunkSize: 256 << 10,
		Progress: func(p client.Progress) {
			if p.Received > int64(len(data))/3 {
				once.Do(func() {
					go func() {
						stopMu.Lock()
						defer stopMu.Unlock()
						stop()
						time.Sleep(time.Second)
						var err error
						if stop, err = launchMinIO(bin, addr, dir); err != nil {
							stop = func() {}
						}
						restarted <- err
					}()
				})
			}
		},
	})
	select {
	case rerr := <-restarted:
		if rerr != nil {
			t.Fatalf("restarting MinIO: %v", rerr)
		}
	default:
		t.Fatal("the upload finished before MinIO was restarted")
	}
	if err != nil {
		t.Fatalf("upload across a MinIO restart: %v", err)
	}
	if res.SHA256 != sum {
		t.Fatalf("sha256 %s, want %s", res.SHA256, sum)
	}
	if got := download(t, f.url+"/files/"+res.ID); !bytes.Equal(got, data) {
		t.Fatal("downloaded bytes differ")
	}
}
