package download_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/ferryhq/ferry/storage"
)

// TestBadIDs sends ids that are not canonical UUIDs, including every form of
// path traversal, to every route that takes an id, and checks that each gets
// the contract's 404 without the backend being asked anything.
func TestBadIDs(t *testing.T) {
	spy := &spyBackend{}
	env := newEnv(t, func(b storage.Backend) storage.Backend { spy.Backend = b; return spy })
	info := put(t, env.store, storage.Meta{Name: "secret.txt"}, []byte("secret"))
	id := info.ID
	v1 := uuid.Must(uuid.NewUUID()).String()
	ids := []string{
		"..",
		".",
		"..%2F..%2Fetc%2Fpasswd",
		"%2e%2e%2f%2e%2e%2fetc%2fpasswd",
		"..%5C..%5Cwindows",
		"%2Fetc%2Fpasswd",
		"%00",
		"a%00b",
		id + "%00",
		id + "%00.txt",
		id + ".data",
		id + ".json",
		id + ".lock",
		id + "%2F..",
		id + "%2f",
		"%20" + id,
		id + "%20",
		strings.ToUpper(id),
		strings.ReplaceAll(id, "-", ""),
		"{" + id + "}",
		"urn:uuid:" + id,
		v1,
		"00000000-0000-0000-0000-000000000000",
		"not-a-uuid",
		"~root",
		"C:%5Cwindows%5Cwin.ini",
		strings.Repeat("a", 4000),
	}
	routes := []struct{ method, prefix string }{
		{http.MethodGet, "/files/"},
		{http.MethodHead, "/files/"},
		{http.MethodGet, "/api/files/"},
	}
	for _, bad := range ids {
		for _, r := range routes {
			t.Run(r.method+" "+r.prefix+bad[:min(len(bad), 40)], func(t *testing.T) {
				for _, suffix := range []string{"", "?follow=1"} {
					resp, body := do(t, r.method, env.srv.URL+r.prefix+bad+suffix, nil)
					if r.method == http.MethodHead {
						if resp.StatusCode != http.StatusNotFound || len(body) != 0 {
							t.Fatalf("status %d with %d bytes, want 404 and no body", resp.StatusCode, len(body))
						}
						continue
					}
					wantError(t, resp, body, http.StatusNotFound, "not_found")
				}
			})
		}
	}
	if calls := spy.Calls(); len(calls) != 0 {
		t.Fatalf("invalid ids reached the backend: %q", calls)
	}
	// The file is still there and still the only thing served.
	resp, body := do(t, http.MethodGet, env.srv.URL+"/files/"+id, nil)
	wantWhole(t, resp, body, []byte("secret"))
}

// TestRawTraversal sends request lines that a Go client would not, straight
// to the socket.
func TestRawTraversal(t *testing.T) {
	env := newEnv(t, nil)
	put(t, env.store, storage.Meta{Name: "x"}, []byte("x"))
	targets := []string{
		"/files/../../../../etc/passwd",
		"/files/..\\..\\etc\\passwd",
		"/files/%2e%2e/%2e%2e/etc/passwd",
		"/files//etc/passwd",
		"/files/" + env.store.Dir(),
		"/files/%c0%ae%c0%ae%c0%af",
	}
	for _, target := range targets {
		t.Run(target, func(t *testing.T) {
			conn, err := net.Dial("tcp", env.srv.Listener.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", target)
			resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != http.StatusNotFound && resp.StatusCode != http.StatusBadRequest {
				t.Fatalf("status %d, want 404 (or 400 from net/http): %q", resp.StatusCode, body)
			}
			if strings.Contains(string(body), "root:") {
				t.Fatalf("served a file outside the store: %q", body)
			}
		})
	}
}

// TestNotServed checks the 404s of ids that are valid but not a file.
func TestNotServed(t *testing.T) {
	env := newEnv(t, nil)
	w := startUpload(t, env.store, storage.Meta{Name: "half.bin", Size: 10}, []byte("12345"))
	deleted := put(t, env.store, storage.Meta{Name: "gone.bin"}, []byte("gone"))
	if err := env.store.Delete(t.Context(), deleted.ID); err != nil {
		t.Fatal(err)
	}
	for what, id := range map[string]string{
		"unknown":    uuid.NewString(),
		"unknown v7": uuid.Must(uuid.NewV7()).String(),
		"incomplete": w.ID(),
		"deleted":    deleted.ID,
	} {
		t.Run(what, func(t *testing.T) {
			for _, rng := range []string{"", "bytes=0-1"} {
				resp, body := do(t, http.MethodGet, env.srv.URL+"/files/"+id, map[string]string{"Range": rng})
				wantError(t, resp, body, http.StatusNotFound, "not_found")
			}
			resp, body := do(t, http.MethodHead, env.srv.URL+"/files/"+id, nil)
			if resp.StatusCode != http.StatusNotFound || len(body) != 0 {
				t.Fatalf("HEAD: status %d with %d bytes, want 404 and no body", resp.StatusCode, len(body))
			}
		})
	}
}

// TestNoBodyRead proves that answers that carry no body never touch the
// object's bytes, even when its type would have to be sniffed.
func TestNoBodyRead(t *testing.T) {
	env := newEnv(t, func(b storage.Backend) storage.Backend { return panicBackend{b} })
	for _, meta := range []storage.Meta{
		{Name: "typed.bin", MIME: "application/octet-stream"},
		{Name: "untyped"},
	} {
		info := put(t, env.store, meta, randomBytes(1000, 5))
		url := env.srv.URL + "/files/" + info.ID
		etag := `"` + info.SHA256 + `"`
		later := info.Modified.Add(1e12).UTC().Format(http.TimeFormat)
		tests := []struct {
			name   string
			header map[string]string
			status int
		}{
			{"If-None-Match", map[string]string{"If-None-Match": etag}, http.StatusNotModified},
			{"If-None-Match with Range", map[string]string{"If-None-Match": etag, "Range": "bytes=0-1"}, http.StatusNotModified},
			{"If-Modified-Since", map[string]string{"If-Modified-Since": later}, http.StatusNotModified},
			{"If-Match", map[string]string{"If-Match": `"x"`}, http.StatusPreconditionFailed},
		}
		for _, tt := range tests {
			t.Run(meta.Name+"/"+tt.name, func(t *testing.T) {
				resp, _ := do(t, http.MethodGet, url, tt.header)
				if resp.StatusCode != tt.status {
					t.Fatalf("status %d, want %d", resp.StatusCode, tt.status)
				}
			})
		}
	}
}

// TestReadFailure checks that a storage error in the middle of a body cuts
// the response short instead of passing a truncated body off as whole.
func TestReadFailure(t *testing.T) {
	env := newEnv(t, func(b storage.Backend) storage.Backend { return failingReads{b, 100 << 10} })
	info := put(t, env.store, storage.Meta{Name: "big.bin"}, randomBytes(1<<20, 6))
	resp, err := http.Get(env.srv.URL + "/files/" + info.ID)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d, want 200", resp.StatusCode)
	}
	n, err := io.Copy(io.Discard, resp.Body)
	if err == nil {
		t.Fatalf("read %d of %d bytes and no error", n, 1<<20)
	}
}
