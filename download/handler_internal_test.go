package download

import (
	"strings"
	"testing"

	"github.com/ferryhq/ferry/storage"
)

func TestFlagSet(t *testing.T) {
	tests := []struct {
		value   string
		present bool
		want    bool
	}{
		{"", false, false},
		{"", true, true},
		{"1", true, true},
		{"true", true, true},
		{"yes", true, true},
		{"0", true, false},
		{"false", true, false},
		{"FALSE", true, false},
	}
	for _, tt := range tests {
		if got := flagSet(tt.value, tt.present); got != tt.want {
			t.Errorf("flagSet(%q, %v) = %v, want %v", tt.value, tt.present, got, tt.want)
		}
	}
}

func TestETag(t *testing.T) {
	const id = "0b3c6a1e-0000-4000-8000-000000000000"
	sum := strings.Repeat("ab", 32)
	tests := []struct {
		name, sha256, want string
	}{
		{"digest", sum, `"` + sum + `"`},
		{"no digest", "", `"` + id + `"`},
		{"upper case digest", strings.ToUpper(sum), `"` + id + `"`},
		{"quote in digest", sum[:63] + `"`, `"` + id + `"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := etag(storage.Info{ID: id, SHA256: tt.sha256}); got != tt.want {
				t.Fatalf("etag = %s, want %s", got, tt.want)
			}
		})
	}
}
