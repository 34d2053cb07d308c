package contract_test

import (
	"bytes"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"
)

var hex64 = strings.Repeat("ab", 32)

// badFrames are text frames that are malformed JSON or have a missing or
// wrong-typed field: each answers bad_request.
var badFrames = []struct{ name, text string }{
	{"not JSON", `hello`},
	{"truncated JSON", `{"type":"start","name":"a","size":1`},
	{"JSON array", `[{"type":"start"}]`},
	{"JSON string", `"start"`},
	{"JSON null", `null`},
	{"empty text frame", ``},
	{"trailing garbage", `{"type":"end"} x`},
	{"type missing", `{"name":"a","size":1}`},
	{"type not a string", `{"type":5}`},
	{"start: name missing", `{"type":"start","size":1}`},
	{"start: name empty", `{"type":"start","name":"","size":1}`},
	{"start: name a number", `{"type":"start","name":5,"size":1}`},
	{"start: name null", `{"type":"start","name":null,"size":1}`},
	{"start: size missing", `{"type":"start","name":"a"}`},
	{"start: size negative", `{"type":"start","name":"a","size":-1}`},
	{"start: size 1.5", `{"type":"start","name":"a","size":1.5}`},
	{"start: size a string", `{"type":"start","name":"a","size":"5"}`},
	{"start: size null", `{"type":"start","name":"a","size":null}`},
	{"start: size true", `{"type":"start","name":"a","size":true}`},
	{"start: mime a number", `{"type":"start","name":"a","size":1,"mime":7}`},
	{"start: sha256 short", `{"type":"start","name":"a","size":1,"sha256":"abc"}`},
	{"start: sha256 63 hex", `{"type":"start","name":"a","size":1,"sha256":"` + hex64[:63] + `"}`},
	{"start: sha256 65 hex", `{"type":"start","name":"a","size":1,"sha256":"` + hex64 + `a"}`},
	{"start: sha256 not hex", `{"type":"start","name":"a","size":1,"sha256":"` + strings.Repeat("zz", 32) + `"}`},
	{"start: sha256 a number", `{"type":"start","name":"a","size":1,"sha256":12}`},
	{"resume: id missing", `{"type":"resume"}`},
	{"resume: id a number", `{"type":"resume","id":5}`},
	{"resume: id null", `{"type":"resume","id":null}`},
}

// §1 error codes: bad_request (malformed JSON, missing or wrong-typed field).
// With no upload active, each answers bad_request, starts nothing, and the
// connection carries on.
func TestBadRequestWithoutUpload(t *testing.T) {
	t.Parallel()
	s := start(t, cfg{})
	w := s.dial(t)
	for _, tc := range badFrames {
		t.Run(tc.name, func(t *testing.T) {
			w.t = t
			w.sendText(tc.text)
			w.expectError("bad_request", "", false)
			// Nothing became active.
			w.sendBin([]byte{1})
			w.expectError("not_started", "", false)
		})
	}
	w.t = t
	w.upload("after.bin", "", []byte("still works"))
}

// §1: "Errors that are not about the upload's bytes (bad_request,
// unknown_type, already_started, not_started) ... leave an active upload
// active at its offset, and the client carries on."
func TestFrameErrorsKeepActiveUpload(t *testing.T) {
	t.Parallel()
	s := start(t, cfg{})
	body := data(2000, 40)
	w := s.dial(t)
	id := w.startUpload("keep.bin", int64(len(body)), nil)
	w.sendBin(body[:700])
	for _, tc := range []struct{ name, text, code string }{
		{"not JSON", `{{{`, "bad_request"},
		{"JSON array", `[]`, "bad_request"},
		{"type missing", `{"size":3}`, "bad_request"},
		{"unknown type", `{"type":"frobnicate"}`, "unknown_type"},
		{"unknown type in upper case", `{"type":"END"}`, "unknown_type"},
		{"start while active", `{"type":"start","name":"b","size":3}`, "already_started"},
		{"resume of itself while active", `{"type":"resume","id":"` + id + `"}`, "already_started"},
		{"resume of another id while active", `{"type":"resume","id":"7d0b2f6e-4d0c-4c57-9a1b-8d7b8ff0c2d1"}`, "already_started"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w.t = t
			w.sendText(tc.text)
			f := w.expectError(tc.code, id, false)
			if got, ok := f["id"]; ok && got != id {
				t.Errorf("error %v names id %v; the active upload is %s", f, got, id)
			}
		})
	}
	w.t = t
	w.sendBin(body[700:])
	w.finish(id, body)
}

