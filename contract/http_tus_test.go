package contract_test

import (
	"bytes"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// §4 + tus 1.0.0 §OPTIONS: "OPTIONS /uploads/ tells versions, extensions
// and the maximum size"; tus Tus-Version, Tus-Extension, Tus-Max-Size,
// checksum extension Tus-Checksum-Algorithm; IETF Upload-Limit. OPTIONS
// needs no token (a CORS preflight carries none).
func TestTusOptions(t *testing.T) {
	t.Parallel()
	limited := start(t, cfg{MaxSize: 5000, Tokens: []string{"tok"}})
	open := start(t, cfg{})
	for _, tc := range []struct {
		name string
		s    *server
		max  int64
	}{{"max size and tokens", limited, 5000}, {"no limit", open, 0}} {
		t.Run(tc.name, func(t *testing.T) {
			a := tc.s.call(t, http.MethodOptions, "/uploads/", nil, nil, 0, true)
			wantCode(t, "OPTIONS /uploads/ without a token", a, http.StatusNoContent)
			wantHeader(t, "OPTIONS", a, "Tus-Version", tusVersion)
			for _, ext := range []string{"creation", "creation-with-upload", "creation-defer-length", "termination", "expiration", "checksum"} {
				if !listIncludes(a.Header.Values("Tus-Extension"), ext) {
					t.Errorf("OPTIONS: Tus-Extension %q lacks %s", a.Header.Values("Tus-Extension"), ext)
				}
			}
			for _, alg := range []string{"sha1", "sha256", "sha512", "md5"} {
				if !listIncludes(a.Header.Values("Tus-Checksum-Algorithm"), alg) {
					t.Errorf("OPTIONS: Tus-Checksum-Algorithm %q lacks %s", a.Header.Values("Tus-Checksum-Algorithm"), alg)
				}
			}
			checkNoStore(t, "OPTIONS", a)
			if tc.max > 0 {
				wantHeader(t, "OPTIONS", a, "Tus-Max-Size", strconv.FormatInt(tc.max, 10))
				if !listIncludes(a.Header.Values("Upload-Limit"), "max-size="+strconv.FormatInt(tc.max, 10)) {
					t.Errorf("OPTIONS: Upload-Limit %q, want max-size=%d", a.Header.Values("Upload-Limit"), tc.max)
				}
			} else {
				wantHeader(t, "OPTIONS with no maximum", a, "Tus-Max-Size", "")
			}
			// The same from a tus client (tus-js-client sends Tus-Resumable).
			a = tc.s.call(t, http.MethodOptions, "/uploads/", hdrs{"Tus-Resumable": tusVersion}, nil, 0, true)
			wantCode(t, "tus OPTIONS /uploads/", a, http.StatusNoContent)
			wantHeader(t, "tus OPTIONS", a, "Tus-Version", tusVersion)
		})
	}
}

// tus 1.0.0 §Tus-Resumable: a request of a version the server does not
// speak answers 412 with Tus-Version; §4: POST/PATCH naming no protocol at
// all answer 412 too.
func TestTusVersionAndProtocolRequired(t *testing.T) {
	t.Parallel()
	s := start(t, cfg{})
	id := s.tusCreate(t, 10, "")
	for _, tc := range []struct {
		name, method, path string
		h                  hdrs
		body               []byte
		tus                bool
	}{
		{"tus 0.2.2 POST", http.MethodPost, "/uploads/", hdrs{"Tus-Resumable": "0.2.2", "Upload-Length": "10"}, nil, true},
		{"tus 1.0 (not 1.0.0) POST", http.MethodPost, "/uploads/", hdrs{"Tus-Resumable": "1.0", "Upload-Length": "10"}, nil, true},
		{"tus 0.2.2 PATCH", http.MethodPatch, "/uploads/" + id, with(tusPatchH(0), "Tus-Resumable", "0.2.2"), []byte("12345"), true},
		{"tus 0.2.2 HEAD", http.MethodHead, "/uploads/" + id, hdrs{"Tus-Resumable": "0.2.2"}, nil, true},
		{"POST with no protocol header", http.MethodPost, "/uploads/", hdrs{"Upload-Length": "10"}, []byte("12345"), false},
		{"PATCH with no protocol header", http.MethodPatch, "/uploads/" + id, hdrs{"Content-Type": octet, "Upload-Offset": "0"}, []byte("12345"), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, n := bodyOf(tc.body)
			a := s.call(t, tc.method, tc.path, tc.h, r, n, false)
			wantCode(t, tc.name, a, http.StatusPreconditionFailed)
			wantHeader(t, tc.name, a, "Tus-Version", tusVersion)
			if tc.tus {
				wantHeader(t, tc.name, a, "Tus-Resumable", tusVersion)
			}
			checkNoStore(t, tc.name, a)
		})
	}
	if _, off := s.tusHead(t, id); off != 0 {
		t.Errorf("refused PATCHes moved the offset to %d", off)
	}
}

