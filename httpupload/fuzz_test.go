package httpupload

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/ferryhq/ferry/storage/local"
)

// FuzzTusMetadata: parsing Upload-Metadata never panics, and what it
// accepts encodes back to a value that parses to the same pairs.
func FuzzTusMetadata(f *testing.F) {
	for _, seed := range []string{"", "filename YS5iaW4=,filetype aW1hZ2UvcG5n", "flag", "a b,a c", " , ", "k !!", "name w6k=,sha256 "} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, v string) {
		m, err := parseTusMetadata(v)
		if err != nil {
			return
		}
		again, err := parseTusMetadata(encodeTusMetadata(m.raw))
		if err != nil || len(again.raw) != len(m.raw) {
			t.Fatalf("%q: re-encoded metadata does not parse back: %v", v, err)
		}
		for k, val := range m.raw {
			if again.raw[k] != val {
				t.Fatalf("%q: key %q became %q, was %q", v, k, again.raw[k], val)
			}
		}
	})
}

// FuzzHeaders: whatever the protocol headers of a creation or an append,
// the handler answers without panicking and never with a 5xx (the store is
// healthy), and a refusal stores nothing past what was acknowledged.
func FuzzHeaders(f *testing.F) {
	f.Add("POST", "1.0.0", "10", "", "filename YQ==", "", "", "", "application/offset+octet-stream", "0123456789")
	f.Add("POST", "", "", "", "", "?1", "", "", "image/png", "abc")
	f.Add("PATCH", "1.0.0", "", "1", "", "", "0", "sha1 AAAA", "application/offset+octet-stream", "x")
	f.Add("PATCH", "", "5", "", "", "?0", "18446744073709551616", "", "application/partial-upload", "")
	f.Add("POST", "1.0.0", "-1", "1", "filename !!", "?2", "", "md5 zz", "", "")
	f.Fuzz(func(t *testing.T, verb, tus, length, deferLen, meta, complete, offset, checksum, ctype, body string) {
		methods := []string{"POST", "PATCH", "HEAD", "DELETE", "OPTIONS"}
		method := methods[len(verb)%len(methods)]
		if slices.Contains(methods, verb) {
			method = verb // a seed naming a method keeps it
		}
		b, err := local.New(local.Config{Dir: t.TempDir()})
		if err != nil {
			t.Fatal(err)
		}
		h, err := New(Config{Backend: b, Logger: quiet, MaxSize: 1 << 20})
		if err != nil {
			t.Fatal(err)
		}
		// A PATCH goes to an upload that exists, so the fuzzer reaches
		// past the lookup.
		path := "/uploads/"
		if method != "POST" {
			rec := httptest.NewRecorder()
			req := httptest.NewRequest("POST", "/uploads/", nil)
			req.Header.Set("Tus-Resumable", "1.0.0")
			req.Header.Set("Upload-Length", "10")
			h.ServeHTTP(rec, req)
			path = rec.Header().Get("Location")
		}
		req := httptest.NewRequest(method, path, strings.NewReader(body))
		for k, v := range map[string]string{"Tus-Resumable": tus, "Upload-Length": length, "Upload-Defer-Length": deferLen,
			"Upload-Metadata": meta, "Upload-Complete": complete, "Upload-Offset": offset, "Upload-Checksum": checksum, "Content-Type": ctype} {
			if v != "" {
				req.Header.Set(k, v)
			}
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("%s answered %d: %s", method, rec.Code, rec.Body)
		}
		if rec.Code >= 400 && rec.Header().Get("Upload-Offset") != "" && rec.Code != http.StatusConflict {
			t.Fatalf("refusal %d reports an offset", rec.Code)
		}
	})
}