// §1: unknown_type with no upload active; the connection carries on.
func TestUnknownTypeWithoutUpload(t *testing.T) {
	t.Parallel()
	s := start(t, cfg{})
	w := s.dial(t)
	for _, typ := range []string{"hello", "progress", "ready", "complete", "", "Start"} {
		w.sendJSON(map[string]any{"type": typ})
		w.expectError("unknown_type", "", false)
	}
	w.upload("x.bin", "", []byte("ok"))
}

// §1: "A binary message, end or abort with no active upload answers
// not_started."
func TestNotStarted(t *testing.T) {
	t.Parallel()
	s := start(t, cfg{})
	w := s.dial(t)
	for _, send := range []func(){
		func() { w.sendBin([]byte("bytes")) },
		func() { w.sendBin(nil) },
		func() { w.sendJSON(map[string]any{"type": "end"}) },
		func() { w.sendJSON(map[string]any{"type": "abort"}) },
	} {
		send()
		w.expectError("not_started", "", false)
	}
	w.upload("x.bin", "", []byte("ok"))
}

// §1: "A start whose size is over the server's maximum answers too_large
// before any byte is sent"; too_large leaves no upload active.
func TestTooLarge(t *testing.T) {
	t.Parallel()
	s := start(t, cfg{MaxSize: 1000})
	w := s.dial(t)
	w.sendJSON(map[string]any{"type": "start", "name": "big.bin", "size": 1001})
	w.expectError("too_large", "", false)
	w.sendBin([]byte{1})
	w.expectError("not_started", "", false)
	w.sendText(`{"type":"start","name":"huge.bin","size":99999999999999999999999}`)
	f := w.next()
	if f.typ() != "error" || (f["code"] != "too_large" && f["code"] != "bad_request") {
		t.Errorf("start with a size beyond int64: %v, want too_large (or bad_request)", f)
	}
	w.sendBin([]byte{1})
	w.expectError("not_started", "", false)
	// Exactly the maximum is fine.
	w.upload("max.bin", "", data(1000, 50))
}

// §1: "Bytes beyond the declared size are never stored: the binary message
// that would pass size is rejected whole with size_exceeded, and the upload
// keeps its offset." The upload stays active; later bytes land at the kept
// offset.
func TestSizeExceededRejectsWholeMessage(t *testing.T) {
	t.Parallel()
	const mf = 64 << 10
	s := start(t, cfg{MaxFrame: mf})
	for _, tc := range []struct {
		name   string
		size   int
		before []int // accepted message sizes
		over   int   // the message that would pass size
	}{
		{"first message too long", 10, nil, 11},
		{"empty upload gets one byte", 0, nil, 1},
		{"small tail", 10, []int{6}, 6},
		{"one byte too many", 100, []int{99}, 2},
		{"max_frame message past the end", 100 << 10, []int{mf}, mf},
		{"after several max_frame messages", 200 << 10, []int{mf, mf, mf}, mf},
		{"large message from a small offset", mf + 10, []int{20}, mf},
		{"every byte already there", 100, []int{100}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			want := data(tc.size, uint64(tc.size)+1)
			w := s.dial(t)
			id := w.startUpload("x.bin", int64(tc.size), nil)
			off := 0
			for _, n := range tc.before {
				w.sendBin(want[off : off+n])
				off += n
			}
			junk := bytes.Repeat([]byte{0xEE}, tc.over)
			w.sendBin(junk)
			w.expectError("size_exceeded", id, true)
			// Still active at its offset: the rest, then end.
			w.sendBin(want[off:])
			w.finish(id, want)
			resp, got := s.get(t, "/files/"+id, nil)
			wantStatus(t, "download", resp, got, http.StatusOK)
			if !bytes.Equal(got, want) {
				t.Errorf("stored file (%d bytes) is not the accepted bytes (%d): the rejected message left bytes behind", len(got), len(want))
			}
		})
	}
}

