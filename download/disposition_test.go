package download

import (
	"mime"
	"strings"
	"testing"
)

func TestContentDisposition(t *testing.T) {
	tests := []struct {
		name       string
		attachment bool
		in         string
		want       string
		decoded    string // what a client decodes from filename*
	}{
		{"plain", false, "report.pdf",
			`inline; filename="report.pdf"; filename*=UTF-8''report.pdf`, "report.pdf"},
		{"attachment", true, "report.pdf",
			`attachment; filename="report.pdf"; filename*=UTF-8''report.pdf`, "report.pdf"},
		{"quote", true, `say "hi".txt`,
			`attachment; filename="say \"hi\".txt"; filename*=UTF-8''say%20%22hi%22.txt`, `say "hi".txt`},
		{"backslash", true, `a\b.txt`,
			`attachment; filename="a\\b.txt"; filename*=UTF-8''a%5Cb.txt`, `a\b.txt`},
		{"CR LF", true, "a\r\nContent-Type: text/html\r\n\r\n.txt",
			`attachment; filename="aContent-Type: text_html.txt"; filename*=UTF-8''aContent-Type%3A%20text_html.txt`,
			"aContent-Type: text_html.txt"},
		{"NUL and other controls", true, "a\x00b\x07c\x7fd\u0085e.txt",
			`attachment; filename="abcde.txt"; filename*=UTF-8''abcde.txt`, "abcde.txt"},
		{"traversal", true, "../x",
			`attachment; filename=".._x"; filename*=UTF-8''.._x`, ".._x"},
		{"absolute", true, "/etc/passwd",
			`attachment; filename="_etc_passwd"; filename*=UTF-8''_etc_passwd`, "_etc_passwd"},
		{"slash", true, "a/b",
			`attachment; filename="a_b"; filename*=UTF-8''a_b`, "a_b"},
		{"non-ASCII", true, "résumé.pdf",
			`attachment; filename="r_sum_.pdf"; filename*=UTF-8''r%C3%A9sum%C3%A9.pdf`, "résumé.pdf"},
		{"CJK", true, "日本語.txt",
			`attachment; filename="___.txt"; filename*=UTF-8''%E6%97%A5%E6%9C%AC%E8%AA%9E.txt`, "日本語.txt"},
		{"emoji", true, "🎉.png",
			`attachment; filename="_.png"; filename*=UTF-8''%F0%9F%8E%89.png`, "🎉.png"},
		{"bidi override", true, "photo\u202egpj.exe",
			`attachment; filename="photogpj.exe"; filename*=UTF-8''photogpj.exe`, "photogpj.exe"},
		{"invalid UTF-8", true, "a\xffb",
			`attachment; filename="a_b"; filename*=UTF-8''a%EF%BF%BDb`, "a\uFFFDb"},
		{"semicolon and equals", true, "a;b=c.txt",
			`attachment; filename="a;b=c.txt"; filename*=UTF-8''a%3Bb%3Dc.txt`, "a;b=c.txt"},
		{"percent", true, "100%.txt",
			`attachment; filename="100%.txt"; filename*=UTF-8''100%25.txt`, "100%.txt"},
		{"attr-chars kept", true, "a!#$&+-.^_`|~z",
			"attachment; filename=\"a!#$&+-.^_`|~z\"; filename*=UTF-8''a!#$&+-.^_`|~z", "a!#$&+-.^_`|~z"},
		{"only controls", true, "\r\n",
			`attachment; filename="fallback"; filename*=UTF-8''fallback`, "fallback"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := contentDisposition(tt.attachment, tt.in, "fallback")
			if got != tt.want {
				t.Fatalf("contentDisposition(%q)\n got %s\nwant %s", tt.in, got, tt.want)
			}
			if strings.ContainsAny(got, "\r\n\x00") {
				t.Fatalf("header value holds a control character: %q", got)
			}
			_, params, err := mime.ParseMediaType(got)
			if err != nil {
				t.Fatalf("does not parse as RFC 6266: %v", err)
			}
			if params["filename"] != tt.decoded {
				t.Errorf("decoded filename %q, want %q", params["filename"], tt.decoded)
			}
		})
	}
}

func TestShowsInline(t *testing.T) {
	tests := []struct {
		ctype string
		want  bool
	}{
		{"image/png", true},
		{"image/jpeg", true},
		{"IMAGE/GIF", true},
		{"audio/mpeg", true},
		{"video/mp4", true},
		{"application/pdf", true},
		{"text/plain", true},
		{"text/plain; charset=utf-8", true},
		{"image/svg+xml", false},
		{"text/html", false},
		{"text/html; charset=utf-8", false},
		{"text/javascript", false},
		{"application/xhtml+xml", false},
		{"application/octet-stream", false},
		{"text/xml", false},
		{"", false},
		{"garbage", false},
	}
	for _, tt := range tests {
		t.Run(tt.ctype, func(t *testing.T) {
			if got := showsInline(tt.ctype); got != tt.want {
				t.Fatalf("showsInline(%q) = %v, want %v", tt.ctype, got, tt.want)
			}
		})
	}
}

func TestDeclaredType(t *testing.T) {
	tests := []struct{ stored, name, want string }{
		{"image/png", "x.jpg", "image/png"},
		{"", "x.jpg", "image/jpeg"},
		{"", "X.JPG", "image/jpeg"},
		{"", "archive.tar.gz", "application/gzip"},
		{"", "noext", ""},
		{"", "x.unknownext", ""},
		{"nonsense", "x.txt", "text/plain; charset=utf-8"},
		{"text/plain\r\nX: y", "x", ""},
		{"text/", "x.png", "image/png"},
		{"/plain", "x.png", "image/png"},
		{"a/b/c", "x.png", "image/png"},
		{"Text/HTML; Charset=utf-8", "x", "text/html; charset=utf-8"},
	}
	for _, tt := range tests {
		t.Run(tt.stored+"|"+tt.name, func(t *testing.T) {
			if got := declaredType(tt.stored, tt.name); got != tt.want {
				t.Fatalf("declaredType(%q, %q) = %q, want %q", tt.stored, tt.name, got, tt.want)
			}
		})
	}
}
