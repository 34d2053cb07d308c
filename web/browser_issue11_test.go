package web_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/ferryhq/ferry/storage"
	"github.com/ferryhq/ferry/upload"
	"github.com/ferryhq/ferry/web"
)

// filesShownJS is the ids of the Files list, top to bottom.
const filesShownJS = `[...document.querySelectorAll('#files > li')].map((li) => li.dataset.id)`

// listedIDs is every completed file's id in the server's order (newest first).
func (e *browserEnv) listedIDs() []string {
	e.t.Helper()
	_, body := e.fetch("/api/files?limit=1000")
	var page struct {
		Files []struct {
			ID string `json:"id"`
		} `json:"files"`
	}
	if err := json.Unmarshal(body, &page); err != nil {
		e.t.Fatalf("GET /api/files: %v: %s", err, body)
	}
	ids := make([]string, len(page.Files))
	for i, f := range page.Files {
		ids[i] = f.ID
	}
	return ids
}

// isPrefixJS is true when the Files list shows at least n items and they are
// the first ones of want, in its order.
func isPrefixJS(want []string, n int) string {
	w, _ := json.Marshal(want)
	return fmt.Sprintf(`(() => { const want = %s; const got = %s;
  return got.length >= %d && got.every((id, i) => id === want[i]); })()`, w, filesShownJS, n)
}

// Bug 1 of issue 11: 5 uploads, a reload, then 40 more. The Files list
// showed the 20 newest and then jumped to the 5 oldest, and "Show more"
// appended the missing ones after those. It must stay newest first with no
// gap, before and after "Show more".
func TestBrowserFilesKeepTheirOrder(t *testing.T) {
	e := newBrowserEnv(t, web.Config{})
	e.open("")
	var first, second []genFile
	for i := range 5 {
		first = append(first, genFile{Name: fmt.Sprintf("early-%02d.bin", i), Seed: uint32(100 + i), Size: 2000 + i})
	}
	e.dropFiles(first...)
	e.waitFor("the first five uploads", allDone(5))
	e.waitFor("the first five files listed", `document.querySelectorAll('#files > li').length === 5`)

	e.open("")
	for i := range 40 {
		second = append(second, genFile{Name: fmt.Sprintf("late-%02d.bin", i), Seed: uint32(200 + i), Size: 3000 + i})
	}
	e.dropFiles(second...)
	e.waitFor("the forty uploads", allDone(40))
	want := e.listedIDs()
	if len(want) != 45 {
		t.Fatalf("the server lists %d files, want 45", len(want))
	}
	e.waitFor("the newest files first, with no gap", isPrefixJS(want, 20))
	for range 5 {
		if evalJS[bool](e, `document.getElementById('more').hidden`) {
			break
		}
		shown := len(evalJS[[]string](e, filesShownJS))
		e.do(chromedp.Click(chromedp.ID("more")))
		e.waitFor("the next page", fmt.Sprintf(`%s.length > %d`, filesShownJS, shown))
	}
	e.waitFor("every file, newest first", isPrefixJS(want, len(want)))
	if n := len(evalJS[[]string](e, filesShownJS)); n != len(want) {
		t.Errorf("the list shows %d files, want %d", n, len(want))
	}
}

// tab opens a second tab in the same browser (same localStorage) on the
// same server.
func (e *browserEnv) tab() *browserEnv {
	e.t.Helper()
	ctx, cancel := chromedp.NewContext(e.ctx)
	e.t.Cleanup(cancel)
	// The first action opens the tab, which lives as long as the context
	// it ran with: run it with the tab's own.
	if err := chromedp.Do(ctx); err != nil {
		e.t.Fatalf("opening a second tab: %v", err)
	}
	b := *e
	b.ctx = ctx
	return &b
}