// §1: "end with fewer bytes than size answers incomplete and keeps the
// upload resumable" — and active on the connection.
func TestIncompleteKeepsUpload(t *testing.T) {
	t.Parallel()
	s := start(t, cfg{})
	body := data(5000, 60)
	t.Run("same connection", func(t *testing.T) {
		t.Parallel()
		w := s.dial(t)
		id := w.startUpload("i.bin", int64(len(body)), nil)
		w.sendJSON(map[string]any{"type": "end"})
		w.expectError("incomplete", id, true)
		w.sendBin(body[:2000])
		w.sendJSON(map[string]any{"type": "end"})
		w.expectError("incomplete", id, true)
		w.sendBin(body[2000:])
		w.finish(id, body)
	})
	t.Run("resumed elsewhere", func(t *testing.T) {
		t.Parallel()
		w := s.dial(t)
		id := w.startUpload("i.bin", int64(len(body)), nil)
		w.sendBin(body[:3000])
		w.sendJSON(map[string]any{"type": "end"})
		w.expectError("incomplete", id, true)
		reported := w.maxOffset(id)
		w.closeClean()
		w2 := s.dial(t)
		r := w2.resumeUntilReady(id, 5*time.Second)
		checkReady(t, r, id, -1, int64(len(body)))
		off, _ := r.num("offset")
		if off < reported || off > 3000 {
			t.Fatalf("resume offset %d, want between the reported %d and the 3000 sent", off, reported)
		}
		w2.sendBin(body[off:])
		w2.finish(id, body)
	})
}

// §1: "end with a sha256 that does not match the received bytes answers
// checksum_mismatch and deletes the upload"; no upload stays active and a
// resume answers not_found. A matching sha256 (either hex case) completes.
func TestDeclaredChecksum(t *testing.T) {
	t.Parallel()
	s := start(t, cfg{})
	body := data(10_000, 70)
	t.Run("mismatch", func(t *testing.T) {
		t.Parallel()
		w := s.dial(t)
		id := w.startUpload("c.bin", int64(len(body)), map[string]any{"sha256": sha([]byte("other"))})
		w.sendBin(body)
		w.sendJSON(map[string]any{"type": "end"})
		w.expectError("checksum_mismatch", id, true)
		w.sendBin([]byte{1})
		w.expectError("not_started", "", false)
		w.sendJSON(map[string]any{"type": "resume", "id": id})
		w.expectError("not_found", id, false)
		for _, p := range []string{"/api/files/" + id, "/files/" + id} {
			resp, b := s.get(t, p, nil)
			wantStatus(t, "GET "+p+" after checksum_mismatch", resp, b, http.StatusNotFound)
		}
		w2 := s.dial(t)
		w2.sendJSON(map[string]any{"type": "resume", "id": id})
		w2.expectError("not_found", id, false)
		w.upload("next.bin", "", []byte("fine"))
	})
	t.Run("match lower-case", func(t *testing.T) {
		t.Parallel()
		w := s.dial(t)
		id := w.startUpload("c.bin", int64(len(body)), map[string]any{"sha256": sha(body)})
		w.sendBin(body)
		w.finish(id, body)
	})
	t.Run("match upper-case", func(t *testing.T) {
		t.Parallel()
		w := s.dial(t)
		id := w.startUpload("c.bin", int64(len(body)), map[string]any{"sha256": strings.ToUpper(sha(body))})
		w.sendBin(body)
		f := w.finish(id, body)
		if got, _ := f.str("sha256"); got != sha(body) {
			t.Errorf("complete sha256 %q, want lower-case %q", got, sha(body))
		}
	})
}

// Small files of each kind, shared with other packages' tests in the
// module's testdata/media/.
var (
	pngBytes  = media("pixel.png")
	htmlBytes = media("page.html")
	textBytes = media("note.txt")
)