// tus creation: Upload-Length or Upload-Defer-Length: 1, exactly one;
// Upload-Metadata base64 values; 201 with Location, Upload-Offset,
// Upload-Length or Upload-Defer-Length and (expiration) Upload-Expires.
func TestTusCreation(t *testing.T) {
	t.Parallel()
	s := start(t, cfg{})
	t.Run("refused", func(t *testing.T) {
		for _, tc := range []struct {
			name string
			h    hdrs
		}{
			{"neither length", hdrs{}},
			{"both lengths", hdrs{"Upload-Length": "10", "Upload-Defer-Length": "1"}},
			{"Upload-Defer-Length 2", hdrs{"Upload-Defer-Length": "2"}},
			{"negative length", hdrs{"Upload-Length": "-1"}},
			{"length not a number", hdrs{"Upload-Length": "ten"}},
			{"metadata not base64", hdrs{"Upload-Length": "10", "Upload-Metadata": "filename !!!notbase64"}},
		} {
			a := s.tus(t, http.MethodPost, "/uploads/", tc.h, nil)
			wantCode(t, "POST with "+tc.name, a, http.StatusBadRequest)
			wantHeader(t, "POST with "+tc.name, a, "Location", "")
		}
	})
	t.Run("length", func(t *testing.T) {
		before := time.Now().Add(-time.Second)
		a := s.tus(t, http.MethodPost, "/uploads/", hdrs{"Upload-Length": "100", "Upload-Metadata": tusMeta("filename", "a.txt", "filetype", "text/plain")}, nil)
		mustCode(t, "POST", a, http.StatusCreated)
		id := s.idFromLocation(t, "POST", a.hdr("Location"))
		wantHeader(t, "POST", a, "Upload-Offset", "0")
		wantHeader(t, "POST", a, "Upload-Length", "100")
		if exp := httpDate(t, "POST Upload-Expires", a.hdr("Upload-Expires")); exp.Before(before) {
			t.Errorf("POST: Upload-Expires %v is in the past", exp)
		}
		h, off := s.tusHead(t, id)
		if off != 0 {
			t.Errorf("HEAD of a new upload: offset %d", off)
		}
		wantHeader(t, "HEAD", h, "Upload-Length", "100")
		wantHeader(t, "HEAD", h, "Upload-Defer-Length", "")
		httpDate(t, "HEAD Upload-Expires", h.hdr("Upload-Expires"))
		m := decodeTusMeta(t, h.hdr("Upload-Metadata"))
		if m["filename"] != "a.txt" || m["filetype"] != "text/plain" {
			t.Errorf("HEAD: Upload-Metadata %q decodes to %v, want filename a.txt, filetype text/plain", h.hdr("Upload-Metadata"), m)
		}
		// The same id on the WebSocket side and in the API (§4: "the same UUID").
		resp, b := s.get(t, "/api/files/"+id, nil)
		wantStatus(t, "GET /api/files/<tus id>", resp, b, http.StatusOK)
	})
	t.Run("POST /uploads without the slash", func(t *testing.T) {
		a := s.tus(t, http.MethodPost, "/uploads", hdrs{"Upload-Length": "5"}, nil)
		mustCode(t, "POST /uploads", a, http.StatusCreated)
		s.idFromLocation(t, "POST /uploads", a.hdr("Location"))
	})
	t.Run("deferred", func(t *testing.T) {
		a := s.tus(t, http.MethodPost, "/uploads/", hdrs{"Upload-Defer-Length": "1"}, nil)
		mustCode(t, "POST deferred", a, http.StatusCreated)
		id := s.idFromLocation(t, "POST", a.hdr("Location"))
		wantHeader(t, "POST deferred", a, "Upload-Defer-Length", "1")
		wantHeader(t, "POST deferred", a, "Upload-Length", "")
		h, _ := s.tusHead(t, id)
		wantHeader(t, "HEAD deferred", h, "Upload-Defer-Length", "1")
		wantHeader(t, "HEAD deferred", h, "Upload-Length", "")
	})
	t.Run("empty file completes at once", func(t *testing.T) {
		id := s.tusCreate(t, 0, tusMeta("filename", "empty.txt"))
		s.checkStored(t, id, "empty.txt", "", []byte{})
		h, off := s.tusHead(t, id)
		if off != 0 {
			t.Errorf("HEAD of an empty file: offset %d", off)
		}
		wantHeader(t, "HEAD of a complete upload", h, "Upload-Expires", "")
	})
}

// tus Upload-Metadata: name under filename or name, type under filetype or
// type (§4 "Name and type"); an optional sha256 of the whole file.
func TestTusMetadataKeys(t *testing.T) {
	t.Parallel()
	s := start(t, cfg{})
	body := []byte("hello, metadata\n")
	for _, tc := range []struct {
		meta, name, mime string
	}{
		{tusMeta("filename", "one.txt", "filetype", "text/plain"), "one.txt", "text/plain"},
		{tusMeta("name", "two.txt", "type", "text/plain"), "two.txt", "text/plain"},
		{tusMeta("filename", "naïve résumé.txt", "filetype", "text/plain", "sha256", sha(body)), "naïve résumé.txt", "text/plain"},
		{tusMeta("filename", "up.TXT", "sha256", strings.ToUpper(sha(body))), "up.TXT", ""},
		{tusMeta("filename", "x.txt") + ",emptykey", "x.txt", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id := s.tusCreate(t, int64(len(body)), tc.meta)
			s.tusPatch(t, id, 0, body)
			s.checkStored(t, id, tc.name, tc.mime, body)
		})
	}
}

// tus creation-with-upload: the POST carries the first bytes with
// Content-Type application/offset+octet-stream; Upload-Offset tells how
// many were stored. With all of them the upload is complete.
func TestTusCreationWithUpload(t *testing.T) {
	t.Parallel()
	s := start(t, cfg{})
	body := data(200<<10, 1)
	for _, n := range []int{1000, len(body)} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			a := s.tus(t, http.MethodPost, "/uploads/", hdrs{
				"Upload-Length": strconv.Itoa(len(body)), "Content-Type": octet,
				"Upload-Metadata": tusMeta("filename", "cwu.bin", "filetype", "application/octet-stream"),
			}, body[:n])
			mustCode(t, "POST with upload", a, http.StatusCreated)
			id := s.idFromLocation(t, "POST with upload", a.hdr("Location"))
			if got := offsetOf(t, "POST with upload", a); got != int64(n) {
				t.Errorf("POST with %d bytes: Upload-Offset %d", n, got)
			}
			if n == len(body) {
				wantHeader(t, "POST of the whole file", a, "Upload-Expires", "")
			} else {
				s.tusPatch(t, id, int64(n), body[n:])
			}
			s.checkStored(t, id, "cwu.bin", "application/octet-stream", body)
		})
	}
}

// §4 refusals at creation: too large 413 (tus Tus-Max-Size), forbidden
// type 415, also for a length declared later (creation-defer-length).
func TestTusCreationLimits(t *testing.T) {
	t.Parallel()
	s := start(t, cfg{MaxSize: 1000, AllowedTypes: []string{"image/png", "text/plain"}})
	for _, tc := range []struct {
		name   string
		h      hdrs
		status int
	}{
		{"length over the maximum", hdrs{"Upload-Length": "1001"}, http.StatusRequestEntityTooLarge},
		{"forbidden filetype", hdrs{"Upload-Length": "10", "Upload-Metadata": tusMeta("filename", "z", "filetype", "application/zip")}, http.StatusUnsupportedMediaType},
		{"forbidden type key", hdrs{"Upload-Length": "10", "Upload-Metadata": tusMeta("name", "z", "type", "text/html")}, http.StatusUnsupportedMediaType},
	} {
		a := s.tus(t, http.MethodPost, "/uploads/", tc.h, nil)
		wantCode(t, "POST with "+tc.name, a, tc.status)
		wantHeader(t, "POST with "+tc.name, a, "Location", "")
	}
	// At the maximum, with an allowed type: fine.
	id := s.tusCreate(t, int64(len(pngBytes)), tusMeta("filename", "p.png", "filetype", "image/png"))
	s.tusPatch(t, id, 0, pngBytes)
	s.checkStored(t, id, "p.png", "image/png", pngBytes)

	// A deferred length declared over the maximum.
	id = s.tusCreate(t, -1, "")
	a := s.tus(t, http.MethodPatch, "/uploads/"+id, tusPatchH(0, "Upload-Length", "1001"), textBytes)
	wantCode(t, "PATCH declaring a length over the maximum", a, http.StatusRequestEntityTooLarge)
	if h, off := s.tusHead(t, id); off != 0 || h.hdr("Upload-Defer-Length") != "1" {
		t.Errorf("after a refused length: HEAD offset %d, Upload-Defer-Length %q; want 0 and 1", off, h.hdr("Upload-Defer-Length"))
	}
}

