// Package s3test connects tests to the MinIO server that
// scripts/with-minio.sh starts, so that any package can run its tests
// against the S3 backend:
//
//	scripts/with-minio.sh go test ./...
//
// Lookup reads the server from the environment and skips the test when there
// is none (fails it when CI=true: in CI the MinIO tests must run). Each test
// gets its own bucket, removed with everything in it when the test ends.
// StartServer runs a private MinIO for tests that stop and restart it.
package s3test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/ferryhq/ferry/internal/loopback"
	"github.com/ferryhq/ferry/storage/s3"
)

// The variables scripts/with-minio.sh exports. The last three describe the
// shared server (its data directory, address and pid file) for a test that
// must stop and restart that very server; prefer StartServer, which does not
// disturb the other packages' tests running at the same time.
const (
	EnvEndpoint     = "FERRY_TEST_S3_ENDPOINT"
	EnvAccessKey    = "FERRY_TEST_S3_ACCESS_KEY"
	EnvSecretKey    = "FERRY_TEST_S3_SECRET_KEY"
	EnvMinIOBin     = "FERRY_TEST_MINIO_BIN"
	EnvMinIODir     = "FERRY_TEST_MINIO_DIR"
	EnvMinIOAddr    = "FERRY_TEST_MINIO_ADDR"
	EnvMinIOPidfile = "FERRY_TEST_MINIO_PIDFILE"
)

// Env is an S3 server for tests: plain HTTP on Endpoint.
type Env struct {
	Endpoint  string // host:port
	AccessKey string
	SecretKey string
	// MinIOBin is the server binary, when the server is a MinIO that
	// with-minio.sh started ("" otherwise); StartServer needs it.
	MinIOBin string
}

// Lookup returns the test server from the environment. When there is none
// it skips t with a message saying how to get one, or fails t when CI=true.
func Lookup(t testing.TB) Env {
	t.Helper()
	env := Env{
		Endpoint:  os.Getenv(EnvEndpoint),
		AccessKey: os.Getenv(EnvAccessKey),
		SecretKey: os.Getenv(EnvSecretKey),
		MinIOBin:  os.Getenv(EnvMinIOBin),
	}
	if env.Endpoint == "" {
		msg := "no S3 server for this test: " + EnvEndpoint + " is not set; run the tests under scripts/with-minio.sh"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg + " (CI=true: the MinIO tests must run)")
		}
		t.Skip(msg)
	}
	return env
}

// Client returns a minio-go client for env.
func (env Env) Client(t testing.TB) *minio.Client {
	t.Helper()
	c, err := minio.New(env.Endpoint, &minio.Options{
		Creds: credentials.NewStaticV4(env.AccessKey, env.SecretKey, ""),
	})
	if err != nil {
		t.Fatalf("s3test: client for %s: %v", env.Endpoint, err)
	}
	return c
}

// Config returns an s3.Config for env on bucket; the caller sets the rest.
func (env Env) Config(bucket string) s3.Config {
	return s3.Config{
		Endpoint:  env.Endpoint,
		Insecure:  true,
		AccessKey: env.AccessKey,
		SecretKey: env.SecretKey,
		Bucket:    bucket,
	}
}

// Bucket creates a bucket with a fresh name and removes it, with every
// object and multipart upload in it, when t ends.
func (env Env) Bucket(t testing.TB) string {
	t.Helper()
	var raw [6]byte
	rand.Read(raw[:])
	name := "ferry-test-" + hex.EncodeToString(raw[:])
	c := env.Client(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := c.MakeBucket(ctx, name, minio.MakeBucketOptions{}); err != nil {
		t.Fatalf("s3test: make bucket %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		// ForceDelete is MinIO's: the bucket goes with its objects and uploads.
		if err := c.RemoveBucketWithOptions(ctx, name, minio.RemoveBucketOptions{ForceDelete: true}); err != nil {
			t.Errorf("s3test: remove bucket %s: %v", name, err)
		}
	})
	return name
}

// NewBackend returns an s3.Backend on a fresh bucket of the test server,
// skipping t when there is none (see Lookup). configure, if not nil, may
// change the Config first.
func NewBackend(t testing.TB, configure func(*s3.Config)) *s3.Backend {
	t.Helper()
	env := Lookup(t)
	cfg := env.Config(env.Bucket(t))
	if configure != nil {
		configure(&cfg)
	}
	b, err := s3.New(t.Context(), cfg)
	if err != nil {
		t.Fatalf("s3test: %v", err)
	}
	return b
}

// Server is a private MinIO server that a test may stop and restart on the
// same address and data directory. The shared server is never stopped:
// other packages' tests use it at the same time.
type Server struct {
	Env
	Addr string
	dir  string
	cmd  *exec.Cmd
	done chan struct{} // closed when cmd has exited
	log  *os.File
	t    testing.TB
}

// StartServer starts a private MinIO from the binary with-minio.sh
// installed, with the shared server's credentials, on a free loopback port,
// and stops it when t ends. It skips t like Lookup when there is no binary.
func StartServer(t testing.TB) *Server {
	t.Helper()
	env := Lookup(t)
	if env.MinIOBin == "" {
		msg := "no MinIO binary for this test: " + EnvMinIOBin + " is not set; run the tests under scripts/with-minio.sh"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	dir := t.TempDir()
	log, err := os.Create(filepath.Join(dir, "minio.log"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { log.Close() })
	s := &Server{Env: env, dir: dir, log: log, t: t}
	s.Addr = loopback.FreeAddr(t)
	s.Endpoint = s.Addr
	s.Start()
	t.Cleanup(s.Stop)
	return s
}

// Start starts the server (again) and waits until it is healthy. It fails
// the test if the server does not come up within a minute.
func (s *Server) Start() {
	s.t.Helper()
	if s.cmd != nil {
		s.t.Fatal("s3test: server already running")
	}
	cmd := exec.Command(s.MinIOBin, "server", "--quiet", "--address", s.Addr,
		"--certs-dir", filepath.Join(s.dir, "certs"), filepath.Join(s.dir, "data"))
	cmd.Env = append(os.Environ(),
		"MINIO_ROOT_USER="+s.AccessKey, "MINIO_ROOT_PASSWORD="+s.SecretKey,
		"MINIO_BROWSER=off", "MINIO_UPDATE=off")
	cmd.Stdout, cmd.Stderr = s.log, s.log
	if err := cmd.Start(); err != nil {
		s.t.Fatalf("s3test: start minio: %v", err)
	}
	s.cmd = cmd
	exited := make(chan struct{})
	s.done = exited
	go func() { cmd.Wait(); close(exited) }()
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			s.cmd = nil
			s.t.Fatalf("s3test: minio exited at start; log:\n%s", s.readLog())
		default:
		}
		resp, err := http.Get("http://" + s.Addr + "/minio/health/cluster")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	s.t.Fatalf("s3test: minio not healthy on %s after a minute; log:\n%s", s.Addr, s.readLog())
}

// Stop stops the server and waits for it to exit. Stopping a stopped
// server does nothing.
func (s *Server) Stop() {
	if s.cmd == nil {
		return
	}
	s.cmd.Process.Kill()
	<-s.done
	s.cmd = nil
}

func (s *Server) readLog() string {
	raw, _ := os.ReadFile(s.log.Name())
	return strings.TrimSpace(string(raw))
}

// String names the server in test logs.
func (s *Server) String() string { return fmt.Sprintf("minio on %s", s.Addr) }