// §1: "A mime or sniffed content type outside the server's allowed list
// answers forbidden_type", and forbidden_type leaves no upload active.
func TestForbiddenType(t *testing.T) {
	t.Parallel()
	textOnly := start(t, cfg{AllowedTypes: []string{"text/plain"}})
	pngOnly := start(t, cfg{AllowedTypes: []string{"image/png"}})
	imagesText := start(t, cfg{AllowedTypes: []string{"image/*", "text/plain"}})

	t.Run("declared mime", func(t *testing.T) {
		t.Parallel()
		for _, tc := range []struct {
			s    *server
			mime string
		}{
			{textOnly, "application/zip"},
			{textOnly, "image/png"},
			{pngOnly, "text/html"},
			{pngOnly, "image/jpeg"},
			{imagesText, "video/mp4"},
			{imagesText, "application/octet-stream"},
		} {
			w := tc.s.dial(t)
			w.sendJSON(map[string]any{"type": "start", "name": "f", "size": 10, "mime": tc.mime})
			w.expectError("forbidden_type", "", false)
			w.sendBin([]byte{1})
			w.expectError("not_started", "", false)
			w.closeClean()
		}
	})
	t.Run("declared mime allowed", func(t *testing.T) {
		t.Parallel()
		for _, tc := range []struct {
			s    *server
			mime string
			body []byte
		}{
			{textOnly, "text/plain", textBytes},
			{pngOnly, "image/png", pngBytes},
			{imagesText, "image/png", pngBytes},
		} {
			w := tc.s.dial(t)
			id := w.startUpload("ok", int64(len(tc.body)), map[string]any{"mime": tc.mime})
			w.sendBin(tc.body)
			w.finish(id, tc.body)
			w.closeClean()
		}
	})
	for _, tc := range []struct {
		name   string
		s      *server
		mime   string // declared ("" = none)
		body   []byte
		ok     []byte // content of type okMime that s allows
		okMime string
	}{
		{"PNG content, no mime, text only", textOnly, "", pngBytes, textBytes, "text/plain"},
		{"PNG content declared text/plain", textOnly, "text/plain", pngBytes, textBytes, "text/plain"},
		{"HTML content declared image/png", pngOnly, "image/png", htmlBytes, pngBytes, "image/png"},
		{"HTML content, no mime, images and text", imagesText, "", htmlBytes, textBytes, "text/plain"},
		{"HTML content declared text/plain", imagesText, "text/plain", htmlBytes, pngBytes, "image/png"},
	} {
		t.Run("sniffed: "+tc.name, func(t *testing.T) {
			t.Parallel()
			w := tc.s.dial(t)
			extra := map[string]any{}
			if tc.mime != "" {
				extra["mime"] = tc.mime
			}
			start := map[string]any{"type": "start", "name": "page", "size": len(tc.body)}
			for k, v := range extra {
				start[k] = v
			}
			w.sendJSON(start)
			f := w.next()
			if f.typ() == "error" {
				checkError(t, f, "forbidden_type", "", false)
				return
			}
			if f.typ() != "ready" {
				t.Fatalf("got %v, want ready or forbidden_type", f)
			}
			id, _ := f.str("id")
			w.sendBin(tc.body)
			w.sendJSON(map[string]any{"type": "end"})
			g := w.next()
			checkError(t, g, "forbidden_type", id, false)
			// No upload is active any more: a new start works (the end may
			// have been answered not_started if the error came first).
			w.sendJSON(map[string]any{"type": "start", "name": "t", "size": len(tc.ok), "mime": tc.okMime})
			h := w.next()
			if h.typ() == "error" && h["code"] == "not_started" {
				h = w.next()
			}
			if h.typ() != "ready" {
				t.Fatalf("start after forbidden_type: %v, want ready", h)
			}
			resp, b := tc.s.get(t, "/files/"+id, nil)
			wantStatus(t, "GET of the refused upload", resp, b, http.StatusNotFound)
		})
	}
}

