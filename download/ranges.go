package download

import (
	"strconv"
	"strings"
)

// maxRanges is the most ranges one request may ask for (docs/protocol.md
// §2). More is a cheap way to make the server write many tiny multipart
// parts, so the whole Range is ignored, as RFC 9110 §14.2 allows.
const maxRanges = 32

// byteRange is one satisfiable range: length bytes from start.
type byteRange struct {
	start, length int64
}

// rangePlan is what a request's Range header asks of the response.
type rangePlan int

const (
	// rangeWhole: no usable Range; answer 200 with the whole file.
	rangeWhole rangePlan = iota
	// rangePartial: answer 206 with the returned ranges.
	rangePartial
	// rangeUnsatisfiable: a valid Range none of whose ranges overlaps the
	// file; answer 416 with Content-Range: bytes */size.
	rangeUnsatisfiable
)

// planRange decides how to answer the Range header values of a GET of a file
// of size bytes. It is the guard in front of http.ServeContent, whose own
// parser answers 416 to a header it cannot parse, serves bytes=-0 as an
// invalid 206 and has no range-count cap. Everything the contract says to
// ignore (no header, several headers, an unknown unit, bad syntax, a last byte
// before the first, numbers that overflow int64, more than maxRanges ranges,
// ranges asking for more bytes than the file has, an empty file) yields
// rangeWhole.
func planRange(values []string, size int64) (rangePlan, []byteRange) {
	if len(values) != 1 || size == 0 {
		return rangeWhole, nil
	}
	unit, set, ok := strings.Cut(values[0], "=")
	if !ok || !strings.EqualFold(unit, "bytes") {
		return rangeWhole, nil
	}
	var (
		ranges []byteRange
		specs  int
		total  int64
	)
	for spec := range strings.SplitSeq(set, ",") {
		spec = strings.Trim(spec, " \t")
		if spec == "" {
			// RFC 9110 §5.6.1: empty list elements are allowed and ignored.
			continue
		}
		if specs++; specs > maxRanges {
			return rangeWhole, nil
		}
		r, satisfiable, ok := parseSpec(spec, size)
		if !ok {
			return rangeWhole, nil
		}
		if !satisfiable {
			continue
		}
		// Both terms are at most size, so the sum cannot overflow before
		// it passes size and we stop.
		if total += r.length; total > size {
			return rangeWhole, nil
		}
		ranges = append(ranges, r)
	}
	switch {
	case specs == 0:
		return rangeWhole, nil
	case len(ranges) == 0:
		return rangeUnsatisfiable, nil
	}
	return rangePartial, ranges
}

// parseSpec parses one byte-range-spec or suffix-range-spec of RFC 9110
// §14.1.1 against a file of size > 0 bytes. ok is false when the spec does
// not parse; satisfiable is false when it parses but selects no byte.
func parseSpec(spec string, size int64) (r byteRange, satisfiable, ok bool) {
	first, last, found := strings.Cut(spec, "-")
	if !found {
		return byteRange{}, false, false
	}
	if first == "" {
		n, ok := parseDigits(last)
		if !ok {
			return byteRange{}, false, false
		}
		if n == 0 {
			// bytes=-0 asks for the last zero bytes: nothing.
			return byteRange{}, false, true
		}
		n = min(n, size)
		return byteRange{start: size - n, length: n}, true, true
	}
	start, ok := parseDigits(first)
	if !ok {
		return byteRange{}, false, false
	}
	end := size - 1
	if last != "" {
		e, ok := parseDigits(last)
		if !ok || e < start {
			return byteRange{}, false, false
		}
		end = min(e, end)
	}
	if start >= size {
		return byteRange{}, false, true
	}
	return byteRange{start: start, length: end - start + 1}, true, true
}

// parseDigits parses 1*DIGIT into an int64. Unlike strconv.ParseInt alone it
// refuses signs and spaces; a value that overflows int64 does not parse.
func parseDigits(s string) (int64, bool) {
	if s == "" {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil
}

// formatRanges writes ranges as a canonical Range header value that
// http.ServeContent parses into exactly these ranges.
func formatRanges(ranges []byteRange) string {
	var b strings.Builder
	b.WriteString("bytes=")
	for i, r := range ranges {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.FormatInt(r.start, 10))
		b.WriteByte('-')
		b.WriteString(strconv.FormatInt(r.start+r.length-1, 10))
	}
	return b.String()
}