// tus core §PATCH: Content-Type application/offset+octet-stream (else
// 415), Upload-Offset required (400) and equal to the offset (409); tus
// §Upload-Length: a body past the length is 413 and nothing past the
// length is stored. Refused requests leave the offset where it was.
func TestTusPatchRefusals(t *testing.T) {
	t.Parallel()
	s := start(t, cfg{})
	body := data(3000, 2)
	id := s.tusCreate(t, int64(len(body)), tusMeta("filename", "r.bin"))
	s.tusPatch(t, id, 0, body[:1000])
	for _, tc := range []struct {
		name   string
		h      hdrs
		body   []byte
		status int
	}{
		{"no Content-Type", hdrs{"Upload-Offset": "1000"}, body[1000:1100], http.StatusUnsupportedMediaType},
		{"Content-Type application/octet-stream", hdrs{"Upload-Offset": "1000", "Content-Type": "application/octet-stream"}, body[1000:1100], http.StatusUnsupportedMediaType},
		{"no Upload-Offset", hdrs{"Content-Type": octet}, body[1000:1100], http.StatusBadRequest},
		{"Upload-Offset not a number", hdrs{"Content-Type": octet, "Upload-Offset": "x"}, body[1000:1100], http.StatusBadRequest},
		{"Upload-Offset behind", tusPatchH(500), body[500:600], http.StatusConflict},
		{"Upload-Offset ahead", tusPatchH(2000), body[2000:2100], http.StatusConflict},
		{"body past Upload-Length", tusPatchH(1000), append(body[1000:len(body):len(body)], 'x'), http.StatusRequestEntityTooLarge},
		{"Upload-Length that differs from the declared", tusPatchH(1000, "Upload-Length", "5000"), body[1000:1100], http.StatusBadRequest},
	} {
		a := s.tus(t, http.MethodPatch, "/uploads/"+id, tc.h, tc.body)
		wantCode(t, "PATCH with "+tc.name, a, tc.status)
		if tc.status == http.StatusConflict {
			// tus: 409 when the offsets do not match; ferry tells the real one.
			wantHeader(t, "409 to PATCH with "+tc.name, a, "Upload-Offset", "1000")
		}
		if _, off := s.tusHead(t, id); off != 1000 {
			t.Fatalf("after PATCH with %s: HEAD offset %d, want 1000 (refusals change nothing)", tc.name, off)
		}
	}
	// The body past the length, sent without Content-Length: 413 and
	// nothing past the length stored. What is stored must then be a
	// consistent state: if HEAD says every byte is in, the file is done.
	a := s.call(t, http.MethodPatch, "/uploads/"+id, with(tusPatchH(1000), "Tus-Resumable", tusVersion),
		strings.NewReader(string(body[1000:])+"extra bytes"), -1, false)
	checkTusAnswer(t, "chunked PATCH past the length", a)
	wantCode(t, "chunked PATCH past the length", a, http.StatusRequestEntityTooLarge)
	h, off := s.tusHead(t, id)
	if off > int64(len(body)) {
		t.Fatalf("HEAD offset %d is past Upload-Length %d", off, len(body))
	}
	wantHeader(t, "HEAD", h, "Upload-Length", strconv.Itoa(len(body)))
	if off == int64(len(body)) {
		// A tus client stops here: the upload must be a complete file.
		resp, b := s.get(t, "/files/"+id, nil)
		if resp.StatusCode != http.StatusOK {
			t.Errorf("after a 413 to a chunked PATCH past the length, HEAD says Upload-Offset %d = Upload-Length, but GET /files/<id> is %d %s: the upload is stuck incomplete at its full length (a tus client considers it done)",
				off, resp.StatusCode, trunc(b))
			// A PATCH with no bytes at the end finishes it, if anything does.
			a := s.tus(t, http.MethodPatch, "/uploads/"+id, tusPatchH(off), []byte{})
			t.Logf("empty PATCH at %d afterwards: %d %v", off, a.StatusCode, a.Header)
		}
	} else {
		s.tusPatch(t, id, off, body[off:])
	}
	s.checkStored(t, id, "r.bin", "", body)
}

// tus core: unknown upload → 404; §intro "anything else in an id position
// is not found".
func TestTusUnknownUpload(t *testing.T) {
	t.Parallel()
	s := start(t, cfg{})
	for _, id := range []string{"0190a0b0-0000-7000-8000-000000000000", "not-a-uuid", "0190A0B0-0000-7000-8000-000000000000", "..%2F..%2Fetc"} {
		a := s.tus(t, http.MethodHead, "/uploads/"+id, nil, nil)
		wantCode(t, "HEAD /uploads/"+id, a, http.StatusNotFound)
		a = s.tus(t, http.MethodPatch, "/uploads/"+id, tusPatchH(0), []byte("x"))
		wantCode(t, "PATCH /uploads/"+id, a, http.StatusNotFound)
		a = s.tus(t, http.MethodDelete, "/uploads/"+id, nil, nil)
		wantCode(t, "DELETE /uploads/"+id, a, http.StatusNotFound)
	}
}

