package web_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"testing"

	"github.com/ferryhq/ferry/storage"
	"github.com/ferryhq/ferry/storage/local"
	"github.com/ferryhq/ferry/upload"
	"github.com/ferryhq/ferry/web"
)

// TestHealth checks /healthz against stores that answer and stores that do
// not, with and without storage.Pinger.
func TestHealth(t *testing.T) {
	tests := []struct {
		name string
		wrap func(storage.Backend) storage.Backend
		ok   bool
	}{
		{"local", nil, true},
		{"ping fails", func(b storage.Backend) storage.Backend { return pinger{b, errors.New("down")} }, false},
		{"no Pinger, List answers", func(b storage.Backend) storage.Backend { return noPing{b} }, true},
		{"no Pinger, List fails", func(b storage.Backend) storage.Backend { return brokenList{b} }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			store, err := local.New(local.Config{Dir: t.TempDir()})
			if err != nil {
				t.Fatal(err)
			}
			var b storage.Backend = store
			if tt.wrap != nil {
				b = tt.wrap(store)
			}
			ts, _ := newServer(t, web.Config{Config: upload.Config{Backend: b}})
			for _, method := range []string{http.MethodGet, http.MethodHead} {
				resp, body := do(t, method, ts.URL+"/healthz", nil)
				want, wantBody := http.StatusOK, `{"status":"ok"}`
				if !tt.ok {
					want, wantBody = http.StatusServiceUnavailable, `{"error":"unavailable"}`
				}
				if method == http.MethodHead {
					wantBody = ""
				}
				if resp.StatusCode != want || !sameJSON(body, wantBody) {
					t.Fatalf("%s: status %d %q, want %d %s", method, resp.StatusCode, body, want, wantBody)
				}
				if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
					t.Errorf("%s: Cache-Control %q, want no-store", method, cc)
				}
			}
		})
	}
}

// sameJSON reports whether got and want are the same JSON value, or both
// empty.
func sameJSON(got, want string) bool {
	if got == "" || want == "" {
		return got == want
	}
	var g, w any
	return json.Unmarshal([]byte(got), &g) == nil && json.Unmarshal([]byte(want), &w) == nil &&
		jsonText(g) == jsonText(w)
}

func jsonText(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// pinger is a backend whose Ping answers err.
type pinger struct {
	storage.Backend
	err error
}

func (p pinger) Ping(context.Context) error { return p.err }

// noPing hides the backend's Ping (and every other optional interface).
type noPing struct{ storage.Backend }

// brokenList is a backend without Ping whose List fails.
type brokenList struct{ storage.Backend }

func (brokenList) List(context.Context, string, int) (storage.ListPage, error) {
	return storage.ListPage{}, errors.New("store unreachable")
}
