package storage_test

import (
	"io"
	"testing"

	"github.com/ferryhq/ferry/storage"
)

func TestSeekPosition(t *testing.T) {
	for _, tc := range []struct {
		pos, size, offset int64
		whence            int
		want              int64
		err               bool
	}{
		{pos: 5, size: 10, offset: 3, whence: io.SeekStart, want: 3},
		{pos: 5, size: 10, offset: 3, whence: io.SeekCurrent, want: 8},
		{pos: 5, size: 10, offset: -4, whence: io.SeekEnd, want: 6},
		{pos: 5, size: 10, offset: 20, whence: io.SeekStart, want: 20}, // past the end is allowed, as for files
		{pos: 5, size: 10, offset: -6, whence: io.SeekCurrent, want: 5, err: true},
		{pos: 5, size: 10, offset: 0, whence: 7, want: 5, err: true},
	} {
		got, err := storage.SeekPosition(tc.pos, tc.size, tc.offset, tc.whence)
		if got != tc.want || (err != nil) != tc.err {
			t.Errorf("SeekPosition(%d, %d, %d, %d) = %d, %v; want %d, error %v",
				tc.pos, tc.size, tc.offset, tc.whence, got, err, tc.want, tc.err)
		}
	}
}
