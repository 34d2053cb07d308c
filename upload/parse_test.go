package upload

import (
	"bytes"
	"crypto/sha256"
	"strings"
	"testing"
)

func TestParseRequest(t *testing.T) {
	upper := strings.Repeat("AB", 32)
	tests := []struct {
		in   string
		want request
		code Code // "" = accepted
	}{
		{in: `{"type":"start","name":"a.bin","size":0}`, want: request{Type: TypeStart, Start: StartFrame{Type: TypeStart, Name: "a.bin", Size: 0}}},
		{in: ` { "size" : 12 , "type" : "start" , "name" : "é.txt", "extra": [1] } `, want: request{Type: TypeStart, Start: StartFrame{Type: TypeStart, Name: "é.txt", Size: 12}}},
		{in: `{"type":"start","name":"a","size":9223372036854775807,"mime":"image/png; q=1","sha256":"` + upper + `"}`,
			want: request{Type: TypeStart, Start: StartFrame{Type: TypeStart, Name: "a", Size: 1<<63 - 1, MIME: "image/png; q=1", SHA256: strings.ToLower(upper)}}},
		{in: `{"type":"start","name":"a","size":9223372036854775808}`, code: CodeTooLarge},
		{in: `{"type":"start","name":"a","size":-9223372036854775809}`, code: CodeBadRequest},
		{in: `{"type":"start","name":"a","size":1.0}`, code: CodeBadRequest},
		{in: `{"type":"start","name":"a","size":10E2}`, code: CodeBadRequest},
		{in: `{"type":"start","name":"a","size":01}`, code: CodeBadRequest},
		{in: `{"type":"start","name":"a","size":1,"mime":null}`, code: CodeBadRequest},
		{in: `{"type":"start","name":"a","size":1,"mime":"image"}`, code: CodeBadRequest},
		{in: `{"type":"start","name":"a","size":1,"sha256":null}`, code: CodeBadRequest},
		{in: `{"type":"start","name":"a","size":1,"sha256":""}`, code: CodeBadRequest},
		{in: `{"type":"start","name":null,"size":1}`, code: CodeBadRequest},
		{in: `{"type":"resume","id":"anything"}`, want: request{Type: TypeResume, ID: "anything"}},
		{in: `{"type":"resume","id":null}`, code: CodeBadRequest},
		{in: `{"type":"end","whatever":1}`, want: request{Type: TypeEnd}},
		{in: `{"type":"abort"}`, want: request{Type: TypeAbort}},
		{in: `{"type":"END"}`, code: CodeUnknownType},
		{in: `{"type":""}`, code: CodeUnknownType},
		{in: `{"type":"end"} {}`, code: CodeBadRequest},
		{in: ``, code: CodeBadRequest},
		{in: `true`, code: CodeBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := parseRequest([]byte(tt.in))
			if c := CodeOf(err); c != tt.code {
				t.Fatalf("code %q (%v), want %q", c, err, tt.code)
			}
			if err == nil && got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestSniffer(t *testing.T) {
	png := append([]byte("\x89PNG\r\n\x1a\n"), bytes.Repeat([]byte{0}, 600)...)
	html := []byte("<html><body>" + strings.Repeat("x", 600))
	text := []byte(strings.Repeat("just words ", 60))
	images := typeList{"image/*"}
	tests := []struct {
		name    string
		allowed typeList
		data    []byte
		size    int64
		frames  []int // frame sizes; the rest goes in the last frame
		want    []sniffVerdict
	}{
		{"png whole", images, png, int64(len(png)), nil, []sniffVerdict{sniffAllowed}},
		{"png byte by byte", images, png[:600], 600, []int{1, 7, 500, 4}, []sniffVerdict{sniffUndecided, sniffUndecided, sniffUndecided, sniffAllowed, sniffAllowed}},
		{"html at once", images, html, 10_000, []int{20}, []sniffVerdict{sniffForbidden}},
		{"text decided at 512", images, text, int64(len(text)), []int{100, 411, 1}, []sniffVerdict{sniffUndecided, sniffUndecided, sniffForbidden}},
		{"short text file", images, text[:40], 40, nil, []sniffVerdict{sniffForbidden}},
		{"text allowed", typeList{"text/plain"}, text, int64(len(text)), nil, []sniffVerdict{sniffAllowed}},
		{"no list", nil, html, int64(len(html)), nil, []sniffVerdict{sniffAllowed}},
		{"empty file", images, nil, 0, nil, []sniffVerdict{sniffAllowed}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var s sniffer
			data := tt.data
			for i, want := range tt.want {
				n := len(data)
				if i < len(tt.frames) {
					n = min(tt.frames[i], len(data))
				}
				if got := s.feed(data[:n], tt.size, tt.allowed); got != want {
					t.Fatalf("frame %d: verdict %d, want %d (type %q)", i, got, want, s.Type)
				}
				data = data[n:]
			}
		})
	}
}

func TestTypeListAllows(t *testing.T) {
	l, err := newTypeList([]string{"image/*", "Video/MP4", "application/pdf; x=y"})
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
		if got := l.allows(typ); got != want {
			t.Errorf("allows(%q) = %v, want %v", typ, got, want)
		}
	}
	if !(typeList{"*/*"}).allows("anything/at-all") || !(typeList(nil)).allows("whatever") {
		t.Error("*/* and the empty list allow everything")
	}
}

// TestSavedStateRoundTrip checks that a digest restored from checkpoint
// state continues exactly where it stopped, and that damaged state is refused.
func TestSavedStateRoundTrip(t *testing.T) {
	data := randomBytes(t, 10_000)
	released := 0
	release := func(*[]byte) { released++ }
	h, err := newHasher(nil, 0, release)
	if err != nil {
		t.Fatal(err)
	}
	piece := append([]byte(nil), data[:3333]...)
	h.add(piece, &piece)
	snap := h.snapshot()
	h.stop()
	saved := savedState{n: snap.n, sniffed: false, prefix: data[:512], digest: snap.state}.encode()

	st, err := decodeState(saved)
	if err != nil {
		t.Fatal(err)
	}
	if st.n != 3333 || st.sniffed || !bytes.Equal(st.prefix, data[:512]) {
		t.Fatalf("decoded %d %v %d-byte prefix", st.n, st.sniffed, len(st.prefix))
	}
	h2, err := newHasher(st.digest, st.n, release)
	if err != nil {
		t.Fatal(err)
	}
	h2.add(data[3333:], nil)
	got := h2.snapshot()
	h2.stop()
	if released != 1 {
		t.Errorf("%d pieces released, want 1", released)
	}
	want := sha256.Sum256(data)
	if got.sum != hexSum(data) || got.n != int64(len(data)) {
		t.Errorf("restored digest %s over %d bytes, want %x over %d", got.sum, got.n, want, len(data))
	}

	for name, bad := range map[string][]byte{
		"empty":       nil,
		"short":       saved[:5],
		"version":     append([]byte{9}, saved[1:]...),
		"prefix cut":  saved[:stateHeaderLen+100],
		"huge prefix": append(append([]byte(nil), saved[:10]...), 0xff, 0xff),
	} {
		if _, err := decodeState(bad); err == nil {
			t.Errorf("%s: decodeState accepted damaged state", name)
		}
	}
	if _, err := newHasher([]byte("not a digest"), 0, release); err == nil {
		t.Error("newHasher accepted a damaged digest")
	}
}
