package local

import (
	"errors"
	"testing"

	"github.com/ferryhq/ferry/internal/fixture"
	"github.com/ferryhq/ferry/storage"
)

// FuzzParseCursor: whatever a client sends as ?after=, parsing never
// panics, refuses with ErrInvalid what it did not make, and a cursor it
// accepts formats back to itself.
func FuzzParseCursor(f *testing.F) {
	fixture.AddSeeds(f)
	f.Fuzz(func(t *testing.T, s string) {
		k, err := parseCursor(s)
		if err != nil {
			if !errors.Is(err, storage.ErrInvalid) {
				t.Fatalf("parseCursor(%q): %v, not ErrInvalid", s, err)
			}
			return
		}
		again, err := parseCursor(k.cursor())
		if err != nil || again != k {
			t.Fatalf("parseCursor(%q) = %+v; its cursor %q parses to %+v, %v", s, k, k.cursor(), again, err)
		}
	})
}
