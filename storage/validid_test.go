package storage_test

import (
	"regexp"
	"testing"

	"github.com/ferryhq/ferry/storage"
)

// idGrammar is the contract's id grammar, which ValidID spells out by hand.
var idGrammar = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[47][0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

func TestValidID(t *testing.T) {
	tests := []struct {
		id   string
		want bool
	}{
		{"0190b2a4-7b1c-7d2e-8f3a-0123456789ab", true},
		{"f47ac10b-58cc-4372-a567-0e02b2c3d479", true},
		{"f47ac10b-58cc-4372-b567-0e02b2c3d479", true},
		{"F47AC10B-58CC-4372-A567-0E02B2C3D479", false}, // upper case
		{"f47ac10b-58cc-1372-a567-0e02b2c3d479", false}, // version 1
		{"f47ac10b-58cc-4372-c567-0e02b2c3d479", false}, // variant
		{"f47ac10b58cc4372a5670e02b2c3d479", false},
		{"f47ac10b-58cc-4372-a567-0e02b2c3d47", false},
		{"f47ac10b-58cc-4372-a567-0e02b2c3d4790", false},
		{"f47ac10b-58cc-4372-a567_0e02b2c3d479", false},
		{"../../../../etc/passwd-0000-0000-0000", false},
		{"g47ac10b-58cc-4372-a567-0e02b2c3d479", false},
		{"", false},
	}
	for _, tc := range tests {
		if got := storage.ValidID(tc.id); got != tc.want {
			t.Errorf("ValidID(%q) = %v, want %v", tc.id, got, tc.want)
		}
		if got := idGrammar.MatchString(tc.id); got != tc.want {
			t.Errorf("the grammar says %v for %q: fix the table", got, tc.id)
		}
	}
}

// FuzzValidID checks ValidID against the grammar's regexp.
func FuzzValidID(f *testing.F) {
	f.Add("f47ac10b-58cc-4372-a567-0e02b2c3d479")
	f.Add("0190b2a4-7b1c-7d2e-8f3a-0123456789ab")
	f.Add("f47ac10b-58cc-4372-c567-0e02b2c3d479")
	f.Fuzz(func(t *testing.T, id string) {
		if got, want := storage.ValidID(id), idGrammar.MatchString(id); got != want {
			t.Fatalf("ValidID(%q) = %v, the grammar says %v", id, got, want)
		}
	})
}
