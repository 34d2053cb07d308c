package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/ferryhq/ferry/client"
)

// deployment is ferry started from the guide's unit behind nginx started
// from the guide's site.
type deployment struct {
	ferry *instance
	nginx *nginx
	cert  *testCert
	hc    *http.Client // to nginx, trusting cert, for ferry.example.com
}

// deployGuideSetup starts ferry (the unit's command line plus extra) and
// nginx (the guide's blocks) on loopback.
func deployGuideSetup(t testing.TB, extra ...string) *deployment {
	t.Helper()
	blocks := guideBlocks(t)
	bin := needNginx(t)
	cert := makeCert(t, t.TempDir(), "site", "ferry.example.com", "127.0.0.1")
	addr := freeAddr(t)
	args := append(unitArgs(t, blocks["systemd-unit"], addr, t.TempDir()), extra...)
	f := startFerry(t, addr, args)
	ng := startNginx(t, bin, blocks, cert, "", addr)
	d := &deployment{ferry: f, nginx: ng, cert: cert, hc: publicClient(cert, ng.addr, "")}
	waitHTTPS(t, d.hc, ng.public+"/healthz", f.done, f.logs)
	return d
}

// publicClient talks to nginx at addr as a client of ferry.example.com, from
// source address src when set, over HTTP/2 when nginx offers it.
func publicClient(cert *testCert, addr, src string) *http.Client {
	c := httpsClient(pool(cert), addr, src)
	c.Transport.(*http.Transport).TLSClientConfig.ServerName = "ferry.example.com"
	return c
}

// wsDialer opens WebSockets through nginx; each connection is passed to
// wrap (when set) first.
func (d *deployment) wsDialer(dials *atomic.Int32, wrap func(n int32, c net.Conn) net.Conn) *websocket.Dialer {
	dial := dialVia(d.nginx.addr, "")
	return &websocket.Dialer{
		TLSClientConfig:  &tls.Config{RootCAs: pool(d.cert), ServerName: "ferry.example.com"},
		HandshakeTimeout: 10 * time.Second,
		NetDialContext: func(ctx context.Context, network, a string) (net.Conn, error) {
			c, err := dial(ctx, network, a)
			n := dials.Add(1)
			if err == nil && wrap != nil {
				c = wrap(n, c)
			}
			return c, err
		},
	}
}

// cutConn fails its connection once after writing limit bytes: the forced
// drop of a WebSocket upload.
type cutConn struct {
	net.Conn
	left int64
}

func (c *cutConn) Write(p []byte) (int, error) {
	if c.left <= 0 {
		c.Conn.Close()
		return 0, net.ErrClosed
	}
	if int64(len(p)) > c.left {
		p = p[:c.left]
	}
	n, err := c.Conn.Write(p)
	c.left -= int64(n)
	return n, err
}

