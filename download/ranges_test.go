package download

import (
	"slices"
	"strconv"
	"strings"
	"testing"
)

// manyRanges returns "bytes=" with n one-byte ranges, every other byte.
func manyRanges(n int) string {
	specs := make([]string, n)
	for i := range specs {
		specs[i] = strconv.Itoa(2*i) + "-" + strconv.Itoa(2*i)
	}
	return "bytes=" + strings.Join(specs, ",")
}

func TestPlanRange(t *testing.T) {
	const size = 1000
	whole := func(h string) []string { return []string{h} }
	tests := []struct {
		name   string
		values []string
		size   int64
		want   rangePlan
		ranges []byteRange
	}{
		{"no header", nil, size, rangeWhole, nil},
		{"closed", whole("bytes=0-99"), size, rangePartial, []byteRange{{0, 100}}},
		{"open", whole("bytes=100-"), size, rangePartial, []byteRange{{100, 900}}},
		{"suffix", whole("bytes=-100"), size, rangePartial, []byteRange{{900, 100}}},
		{"suffix longer than file", whole("bytes=-5000"), size, rangePartial, []byteRange{{0, 1000}}},
		{"last byte clamped", whole("bytes=990-5000"), size, rangePartial, []byteRange{{990, 10}}},
		{"unit upper case", whole("BYTES=0-1"), size, rangePartial, []byteRange{{0, 2}}},
		{"unit mixed case", whole("Bytes=0-1"), size, rangePartial, []byteRange{{0, 2}}},
		{"spaces around elements", whole("bytes= 0-1 ,\t3-4"), size, rangePartial, []byteRange{{0, 2}, {3, 2}}},
		{"empty elements", whole("bytes=,0-1,,3-4,"), size, rangePartial, []byteRange{{0, 2}, {3, 2}}},
		{"overlap within size", whole("bytes=0-10,5-15"), size, rangePartial, []byteRange{{0, 11}, {5, 11}}},
		{"unsatisfiable one dropped", whole("bytes=-0,0-1,2000-"), size, rangePartial, []byteRange{{0, 2}}},
		{"exactly 32 ranges", whole(manyRanges(32)), size, rangePartial, nil},
		{"ranges sum to the size", whole("bytes=0-499,500-999"), size, rangePartial, []byteRange{{0, 500}, {500, 500}}},

		{"suffix zero", whole("bytes=-0"), size, rangeUnsatisfiable, nil},
		{"first byte at end", whole("bytes=1000-"), size, rangeUnsatisfiable, nil},
		{"first byte past end", whole("bytes=1000-2000"), size, rangeUnsatisfiable, nil},
		{"all unsatisfiable", whole("bytes=-0,5000-"), size, rangeUnsatisfiable, nil},

		{"empty file", whole("bytes=0-1"), 0, rangeWhole, nil},
		{"empty file suffix zero", whole("bytes=-0"), 0, rangeWhole, nil},
		{"two Range headers", []string{"bytes=0-1", "bytes=2-3"}, size, rangeWhole, nil},
		{"unknown unit", whole("items=0-1"), size, rangeWhole, nil},
		{"no equals sign", whole("bytes 0-1"), size, rangeWhole, nil},
		{"no ranges", whole("bytes="), size, rangeWhole, nil},
		{"only commas", whole("bytes=,,"), size, rangeWhole, nil},
		{"no dash", whole("bytes=5"), size, rangeWhole, nil},
		{"last before first", whole("bytes=5-1"), size, rangeWhole, nil},
		{"last before first past end", whole("bytes=2000-1999"), size, rangeWhole, nil},
		{"huge first", whole("bytes=99999999999999999999-"), size, rangeWhole, nil},
		{"huge last", whole("bytes=0-99999999999999999999"), size, rangeWhole, nil},
		{"huge suffix", whole("bytes=-99999999999999999999"), size, rangeWhole, nil},
		{"double dash", whole("bytes=--1"), size, rangeWhole, nil},
		{"three parts", whole("bytes=0-1-2"), size, rangeWhole, nil},
		{"plus sign", whole("bytes=+1-2"), size, rangeWhole, nil},
		{"hex", whole("bytes=0x10-20"), size, rangeWhole, nil},
		{"space inside", whole("bytes=0 - 1"), size, rangeWhole, nil},
		{"just a dash", whole("bytes=-"), size, rangeWhole, nil},
		{"garbage", whole("garbage"), size, rangeWhole, nil},
		{"garbage after good", whole("bytes=0-1,x"), size, rangeWhole, nil},
		{"33 ranges", whole(manyRanges(33)), size, rangeWhole, nil},
		{"1000 ranges", whole(manyRanges(1000)), size, rangeWhole, nil},
		{"ranges ask more than the file", whole("bytes=0-599,400-999"), size, rangeWhole, nil},
		{"same range three times", whole("bytes=0-499,0-499,0-1"), size, rangeWhole, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ranges := planRange(tt.values, tt.size)
			if got != tt.want {
				t.Fatalf("planRange(%q, %d) = %v, want %v", tt.values, tt.size, got, tt.want)
			}
			if tt.ranges != nil && !slices.Equal(ranges, tt.ranges) {
				t.Fatalf("ranges %v, want %v", ranges, tt.ranges)
			}
			if got == rangePartial && len(ranges) == 0 || got != rangePartial && ranges != nil {
				t.Fatalf("plan %v with ranges %v", got, ranges)
			}
		})
	}
}

func TestFormatRanges(t *testing.T) {
	got := formatRanges([]byteRange{{0, 1}, {10, 90}, {999, 1}})
	if want := "bytes=0-0,10-99,999-999"; got != want {
		t.Fatalf("formatRanges = %q, want %q", got, want)
	}
	// What planRange makes of its own output is what it started from.
	plan, ranges := planRange([]string{got}, 1000)
	if plan != rangePartial || !slices.Equal(ranges, []byteRange{{0, 1}, {10, 90}, {999, 1}}) {
		t.Fatalf("round trip: %v %v", plan, ranges)
	}
}
