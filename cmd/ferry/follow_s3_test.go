package main

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"sync/atomic"
	"testing"
	"time"
)

// follower reads GET url (a ?follow=1 download) in the background.
type follower struct {
	got  atomic.Int64
	buf  bytes.Buffer // written by the reader goroutine only; read after done
	done chan error
}

func follow(t *testing.T, url string) *follower {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	f := &follower{done: make(chan error, 1)}
	go func() {
		defer resp.Body.Close()
		p := make([]byte, 64<<10)
		for {
			n, err := resp.Body.Read(p)
			f.buf.Write(p[:n])
			f.got.Add(int64(n))
			if err != nil {
				if errors.Is(err, io.EOF) {
					err = nil
				}
				f.done <- err
				return
			}
		}
	}()
	return f
}

// waitFor waits until the follower has n bytes, failing if it ends first
// or a minute passes (a bound on a follow that does not stream live).
func (f *follower) waitFor(t *testing.T, n int64) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for f.got.Load() < n {
		select {
		case err := <-f.done:
			t.Fatalf("the follow ended (%v) with %d bytes, before %d", err, f.got.Load(), n)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("the follow has %d bytes after a minute; %d are durable", f.got.Load(), n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestS3FollowAcrossInstances: a ?follow=1 on instance B streams the durable
// bytes of an upload that instance A is receiving, before it completes,
// and ends cleanly with every byte once it does; an upload deleted while
// followed ends the follow uncleanly.
func TestS3FollowAcrossInstances(t *testing.T) {
	ferries := s3Instances(t, 2)
	a, b := ferries[0], ferries[1]
	data, _ := randomBytes(t, 13<<20) // a whole 8 MiB part and pending bytes

	id := startTus(t, a.url, "", len(data))
	appendTus(t, a.url, "", id, 0, data[:3<<20]) // pending bytes only
	f := follow(t, b.url+"/files/"+id+"?follow=1")
	f.waitFor(t, 3<<20)
	appendTus(t, a.url, "", id, 3<<20, data[3<<20:10<<20]) // part 1 whole, 2 MiB pending
	f.waitFor(t, 10<<20)
	appendTus(t, a.url, "", id, 10<<20, data[10<<20:])
	select {
	case err := <-f.done:
		if err != nil {
			t.Fatalf("the follow of a completed upload ended with %v", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("the follow did not end within a minute of completion")
	}
	if !bytes.Equal(f.buf.Bytes(), data) {
		t.Fatalf("followed %d bytes that differ from the %d uploaded (first difference at %d)", f.buf.Len(), len(data), firstDiff(f.buf.Bytes(), data))
	}

	// Deleted on A while followed on B: the follow ends uncleanly.
	gone := startTus(t, a.url, "", len(data))
	appendTus(t, a.url, "", gone, 0, data[:1<<20])
	f = follow(t, b.url+"/files/"+gone+"?follow=1")
	f.waitFor(t, 1<<20)
	tusDo(t, http.MethodDelete, a.url+"/uploads/"+gone, "", nil, nil)
	select {
	case err := <-f.done:
		if err == nil {
			t.Fatal("the follow of a deleted upload ended cleanly")
		}
	case <-time.After(time.Minute):
		t.Fatal("the follow did not end within a minute of the deletion")
	}
	if !bytes.Equal(f.buf.Bytes(), data[:f.buf.Len()]) {
		t.Fatal("the follow of the deleted upload sent other bytes")
	}
}
