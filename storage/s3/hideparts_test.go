package s3_test

import (
	"errors"
	"io"
	"testing"

	"github.com/ferryhq/ferry/storage/s3"
)

// TestHideParts: with Config.HideParts an instance cannot read uploads in
// progress (OpenPartial answers errors.ErrUnsupported), and an instance
// that stages parts, following an upload whose whole parts another
// instance hid, learns the same from its read instead of a not-found
// error, so ?follow=1 waits for the file.
func TestHideParts(t *testing.T) {
	s := newSite(t)
	hiding := s.backend(t, func(c *s3.Config) { c.HideParts = true })
	staging := s.backend(t, nil)
	data := payload(7, s3.DefaultPartSize+1000)
	id := newID()
	w := create(t, hiding, id, int64(len(data))+1)
	defer w.Close()
	write(t, w, data)
	checkpoint(t, w, "one whole part, hidden")

	if _, err := hiding.OpenPartial(t.Context(), id); !errors.Is(err, errors.ErrUnsupported) {
		t.Fatalf("OpenPartial with HideParts: %v; want errors.ErrUnsupported", err)
	}
	r, err := staging.OpenPartial(t.Context(), id)
	if err != nil {
		t.Fatalf("OpenPartial on the staging instance: %v", err)
	}
	defer r.Close()
	if _, err := io.ReadFull(r, make([]byte, 10)); !errors.Is(err, errors.ErrUnsupported) {
		t.Fatalf("reading a hidden part: %v; want errors.ErrUnsupported", err)
	}
	if _, err := staging.Stat(t.Context(), id); err != nil {
		t.Fatalf("the upload is still there: %v", err)
	}
}