// tus core: a whole upload in several PATCHes; HEAD tells the durable
// offset between them (§4: "Every offset the server tells a client ... is
// durable"); the completed file is at /files/<id> and in /api/files with
// the name and type of its metadata (§4 "One upload, any protocol").
func TestTusUploadCompletes(t *testing.T) {
	t.Parallel()
	s := start(t, cfg{})
	body := data(300<<10+17, 3)
	id := s.tusCreate(t, int64(len(body)), tusMeta("filename", "whole.bin", "filetype", "application/x-ferry-test"))
	var off int64
	for _, n := range []int64{1, 64 << 10, 100000, 0, int64(len(body)) - 1 - 64<<10 - 100000} {
		a := s.tusPatch(t, id, off, body[off:off+n])
		off += n
		if off < int64(len(body)) {
			httpDate(t, "PATCH Upload-Expires (expiration extension)", a.hdr("Upload-Expires"))
		}
		if _, got := s.tusHead(t, id); got != off {
			t.Fatalf("HEAD after PATCH to %d: offset %d", off, got)
		}
	}
	s.checkStored(t, id, "whole.bin", "application/x-ferry-test", body)
	h, got := s.tusHead(t, id)
	if got != int64(len(body)) {
		t.Errorf("HEAD of the complete upload: offset %d, want %d", got, len(body))
	}
	wantHeader(t, "HEAD of the complete upload", h, "Upload-Length", strconv.Itoa(len(body)))

	// A retry of the last PATCH whose answer was lost: at offset == size
	// with no body it answers 204; anything else is refused.
	a := s.tus(t, http.MethodPatch, "/uploads/"+id, tusPatchH(int64(len(body))), []byte{})
	wantCode(t, "empty PATCH at the end of a complete upload", a, http.StatusNoContent)
	wantHeader(t, "empty PATCH at the end of a complete upload", a, "Upload-Offset", strconv.Itoa(len(body)))
	a = s.tus(t, http.MethodPatch, "/uploads/"+id, tusPatchH(int64(len(body))), []byte("more"))
	if a.StatusCode != http.StatusConflict && a.StatusCode != http.StatusBadRequest && a.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("PATCH with bytes at the end of a complete upload: %d, want 409, 400 or 413", a.StatusCode)
	}
	a = s.tus(t, http.MethodPatch, "/uploads/"+id, tusPatchH(10), body[10:20])
	wantCode(t, "PATCH at an old offset of a complete upload", a, http.StatusConflict)
	s.checkStored(t, id, "whole.bin", "application/x-ferry-test", body)
}

// tus creation-defer-length: the length is declared with Upload-Length on
// a PATCH; below the offset it is refused.
func TestTusDeferredLength(t *testing.T) {
	t.Parallel()
	s := start(t, cfg{})
	body := data(5000, 4)
	id := s.tusCreate(t, -1, tusMeta("filename", "later.bin"))
	s.tusPatch(t, id, 0, body[:2000])
	h, _ := s.tusHead(t, id)
	wantHeader(t, "HEAD before the length is known", h, "Upload-Defer-Length", "1")
	a := s.tus(t, http.MethodPatch, "/uploads/"+id, tusPatchH(2000, "Upload-Length", "1000"), []byte{})
	wantCode(t, "PATCH declaring a length below the offset", a, http.StatusBadRequest)
	a = s.tus(t, http.MethodPatch, "/uploads/"+id, tusPatchH(2000, "Upload-Length", "5000"), body[2000:3000])
	mustCode(t, "PATCH declaring the length", a, http.StatusNoContent)
	wantHeader(t, "PATCH declaring the length", a, "Upload-Offset", "3000")
	h, off := s.tusHead(t, id)
	if off != 3000 {
		t.Errorf("HEAD offset %d, want 3000", off)
	}
	wantHeader(t, "HEAD once the length is known", h, "Upload-Length", "5000")
	wantHeader(t, "HEAD once the length is known", h, "Upload-Defer-Length", "")
	s.tusPatch(t, id, 3000, body[3000:])
	s.checkStored(t, id, "later.bin", "", body)
}

// tus checksum extension: Upload-Checksum "<algorithm> <base64>" for the
// request's body; a mismatch answers 460 and nothing of that request is
// kept (§4 "checksum mismatch 460 (nothing of that request is kept)"); an
// unknown algorithm answers 400.
func TestTusChecksum(t *testing.T) {
	t.Parallel()
	s := start(t, cfg{})
	body := data(4*70<<10, 5) // four pieces, each over 64 KiB
	piece := len(body) / 4
	sum := func(alg string, b []byte) string {
		var d []byte
		switch alg {
		case "sha1":
			x := sha1.Sum(b)
			d = x[:]
		case "sha256":
			x := sha256.Sum256(b)
			d = x[:]
		case "sha512":
			x := sha512.Sum512(b)
			d = x[:]
		case "md5":
			x := md5.Sum(b)
			d = x[:]
		}
		return alg + " " + base64.StdEncoding.EncodeToString(d)
	}
	id := s.tusCreate(t, int64(len(body)), tusMeta("filename", "sum.bin"))
	for i, alg := range []string{"sha1", "sha256", "sha512", "md5"} {
		off := int64(i * piece)
		chunk := body[off : off+int64(piece)]
		wrong := append([]byte(nil), chunk...)
		wrong[len(wrong)/2] ^= 1
		// The digest of other bytes: 460, offset unchanged.
		a := s.tus(t, http.MethodPatch, "/uploads/"+id, tusPatchH(off, "Upload-Checksum", sum(alg, wrong)), chunk)
		wantCode(t, alg+" mismatch", a, StatusChecksumMismatch)
		if _, got := s.tusHead(t, id); got != off {
			t.Fatalf("after a %s mismatch: HEAD offset %d, want %d (nothing of the request kept)", alg, got, off)
		}
		a = s.tus(t, http.MethodPatch, "/uploads/"+id, tusPatchH(off, "Upload-Checksum", strings.ToUpper(alg[:1])+alg[1:]+" "+strings.SplitN(sum(alg, chunk), " ", 2)[1]), chunk)
		if a.StatusCode != http.StatusNoContent {
			// The algorithm's case is not fixed by tus; lower case must work.
			a = s.tus(t, http.MethodPatch, "/uploads/"+id, tusPatchH(off, "Upload-Checksum", sum(alg, chunk)), chunk)
		}
		mustCode(t, alg+" match", a, http.StatusNoContent)
		wantHeader(t, alg+" match", a, "Upload-Offset", strconv.FormatInt(off+int64(piece), 10))
	}
	s.checkStored(t, id, "sum.bin", "", body)

	// creation-with-upload with a checksum that does not match: 460 and
	// nothing of the body kept; if the answer names the upload, it is at 0.
	x := sha1.Sum([]byte("other bytes"))
	a := s.tus(t, http.MethodPost, "/uploads/", hdrs{"Upload-Length": "10", "Content-Type": octet,
		"Upload-Checksum": "sha1 " + base64.StdEncoding.EncodeToString(x[:])}, []byte("0123456789"))
	wantCode(t, "POST with upload and a mismatching Upload-Checksum", a, StatusChecksumMismatch)
	if loc := a.hdr("Location"); loc != "" {
		if _, off := s.tusHead(t, s.idFromLocation(t, "460 to POST", loc)); off != 0 {
			t.Errorf("after a 460 to POST with upload: HEAD offset %d, want 0", off)
		}
	}

	id = s.tusCreate(t, 10, "")
	for _, v := range []string{"crc32 AAAAAA==", "sha256", "sha256 !!!", "sha256 " + base64.StdEncoding.EncodeToString([]byte("short"))} {
		a := s.tus(t, http.MethodPatch, "/uploads/"+id, tusPatchH(0, "Upload-Checksum", v), []byte("0123456789"))
		wantCode(t, "Upload-Checksum "+v, a, http.StatusBadRequest)
	}
	if _, off := s.tusHead(t, id); off != 0 {
		t.Errorf("after refused checksums: HEAD offset %d, want 0", off)
	}
}

