package main

import (
	"bufio"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ferryhq/ferry/events"
)

// sseEvents reads the events of GET url (a /api/events stream) into a
// channel until the test ends.
func sseEvents(t *testing.T, url string) <-chan events.Event {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	out := make(chan events.Event, 64)
	go func() {
		defer resp.Body.Close()
		defer close(out)
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			data, ok := strings.CutPrefix(sc.Text(), "data: ")
			var e events.Event
			if ok && json.Unmarshal([]byte(data), &e) == nil && e.ID != "" {
				out <- e
			}
		}
	}()
	return out
}

// nextOf returns the next event of upload id, skipping others' (a minute
// bounds a broken relay; it is not a speed check).
func nextOf(t *testing.T, c <-chan events.Event, id string) events.Event {
	t.Helper()
	deadline := time.After(time.Minute)
	for {
		select {
		case e, ok := <-c:
			if !ok {
				t.Fatal("the event stream ended")
			}
			if e.Upload.ID == id {
				return e
			}
		case <-deadline:
			t.Fatalf("no event of %s within a minute", id)
		}
	}
}

// TestS3EventsAcrossInstances: an upload made on instance A is seen by a
// subscriber of instance B, in order, and B's own events by A's, each once.
func TestS3EventsAcrossInstances(t *testing.T) {
	ferries := s3Instances(t, 2)
	a, b := ferries[0], ferries[1]
	onA := sseEvents(t, a.url+"/api/events")
	onB := sseEvents(t, b.url+"/api/events")

	id := startTus(t, a.url, "", 10)
	created := nextOf(t, onB, id)
	appendTus(t, a.url, "", id, 0, []byte("0123456789"))
	var kinds []events.Kind
	var done events.Event
	for done.Kind != events.Complete {
		done = nextOf(t, onB, id)
		kinds = append(kinds, done.Kind)
	}
	lag := time.Since(done.Time)
	if created.Kind != events.Created || done.Upload.Offset != 10 || done.Upload.SHA256 == "" || kinds[0] != events.Progress {
		t.Fatalf("B saw %s, then %v (complete %+v)", created.Kind, kinds, done.Upload)
	}
	t.Logf("B saw A's complete %s after it happened", lag)

	// A's own stream has its events once (not again from the bucket).
	if e := nextOf(t, onA, id); e.ID != created.ID {
		t.Fatalf("A's first event of its upload %+v; want %s", e, created.ID)
	}
	for {
		e := nextOf(t, onA, id)
		if e.Kind == events.Complete {
			if e.ID != done.ID {
				t.Fatalf("A's complete %s differs from B's %s", e.ID, done.ID)
			}
			break
		}
	}
	// An upload deleted on B is seen on A, and nothing of the first upload
	// came twice on either in between.
	other := startTus(t, b.url, "", 5)
	tusDo(t, http.MethodDelete, b.url+"/uploads/"+other, "", nil, nil)
	for _, c := range []<-chan events.Event{onA, onB} {
		for _, want := range []events.Kind{events.Created, events.Deleted} {
			select {
			case e := <-c:
				if e.Upload.ID != other || e.Kind != want {
					t.Fatalf("got %s of %s; want %s of %s (a duplicate?)", e.Kind, e.Upload.ID, want, other)
				}
			case <-time.After(time.Minute):
				t.Fatalf("no %s of %s within a minute", want, other)
			}
		}
	}
}
