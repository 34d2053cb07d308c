package upload

import (
	"strings"
	"testing"
)

func TestParseRequest(t *testing.T) {
	upper := strings.Repeat("AB", 32)
	long := strings.Repeat("a", MaxNameBytes) // the longest name accepted
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
		{in: `{"type":"start","name":"` + long + `","size":1}`, want: request{Type: TypeStart, Start: StartFrame{Type: TypeStart, Name: long, Size: 1}}},
		{in: `{"type":"start","name":"` + long + `b","size":1}`, code: CodeBadRequest},
		{in: `{"type":"start","name":"` + strings.Repeat("é", 513) + `","size":1}`, code: CodeBadRequest}, // 1,026 bytes
		{in: `{"type":"start","name":"   ","size":1}`, code: CodeBadRequest},
		{in: `{"type":"start","name":"\t\n\u0000","size":1}`, code: CodeBadRequest},
		{in: `{"type":"start","name":"\u202e\u200b\ufeff","size":1}`, code: CodeBadRequest},
		{in: `{"type":"start","name":" a ","size":1}`, want: request{Type: TypeStart, Start: StartFrame{Type: TypeStart, Name: " a ", Size: 1}}},
		{in: `{"type":"start","name":"..","size":1}`, want: request{Type: TypeStart, Start: StartFrame{Type: TypeStart, Name: "..", Size: 1}}},
		{in: `{"type":"start","name":"a\\b","size":1}`, want: request{Type: TypeStart, Start: StartFrame{Type: TypeStart, Name: `a\b`, Size: 1}}},
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
		t.Run(clip(tt.in), func(t *testing.T) {
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