// TestDeployGuide runs docs/deploy.md: ferry from its systemd unit, behind
// a real nginx from its site, over https and wss.
func TestDeployGuide(t *testing.T) {
	d := deployGuideSetup(t, "--max-conns-per-ip", "3")
	public := d.nginx.public

	t.Run("systemd unit", func(t *testing.T) {
		unit := guideBlocks(t)["systemd-unit"]
		if problems := unitProblems(unit, 4096); len(problems) > 0 {
			t.Errorf("the guide's unit: %s", strings.Join(problems, "; "))
		}
		sa, err := exec.LookPath("systemd-analyze")
		if err != nil {
			t.Logf("no systemd-analyze: the unit was parse-checked only")
			return
		}
		// verify needs the binary at ExecStart's path and the unit's name:
		// point ExecStart at this test binary.
		dir := t.TempDir()
		file := filepath.Join(dir, "ferry.service")
		unit = substitute(t, "systemd unit", unit, "/usr/local/bin/ferry", os.Args[0])
		if err := os.WriteFile(file, []byte(unit), 0o644); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(sa, "verify", file).CombinedOutput()
		if err != nil {
			t.Errorf("systemd-analyze verify: %v\n%s", err, out)
		}
		for _, line := range strings.Split(string(out), "\n") {
			if strings.Contains(line, "ferry.service") {
				t.Errorf("systemd-analyze verify complains about the unit: %s", line)
			}
		}
	})

	t.Run("plain HTTP is redirected", func(t *testing.T) {
		noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
			Transport: &http.Transport{DialContext: dialVia(d.nginx.httpAddr, "")}}
		resp, err := noFollow.Get("http://ferry.example.com/files/x")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusPermanentRedirect || resp.Header.Get("Location") != "https://ferry.example.com/files/x" {
			t.Errorf("plain HTTP: %s to %q", resp.Status, resp.Header.Get("Location"))
		}
	})

	t.Run("websocket upload with a drop and a resume", func(t *testing.T) {
		data, sum := randomBytes(t, 6<<20)
		var dials atomic.Int32
		dialer := d.wsDialer(&dials, func(n int32, c net.Conn) net.Conn {
			if n == 1 {
				return &cutConn{Conn: c, left: 2 << 20} // about a third of the file, then the line drops
			}
			return c
		})
		resumedAt := int64(-1)
		res, err := client.Upload(context.Background(), bytes.NewReader(data), int64(len(data)), client.Options{
			Server: public, Name: "drop.bin", SHA256: sum, ChunkSize: 256 << 10, Dialer: dialer,
			Progress: func(p client.Progress) {
				if dials.Load() == 2 && resumedAt < 0 {
					resumedAt = p.Offset
				}
			},
		})
		if err != nil {
			t.Fatalf("upload through nginx: %v", err)
		}
		if dials.Load() != 2 || resumedAt <= 0 {
			t.Errorf("%d connections, resumed at %d: want one drop and a resume past 0", dials.Load(), resumedAt)
		}
		if res.SHA256 != sum || !strings.HasPrefix(res.URL, public+"/files/") {
			t.Errorf("result %+v, want sha256 %s and a URL under %s", res, sum, public)
		}
		if got := getAll(t, d.hc, public+"/files/"+res.ID); !bytes.Equal(got, data) {
			t.Errorf("download through nginx: %d bytes, not the upload", len(got))
		}
	})

	t.Run("IETF upload in one request", func(t *testing.T) {
		// ferry's 104 interim response would end this request in nginx
		// 1.22, which takes it for the final answer and stops passing the
		// body: behind a trusted proxy ferry sends none.
		data, _ := randomBytes(t, 8<<20)
		req, _ := http.NewRequest(http.MethodPost, public+"/uploads/", bytes.NewReader(data))
		req.Header.Set("Upload-Complete", "?1")
		req.Header.Set("Upload-Draft-Interop-Version", "6")
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		resp, err := d.hc.Do(req.WithContext(ctx))
		if err != nil {
			t.Fatalf("POST through nginx: %v", err)
		}
		resp.Body.Close()
		loc := resp.Header.Get("Location")
		if resp.StatusCode != 201 || resp.ProtoMajor != 2 || !strings.HasPrefix(loc, "/uploads/") {
			t.Fatalf("POST through nginx: %s over %s, Location %q", resp.Status, resp.Proto, loc)
		}
		if got := getAll(t, d.hc, public+"/files/"+idOf(loc)); !bytes.Equal(got, data) {
			t.Errorf("stored %d bytes, not the %d sent", len(got), len(data))
		}
	})

	t.Run("follow streams while the upload runs", func(t *testing.T) {
		data, sum := randomBytes(t, 4<<20)
		var dials atomic.Int32
		ids := make(chan string, 1)
		var uploading atomic.Bool
		uploading.Store(true)
		upErr := make(chan error, 1)
		go func() {
			_, err := client.Upload(context.Background(), slowReader{bytes.NewReader(data), 3 * time.Millisecond},
				int64(len(data)), client.Options{Server: public, Name: "follow.bin", SHA256: sum, ChunkSize: 32 << 10,
					Window: 128 << 10, Dialer: d.wsDialer(&dials, nil), OnID: func(id string) { ids <- id }})
			uploading.Store(false)
			upErr <- err
		}()
		id := <-ids
		resp, err := d.hc.Get(public + "/files/" + id + "?follow=1")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("follow: %s", resp.Status)
		}
		var got bytes.Buffer
		buf := make([]byte, 64<<10)
		var duringUpload int
		for {
			n, err := resp.Body.Read(buf)
			got.Write(buf[:n])
			if uploading.Load() {
				duringUpload = got.Len()
			}
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("follow after %d bytes: %v", got.Len(), err)
			}
		}
		if err := <-upErr; err != nil {
			t.Fatalf("upload: %v", err)
		}
		if !bytes.Equal(got.Bytes(), data) {
			t.Fatalf("follow read %d bytes, not the upload", got.Len())
		}
		if duringUpload < 1<<20 {
			t.Errorf("follow read %d bytes while the upload ran: nginx held them back", duringUpload)
		}
	})

	t.Run("ranges and curl -C -", func(t *testing.T) {
		data, sum := randomBytes(t, 3<<20)
		var dials atomic.Int32
		res, err := client.Upload(context.Background(), bytes.NewReader(data), int64(len(data)), client.Options{
			Server: public, Name: "ranges.bin", SHA256: sum, Dialer: d.wsDialer(&dials, nil)})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range []struct {
			header   string
			from, to int
		}{{"bytes=100-199", 100, 200}, {"bytes=-1000", len(data) - 1000, len(data)}, {"bytes=1048576-", 1 << 20, len(data)}} {
			req, _ := http.NewRequest(http.MethodGet, public+"/files/"+res.ID, nil)
			req.Header.Set("Range", r.header)
			resp, err := d.hc.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			got, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			want := fmt.Sprintf("bytes %d-%d/%d", r.from, r.to-1, len(data))
			if resp.StatusCode != 206 || resp.Header.Get("Content-Range") != want || !bytes.Equal(got, data[r.from:r.to]) {
				t.Errorf("Range %s over %s: %s %q, %d bytes", r.header, resp.Proto, resp.Status, resp.Header.Get("Content-Range"), len(got))
			}
		}
		curlBin := needCurl(t)
		out := filepath.Join(t.TempDir(), "partial.bin")
		if err := os.WriteFile(out, data[:1234567], 0o644); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(curlBin, "-sS", "--fail", "--cacert", d.cert.certFile,
			"--resolve", "ferry.example.com:"+d.nginx.port+":127.0.0.1", "-w", "%{http_version} %{http_code}",
			"-C", "-", "-o", out, public+"/files/"+res.ID)
		stdout, err := cmd.Output()
		if err != nil {
			t.Fatalf("curl -C -: %v %s", err, stdout)
		}
		got, _ := os.ReadFile(out)
		if string(stdout) != "2 206" || !bytes.Equal(got, data) {
			t.Errorf("curl -C -: %q, %d bytes (equal: %v); want HTTP/2 206 and the file", stdout, len(got), bytes.Equal(got, data))
		}
	})

	t.Run("origin and host", func(t *testing.T) {
		for _, tt := range []struct {
			host, origin string
			want         int
		}{
			{"ferry.example.com:" + d.nginx.port, public, 101},
			{"ferry.example.com:" + d.nginx.port, "https://attacker.example", 403},
			{"ferry.example.com:" + d.nginx.port, "http://ferry.example.com:" + d.nginx.port, 403},
			{"attacker.example:" + d.nginx.port, "https://attacker.example:" + d.nginx.port, 421},
		} {
			var dials atomic.Int32
			dialer := d.wsDialer(&dials, nil)
			conn, resp, err := dialer.Dial("wss://"+tt.host+"/ws/upload", http.Header{"Origin": {tt.origin}})
			if conn != nil {
				conn.Close()
			}
			if resp == nil || resp.StatusCode != tt.want {
				t.Errorf("wss handshake for Host %s, Origin %s: %v (%v), want %d", tt.host, tt.origin, resp, err, tt.want)
			}
		}
		for _, tt := range []struct {
			method, host, origin string
			want                 int
		}{
			{"OPTIONS", "ferry.example.com:" + d.nginx.port, public, 204},
			{"OPTIONS", "ferry.example.com:" + d.nginx.port, "https://attacker.example", 403},
			{"GET", "attacker.example:" + d.nginx.port, "", 421},
			{"GET", "ferry.example.com:" + d.nginx.port, "", 200},
		} {
			path := "/api/files"
			if tt.method == "OPTIONS" {
				path = "/uploads/"
			}
			req, _ := http.NewRequest(tt.method, "https://"+tt.host+path, nil)
			if tt.origin != "" {
				req.Header.Set("Origin", tt.origin)
			}
			resp, err := d.hc.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tt.want {
				t.Errorf("%s %s, Host %s, Origin %q: %s, want %d", tt.method, path, tt.host, tt.origin, resp.Status, tt.want)
			}
		}
		// Straight to ferry, from an address that is not nginx's, the
		// forwarding headers are not believed.
		c := &http.Client{Transport: &http.Transport{DialContext: dialVia(strings.TrimPrefix(d.ferry.url, "http://"), "127.0.0.2")}}
		req, _ := http.NewRequest(http.MethodGet, "http://attacker.example/api/files", nil)
		req.Header.Set("X-Forwarded-Host", "ferry.example.com")
		req.Header.Set("Forwarded", "for=192.0.2.1;host=ferry.example.com;proto=https")
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusMisdirectedRequest {
			t.Errorf("forwarding headers from a client straight to ferry: %s, want 421", resp.Status)
		}
	})

	t.Run("per-address limits apply to real clients", func(t *testing.T) {
		// An upload that stays incomplete: each ?follow=1 of it holds a
		// request (and an nginx-to-ferry connection) open.
		req, _ := http.NewRequest(http.MethodPost, public+"/uploads/", nil)
		req.Header.Set("Tus-Resumable", "1.0.0")
		req.Header.Set("Upload-Length", "1000")
		resp, err := d.hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		loc := resp.Header.Get("Location")
		if resp.StatusCode != 201 || !strings.HasPrefix(loc, "/uploads/") {
			t.Fatalf("tus creation through nginx: %s, Location %q", resp.Status, loc)
		}
		// Some bytes in it: nginx (1.22) sends an HTTP/2 response's headers
		// with its first bytes, so a follow of an empty upload would wait.
		req, _ = http.NewRequest(http.MethodPatch, public+loc, strings.NewReader("0123456789"))
		req.Header.Set("Tus-Resumable", "1.0.0")
		req.Header.Set("Upload-Offset", "0")
		req.Header.Set("Content-Type", "application/offset+octet-stream")
		if resp, err = d.hc.Do(req); err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 204 {
			t.Fatalf("tus PATCH through nginx: %s", resp.Status)
		}
		follow := public + "/files/" + idOf(loc) + "?follow=1"
		var held []io.Closer
		defer func() {
			for _, c := range held {
				c.Close()
			}
		}()
		open := func(src, spoof string) int {
			t.Helper()
			req, _ := http.NewRequest(http.MethodGet, follow, nil)
			if spoof != "" {
				req.Header.Set("X-Forwarded-For", spoof)
			}
			resp, err := publicClient(d.cert, d.nginx.addr, src).Do(req)
			if err != nil {
				t.Fatalf("follow from %s: %v", src, err)
			}
			if resp.StatusCode == 200 {
				held = append(held, resp.Body)
			} else {
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode == 503 && strings.TrimSpace(string(body)) != `{"error":"too_many_conns"}` {
					t.Errorf("503 body %q", body)
				}
			}
			return resp.StatusCode
		}
		for i := range 3 {
			if code := open("127.0.0.2", ""); code != 200 {
				t.Fatalf("follow %d from 127.0.0.2: %d, want 200 (within --max-conns-per-ip 3)", i+1, code)
			}
		}
		if code := open("127.0.0.2", ""); code != 503 {
			t.Errorf("a 4th from 127.0.0.2: %d, want 503", code)
		}
		if code := open("127.0.0.2", "127.0.0.9"); code != 503 {
			t.Errorf("a 4th from 127.0.0.2 claiming X-Forwarded-For 127.0.0.9: %d, want 503", code)
		}
		// Another client through the same nginx, whose connections to
		// ferry are now over the per-address cap, is served.
		for i := range 3 {
			if code := open("127.0.0.3", ""); code != 200 {
				t.Fatalf("follow %d from 127.0.0.3: %d, want 200: the cap hit nginx, not the client", i+1, code)
			}
		}
		if code := open("127.0.0.3", ""); code != 503 {
			t.Errorf("a 4th from 127.0.0.3: %d, want 503", code)
		}
	})
}

