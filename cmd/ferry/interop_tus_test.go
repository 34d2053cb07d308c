package main

// tus-js-client (the real client, run by node from testdata/interop) against
// a real ferry process at /uploads/, over the three protocols it speaks:
// tus 1.0 and the IETF Resumable Uploads drafts 03 and 05.

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

var interopProtocols = []string{"tus-v1", "ietf-draft-03", "ietf-draft-05"}

const (
	interopName = "Grüße, 2026 (final).bin" // non-ASCII and a comma: metadata is base64
	interopType = "application/x-ferry-interop"
)

// TestInteropTusJSClientAbortKillResume: tus-js-client uploads half a file
// and stops; ferry is killed with -9 and started again on the same address
// and data; tus-js-client resumes from the upload URL (HEAD, then PATCH
// from the offset) and the download is the file, byte for byte.
func TestInteropTusJSClientAbortKillResume(t *testing.T) {
	node := needInterop(t)
	for _, protocol := range interopProtocols {
		t.Run(protocol, func(t *testing.T) {
			addr, data := freeAddr(t), t.TempDir()
			args := []string{"--data", data}
			f := startInstanceAt(t, addr, args...)
			path, want := writeRandomFile(t, "src.bin", 4<<20)
			common := []string{"--file", path, "--protocol", protocol, "--chunk-size", "262144",
				"--filename", interopName, "--filetype", interopType, "--ietf-name-headers"}

			first := runUploader(t, node, 20*time.Second, append(common, "--endpoint", f.url+"/uploads/", "--abort-at", "0.5")...)
			aborted := first.last("aborted")
			if first.err != nil || aborted == nil || aborted.URL == "" {
				t.Fatalf("first half: %v\n%s\n%s", first.err, first.exchanges(), first.output)
			}
			if !strings.HasPrefix(aborted.URL, f.url+"/uploads/") {
				t.Errorf("upload URL %s is not under %s/uploads/", aborted.URL, f.url)
			}
			if e := first.last("response"); e != nil && protocol == "tus-v1" && e.Headers["Tus-Resumable"] != "1.0.0" {
				t.Errorf("tus answer without Tus-Resumable: 1.0.0: %v", e.Headers)
			}

			f.kill()
			f = startInstanceAt(t, addr, args...)

			second := runUploader(t, node, 20*time.Second, append(common, "--endpoint", f.url+"/uploads/", "--upload-url", aborted.URL)...)
			if second.err != nil || second.last("success") == nil {
				t.Fatalf("resume after kill -9: %v\n%s\n%s", second.err, second.exchanges(), second.output)
			}
			checkResumedAt(t, second, aborted.Offset)
			id := idOf(aborted.URL)
			checkDownload(t, f.url, id, want)
			checkNameType(t, f.url, id, len(want))

			// Resuming a completed upload: HEAD says it is all there, and
			// the client sends nothing more.
			third := runUploader(t, node, 20*time.Second, append(common, "--endpoint", f.url+"/uploads/", "--upload-url", aborted.URL)...)
			if third.err != nil || third.last("success") == nil {
				t.Fatalf("resuming the completed upload: %v\n%s\n%s", third.err, third.exchanges(), third.output)
			}
			for _, e := range third.events {
				if e.Event == "request" && e.Method != "HEAD" {
					t.Errorf("resuming a completed upload sent %s:\n%s", e.Method, third.exchanges())
				}
			}
			checkNoServerErrors(t, first, second, third)
		})
	}
}

// TestInteropTusJSClientRetriesAcrossKill: ferry is killed with -9 while
// tus-js-client is uploading and started again a moment later; the client's
// retryDelays carry it over (HEAD, then PATCH from the durable offset)
// without anyone telling it anything.
func TestInteropTusJSClientRetriesAcrossKill(t *testing.T) {
	node := needInterop(t)
	for _, protocol := range interopProtocols {
		t.Run(protocol, func(t *testing.T) {
			addr, data := freeAddr(t), t.TempDir()
			args := []string{"--data", data}
			f := startInstanceAt(t, addr, args...)
			path, want := writeRandomFile(t, "src.bin", 8<<20)

			// Events are handled on this goroutine, so ferry is restarted
			// here; the client meanwhile finds nobody and retries.
			killed := false
			var reported int64 // the last offset ferry reported before the kill
			run := watchUploader(t, node, 30*time.Second, func(e clientEvent) {
				if killed || e.Event != "chunk" || e.Accepted < e.Total/4 {
					return
				}
				killed, reported = true, e.Accepted
				f.kill()
				time.Sleep(300 * time.Millisecond)
				f = startInstanceAt(t, addr, args...)
			}, "--endpoint", f.url+"/uploads/", "--file", path, "--protocol", protocol, "--chunk-size", "65536",
				"--filename", interopName, "--filetype", interopType, "--ietf-name-headers",
				"--retry-delays", "200,300,500,1000,1000,2000,3000")
			if !killed {
				t.Fatalf("ferry was never killed: the upload ended first\n%s", run.exchanges())
			}
			if run.err != nil || run.last("success") == nil {
				t.Fatalf("upload across kill -9: %v\n%s\n%s", run.err, run.exchanges(), run.output)
			}
			if s := run.last("success"); s.MS > 4000 {
				t.Logf("slow: the upload took %d ms:\n%s", s.MS, run.exchanges())
			}
			checkResumedAt(t, run, reported)
			checkNoServerErrors(t, run)
			base := f.url
			id := idOf(run.last("url").URL)
			checkDownload(t, base, id, want)
			checkNameType(t, base, id, len(want))
		})
	}
}

