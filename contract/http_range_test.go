package contract_test

import (
	"bytes"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

const rangeSize = 1000

// rangeFile uploads the 1000-byte file the range tests read.
func rangeFile(t *testing.T) (*server, string, []byte) {
	t.Helper()
	s := start(t, cfg{})
	body := data(rangeSize, 200)
	return s, s.upload(t, "r.bin", "application/octet-stream", body), body
}

type part struct {
	first, last int64
	body        []byte
	ctype       string
}

// parts reads a 206 answer as its parts, single-part or multipart.
func parts(t *testing.T, resp *http.Response, body []byte) []part {
	t.Helper()
	ct := resp.Header.Get("Content-Type")
	mt, params, _ := mime.ParseMediaType(ct)
	if mt != "multipart/byteranges" {
		first, last, size, ok := parseContentRange(resp.Header.Get("Content-Range"))
		if !ok {
			t.Fatalf("206 with Content-Range %q, want bytes a-b/size", resp.Header.Get("Content-Range"))
		}
		if size != rangeSize {
			t.Errorf("Content-Range %q: size, want %d", resp.Header.Get("Content-Range"), rangeSize)
		}
		if cl := resp.Header.Get("Content-Length"); cl != strconv.Itoa(len(body)) {
			t.Errorf("206 Content-Length %q for a %d-byte body", cl, len(body))
		}
		return []part{{first, last, body, ct}}
	}
	if resp.Header.Get("Content-Range") != "" {
		t.Errorf("multipart 206 has a top-level Content-Range %q", resp.Header.Get("Content-Range"))
	}
	if cl := resp.Header.Get("Content-Length"); cl != "" && cl != strconv.Itoa(len(body)) {
		t.Errorf("multipart 206 Content-Length %q for a %d-byte body", cl, len(body))
	}
	mr := multipart.NewReader(bytes.NewReader(body), params["boundary"])
	var out []part
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("multipart body: %v", err)
		}
		b, err := io.ReadAll(p)
		if err != nil {
			t.Fatalf("multipart part: %v", err)
		}
		first, last, size, ok := parseContentRange(p.Header.Get("Content-Range"))
		if !ok || size != rangeSize {
			t.Errorf("part Content-Range %q, want bytes a-b/%d", p.Header.Get("Content-Range"), rangeSize)
		}
		if p.Header.Get("Content-Type") == "" {
			t.Errorf("part %q without Content-Type", p.Header.Get("Content-Range"))
		}
		out = append(out, part{first, last, b, p.Header.Get("Content-Type")})
	}
	return out
}

// §2: "Range: bytes=a-b, bytes=a-, bytes=-n (the unit is case-insensitive):
// 206 with Content-Range: bytes a-b/size." Several ranges: 206
// multipart/byteranges, each part with its own Content-Type and Content-Range.
func TestRangeRequests(t *testing.T) {
	t.Parallel()
	s, id, body := rangeFile(t)
	type span struct{ first, last int64 }
	for _, tc := range []struct {
		rng  string
		want []span
	}{
		{"bytes=0-9", []span{{0, 9}}},
		{"bytes=0-0", []span{{0, 0}}},
		{"bytes=999-999", []span{{999, 999}}},
		{"bytes=100-199", []span{{100, 199}}},
		{"bytes=990-", []span{{990, 999}}},
		{"bytes=0-", []span{{0, 999}}},
		{"bytes=-10", []span{{990, 999}}},
		{"bytes=-1", []span{{999, 999}}},
		{"bytes=-1000", []span{{0, 999}}},
		{"bytes=995-5000", []span{{995, 999}}},
		{"BYTES=0-9", []span{{0, 9}}},
		{"Bytes=-10", []span{{990, 999}}},
		{"bytes=5-9 ", []span{{5, 9}}},
		{"bytes=0-9,20-29", []span{{0, 9}, {20, 29}}},
		{"bytes=0-9, 20-29, -5", []span{{0, 9}, {20, 29}, {995, 999}}},
		{"bytes=500-509,0-9", []span{{500, 509}, {0, 9}}},
		{"bytes=0-9,5000-6000", []span{{0, 9}}},
	} {
		t.Run(tc.rng, func(t *testing.T) {
			resp, got := s.get(t, "/files/"+id, hdrs{"Range": tc.rng})
			if resp.StatusCode != http.StatusPartialContent {
				t.Fatalf("Range %q: status %d, want 206", tc.rng, resp.StatusCode)
			}
			checkSandbox(t, "206", resp)
			for _, k := range []string{"ETag", "Last-Modified", "Accept-Ranges", "Content-Disposition"} {
				if resp.Header.Get(k) == "" {
					t.Errorf("Range %q: 206 without %s", tc.rng, k)
				}
			}
			if resp.Header.Get("X-Content-Type-Options") != "nosniff" {
				t.Errorf("206 without nosniff")
			}
			ps := parts(t, resp, got)
			if len(tc.want) > 1 {
				if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt != "multipart/byteranges" {
					t.Errorf("Range %q (several ranges): Content-Type %q, want multipart/byteranges", tc.rng, resp.Header.Get("Content-Type"))
				}
			}
			if len(ps) != len(tc.want) {
				t.Fatalf("Range %q: %d parts, want %d", tc.rng, len(ps), len(tc.want))
			}
			for i, p := range ps {
				w := tc.want[i]
				if p.first != w.first || p.last != w.last {
					t.Errorf("Range %q part %d: bytes %d-%d, want %d-%d", tc.rng, i, p.first, p.last, w.first, w.last)
				}
				if !bytes.Equal(p.body, body[w.first:w.last+1]) {
					t.Errorf("Range %q part %d: wrong bytes", tc.rng, i)
				}
				if mt, _, _ := mime.ParseMediaType(p.ctype); mt != "application/octet-stream" {
					t.Errorf("Range %q part %d: Content-Type %q, want the file's", tc.rng, i, p.ctype)
				}
			}
		})
	}
}

