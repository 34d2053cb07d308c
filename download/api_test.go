package download_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/ferryhq/ferry/download"
	"github.com/ferryhq/ferry/storage"
	"github.com/ferryhq/ferry/storage/local"
)

// getJSON GETs url, checks the status and decodes the body into v.
func getJSON(t *testing.T, url string, status int, v any) {
	t.Helper()
	resp, body := do(t, http.MethodGet, url, nil)
	if resp.StatusCode != status {
		t.Fatalf("GET %s: status %d, want %d (%s)", url, resp.StatusCode, status, body)
	}
	if err := json.Unmarshal(body, v); err != nil {
		t.Fatalf("GET %s: %v in %s", url, err, body)
	}
}

// TestListFiles pages through completed files, newest first.
func TestListFiles(t *testing.T) {
	// A clock that ticks a second per call gives every file its own
	// completion time, so newest first is a strict order.
	var mu sync.Mutex
	clock := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	store, err := local.New(local.Config{Dir: t.TempDir(), Now: func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		clock = clock.Add(time.Second)
		return clock
	}})
	if err != nil {
		t.Fatal(err)
	}
	spy := &spyBackend{Backend: store}
	srv := newServer(t, spy)

	var empty map[string]any
	getJSON(t, srv.URL+"/api/files", http.StatusOK, &empty)
	if files, ok := empty["files"].([]any); !ok || len(files) != 0 {
		t.Fatalf("empty store: files = %#v, want []", empty["files"])
	}
	if _, ok := empty["next"]; ok {
		t.Fatalf("empty store: next present")
	}

	var want []string // ids, newest first
	for i := range 5 {
		info := put(t, store, storage.Meta{Name: "f.txt"}, []byte{byte(i)})
		want = append([]string{info.ID}, want...)
	}
	startUpload(t, store, storage.Meta{Name: "incomplete", Size: 10}, []byte("1"))

	var all download.ListJSON
	getJSON(t, srv.URL+"/api/files", http.StatusOK, &all)
	if got := ids(all.Files); !slices.Equal(got, want) || all.Next != "" {
		t.Fatalf("one page: %v next %q, want %v and no next", got, all.Next, want)
	}

	var got []string
	pages := 0
	for next := ""; ; pages++ {
		var page download.ListJSON
		getJSON(t, srv.URL+"/api/files?limit=2&after="+url.QueryEscape(next), http.StatusOK, &page)
		if len(page.Files) > 2 {
			t.Fatalf("page of %d files with limit=2", len(page.Files))
		}
		got = append(got, ids(page.Files)...)
		if page.Next == "" {
			break
		}
		if pages > 5 {
			t.Fatal("paging does not end")
		}
		next = page.Next
	}
	if !slices.Equal(got, want) || pages != 2 {
		t.Fatalf("paged: %v in %d pages, want %v in 3", got, pages+1, want)
	}

	t.Run("limit", func(t *testing.T) {
		for _, tt := range []struct {
			query string
			limit int
		}{{"", 100}, {"limit=1", 1}, {"limit=1000", 1000}, {"limit=1001", 1000}, {"limit=5000", 1000}} {
			var page download.ListJSON
			getJSON(t, srv.URL+"/api/files?"+tt.query, http.StatusOK, &page)
			spy.mu.Lock()
			limit := spy.limit
			spy.mu.Unlock()
			if limit != tt.limit {
				t.Errorf("%q: List got limit %d, want %d", tt.query, limit, tt.limit)
			}
		}
	})
	t.Run("bad requests", func(t *testing.T) {
		for _, q := range []string{"limit=0", "limit=-1", "limit=abc", "limit=1.5", "limit=99999999999999999999",
			"after=garbage", "after=" + want[0], "after=%00"} {
			resp, body := do(t, http.MethodGet, srv.URL+"/api/files?"+q, nil)
			wantError(t, resp, body, http.StatusBadRequest, "bad_request")
		}
	})
}

func ids(files []download.FileJSON) []string {
	var out []string
	for _, f := range files {
		out = append(out, f.ID)
	}
	return out
}

// TestFileInfo checks the metadata of a complete file and of an upload in
// progress, field by field as the contract lists them.
func TestFileInfo(t *testing.T) {
	env := newEnv(t, nil)
	done := put(t, env.store, storage.Meta{Name: "done.txt", MIME: "text/plain"}, []byte("done"))
	w := startUpload(t, env.store, storage.Meta{Name: "half.bin", Size: 10}, []byte("12345"))

	var complete map[string]any
	getJSON(t, env.srv.URL+"/api/files/"+done.ID, http.StatusOK, &complete)
	wantFields(t, complete, map[string]any{
		"id": done.ID, "name": "done.txt", "size": 4.0, "mime": "text/plain",
		"sha256": done.SHA256, "complete": true, "offset": 4.0,
	}, "created")
	if _, ok := complete["expires_at"]; ok {
		t.Errorf("complete file has expires_at")
	}

	var partial map[string]any
	getJSON(t, env.srv.URL+"/api/files/"+w.ID(), http.StatusOK, &partial)
	wantFields(t, partial, map[string]any{
		"id": w.ID(), "name": "half.bin", "size": 10.0, "mime": "", "complete": false, "offset": 5.0,
	}, "created", "expires_at")
	if _, ok := partial["sha256"]; ok {
		t.Errorf("incomplete upload has sha256")
	}
}

// wantFields checks exact values and that the times are RFC 3339.
func wantFields(t *testing.T, got, want map[string]any, times ...string) {
	t.Helper()
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %#v, want %#v", k, got[k], v)
		}
	}
	for _, k := range times {
		s, _ := got[k].(string)
		if _, err := time.Parse(time.RFC3339, s); err != nil {
			t.Errorf("%s = %#v, not RFC 3339", k, got[k])
		}
	}
}

func TestNew(t *testing.T) {
	store, err := local.New(local.Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	for _, cfg := range []download.Config{{}, {Backend: store, FollowPoll: -time.Second},
		{Backend: store, FollowIdle: -time.Second}, {Backend: store, MaxFollowersPerUpload: -1},
		{Backend: store, MaxFollowers: -1}} {
		if _, err := download.New(cfg); err == nil {
			t.Errorf("New(%+v) succeeded", cfg)
		}
	}
	if _, err := download.New(download.Config{Backend: store}); err != nil {
		t.Errorf("New with defaults: %v", err)
	}
}
