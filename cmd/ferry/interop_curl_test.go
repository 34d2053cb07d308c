package main

// curl against a real ferry process at /uploads/: an upload in one request
// (IETF `Upload-Complete: ?1`, tus creation-with-upload), and an upload cut
// off mid-request, then resumed by hand with `curl -I` and `curl -X PATCH`.

import (
	"bufio"
	"context"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/textproto"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// needCurl returns the path of curl, or skips (fails under CI=true).
func needCurl(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("curl")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("interop tests need curl: " + err.Error())
		}
		t.Skip("interop tests need curl: " + err.Error())
	}
	return p
}

// curlResponse is one response curl received: interim (1xx) ones too.
type curlResponse struct {
	status int
	header http.Header
}

// curlResult is what one curl run received.
type curlResult struct {
	responses []curlResponse // in order; the last is the final one
	body      []byte
	stderr    string
	args      []string
}

func (r *curlResult) final() curlResponse {
	if len(r.responses) == 0 {
		return curlResponse{header: http.Header{}}
	}
	return r.responses[len(r.responses)-1]
}

// String shows the exchange for failure messages.
func (r *curlResult) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "  $ curl %s\n", strings.Join(r.args, " "))
	for _, resp := range r.responses {
		fmt.Fprintf(&b, "  < %d %v\n", resp.status, resp.header)
	}
	if len(r.body) > 0 && r.args[0] != "-I" {
		fmt.Fprintf(&b, "  < body %q\n", truncate(string(r.body), 300))
	}
	if r.stderr != "" {
		fmt.Fprintf(&b, "  ! %s\n", strings.TrimSpace(r.stderr))
	}
	return b.String()
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

// parseHeaderDump reads curl's -D file: every response's status line and
// header fields, interim responses included.
func parseHeaderDump(dump []byte) []curlResponse {
	var out []curlResponse
	r := textproto.NewReader(bufio.NewReader(strings.NewReader(string(dump))))
	for {
		line, err := r.ReadLine()
		if err != nil {
			return out
		}
		if line == "" {
			continue
		}
		fields := strings.Fields(line)
		if len(fields) < 2 || !strings.HasPrefix(fields[0], "HTTP/") {
			continue
		}
		status, _ := strconv.Atoi(fields[1])
		h, _ := r.ReadMIMEHeader()
		out = append(out, curlResponse{status: status, header: http.Header(h)})
	}
}

// curl runs curl with args (plus -sS and a header dump) and returns what it
// received. It does not fail the test on a non-2xx answer.
func curl(t *testing.T, args ...string) *curlResult {
	t.Helper()
	bin := needCurl(t)
	dir := t.TempDir()
	dump, body := filepath.Join(dir, "headers"), filepath.Join(dir, "body")
	// Only a bound for a curl that hangs: on a loaded machine with -race a
	// request of a few MiB through ferry can take more than 20 s.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	full := append([]string{"-sS", "-D", dump, "-o", body}, args...)
	cmd := exec.CommandContext(ctx, bin, full...)
	var stderr syncBuffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	res := &curlResult{args: args, stderr: stderr.String()}
	if err != nil {
		res.stderr += " (" + err.Error() + ")"
	}
	d, _ := os.ReadFile(dump)
	res.responses = parseHeaderDump(d)
	res.body, _ = os.ReadFile(body)
	return res
}

func tusMetadata(name, typ string) string {
	return "filename " + base64.StdEncoding.EncodeToString([]byte(name)) +
		",filetype " + base64.StdEncoding.EncodeToString([]byte(typ))
}

const ietfDisposition = `attachment; filename="curl upload.bin"`

