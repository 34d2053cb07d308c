package main

// Two ferry processes on one MinIO bucket: an upload tus-js-client started on
// one instance resumes on the other, and two PATCHes of the same upload sent
// to both at once leave one writer. Skips without MinIO, as the S3 e2e tests
// do (make test starts one).

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestInteropS3TusJSClientResumesOnOtherInstance: tus-js-client uploads half
// a file to instance A and stops; given B's address with the same path, it
// resumes there from A's durable offset.
func TestInteropS3TusJSClientResumesOnOtherInstance(t *testing.T) {
	node := needInterop(t)
	ferries := s3Instances(t, 2)
	a, b := ferries[0], ferries[1]
	path, want := writeRandomFile(t, "s3.bin", 12<<20)
	common := []string{"--file", path, "--protocol", "tus-v1", "--chunk-size", strconv.Itoa(1 << 20),
		"--filename", interopName, "--filetype", interopType}

	first := runUploader(t, node, 30*time.Second, append(common, "--endpoint", a.url+"/uploads/", "--abort-at", "0.5")...)
	aborted := first.last("aborted")
	if first.err != nil || aborted == nil {
		t.Fatalf("first half on A: %v\n%s\n%s", first.err, first.exchanges(), first.output)
	}
	u, err := url.Parse(aborted.URL)
	if err != nil {
		t.Fatal(err)
	}
	onB := b.url + u.Path
	second := runUploader(t, node, 30*time.Second, append(common, "--endpoint", b.url+"/uploads/", "--upload-url", onB)...)
	if second.err != nil || second.last("success") == nil {
		t.Fatalf("resume on B (%s): %v\n%s\n%s", onB, second.err, second.exchanges(), second.output)
	}
	checkResumedAt(t, second, aborted.Offset)
	id := idOf(onB)
	for _, f := range ferries {
		checkDownload(t, f.url, id, want)
	}
	checkNameType(t, b.url, id, len(want))
}

// pacedReader hands out data at step bytes per pause, as a slow client
// would send it, whatever the size of the reads.
type pacedReader struct {
	data  []byte
	step  int
	pause time.Duration
	start <-chan struct{}
	left  int // of the current step
	// unsent is len(data), for the test's goroutine while the client's reads.
	unsent atomic.Int64
}

func (p *pacedReader) Read(b []byte) (int, error) {
	if p.start != nil {
		<-p.start
		p.start = nil
	}
	if len(p.data) == 0 {
		return 0, io.EOF
	}
	if p.left == 0 {
		time.Sleep(p.pause)
		p.left = p.step
	}
	n := copy(b[:min(len(b), p.left)], p.data)
	p.data, p.left = p.data[n:], p.left-n
	p.unsent.Store(int64(len(p.data)))
	return n, nil
}

// pacedPatch sends body as a tus PATCH at offset 0 of url and tells how it
// ended; instance names the request in logs.
func pacedPatch(ctx context.Context, instance, url string, body *pacedReader, size int) patchOutcome {
	o := patchOutcome{instance: instance}
	req, _ := http.NewRequestWithContext(ctx, http.MethodPatch, url, body)
	req.ContentLength = int64(size)
	req.Header.Set("Tus-Resumable", "1.0.0")
	req.Header.Set("Upload-Offset", "0")
	req.Header.Set("Content-Type", "application/offset+octet-stream")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		o.err = err
		return o
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	o.status, o.offset, o.body = resp.StatusCode, resp.Header.Get("Upload-Offset"), string(b)
	return o
}

type patchOutcome struct {
	instance string
	status   int
	offset   string
	body     string
	err      error
}

func (o patchOutcome) String() string {
	if o.err != nil {
		return fmt.Sprintf("%s: %v", o.instance, o.err)
	}
	return fmt.Sprintf("%s: %d Upload-Offset %q %q", o.instance, o.status, o.offset, truncate(o.body, 200))
}

