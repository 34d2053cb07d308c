package httpupload

import (
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ferryhq/ferry/storage"
	"github.com/ferryhq/ferry/storage/local"
	"github.com/ferryhq/ferry/storage/storagetest"
	"github.com/prometheus/client_golang/prometheus"
)

func TestParseTusMetadata(t *testing.T) {
	enc := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	tests := []struct {
		in, name, mime string
		bad            bool
	}{
		{in: "", name: ""},
		{in: "filename " + enc("a b.png") + ",filetype " + enc("image/png"), name: "a b.png", mime: "image/png"},
		{in: "name " + enc("n.txt") + ", type " + enc("text/plain") + ",flag", name: "n.txt", mime: "text/plain"},
		{in: "filename " + enc("first") + ",name " + enc("second"), name: "first"},
		{in: "filename !!!", bad: true},
		{in: "filename " + enc("a") + ",filename " + enc("b"), bad: true},
		{in: ",", bad: true},
		{in: "k " + enc("\xff\xfe"), bad: true},
	}
	for _, tt := range tests {
		m, err := parseTusMetadata(tt.in)
		if (err != nil) != tt.bad {
			t.Errorf("%q: err %v, want bad=%v", tt.in, err, tt.bad)
			continue
		}
		if !tt.bad && (m.name != tt.name || m.mime != tt.mime) {
			t.Errorf("%q: name %q type %q, want %q %q", tt.in, m.name, m.mime, tt.name, tt.mime)
		}
	}
	if got := encodeTusMetadata(map[string]string{"filetype": "x/y", "filename": "é", "flag": ""}); got != "filename w6k=,filetype eC95,flag" {
		t.Errorf("encode: %q", got)
	}
}

