package storage_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/ferryhq/ferry/storage"
)

func TestMetaValidate(t *testing.T) {
	sum := strings.Repeat("0123456789abcdef", 4)
	tests := []struct {
		name string
		meta storage.Meta
		ok   bool
	}{
		{"minimal", storage.Meta{Name: "a"}, true},
		{"everything", storage.Meta{Name: "a.png", Size: 5, MIME: "image/png", SHA256: sum}, true},
		{"unknown size", storage.Meta{Name: "a", Size: storage.SizeUnknown}, true},
		{"type with parameters", storage.Meta{Name: "a", MIME: "Text/Plain; Charset=UTF-8"}, true},
		{"name of MaxNameBytes", storage.Meta{Name: strings.Repeat("é", storage.MaxNameBytes/2)}, true},
		{"empty name", storage.Meta{}, false},
		{"name over MaxNameBytes", storage.Meta{Name: strings.Repeat("a", storage.MaxNameBytes+1)}, false},
		{"negative size", storage.Meta{Name: "a", Size: -2}, false},
		{"bare token type", storage.Meta{Name: "a", MIME: "text"}, false},
		{"type without subtype", storage.Meta{Name: "a", MIME: "text/"}, false},
		{"three-part type", storage.Meta{Name: "a", MIME: "a/b/c"}, false},
		{"type with a header injected", storage.Meta{Name: "a", MIME: "text/html\r\nX-Evil: 1"}, false},
		{"not a type", storage.Meta{Name: "a", MIME: "not a type"}, false},
		{"upper-case sha256", storage.Meta{Name: "a", SHA256: strings.ToUpper(sum)}, false},
		{"short sha256", storage.Meta{Name: "a", SHA256: sum[1:]}, false},
		{"long sha256", storage.Meta{Name: "a", SHA256: sum + "0"}, false},
		{"non-hex sha256", storage.Meta{Name: "a", SHA256: "g" + sum[1:]}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.meta.Validate()
			if tt.ok && err != nil {
				t.Fatalf("Validate: %v, want nil", err)
			}
			if !tt.ok && !errors.Is(err, storage.ErrInvalid) {
				t.Fatalf("Validate: %v, want ErrInvalid", err)
			}
		})
	}
}

func TestValidSHA256(t *testing.T) {
	sum := strings.Repeat("0123456789abcdef", 4)
	for s, want := range map[string]bool{
		sum:                          true,
		strings.ToUpper(sum):         false,
		sum[:63] + "A":               false,
		sum[:63]:                     false,
		"":                           false,
		sum[:62] + `"x`:              false,
		strings.Repeat("\u00e9", 32): false, // 64 bytes, not hex
		sum[:63] + "\x00":            false,
		strings.Repeat("f", 64):      true,
		strings.Repeat("0", 64):      true,
	} {
		if got := storage.ValidSHA256(s); got != want {
			t.Errorf("ValidSHA256(%q) = %v, want %v", s, got, want)
		}
	}
}

func TestMediaType(t *testing.T) {
	for v, want := range map[string]string{
		"image/png":                 "image/png",
		"Text/Plain; charset=utf-8": "text/plain",
		"application/vnd.api+json":  "application/vnd.api+json",
		"text":                      "",
		"/plain":                    "",
		"text/":                     "",
		"":                          "",
		"text/plain; charset":       "",
	} {
		got, ok := storage.MediaType(v)
		if got != want || ok != (want != "") {
			t.Errorf("MediaType(%q) = %q, %v; want %q, %v", v, got, ok, want, want != "")
		}
	}
}