// StatusChecksumMismatch is tus's 460 Checksum Mismatch.
const StatusChecksumMismatch = 460

// tus Upload-Metadata sha256 (ferry's): the whole file's digest; a file
// that does not match it answers 460 and the upload is deleted (as §1's
// checksum_mismatch).
func TestTusWholeFileSHA256(t *testing.T) {
	t.Parallel()
	s := start(t, cfg{})
	body := data(100000, 6)
	bad := sha(append([]byte("x"), body...))
	id := s.tusCreate(t, int64(len(body)), tusMeta("filename", "bad.bin", "sha256", bad))
	s.tusPatch(t, id, 0, body[:50000])
	a := s.tus(t, http.MethodPatch, "/uploads/"+id, tusPatchH(50000), body[50000:])
	wantCode(t, "PATCH completing a file that does not match its sha256", a, StatusChecksumMismatch)
	s.wantGone(t, "after a whole-file sha256 mismatch", id)

	a = s.tus(t, http.MethodPost, "/uploads/", hdrs{"Upload-Length": "10", "Upload-Metadata": tusMeta("sha256", "abc")}, nil)
	wantCode(t, "POST with a sha256 that is not 64 hex digits", a, http.StatusBadRequest)
}

// tus core §X-HTTP-Method-Override: a POST that names PATCH (or DELETE)
// is served as that method.
func TestTusMethodOverride(t *testing.T) {
	t.Parallel()
	s := start(t, cfg{})
	body := data(2000, 7)
	id := s.tusCreate(t, int64(len(body)), tusMeta("filename", "o.bin"))
	a := s.tus(t, http.MethodPost, "/uploads/"+id, tusPatchH(0, "X-HTTP-Method-Override", "PATCH"), body[:1500])
	mustCode(t, "POST overridden to PATCH", a, http.StatusNoContent)
	wantHeader(t, "POST overridden to PATCH", a, "Upload-Offset", "1500")
	a = s.tus(t, http.MethodPost, "/uploads/"+id, tusPatchH(1500, "X-HTTP-Method-Override", "PATCH"), body[1500:])
	mustCode(t, "POST overridden to PATCH", a, http.StatusNoContent)
	s.checkStored(t, id, "o.bin", "", body)

	id = s.tusCreate(t, 10, "")
	a = s.tus(t, http.MethodPost, "/uploads/"+id, hdrs{"X-HTTP-Method-Override": "DELETE"}, nil)
	wantCode(t, "POST overridden to DELETE", a, http.StatusNoContent)
	s.wantGone(t, "after DELETE by override", id)
}

// tus termination: DELETE answers 204; the upload and its bytes are gone
// (§4: "DELETE ends the upload"), for an incomplete upload and, as
// DELETE /api/files/<id> does, a complete one.
func TestTusTermination(t *testing.T) {
	t.Parallel()
	s := start(t, cfg{})
	id := s.tusCreate(t, 1000, tusMeta("filename", "t.bin"))
	s.tusPatch(t, id, 0, data(400, 8))
	a := s.tus(t, http.MethodDelete, "/uploads/"+id, nil, nil)
	wantCode(t, "tus DELETE", a, http.StatusNoContent)
	s.wantGone(t, "after tus DELETE", id)
	a = s.tus(t, http.MethodPatch, "/uploads/"+id, tusPatchH(400), data(10, 9))
	wantCode(t, "PATCH after DELETE", a, http.StatusNotFound)
	resp, b := s.get(t, "/api/files/"+id, nil)
	wantStatus(t, "GET /api/files/<id> after DELETE", resp, b, http.StatusNotFound)
	a = s.tus(t, http.MethodDelete, "/uploads/"+id, nil, nil)
	wantCode(t, "second tus DELETE", a, http.StatusNotFound)

	id = s.tusCreate(t, 5, "")
	s.tusPatch(t, id, 0, []byte("12345"))
	a = s.tus(t, http.MethodDelete, "/uploads/"+id, nil, nil)
	wantCode(t, "tus DELETE of a complete upload", a, http.StatusNoContent)
	s.wantGone(t, "after tus DELETE of a complete upload", id)

	// DELETE /api/files/<id> of a tus upload (§4: applies as in §2).
	id = s.tusCreate(t, 5, "")
	s.tusPatch(t, id, 0, []byte("12"))
	resp, b = s.do(t, http.MethodDelete, "/api/files/"+id, nil)
	wantStatus(t, "DELETE /api/files/<tus id>", resp, b, http.StatusNoContent)
	s.wantGone(t, "after DELETE /api/files/<id>", id)
}

// tus expiration + §4 "unknown or deleted upload 404 (410 once expired,
// where the protocol has it)": an upload past Upload-Expires that no sweep
// has deleted yet answers 410 to HEAD and PATCH.
func TestTusExpiredIsGone(t *testing.T) {
	t.Parallel()
	s := start(t, cfg{Expiry: time.Hour})
	id := s.tusCreate(t, 100, "")
	a := s.tusPatch(t, id, 0, data(10, 10))
	exp := httpDate(t, "PATCH Upload-Expires", a.hdr("Upload-Expires"))
	if d := exp.Sub(s.clock.now()); d < time.Hour-time.Minute || d > time.Hour+time.Minute {
		t.Errorf("Upload-Expires %v is %v away, want about the 1h expiry", exp, d)
	}
	s.clock.advance(2 * time.Hour)
	a = s.tus(t, http.MethodHead, "/uploads/"+id, nil, nil)
	wantCode(t, "tus HEAD of an expired upload", a, http.StatusGone)
	a = s.tus(t, http.MethodPatch, "/uploads/"+id, tusPatchH(10), data(10, 11))
	wantCode(t, "tus PATCH of an expired upload", a, http.StatusGone)
	resp, b := s.get(t, "/files/"+id, nil)
	wantStatus(t, "GET /files/<expired id>", resp, b, http.StatusNotFound)
}