func TestSanitizeName(t *testing.T) {
	for in, want := range map[string]string{
		"a.txt":                  "a.txt",
		"  \x00\x1f ":            "fallback",
		"x\r\ny":                 "xy",
		strings.Repeat("é", 200): strings.Repeat("é", 200),
	} {
		if got := sanitizeName(in, "fallback"); got != want {
			t.Errorf("sanitizeName(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestLongNameRefused: a name over storage.MaxNameBytes is a 400 before
// anything is stored.
func TestLongNameRefused(t *testing.T) {
	s := newServer(t, nil)
	long := base64.StdEncoding.EncodeToString([]byte(strings.Repeat("n", 1025)))
	resp, _ := s.do(t, "POST", "/uploads/", tusHdr(hdr{"Upload-Length": "1", "Upload-Metadata": "filename " + long}), nil)
	if resp.StatusCode != 400 {
		t.Fatalf("1,025-byte name: %d, want 400", resp.StatusCode)
	}
	ok := base64.StdEncoding.EncodeToString([]byte(strings.Repeat("n", 1024)))
	resp, _ = s.do(t, "POST", "/uploads/", tusHdr(hdr{"Upload-Length": "1", "Upload-Metadata": "filename " + ok}), nil)
	if resp.StatusCode != 201 {
		t.Fatalf("1,024-byte name: %d, want 201", resp.StatusCode)
	}
}

// TestTusRoundTrip uploads in three PATCHes, one with a checksum, and
// checks the stored file, its digest and metadata.
func TestTusRoundTrip(t *testing.T) {
	s := newServer(t, nil)
	data := randomData(t, 300_000)
	loc := s.createTus(t, int64(len(data)), "filename "+base64.StdEncoding.EncodeToString([]byte("r.bin")))
	cuts := []int{0, 100_000, 250_000, len(data)}
	for i := 0; i+1 < len(cuts); i++ {
		part := data[cuts[i]:cuts[i+1]]
		extra := hdr{}
		if i == 1 {
			d := sha1.Sum(part)
			extra["Upload-Checksum"] = "sha1 " + base64.StdEncoding.EncodeToString(d[:])
		}
		resp := s.patchTus(t, loc, int64(cuts[i]), part, extra)
		if resp.StatusCode != 204 || resp.Header.Get("Upload-Offset") != strconv.Itoa(cuts[i+1]) {
			t.Fatalf("PATCH %d: %d offset %q", i, resp.StatusCode, resp.Header.Get("Upload-Offset"))
		}
	}
	info, got := s.stored(t, loc)
	if !bytes.Equal(got, data) || info.SHA256 != sum(data) || info.Meta.Name != "r.bin" {
		t.Fatalf("stored %d bytes, sha %s, name %q", len(got), info.SHA256, info.Meta.Name)
	}
}

// TestChecksumMismatchKeepsNothing: a 460 stores nothing of its request.
func TestChecksumMismatchKeepsNothing(t *testing.T) {
	s := newServer(t, nil)
	data := randomData(t, 200_000)
	loc := s.createTus(t, int64(len(data)), "")
	if resp := s.patchTus(t, loc, 0, data[:50_000], nil); resp.StatusCode != 204 {
		t.Fatalf("first PATCH: %d", resp.StatusCode)
	}
	wrong := sha1.Sum([]byte("something else"))
	resp := s.patchTus(t, loc, 50_000, data[50_000:], hdr{"Upload-Checksum": "sha1 " + base64.StdEncoding.EncodeToString(wrong[:])})
	if resp.StatusCode != StatusChecksumMismatch {
		t.Fatalf("mismatching PATCH: %d, want 460", resp.StatusCode)
	}
	if off := s.offset(t, loc); off != 50_000 {
		t.Fatalf("offset after 460: %d, want 50000", off)
	}
	if resp := s.patchTus(t, loc, 50_000, data[50_000:], nil); resp.StatusCode != 204 {
		t.Fatalf("retry: %d", resp.StatusCode)
	}
	if _, got := s.stored(t, loc); !bytes.Equal(got, data) {
		t.Fatal("stored bytes differ")
	}
}

// TestDeferredLength: tus creation-defer-length and an IETF upload whose
// length comes with its last request.
func TestDeferredLength(t *testing.T) {
	s := newServer(t, func(c *Config) { c.MaxSize = 1 << 20 })
	data := randomData(t, 150_000)

	resp, body := s.do(t, "POST", "/uploads/", tusHdr(hdr{"Upload-Defer-Length": "1"}), nil)
	if resp.StatusCode != 201 || resp.Header.Get("Upload-Defer-Length") != "1" {
		t.Fatalf("tus create: %d %s %v", resp.StatusCode, body, resp.Header)
	}
	loc := resp.Header.Get("Location")
	if r := s.patchTus(t, loc, 0, data[:70_000], nil); r.StatusCode != 204 {
		t.Fatalf("PATCH without length: %d", r.StatusCode)
	}
	r := s.patchTus(t, loc, 70_000, data[70_000:], hdr{"Upload-Length": strconv.Itoa(len(data))})
	if r.StatusCode != 204 || r.Header.Get("Upload-Length") != strconv.Itoa(len(data)) {
		t.Fatalf("PATCH with length: %d %v", r.StatusCode, r.Header)
	}
	if _, got := s.stored(t, loc); !bytes.Equal(got, data) {
		t.Fatal("tus: stored bytes differ")
	}

	ietf := hdr{"Upload-Draft-Interop-Version": "6", "Upload-Complete": "?0", "Content-Type": "image/x-test"}
	resp, body = s.do(t, "POST", "/uploads/", ietf, bytes.NewReader(data[:10_000]))
	if resp.StatusCode != 201 || resp.Header.Get("Upload-Offset") != "10000" || resp.Header.Get("Upload-Complete") != "?0" {
		t.Fatalf("IETF create: %d %s %v", resp.StatusCode, body, resp.Header)
	}
	loc = resp.Header.Get("Location")
	patch := hdr{"Upload-Draft-Interop-Version": "6", "Upload-Complete": "?1", "Upload-Offset": "10000", "Content-Type": "application/partial-upload"}
	resp, body = s.do(t, "PATCH", loc, patch, bytes.NewReader(data[10_000:]))
	if resp.StatusCode != 200 || resp.Header.Get("Upload-Complete") != "?1" || resp.Header.Get("Upload-Offset") != strconv.Itoa(len(data)) {
		t.Fatalf("IETF last PATCH: %d %s %v", resp.StatusCode, body, resp.Header)
	}
	info, got := s.stored(t, loc)
	if !bytes.Equal(got, data) || info.Meta.MIME != "image/x-test" {
		t.Fatalf("IETF: stored %d bytes of type %q", len(got), info.Meta.MIME)
	}

	// Past the server's maximum while the length is unknown: 413.
	resp, _ = s.do(t, "POST", "/uploads/", tusHdr(hdr{"Upload-Defer-Length": "1"}), nil)
	loc = resp.Header.Get("Location")
	if r := s.patchTus(t, loc, 0, make([]byte, 1<<20+1), nil); r.StatusCode != 413 {
		t.Fatalf("PATCH past the maximum: %d, want 413", r.StatusCode)
	}
}

// stalledPatch sends a tus PATCH of first, then keeps the body open until
// the returned release is called; the answer arrives on the channel.
func (s *testServer) stalledPatch(t *testing.T, loc string, offset int64, first []byte) (answer <-chan *http.Response, release func()) {
	t.Helper()
	pr, pw := io.Pipe()
	req, _ := http.NewRequest("PATCH", s.URL+loc, pr)
	req.Header.Set("Tus-Resumable", "1.0.0")
	req.Header.Set("Upload-Offset", strconv.FormatInt(offset, 10))
	req.Header.Set("Content-Type", "application/offset+octet-stream")
	ch := make(chan *http.Response, 1)
	client := &http.Client{Transport: &http.Transport{}}
	go func() {
		resp, err := client.Do(req)
		if err != nil {
			ch <- nil
			return
		}
		resp.Body.Close()
		ch <- resp
	}()
	if _, err := pw.Write(first); err != nil {
		t.Fatal(err)
	}
	return ch, func() { pw.CloseWithError(errors.New("client gone")) }
}

// waitOffset waits until storage reports at least n durable bytes. It
// reads storage, not HEAD: a HEAD would take the upload over.
func (s *testServer) waitOffset(t *testing.T, loc string, n int64) int64 {
	t.Helper()
	id := strings.TrimPrefix(loc, DefaultBasePath)
	deadline := time.Now().Add(5 * time.Second)
	for {
		info, err := s.backend.Stat(t.Context(), id)
		if err != nil {
			t.Fatalf("stat %s: %v", id, err)
		}
		if info.Offset >= n || time.Now().After(deadline) {
			return info.Offset
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestTakeover: a PATCH whose client went silent is taken over by the
// next one; the bytes it received are kept.
func TestTakeover(t *testing.T) {
	s := newServer(t, nil)
	data := randomData(t, 1_000_000)
	loc := s.createTus(t, int64(len(data)), "")
	first, release := s.stalledPatch(t, loc, 0, data[:400_000])
	defer release()
	// Nothing is reported while the request is open, but the bytes become
	// durable as they come (250 ms after the stream pauses).
	if off := s.waitOffset(t, loc, 400_000); off != 400_000 {
		t.Fatalf("durable offset while streaming: %d, want 400000", off)
	}
	start := time.Now()
	resp := s.patchTus(t, loc, 400_000, data[400_000:], nil)
	if resp.StatusCode != 204 {
		t.Fatalf("takeover PATCH: %d", resp.StatusCode)
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("takeover took %v", took)
	}
	select {
	case r := <-first:
		if r != nil && r.StatusCode != http.StatusLocked {
			t.Errorf("taken-over request answered %d, want 423", r.StatusCode)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the taken-over request never ended")
	}
	if _, got := s.stored(t, loc); !bytes.Equal(got, data) {
		t.Fatal("stored bytes differ")
	}
}

// TestHeadSettlesAnOpenRequest: HEAD of an upload an open PATCH holds
// takes it over, so the offset it tells is final and the next PATCH at that
// offset is accepted.
func TestHeadSettlesAnOpenRequest(t *testing.T) {
	s := newServer(t, nil)
	data := randomData(t, 500_000)
	loc := s.createTus(t, int64(len(data)), "")
	first, release := s.stalledPatch(t, loc, 0, data[:300_000])
	defer release()
	s.waitOffset(t, loc, 1)
	off := s.offset(t, loc)
	if r := <-first; r != nil && r.StatusCode != http.StatusLocked {
		t.Errorf("the open request answered %d, want 423", r.StatusCode)
	}
	if r := s.patchTus(t, loc, off, data[off:], nil); r.StatusCode != 204 {
		t.Fatalf("PATCH at the offset HEAD told (%d): %d", off, r.StatusCode)
	}
	if _, got := s.stored(t, loc); !bytes.Equal(got, data) {
		t.Fatal("stored bytes differ")
	}
}

// TestCutOffPatchKeepsDurableBytes: a client that vanishes mid-body
// leaves what arrived durable, and HEAD reports it.
func TestCutOffPatchKeepsDurableBytes(t *testing.T) {
	s := newServer(t, nil)
	data := randomData(t, 600_000)
	loc := s.createTus(t, int64(len(data)), "")
	conn, err := net.Dial("tcp", s.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	head := "PATCH " + loc + " HTTP/1.1\r\nHost: x\r\nTus-Resumable: 1.0.0\r\nUpload-Offset: 0\r\n" +
		"Content-Type: application/offset+octet-stream\r\nContent-Length: 600000\r\n\r\n"
	conn.Write([]byte(head))
	conn.Write(data[:250_000])
	conn.Close()
	off := s.waitOffset(t, loc, 250_000)
	if off != 250_000 {
		t.Fatalf("offset after cut-off: %d, want 250000", off)
	}
	if r := s.patchTus(t, loc, off, data[off:], nil); r.StatusCode != 204 {
		t.Fatalf("resume: %d", r.StatusCode)
	}
	if _, got := s.stored(t, loc); !bytes.Equal(got, data) {
		t.Fatal("stored bytes differ")
	}
}

// TestShutdownEndsStreamingPatch: Shutdown answers an open PATCH with 503
// and Retry-After once its bytes are durable.
func TestShutdownEndsStreamingPatch(t *testing.T) {
	s := newServer(t, nil)
	data := randomData(t, 500_000)
	loc := s.createTus(t, int64(len(data)), "")
	answer, release := s.stalledPatch(t, loc, 0, data[:123_456])
	defer release()
	s.waitOffset(t, loc, 123_456)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.h.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	r := <-answer
	if r == nil || r.StatusCode != 503 || r.Header.Get("Retry-After") == "" {
		t.Fatalf("answer at shutdown: %+v", r)
	}
	if off := s.offset(t, loc); off != 123_456 {
		t.Fatalf("offset after shutdown: %d", off)
	}
	if r := s.patchTus(t, loc, 123_456, data[123_456:], nil); r.StatusCode != 503 {
		t.Fatalf("PATCH after shutdown: %d, want 503", r.StatusCode)
	}
}

// TestStorageFaults: a full disk and a failing store answer with their
// statuses and Retry-After, and the upload resumes from its durable offset.
func TestStorageFaults(t *testing.T) {
	for _, tt := range []struct {
		name   string
		err    error
		status int
	}{
		{"disk full", storage.ErrNoSpace, http.StatusInsufficientStorage},
		{"store fails", errors.New("injected I/O error"), http.StatusServiceUnavailable},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var faulty *storagetest.Faulty
			s := newServer(t, func(c *Config) {
				faulty = &storagetest.Faulty{Backend: c.Backend, FailWriteAfter: 100_000, WriteErr: tt.err}
				c.Backend = faulty
			})
			data := randomData(t, 300_000)
			loc := s.createTus(t, int64(len(data)), "")
			resp := s.patchTus(t, loc, 0, data, nil)
			if resp.StatusCode != tt.status || resp.Header.Get("Retry-After") == "" {
				t.Fatalf("PATCH: %d Retry-After %q, want %d with Retry-After", resp.StatusCode, resp.Header.Get("Retry-After"), tt.status)
			}
			off := s.offset(t, loc)
			if off > 100_000 {
				t.Fatalf("offset %d is past what storage accepted", off)
			}
			// The fault stays with each new Writer: the store stays full.
			if r := s.patchTus(t, loc, off, data[off:], nil); r.StatusCode != tt.status {
				t.Fatalf("second PATCH: %d", r.StatusCode)
			}
		})
	}
}

// TestForbiddenContentIsDeleted: sniffed content outside the allowed types
// answers 415 and deletes the upload.
func TestForbiddenContentIsDeleted(t *testing.T) {
	s := newServer(t, func(c *Config) { c.AllowedTypes = []string{"image/*"} })
	html := []byte("<html><body>" + strings.Repeat("x", 2000))
	loc := s.createTus(t, int64(len(html)), "filetype "+base64.StdEncoding.EncodeToString([]byte("image/png")))
	if r := s.patchTus(t, loc, 0, html, nil); r.StatusCode != 415 {
		t.Fatalf("PATCH of HTML: %d, want 415", r.StatusCode)
	}
	if r, _ := s.do(t, "HEAD", loc, tusHdr(nil), nil); r.StatusCode != 404 {
		t.Fatalf("HEAD after 415: %d, want 404", r.StatusCode)
	}
}

// TestDeferredLengthWithoutBytesIsKept: a tus PATCH that only declares the
// length (no body) makes it durable, so HEAD reports it afterwards.
func TestDeferredLengthWithoutBytesIsKept(t *testing.T) {
	s := newServer(t, nil)
	data := randomData(t, 50_000)
	resp, body := s.do(t, "POST", "/uploads/", tusHdr(hdr{"Upload-Defer-Length": "1"}), nil)
	if resp.StatusCode != 201 {
		t.Fatalf("create: %d %s", resp.StatusCode, body)
	}
	loc := resp.Header.Get("Location")
	if r := s.patchTus(t, loc, 0, data[:20_000], nil); r.StatusCode != 204 {
		t.Fatalf("first PATCH: %d", r.StatusCode)
	}
	if r := s.patchTus(t, loc, 20_000, nil, hdr{"Upload-Length": "50000"}); r.StatusCode != 204 {
		t.Fatalf("PATCH declaring the length: %d", r.StatusCode)
	}
	head, _ := s.do(t, "HEAD", loc, tusHdr(nil), nil)
	if got := head.Header.Get("Upload-Length"); got != "50000" || head.Header.Get("Upload-Defer-Length") != "" {
		t.Fatalf("HEAD after the length was declared: Upload-Length %q, Upload-Defer-Length %q", got, head.Header.Get("Upload-Defer-Length"))
	}
	if r := s.patchTus(t, loc, 20_000, data[20_000:], nil); r.StatusCode != 204 {
		t.Fatalf("last PATCH: %d", r.StatusCode)
	}
	if _, got := s.stored(t, loc); !bytes.Equal(got, data) {
		t.Fatal("stored bytes differ")
	}
}

// TestExpiryByConfigNow: an incomplete upload past its ExpiresAt by the
// Handler's clock (Config.Now) answers 410 to HEAD and PATCH, even while
// the backend's own clock has not reached it.
func TestExpiryByConfigNow(t *testing.T) {
	b, err := local.New(local.Config{Dir: t.TempDir(), Expiry: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	var ahead atomic.Int64
	s := newServer(t, func(c *Config) {
		c.Backend = b
		c.Now = func() time.Time { return time.Now().Add(time.Duration(ahead.Load())) }
	})
	loc := s.createTus(t, 10, "")
	if resp := s.patchTus(t, loc, 0, []byte("abc"), nil); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("PATCH: %d", resp.StatusCode)
	}
	if resp, _ := s.do(t, http.MethodHead, loc, tusHdr(nil), nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("HEAD before the expiry: %d", resp.StatusCode)
	}
	ahead.Store(int64(2 * time.Hour))
	if resp, _ := s.do(t, http.MethodHead, loc, tusHdr(nil), nil); resp.StatusCode != http.StatusGone {
		t.Errorf("HEAD 2h after: %d, want 410", resp.StatusCode)
	}
	if resp := s.patchTus(t, loc, 3, []byte("def"), nil); resp.StatusCode != http.StatusGone {
		t.Errorf("PATCH 2h after: %d, want 410", resp.StatusCode)
	}
}

// TestOneRequestUploadCommitsWithoutCheckpoint: on a backend whose Commit
// makes the written bytes durable itself (local storage), an upload whose
// bytes all come in its creation request is committed with no Checkpoint
// before it: one round to the disk, not two. The file is whole all the same.
func TestOneRequestUploadCommitsWithoutCheckpoint(t *testing.T) {
	reg := prometheus.NewRegistry()
	s := newServer(t, func(c *Config) { c.Registerer = reg })
	data := randomData(t, 4096)
	resp, body := s.do(t, "POST", "/uploads/", tusHdr(hdr{"Upload-Length": "4096", "Content-Type": "application/offset+octet-stream"}), bytes.NewReader(data))
	if resp.StatusCode != 201 || resp.Header.Get("Upload-Offset") != "4096" {
		t.Fatalf("creation-with-upload: %d %s, offset %q", resp.StatusCode, body, resp.Header.Get("Upload-Offset"))
	}
	info, got := s.stored(t, resp.Header.Get("Location"))
	if !bytes.Equal(got, data) || info.SHA256 != sum(data) {
		t.Fatalf("stored %d bytes, sha %s", len(got), info.SHA256)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "ferry_http_upload_checkpoint_seconds" {
			if n := mf.GetMetric()[0].GetHistogram().GetSampleCount(); n != 0 {
				t.Fatalf("%d checkpoints for a one-request upload, want 0", n)
			}
			return
		}
	}
	t.Fatal("no checkpoint histogram registered")
}