// pacedRelay forwards TCP connections to target, the client's bytes at
// about rate bytes a second (the answers at full speed): a slow uplink.
func pacedRelay(t *testing.T, target string, rate int) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	const step = 16 << 10
	pause := time.Duration(int64(time.Second) * step / int64(rate))
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			wg.Add(2)
			go func() {
				defer wg.Done()
				buf := make([]byte, step)
				for {
					n, err := c.Read(buf)
					if n > 0 {
						if _, werr := up.Write(buf[:n]); werr != nil {
							break
						}
						time.Sleep(pause * time.Duration(n) / step)
					}
					if err != nil {
						break
					}
				}
				up.(*net.TCPConn).CloseWrite()
			}()
			go func() {
				defer wg.Done()
				io.Copy(c, up)
				c.Close()
				up.Close()
			}()
		}
	}()
	return ln.Addr().String()
}

// TestDeployGuideTusJSClient: tus-js-client uploads through the guide's
// nginx over a slow uplink, in one PATCH; ferry (and its storage) has
// bytes of it while the PATCH is still being sent, which nginx's default
// request buffering would prevent.
func TestDeployGuideTusJSClient(t *testing.T) {
	node := needInterop(t)
	d := deployGuideSetup(t)
	relay := pacedRelay(t, d.nginx.addr, 4<<20)
	t.Setenv("NODE_EXTRA_CA_CERTS", d.cert.certFile)
	path, want := writeRandomFile(t, "tus.bin", 12<<20)

	var (
		mu          sync.Mutex
		patchOpen   bool
		seenInPatch int64
		stop        = make(chan struct{})
		polled      sync.WaitGroup
	)
	defer func() { close(stop); polled.Wait() }()
	run := watchUploader(t, node, 60*time.Second, func(e clientEvent) {
		switch {
		case e.Event == "url":
			id := idOf(e.URL)
			polled.Add(1)
			go func() {
				defer polled.Done()
				for {
					select {
					case <-stop:
						return
					case <-time.After(50 * time.Millisecond):
					}
					off := ferryOffset(d.ferry.url, id)
					mu.Lock()
					if patchOpen && off > seenInPatch && off < int64(len(want)) {
						seenInPatch = off
					}
					mu.Unlock()
				}
			}()
		case e.Event == "request" && e.Method == "PATCH":
			mu.Lock()
			patchOpen = true
			mu.Unlock()
		case e.Event == "response" && e.Method == "PATCH":
			mu.Lock()
			patchOpen = false
			mu.Unlock()
		}
	}, "--endpoint", "https://"+relay+"/uploads/", "--file", path, "--filename", "tus.bin")
	if run.err != nil || run.last("success") == nil {
		t.Fatalf("tus-js-client through nginx: %v\n%s\n%s", run.err, run.exchanges(), run.output)
	}
	patches := 0
	for _, e := range run.events {
		if e.Event == "request" && e.Method == "PATCH" {
			patches++
		}
	}
	mu.Lock()
	inPatch := seenInPatch
	mu.Unlock()
	if patches != 1 || inPatch == 0 {
		t.Errorf("%d PATCH requests; ferry had %d bytes durable while the PATCH was in flight: want 1 PATCH and bytes before its end\n%s",
			patches, inPatch, run.exchanges())
	}
	t.Logf("durable during the PATCH: %d of %d bytes", inPatch, len(want))
	u := run.last("success").URL
	if got := getAll(t, d.hc, d.nginx.public+"/files/"+idOf(u)); !bytes.Equal(got, want) {
		t.Errorf("download through nginx: %d bytes, not the upload", len(got))
	}
}

