package checkpoint

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"strings"
	"testing"
)

func TestSniffer(t *testing.T) {
	png := append([]byte("\x89PNG\r\n\x1a\n"), bytes.Repeat([]byte{0}, 600)...)
	html := []byte("<html><body>" + strings.Repeat("x", 600))
	text := []byte(strings.Repeat("just words ", 60))
	images := Types{"image/*"}
	tests := []struct {
		name    string
		allowed Types
		data    []byte
		size    int64
		frames  []int // frame sizes; the rest goes in the last frame
		want    []Verdict
	}{
		{"png whole", images, png, int64(len(png)), nil, []Verdict{Allowed}},
		{"png byte by byte", images, png[:600], 600, []int{1, 7, 500, 4}, []Verdict{Undecided, Undecided, Undecided, Allowed, Allowed}},
		{"html at once", images, html, 10_000, []int{20}, []Verdict{Forbidden}},
		{"text decided at 512", images, text, int64(len(text)), []int{100, 411, 1}, []Verdict{Undecided, Undecided, Forbidden}},
		{"short text file", images, text[:40], 40, nil, []Verdict{Forbidden}},
		{"text allowed", Types{"text/plain"}, text, int64(len(text)), nil, []Verdict{Allowed}},
		{"no list", nil, html, int64(len(html)), nil, []Verdict{Allowed}},
		{"empty file", images, nil, 0, nil, []Verdict{Allowed}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var s Sniffer
			data := tt.data
			for i, want := range tt.want {
				n := len(data)
				if i < len(tt.frames) {
					n = min(tt.frames[i], len(data))
				}
				if got := s.Feed(data[:n], tt.size, tt.allowed); got != want {
					t.Fatalf("frame %d: verdict %d, want %d (type %q)", i, got, want, s.Type)
				}
				data = data[n:]
			}
		})
	}
}

func TestTypesAllows(t *testing.T) {
	l, err := ParseTypes([]string{"image/*", "Video/MP4", "application/pdf; x=y"})
	if err != nil {
		t.Fatal(err)
	}
	for typ, want := range map[string]bool{
		"image/png":                    true,
		"IMAGE/SVG+XML":                true,
		"video/mp4; codecs=avc1":       true,
		"video/webm":                   false,
		"application/pdf":              true,
		"text/html":                    false,
		"image":                        false,
		"":                             false,
		"imagex/png":                   false,
		"text/plain; charset=utf-8":    false,
		"application/octet-stream":     false,
		"image/png\r\nX-Injected: yes": false,
	} {
		if got := l.Allows(typ); got != want {
			t.Errorf("allows(%q) = %v, want %v", typ, got, want)
		}
	}
	if !(Types{"*/*"}).Allows("anything/at-all") || !(Types(nil)).Allows("whatever") {
		t.Error("*/* and the empty list allow everything")
	}
}

// TestStateRoundTrip checks that a digest restored from checkpoint
// state continues exactly where it stopped, and that damaged state is refused.
func TestStateRoundTrip(t *testing.T) {
	data := bytes.Repeat([]byte("0123456789"), 1000)
	released := 0
	release := func(*[]byte) { released++ }
	h, err := NewHasher(nil, 0, 4, release)
	if err != nil {
		t.Fatal(err)
	}
	piece := append([]byte(nil), data[:3333]...)
	h.Add(piece, &piece)
	snap := h.Snapshot()
	h.Stop()
	saved := State{N: snap.N, Sniffed: false, Prefix: data[:512], Digest: snap.State}.Encode()

	st, err := Decode(saved)
	if err != nil {
		t.Fatal(err)
	}
	if st.N != 3333 || st.Sniffed || !bytes.Equal(st.Prefix, data[:512]) {
		t.Fatalf("decoded %d %v %d-byte prefix", st.N, st.Sniffed, len(st.Prefix))
	}
	h2, err := NewHasher(st.Digest, st.N, 4, release)
	if err != nil {
		t.Fatal(err)
	}
	h2.Add(data[3333:], nil)
	got := h2.Snapshot()
	h2.Stop()
	if released != 1 {
		t.Errorf("%d pieces released, want 1", released)
	}
	want := sha256.Sum256(data)
	if got.Sum != fmt.Sprintf("%x", sha256.Sum256(data)) || got.N != int64(len(data)) {
		t.Errorf("restored digest %s over %d bytes, want %x over %d", got.Sum, got.N, want, len(data))
	}

	for name, bad := range map[string][]byte{
		"empty":       nil,
		"short":       saved[:5],
		"version":     append([]byte{9}, saved[1:]...),
		"prefix cut":  saved[:stateHeaderLen+100],
		"huge prefix": append(append([]byte(nil), saved[:10]...), 0xff, 0xff),
	} {
		if _, err := Decode(bad); err == nil {
			t.Errorf("%s: decodeState accepted damaged state", name)
		}
	}
	if _, err := NewHasher([]byte("not a digest"), 0, 4, release); err == nil {
		t.Error("NewHasher accepted a damaged digest")
	}
}
