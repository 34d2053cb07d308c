package download

import (
	"mime"
	"strings"
	"testing"
	"unicode/utf8"
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
			`attachment; filename="a_b.txt"; filename*=UTF-8''a_b.txt`, `a_b.txt`},
		{"Windows traversal", true, `..\..\windows\win.ini`,
			`attachment; filename=".._.._windows_win.ini"; filename*=UTF-8''.._.._windows_win.ini`, ".._.._windows_win.ini"},
		{"dot", true, ".",
			`attachment; filename="_"; filename*=UTF-8''_`, "_"},
		{"dot dot", true, "..",
			`attachment; filename="__"; filename*=UTF-8''__`, "__"},
		{"dots after dropped controls", true, ".\x00.",
			`attachment; filename="__"; filename*=UTF-8''__`, "__"},
		{"dot file kept", true, ".profile",
			`attachment; filename=".profile"; filename*=UTF-8''.profile`, ".profile"},
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
		want  bool // by default
		// wantActive is the answer with Config.InlineActive.
		wantActive bool
	}{
		{"image/png", true, true},
		{"image/jpeg", true, true},
		{"IMAGE/GIF", true, true},
		{"audio/mpeg", true, true},
		{"video/mp4", true, true},
		{"text/plain", true, true},
		{"text/plain; charset=utf-8", true, true},
		// Active types: inline only when the operator says so.
		{"application/pdf", false, true},
		{"image/svg+xml", false, true},
		{"text/html", false, true},
		{"TEXT/HTML; charset=utf-8", false, true},
		{"text/javascript", false, true},
		{"application/javascript", false, true},
		{"application/xhtml+xml", false, true},
		{"text/xml", false, true},
		{"application/xml", false, true},
		{"application/atom+xml", false, true},
		// Neither: always attachments.
		{"application/octet-stream", false, false},
		{"application/json", false, false},
		{"text/css", false, false},
		{"", false, false},
		{"garbage", false, false},
	}
	for _, tt := range tests {
		t.Run(tt.ctype, func(t *testing.T) {
			if got := showsInline(tt.ctype, inlinePolicy{}); got != tt.want {
				t.Errorf("showsInline(%q, none) = %v, want %v", tt.ctype, got, tt.want)
			}
			if got := showsInline(tt.ctype, inlinePolicy{active: true}); got != tt.wantActive {
				t.Errorf("showsInline(%q, active) = %v, want %v", tt.ctype, got, tt.wantActive)
			}
			// PDF alone (the server's default, docs/protocol.md §2) changes PDF only.
			wantPDF := tt.want || strings.EqualFold(tt.ctype, "application/pdf")
			if got := showsInline(tt.ctype, inlinePolicy{pdf: true}); got != wantPDF {
				t.Errorf("showsInline(%q, pdf) = %v, want %v", tt.ctype, got, wantPDF)
			}
		})
	}
}

// TestDeclaredType checks that the served type is the stored one or none
// (then the content is sniffed): never a guess from the name, which the
// upload's type checks never looked at.
func TestDeclaredType(t *testing.T) {
	tests := []struct{ stored, want string }{
		{"image/png", "image/png"},
		{"", ""},
		{"nonsense", ""},
		{"text/plain\r\nX: y", ""},
		{"text/", ""},
		{"/plain", ""},
		{"a/b/c", ""},
		{"Text/HTML; Charset=utf-8", "text/html; charset=utf-8"},
	}
	for _, tt := range tests {
		t.Run(tt.stored, func(t *testing.T) {
			if got := declaredType(tt.stored); got != tt.want {
				t.Fatalf("declaredType(%q) = %q, want %q", tt.stored, got, tt.want)
			}
		})
	}
}

// TestContentDispositionLength checks that no stored name, however long or
// however costly to encode, makes a Content-Disposition over 2 KiB, that the
// cut falls on a rune boundary and that a short extension survives it.
func TestContentDispositionLength(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		wantExt string // the decoded name's ending; "" to check nothing
	}{
		{"ASCII", strings.Repeat("a", 10000) + ".txt", ".txt"},
		{"spaces", strings.Repeat(" ", 10000) + ".pdf", ".pdf"},
		{"quotes", strings.Repeat(`"`, 10000) + ".txt", ".txt"},
		{"two-byte", strings.Repeat("é", 5000) + ".jpg", ".jpg"},
		{"three-byte", strings.Repeat("日", 5000) + ".png", ".png"},
		{"four-byte", strings.Repeat("🎉", 5000) + ".png", ".png"},
		{"mixed", strings.Repeat("a日🎉é ", 1000) + ".tar", ".tar"},
		{"no extension", strings.Repeat("🎉", 5000), ""},
		{"long extension", "x." + strings.Repeat("🎉", 5000), ""},
		{"dot file", "." + strings.Repeat("e", 5000), ""},
		{"backslashes", strings.Repeat(`\`, 5000) + ".ini", ".ini"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, attachment := range []bool{false, true} {
				got := contentDisposition(attachment, tt.in, "fallback")
				if len(got) > maxDisposition {
					t.Fatalf("Content-Disposition of %d bytes, want at most %d", len(got), maxDisposition)
				}
				if len(got) < maxDisposition-16 {
					t.Errorf("Content-Disposition of %d bytes: cut more than needed", len(got))
				}
				_, params, err := mime.ParseMediaType(got)
				if err != nil {
					t.Fatalf("%q does not parse as RFC 6266: %v", got, err)
				}
				name := params["filename"]
				if !utf8.ValidString(name) || strings.ContainsRune(name, utf8.RuneError) {
					t.Fatalf("decoded name is not valid UTF-8: %q", name)
				}
				if !strings.HasSuffix(name, tt.wantExt) {
					t.Errorf("decoded name %q does not keep %q", name[max(0, len(name)-20):], tt.wantExt)
				}
				if want := safeName(tt.in); !strings.HasPrefix(want, strings.TrimSuffix(name, tt.wantExt)) {
					t.Errorf("decoded name is not a prefix of the name")
				}
			}
		})
	}
	// A name that fits is untouched.
	if got := fitName("report.pdf", 100); got != "report.pdf" {
		t.Errorf("fitName shortened a name that fits: %q", got)
	}
}
