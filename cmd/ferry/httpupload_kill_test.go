package main

import (
	"bytes"
	"net/http"
	"strconv"
	"testing"
)

// TestHTTPUploadOffsetsSurviveKillDashNine: every Upload-Offset a PATCH
// answered with is durable. Chunks are PATCHed one after another and the
// server is killed with SIGKILL right after an answer; a new process on the
// same data directory reports at least that offset, and the upload
// completes byte for byte.
func TestHTTPUploadOffsetsSurviveKillDashNine(t *testing.T) {
	dir := t.TempDir()
	data, _ := randomBytes(t, 6<<20)
	first := startInstance(t, "--data", dir)

	req := func(base, method, path string, h map[string]string, body []byte) *http.Response {
		t.Helper()
		r, err := http.NewRequest(method, base+path, bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		r.Header.Set("Tus-Resumable", "1.0.0")
		for k, v := range h {
			r.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(r)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		resp.Body.Close()
		return resp
	}
	resp := req(first.url, "POST", "/uploads/", map[string]string{"Upload-Length": strconv.Itoa(len(data))}, nil)
	if resp.StatusCode != 201 {
		t.Fatalf("create: %s", resp.Status)
	}
	loc := resp.Header.Get("Location")
	var reported int64
	for _, end := range []int{1 << 20, 3<<20 + 12345} {
		resp := req(first.url, "PATCH", loc, map[string]string{"Upload-Offset": strconv.FormatInt(reported, 10),
			"Content-Type": "application/offset+octet-stream"}, data[reported:end])
		if resp.StatusCode != 204 {
			t.Fatalf("PATCH to %d: %s", end, resp.Status)
		}
		if reported, _ = strconv.ParseInt(resp.Header.Get("Upload-Offset"), 10, 64); reported != int64(end) {
			t.Fatalf("PATCH answered offset %d, want %d", reported, end)
		}
	}
	first.kill()

	second := startInstance(t, "--data", dir)
	resp = req(second.url, "HEAD", loc, nil, nil)
	got, _ := strconv.ParseInt(resp.Header.Get("Upload-Offset"), 10, 64)
	if resp.StatusCode != 200 || got < reported {
		t.Fatalf("after kill -9: HEAD %s offset %d, the last answer said %d", resp.Status, got, reported)
	}
	resp = req(second.url, "PATCH", loc, map[string]string{"Upload-Offset": strconv.FormatInt(got, 10),
		"Content-Type": "application/offset+octet-stream"}, data[got:])
	if resp.StatusCode != 204 {
		t.Fatalf("last PATCH: %s", resp.Status)
	}
	if !bytes.Equal(download(t, second.url+resp.Header.Get("Content-Location")), data) {
		t.Fatal("the downloaded file differs from the upload")
	}
}