// §1: "resume of an unknown, deleted, aborted or expired id answers
// not_found"; "anything else in an id position is not found"; not_found
// leaves no upload active.
func TestResumeNotFound(t *testing.T) {
	t.Parallel()
	s := start(t, cfg{})
	real := s.upload(t, "r.bin", "", []byte("real"))
	w := s.dial(t)
	id := w.startUpload("a.bin", 10, nil)
	w.sendJSON(map[string]any{"type": "abort"})
	w.expect("aborted")
	w2 := s.dial(t)
	del := w2.startUpload("d.bin", 10, nil)
	w2.closeClean()
	resp, b := s.do(t, http.MethodDelete, "/api/files/"+del, nil)
	wantStatus(t, "DELETE", resp, b, http.StatusNoContent)
	for _, tc := range []struct{ name, id string }{
		{"unknown v4", "3f2b8c1e-9a4d-4e2f-8b6a-1c2d3e4f5a6b"},
		{"unknown v7", "0192f8a4-7b3c-7d2e-8f10-1234567890ab"},
		{"aborted", id},
		{"deleted", del},
		{"upper-case form of a real id", strings.ToUpper(real)},
		{"braced real id", "{" + real + "}"},
		{"urn form of a real id", "urn:uuid:" + real},
		{"real id without dashes", strings.ReplaceAll(real, "-", "")},
		{"version 1 UUID", "a8098c1a-f86e-11da-bd1a-00112444be1e"},
		{"nil UUID", "00000000-0000-0000-0000-000000000000"},
		{"empty", ""},
		{"path traversal", "../../../etc/passwd"},
		{"not a uuid", "hello"},
		{"real id with a trailing space", real + " "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w.t = t
			w.sendJSON(map[string]any{"type": "resume", "id": tc.id})
			f := w.next()
			if tc.id == "" && f.typ() == "error" && f["code"] == "bad_request" {
				return // an empty id may be read as a missing field
			}
			checkError(t, f, "not_found", "", false)
			w.sendJSON(map[string]any{"type": "end"})
			w.expectError("not_started", "", false)
		})
	}
}

// §2 DELETE: "a connection writing it gets not_found at its next message",
// which leaves no upload active; its bytes are gone.
func TestDeleteWhileWriting(t *testing.T) {
	t.Parallel()
	s := start(t, cfg{})
	other := start(t, cfg{Dir: s.Dir}) // another instance sharing the storage
	for _, tc := range []struct {
		name string
		sent int // bytes sent before the DELETE (of 1000)
		via  *server
		send func(w *ws)
	}{
		{"next message binary", 300, s, func(w *ws) { w.sendBin([]byte("more")) }},
		{"next message end", 300, s, func(w *ws) { w.sendJSON(map[string]any{"type": "end"}) }},
		{"next message end, every byte sent", 1000, s, func(w *ws) { w.sendJSON(map[string]any{"type": "end"}) }},
		{"next message abort", 300, s, func(w *ws) { w.sendJSON(map[string]any{"type": "abort"}) }},
		{"deleted through another instance, next message binary", 300, other, func(w *ws) { w.sendBin([]byte("more")) }},
		{"deleted through another instance, next message end, every byte sent", 1000, other, func(w *ws) { w.sendJSON(map[string]any{"type": "end"}) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			w := s.dial(t)
			id := w.startUpload("del.bin", 1000, nil)
			w.sendBin(data(tc.sent, 80))
			w.waitOffset(id, int64(tc.sent), 5*time.Second)
			resp, b := tc.via.do(t, http.MethodDelete, "/api/files/"+id, nil)
			wantStatus(t, "DELETE /api/files/<being written>", resp, b, http.StatusNoContent)
			tc.send(w)
			w.expectError("not_found", id, true)
			// Nothing active now (an extra not_started is fine if the
			// server reported not_found before our message arrived).
			w.sendJSON(map[string]any{"type": "end"})
			w.expectError("not_started", "", false)
			for _, srv := range []*server{s, other} {
				for _, p := range []string{"/api/files/" + id, "/files/" + id} {
					resp, b := srv.get(t, p, nil)
					wantStatus(t, "GET "+p+" after DELETE (the upload must not come back)", resp, b, http.StatusNotFound)
				}
			}
			w.sendJSON(map[string]any{"type": "resume", "id": id})
			f := w.next()
			if f.typ() == "error" && f["code"] == "not_started" {
				f = w.next()
			}
			checkError(t, f, "not_found", "", false)
		})
	}
}