// §4 access: with tokens configured POST/HEAD/PATCH/DELETE need the Bearer
// header or ?token= (401 {"error":"unauthorized"}); OPTIONS does not.
func TestTusTokens(t *testing.T) {
	t.Parallel()
	s := start(t, cfg{Tokens: []string{"tok-1", "tok-2"}})
	id := s.tusCreate(t, 100, "")
	for _, tc := range []struct {
		method, path string
		h            hdrs
		body         []byte
		ok           int
	}{
		{http.MethodPost, "/uploads/", hdrs{"Upload-Length": "10"}, nil, http.StatusCreated},
		{http.MethodHead, "/uploads/" + id, nil, nil, http.StatusOK},
		{http.MethodPatch, "/uploads/" + id, tusPatchH(0), []byte{}, http.StatusNoContent},
	} {
		what := tc.method + " " + tc.path
		h := with(tc.h, "Tus-Resumable", tusVersion)
		for _, bad := range []struct {
			name, query string
			h           hdrs
		}{
			{"no token", "", h},
			{"bad Bearer", "", with(h, "Authorization", "Bearer nope")},
			{"bad ?token=", "?token=nope", h},
			{"Basic credentials", "", with(h, "Authorization", "Basic dG9rLTE6")},
		} {
			r, n := bodyOf(tc.body)
			a := s.call(t, tc.method, tc.path+bad.query, bad.h, r, n, true)
			wantCode(t, what+" with "+bad.name, a, http.StatusUnauthorized)
			if tc.method != http.MethodHead {
				wantJSONError(t, what+" with "+bad.name, a.Response, a.body, "unauthorized")
			}
			checkTusAnswer(t, what+" with "+bad.name, a)
		}
		for _, good := range []struct {
			name, query string
			h           hdrs
		}{
			{"Bearer", "", with(h, "Authorization", "Bearer tok-2")},
			{"?token=", "?token=tok-1", h},
		} {
			r, n := bodyOf(tc.body)
			a := s.call(t, tc.method, tc.path+good.query, good.h, r, n, true)
			wantCode(t, what+" with "+good.name, a, tc.ok)
		}
	}
	a := s.call(t, http.MethodDelete, "/uploads/"+id, hdrs{"Tus-Resumable": tusVersion}, nil, 0, true)
	wantCode(t, "DELETE without a token", a, http.StatusUnauthorized)
	a = s.call(t, http.MethodDelete, "/uploads/"+id+"?token=tok-2", hdrs{"Tus-Resumable": tusVersion}, nil, 0, true)
	wantCode(t, "DELETE with ?token=", a, http.StatusNoContent)
	a = s.call(t, http.MethodOptions, "/uploads/", nil, nil, 0, true)
	wantCode(t, "OPTIONS without a token", a, http.StatusNoContent)
}

// §4 "bad Origin 403": a request from a browser origin that is not allowed
// is refused before it creates or changes anything.
func TestHTTPUploadOrigin(t *testing.T) {
	t.Parallel()
	s := start(t, cfg{})
	id := s.tusCreate(t, 10, "")
	evil := hdrs{"Origin": "https://evil.example"}
	for _, tc := range []struct {
		method, path string
		h            hdrs
		body         []byte
	}{
		{http.MethodPost, "/uploads/", with(evil, "Upload-Length", "10"), nil},
		{http.MethodPost, "/uploads/", with(evil, "Upload-Complete", "?1"), []byte("abc")},
		{http.MethodHead, "/uploads/" + id, evil, nil},
		{http.MethodPatch, "/uploads/" + id, with(evil, "Content-Type", octet, "Upload-Offset", "0"), []byte("12345")},
		{http.MethodDelete, "/uploads/" + id, evil, nil},
	} {
		a := s.tus(t, tc.method, tc.path, tc.h, tc.body)
		wantCode(t, tc.method+" "+tc.path+" from a foreign Origin", a, http.StatusForbidden)
	}
	a := s.ietf(t, http.MethodPatch, "/uploads/"+id, with(evil, "Upload-Draft-Interop-Version", "6", "Upload-Complete", "?0", "Upload-Offset", "0"), []byte("12345"))
	wantCode(t, "IETF PATCH from a foreign Origin", a, http.StatusForbidden)
	if _, off := s.tusHead(t, id); off != 0 {
		t.Errorf("refused PATCH moved the offset to %d", off)
	}
	u, _ := url.Parse(s.URL)
	a = s.tus(t, http.MethodPatch, "/uploads/"+id, tusPatchH(0, "Origin", "http://"+u.Host), []byte("12345"))
	wantCode(t, "PATCH from the server's own origin", a, http.StatusNoContent)
}

// §4 CORS "as in sections 1 and 2": a browser's preflight for a tus PATCH
// from an allowed origin passes without a token, and answers expose the
// resumable-upload headers a script must read.
func TestHTTPUploadCORS(t *testing.T) {
	t.Parallel()
	const app = "https://app.example"
	s := start(t, cfg{AllowedOrigins: []string{app}, Tokens: []string{"tok"}})
	for _, pf := range []struct{ method, headers string }{
		{"PATCH", "tus-resumable,upload-offset,content-type"},
		{"POST", "tus-resumable,upload-length,upload-metadata,authorization"},
		{"POST", "upload-complete,upload-draft-interop-version,content-type,content-disposition"},
		{"DELETE", "tus-resumable"},
		{"HEAD", "tus-resumable"},
	} {
		for _, path := range []string{"/uploads/", "/uploads/0190a0b0-0000-7000-8000-000000000000"} {
			what := "preflight " + pf.method + " " + path
			a := s.call(t, http.MethodOptions, path, hdrs{"Origin": app, "Access-Control-Request-Method": pf.method,
				"Access-Control-Request-Headers": pf.headers}, nil, 0, true)
			if a.StatusCode < 200 || a.StatusCode > 299 {
				t.Errorf("%s: %d %q, want 2xx", what, a.StatusCode, trunc(a.body))
			}
			if got := a.hdr("Access-Control-Allow-Origin"); got != app && got != "*" {
				t.Errorf("%s: Access-Control-Allow-Origin %q", what, got)
			}
			if !listIncludes(a.Header.Values("Access-Control-Allow-Methods"), pf.method) {
				t.Errorf("%s: Access-Control-Allow-Methods %q", what, a.Header.Values("Access-Control-Allow-Methods"))
			}
			for _, h := range strings.Split(pf.headers, ",") {
				if !listIncludes(a.Header.Values("Access-Control-Allow-Headers"), h) {
					t.Errorf("%s: Access-Control-Allow-Headers %q lacks %s", what, a.Header.Values("Access-Control-Allow-Headers"), h)
				}
			}
		}
	}
	checkExpose := func(what string, a answer, want ...string) {
		t.Helper()
		if got := a.hdr("Access-Control-Allow-Origin"); got != app && got != "*" {
			t.Errorf("%s: Access-Control-Allow-Origin %q", what, got)
		}
		for _, w := range want {
			if !listIncludes(a.Header.Values("Access-Control-Expose-Headers"), w) {
				t.Errorf("%s: Access-Control-Expose-Headers %q lacks %s", what, a.Header.Values("Access-Control-Expose-Headers"), w)
			}
		}
	}
	o := hdrs{"Origin": app}
	a := s.tus(t, http.MethodPost, "/uploads/", with(o, "Upload-Length", "10", "Upload-Metadata", tusMeta("filename", "c")), nil)
	mustCode(t, "cross-origin tus POST", a, http.StatusCreated)
	checkExpose("cross-origin tus POST", a, "Location", "Upload-Offset", "Upload-Length", "Tus-Resumable", "Upload-Expires")
	id := s.idFromLocation(t, "POST", a.hdr("Location"))
	a = s.tus(t, http.MethodHead, "/uploads/"+id, o, nil)
	checkExpose("cross-origin tus HEAD", a, "Upload-Offset", "Upload-Length", "Upload-Metadata", "Tus-Resumable")
	a = s.tus(t, http.MethodPatch, "/uploads/"+id, with(tusPatchH(0), "Origin", app), []byte("12345"))
	wantCode(t, "cross-origin tus PATCH", a, http.StatusNoContent)
	checkExpose("cross-origin tus PATCH", a, "Upload-Offset", "Tus-Resumable")
	a = s.ietf(t, http.MethodHead, "/uploads/"+id, o, nil)
	checkExpose("cross-origin IETF HEAD", a, "Upload-Offset", "Upload-Complete", "Upload-Length")
	a = s.ietf(t, http.MethodPost, "/uploads/", with(o, "Upload-Complete", "?1"), []byte("xyz"))
	checkExpose("cross-origin IETF POST", a, "Location", "Upload-Offset", "Upload-Complete")
}

