//go:build linux

package main

import (
	"bytes"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ferryhq/ferry/internal/connlimit"
)

// TestIdleConnectionsCannotStarveTheServer: one address holding more idle
// keep-alive connections than the server has descriptors does not stop
// /healthz or an authenticated upload from another address. The server is
// held to 10,000 open files (its hard limit here is 20,000, which this test
// process shares), and the client opens 15,000 connections.
func TestIdleConnectionsCannotStarveTheServer(t *testing.T) {
	if testing.Short() {
		t.Skip("opens 15,000 connections")
	}
	const serverFiles, conns = 10_000, 15_000
	if files, err := connlimit.RaiseFileLimit(); err != nil || files < conns+1_000 {
		t.Skipf("this process may open only %d files (%v)", files, err)
	}
	in := startInstance(t, "--data", t.TempDir(), "--token", "s3cret", "--max-conns-per-ip", "256")
	lim := unix.Rlimit{Cur: serverFiles, Max: serverFiles}
	if err := unix.Prlimit(in.cmd.Process.Pid, unix.RLIMIT_NOFILE, &lim, nil); err != nil {
		t.Fatalf("prlimit: %v", err)
	}
	addr := in.url[len("http://"):]
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}, Timeout: 5 * time.Second}
	var held []net.Conn
	defer func() {
		for _, c := range held {
			c.Close()
		}
	}()
	for i := range conns {
		c, err := d.Dial("tcp", addr)
		if err != nil {
			t.Fatalf("dial %d: %v", i, err)
		}
		if i < 300 {
			c.Write([]byte("GET /healthz HTTP/1.1\r\nHost: " + addr + "\r\n\r\n"))
		}
		held = append(held, c)
	}

	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Get(in.url + "/healthz")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("/healthz while 15,000 connections are held: %v %v", resp, err)
	}
	resp.Body.Close()

	data := bytes.Repeat([]byte("ferry"), 100_000)
	req, _ := http.NewRequest("POST", in.url+"/uploads/", bytes.NewReader(data))
	req.Header.Set("Authorization", "Bearer s3cret")
	req.Header.Set("Tus-Resumable", "1.0.0")
	req.Header.Set("Upload-Length", strconv.Itoa(len(data)))
	req.Header.Set("Content-Type", "application/offset+octet-stream")
	resp, err = client.Do(req)
	if err != nil || resp.StatusCode != 201 || resp.Header.Get("Upload-Offset") != strconv.Itoa(len(data)) {
		t.Fatalf("upload while 15,000 connections are held: %v %v", resp, err)
	}
	resp.Body.Close()
}

// TestMaxConnsBeyondTheFileLimitWarns: a --max-conns that leaves storage too
// few descriptors is said at start, not found out at the peak (make load once
// ran into EMFILE that way, with local storage holding ~740 descriptors).
func TestMaxConnsBeyondTheFileLimitWarns(t *testing.T) {
	for _, tc := range []struct {
		args []string
		warn bool
	}{
		{[]string{"--max-conns", strconv.Itoa(1 << 30)}, true},
		{nil, false}, // the default: half the limit
	} {
		f := startInstance(t, append([]string{"--data", t.TempDir()}, tc.args...)...)
		if got := strings.Contains(f.logs.String(), "--max-conns leaves too few open files"); got != tc.warn {
			t.Errorf("args %q: warned %v, want %v; logs:\n%s", tc.args, got, tc.warn, f.logs.String())
		}
	}
}
