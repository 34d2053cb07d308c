package download

import (
	"mime"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/ferryhq/ferry/internal/fixture"
)

// FuzzPlanRange: whatever the Range header, the plan never panics and every
// range it returns lies inside the file, asks for no more bytes than the
// file has, and comes from at most maxRanges specs.
func FuzzPlanRange(f *testing.F) {
	fixture.AddSeeds(f)
	f.Fuzz(func(t *testing.T, header string, size int64) {
		if size < 0 {
			size = -size
		}
		if size < 0 {
			size = 0
		}
		plan, ranges := planRange([]string{header}, size)
		if plan != rangePartial {
			if len(ranges) != 0 {
				t.Fatalf("plan %d with %d ranges", plan, len(ranges))
			}
			return
		}
		if len(ranges) == 0 || len(ranges) > maxRanges {
			t.Fatalf("partial plan with %d ranges", len(ranges))
		}
		var total int64
		for _, r := range ranges {
			if r.start < 0 || r.length <= 0 || r.start >= size || r.length > size-r.start {
				t.Fatalf("range %+v outside a file of %d bytes (header %q)", r, size, header)
			}
			total += r.length
		}
		if total > size {
			t.Fatalf("ranges ask for %d bytes of a %d-byte file", total, size)
		}
	})
}

// FuzzContentDisposition: whatever the stored name, the header is one line
// of printable ASCII that a client can parse.
func FuzzContentDisposition(f *testing.F) {
	fixture.AddSeeds(f)
	f.Fuzz(func(t *testing.T, name string, attachment bool) {
		if !utf8.ValidString(name) {
			name = strings.ToValidUTF8(name, "?")
		}
		v := contentDisposition(attachment, name, "download")
		for i := 0; i < len(v); i++ {
			if c := v[i]; c < 0x20 || c > 0x7e {
				t.Fatalf("byte %#x in %q", c, v)
			}
		}
		if len(v) > maxDisposition {
			t.Fatalf("disposition of %d bytes, over %d", len(v), maxDisposition)
		}
		if !strings.HasPrefix(v, "inline") && !strings.HasPrefix(v, "attachment") {
			t.Fatalf("disposition %q", v)
		}
	})
}

// FuzzPlainType checks that a type plainType lets declaredType and
// showsInline take as it is is one the mime package parses to itself, with
// no parameters, and formats back unchanged: the shortcut answers what
// the parse would.
func FuzzPlainType(f *testing.F) {
	for _, s := range []string{"text/plain", "Text/Plain", "image/svg+xml", "application/vnd.ms-excel",
		"a/b/c", "x/", "/x", "text/plain;charset=utf-8", "text/plain ", "text/ plain", "a/b\x00", "ü/b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if !plainType(s) {
			return
		}
		mt, params, err := mime.ParseMediaType(s)
		if err != nil || mt != s || len(params) != 0 {
			t.Fatalf("plainType(%q), but ParseMediaType = %q, %v, %v", s, mt, params, err)
		}
		if got := mime.FormatMediaType(mt, params); got != s {
			t.Fatalf("plainType(%q), but FormatMediaType = %q", s, got)
		}
	})
}
