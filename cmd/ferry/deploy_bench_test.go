package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ferryhq/ferry/client"
)

// BenchmarkThroughNginx measures an upload (WebSocket, and IETF in one
// POST) and a full download of 64 MiB three ways, in turn in the same run:
// through the guide's nginx (https, HTTP/2 where the client speaks it), to
// the same ferry directly over plain http, and to a second ferry serving
// https itself (--tls-cert). It reports each throughput and the ratios of
// nginx to each direct way (target: nginx >= 0.8x direct,
// docs/performance.md).
func BenchmarkThroughNginx(b *testing.B) {
	d := deployGuideSetup(b)
	tlsAddr := freeAddr(b)
	startFerryTLS := ferryCommand(tlsAddr, []string{"--data", b.TempDir(), "--tls-cert", d.cert.certFile, "--tls-key", d.cert.keyFile})
	tlsFerry := &instance{url: "https://" + tlsAddr, cmd: startFerryTLS, logs: &syncBuffer{}, done: make(chan struct{})}
	startFerryTLS.Stdout, startFerryTLS.Stderr = tlsFerry.logs, tlsFerry.logs
	if err := startFerryTLS.Start(); err != nil {
		b.Fatal(err)
	}
	go func() { _ = startFerryTLS.Wait(); close(tlsFerry.done) }()
	b.Cleanup(tlsFerry.kill)
	tlsClient := httpsClient(pool(d.cert), tlsAddr, "")
	waitHTTPS(b, tlsClient, tlsFerry.url+"/healthz", tlsFerry.done, tlsFerry.logs)
	data := make([]byte, 64<<20)
	for i := range data {
		data[i] = byte(i*7 + i>>11)
	}
	s := sha256.Sum256(data)
	sum := hex.EncodeToString(s[:])
	direct := &http.Client{}

	wsUpload := func(server string, viaTLS bool) (time.Duration, string) {
		opts := client.Options{Server: server, Name: "bench.bin", SHA256: sum}
		if viaTLS {
			var dials atomic.Int32
			opts.Dialer = d.wsDialer(&dials, nil) // dials nginx: the TLS ferry's address below
			if server == tlsFerry.url {
				opts.Dialer.NetDialContext = dialVia(tlsAddr, "")
				opts.Dialer.TLSClientConfig.ServerName = ""
			}
		}
		start := time.Now()
		res, err := client.Upload(context.Background(), bytes.NewReader(data), int64(len(data)), opts)
		if err != nil {
			b.Fatal(err)
		}
		return time.Since(start), res.ID
	}
	httpUpload := func(c *http.Client, base string) (time.Duration, string) {
		req, _ := http.NewRequest(http.MethodPost, base+"/uploads/", bytes.NewReader(data))
		req.Header.Set("Upload-Complete", "?1")
		req.Header.Set("Upload-Draft-Interop-Version", "6")
		start := time.Now()
		resp, err := c.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		resp.Body.Close()
		loc := resp.Header.Get("Location")
		if resp.StatusCode/100 != 2 || !strings.HasPrefix(loc, "/uploads/") {
			b.Fatalf("POST /uploads/: %s", resp.Status)
		}
		return time.Since(start), idOf(loc)
	}
	download := func(c *http.Client, url string) time.Duration {
		start := time.Now()
		resp, err := c.Get(url)
		if err != nil {
			b.Fatal(err)
		}
		n, err := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if err != nil || n != int64(len(data)) {
			b.Fatalf("GET %s: %d bytes, %v", url, n, err)
		}
		return time.Since(start)
	}

	type trio struct{ direct, directTLS, nginx time.Duration }
	var ws, post, get trio
	_, id := wsUpload(d.ferry.url, false) // the file the downloads read
	_, tlsID := wsUpload(tlsFerry.url, true)
	b.SetBytes(int64(len(data)))
	b.ResetTimer()
	for i := range b.N {
		// Rotate which goes first, so that none always meets a warm cache.
		for j := range 3 {
			switch (i + j) % 3 {
			case 0:
				t, _ := wsUpload(d.nginx.public, true)
				ws.nginx += t
				t, _ = httpUpload(d.hc, d.nginx.public)
				post.nginx += t
				get.nginx += download(d.hc, d.nginx.public+"/files/"+id)
			case 1:
				t, _ := wsUpload(d.ferry.url, false)
				ws.direct += t
				t, _ = httpUpload(direct, d.ferry.url)
				post.direct += t
				get.direct += download(direct, d.ferry.url+"/files/"+id)
			case 2:
				t, _ := wsUpload(tlsFerry.url, true)
				ws.directTLS += t
				t, _ = httpUpload(tlsClient, tlsFerry.url)
				post.directTLS += t
				get.directTLS += download(tlsClient, tlsFerry.url+"/files/"+tlsID)
			}
		}
	}
	b.StopTimer()
	mbs := func(t time.Duration) float64 { return float64(b.N) * float64(len(data)) / (1 << 20) / t.Seconds() }
	for _, m := range []struct {
		name string
		p    trio
	}{{"ws-upload", ws}, {"http-upload", post}, {"download", get}} {
		b.ReportMetric(mbs(m.p.direct), m.name+"-direct-MiB/s")
		b.ReportMetric(mbs(m.p.directTLS), m.name+"-directTLS-MiB/s")
		b.ReportMetric(mbs(m.p.nginx), m.name+"-nginx-MiB/s")
		b.ReportMetric(m.p.direct.Seconds()/m.p.nginx.Seconds(), m.name+"-nginx/direct")
		b.ReportMetric(m.p.directTLS.Seconds()/m.p.nginx.Seconds(), m.name+"-nginx/directTLS")
	}
}
