package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"io"
	"net/http"
	"strings"
	"testing"
)

const testLinkSecret = "a-link-secret-of-more-than-32-bytes-for-tests"

// putOverHTTP uploads body in one IETF request with token and returns the
// file's id.
func putOverHTTP(t *testing.T, base, token, name string, body []byte) string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, base+"/uploads/", bytes.NewReader(body))
	req.Header.Set("Upload-Complete", "?1")
	req.Header.Set("Content-Disposition", `attachment; filename="`+name+`"`)
	req.Header.Set("Content-Type", "text/plain")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc := resp.Header.Get("Location")
	if resp.StatusCode/100 != 2 || !strings.HasPrefix(loc, "/uploads/") {
		t.Fatalf("upload: %s, Location %q", resp.Status, loc)
	}
	return strings.TrimPrefix(loc, "/uploads/")
}

func get(t *testing.T, url string, header map[string]string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	for k, v := range header {
		if k == "Host" {
			req.Host = v
			continue
		}
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func runLinkOut(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err := run(context.Background(), append([]string{"link"}, args...), &out, &errOut)
	return strings.TrimSpace(out.String()), errOut.String(), err
}

func TestLinkCommand(t *testing.T) {
	t.Setenv("FERRY_LINK_SECRET", "") // the local mode only when a test asks for it
	base := startServe(t, "--data", t.TempDir(), "--token", "full", "--upload-token", "kiosk", "--read-token", "reader",
		"--link-secret", testLinkSecret)
	data := []byte("a file shared by a signed link")
	id := putOverHTTP(t, base, "kiosk", "shared.txt", data)

	// The upload-only token that stored it cannot read it back.
	if status, _ := get(t, base+"/files/"+id, map[string]string{"Authorization": "Bearer kiosk"}); status != 403 {
		t.Fatalf("upload token reading a file: %d, want 403", status)
	}

	t.Run("from the server, with a read token", func(t *testing.T) {
		link, _, err := runLinkOut(t, "--server", base, "--token", "reader", "--ttl", "2h", id)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(link, base+"/files/"+id+"?exp=") || strings.Contains(link, "token") {
			t.Fatalf("link %q", link)
		}
		if status, body := get(t, link, nil); status != 200 || body != string(data) {
			t.Fatalf("GET %s: %d %q", link, status, body)
		}
	})
	t.Run("a /files/ URL names the file too", func(t *testing.T) {
		link, _, err := runLinkOut(t, "--server", base, "--token", "full", base+"/files/"+id+"?download=1")
		if err != nil {
			t.Fatal(err)
		}
		if status, _ := get(t, link, nil); status != 200 {
			t.Fatalf("GET %s: %d", link, status)
		}
	})
	t.Run("signed here with the server's secret", func(t *testing.T) {
		link, _, err := runLinkOut(t, "--server", base, "--link-secret", testLinkSecret, id)
		if err != nil {
			t.Fatal(err)
		}
		if status, body := get(t, link, nil); status != 200 || body != string(data) {
			t.Fatalf("GET %s: %d %q", link, status, body)
		}
	})
	t.Run("signed here with another secret", func(t *testing.T) {
		link, _, err := runLinkOut(t, "--server", base, "--link-secret", strings.Repeat("x", 40), id)
		if err != nil {
			t.Fatal(err)
		}
		if status, body := get(t, link, nil); status != 403 || !strings.Contains(body, "invalid_link") {
			t.Fatalf("GET %s: %d %q, want 403 invalid_link", link, status, body)
		}
	})
	t.Run("failures say why", func(t *testing.T) {
		tests := []struct {
			args []string
			want string
		}{
			{[]string{"--server", base, "--token", "kiosk", id}, "read scope"},
			{[]string{"--server", base, id}, "needs a token"},
			{[]string{"--server", base, "--token", "wrong", id}, "needs a token"},
			{[]string{"--server", base, "--token", "full", "0192f8a4-7b3c-7d2e-8f10-00000000dead"}, "no such file"},
			{[]string{"--server", base, "--token", "full", "../../etc/passwd"}, "not a file id"},
			{[]string{"--server", base, "--token", "full", "--ttl", "9999h", id}, "bad_request"},
			{[]string{"--link-secret", "short", id}, "at least 32"},
			{[]string{"--server", base}, "no ID"},
		}
		for _, tt := range tests {
			_, stderr, err := runLinkOut(t, tt.args...)
			if err == nil || !strings.Contains(err.Error()+stderr, tt.want) {
				t.Errorf("%v: err %v, stderr %q; want %q", tt.args, err, stderr, tt.want)
			}
		}
	})
}

func TestLinkHelpDocumentsEveryFlagAndHidesSecrets(t *testing.T) {
	t.Setenv("FERRY_LINK_SECRET", "do-not-print-me-do-not-print-me-1234")
	t.Setenv("FERRY_TOKEN", "do-not-print-this-token")
	for _, cmd := range []string{"link", "serve"} {
		var out bytes.Buffer
		err := run(context.Background(), []string{cmd, "--help"}, io.Discard, &out)
		if !errors.Is(err, flag.ErrHelp) {
			t.Fatalf("%s --help returned %v", cmd, err)
		}
		for _, want := range []string{"-link-secret", "FERRY_LINK_SECRET", "-token", "FERRY_TOKEN"} {
			if !strings.Contains(out.String(), want) {
				t.Errorf("%s --help does not mention %s", cmd, want)
			}
		}
		if strings.Contains(out.String(), "do-not-print") {
			t.Errorf("%s --help shows a secret from the environment:\n%s", cmd, out.String())
		}
	}
	var out bytes.Buffer
	_ = run(context.Background(), []string{"link", "--help"}, io.Discard, &out)
	for _, want := range []string{"-server", "FERRY_SERVER", "-ttl", "FERRY_TTL", "ID..."} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("link --help does not mention %s", want)
		}
	}
}

// TestServeHostCheck: a `ferry serve` on 127.0.0.1 answers its own address
// and localhost, refuses a rebound name with 421, and serves a name once
// --allowed-hosts lists it.
func TestServeHostCheck(t *testing.T) {
	base := startServe(t, "--data", t.TempDir())
	for host, want := range map[string]int{"": 200, "localhost:8080": 200, "attacker.example": 421, "attacker.example:80": 421} {
		h := map[string]string{}
		if host != "" {
			h["Host"] = host
		}
		if status, body := get(t, base+"/api/files", h); status != want {
			t.Errorf("Host %q: %d %q, want %d", host, status, body, want)
		}
	}
	named := startServe(t, "--data", t.TempDir(), "--allowed-hosts", "files.example.com, *.corp.example")
	for host, want := range map[string]int{"files.example.com": 200, "a.corp.example": 200, "attacker.example": 421} {
		if status, body := get(t, named+"/api/files", map[string]string{"Host": host}); status != want {
			t.Errorf("--allowed-hosts, Host %q: %d %q, want %d", host, status, body, want)
		}
	}
}

func TestServeRefusesBadLinkSettings(t *testing.T) {
	for _, args := range [][]string{
		{"--link-secret", "too-short"},
		{"--link-ttl", "48h", "--link-max-ttl", "24h"},
		{"--link-ttl", "0s"},
	} {
		err := runServe(context.Background(), append([]string{"--addr", freeAddr(t), "--data", t.TempDir()}, args...), io.Discard, io.Discard)
		if err == nil || !strings.Contains(err.Error(), "link") {
			t.Errorf("%v: %v, want an error about the link settings", args, err)
		}
	}
}
