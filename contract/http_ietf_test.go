package contract_test

import (
	"bytes"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// IETF Resumable Uploads draft (draft-ietf-httpbis-resumable-upload), as
// §4 serves it at /uploads/. A request is IETF when it carries
// Upload-Draft-Interop-Version, Upload-Complete or Upload-Incomplete;
// interop version 3 (draft-01) says Upload-Incomplete, the inverse.

// ietfDraft is one dialect of the draft a client may speak.
type ietfDraft struct {
	name    string
	interop string // "" = sends no Upload-Draft-Interop-Version
}

var ietfDrafts = []ietfDraft{{"newest draft, no interop version", ""}, {"interop 6", "6"}, {"interop 3 (Upload-Incomplete)", "3"}}

// complete returns the header that says whether this request completes
// the upload, in the draft's words.
func (d ietfDraft) complete(done bool) hdrs {
	h := hdrs{}
	if d.interop != "" {
		h["Upload-Draft-Interop-Version"] = d.interop
	}
	v := map[bool]string{true: "?1", false: "?0"}
	if d.interop == "3" {
		h["Upload-Incomplete"] = v[!done]
	} else {
		h["Upload-Complete"] = v[done]
	}
	return h
}

// wantComplete checks the answer's completion header in the draft's words.
func (d ietfDraft) wantComplete(t *testing.T, what string, a answer, done bool) {
	t.Helper()
	v := map[bool]string{true: "?1", false: "?0"}
	if d.interop == "3" {
		wantHeader(t, what, a, "Upload-Incomplete", v[!done])
	} else {
		wantHeader(t, what, a, "Upload-Complete", v[done])
	}
}

// ietf draft §Upload Creation: a POST with the whole file and
// Upload-Complete: ?1 creates and completes the upload: 104 (Upload
// Resumption Supported) with Location first, then 201 with Location
// (§4: /uploads/<id>), Upload-Offset = size and Upload-Complete: ?1.
// §4: the Content-Type is the stored type, the Content-Disposition
// filename the stored name.
func TestIETFCompleteInOneRequest(t *testing.T) {
	t.Parallel()
	s := start(t, cfg{})
	for i, d := range ietfDrafts {
		t.Run(d.name, func(t *testing.T) {
			body := data(150<<10+i, uint64(20+i))
			h := with(d.complete(true), "Content-Type", "application/x-ferry-test", "Content-Disposition", `attachment; filename="one shot.bin"`)
			a := s.ietf(t, http.MethodPost, "/uploads/", h, body)
			mustCode(t, "IETF POST of the whole file", a, http.StatusCreated)
			id := s.idFromLocation(t, "IETF POST", a.hdr("Location"))
			wantHeader(t, "IETF POST", a, "Upload-Offset", strconv.Itoa(len(body)))
			d.wantComplete(t, "IETF POST", a, true)
			var got []int
			for _, ir := range a.interim {
				got = append(got, ir.code)
				if ir.code != 104 {
					continue
				}
				if ir.h.Get("Location") != a.hdr("Location") {
					t.Errorf("104: Location %q, the final answer's is %q", ir.h.Get("Location"), a.hdr("Location"))
				}
				if d.interop != "" && ir.h.Get("Upload-Draft-Interop-Version") != d.interop {
					t.Errorf("104: Upload-Draft-Interop-Version %q, want %q", ir.h.Get("Upload-Draft-Interop-Version"), d.interop)
				}
			}
			if len(got) != 1 || got[0] != 104 {
				t.Errorf("interim responses %v, want one 104 before the 201", got)
			}
			s.checkStored(t, id, "one shot.bin", "application/x-ferry-test", body)

			hh := hdrs{}
			if d.interop != "" {
				hh["Upload-Draft-Interop-Version"] = d.interop
			}
			hd := s.ietf(t, http.MethodHead, "/uploads/"+id, hh, nil)
			wantCode(t, "IETF HEAD of the complete upload", hd, http.StatusNoContent)
			wantHeader(t, "IETF HEAD of the complete upload", hd, "Upload-Offset", strconv.Itoa(len(body)))
			d.wantComplete(t, "IETF HEAD of the complete upload", hd, true)
		})
	}
}

// §4 "Name and type ... IETF: the creation request's Content-Type, and the
// filename of its Content-Disposition if present"; the protocol's own
// application/partial-upload and curl's form types describe the request,
// not the file.
func TestIETFNameAndType(t *testing.T) {
	t.Parallel()
	s := start(t, cfg{})
	for _, tc := range []struct {
		ct, cd     string
		name, mime string // "" = not fixed
		notMime    string
	}{
		{"text/plain; charset=utf-8", `attachment; filename="notes.txt"`, "notes.txt", "text/plain", ""},
		{"image/png", `inline; filename*=UTF-8''na%C3%AFve%20r%C3%A9sum%C3%A9.png`, "naïve résumé.png", "image/png", ""},
		{"application/partial-upload", `attachment; filename="p.bin"`, "p.bin", "", "application/partial-upload"},
		{"application/x-www-form-urlencoded", "", "", "", "application/x-www-form-urlencoded"},
	} {
		t.Run(tc.ct, func(t *testing.T) {
			body := pngBytes
			if !strings.HasPrefix(tc.ct, "image/") {
				body = textBytes
			}
			h := hdrs{"Upload-Complete": "?1", "Content-Type": tc.ct}
			if tc.cd != "" {
				h["Content-Disposition"] = tc.cd
			}
			a := s.ietf(t, http.MethodPost, "/uploads/", h, body)
			mustCode(t, "IETF POST", a, http.StatusCreated)
			id := s.idFromLocation(t, "IETF POST", a.hdr("Location"))
			s.checkStored(t, id, tc.name, tc.mime, body)
			if tc.notMime != "" {
				resp, b := s.get(t, "/api/files/"+id, nil)
				if m, _ := decodeFrame(t, b).str("mime"); resp.StatusCode == 200 && strings.HasPrefix(m, tc.notMime) {
					t.Errorf("creation with Content-Type %s stored the type %q, which describes the request, not the file", tc.ct, m)
				}
			}
		})
	}
}

// ietf draft §Upload Creation with Upload-Complete: ?0, §Offset Retrieving
// (HEAD: 204, Upload-Offset, Upload-Complete, Upload-Length when known,
// Cache-Control: no-store), §Upload Append (PATCH with Upload-Offset and
// Upload-Complete: 204 while incomplete, 2xx with Upload-Complete: ?1 when
// it completes; ferry answers 200).
func TestIETFIncompleteThenAppend(t *testing.T) {
	t.Parallel()
	s := start(t, cfg{})
	for i, d := range ietfDrafts {
		t.Run(d.name, func(t *testing.T) {
			body := data(200<<10, uint64(30+i))
			h := with(d.complete(false), "Upload-Length", strconv.Itoa(len(body)), "Content-Type", "application/x-ferry-test",
				"Content-Disposition", `attachment; filename="parts.bin"`)
			a := s.ietf(t, http.MethodPost, "/uploads/", h, body[:50000])
			mustCode(t, "IETF POST ?0", a, http.StatusCreated)
			id := s.idFromLocation(t, "IETF POST ?0", a.hdr("Location"))
			wantHeader(t, "IETF POST ?0", a, "Upload-Offset", "50000")
			d.wantComplete(t, "IETF POST ?0", a, false)
			if len(a.interim) == 0 || a.interim[0].code != 104 {
				t.Errorf("IETF POST ?0: no 104 before the 201 (interim %v)", a.interim)
			}

			look := func(want int64, done bool) {
				t.Helper()
				hh := hdrs{}
				if d.interop != "" {
					hh["Upload-Draft-Interop-Version"] = d.interop
				}
				hd := s.ietf(t, http.MethodHead, "/uploads/"+id, hh, nil)
				mustCode(t, "IETF HEAD", hd, http.StatusNoContent)
				if got := offsetOf(t, "IETF HEAD", hd); got != want {
					t.Errorf("IETF HEAD: Upload-Offset %d, want %d", got, want)
				}
				d.wantComplete(t, "IETF HEAD", hd, done)
				wantHeader(t, "IETF HEAD", hd, "Upload-Length", strconv.Itoa(len(body)))
			}
			look(50000, false)

			a = s.ietf(t, http.MethodPatch, "/uploads/"+id, with(d.complete(false), "Upload-Offset", "50000",
				"Content-Type", "application/partial-upload"), body[50000:120000])
			mustCode(t, "IETF PATCH ?0", a, http.StatusNoContent)
			wantHeader(t, "IETF PATCH ?0", a, "Upload-Offset", "120000")
			look(120000, false)

			a = s.ietf(t, http.MethodPatch, "/uploads/"+id, with(d.complete(true), "Upload-Offset", "120000",
				"Content-Type", "application/partial-upload"), body[120000:])
			mustCode(t, "IETF PATCH ?1", a, http.StatusOK)
			d.wantComplete(t, "IETF PATCH ?1", a, true)
			look(int64(len(body)), true)
			s.checkStored(t, id, "parts.bin", "application/x-ferry-test", body)
		})
	}
}

// ietf draft: the length may stay unknown until the request that says
// Upload-Complete: ?1; HEAD tells no Upload-Length meanwhile.
func TestIETFUnknownLength(t *testing.T) {
	t.Parallel()
	s := start(t, cfg{})
	body := data(90000, 40)
	a := s.ietf(t, http.MethodPost, "/uploads/", hdrs{"Upload-Complete": "?0", "Content-Disposition": `attachment; filename="u.bin"`}, nil)
	mustCode(t, "IETF POST ?0 with no body and no length", a, http.StatusCreated)
	id := s.idFromLocation(t, "IETF POST", a.hdr("Location"))
	wantHeader(t, "IETF POST", a, "Upload-Offset", "0")
	wantHeader(t, "IETF POST", a, "Upload-Complete", "?0")
	wantHeader(t, "IETF POST with no length", a, "Upload-Length", "")
	a = s.ietf(t, http.MethodPatch, "/uploads/"+id, hdrs{"Upload-Complete": "?0", "Upload-Offset": "0"}, body[:40000])
	mustCode(t, "IETF PATCH ?0", a, http.StatusNoContent)
	hd := s.ietf(t, http.MethodHead, "/uploads/"+id, nil, nil)
	wantCode(t, "IETF HEAD", hd, http.StatusNoContent)
	wantHeader(t, "IETF HEAD while the length is unknown", hd, "Upload-Length", "")
	wantHeader(t, "IETF HEAD", hd, "Upload-Offset", "40000")
	wantHeader(t, "IETF HEAD", hd, "Upload-Complete", "?0")
	a = s.ietf(t, http.MethodPatch, "/uploads/"+id, hdrs{"Upload-Complete": "?1", "Upload-Offset": "40000"}, body[40000:])
	mustCode(t, "IETF PATCH ?1", a, http.StatusOK)
	wantHeader(t, "IETF PATCH ?1", a, "Upload-Complete", "?1")
	hd = s.ietf(t, http.MethodHead, "/uploads/"+id, nil, nil)
	wantHeader(t, "IETF HEAD once complete", hd, "Upload-Length", strconv.Itoa(len(body)))
	wantHeader(t, "IETF HEAD once complete", hd, "Upload-Complete", "?1")
	s.checkStored(t, id, "u.bin", "", body)
}

// ietf draft §Upload Creation: "If the request contains both Upload-Length
// and Content-Length and Upload-Complete: ?1 with differing values" → 400
// with problem type inconsistent-upload-length; nothing is created.
func TestIETFInconsistentLength(t *testing.T) {
	t.Parallel()
	s := start(t, cfg{})
	a := s.ietf(t, http.MethodPost, "/uploads/", hdrs{"Upload-Complete": "?1", "Upload-Length": "11"}, []byte("0123456789"))
	wantCode(t, "IETF POST with Upload-Length 11 and Content-Length 10", a, http.StatusBadRequest)
	problem(t, "IETF POST with inconsistent lengths", a, "inconsistent-upload-length")
	wantHeader(t, "IETF POST with inconsistent lengths", a, "Location", "")
	if n := len(s.list(t, "").files); n != 0 {
		t.Errorf("an inconsistent creation left %d files", n)
	}
	// A PATCH whose body does not reach the declared length but says ?1.
	a = s.ietf(t, http.MethodPost, "/uploads/", hdrs{"Upload-Complete": "?0", "Upload-Length": "10"}, nil)
	id := s.idFromLocation(t, "IETF POST ?0", a.hdr("Location"))
	a = s.ietf(t, http.MethodPatch, "/uploads/"+id, hdrs{"Upload-Complete": "?1", "Upload-Offset": "0"}, []byte("01234"))
	wantCode(t, "IETF PATCH ?1 ending before Upload-Length", a, http.StatusBadRequest)
	problem(t, "IETF PATCH ?1 ending before Upload-Length", a, "inconsistent-upload-length")
}

// ietf draft §Upload Append: Upload-Offset and Upload-Complete are
// required (400); a wrong offset answers 409 with the problem type
// mismatching-upload-offset and expected-offset / provided-offset; an
// append to a completed upload answers 400 (completed-upload).
func TestIETFPatchRefusals(t *testing.T) {
	t.Parallel()
	s := start(t, cfg{})
	body := data(1000, 41)
	a := s.ietf(t, http.MethodPost, "/uploads/", hdrs{"Upload-Complete": "?0", "Upload-Length": "1000"}, body[:300])
	mustCode(t, "IETF POST ?0", a, http.StatusCreated)
	id := s.idFromLocation(t, "IETF POST", a.hdr("Location"))
	for _, tc := range []struct {
		name string
		h    hdrs
	}{
		{"no Upload-Offset", hdrs{"Upload-Complete": "?0"}},
		{"no Upload-Complete (interop version only)", hdrs{"Upload-Draft-Interop-Version": "6", "Upload-Offset": "300"}},
		{"Upload-Complete not a boolean", hdrs{"Upload-Complete": "yes", "Upload-Offset": "300"}},
		{"Upload-Offset negative", hdrs{"Upload-Complete": "?0", "Upload-Offset": "-1"}},
	} {
		a := s.ietf(t, http.MethodPatch, "/uploads/"+id, tc.h, body[300:400])
		wantCode(t, "IETF PATCH with "+tc.name, a, http.StatusBadRequest)
	}
	for _, provided := range []int64{0, 299, 301, 5000} {
		a := s.ietf(t, http.MethodPatch, "/uploads/"+id, hdrs{"Upload-Complete": "?0", "Upload-Offset": strconv.FormatInt(provided, 10)}, body[:10])
		what := "IETF PATCH at " + strconv.FormatInt(provided, 10)
		wantCode(t, what, a, http.StatusConflict)
		m := problem(t, what, a, "mismatching-upload-offset")
		problemNum(t, what, m, "expected-offset", 300)
		problemNum(t, what, m, "provided-offset", provided)
	}
	hd := s.ietf(t, http.MethodHead, "/uploads/"+id, nil, nil)
	wantHeader(t, "IETF HEAD after refused PATCHes", hd, "Upload-Offset", "300")

	a = s.ietf(t, http.MethodPatch, "/uploads/"+id, hdrs{"Upload-Complete": "?1", "Upload-Offset": "300"}, body[300:])
	mustCode(t, "IETF PATCH ?1", a, http.StatusOK)
	a = s.ietf(t, http.MethodPatch, "/uploads/"+id, hdrs{"Upload-Complete": "?1", "Upload-Offset": "1000"}, []byte("more"))
	wantCode(t, "IETF PATCH with bytes to a completed upload", a, http.StatusBadRequest)
	problem(t, "IETF PATCH to a completed upload", a, "completed-upload")
	a = s.ietf(t, http.MethodPatch, "/uploads/"+id, hdrs{"Upload-Complete": "?1", "Upload-Offset": "1000"}, []byte{})
	if a.StatusCode < 200 || a.StatusCode > 299 {
		t.Errorf("IETF PATCH retrying the end of a completed upload with no bytes: %d, want 2xx", a.StatusCode)
	}
	s.checkStored(t, id, "", "", body)
}

// ietf draft §Offset Retrieving; §4: a HEAD that names no protocol at all
// is answered as IETF (204, Upload-Offset, Upload-Complete, no-store);
// unknown uploads 404; §Upload Cancellation: DELETE 204, then 404.
func TestIETFHeadAndCancel(t *testing.T) {
	t.Parallel()
	s := start(t, cfg{})
	id := s.tusCreate(t, 100, "")
	s.tusPatch(t, id, 0, data(30, 42))
	a := s.call(t, http.MethodHead, "/uploads/"+id, nil, nil, 0, false)
	wantCode(t, "HEAD with no protocol header", a, http.StatusNoContent)
	wantHeader(t, "HEAD with no protocol header", a, "Upload-Offset", "30")
	wantHeader(t, "HEAD with no protocol header", a, "Upload-Complete", "?0")
	wantHeader(t, "HEAD with no protocol header", a, "Upload-Length", "100")
	checkNoStore(t, "HEAD with no protocol header", a)
	for _, bad := range []string{"0190a0b0-0000-7000-8000-000000000000", "nope"} {
		a = s.ietf(t, http.MethodHead, "/uploads/"+bad, hdrs{"Upload-Draft-Interop-Version": "6"}, nil)
		wantCode(t, "IETF HEAD of "+bad, a, http.StatusNotFound)
	}
	a = s.ietf(t, http.MethodDelete, "/uploads/"+id, hdrs{"Upload-Draft-Interop-Version": "6"}, nil)
	wantCode(t, "IETF DELETE", a, http.StatusNoContent)
	a = s.ietf(t, http.MethodHead, "/uploads/"+id, nil, nil)
	wantCode(t, "IETF HEAD after DELETE", a, http.StatusNotFound)
	a = s.ietf(t, http.MethodPatch, "/uploads/"+id, hdrs{"Upload-Complete": "?0", "Upload-Offset": "30"}, []byte("x"))
	wantCode(t, "IETF PATCH after DELETE", a, http.StatusNotFound)
	resp, b := s.get(t, "/files/"+id, nil)
	wantStatus(t, "GET /files/<id> after DELETE", resp, b, http.StatusNotFound)
}

// §4 "maximum size and allowed types apply as in sections 1 and 2": too
// large 413, forbidden type 415, for IETF creations.
func TestIETFLimits(t *testing.T) {
	t.Parallel()
	s := start(t, cfg{MaxSize: 100, AllowedTypes: []string{"text/plain"}})
	for _, tc := range []struct {
		name   string
		h      hdrs
		body   []byte
		status int
	}{
		{"a whole file over the maximum", hdrs{"Upload-Complete": "?1", "Content-Type": "text/plain"}, []byte(strings.Repeat("a", 101)), http.StatusRequestEntityTooLarge},
		{"Upload-Length over the maximum", hdrs{"Upload-Complete": "?0", "Upload-Length": "101"}, nil, http.StatusRequestEntityTooLarge},
		{"a forbidden Content-Type", hdrs{"Upload-Complete": "?1", "Content-Type": "application/zip"}, []byte("PK"), http.StatusUnsupportedMediaType},
	} {
		a := s.ietf(t, http.MethodPost, "/uploads/", tc.h, tc.body)
		wantCode(t, "IETF POST with "+tc.name, a, tc.status)
	}
	// Unknown length: the body that passes the maximum is refused.
	a := s.ietf(t, http.MethodPost, "/uploads/", hdrs{"Upload-Complete": "?0"}, nil)
	mustCode(t, "IETF POST ?0", a, http.StatusCreated)
	id := s.idFromLocation(t, "IETF POST", a.hdr("Location"))
	a = s.ietf(t, http.MethodPatch, "/uploads/"+id, hdrs{"Upload-Complete": "?1", "Upload-Offset": "0"}, []byte(strings.Repeat("a", 101)))
	wantCode(t, "IETF PATCH taking an unknown-length upload over the maximum", a, http.StatusRequestEntityTooLarge)
	a = s.ietf(t, http.MethodPost, "/uploads/", hdrs{"Upload-Complete": "?1", "Content-Type": "text/plain"}, textBytes)
	wantCode(t, "IETF POST within the limits", a, http.StatusCreated)
}

// §4 "One upload, any protocol": an upload created over tus is continued
// over IETF and vice versa, with the name and type of its creation.
func TestTusAndIETFShareUploads(t *testing.T) {
	t.Parallel()
	s := start(t, cfg{})
	t.Run("tus then IETF", func(t *testing.T) {
		body := data(100000, 50)
		id := s.tusCreate(t, int64(len(body)), tusMeta("filename", "t2i.txt", "filetype", "text/plain"))
		s.tusPatch(t, id, 0, body[:30000])
		hd := s.ietf(t, http.MethodHead, "/uploads/"+id, hdrs{"Upload-Draft-Interop-Version": "6"}, nil)
		wantCode(t, "IETF HEAD of a tus upload", hd, http.StatusNoContent)
		wantHeader(t, "IETF HEAD of a tus upload", hd, "Upload-Offset", "30000")
		wantHeader(t, "IETF HEAD of a tus upload", hd, "Upload-Complete", "?0")
		wantHeader(t, "IETF HEAD of a tus upload", hd, "Upload-Length", "100000")
		a := s.ietf(t, http.MethodPatch, "/uploads/"+id, hdrs{"Upload-Complete": "?0", "Upload-Offset": "30000"}, body[30000:60000])
		mustCode(t, "IETF PATCH of a tus upload", a, http.StatusNoContent)
		_, off := s.tusHead(t, id)
		if off != 60000 {
			t.Errorf("tus HEAD after an IETF PATCH: %d, want 60000", off)
		}
		a = s.ietf(t, http.MethodPatch, "/uploads/"+id, hdrs{"Upload-Complete": "?1", "Upload-Offset": "60000"}, body[60000:])
		mustCode(t, "IETF PATCH completing a tus upload", a, http.StatusOK)
		s.checkStored(t, id, "t2i.txt", "text/plain", body)
	})
	t.Run("IETF then tus", func(t *testing.T) {
		body := data(100000, 51)
		a := s.ietf(t, http.MethodPost, "/uploads/", hdrs{"Upload-Complete": "?0", "Upload-Length": "100000",
			"Content-Type": "application/x-ferry-test", "Content-Disposition": `attachment; filename="i2t.bin"`}, body[:20000])
		mustCode(t, "IETF POST ?0", a, http.StatusCreated)
		id := s.idFromLocation(t, "IETF POST", a.hdr("Location"))
		h, off := s.tusHead(t, id)
		if off != 20000 {
			t.Errorf("tus HEAD of an IETF upload: offset %d, want 20000", off)
		}
		wantHeader(t, "tus HEAD of an IETF upload", h, "Upload-Length", "100000")
		m := decodeTusMeta(t, h.hdr("Upload-Metadata"))
		if m["filename"] != "i2t.bin" || m["filetype"] != "application/x-ferry-test" {
			t.Errorf("tus HEAD of an IETF upload: Upload-Metadata %v, want filename i2t.bin, filetype application/x-ferry-test", m)
		}
		s.tusPatch(t, id, 20000, body[20000:])
		s.checkStored(t, id, "i2t.bin", "application/x-ferry-test", body)
	})
	t.Run("IETF unknown length then tus", func(t *testing.T) {
		body := data(5000, 52)
		a := s.ietf(t, http.MethodPost, "/uploads/", hdrs{"Upload-Complete": "?0"}, body[:1000])
		mustCode(t, "IETF POST ?0", a, http.StatusCreated)
		id := s.idFromLocation(t, "IETF POST", a.hdr("Location"))
		h, off := s.tusHead(t, id)
		if off != 1000 {
			t.Errorf("tus HEAD: offset %d, want 1000", off)
		}
		wantHeader(t, "tus HEAD of an IETF upload of unknown length", h, "Upload-Defer-Length", "1")
		a = s.tus(t, http.MethodPatch, "/uploads/"+id, tusPatchH(1000, "Upload-Length", "5000"), body[1000:])
		mustCode(t, "tus PATCH declaring the length", a, http.StatusNoContent)
		s.checkStored(t, id, "", "", body)
	})
}

// §4 "One upload, any protocol" with §1: an upload begun over the
// WebSocket is resumed over tus (HEAD tells the offset the WebSocket
// reported, PATCH sends the rest), and one begun over tus is resumed with
// a WebSocket resume.
func TestWebSocketAndTusShareUploads(t *testing.T) {
	t.Parallel()
	s := start(t, cfg{})
	t.Run("WebSocket then tus", func(t *testing.T) {
		body := data(500<<10, 60)
		const half = 200 << 10
		w := s.dial(t)
		id := w.startUpload("ws2tus.bin", int64(len(body)), map[string]any{"mime": "application/x-ferry-test"})
		w.sendChunks(body[:half], 64<<10)
		w.waitOffset(id, half, 5*time.Second)
		w.closeClean()
		h, off := s.tusHead(t, id)
		if off != half {
			t.Errorf("tus HEAD of a WebSocket upload: offset %d, want the %d the WebSocket reported", off, half)
		}
		wantHeader(t, "tus HEAD of a WebSocket upload", h, "Upload-Length", strconv.Itoa(len(body)))
		if m := decodeTusMeta(t, h.hdr("Upload-Metadata")); m["filename"] != "ws2tus.bin" || m["filetype"] != "application/x-ferry-test" {
			t.Errorf("tus HEAD of a WebSocket upload: Upload-Metadata %v", m)
		}
		// The WebSocket's lock dies with its connection "after a moment".
		deadline := time.Now().Add(5 * time.Second)
		for {
			a := s.tus(t, http.MethodPatch, "/uploads/"+id, tusPatchH(off), body[off:])
			if a.StatusCode == http.StatusLocked && time.Now().Before(deadline) {
				time.Sleep(25 * time.Millisecond)
				continue
			}
			mustCode(t, "tus PATCH of a WebSocket upload", a, http.StatusNoContent)
			break
		}
		s.checkStored(t, id, "ws2tus.bin", "application/x-ferry-test", body)
	})
	t.Run("tus then WebSocket", func(t *testing.T) {
		body := data(300<<10, 61)
		id := s.tusCreate(t, int64(len(body)), tusMeta("filename", "tus2ws.bin"))
		s.tusPatch(t, id, 0, body[:100000])
		w := s.dial(t)
		f := w.resumeUntilReady(id, 5*time.Second)
		checkReady(t, f, id, 100000, int64(len(body)))
		w.sendChunks(body[100000:], 64<<10)
		w.finish(id, body)
		w.closeClean()
		s.checkStored(t, id, "tus2ws.bin", "", body)
		_, off := s.tusHead(t, id)
		if off != int64(len(body)) {
			t.Errorf("tus HEAD after the WebSocket completed it: %d", off)
		}
	})
	t.Run("WebSocket resume of an upload of unknown length", func(t *testing.T) {
		id := s.tusCreate(t, -1, "")
		s.tusPatch(t, id, 0, []byte("abc"))
		w := s.dial(t)
		w.sendJSON(map[string]any{"type": "resume", "id": id})
		w.expectError("bad_request", id, false)
		w.closeClean()
		if _, off := s.tusHead(t, id); off != 3 {
			t.Errorf("the refused resume changed the offset to %d", off)
		}
	})
	t.Run("a live WebSocket holds its upload", func(t *testing.T) {
		body := data(100000, 62)
		w := s.dial(t)
		id := w.startUpload("held.bin", int64(len(body)), nil)
		w.sendBin(body[:40000])
		w.waitOffset(id, 40000, 5*time.Second)
		began := time.Now()
		a := s.tus(t, http.MethodPatch, "/uploads/"+id, tusPatchH(40000), body[40000:50000])
		wantCode(t, "tus PATCH of an upload a live WebSocket writes", a, http.StatusLocked)
		t.Logf("423 after %v", time.Since(began))
		// The WebSocket writer was not disturbed.
		w.sendChunks(body[40000:], 64<<10)
		w.finish(id, body)
		w.closeClean()
		s.checkStored(t, id, "held.bin", "", body)
	})
}

// ietf draft §Upload Creation: a complete upload may come without
// Content-Length (chunked, as curl sends stdin) or be empty.
func TestIETFCompleteChunkedAndEmpty(t *testing.T) {
	t.Parallel()
	s := start(t, cfg{})
	body := data(300000, 43)
	a := s.call(t, http.MethodPost, "/uploads/", hdrs{"Upload-Complete": "?1", "Content-Disposition": `attachment; filename="chunked.bin"`},
		bytes.NewReader(body), -1, false)
	checkNoStore(t, "chunked IETF POST", a)
	mustCode(t, "chunked IETF POST ?1", a, http.StatusCreated)
	id := s.idFromLocation(t, "chunked IETF POST", a.hdr("Location"))
	wantHeader(t, "chunked IETF POST ?1", a, "Upload-Offset", strconv.Itoa(len(body)))
	wantHeader(t, "chunked IETF POST ?1", a, "Upload-Complete", "?1")
	s.checkStored(t, id, "chunked.bin", "", body)

	a = s.ietf(t, http.MethodPost, "/uploads/", hdrs{"Upload-Complete": "?1", "Content-Disposition": `attachment; filename="empty"`}, []byte{})
	mustCode(t, "empty IETF POST ?1", a, http.StatusCreated)
	id = s.idFromLocation(t, "empty IETF POST", a.hdr("Location"))
	wantHeader(t, "empty IETF POST ?1", a, "Upload-Complete", "?1")
	s.checkStored(t, id, "empty", "", []byte{})
}