// §4 "A PATCH body is written as it arrives; a PATCH cut off keeps what
// became durable": after a client vanishes mid-body HEAD reports what was
// kept (> 0 after 4 MiB, at most what was sent) and the upload resumes
// from there to a byte-identical file.
func TestTusPatchCutOff(t *testing.T) {
	t.Parallel()
	s := start(t, cfg{})
	body := data(8<<20, 12)
	const sent = 4 << 20
	id := s.tusCreate(t, int64(len(body)), tusMeta("filename", "cut.bin"))
	u, _ := url.Parse(s.URL)
	c, err := net.Dial("tcp", u.Host)
	if err != nil {
		t.Fatal(err)
	}
	_ = c.SetDeadline(time.Now().Add(20 * time.Second))
	fmt.Fprintf(c, "PATCH /uploads/%s HTTP/1.1\r\nHost: %s\r\nTus-Resumable: 1.0.0\r\nContent-Type: %s\r\nUpload-Offset: 0\r\nContent-Length: %d\r\n\r\n",
		id, u.Host, octet, len(body))
	for off := 0; off < sent; off += 256 << 10 {
		if _, err := c.Write(body[off : off+256<<10]); err != nil {
			t.Fatalf("writing the body: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	_ = c.Close()

	// The offset HEAD tells settles once the server has noticed the cut.
	var off, prev int64 = 0, -1
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, off = s.tusHead(t, id)
		if off > 0 && off == prev {
			break
		}
		if time.Now().After(deadline) {
			break
		}
		prev = off
		time.Sleep(150 * time.Millisecond)
	}
	if off <= 0 || off > sent {
		t.Fatalf("HEAD after a PATCH cut off at %d bytes: offset %d, want 0 < offset <= %d", sent, off, sent)
	}
	t.Logf("cut off after %d bytes: %d kept", sent, off)
	s.tusPatch(t, id, off, body[off:])
	s.checkStored(t, id, "cut.bin", "", body)
}

// §4 takeover: "A new request for an upload whose earlier request is still
// open takes the upload over: the earlier request ends, keeping its
// durable bytes." The stalled first PATCH ends (423 or a closed
// connection); its received bytes are kept; the second PATCH, at the
// offset HEAD tells, completes the file.
func TestTusTakeover(t *testing.T) {
	t.Parallel()
	s := start(t, cfg{})
	body := data(1<<20, 13)
	const first = 300 << 10
	id := s.tusCreate(t, int64(len(body)), tusMeta("filename", "take.bin"))

	pr, pw := io.Pipe()
	type result struct {
		a   answer
		err error
	}
	done := make(chan result, 1)
	go func() {
		a, err := s.callErr(t.Context(), http.MethodPatch, "/uploads/"+id, with(tusPatchH(0), "Tus-Resumable", tusVersion), pr, -1, false)
		done <- result{a, err}
	}()
	if _, err := pw.Write(body[:first]); err != nil {
		t.Fatal(err)
	}
	// A pause, then one more byte: bytes arriving after a pause are
	// written (and become durable) as they come.
	time.Sleep(400 * time.Millisecond)
	if _, err := pw.Write(body[first : first+1]); err != nil {
		t.Fatal(err)
	}
	var off int64
	deadline := time.Now().Add(3 * time.Second)
	for {
		_, off = s.tusHead(t, id)
		if off == first+1 || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if off > first+1 {
		t.Fatalf("HEAD during the stalled PATCH: offset %d, more than the %d bytes sent", off, first+1)
	}
	t.Logf("durable while the first PATCH stalls: %d of %d sent", off, first+1)

	started := time.Now()
	a := s.tus(t, http.MethodPatch, "/uploads/"+id, tusPatchH(off), body[off:])
	took := time.Since(started)
	if a.StatusCode == http.StatusConflict {
		// The first request made more durable as it ended: that is where
		// to go on from.
		got := offsetOf(t, "409 to the taking-over PATCH", a)
		t.Logf("taking-over PATCH at %d: 409, the first request kept %d", off, got)
		if got != first+1 {
			t.Errorf("after the takeover the upload is at %d, want the %d bytes the first request received", got, first+1)
		}
		off = got
		a = s.tus(t, http.MethodPatch, "/uploads/"+id, tusPatchH(off), body[off:])
	}
	mustCode(t, "PATCH taking the upload over", a, http.StatusNoContent)
	if took > 5*time.Second {
		t.Errorf("the takeover took %v", took)
	}
	select {
	case r := <-done:
		if r.err == nil && r.a.StatusCode != http.StatusLocked {
			t.Errorf("the stalled PATCH ended with %d %q, want 423 or a closed connection", r.a.StatusCode, trunc(r.a.body))
		}
		if r.err == nil {
			t.Logf("stalled PATCH ended: %d %q", r.a.StatusCode, trunc(r.a.body))
		} else {
			t.Logf("stalled PATCH ended: %v", r.err)
		}
	case <-time.After(5 * time.Second):
		t.Errorf("the stalled PATCH has not ended 5s after it was taken over")
	}
	_ = pw.Close()
	s.checkStored(t, id, "take.bin", "", body)
}

// §4 "Every offset the server tells a client ... is durable": /metrics
// counts HTTP uploads and their bytes (§2 GET /metrics).
func TestHTTPUploadMetrics(t *testing.T) {
	t.Parallel()
	s := start(t, cfg{})
	body := data(12345, 14)
	id := s.tusCreate(t, int64(len(body)), "")
	s.tusPatch(t, id, 0, body)
	a := s.ietf(t, http.MethodPost, "/uploads/", hdrs{"Upload-Complete": "?1"}, body)
	mustCode(t, "IETF POST", a, http.StatusCreated)
	for _, m := range []struct {
		prefix string
		min    float64
	}{
		{`ferry_http_uploads_created_total{protocol="tus"}`, 1},
		{`ferry_http_uploads_created_total{protocol="ietf"}`, 1},
		{`ferry_http_upload_bytes_total`, float64(2 * len(body))},
	} {
		v, ok := s.metric(t, m.prefix)
		if !ok {
			t.Errorf("/metrics has no %s", m.prefix)
		} else if v < m.min {
			t.Errorf("/metrics %s = %v, want >= %v", m.prefix, v, m.min)
		}
	}
}

// §4 "follow ... apply as in sections 1 and 2": GET /files/<id>?follow=1
// streams a tus upload as its PATCHes make bytes durable, and ends when it
// completes.
func TestTusFollow(t *testing.T) {
	t.Parallel()
	s := start(t, cfg{})
	body := data(200000, 15)
	id := s.tusCreate(t, int64(len(body)), tusMeta("filename", "f.bin"))
	st := s.follow(t, id)
	checkFollowHeaders(t, st.resp)
	s.tusPatch(t, id, 0, body[:70000])
	st.waitLen(t, 70000, 5*time.Second)
	s.tusPatch(t, id, 70000, body[70000:])
	if err := st.end(t, 10*time.Second); err != io.EOF {
		t.Errorf("follow of a tus upload ended with %v, want a clean end", err)
	}
	if !bytes.Equal(st.buf, body) {
		t.Errorf("follow of a tus upload streamed %d bytes (sha256 %s), want the %d uploaded", len(st.buf), sha(st.buf), len(body))
	}
}

// §4 "allowed types apply as in sections 1 and 2": content sniffed as a
// type outside the allowed list is refused (415) whatever the declared
// filetype, and the upload is not a file.
func TestTusSniffedForbiddenType(t *testing.T) {
	t.Parallel()
	s := start(t, cfg{AllowedTypes: []string{"image/png"}})
	id := s.tusCreate(t, int64(len(htmlBytes)), tusMeta("filename", "x.png", "filetype", "image/png"))
	a := s.tus(t, http.MethodPatch, "/uploads/"+id, tusPatchH(0), htmlBytes)
	wantCode(t, "PATCH of HTML declared image/png", a, http.StatusUnsupportedMediaType)
	resp, b := s.get(t, "/files/"+id, nil)
	wantStatus(t, "GET /files/<refused upload>", resp, b, http.StatusNotFound)

	a = s.ietf(t, http.MethodPost, "/uploads/", hdrs{"Upload-Complete": "?1", "Content-Type": "image/png"}, htmlBytes)
	wantCode(t, "IETF POST of HTML declared image/png", a, http.StatusUnsupportedMediaType)
	if n := len(s.list(t, "").files); n != 0 {
		t.Errorf("refused uploads left %d files", n)
	}
}

// §4 "storage failure 503 with Retry-After": the upload stays resumable,
// so the client is told when to come back.
func TestHTTPUploadStorageFailure(t *testing.T) {
	t.Parallel()
	s := start(t, cfg{})
	id := s.tusCreate(t, 100, "")
	s.tusPatch(t, id, 0, data(10, 16))
	if err := os.RemoveAll(s.Dir); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(s.Dir, []byte("not a directory"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.Remove(s.Dir); _ = os.MkdirAll(s.Dir, 0o750) })
	for _, tc := range []struct {
		what string
		a    answer
	}{
		{"tus POST", s.tus(t, http.MethodPost, "/uploads/", hdrs{"Upload-Length": "10"}, nil)},
		{"IETF POST", s.ietf(t, http.MethodPost, "/uploads/", hdrs{"Upload-Complete": "?1"}, []byte("abc"))},
		{"tus PATCH", s.tus(t, http.MethodPatch, "/uploads/"+id, tusPatchH(10), data(10, 17))},
	} {
		wantCode(t, tc.what+" with the storage gone", tc.a, http.StatusServiceUnavailable)
		if tc.a.StatusCode == http.StatusServiceUnavailable && tc.a.hdr("Retry-After") == "" {
			t.Errorf("%s: 503 without Retry-After", tc.what)
		}
	}
}

// §4 "Every offset the server tells a client (a response to PATCH or
// HEAD ...) is durable, as progress.offset is in section 1": it survives a
// kill -9 of the server, also the offset HEAD told of a PATCH still
// streaming at the kill.
func TestHTTPOffsetSurvivesKill9(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cs, cmd := child(t, dir)
	body := data(1<<20, 18)
	id := cs.tusCreate(t, int64(len(body)), tusMeta("filename", "crash.bin"))
	cs.tusPatch(t, id, 0, body[:200000])

	pr, pw := io.Pipe()
	defer pw.Close()
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = cs.callErr(t.Context(), http.MethodPatch, "/uploads/"+id, with(tusPatchH(200000), "Tus-Resumable", tusVersion), pr, -1, false)
	}()
	const sent = 500001
	if _, err := pw.Write(body[200000 : sent-1]); err != nil {
		t.Fatal(err)
	}
	time.Sleep(400 * time.Millisecond)
	if _, err := pw.Write(body[sent-1 : sent]); err != nil {
		t.Fatal(err)
	}
	var reported int64
	deadline := time.Now().Add(3 * time.Second)
	for reported < sent && time.Now().Before(deadline) {
		_, reported = cs.tusHead(t, id)
		time.Sleep(30 * time.Millisecond)
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	_ = pw.CloseWithError(io.ErrUnexpectedEOF) // the client's transport waits for its body
	<-done

	s := start(t, cfg{Dir: dir})
	_, off := s.tusHead(t, id)
	t.Logf("HEAD told %d of %d sent before kill -9; %d after", reported, sent, off)
	if off < reported {
		t.Fatalf("after kill -9 HEAD says %d, below the %d it told before", off, reported)
	}
	deadline = time.Now().Add(5 * time.Second)
	for {
		a := s.tus(t, http.MethodPatch, "/uploads/"+id, tusPatchH(off), body[off:])
		if a.StatusCode == http.StatusLocked && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
			continue
		}
		mustCode(t, "PATCH after kill -9", a, http.StatusNoContent)
		break
	}
	s.checkStored(t, id, "crash.bin", "", body)
}
