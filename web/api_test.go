package web_test

import (
	"context"
	"errors"
	"net/http"
	"sync/atomic"
	"testing"

	"github.com/ferryhq/ferry/storage"
	"github.com/ferryhq/ferry/upload"
	"github.com/ferryhq/ferry/web"
)

// TestDeleteFile deletes a file and an upload in progress, and refuses ids
// that are not canonical UUIDs without asking storage.
func TestDeleteFile(t *testing.T) {
	ts, b := newServer(t, web.Config{})
	putFile(t, b, fileID, "x", []byte("x"))
	const uploadID = "0192f8a4-7b3c-7d2e-8f10-1234567890ac"
	w, err := b.Create(context.Background(), uploadID, storage.Meta{Name: "y", Size: 10})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte("1")); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Checkpoint(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })

	for _, id := range []string{fileID, uploadID} {
		resp, body := do(t, http.MethodDelete, ts.URL+"/api/files/"+id, nil)
		if resp.StatusCode != http.StatusNoContent || body != "" {
			t.Fatalf("DELETE: status %d body %q, want 204", resp.StatusCode, body)
		}
		for _, method := range []string{http.MethodDelete, http.MethodGet} {
			resp, body = do(t, method, ts.URL+"/api/files/"+id, nil)
			if resp.StatusCode != http.StatusNotFound || !sameJSON(body, `{"error":"not_found"}`) {
				t.Fatalf("%s after DELETE: status %d %q, want 404 not_found", method, resp.StatusCode, body)
			}
		}
		if _, err := b.Stat(context.Background(), id); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("after DELETE, Stat: %v", err)
		}
	}
	resp, _ := do(t, http.MethodGet, ts.URL+"/files/"+fileID, nil)
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("GET /files/ after DELETE: status %d, want 404", resp.StatusCode)
	}

	spy := &deleteSpy{Backend: b}
	ts, _ = newServer(t, web.Config{Config: upload.Config{Backend: spy}})
	for _, bad := range []string{"not-a-uuid", "..", "%2e%2e", "0192F8A4-7B3C-7D2E-8F10-1234567890AB", fileID + "%00"} {
		resp, body := do(t, http.MethodDelete, ts.URL+"/api/files/"+bad, nil)
		if resp.StatusCode != http.StatusNotFound || !sameJSON(body, `{"error":"not_found"}`) {
			t.Errorf("DELETE %s: status %d %q, want 404 not_found", bad, resp.StatusCode, body)
		}
	}
	if n := spy.calls.Load(); n != 0 {
		t.Fatalf("invalid ids reached Delete %d times", n)
	}
}

// deleteSpy counts the Deletes that reach the backend.
type deleteSpy struct {
	storage.Backend
	calls atomic.Int32
}

func (s *deleteSpy) Delete(ctx context.Context, id string) error {
	s.calls.Add(1)
	return s.Backend.Delete(ctx, id)
}