// §1: the sniffed content type is the file's, however its first bytes were
// split into messages and connections: HTML sent a byte at a time, or begun
// on one connection and finished after a resume, is still refused.
func TestForbiddenTypeSniffedWhateverTheSplit(t *testing.T) {
	t.Parallel()
	s := start(t, cfg{AllowedTypes: []string{"image/png"}})
	t.Run("one byte per message", func(t *testing.T) {
		t.Parallel()
		w := s.dial(t)
		w.sendJSON(map[string]any{"type": "start", "name": "x.png", "size": len(htmlBytes), "mime": "image/png"})
		id := checkReady(t, w.expect("ready"), "", 0, int64(len(htmlBytes)))
		for i, b := range htmlBytes {
			if err := w.c.WriteMessage(2, []byte{b}); err != nil {
				t.Fatalf("byte %d: %v", i, err)
			}
		}
		w.sendJSON(map[string]any{"type": "end"})
		f := w.next()
		checkError(t, f, "forbidden_type", id, false)
	})
	t.Run("split across a resume", func(t *testing.T) {
		t.Parallel()
		w := s.dial(t)
		w.sendJSON(map[string]any{"type": "start", "name": "x.png", "size": len(htmlBytes), "mime": "image/png"})
		id := checkReady(t, w.expect("ready"), "", 0, int64(len(htmlBytes)))
		w.sendBin(htmlBytes[:1])
		w.waitOffset(id, 1, 5*time.Second)
		w.closeClean()
		w2 := s.dial(t)
		r := w2.resumeUntilReady(id, 5*time.Second)
		if r.typ() == "error" {
			checkError(t, r, "forbidden_type", "", false)
			return
		}
		checkReady(t, r, id, 1, int64(len(htmlBytes)))
		w2.sendBin(htmlBytes[1:])
		w2.sendJSON(map[string]any{"type": "end"})
		checkError(t, w2.next(), "forbidden_type", id, false)
	})
}

// Ambiguous in the contract (logged, not failed): a malformed start or
// resume while an upload is active, and an empty mime.
func TestAmbiguousFrameChoices(t *testing.T) {
	t.Parallel()
	s := start(t, cfg{})
	w := s.dial(t)
	id := w.startUpload("a.bin", 3, nil)
	w.sendText(`{"type":"start","size":-1}`)
	f := w.next()
	t.Logf("malformed start while an upload is active answers %v", f)
	if f.typ() != "error" || (f["code"] != "bad_request" && f["code"] != "already_started") {
		t.Errorf("malformed start while active: %v, want bad_request or already_started", f)
	}
	w.sendBin([]byte("abc"))
	w.finish(id, []byte("abc"))
	w.sendJSON(map[string]any{"type": "start", "name": "m", "size": 1, "mime": ""})
	f = w.next()
	t.Logf("start with mime \"\" answers %v", f)
	if f.typ() == "ready" {
		w.sendJSON(map[string]any{"type": "abort"})
		w.next()
	}
	for _, sz := range []string{"1e3", "1000.0", "1E3"} {
		w.sendText(`{"type":"start","name":"m","size":` + sz + `}`)
		f := w.next()
		t.Logf("start with size %s answers %v", sz, f)
		if f.typ() == "ready" {
			w.sendJSON(map[string]any{"type": "abort"})
			w.next()
		}
	}
}

// §2 /healthz "200 when the server and its storage answer" — and not 200
// when the storage does not; a storage failure on start is storage_error
// and leaves no upload active.
func TestStorageFailure(t *testing.T) {
	t.Parallel()
	s := start(t, cfg{})
	resp, b := s.get(t, "/healthz", nil)
	wantStatus(t, "/healthz", resp, b, http.StatusOK)
	w := s.dial(t)
	if err := os.RemoveAll(s.Dir); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(s.Dir, []byte("not a directory"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.Remove(s.Dir); _ = os.MkdirAll(s.Dir, 0o750) })
	resp, b = s.get(t, "/healthz", nil)
	if resp.StatusCode == http.StatusOK {
		t.Errorf("/healthz answers 200 while the storage is gone")
	}
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Logf("/healthz with broken storage: %d %s", resp.StatusCode, b)
	}
	w.sendJSON(map[string]any{"type": "start", "name": "x", "size": 10})
	f := w.next()
	checkError(t, f, "storage_error", "", false)
	w.sendBin([]byte{1})
	w.expectError("not_started", "", false)
}