// TestInteropCurlOneRequest uploads a whole file with one curl POST.
func TestInteropCurlOneRequest(t *testing.T) {
	needCurl(t)
	f := startInstanceAt(t, freeAddr(t), "--data", t.TempDir())
	path, want := writeRandomFile(t, "one.bin", 3<<20+17)

	cases := []struct {
		name     string
		args     []string
		wantName string
	}{
		{"ietf", []string{"-X", "POST", "-H", "Upload-Complete: ?1",
			"-H", "Content-Type: " + interopType, "-H", "Content-Disposition: " + ietfDisposition,
			"--data-binary", "@" + path, f.url + "/uploads/"}, "curl upload.bin"},
		{"ietf-draft-05", []string{"-X", "POST", "-H", "Upload-Complete: ?1", "-H", "Upload-Draft-Interop-Version: 6",
			"-H", "Content-Type: " + interopType, "-H", "Content-Disposition: " + ietfDisposition,
			"--data-binary", "@" + path, f.url + "/uploads/"}, "curl upload.bin"},
		{"tus-creation-with-upload", []string{"-X", "POST", "-H", "Tus-Resumable: 1.0.0",
			"-H", "Upload-Length: " + strconv.Itoa(len(want)), "-H", "Content-Type: application/offset+octet-stream",
			"-H", "Upload-Metadata: " + tusMetadata(interopName, interopType),
			"--data-binary", "@" + path, f.url + "/uploads/"}, interopName},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res := curl(t, tc.args...)
			final := res.final()
			loc := final.header.Get("Location")
			if final.status != http.StatusCreated || !strings.HasPrefix(loc, "/uploads/") && !strings.HasPrefix(loc, f.url+"/uploads/") {
				t.Fatalf("want 201 with Location /uploads/<id>:\n%s", res)
			}
			if strings.HasPrefix(tc.name, "tus") {
				if final.header.Get("Tus-Resumable") != "1.0.0" || final.header.Get("Upload-Offset") != strconv.Itoa(len(want)) {
					t.Errorf("tus creation-with-upload: want Tus-Resumable 1.0.0 and Upload-Offset %d:\n%s", len(want), res)
				}
			} else if c := final.header.Get("Upload-Complete"); c != "" && c != "?1" {
				t.Errorf("IETF: final answer says Upload-Complete %s:\n%s", c, res)
			}
			id := idOf(loc)
			checkDownload(t, f.url, id, want)
			fi := getFileInfo(t, f.url, id)
			if fi.Name != tc.wantName || !strings.HasPrefix(fi.MIME, interopType) {
				t.Errorf("/api/files/%s: name %q type %q, want %q %q", id, fi.Name, fi.MIME, tc.wantName, interopType)
			}
		})
	}
}

// streamingCurl is a curl whose request body comes from a pipe the test
// writes to, sent as it is written (chunked), so that the test can cut the
// request off halfway by killing curl.
type streamingCurl struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	dump  string
	done  chan struct{}
	err   error
}

func startStreamingCurl(t *testing.T, args ...string) *streamingCurl {
	t.Helper()
	bin := needCurl(t)
	dump := filepath.Join(t.TempDir(), "headers")
	full := append([]string{"-sS", "-N", "-D", dump, "-o", os.DevNull, "-T", "-", "-H", "Expect:"}, args...)
	cmd := exec.Command(bin, full...)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	s := &streamingCurl{cmd: cmd, stdin: stdin, dump: dump, done: make(chan struct{})}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { s.err = cmd.Wait(); close(s.done) }()
	t.Cleanup(s.kill)
	return s
}

// kill is kill -9 of curl: the connection ends mid-body.
func (s *streamingCurl) kill() {
	_ = s.cmd.Process.Kill()
	<-s.done
}

// responses returns what curl has received so far.
func (s *streamingCurl) responses() []curlResponse {
	d, _ := os.ReadFile(s.dump)
	return parseHeaderDump(d)
}

// headOffset asks for the offset with curl -I.
func headOffset(t *testing.T, url string, headers ...string) (int64, *curlResult) {
	t.Helper()
	args := []string{"-I"}
	for _, h := range headers {
		args = append(args, "-H", h)
	}
	res := curl(t, append(args, url)...)
	final := res.final()
	if final.status/100 != 2 {
		t.Fatalf("HEAD %s: want 2xx:\n%s", url, res)
	}
	off, err := strconv.ParseInt(final.header.Get("Upload-Offset"), 10, 64)
	if err != nil {
		t.Fatalf("HEAD %s: Upload-Offset: %v\n%s", url, err, res)
	}
	return off, res
}