// Bug 2 of issue 11: tab A uploads a file; tab B is given the same file,
// finds the upload held by A ("an earlier connection is still finishing")
// and its Cancel deleted A's upload. A page must never delete an upload it
// does not hold: B says the upload is in use elsewhere and offers to forget
// it here, and A finishes.
func TestBrowserCancelInSecondTabLeavesTheUpload(t *testing.T) {
	e := newBrowserEnv(t, web.Config{Config: upload.Config{MaxFrame: smallFrame}})
	// Slow, and stopped at 2 MiB until tab B is done, so that A still
	// holds the upload however long a loaded machine takes.
	e.backend.setRate(oneMiB / 2)
	e.backend.hold(2 * oneMiB)
	e.open("")
	f := genFile{Name: "big.iso", Seed: 77, Size: 4 * oneMiB}
	e.dropFiles(f)
	e.waitFor("tab A to make progress", offsetAtLeast(f.Name, oneMiB/2))
	id := e.upload(f.Name).ID

	b := e.tab()
	b.open("")
	// The Unfinished panel lists it (the tabs share localStorage): its
	// Discard must not delete it either.
	discard := `#unfinished-list button`
	b.waitFor("the unfinished upload to be listed", `!document.getElementById('unfinished').hidden && !!document.querySelector('#unfinished-list button')`)
	b.do(chromedp.Click(chromedp.CSS(discard)))
	b.waitFor("Discard to say the upload is in use", `document.getElementById('unfinished-list').textContent.includes('In use elsewhere')`)
	if _, err := e.backend.Stat(context.Background(), id); errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("Discard in tab B deleted the upload tab A holds")
	}
	b.dropFiles(f)
	b.waitFor("tab B to find the upload in use", fmt.Sprintf(`(() => { const li = %s;
  return !!li && li.dataset.state === 'waiting' && li.dataset.id === %s; })()`, uploadItem(f.Name), jsString(id)))
	b.do(chromedp.Click(chromedp.CSS(`#uploads > li[data-name="big.iso"] [data-action=cancel]`)))
	b.waitFor("tab B to say the upload is in use elsewhere", fmt.Sprintf(`(() => { const li = %s;
  return !!li && li.querySelector('.upload-error').textContent.includes('in use elsewhere'); })()`, uploadItem(f.Name)))
	time.Sleep(500 * time.Millisecond) // a DELETE, if one were sent, lands by now
	if _, err := e.backend.Stat(context.Background(), id); errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("tab B deleted the upload tab A holds")
	}
	for _, r := range e.http.requests("/api/files/" + id) {
		if r.Method == "DELETE" {
			t.Errorf("tab B sent DELETE %s", r.Path)
		}
	}
	if got := evalJS[string](b, uploadItem(f.Name)+`.querySelector('[data-action=cancel]').textContent`); got != "Forget here" {
		t.Errorf("tab B offers %q, want \"Forget here\"", got)
	}
	b.do(chromedp.Click(chromedp.CSS(`#uploads > li[data-name="big.iso"] [data-action=cancel]`)))
	b.waitFor("tab B to forget the upload", `!document.querySelector('#uploads > li[data-name="big.iso"]')`)

	e.backend.release()
	e.backend.setRate(0)
	e.waitFor("tab A to complete", allDone(1))
	e.checkStored(f)
}

// Cancel pauses at once and can be undone for a few seconds: Undo carries
// on from where it was, nothing is deleted. A Cancel left alone deletes
// the upload (TestBrowserPauseResumeCancel).
func TestBrowserCancelCanBeUndone(t *testing.T) {
	e := newBrowserEnv(t, web.Config{Config: upload.Config{MaxFrame: smallFrame}})
	// Slow, and stopped at 1 MiB until Undo, so that the upload is still
	// under way when the test gets to Cancel, however loaded the machine.
	e.backend.setRate(oneMiB / 2)
	e.backend.hold(oneMiB)
	e.open("")
	f := genFile{Name: "keep-me.bin", Seed: 61, Size: 3 * oneMiB}
	e.dropFiles(f)
	e.waitFor("some progress", offsetAtLeast(f.Name, oneMiB/4))
	id := e.upload(f.Name).ID
	if !evalJS[bool](e, `(() => { const ev = new Event('beforeunload', { cancelable: true }); window.dispatchEvent(ev); return ev.defaultPrevented; })()`) {
		t.Error("leaving the page mid-upload does not ask first (beforeunload)")
	}
	e.do(chromedp.Click(chromedp.CSS(`#uploads > li[data-name="keep-me.bin"] [data-action=cancel]`)))
	e.waitFor("the Undo button", fmt.Sprintf(`(() => { const li = %s;
  return li.dataset.state === 'paused' && li.querySelector('[data-action=toggle]').textContent === 'Undo'
    && li.querySelector('.upload-status').textContent.startsWith('Cancelling in'); })()`, uploadItem(f.Name)))
	e.do(chromedp.Click(chromedp.CSS(`#uploads > li[data-name="keep-me.bin"] [data-action=toggle]`)))
	e.backend.release()
	e.backend.setRate(0)
	e.waitFor("the upload to complete", allDone(1))
	e.checkStored(f)
	time.Sleep(5500 * time.Millisecond) // past the undo time: nothing may be deleted late
	if _, err := e.backend.Stat(context.Background(), id); err != nil {
		t.Fatalf("the upload was deleted after Undo: %v", err)
	}
	if evalJS[bool](e, `(() => { const ev = new Event('beforeunload', { cancelable: true }); window.dispatchEvent(ev); return ev.defaultPrevented; })()`) {
		t.Error("leaving the page with nothing to upload asks first")
	}
}