// TestInteropS3SimultaneousPatches: two PATCHes at offset 0 of one upload, to
// instance A and instance B at the same moment, each with different bytes.
// One writer only: at most one of them succeeds, the other is refused (409,
// 423) or ended by a takeover, and what is stored is wholly the bytes of one
// of them, never a mix. The upload completed from the reported offset is
// byte for byte that writer's file.
func TestInteropS3SimultaneousPatches(t *testing.T) {
	ferries := s3Instances(t, 2)
	size := 8 << 20
	srcA, _ := randomBytes(t, size)
	srcB, _ := randomBytes(t, size)

	req, _ := http.NewRequest(http.MethodPost, ferries[0].url+"/uploads/", nil)
	req.Header.Set("Tus-Resumable", "1.0.0")
	req.Header.Set("Upload-Length", strconv.Itoa(size))
	req.Header.Set("Upload-Metadata", tusMetadata("race.bin", "application/octet-stream"))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusCreated || loc == "" {
		t.Fatalf("POST /uploads/: %s, Location %q", resp.Status, loc)
	}
	u, _ := url.Parse(loc)
	path := u.Path

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	start := make(chan struct{})
	outcomes := make([]patchOutcome, 2)
	srcs := [][]byte{srcA, srcB}
	var wg sync.WaitGroup
	for i, f := range ferries {
		wg.Add(1)
		go func() {
			defer wg.Done()
			body := &pacedReader{data: srcs[i], step: 128 << 10, pause: 15 * time.Millisecond, start: start}
			outcomes[i] = pacedPatch(ctx, string(rune('A'+i)), f.url+path, body, size)
		}()
	}
	close(start)
	wg.Wait()
	t.Logf("PATCH at offset 0 to both instances at once: %v; %v", outcomes[0], outcomes[1])

	succeeded := 0
	for _, o := range outcomes {
		switch {
		case o.err != nil:
			// Ended by a takeover: the connection may go without an answer.
		case o.status/100 == 2:
			succeeded++
		case o.status == http.StatusConflict || o.status == http.StatusLocked:
		default:
			t.Errorf("PATCH %v: want 2xx, 409, 423 or an ended request", o)
		}
	}
	if succeeded > 1 {
		t.Fatalf("both PATCHes succeeded: two writers of one upload: %v; %v", outcomes[0], outcomes[1])
	}

	// The stored prefix, whatever its length, is one writer's bytes; the
	// rest is completed with A's bytes from the offset HEAD reports
	// (retrying while the loser's instance still holds its lease), then
	// the whole is checked.
	var off int64
	deadline := time.Now().Add(15 * time.Second)
	for {
		off = headTus(t, ferries[1].url+path)
		if off == int64(size) {
			break
		}
		status, body, err := patchTus(ferries[1].url+path, off, srcA[off:])
		if err == nil && status/100 == 2 {
			break
		}
		if time.Now().After(deadline) || (err == nil && status != http.StatusLocked && status != http.StatusConflict) {
			t.Fatalf("completing from offset %d: %d %q %v", off, status, body, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	got := download(t, ferries[0].url+"/files/"+idOf(path))
	switch {
	case len(got) != size:
		t.Fatalf("stored %d bytes, want %d", len(got), size)
	case bytes.Equal(got, srcA):
		t.Logf("A's bytes won (offset %d when the race ended)", off)
	case bytes.Equal(got, srcB):
		t.Logf("B's bytes won (offset %d when the race ended)", off)
	case bytes.Equal(got[off:], srcA[off:]) && bytes.Equal(got[:off], srcB[:off]):
		t.Logf("B's bytes won up to %d, completed with A's source", off)
	default:
		t.Fatalf("the stored bytes mix both writers: first difference from A at %d, from B at %d (race offset %d)",
			firstDiff(got, srcA), firstDiff(got, srcB), off)
	}
}

// headTus asks for a tus upload's offset.
func headTus(t *testing.T, u string) int64 {
	t.Helper()
	req, _ := http.NewRequest(http.MethodHead, u, nil)
	req.Header.Set("Tus-Resumable", "1.0.0")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		t.Fatalf("HEAD %s: %s", u, resp.Status)
	}
	off, err := strconv.ParseInt(resp.Header.Get("Upload-Offset"), 10, 64)
	if err != nil {
		t.Fatalf("HEAD %s: Upload-Offset %q", u, resp.Header.Get("Upload-Offset"))
	}
	return off
}

func patchTus(u string, off int64, data []byte) (int, string, error) {
	req, _ := http.NewRequest(http.MethodPatch, u, bytes.NewReader(data))
	req.Header.Set("Tus-Resumable", "1.0.0")
	req.Header.Set("Upload-Offset", strconv.FormatInt(off, 10))
	req.Header.Set("Content-Type", "application/offset+octet-stream")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), nil
}

// TestInteropS3TakeoverAcrossInstances: a slow PATCH is writing an upload on
// instance A when a client (having lost track of it) asks B for the offset
// and PATCHes the rest there. B's request takes the upload over: A's request
// ends, keeping its durable bytes, B's completes, and the file is whole.
func TestInteropS3TakeoverAcrossInstances(t *testing.T) {
	ferries := s3Instances(t, 2)
	takeover(t, ferries[0].url, ferries[1].url)
}

// TestInteropTakeoverOfOpenRequest is the same on one instance with local
// storage: what a client does when its connection died but the server has
// not noticed yet.
func TestInteropTakeoverOfOpenRequest(t *testing.T) {
	f := startInstanceAt(t, freeAddr(t), "--data", t.TempDir())
	takeover(t, f.url, f.url)
}

func takeover(t *testing.T, first, second string) {
	t.Helper()
	size := 8 << 20
	src, _ := randomBytes(t, size)
	req, _ := http.NewRequest(http.MethodPost, first+"/uploads/", nil)
	req.Header.Set("Tus-Resumable", "1.0.0")
	req.Header.Set("Upload-Length", strconv.Itoa(size))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	u, _ := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusCreated || u.Path == "" {
		t.Fatalf("POST /uploads/: %s, Location %q", resp.Status, resp.Header.Get("Location"))
	}
	path := u.Path

	// The slow writer: 8 MiB at 1.25 MiB/s, 6.4 s in all.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	slowDone := make(chan patchOutcome, 1)
	slowStart := time.Now()
	body := &pacedReader{data: src, step: 128 << 10, pause: 100 * time.Millisecond}
	body.unsent.Store(int64(len(src)))
	go func() { slowDone <- pacedPatch(ctx, "slow", first+path, body, size) }()
	time.Sleep(time.Second)

	// The new request: HEAD, then PATCH the rest; 409 (the old request's
	// last bytes became durable meanwhile) and 423 mean ask again.
	var log []string
	var unsentAtTakeover int64
	for try := 0; ; try++ {
		off := headTus(t, second+path)
		status, answer, err := patchTus(second+path, off, src[off:])
		log = append(log, fmt.Sprintf("HEAD %d; PATCH from %d: %d %q %v", off, off, status, truncate(answer, 100), err))
		if err == nil && status/100 == 2 {
			unsentAtTakeover = body.unsent.Load()
			break
		}
		if try == 5 || (err == nil && status != http.StatusConflict && status != http.StatusLocked) {
			t.Fatalf("the new request did not take the upload over:\n%s", strings.Join(log, "\n"))
		}
		time.Sleep(100 * time.Millisecond)
	}
	var slow patchOutcome
	select {
	case slow = <-slowDone:
	case <-time.After(10 * time.Second):
		t.Fatalf("the old request still runs 10 s after the new one completed the upload")
	}
	t.Logf("old request: %v after %s; new: %s", slow, time.Since(slowStart).Round(time.Millisecond), strings.Join(log, "; "))
	if slow.err == nil && slow.status/100 == 2 {
		t.Errorf("the old request succeeded too (%v): two writers", slow)
	}
	// Had the new request waited for the old one instead of taking over,
	// the old client would have sent its whole body first.
	if unsentAtTakeover == 0 {
		t.Errorf("the new request completed only after the old one had sent all its bytes: it waited instead of taking over")
	}
	checkDownload(t, second, idOf(path), src)
}