// §2: "A Range with more than 32 ranges, or whose ranges ask for more bytes
// than the file has, is ignored: 200 with the whole file."
func TestRangeCaps(t *testing.T) {
	t.Parallel()
	s, id, body := rangeFile(t)
	many := func(n int) string {
		r := make([]string, n)
		for i := range r {
			r[i] = fmt.Sprintf("%d-%d", i*10, i*10+4)
		}
		return "bytes=" + strings.Join(r, ",")
	}
	t.Run("32 ranges are served", func(t *testing.T) {
		resp, got := s.get(t, "/files/"+id, hdrs{"Range": many(32)})
		if resp.StatusCode != http.StatusPartialContent {
			t.Fatalf("32 ranges: status %d, want 206", resp.StatusCode)
		}
		if ps := parts(t, resp, got); len(ps) != 32 {
			t.Errorf("32 ranges: %d parts", len(ps))
		}
	})
	for _, tc := range []struct{ name, rng string }{
		{"33 ranges", many(33)},
		{"1000 ranges", many(100) + strings.Repeat(",0-0", 900)},
		{"overlapping ranges over the size", "bytes=0-599,400-999"},
		{"the whole file twice", "bytes=0-,0-"},
		{"suffixes over the size", "bytes=-600,-600"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, got := s.get(t, "/files/"+id, hdrs{"Range": tc.rng})
			wantStatus(t, tc.name, resp, got, http.StatusOK)
			if !bytes.Equal(got, body) {
				t.Errorf("%s: body is not the whole file (%d bytes)", tc.name, len(got))
			}
			if resp.Header.Get("Content-Range") != "" {
				t.Errorf("%s: 200 with Content-Range %q", tc.name, resp.Header.Get("Content-Range"))
			}
		})
	}
}

// §2: "No satisfiable range (a first byte at or past the end, bytes=-0):
// 416 with Content-Range: bytes */size."
func TestRangeNotSatisfiable(t *testing.T) {
	t.Parallel()
	s, id, _ := rangeFile(t)
	for _, rng := range []string{
		"bytes=1000-",
		"bytes=1000-1000",
		"bytes=1000-2000",
		"bytes=5000-",
		"bytes=-0",
		"BYTES=-0",
		"bytes=1000-,2000-3000",
		"bytes=-0,1000-",
	} {
		t.Run(rng, func(t *testing.T) {
			resp, got := s.get(t, "/files/"+id, hdrs{"Range": rng})
			wantStatus(t, "Range "+rng, resp, got, http.StatusRequestedRangeNotSatisfiable)
			if cr := resp.Header.Get("Content-Range"); cr != fmt.Sprintf("bytes */%d", rangeSize) {
				t.Errorf("Range %q: Content-Range %q, want bytes */%d", rng, cr, rangeSize)
			}
			if resp.Header.Get("X-Content-Type-Options") != "nosniff" {
				t.Errorf("416 without nosniff")
			}
		})
	}
}