// askVisible is true once the question about files already in the uploads
// shows on screen with text, and its Skip button has the keyboard focus.
func askVisible(text string) string {
	return fmt.Sprintf(`(() => { const box = document.getElementById('duplicate-ask');
  return !box.hidden && box.getBoundingClientRect().height > 0 && box.textContent.includes(%s)
    && document.activeElement === document.getElementById('duplicate-skip'); })()`, jsString(text))
}

// The same file dropped again after it finished is asked about; Escape
// skips it, and the page says so where a sighted person sees it.
func TestBrowserDuplicateAsksThenSkips(t *testing.T) {
	e := newBrowserEnv(t, web.Config{})
	e.open("")
	f := genFile{Name: "twice.txt", Seed: 71, Size: 5000}
	e.dropFiles(f)
	e.waitFor("the upload", allDone(1))
	e.dropFiles(f)
	e.waitFor("the question", askVisible("twice.txt is already in the uploads (finished)"))
	e.do(chromedp.KeyEvent(kb.Escape))
	e.waitFor("a visible notice", `(() => { const n = document.getElementById('notice');
  return !n.hidden && n.textContent.includes('Skipped twice.txt') && n.getBoundingClientRect().height > 0
    && document.getElementById('duplicate-ask').hidden; })()`)
	if n := len(e.uploads()); n != 1 {
		t.Errorf("%d uploads listed, want 1", n)
	}
	if n := e.backend.createCount(); n != 1 {
		t.Errorf("%d uploads created on the server, want 1", n)
	}
}

// The same file dropped while it is still being sent is asked about;
// "Upload again", chosen with the keyboard, sends a second copy as a new
// upload, and both copies arrive whole.
func TestBrowserDuplicateUploadAgain(t *testing.T) {
	e := newBrowserEnv(t, web.Config{Config: upload.Config{MaxFrame: smallFrame}})
	// Slow, and stopped at 1 MiB until the second copy is asked for, so
	// the first is still under way however loaded the machine.
	e.backend.setRate(oneMiB / 2)
	e.backend.hold(oneMiB)
	e.open("")
	f := genFile{Name: "again.bin", Seed: 73, Size: 2 * oneMiB}
	e.dropFiles(f)
	e.waitFor("some progress", offsetAtLeast(f.Name, oneMiB/8))
	e.dropFiles(f)
	e.waitFor("the question", askVisible("again.bin is already in the uploads (under way)"))
	// Shift+Tab from Skip reaches "Upload again"; Enter presses it.
	e.do(chromedp.KeyEvent(kb.Tab, chromedp.KeyModifiers(chromedp.ModifierShift)))
	if !evalJS[bool](e, `document.activeElement === document.getElementById('duplicate-again')`) {
		t.Fatal("Shift+Tab from Skip does not reach Upload again")
	}
	e.do(chromedp.KeyEvent(kb.Enter))
	e.backend.release()
	e.backend.setRate(0)
	e.waitFor("both copies", allDone(2))
	ups := e.uploads()
	if ups[0].ID == "" || ups[0].ID == ups[1].ID {
		t.Fatalf("the copies share the upload id %q and %q", ups[0].ID, ups[1].ID)
	}
	if n := e.backend.createCount(); n != 2 {
		t.Errorf("%d uploads created on the server, want 2", n)
	}
	want := f.content()
	for _, u := range ups {
		if res, got := e.fetch("/files/" + u.ID); res.StatusCode != http.StatusOK || !bytes.Equal(got, want) {
			t.Errorf("GET /files/%s: %s, %d bytes; want the %d bytes dropped", u.ID, res.Status, len(got), len(want))
		}
	}
}

