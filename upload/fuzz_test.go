package upload

import (
	"testing"
	"unicode/utf8"

	"github.com/ferryhq/ferry/internal/fixture"
	"github.com/ferryhq/ferry/storage"
)

// FuzzParseRequest: whatever a client puts in a text frame, parsing never
// panics, and what it accepts is well-formed: a start has a name and a
// size >= 0 and passes storage.Meta.Validate (so its sha256, if any, is
// lower case); a resume has an id.
func FuzzParseRequest(f *testing.F) {
	fixture.AddSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		req, err := parseRequest(data)
		if err != nil {
			return
		}
		switch req.Type {
		case TypeStart:
			s := req.Start
			if s.Name == "" || !utf8.ValidString(s.Name) || s.Size < 0 {
				t.Fatalf("accepted start %+v from %q", s, data)
			}
			// What the protocol accepts, storage accepts (a lower-case
			// sha256 among it).
			meta := storage.Meta{Name: s.Name, Size: s.Size, MIME: s.MIME, SHA256: s.SHA256}
			if err := meta.Validate(); err != nil {
				t.Fatalf("accepted start %+v from %q, which storage refuses: %v", s, data, err)
			}
		case TypeResume:
			if req.ID == "" {
				t.Fatalf("accepted resume without id from %q", data)
			}
		case TypeEnd, TypeAbort:
		default:
			t.Fatalf("accepted type %q", req.Type)
		}
	})
}
