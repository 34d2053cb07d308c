package upload

import (
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// TestHandlerSurvivesKill checks the durability promise: an offset the server
// reported survives kill -9 of the server process, and a new process on the
// same directory resumes from at least that offset to the right digest.
func TestHandlerSurvivesKill(t *testing.T) {
	if testing.Short() {
		t.Skip("starts server processes")
	}
	dir := t.TempDir()
	data := randomBytes(t, 6<<20)

	cmd, url := startChild(t, "ferry", dir)
	p := dial(t, url)
	id := p.start("crash.bin", int64(len(data)), hexSum(data)).ID
	// Keep sending while we read, so that the kill comes with bytes still
	// arriving and some not yet durable.
	go func() {
		for off := 0; off < 5<<20; off += 256 << 10 {
			if p.conn.WriteMessage(websocket.BinaryMessage, data[off:off+256<<10]) != nil {
				return // the server is gone
			}
			time.Sleep(time.Millisecond) // spread the bytes over several checkpoints
		}
	}()
	last := p.waitOffset(1 << 20)
	t.Logf("killing the server after progress %+v", last)
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	p.conn.Close()

	_, url = startChild(t, "ferry", dir)
	q, ready := resume(t, url, id)
	if ready.Type != TypeReady || ready.Offset < last.Offset {
		t.Fatalf("resume after kill -9: %+v; the last reported offset was %d", ready, last.Offset)
	}
	t.Logf("last reported offset %d, resumed at %d", last.Offset, ready.Offset)
	q.sendChunks(data[ready.Offset:], 256<<10)
	q.end()
	if f := q.expect(TypeComplete); f.SHA256 != hexSum(data) {
		t.Errorf("sha256 %s, want %s", f.SHA256, hexSum(data))
	}
}