// §2: "A Range header that does not parse (an unknown unit, bad syntax, a
// last byte before the first) is ignored: 200, whole file."
func TestRangeUnparseableIgnored(t *testing.T) {
	t.Parallel()
	s, id, body := rangeFile(t)
	for _, rng := range []string{
		"items=0-9",
		"bytes 0-9",
		"bytes=",
		"bytes=abc",
		"bytes=9-5",
		"bytes=5",
		"bytes=-",
		"bytes=--5",
		"bytes=0-9,garbage",
		"bytes=0-9;20-29",
		"bytes = 5-9",
		"bytes=1-2-3",
		"bytes=0x10-0x20",
		"bytes=+1-5",
		"bytes=-+5",
		"bytes=0-99999999999999999999999",
		"bytes=99999999999999999999999-",
		"bytes=-99999999999999999999999",
		"=0-9",
		"0-9",
	} {
		t.Run(rng, func(t *testing.T) {
			resp, got := s.get(t, "/files/"+id, hdrs{"Range": rng})
			if resp.StatusCode == http.StatusOK && bytes.Equal(got, body) {
				return
			}
			// A huge last byte is well-formed: serving 0-999 is also right.
			if strings.HasPrefix(rng, "bytes=0-9999") && resp.StatusCode == http.StatusPartialContent && bytes.Equal(got, body) {
				return
			}
			if strings.HasPrefix(rng, "bytes=-9999") && resp.StatusCode == http.StatusPartialContent && bytes.Equal(got, body) {
				return
			}
			if strings.HasPrefix(rng, "bytes=9999") && resp.StatusCode == http.StatusRequestedRangeNotSatisfiable {
				return
			}
			t.Errorf("Range %q: status %d with %d bytes, want 200 with the whole file", rng, resp.StatusCode, len(got))
		})
	}
}

// §2: "An empty file with any Range answers 200."
func TestRangeOnEmptyFile(t *testing.T) {
	t.Parallel()
	s := start(t, cfg{})
	id := s.upload(t, "empty.txt", "text/plain", nil)
	for _, rng := range []string{"bytes=0-0", "bytes=0-", "bytes=-1", "bytes=-0", "bytes=5-10", "bytes=0-0,1-1", "items=0-1", "bytes=abc"} {
		resp, got := s.get(t, "/files/"+id, hdrs{"Range": rng})
		wantStatus(t, "empty file, Range "+rng, resp, got, http.StatusOK)
		if len(got) != 0 || resp.Header.Get("Content-Length") != "0" {
			t.Errorf("empty file, Range %q: %d bytes, Content-Length %q", rng, len(got), resp.Header.Get("Content-Length"))
		}
	}
}

// §2: "HEAD ignores Range (RFC 9110 §14.2): 200 with the whole file's
// Content-Length."
func TestHeadIgnoresRange(t *testing.T) {
	t.Parallel()
	s, id, _ := rangeFile(t)
	for _, rng := range []string{"bytes=0-9", "bytes=-10", "bytes=0-9,20-29", "bytes=5000-", "bytes=-0", "items=1-2"} {
		resp, got := s.do(t, http.MethodHead, "/files/"+id, hdrs{"Range": rng})
		wantStatus(t, "HEAD Range "+rng, resp, got, http.StatusOK)
		if cl := resp.Header.Get("Content-Length"); cl != strconv.Itoa(rangeSize) {
			t.Errorf("HEAD Range %q: Content-Length %q, want %d", rng, cl, rangeSize)
		}
		if cr := resp.Header.Get("Content-Range"); cr != "" {
			t.Errorf("HEAD Range %q: Content-Range %q", rng, cr)
		}
	}
}

// §2: "If-Range with a matching strong ETag or the exact Last-Modified date
// honours the Range; any other value answers 200 with the whole file."
func TestIfRange(t *testing.T) {
	t.Parallel()
	s, id, body := rangeFile(t)
	resp, _ := s.get(t, "/files/"+id, nil)
	etag, lm := resp.Header.Get("ETag"), resp.Header.Get("Last-Modified")
	lmt, err := http.ParseTime(lm)
	if err != nil {
		t.Fatalf("Last-Modified %q: %v", lm, err)
	}
	for _, tc := range []struct {
		name, ifRange string
		honour        bool
	}{
		{"matching ETag", etag, true},
		{"exact Last-Modified", lm, true},
		{"weak form of the ETag", "W/" + etag, false},
		{"other ETag", `"something-else"`, false},
		{"ETag without quotes", strings.Trim(etag, `"`), false},
		{"a second later", lmt.Add(time.Second).Format(http.TimeFormat), false},
		{"a second earlier", lmt.Add(-time.Second).Format(http.TimeFormat), false},
		{"a day later", lmt.Add(24 * time.Hour).Format(http.TimeFormat), false},
		{"garbage", "banana", false},
		{"star", "*", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, got := s.get(t, "/files/"+id, hdrs{"Range": "bytes=10-19", "If-Range": tc.ifRange})
			if tc.honour {
				wantStatus(t, "If-Range "+tc.ifRange, resp, got, http.StatusPartialContent)
				if !bytes.Equal(got, body[10:20]) {
					t.Errorf("If-Range %q: wrong bytes", tc.ifRange)
				}
				return
			}
			wantStatus(t, "If-Range "+tc.ifRange, resp, got, http.StatusOK)
			if !bytes.Equal(got, body) {
				t.Errorf("If-Range %q: %d bytes, want the whole file", tc.ifRange, len(got))
			}
		})
	}
}