// checkResumedAt checks that the client's HEADs after the kill found at least
// the offset ferry had reported before it, and that it never created a
// second upload.
func checkResumedAt(t *testing.T, run *clientRun, reported int64) {
	t.Helper()
	heads := 0
	for _, e := range run.events {
		if e.Event != "response" {
			continue
		}
		if e.Method == "HEAD" && e.Status/100 == 2 {
			heads++
			off, err := strconv.ParseInt(e.Headers["Upload-Offset"], 10, 64)
			if err != nil {
				t.Errorf("HEAD %s: Upload-Offset %q: %v", e.URL, e.Headers["Upload-Offset"], err)
				continue
			}
			if off < reported {
				t.Errorf("HEAD %s after kill -9 reports offset %d, but %d had been reported before: durable bytes lost\n%s",
					e.URL, off, reported, run.exchanges())
			}
		}
	}
	if heads == 0 {
		t.Errorf("the client never asked for the offset (no successful HEAD):\n%s", run.exchanges())
	}
	posts := 0
	for _, e := range run.events {
		if e.Event == "response" && e.Method == "POST" {
			posts++
		}
	}
	if posts > 1 {
		t.Errorf("the client created %d uploads; the resume should have continued the first:\n%s", posts, run.exchanges())
	}
}

// checkNoServerErrors fails the test for any 5xx answer the client saw:
// its retries would hide them (a kill shows as a refused connection, not a
// status).
func checkNoServerErrors(t *testing.T, runs ...*clientRun) {
	t.Helper()
	for _, run := range runs {
		for _, e := range run.events {
			if e.Event == "response" && e.Status >= 500 {
				t.Errorf("%s %s answered %d %v (the client retried):\n%s", e.Method, e.URL, e.Status, e.Headers, run.exchanges())
				break
			}
		}
	}
}

// TestInteropTusJSClientVariants: tus-js-client's other ways of uploading,
// per protocol: the first bytes in the creation request
// (uploadDataDuringCreation: tus creation-with-upload, IETF POST with a
// body), and a length told only at the end (uploadLengthDeferred: tus
// creation-defer-length, IETF without Upload-Length).
func TestInteropTusJSClientVariants(t *testing.T) {
	node := needInterop(t)
	f := startInstanceAt(t, freeAddr(t), "--data", t.TempDir())
	path, want := writeRandomFile(t, "variant.bin", 1<<20+12345)
	for _, protocol := range interopProtocols {
		for _, variant := range []string{"--data-during-creation", "--deferred-length"} {
			t.Run(protocol+variant, func(t *testing.T) {
				run := runUploader(t, node, 20*time.Second, "--endpoint", f.url+"/uploads/", "--file", path,
					"--protocol", protocol, "--chunk-size", "400000", variant,
					"--filename", interopName, "--filetype", interopType, "--ietf-name-headers")
				if run.err != nil || run.last("success") == nil {
					t.Fatalf("%v\n%s\n%s", run.err, run.exchanges(), run.output)
				}
				checkNoServerErrors(t, run)
				id := idOf(run.last("success").URL)
				checkDownload(t, f.url, id, want)
				checkNameType(t, f.url, id, len(want))
			})
		}
	}
}

// checkNameType checks what /api/files says of a completed upload, and that
// /api/files lists it.
func checkNameType(t *testing.T, base, id string, size int) {
	t.Helper()
	fi := getFileInfo(t, base, id)
	if !fi.Complete || fi.Size != int64(size) {
		t.Errorf("/api/files/%s: complete %v size %d, want complete size %d", id, fi.Complete, fi.Size, size)
	}
	if fi.Name != interopName || !strings.HasPrefix(fi.MIME, interopType) {
		t.Errorf("/api/files/%s: name %q type %q, want %q %q (from the upload's metadata)", id, fi.Name, fi.MIME, interopName, interopType)
	}
	found := false
	for _, l := range listedIDs(t, base) {
		found = found || l == id
	}
	if !found && !againstTusd() {
		t.Errorf("/api/files does not list %s", id)
	}
}

// TestInteropTusJSClientParallelUploads: tus-js-client's parallelUploads
// uses the concatenation extension (partial uploads, then a final POST with
// Upload-Concat), which ferry does not offer. Either the upload works, or it
// fails without leaving anything behind: the partial pieces must not show
// up in /api/files as completed files of their own.
func TestInteropTusJSClientParallelUploads(t *testing.T) {
	node := needInterop(t)
	f := startInstanceAt(t, freeAddr(t), "--data", t.TempDir())
	path, want := writeRandomFile(t, "parallel.bin", 1<<20)
	before := len(listedIDs(t, f.url))
	run := runUploader(t, node, 20*time.Second, "--endpoint", f.url+"/uploads/", "--file", path,
		"--parallel", "2", "--filename", interopName, "--filetype", interopType)
	if s := run.last("success"); s != nil {
		id := idOf(s.URL)
		checkDownload(t, f.url, id, want)
		checkNameType(t, f.url, id, len(want))
		return
	}
	t.Logf("parallelUploads failed as ferry has no concatenation: %s", run.last("error").Message)
	if after := listedIDs(t, f.url); len(after) != before {
		var created []string
		for _, e := range run.events {
			if e.Event == "response" && e.Method == "POST" && e.Status == http.StatusCreated {
				created = append(created, e.Headers["Location"])
			}
		}
		t.Errorf("the failed parallel upload left %d completed files in /api/files: ferry accepted the partial uploads "+
			"(POST with Upload-Concat: partial, created %v) as uploads of their own; it should refuse Upload-Concat:\n%s",
			len(after)-before, created, run.exchanges())
	}
}