// ferryOffset asks ferry itself (GET /api/files/<id>, which, unlike a tus
// HEAD, does not end the PATCH in flight) for the durable offset of id,
// or -1.
func ferryOffset(base, id string) int64 {
	resp, err := http.Get(base + "/api/files/" + id)
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	var fi fileInfo
	if resp.StatusCode != 200 || json.NewDecoder(resp.Body).Decode(&fi) != nil {
		return -1
	}
	return fi.Offset
}

// TestDeployGuideSeveralInstances runs the guide's section on several
// instances: two ferries on one MinIO bucket behind the guide's nginx with
// its two-server upstream. A WebSocket upload dropped midway resumes
// through nginx (on whichever instance it lands), and each instance serves
// the file and verifies the other's signed link.
func TestDeployGuideSeveralInstances(t *testing.T) {
	endpoint, access, secret := minioEnv(t)
	t.Setenv("FERRY_S3_ACCESS_KEY", access)
	t.Setenv("FERRY_S3_SECRET_KEY", secret)
	blocks := guideBlocks(t)
	bin := needNginx(t)
	cert := makeCert(t, t.TempDir(), "site", "ferry.example.com", "127.0.0.1")
	bucket := fmt.Sprintf("ferry-deploy-%d", time.Now().UnixNano())
	var ferries []*instance
	var addrs []string
	for range 2 {
		addr := freeAddr(t)
		args := append(unitArgs(t, blocks["systemd-unit"], addr, t.TempDir()), "--storage", "s3", "--s3-endpoint", endpoint,
			"--s3-insecure", "--s3-bucket", bucket, "--s3-create-bucket", "--link-secret", "a shared link secret of 32+ bytes!!",
			"--token", "deploy-token")
		ferries = append(ferries, startFerry(t, addr, args))
		addrs = append(addrs, addr)
	}
	upstream := substitute(t, "upstream of several instances", blocks["nginx-upstream-several"],
		"server 127.0.0.1:8080;", "server "+addrs[0]+";", "server 127.0.0.1:8081;", "server "+addrs[1]+";")
	ng := startNginx(t, bin, blocks, cert, upstream)
	d := &deployment{ferry: ferries[0], nginx: ng, cert: cert, hc: publicClient(cert, ng.addr, "")}
	waitHTTPS(t, d.hc, ng.public+"/healthz", ferries[0].done, ferries[0].logs)

	data, sum := randomBytes(t, 12<<20)
	var dials atomic.Int32
	dialer := d.wsDialer(&dials, func(n int32, c net.Conn) net.Conn {
		if n == 1 {
			return &cutConn{Conn: c, left: 4 << 20}
		}
		return c
	})
	res, err := client.Upload(context.Background(), bytes.NewReader(data), int64(len(data)), client.Options{
		Server: ng.public, Name: "several.bin", SHA256: sum, ChunkSize: 256 << 10, Dialer: dialer, Token: "deploy-token"})
	if err != nil {
		t.Fatalf("upload through nginx to two instances: %v", err)
	}
	if dials.Load() < 2 {
		t.Errorf("%d connections: the drop did not happen", dials.Load())
	}
	// A link minted on one instance verifies on both: each serves the file
	// to it, without a token.
	req, _ := http.NewRequest(http.MethodPost, ferries[0].url+"/api/files/"+res.ID+"/link", nil)
	req.Header.Set("Authorization", "Bearer deploy-token")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var link struct {
		URL string `json:"url"`
	}
	err = json.NewDecoder(resp.Body).Decode(&link)
	resp.Body.Close()
	if err != nil || !strings.HasPrefix(link.URL, "/files/") {
		t.Fatalf("minting a link: %s, %v, %q", resp.Status, err, link.URL)
	}
	for i, f := range ferries {
		if got := getAll(t, http.DefaultClient, f.url+link.URL); !bytes.Equal(got, data) {
			t.Errorf("instance %d: the signed link read %d bytes, not the upload", i, len(got))
		}
	}
}