// §2: "If-None-Match matching the ETag answers 304; If-Match not matching
// answers 412" (RFC 9110: weak comparison for If-None-Match, strong for
// If-Match).
func TestConditionalRequests(t *testing.T) {
	t.Parallel()
	s, id, body := rangeFile(t)
	resp, _ := s.get(t, "/files/"+id, nil)
	etag := resp.Header.Get("ETag")
	lm := resp.Header.Get("Last-Modified")
	lmt, _ := http.ParseTime(lm)
	earlier := lmt.Add(-time.Hour).Format(http.TimeFormat)
	later := lmt.Add(time.Hour).Format(http.TimeFormat)
	for _, tc := range []struct {
		name   string
		method string
		h      hdrs
		status int
	}{
		{"If-None-Match ETag", "GET", hdrs{"If-None-Match": etag}, 304},
		{"If-None-Match ETag, HEAD", "HEAD", hdrs{"If-None-Match": etag}, 304},
		{"If-None-Match in a list", "GET", hdrs{"If-None-Match": `"a", ` + etag + `, "b"`}, 304},
		{"If-None-Match weak form", "GET", hdrs{"If-None-Match": "W/" + etag}, 304},
		{"If-None-Match star", "GET", hdrs{"If-None-Match": "*"}, 304},
		{"If-None-Match with Range", "GET", hdrs{"If-None-Match": etag, "Range": "bytes=0-9"}, 304},
		{"If-None-Match other", "GET", hdrs{"If-None-Match": `"other"`}, 200},
		{"If-Match other", "GET", hdrs{"If-Match": `"other"`}, 412},
		{"If-Match other, HEAD", "HEAD", hdrs{"If-Match": `"other"`}, 412},
		{"If-Match other with Range", "GET", hdrs{"If-Match": `"other"`, "Range": "bytes=0-9"}, 412},
		{"If-Match weak form", "GET", hdrs{"If-Match": "W/" + etag}, 412},
		{"If-Match ETag", "GET", hdrs{"If-Match": etag}, 200},
		{"If-Match star", "GET", hdrs{"If-Match": "*"}, 200},
		{"If-Match ETag with Range", "GET", hdrs{"If-Match": etag, "Range": "bytes=0-9"}, 206},
		{"If-Modified-Since Last-Modified", "GET", hdrs{"If-Modified-Since": lm}, 304},
		{"If-Modified-Since later", "GET", hdrs{"If-Modified-Since": later}, 304},
		{"If-Modified-Since earlier", "GET", hdrs{"If-Modified-Since": earlier}, 200},
		{"If-None-Match other beats If-Modified-Since", "GET", hdrs{"If-None-Match": `"other"`, "If-Modified-Since": lm}, 200},
		{"If-Unmodified-Since earlier", "GET", hdrs{"If-Unmodified-Since": earlier}, 412},
		{"If-Unmodified-Since Last-Modified", "GET", hdrs{"If-Unmodified-Since": lm}, 200},
		{"If-Match ETag beats If-Unmodified-Since", "GET", hdrs{"If-Match": etag, "If-Unmodified-Since": earlier}, 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, got := s.do(t, tc.method, "/files/"+id, tc.h)
			wantStatus(t, tc.name, resp, got, tc.status)
			switch tc.status {
			case 304:
				if len(got) != 0 {
					t.Errorf("304 with a %d-byte body", len(got))
				}
				if resp.Header.Get("ETag") != etag {
					t.Errorf("304 ETag %q, want %q", resp.Header.Get("ETag"), etag)
				}
			case 200:
				if tc.method == "GET" && !bytes.Equal(got, body) {
					t.Errorf("200 body is not the file")
				}
			}
			if resp.Header.Get("X-Content-Type-Options") != "nosniff" {
				t.Errorf("%d without nosniff", resp.StatusCode)
			}
		})
	}
}
