package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ferryhq/ferry/internal/loopback"
)

func TestByteSize(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		bad  bool
	}{
		{"0", 0, false},
		{"1048576", 1 << 20, false},
		{"512MiB", 512 << 20, false},
		{"10GiB", 10 << 30, false},
		{"10 GB", 10e9, false},
		{"3kb", 3000, false},
		{"1TiB", 1 << 40, false},
		{"7B", 7, false},
		{"-1", 0, true},
		{"1.5GiB", 0, true},
		{"lots", 0, true},
		{"", 0, true},
		{"99999999999TiB", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			var b byteSize
			err := b.Set(tt.in)
			if tt.bad != (err != nil) {
				t.Fatalf("Set(%q) error %v, want error %v", tt.in, err, tt.bad)
			}
			if !tt.bad && int64(b) != tt.want {
				t.Fatalf("Set(%q) = %d, want %d", tt.in, b, tt.want)
			}
		})
	}
}

func TestServeFlagsFromEnvironment(t *testing.T) {
	t.Setenv("FERRY_ADDR", "127.0.0.1:9999")
	t.Setenv("FERRY_STORAGE", "s3")
	t.Setenv("FERRY_MAX_SIZE", "2GiB")
	t.Setenv("FERRY_S3_INSECURE", "true")
	t.Setenv("FERRY_PING_PERIOD", "5s")
	fs, c := serveFlags(io.Discard)
	if err := fs.Parse([]string{"--storage", "local"}); err != nil {
		t.Fatal(err)
	}
	if c.addr != "127.0.0.1:9999" || c.maxSize != 2<<30 || !c.s3.Insecure || c.pingPeriod != 5*time.Second {
		t.Fatalf("environment not applied: %+v", c)
	}
	if c.storage != "local" {
		t.Fatalf("a command-line flag must win over the environment: storage %q", c.storage)
	}
}

func TestHelpDocumentsEveryFlag(t *testing.T) {
	var out bytes.Buffer
	err := run(context.Background(), []string{"serve", "--help"}, io.Discard, &out)
	if !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("--help returned %v", err)
	}
	fs, _ := serveFlags(io.Discard)
	fs.VisitAll(func(f *flag.Flag) {
		if !strings.Contains(out.String(), "-"+f.Name) || !strings.Contains(out.String(), envName(f.Name)) {
			t.Errorf("--help does not document --%s and %s", f.Name, envName(f.Name))
		}
	})
}

func TestDispatch(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), []string{"version"}, &out, io.Discard); err != nil || !strings.HasPrefix(out.String(), "ferry ") {
		t.Fatalf("version: %v %q", err, out.String())
	}
	if err := run(context.Background(), []string{"frobnicate"}, io.Discard, io.Discard); err == nil {
		t.Fatal("an unknown command must fail")
	}
	if err := run(context.Background(), []string{"serve", "--storage", "floppy"}, io.Discard, io.Discard); err == nil || !strings.Contains(err.Error(), "floppy") {
		t.Fatalf("unknown storage: %v", err)
	}
}

// freeAddr returns a loopback address nobody listens on right now (see
// loopback.FreeAddr for why it is not one from 127.0.0.1:0).
func freeAddr(t testing.TB) string {
	t.Helper()
	return loopback.FreeAddr(t)
}

// startServe runs `ferry serve args...` in-process until the test ends and
// returns its base URL once /healthz answers.
func startServe(t *testing.T, args ...string) string {
	t.Helper()
	addr := freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	var logs syncBuffer
	done := make(chan error, 1)
	go func() { done <- runServe(ctx, append([]string{"--addr", addr}, args...), io.Discard, &logs) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("serve returned %v", err)
			}
		case <-time.After(20 * time.Second):
			t.Error("serve did not stop within 20s of its context ending")
		}
	})
	base := "http://" + addr
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-done:
			t.Fatalf("serve exited early: %v\n%s", err, logs.String())
		default:
		}
		if resp, err := http.Get(base + "/healthz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				if !strings.Contains(logs.String(), "http://"+addr) {
					t.Errorf("serve did not log the URL it serves:\n%s", logs.String())
				}
				return base
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("serve never became healthy:\n%s", logs.String())
	return ""
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestSmokeAgainstLocal(t *testing.T) {
	base := startServe(t, "--data", t.TempDir(), "--token", "tok")
	var out bytes.Buffer
	err := runSmoke(context.Background(), []string{"--server", base, "--token", "tok", "--size", "6MiB"}, &out, io.Discard)
	t.Log("\n" + out.String())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "PASS") {
		t.Fatal("smoke did not report PASS")
	}
}

func TestSmokeFailsAgainstNothing(t *testing.T) {
	var out bytes.Buffer
	err := runSmoke(context.Background(), []string{"--server", "http://" + freeAddr(t)}, &out, io.Discard)
	if err == nil || !strings.Contains(out.String(), "FAIL") {
		t.Fatalf("smoke against a dead address: err %v, output %q", err, out.String())
	}
}

// minioEnv returns the MinIO that scripts/with-minio.sh started, or skips
// (fails under CI=true, where the MinIO tests must run).
func minioEnv(t *testing.T) (endpoint, access, secret string) {
	t.Helper()
	endpoint = os.Getenv("FERRY_TEST_S3_ENDPOINT")
	if endpoint == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("FERRY_TEST_S3_ENDPOINT is not set: run the tests through scripts/with-minio.sh (make test)")
		}
		t.Skip("no MinIO: FERRY_TEST_S3_ENDPOINT is not set (make test starts one)")
	}
	return endpoint, os.Getenv("FERRY_TEST_S3_ACCESS_KEY"), os.Getenv("FERRY_TEST_S3_SECRET_KEY")
}

// TestSmokeAgainstMinIO is the deployment check of `make test`: ferry
// serving from a real MinIO, checked by `ferry smoke`.
func TestSmokeAgainstMinIO(t *testing.T) {
	endpoint, access, secret := minioEnv(t)
	t.Setenv("FERRY_S3_ACCESS_KEY", access)
	t.Setenv("FERRY_S3_SECRET_KEY", secret)
	bucket := fmt.Sprintf("ferry-smoke-%d", time.Now().UnixNano())
	base := startServe(t, "--storage", "s3", "--s3-endpoint", endpoint, "--s3-insecure",
		"--s3-bucket", bucket, "--s3-create-bucket")
	var out bytes.Buffer
	err := runSmoke(context.Background(), []string{"--server", base, "--size", "12MiB"}, &out, io.Discard)
	t.Log("\n" + out.String())
	if err != nil {
		t.Fatal(err)
	}
}

func TestServeFailsFastOnUnreachableS3(t *testing.T) {
	t.Setenv("FERRY_S3_ACCESS_KEY", "x")
	t.Setenv("FERRY_S3_SECRET_KEY", "y")
	start := time.Now()
	err := runServe(context.Background(), []string{"--addr", freeAddr(t), "--storage", "s3",
		"--s3-endpoint", freeAddr(t), "--s3-insecure", "--s3-bucket", "ferry-unreachable"}, io.Discard, io.Discard)
	if err == nil {
		t.Fatal("serve started against an unreachable S3 endpoint")
	}
	if time.Since(start) > 30*time.Second {
		t.Errorf("took %s to fail", time.Since(start))
	}
	if !strings.Contains(err.Error(), "ferry-unreachable") {
		t.Fatalf("the error does not say which bucket: %v", err)
	}
	t.Log(err)
}
