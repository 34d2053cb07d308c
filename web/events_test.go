package web_test

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/ferryhq/ferry/events"
	"github.com/ferryhq/ferry/storage"
	"github.com/ferryhq/ferry/storage/local"
	"github.com/ferryhq/ferry/upload"
	"github.com/ferryhq/ferry/web"
)

// eventsServer is a web.Server whose backend publishes on the bus it serves.
func eventsServer(t *testing.T, cfg web.Config) (*httptest.Server, *web.Server, storage.Backend) {
	t.Helper()
	inner, err := local.New(local.Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	bus := events.NewBus()
	cfg.Backend = events.Wrap(inner, bus, nil)
	cfg.Events = bus
	srv, err := web.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	return ts, srv, cfg.Backend
}

// readEvents returns the event names and payloads of a stream as they come.
func readEvents(t *testing.T, resp *http.Response) <-chan events.Event {
	out := make(chan events.Event, 16)
	go func() {
		defer close(out)
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			data, ok := strings.CutPrefix(sc.Text(), "data: ")
			if !ok {
				continue
			}
			var e events.Event
			if json.Unmarshal([]byte(data), &e) == nil && e.ID != "" {
				out <- e
			}
		}
	}()
	return out
}

func TestEventsRouteScopes(t *testing.T) {
	ts, _, _ := eventsServer(t, web.Config{Tokens: []string{"full"}, UploadTokens: []string{"up"}, ReadTokens: []string{"rd"}})
	for _, tc := range []struct {
		name   string
		auth   string
		query  string
		status int
	}{
		{"no token", "", "", http.StatusUnauthorized},
		{"unknown token", "Bearer nope", "", http.StatusUnauthorized},
		{"upload token", "Bearer up", "", http.StatusForbidden},
		{"read token", "Bearer rd", "", http.StatusOK},
		{"read token in the query (EventSource sends no header)", "", "?token=rd", http.StatusOK},
		{"full token", "Bearer full", "", http.StatusOK},
		{"bad id", "Bearer rd", "?id=x", http.StatusBadRequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, ts.URL+"/api/events"+tc.query, nil)
			if tc.auth != "" {
				req.Header.Set("Authorization", tc.auth)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d; want %d", resp.StatusCode, tc.status)
			}
		})
	}
}

// TestEventsOfAnUploadThroughTheServer: the server's backend publishes, the
// route streams, the API's DELETE is seen, and Shutdown ends the stream.
func TestEventsOfAnUploadThroughTheServer(t *testing.T) {
	ts, srv, b := eventsServer(t, web.Config{Config: upload.Config{}})
	id := storage.NewID()
	resp, err := http.Get(ts.URL + "/api/events?id=" + id)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("GET /api/events: %s %s", resp.Status, resp.Header.Get("Content-Type"))
	}
	got := readEvents(t, resp)
	putFile(t, b, storage.NewID(), "other", []byte("not followed"))
	putFile(t, b, id, "x.txt", []byte("hello"))
	if r, _ := do(t, http.MethodDelete, ts.URL+"/api/files/"+id, nil); r.StatusCode != http.StatusNoContent {
		t.Fatalf("DELETE: %d", r.StatusCode)
	}
	for _, want := range []events.Kind{events.Created, events.Progress, events.Complete, events.Deleted} {
		e := <-got
		if e.Kind != want || e.Upload.ID != id {
			t.Fatalf("event %s of %s; want %s of %s", e.Kind, e.Upload.ID, want, id)
		}
	}
	if err := srv.Shutdown(t.Context()); err != nil {
		t.Fatal(err)
	}
	if e, ok := <-got; ok {
		t.Fatalf("after Shutdown the stream went on: %+v", e)
	}
}

func TestNoEventsRouteWithoutABus(t *testing.T) {
	ts, _ := newServer(t, web.Config{})
	resp, _ := do(t, http.MethodGet, ts.URL+"/api/events", nil)
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("GET /api/events without Config.Events: %d; want 404", resp.StatusCode)
	}
}