// A folder chosen through "Choose a folder" uploads every file in it, named
// by its path inside the folder.
func TestBrowserFolderKeepsRelativePaths(t *testing.T) {
	e := newBrowserEnv(t, web.Config{})
	e.open("")
	root := filepath.Join(t.TempDir(), "album")
	files := map[string]genFile{
		"album/a.txt":          {Name: "a.txt", Seed: 81, Size: 1000},
		"album/2026/b.txt":     {Name: "b.txt", Seed: 82, Size: 2000},
		"album/2026/jan/c.txt": {Name: "c.txt", Seed: 83, Size: 3000},
	}
	for rel, f := range files {
		p := filepath.Join(filepath.Dir(root), filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, f.content(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	e.do(chromedp.SetUploadFiles(chromedp.ID("folder-input"), []string{root}))
	e.waitFor("the folder's uploads", allDone(len(files)))
	var want []genFile
	for rel, f := range files {
		f.Name = rel
		want = append(want, f)
	}
	e.checkStored(want...)
	e.waitFor("a visible notice", `!document.getElementById('notice').hidden`)
}

// A token the server does not know is "rejected", not "missing".
func TestBrowserSaysTokenRejected(t *testing.T) {
	e := newBrowserEnv(t, web.Config{Tokens: []string{"the-right-one"}})
	e.open("")
	e.do(chromedp.Evaluate[chromedp.Void](`localStorage.setItem('ferry.token', 'a-wrong-one')`))
	e.open("")
	e.waitFor("the page to say the token was rejected", `(() => { const n = document.getElementById('token-needed');
  return !n.hidden && n.textContent.includes('rejected'); })()`)
	// Escape closes Settings.
	e.do(chromedp.Focus(chromedp.ID("token")), chromedp.KeyEvent("\x1b"))
	e.waitFor("Settings to close", `document.getElementById('settings').hidden`)
}

// The Worker's SHA-256 (the vendored @noble/hashes in hasher.js) agrees with
// Go's, in the real browser, across its 4 MiB pieces.
func TestBrowserWorkerSHA256(t *testing.T) {
	e := newBrowserEnv(t, web.Config{})
	e.open("")
	f := genFile{Seed: 91, Size: 9*oneMiB + 7}
	sum := sha256.Sum256(f.content())
	got := evalJS[string](e, fmt.Sprintf(`(async () => {
  const gen = (seed, n) => { const a = new Uint8Array(n); let x = seed >>> 0;
    for (let i = 0; i < n; i++) { x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0; a[i] = x & 255; } return a; };
  const { hashInWorker } = await import('/static/verify.js');
  return hashInWorker(new Blob([gen(%d, %d)])).promise;
})()`, f.Seed, f.Size))
	if want := hex.EncodeToString(sum[:]); got != want {
		t.Fatalf("the Worker's SHA-256 %s, want %s", got, want)
	}
}

// Discard in the Unfinished panel deletes an upload nobody is sending: it
// takes the upload with `resume` and aborts it.
func TestBrowserDiscardDeletesAbandonedUpload(t *testing.T) {
	e := newBrowserEnv(t, web.Config{Config: upload.Config{MaxFrame: smallFrame}})
	// Slow, and stopped at 1 MiB until the pause, however loaded the
	// machine: the page sends at most 2 MiB past that, short of the end.
	e.backend.setRate(oneMiB / 2)
	e.backend.hold(oneMiB)
	e.open("")
	f := genFile{Name: "abandoned.bin", Seed: 95, Size: 4 * oneMiB}
	e.dropFiles(f)
	e.waitFor("some progress", offsetAtLeast(f.Name, oneMiB/4))
	id := e.upload(f.Name).ID
	e.do(chromedp.Click(chromedp.CSS(`#uploads > li[data-name="abandoned.bin"] [data-action=toggle]`)))
	e.waitFor("the pause", stateIs(f.Name, "paused"))
	e.backend.release()
	e.backend.setRate(0)
	e.open("")
	e.waitFor("the unfinished upload to be listed", `!!document.querySelector('#unfinished-list button')`)
	e.do(chromedp.Click(chromedp.CSS(`#unfinished-list button`)))
	e.waitFor("the panel to empty", `document.getElementById('unfinished').hidden`)
	deadline := time.Now().Add(pageTimeout)
	for {
		_, err := e.backend.Stat(context.Background(), id)
		if errors.Is(err, storage.ErrNotFound) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the discarded upload %s is still stored (Stat: %v)", id, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