// serverCounters reads counters from the /metrics of the ferry at base: how
// many bytes of upload bodies it has written to storage, and how many
// checkpoints made them durable. Against tusd (whose own counter moves
// only when a request ends) both are 0: see waitReceived.
func serverCounters(t *testing.T, base string) (received, checkpoints int64) {
	t.Helper()
	if againstTusd() {
		return 0, 0
	}
	const bytesName, checkpointsName = "ferry_http_upload_bytes_total", "ferry_http_upload_checkpoint_seconds_count"
	c := &http.Client{Timeout: 30 * time.Second}
	resp, err := c.Get(base + "/metrics")
	if err != nil {
		t.Fatalf("GET /metrics: %v", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %s %v", resp.Status, err)
	}
	found := false
	for _, line := range strings.Split(string(body), "\n") {
		name, value, ok := strings.Cut(line, " ")
		if !ok || name != bytesName && name != checkpointsName {
			continue
		}
		v, err := strconv.ParseFloat(value, 64)
		if err != nil {
			t.Fatalf("/metrics: %q: %v", line, err)
		}
		if name == bytesName {
			received, found = int64(v), true
		} else {
			checkpoints = int64(v)
		}
	}
	if !found {
		t.Fatalf("/metrics has no %s", bytesName)
	}
	return received, checkpoints
}

// waitReceived waits until the server at base has written more than
// before bytes of upload bodies to storage (serverCounters), and returns
// how many more; against tusd, until its file of the upload at uploadURL
// has bytes, and returns how many. A request cut off from then on has
// bytes that arrived, which the server must keep: waiting for that instead
// of a while keeps the tests true on a loaded machine, where a while can
// pass with nothing crossing.
func waitReceived(t *testing.T, base string, before int64, uploadURL string) int64 {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		if againstTusd() {
			dir, _ := tusdDirs.Load(base)
			if st, err := os.Stat(filepath.Join(dir.(string), idOf(uploadURL))); err == nil && st.Size() > 0 {
				return st.Size()
			}
		} else if n, _ := serverCounters(t, base); n > before {
			return n - before
		}
		if time.Now().After(deadline) {
			t.Fatalf("the server has written no byte of the request's body to storage in a minute")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitDurable waits until the server at base has received bytes of a body
// (more than before) and then made a checkpoint, so that some of them are
// durable: a kill -9 from then on must not lose them.
func waitDurable(t *testing.T, base string, before int64, uploadURL string) {
	t.Helper()
	waitReceived(t, base, before, uploadURL)
	if againstTusd() {
		return
	}
	// A checkpoint that ends after this read began after those bytes were
	// written: one request's stores and checkpoints run one after another.
	_, c0 := serverCounters(t, base)
	deadline := time.Now().Add(time.Minute)
	for {
		if _, c := serverCounters(t, base); c > c0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the server made no checkpoint in a minute after it had written bytes of the request's body")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestInteropCurlCutOffThenResume: a request carrying the upload's bytes is
// cut off halfway (curl killed); `curl -I` tells the offset, which must keep
// bytes that arrived, and `curl -X PATCH` from there completes the upload.
func TestInteropCurlCutOffThenResume(t *testing.T) {
	needCurl(t)
	f := startInstanceAt(t, freeAddr(t), "--data", t.TempDir())
	size := 4 << 20
	_, want := writeRandomFile(t, "cut.bin", size)
	half := size / 2

	type proto struct {
		name   string
		marker []string // headers that say which protocol
		patch  []string // headers of the completing PATCH, besides Upload-Offset
	}
	tus := proto{"tus", []string{"Tus-Resumable: 1.0.0"}, []string{"Content-Type: application/offset+octet-stream"}}
	ietf5 := proto{"ietf-draft-05", []string{"Upload-Draft-Interop-Version: 6"},
		[]string{"Content-Type: application/partial-upload", "Upload-Complete: ?1"}}
	ietf3 := proto{"ietf-draft-03", []string{"Upload-Draft-Interop-Version: 5"}, []string{"Upload-Complete: ?1"}}

	hdrs := func(hs ...[]string) []string {
		var out []string
		for _, h := range hs {
			for _, v := range h {
				out = append(out, "-H", v)
			}
		}
		return out
	}

	// create makes an empty upload the protocol's way and returns its URL.
	create := func(t *testing.T, p proto) string {
		var args []string
		if p.name == "tus" {
			args = hdrs(p.marker, []string{"Upload-Length: " + strconv.Itoa(size),
				"Upload-Metadata: " + tusMetadata(interopName, interopType)})
		} else {
			// No Upload-Length: drafts 03 and 05 learn the length from
			// the request that says Upload-Complete: ?1.
			args = hdrs(p.marker, []string{"Upload-Complete: ?0",
				"Content-Type: " + interopType, "Content-Disposition: " + ietfDisposition})
		}
		res := curl(t, append(append([]string{"-X", "POST"}, args...), "--data-binary", "", f.url+"/uploads/")...)
		final := res.final()
		if final.status != http.StatusCreated || final.header.Get("Location") == "" {
			t.Fatalf("creating the upload: want 201 with Location:\n%s", res)
		}
		return absolute(f.url, final.header.Get("Location"))
	}

	// finish completes an upload cut off after sent bytes, of which the
	// server had written arrived to storage before the cut: HEAD for the
	// offset, PATCH with the rest, then the checks.
	finish := func(t *testing.T, p proto, url string, sent int, arrived int64) {
		// Right after the cut the server may still be making what arrived
		// durable: HEAD tells the durable offset, so ask until it moves.
		var off int64
		var head *curlResult
		start := time.Now()
		for {
			off, head = headOffset(t, url, p.marker...)
			if off >= arrived || time.Since(start) > time.Minute {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		t.Logf("after the cut at %d bytes sent (%d written by the server), HEAD says Upload-Offset %d (%s after the cut)",
			sent, arrived, off, time.Since(start).Round(time.Millisecond))
		if off < arrived || off <= 0 || off > int64(sent) {
			t.Fatalf("after a request cut off with %d bytes sent, %d of them written by the server, the offset is %d: want %d <= offset <= %d (bytes that arrived are kept):\n%s",
				sent, arrived, off, max(arrived, 1), sent, head)
		}
		// The rest from there; a 409 (the cut-off request's last bytes
		// became durable after the HEAD) means: ask again, as clients do.
		var res *curlResult
		var final curlResponse
		for try := 0; try < 5; try++ {
			rest := filepath.Join(t.TempDir(), "rest")
			if err := os.WriteFile(rest, want[off:], 0o644); err != nil {
				t.Fatal(err)
			}
			args := append([]string{"-X", "PATCH"}, hdrs(p.marker, p.patch, []string{"Upload-Offset: " + strconv.FormatInt(off, 10)})...)
			res = curl(t, append(args, "--data-binary", "@"+rest, url)...)
			final = res.final()
			if final.status != http.StatusConflict {
				break
			}
			t.Logf("PATCH at %d: 409; asking again", off)
			off, _ = headOffset(t, url, p.marker...)
		}
		if final.status/100 != 2 || final.header.Get("Upload-Offset") != "" && final.header.Get("Upload-Offset") != strconv.Itoa(size) {
			t.Fatalf("completing PATCH from %d: want 2xx with Upload-Offset %d:\n%s", off, size, res)
		}
		id := idOf(url)
		checkDownload(t, f.url, id, want)
		fi := getFileInfo(t, f.url, id)
		if !strings.HasPrefix(fi.MIME, interopType) {
			t.Errorf("/api/files/%s: type %q, want %q", id, fi.MIME, interopType)
		}
	}

	for _, p := range []proto{tus, ietf5, ietf3} {
		t.Run(p.name+"/patch-cut", func(t *testing.T) {
			url := create(t, p)
			before, _ := serverCounters(t, f.url)
			s := startStreamingCurl(t, append(append([]string{"-X", "PATCH"}, hdrs(p.marker, p.patch, []string{"Upload-Offset: 0"})...), url)...)
			if _, err := s.stdin.Write(want[:half]); err != nil {
				t.Fatalf("writing to curl: %v", err)
			}
			// The cut, once bytes have crossed. A PATCH body is written as
			// it arrives, so what arrived must be kept.
			arrived := waitReceived(t, f.url, before, url)
			s.kill()
			finish(t, p, url, half, arrived)
		})
	}

	// IETF: the creation request itself carries the bytes; the 104 interim
	// response tells the client where the upload is before the body ends.
	for _, p := range []proto{ietf5, ietf3} {
		t.Run(p.name+"/post-cut", func(t *testing.T) {
			before, _ := serverCounters(t, f.url)
			s := startStreamingCurl(t, append(append([]string{"-X", "POST"}, hdrs(p.marker, []string{"Upload-Complete: ?1",
				"Content-Type: " + interopType, "Content-Disposition: " + ietfDisposition})...), f.url+"/uploads/")...)
			// curl reads its body with fread, which waits for a full
			// buffer, and reads no answer meanwhile: keep feeding it in
			// pieces until the 104 has been seen, at least half the file
			// and never the whole (a loaded machine may take a while).
			var loc string
			sent := 0
			for (sent < half || loc == "") && sent+64<<10 < size {
				if _, err := s.stdin.Write(want[sent : sent+64<<10]); err != nil {
					t.Fatalf("writing to curl: %v", err)
				}
				sent += 64 << 10
				time.Sleep(10 * time.Millisecond)
				for _, r := range s.responses() {
					if r.status == 104 && r.header.Get("Location") != "" {
						loc = r.header.Get("Location")
					}
				}
			}
			if loc == "" {
				s.kill()
				t.Fatalf("no 104 interim response with Location while %d bytes of a POST with %s and Upload-Complete: ?1 were sent; received %+v",
					sent, p.marker[0], s.responses())
			}
			arrived := waitReceived(t, f.url, before, absolute(f.url, loc))
			s.kill()
			finish(t, p, absolute(f.url, loc), sent, arrived)
		})
	}
}

// absolute resolves a Location against base.
func absolute(base, loc string) string {
	if strings.HasPrefix(loc, "/") {
		return base + loc
	}
	return loc
}

// TestInteropCurlProtocolDetails: discovery, checksums, termination and
// ferry's refusals (docs/protocol.md §4), each as curl sends it, on a
// ferry with a token, a maximum size and allowed types.
func TestInteropCurlProtocolDetails(t *testing.T) {
	needCurl(t)
	f := startInstanceAt(t, freeAddr(t), "--data", t.TempDir(), "--token", "tok",
		"--max-size", "1MiB", "--allowed-types", "image/*")
	auth := []string{"-H", "Authorization: Bearer tok"}
	// Clipped: every append(tusH, ...) below makes a slice of its own.
	tusH := slices.Clip(append([]string{"-H", "Tus-Resumable: 1.0.0"}, auth...))
	ietfH := slices.Clip(append([]string{"-H", "Upload-Draft-Interop-Version: 6"}, auth...))
	data, _ := randomBytes(t, 768<<10)
	copy(data, "\x89PNG\r\n\x1a\n") // ferry sniffs the bytes against --allowed-types
	file := func(b []byte) string {
		p := filepath.Join(t.TempDir(), "part")
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return "@" + p
	}
	do := func(args ...string) *curlResult { return curl(t, args...) }
	expect := func(t *testing.T, res *curlResult, status int, what string) curlResponse {
		t.Helper()
		final := res.final()
		if final.status != status {
			t.Errorf("%s: want %d:\n%s", what, status, res)
		}
		return final
	}
	create := func(t *testing.T, size int) string {
		t.Helper()
		res := do(append(tusH, "-X", "POST", "-H", "Upload-Length: "+strconv.Itoa(size),
			"-H", "Upload-Metadata: "+tusMetadata("p.png", "image/png"), f.url+"/uploads/")...)
		final := expect(t, res, http.StatusCreated, "creating an upload")
		if final.header.Get("Location") == "" {
			t.Fatalf("no Location:\n%s", res)
		}
		return absolute(f.url, final.header.Get("Location"))
	}

	t.Run("options", func(t *testing.T) {
		res := do(append(tusH, "-X", "OPTIONS", f.url+"/uploads/")...)
		h := expect(t, res, http.StatusNoContent, "OPTIONS /uploads/").header
		ext := "," + strings.ReplaceAll(h.Get("Tus-Extension"), " ", "") + ","
		for _, e := range []string{"creation", "creation-with-upload", "creation-defer-length", "termination", "expiration", "checksum"} {
			if !strings.Contains(ext, ","+e+",") {
				t.Errorf("Tus-Extension lacks %s:\n%s", e, res)
			}
		}
		algs := "," + strings.ReplaceAll(h.Get("Tus-Checksum-Algorithm"), " ", "") + ","
		if !strings.Contains(algs, ",sha1,") || !strings.Contains(algs, ",sha256,") {
			t.Errorf("Tus-Checksum-Algorithm lacks sha1 or sha256:\n%s", res)
		}
		if !strings.Contains(h.Get("Tus-Version"), "1.0.0") || h.Get("Tus-Max-Size") != strconv.Itoa(1<<20) {
			t.Errorf("want Tus-Version 1.0.0 and Tus-Max-Size %d:\n%s", 1<<20, res)
		}
	})

	t.Run("checksum", func(t *testing.T) {
		url := create(t, len(data))
		half := len(data) / 2
		patch := func(off int, body []byte, checksum string) *curlResult {
			return do(append(tusH, "-X", "PATCH", "-H", "Upload-Offset: "+strconv.Itoa(off),
				"-H", "Content-Type: application/offset+octet-stream", "-H", "Upload-Checksum: "+checksum,
				"--data-binary", file(body), url)...)
		}
		sha1sum := sha1.Sum(data[:half])
		res := patch(0, data[:half], "sha1 "+base64.StdEncoding.EncodeToString(sha1sum[:]))
		if h := expect(t, res, http.StatusNoContent, "PATCH with a right sha1").header; h.Get("Upload-Offset") != strconv.Itoa(half) {
			t.Errorf("want Upload-Offset %d:\n%s", half, res)
		}
		wrong := sha256.Sum256([]byte("not the body"))
		expect(t, patch(half, data[half:], "sha256 "+base64.StdEncoding.EncodeToString(wrong[:])), 460, "PATCH with a wrong sha256")
		if off, res := headOffset(t, url, tusH[1], auth[1]); off != int64(half) {
			t.Errorf("after a checksum mismatch the offset is %d, want %d (nothing of that request kept):\n%s", off, half, res)
		}
		right := sha256.Sum256(data[half:])
		expect(t, patch(half, data[half:], "sha256 "+base64.StdEncoding.EncodeToString(right[:])), http.StatusNoContent, "PATCH with a right sha256")
		checkDownload(t, f.url, idOf(url)+"?token=tok", data)
	})

	t.Run("termination", func(t *testing.T) {
		url := create(t, len(data))
		expect(t, do(append(tusH, "-X", "DELETE", url)...), http.StatusNoContent, "DELETE")
		res := do(append(tusH, "-I", url)...)
		if s := res.final().status; s != http.StatusNotFound && s != http.StatusGone {
			t.Errorf("HEAD of a deleted upload: want 404 or 410:\n%s", res)
		}
		res = do(append(tusH, "-X", "PATCH", "-H", "Upload-Offset: 0", "-H", "Content-Type: application/offset+octet-stream",
			"--data-binary", file(data), url)...)
		if s := res.final().status; s != http.StatusNotFound && s != http.StatusGone {
			t.Errorf("PATCH of a deleted upload: want 404 or 410:\n%s", res)
		}
	})

	t.Run("refusals", func(t *testing.T) {
		bigData := make([]byte, 1<<20+1)
		copy(bigData, "\x89PNG\r\n\x1a\n")
		big := file(bigData)
		cases := []struct {
			name   string
			status int
			args   []string
		}{
			{"tus too large", 413, append(tusH, "-X", "POST", "-H", "Upload-Length: 1048577", f.url+"/uploads/")},
			{"ietf too large", 413, append(ietfH, "-X", "POST", "-H", "Upload-Complete: ?1", "-H", "Content-Type: image/png",
				"--data-binary", big, f.url+"/uploads/")},
			{"ietf too large, chunked", 413, append(ietfH, "-X", "POST", "-H", "Upload-Complete: ?1", "-H", "Content-Type: image/png",
				"-H", "Transfer-Encoding: chunked", "--data-binary", big, f.url+"/uploads/")},
			{"tus too large, deferred", 413, append(tusH, "-X", "POST", "-H", "Upload-Defer-Length: 1",
				"-H", "Content-Type: application/offset+octet-stream", "-H", "Transfer-Encoding: chunked",
				"-H", "Upload-Metadata: "+tusMetadata("p.png", "image/png"), "--data-binary", big, f.url+"/uploads/")},
			{"tus forbidden type", 415, append(tusH, "-X", "POST", "-H", "Upload-Length: 10",
				"-H", "Upload-Metadata: "+tusMetadata("a.zip", "application/zip"), f.url+"/uploads/")},
			{"ietf forbidden type", 415, append(ietfH, "-X", "POST", "-H", "Upload-Complete: ?1", "-H", "Content-Type: application/zip",
				"--data-binary", "0123456789", f.url+"/uploads/")},
			{"no token", 401, []string{"-X", "POST", "-H", "Tus-Resumable: 1.0.0", "-H", "Upload-Length: 10", f.url + "/uploads/"}},
			{"bad token", 401, []string{"-X", "POST", "-H", "Tus-Resumable: 1.0.0", "-H", "Authorization: Bearer nope",
				"-H", "Upload-Length: 10", f.url + "/uploads/"}},
			{"bad origin", 403, append(tusH, "-X", "POST", "-H", "Origin: http://elsewhere.invalid", "-H", "Upload-Length: 10",
				"-H", "Upload-Metadata: "+tusMetadata("p.png", "image/png"), f.url+"/uploads/")},
			{"unknown upload", 404, append(tusH, "-I", f.url+"/uploads/01890000-0000-7000-8000-000000000000")},
			{"not an id", 404, append(tusH, "-I", f.url+"/uploads/..%2f..%2fetc%2fpasswd")},
		}
		for _, tc := range cases {
			expect(t, do(tc.args...), tc.status, tc.name)
		}
		// Wrong offset: 409, with the right one in Upload-Offset.
		url := create(t, len(data))
		res := do(append(tusH, "-X", "PATCH", "-H", "Upload-Offset: 5", "-H", "Content-Type: application/offset+octet-stream",
			"--data-binary", file(data[5:]), url)...)
		expect(t, res, http.StatusConflict, "PATCH at a wrong offset")
	})
}

// TestInteropCurlServerKilledMidBody: ferry is killed with -9 while curl
// streams an upload's bytes (an IETF POST after its 104, a tus PATCH), and
// started again on the same address and data. The upload the 104 named
// exists, HEAD tells an offset that lost none of the seconds of bytes that
// had arrived (ferry checkpoints every 250 ms), and PATCH completes it.
func TestInteropCurlServerKilledMidBody(t *testing.T) {
	needCurl(t)
	size := 4 << 20
	half := size / 2
	_, want := writeRandomFile(t, "killed.bin", size)
	for _, tc := range []struct {
		name   string
		marker string
		patch  []string
	}{
		{"ietf-draft-05", "Upload-Draft-Interop-Version: 6", []string{"Content-Type: application/partial-upload", "Upload-Complete: ?1"}},
		{"tus", "Tus-Resumable: 1.0.0", []string{"Content-Type: application/offset+octet-stream"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr, data := freeAddr(t), t.TempDir()
			f := startInstanceAt(t, addr, "--data", data)
			before, _ := serverCounters(t, f.url)
			var s *streamingCurl
			var url string
			if tc.name == "tus" {
				res := curl(t, "-X", "POST", "-H", tc.marker, "-H", "Upload-Length: "+strconv.Itoa(size), f.url+"/uploads/")
				if res.final().status != http.StatusCreated {
					t.Fatalf("creating:\n%s", res)
				}
				url = absolute(f.url, res.final().header.Get("Location"))
				s = startStreamingCurl(t, "-X", "PATCH", "-H", tc.marker, "-H", tc.patch[0], "-H", "Upload-Offset: 0", url)
			} else {
				s = startStreamingCurl(t, "-X", "POST", "-H", tc.marker, "-H", "Upload-Complete: ?1",
					"-H", "Content-Type: "+interopType, f.url+"/uploads/")
			}
			// Half the file, and on until the 104 came (never the whole).
			sent := 0
			for (sent < half || url == "") && sent+64<<10 < size {
				if _, err := s.stdin.Write(want[sent : sent+64<<10]); err != nil {
					t.Fatalf("writing to curl: %v", err)
				}
				sent += 64 << 10
				time.Sleep(10 * time.Millisecond)
				if url == "" {
					for _, r := range s.responses() {
						if r.status == 104 && r.header.Get("Location") != "" {
							url = absolute(f.url, r.header.Get("Location"))
						}
					}
				}
			}
			if url == "" {
				t.Fatalf("no 104 with Location after %d bytes: %+v", sent, s.responses())
			}
			// The kill, once some of the bytes are durable (ferry
			// checkpoints every 250 ms while bytes come).
			waitDurable(t, f.url, before, url)
			f.kill()
			s.kill()
			f = startInstanceAt(t, addr, "--data", data)

			off, head := headOffset(t, url, tc.marker)
			t.Logf("killed with %d bytes sent; after the restart HEAD says %d", sent, off)
			if off <= 0 || off > int64(sent) {
				t.Errorf("after kill -9 with %d bytes sent, some made durable before the kill, the offset is %d: want 0 < offset <= %d:\n%s",
					sent, off, sent, head)
			}
			rest := filepath.Join(t.TempDir(), "rest")
			if err := os.WriteFile(rest, want[off:], 0o644); err != nil {
				t.Fatal(err)
			}
			args := []string{"-X", "PATCH", "-H", tc.marker, "-H", "Upload-Offset: " + strconv.FormatInt(off, 10)}
			for _, h := range tc.patch {
				args = append(args, "-H", h)
			}
			res := curl(t, append(args, "--data-binary", "@"+rest, url)...)
			if res.final().status/100 != 2 {
				t.Fatalf("completing from %d after the restart:\n%s", off, res)
			}
			checkDownload(t, f.url, idOf(url), want)
		})
	}
}

// TestInteropCurlExpired: an upload left alone past --expiry answers 410
// (or 404 once swept) to HEAD and PATCH, and tus answers carry
// Upload-Expires (the expiration extension).
func TestInteropCurlExpired(t *testing.T) {
	needCurl(t)
	f := startInstanceAt(t, freeAddr(t), "--data", t.TempDir(), "--expiry", "1s")
	res := curl(t, "-X", "POST", "-H", "Tus-Resumable: 1.0.0", "-H", "Upload-Length: 100", f.url+"/uploads/")
	final := res.final()
	if final.status != http.StatusCreated {
		t.Fatalf("creating:\n%s", res)
	}
	url := absolute(f.url, final.header.Get("Location"))
	res = curl(t, "-X", "PATCH", "-H", "Tus-Resumable: 1.0.0", "-H", "Upload-Offset: 0",
		"-H", "Content-Type: application/offset+octet-stream", "--data-binary", "0123456789", url)
	if res.final().status != http.StatusNoContent {
		t.Fatalf("PATCH:\n%s", res)
	}
	if exp, err := http.ParseTime(res.final().header.Get("Upload-Expires")); err != nil || time.Until(exp) > 5*time.Second {
		t.Errorf("want Upload-Expires about 1 s from now (--expiry 1s): %v\n%s", err, res)
	}
	time.Sleep(2500 * time.Millisecond)
	for _, args := range [][]string{
		{"-I", "-H", "Tus-Resumable: 1.0.0", url},
		{"-X", "PATCH", "-H", "Tus-Resumable: 1.0.0", "-H", "Upload-Offset: 10",
			"-H", "Content-Type: application/offset+octet-stream", "--data-binary", "0123456789", url},
		{"-I", "-H", "Upload-Draft-Interop-Version: 6", url},
	} {
		res := curl(t, args...)
		if s := res.final().status; s != http.StatusGone && s != http.StatusNotFound {
			t.Errorf("an expired upload: want 410 or 404:\n%s", res)
		}
	}
}
