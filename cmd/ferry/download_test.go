package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ferryhq/ferry/storage"
)

func TestDownloadCommand(t *testing.T) {
	base := startServe(t, "--data", t.TempDir(), "--token", "full", "--read-token", "rd", "--upload-token", "up")
	data := bytes.Repeat([]byte("ferry download "), 5000)
	id := putOverHTTP(t, base, "up", "../../report.txt", data)
	dir := t.TempDir()
	t.Chdir(dir)

	var out bytes.Buffer
	if err := runDownload(t.Context(), []string{"--server", base, "--token", "rd", base + "/files/" + id}, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	if out.String() != "report.txt\n" {
		t.Fatalf("printed %q; want the file's base name", out.String())
	}
	if got, err := os.ReadFile(filepath.Join(dir, "report.txt")); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("downloaded %d bytes, %v", len(got), err)
	}

	out.Reset()
	if err := runDownload(t.Context(), []string{"--server", base, "--token", "rd", "--output", "-", id}, &out, io.Discard); err != nil || !bytes.Equal(out.Bytes(), data) {
		t.Fatalf("--output -: %v, %d bytes", err, out.Len())
	}

	incomplete := startTus(t, base, "up", 10)
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"in progress", []string{"--token", "rd", incomplete}, "not complete"},
		{"unknown", []string{"--token", "rd", storage.NewID()}, "no such file"},
		{"upload token", []string{"--token", "up", id}, "read scope"},
		{"no token", []string{id}, "needs a token"},
		{"not an id", []string{"--token", "rd", "nope"}, "not a file id"},
		{"output with two", []string{"--token", "rd", "--output", "x", id, id}, "one ID"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := runDownload(t.Context(), append([]string{"--server", base}, tc.args...), io.Discard, io.Discard)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("%v; want an error saying %q", err, tc.want)
			}
		})
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Fatalf("the directory holds %d entries; the failures left something behind", len(entries))
	}
}

// TestDownloadRefusesWrongBytes: a server (here a fake one injecting the
// fault) whose bytes do not match its digest leaves no file behind.
func TestDownloadRefusesWrongBytes(t *testing.T) {
	id := storage.NewID()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/api/files/") {
			io.WriteString(w, `{"name":"a.bin","complete":true,"sha256":"`+strings.Repeat("0", 64)+`"}`)
			return
		}
		io.WriteString(w, "not what the digest says")
	}))
	t.Cleanup(srv.Close)
	dir := t.TempDir()
	t.Chdir(dir)
	err := runDownload(context.Background(), []string{"--server", srv.URL, id}, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "sha256") {
		t.Fatalf("%v; want a digest mismatch", err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Fatalf("a mismatching download left %v", entries)
	}
}

func TestDownloadHelp(t *testing.T) {
	var stderr bytes.Buffer
	if err := runDownload(context.Background(), []string{"--help"}, io.Discard, &stderr); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("--help returned %v", err)
	}
	for _, want := range []string{"-server", "-token", "-output", "FERRY_OUTPUT", "ID..."} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("--help does not mention %q", want)
		}
	}
}
