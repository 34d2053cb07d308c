package httpupload

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/ferryhq/ferry/internal/fixture"
	"github.com/ferryhq/ferry/storage/local"
)

// FuzzTusMetadata: parsing Upload-Metadata never panics, and what it
// accepts encodes back to a value that parses to the same pairs.
func FuzzTusMetadata(f *testing.F) {
	fixture.AddSeeds(f)
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
	fixture.AddSeeds(f)
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
