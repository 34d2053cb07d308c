package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/ferryhq/ferry/client"
)

// servedSerial is the serial number of the certificate a new TLS handshake
// with addr gets.
func servedSerial(t *testing.T, addr string, roots *tls.Config) string {
	t.Helper()
	c, err := tls.Dial("tcp", addr, roots)
	if err != nil {
		t.Fatalf("TLS handshake with %s: %v", addr, err)
	}
	defer c.Close()
	return c.ConnectionState().PeerCertificates[0].SerialNumber.String()
}

// TestServeTLS: ferry's own TLS. HTTP/2 for downloads and HTTP uploads,
// WebSocket uploads over wss (HTTP/1.1), plain HTTP refused on the TLS port
// and redirected on --http-redirect, and a certificate swapped by SIGHUP
// while a WebSocket upload runs: the upload finishes on the connection it
// had, and new handshakes get the new certificate.
func TestServeTLS(t *testing.T) {
	dir := t.TempDir()
	first := makeCert(t, dir, "ferry", "localhost", "127.0.0.1")
	second := makeCert(t, dir, "next", "localhost", "127.0.0.1")
	addr, redirect := freeAddr(t), freeAddr(t)
	in := launch(t, addr, ferryCommand(addr, []string{"--data", t.TempDir(), "--tls-cert", first.certFile,
		"--tls-key", first.keyFile, "--http-redirect", redirect}))
	base := "https://" + addr
	roots := pool(first, second)
	hc := httpsClient(roots, addr, "")
	waitHTTPS(t, hc, base+"/healthz", in.done, in.logs)
	tlsCfg := &tls.Config{RootCAs: roots}

	t.Run("plain HTTP", func(t *testing.T) {
		resp, err := http.Get("http://" + addr + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("plain HTTP on the TLS port: %s, want 400", resp.Status)
		}
		noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		_, port, _ := net.SplitHostPort(addr)
		resp, err = noFollow.Get("http://" + redirect + "/files/x?follow=1")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if want := "https://127.0.0.1:" + port + "/files/x?follow=1"; resp.StatusCode != http.StatusPermanentRedirect || resp.Header.Get("Location") != want {
			t.Errorf("--http-redirect: %s to %q, want 308 to %q", resp.Status, resp.Header.Get("Location"), want)
		}
	})

	// A WebSocket upload paced by its source, with the certificate
	// replaced and SIGHUP sent once a third has arrived.
	data, sum := randomBytes(t, 8<<20)
	var dials atomic.Int32
	dialer := &websocket.Dialer{TLSClientConfig: tlsCfg, HandshakeTimeout: 5 * time.Second,
		NetDialContext: func(ctx context.Context, network, a string) (net.Conn, error) {
			dials.Add(1)
			return (&net.Dialer{}).DialContext(ctx, network, a)
		}}
	var reloaded atomic.Bool
	var reloadErr error
	res, err := client.Upload(context.Background(), slowReader{bytes.NewReader(data), 2 * time.Millisecond}, int64(len(data)), client.Options{
		Server: base, Name: "tls.bin", SHA256: sum, ChunkSize: 64 << 10, Window: 256 << 10, Dialer: dialer,
		Progress: func(p client.Progress) {
			if p.Received < int64(len(data))/3 || !reloaded.CompareAndSwap(false, true) {
				return
			}
			// The upload is mid-way: swap the files and reload.
			for _, f := range [][2]string{{second.certFile, first.certFile}, {second.keyFile, first.keyFile}} {
				b, _ := os.ReadFile(f[0])
				if reloadErr = os.WriteFile(f[1], b, 0o600); reloadErr != nil {
					return
				}
			}
			if reloadErr = in.cmd.Process.Signal(syscall.SIGHUP); reloadErr != nil {
				return
			}
			deadline := time.Now().Add(10 * time.Second)
			for servedSerial(t, addr, tlsCfg) != second.serial.String() {
				if time.Now().After(deadline) {
					reloadErr = io.ErrNoProgress
					return
				}
				time.Sleep(20 * time.Millisecond)
			}
		},
	})
	if err != nil {
		t.Fatalf("upload over wss across the reload: %v\n%s", err, in.logs.String())
	}
	if !reloaded.Load() || reloadErr != nil {
		t.Fatalf("the reload mid-upload did not happen: %v\n%s", reloadErr, in.logs.String())
	}
	if n := dials.Load(); n != 1 {
		t.Errorf("the upload dialled %d times: the reload dropped its connection", n)
	}
	if !strings.Contains(in.logs.String(), "certificate reloaded") {
		t.Errorf("no reload in the log:\n%s", in.logs.String())
	}

	// Downloads over HTTP/2, with the new certificate, whole and a range.
	hc = httpsClient(pool(second), addr, "")
	resp, err := hc.Get(base + "/files/" + res.ID)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.ProtoMajor != 2 || !bytes.Equal(got, data) {
		t.Fatalf("download: %s over %s, %d bytes (equal: %v)", resp.Status, resp.Proto, len(got), bytes.Equal(got, data))
	}
	req, _ := http.NewRequest(http.MethodGet, base+"/files/"+res.ID, nil)
	req.Header.Set("Range", "bytes=1000-1999")
	resp, err = hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	got, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusPartialContent || resp.ProtoMajor != 2 || !bytes.Equal(got, data[1000:2000]) {
		t.Fatalf("range download: %s over %s, %d bytes", resp.Status, resp.Proto, len(got))
	}

	// An HTTP upload (IETF draft, one POST) over HTTP/2.
	body := data[:1<<20]
	req, _ = http.NewRequest(http.MethodPost, base+"/uploads/", bytes.NewReader(body))
	req.Header.Set("Upload-Complete", "?1")
	req.Header.Set("Upload-Draft-Interop-Version", "6")
	resp, err = hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 || resp.ProtoMajor != 2 {
		t.Fatalf("HTTP upload: %s over %s", resp.Status, resp.Proto)
	}
	loc := resp.Header.Get("Location")
	if !strings.HasPrefix(loc, "/uploads/") {
		t.Fatalf("HTTP upload: Location %q", loc)
	}
	if got := getAll(t, hc, base+"/files/"+idOf(loc)); !bytes.Equal(got, body) {
		t.Fatalf("HTTP upload stored %d bytes, want the %d sent", len(got), len(body))
	}
}
