package web_test

// Browser tests: the uploader page in a real headless Chromium (Debian's
// /usr/bin/chromium, or $FERRY_CHROMIUM), driven with chromedp, against the
// real server over a real local storage directory.
//
// The harness wraps the server twice: an HTTP wrapper records every request
// (path, Range, status) and tracks the hijacked WebSocket connections so a
// test can cut them, and a storage wrapper records resumes and can slow
// writes down, so that "mid-upload" lasts long enough to act on with files of
// a few MiB. Each finished test leaves a screenshot in $FERRY_ARTIFACTS
// (default <repo>/artifacts/browser/), and one on failure.
//
// FERRY_UPDATE_DOCS=1 makes TestBrowserReadmeScreenshot rewrite
// docs/screenshot.png.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/ferryhq/ferry/events"
	"github.com/ferryhq/ferry/storage"
	"github.com/ferryhq/ferry/upload"
	"github.com/ferryhq/ferry/web"
)

// ---- scenarios ------------------------------------------------------------

// Three files dropped on the zone and one chosen through the file input all
// reach 100%, with the server holding exactly their bytes. The writes are
// slowed at first so the fourth file visibly waits in the queue while three
// upload at once (the default).
func TestBrowserUploadsDroppedAndChosenFiles(t *testing.T) {
	e := newBrowserEnv(t, web.Config{})
	// Slow, and stopped at 512 KiB, until the queue was seen at work: at
	// the rate alone the 1 MiB file is done in 4 s, sooner than a loaded
	// machine may let the test look.
	e.backend.setRate(oneMiB / 4)
	e.backend.hold(oneMiB / 2)
	e.open("")

	dropped := []genFile{
		{Name: "alpha.bin", Type: "application/octet-stream", Seed: 1, Size: 2*oneMiB + 12345},
		{Name: "bravo.bin", Type: "application/octet-stream", Seed: 2, Size: 3*oneMiB - 7},
		{Name: "charlie.txt", Type: "text/plain", Seed: 3, Size: oneMiB + 1},
	}
	chosen := genFile{Name: "delta.dat", Seed: 4, Size: 2*oneMiB + 777}
	e.dropFiles(dropped...)
	e.pickFiles(writeTempFile(t, chosen))

	// Three upload at once (the default) and the chosen file waits its turn.
	e.waitFor("three uploads under way and one queued", fmt.Sprintf(`(() => {
  const li = [...document.querySelectorAll('#uploads > li')];
  const active = li.filter((l) => ['hashing', 'connecting', 'uploading', 'finishing', 'waiting'].includes(l.dataset.state)).length;
  if (active > 3) return active + ' uploads run at once, want at most 3';
  return li.length === 4 && active === 3 && %s.dataset.state === 'queued';
})()`, uploadItem(chosen.Name)))
	e.backend.release()
	e.backend.setRate(0)

	// Watch the queue to the end: never more than 3 at once.
	deadline := time.Now().Add(pageTimeout)
	maxActive := 0
	for {
		us := e.uploads()
		active, done := 0, 0
		for _, u := range us {
			switch u.State {
			case "connecting", "hashing", "uploading", "finishing", "waiting":
				active++
			case "done":
				done++
			case "error":
				t.Fatalf("%s stopped: %s", u.Name, u.Error)
			}
		}
		maxActive = max(maxActive, active)
		if len(us) == 4 && done == 4 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out; uploads: %s", e.describe())
		}
		time.Sleep(30 * time.Millisecond)
	}
	if maxActive > 3 {
		t.Errorf("%d uploads ran at once, want at most 3", maxActive)
	}
	e.checkStored(append(dropped, chosen)...)
	e.waitFor("the completions to be announced", announced("live", chosen.Name+" uploaded."))

	total := evalJS[[]float64](e, `[document.getElementById('total-progress').value, document.getElementById('total-progress').max]`)
	if len(total) != 2 || total[0] != total[1] {
		t.Errorf("total progress %v, want full", total)
	}
	if got := evalJS[string](e, `document.getElementById('total-label').textContent`); !strings.HasPrefix(got, "4 of 4 files done") {
		t.Errorf("total label %q, want it to start with \"4 of 4 files done\"", got)
	}
	// The completed files are listed, each with a download link.
	e.waitFor("the file list", `document.querySelectorAll('#files > li').length === 4`)
	links := evalJS[[]string](e, `[...document.querySelectorAll('#files [data-action=download]')].map((a) => a.getAttribute('href'))`)
	for _, l := range links {
		if !strings.HasPrefix(l, "/files/") || !strings.Contains(l, "download=1") {
			t.Errorf("download link %q", l)
		}
	}
	if n := evalJS[int](e, `localStorage.getItem('ferry.uploads') === null ? 0 : Object.keys(JSON.parse(localStorage.getItem('ferry.uploads'))).length`); n != 0 {
		t.Errorf("%d uploads still remembered after completing, want none", n)
	}
}

// The server cuts the WebSocket mid-upload; the page reconnects by itself,
// resumes from the server's offset and completes.
func TestBrowserResumesAfterConnectionDrop(t *testing.T) {
	e := newBrowserEnv(t, web.Config{Config: upload.Config{MaxFrame: smallFrame}})
	// Slow, and stopped at 2 MiB, until the cut, so the cut is mid-upload
	// however long a loaded machine takes to get there.
	e.backend.setRate(oneMiB)
	e.backend.hold(2 * oneMiB)
	e.open("")
	f := genFile{Name: "river.bin", Type: "application/octet-stream", Seed: 11, Size: 5*oneMiB + 321}
	e.dropFiles(f)
	e.waitFor("a first durable MiB", offsetAtLeast(f.Name, oneMiB))
	id := e.upload(f.Name).ID
	// Released just before the cut (the session must be free to end).
	e.backend.release()
	if n := e.http.dropSockets(); n == 0 {
		t.Fatal("no WebSocket to drop")
	}
	e.backend.setRate(0)
	e.waitFor("the upload to complete", allDone(1))
	e.checkStored(f)
	resumes := e.backend.resumesOf(id)
	if len(resumes) == 0 || resumes[0].Offset < oneMiB {
		t.Errorf("resumes of %s: %+v; want one from at least %d bytes", id, resumes, oneMiB)
	}
	if n := e.backend.createCount(); n != 1 {
		t.Errorf("%d uploads created, want 1 (the page must resume, not start over)", n)
	}
}

// A reload mid-upload, then choosing the same file again, resumes from the
// server's offset instead of starting over.
func TestBrowserResumesAfterReloadAndReselect(t *testing.T) {
	e := newBrowserEnv(t, web.Config{Config: upload.Config{MaxFrame: smallFrame}})
	// Slow, and stopped at 2 MiB, until the reload, so the reload is
	// mid-upload however long a loaded machine takes to get there.
	e.backend.setRate(oneMiB)
	e.backend.hold(2 * oneMiB)
	e.open("")
	f := genFile{Name: "archive.tar", Seed: 21, Size: 5 * oneMiB}
	path := writeTempFile(t, f)
	e.pickFiles(path)
	e.waitFor("a first durable MiB", offsetAtLeast(f.Name, oneMiB))
	u := e.upload(f.Name)
	if u.ID == "" {
		t.Fatalf("no id shown for %s", f.Name)
	}
	if got := evalJS[string](e, `localStorage.getItem('ferry.uploads') || ''`); !strings.Contains(got, u.ID) {
		t.Fatalf("localStorage does not remember the upload: %q", got)
	}

	e.do(chromedp.Reload())
	e.backend.release()
	e.backend.setRate(0)
	e.waitFor("the page to start again", `document.documentElement.dataset.ready === 'true'`)
	e.waitFor("the unfinished upload to be listed", fmt.Sprintf(
		`!document.getElementById('unfinished').hidden && document.getElementById('unfinished-list').textContent.includes(%s)`, jsString(f.Name)))
	e.screenshotTo(filepath.Join(artifactsDir(t), artifactName(t)+"-after-reload.png"))

	e.pickFiles(path)
	e.waitFor("the upload to complete", allDone(1))
	e.checkStored(f)
	resumes := e.backend.resumesOf(u.ID)
	if len(resumes) == 0 {
		t.Fatalf("upload %s was never resumed", u.ID)
	}
	if resumes[0].Offset < int64(u.Value) || resumes[0].Offset == 0 {
		t.Errorf("resumed from %d, want at least the %v bytes the page showed saved before the reload", resumes[0].Offset, u.Value)
	}
	if n := e.backend.createCount(); n != 1 {
		t.Errorf("%d uploads created, want 1", n)
	}
	if got := evalJS[string](e, `localStorage.getItem('ferry.uploads') || ''`); strings.Contains(got, u.ID) {
		t.Errorf("the completed upload is still remembered: %q", got)
	}
}

// A file over the server's limit, and one of a type the server does not
// take, show errors a person understands, also announced to screen readers.
func TestBrowserShowsTooLargeAndForbiddenType(t *testing.T) {
	e := newBrowserEnv(t, web.Config{Config: upload.Config{MaxSize: oneMiB, AllowedTypes: []string{"image/*", "application/octet-stream"}}})
	e.open("")
	// The page states the limits (GET /api/limits), narrows the picker to
	// the allowed types, and refuses both files before sending a byte.
	e.waitFor("the limits to be shown", `document.getElementById('limits').textContent === 'Files up to 1 MiB, of these types: image/*, application/octet-stream.'`)
	if got := evalJS[string](e, `document.getElementById('file-input').accept`); got != "image/*,application/octet-stream" {
		t.Errorf("the picker accepts %q, want the allowed types", got)
	}
	big := genFile{Name: "huge.iso", Type: "application/octet-stream", Seed: 31, Size: oneMiB + 1}
	page := genFile{Name: "page.html", Type: "text/html", Data: []byte("<!doctype html><title>hi</title><p>hello")}
	e.dropFiles(big, page)
	for _, c := range []struct {
		f    genFile
		want string
	}{
		{big, "(1,048,577 bytes) is larger than the 1 MiB (1,048,576 bytes) limit"},
		{page, "does not accept this type of file"},
	} {
		e.waitFor("the error", stateIs(c.f.Name, "error"))
		if u := e.upload(c.f.Name); !strings.Contains(u.Error, c.want) {
			t.Errorf("%s: error text %q, want it to say %q", c.f.Name, u.Error, c.want)
		}
		e.waitFor("the alert", announced("live-alert", c.want))
	}
	if got := evalJS[string](e, `document.getElementById('total-label').textContent`); !strings.Contains(got, "2 stopped") {
		t.Errorf("total label %q, want it to count 2 stopped uploads", got)
	}
	if n := len(e.http.requests("/ws/upload")); n != 0 {
		t.Errorf("the page opened %d upload connections for files it knew the server refuses", n)
	}
	res, body := e.fetch("/api/files")
	var list struct{ Files []json.RawMessage }
	if err := json.Unmarshal(body, &list); err != nil || res.StatusCode != http.StatusOK || len(list.Files) != 0 {
		t.Errorf("GET /api/files: %s %s; want no files", res.Status, body)
	}
}

// TestBrowserShowsARefusalsMessage: an upload a pre-create hook refuses
// (the WebSocket's forbidden) shows the hook's own words, not the page's
// text for a token that may not upload.
func TestBrowserShowsARefusalsMessage(t *testing.T) {
	gate := func(_ context.Context, _ string, meta storage.Meta) (storage.Meta, error) {
		return meta, &storage.RefusedError{Message: "uploads are closed for the weekend"}
	}
	e := newBrowserEnvWrapped(t, web.Config{}, func(b storage.Backend) storage.Backend {
		return events.Wrap(b, events.NewBus(), gate)
	})
	e.open("")
	f := genFile{Name: "refused.bin", Type: "application/octet-stream", Seed: 7, Size: 1000}
	e.dropFiles(f)
	e.waitFor("the error", stateIs(f.Name, "error"))
	const want = "uploads are closed for the weekend"
	if u := e.upload(f.Name); !strings.Contains(u.Error, want) || strings.Contains(u.Error, "token") {
		t.Errorf("error text %q, want the hook's %q", u.Error, want)
	}
}

// An uploaded WAV plays in the page's <audio> element, which seeks through
// Range requests that the server answers with 206.
func TestBrowserMediaSeeksWithRange(t *testing.T) {
	e := newBrowserEnv(t, web.Config{Config: upload.Config{AllowedTypes: []string{"audio/*", "video/*", "image/*"}}})
	e.open("")
	f := genFile{Name: "tone.wav", Data: wavFile(60, 22050)}
	e.pickFiles(writeTempFile(t, f))
	e.waitFor("the upload to complete", allDone(1))
	e.checkStored(f)
	id := e.upload(f.Name).ID
	e.http.downloadRate.Store(256 << 10)

	item := fmt.Sprintf(`#files > li[data-id="%s"]`, id)
	e.waitFor("the file list", fmt.Sprintf(`!!document.querySelector('%s [data-action=play]:not([hidden])')`, item))
	e.do(chromedp.Click(chromedp.CSS(item + " [data-action=play]")))
	e.waitFor("the media metadata", fmt.Sprintf(`(() => { const m = document.querySelector('%s audio');
  if (m && m.error) return 'media error ' + m.error.code;
  return !!m && m.readyState >= 1 && Number.isFinite(m.duration) && m.duration > 50; })()`, item))
	e.do(chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`(() => { const m = document.querySelector('%s audio');
  m.addEventListener('seeked', () => { m.dataset.seeked = String(m.currentTime); });
  m.currentTime = m.duration * 0.85; })()`, item)))
	e.waitFor("the seek", fmt.Sprintf(`(() => { const m = document.querySelector('%s audio');
  return !!m.dataset.seeked && m.readyState >= 2; })()`, item))
	at := evalJS[float64](e, fmt.Sprintf(`Number(document.querySelector('%s audio').dataset.seeked)`, item))
	if at < 45 {
		t.Errorf("seeked to %.1fs, want about 51s", at)
	}

	var partial []loggedRequest
	seekedPast := false
	for _, r := range e.http.requests("/files/" + id) {
		if r.Method == http.MethodGet && r.Status == http.StatusPartialContent {
			partial = append(partial, r)
			if start, ok := rangeStart(r.Range); ok && start > int64(len(f.Data))/2 {
				seekedPast = true
			}
		}
	}
	if len(partial) == 0 {
		t.Fatalf("the server answered no 206 to the media element; requests: %+v", e.http.requests("/files/"))
	}
	if !seekedPast {
		t.Errorf("no Range request started past the middle of the file after the seek; 206s: %+v", partial)
	}
}

// rangeStart is the first byte of a "bytes=a-..." header.
func rangeStart(h string) (int64, bool) {
	spec, ok := strings.CutPrefix(h, "bytes=")
	if !ok {
		return 0, false
	}
	a, _, _ := strings.Cut(spec, "-")
	n, err := strconv.ParseInt(a, 10, 64)
	return n, err == nil
}

// A server with tokens: the page tells "unauthorized" from "unreachable",
// asks for the token, and once it is saved the waiting upload carries on;
// the thumbnail and the links carry the token.
func TestBrowserAsksForToken(t *testing.T) {
	const token = "river-otter-42"
	e := newBrowserEnv(t, web.Config{Tokens: []string{token}})
	e.open("")
	e.waitFor("the token request", `!document.getElementById('settings').hidden && !document.getElementById('token-needed').hidden`)

	f := genFile{Name: "harbour.png", Type: "image/png", Data: pngFile(96, 64)}
	e.dropFiles(f)
	e.waitFor("the upload to stop", stateIs(f.Name, "error"))
	if u := e.upload(f.Name); !strings.Contains(u.Error, "access token") {
		t.Errorf("error text %q, want it to ask for the access token", u.Error)
	}
	refused := false
	for _, r := range e.http.requests("/ws/upload") {
		refused = refused || r.Status == http.StatusUnauthorized
	}
	if !refused {
		t.Errorf("the server never refused the WebSocket with 401; requests: %+v", e.http.requests("/ws/"))
	}

	e.do(
		chromedp.SendKeys(chromedp.ID("token"), token),
		chromedp.Click(chromedp.CSS("#settings-form button[type=submit]")),
	)
	e.waitFor("the upload to complete", allDone(1))
	e.checkStored(f)
	id := e.upload(f.Name).ID
	e.waitFor("the thumbnail", fmt.Sprintf(`(() => { const img = document.querySelector('#files > li[data-id="%s"] .file-thumb img');
  return !!img && img.complete && img.naturalWidth === 96; })()`, id))
	for _, sel := range []string{".file-thumb img", "[data-action=download]", ".file-name"} {
		attr := "href"
		if strings.Contains(sel, "img") {
			attr = "src"
		}
		got := evalJS[string](e, fmt.Sprintf(`document.querySelector('#files > li[data-id="%s"] %s').getAttribute('%s')`, id, sel, attr))
		if !strings.Contains(got, "token="+token) {
			t.Errorf("%s %s=%q, want ?token=", sel, attr, got)
		}
	}
	if got := evalJS[string](e, `localStorage.getItem('ferry.token') || ''`); got != token {
		t.Errorf("stored token %q", got)
	}
}

// With the server gone the page says so and keeps trying; when the server
// is back ("Retry now" skips the wait) the upload completes.
func TestBrowserServerUnreachable(t *testing.T) {
	e := newBrowserEnv(t, web.Config{})
	e.open("")
	e.stopServer()
	f := genFile{Name: "lighthouse.bin", Seed: 41, Size: oneMiB + 4096}
	e.dropFiles(f)
	e.waitFor("the unreachable notice", fmt.Sprintf(`(() => { const li = %s;
  return !!li && li.dataset.state === 'waiting' && li.querySelector('.upload-error').textContent.includes('Cannot reach the server'); })()`, uploadItem(f.Name)))
	e.screenshotTo(filepath.Join(artifactsDir(t), artifactName(t)+"-unreachable.png"))

	e.restartServer()
	e.waitFor("the retry button", fmt.Sprintf(`(() => { const li = %s; const b = li.querySelector('[data-action=retry-now]');
  return li.dataset.state === 'done' || (li.dataset.state === 'waiting' && !b.hidden); })()`, uploadItem(f.Name)))
	// Press "Retry now" if the page is still waiting (in the page, so the
	// backoff timer cannot hide the button between a check and a click).
	evalJS[bool](e, uploadItem(f.Name)+`.querySelector('[data-action=retry-now]:not([hidden])')?.click() ?? false`)
	e.waitFor("the upload to complete", allDone(1))
	e.checkStored(f)
}

// Pause stops the upload and keeps it resumable; resume continues from the
// server's offset; cancel aborts and the server deletes the bytes.
func TestBrowserPauseResumeCancel(t *testing.T) {
	e := newBrowserEnv(t, web.Config{Config: upload.Config{MaxFrame: smallFrame}})
	// Slow, and stopped at 1 MiB, until both were acted on: however long a
	// loaded machine takes to get to the clicks, neither upload can end
	// (the page sends at most 1 MiB past what the server has received,
	// which is at most 1 MiB past what it has written).
	e.backend.setRate(oneMiB / 4)
	e.backend.hold(oneMiB)
	e.open("")
	a := genFile{Name: "keep.bin", Seed: 51, Size: 4 * oneMiB}
	b := genFile{Name: "drop.bin", Seed: 52, Size: 4 * oneMiB}
	e.dropFiles(a, b)
	e.waitFor("keep.bin to make progress", offsetAtLeast(a.Name, oneMiB/4))
	e.waitFor("drop.bin to start", fmt.Sprintf(`(() => { const li = %s; return !!li.dataset.id && ['uploading', 'finishing'].includes(li.dataset.state); })()`, uploadItem(b.Name)))

	e.do(chromedp.Click(chromedp.CSS(`#uploads > li[data-name="keep.bin"] [data-action=toggle]`)))
	e.waitFor("keep.bin to pause", stateIs(a.Name, "paused"))
	if got := evalJS[string](e, uploadItem(a.Name)+`.querySelector('[data-action=toggle]').textContent`); got != "Resume" {
		t.Errorf("the paused upload's button says %q, want Resume", got)
	}

	bID := e.upload(b.Name).ID
	e.do(chromedp.Click(chromedp.CSS(`#uploads > li[data-name="drop.bin"] [data-action=cancel]`)))
	// The page has stopped sending both: the writes held at 1 MiB may go
	// on, so that the connections' sessions end and let go of the uploads.
	e.backend.release()
	e.waitFor("drop.bin to leave the list", `!document.querySelector('#uploads > li[data-name="drop.bin"]')`)
	deadline := time.Now().Add(pageTimeout)
	for {
		_, err := e.backend.Stat(context.Background(), bID)
		if errors.Is(err, storage.ErrNotFound) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the cancelled upload %s is still stored (Stat: %v)", bID, err)
		}
		time.Sleep(50 * time.Millisecond)
	}

	aID := e.upload(a.Name).ID
	e.backend.setRate(0)
	e.do(chromedp.Click(chromedp.CSS(`#uploads > li[data-name="keep.bin"] [data-action=toggle]`)))
	e.waitFor("keep.bin to complete", allDone(1))
	e.checkStored(a)
	if r := e.backend.resumesOf(aID); len(r) == 0 || r[0].Offset == 0 {
		t.Errorf("resumes of the paused upload: %+v; want one from a non-zero offset", r)
	}
	if got := evalJS[string](e, `document.getElementById('total-label').textContent`); !strings.HasPrefix(got, "1 of 1 file done") {
		t.Errorf("total label %q after the cancel, want \"1 of 1 file done…\"", got)
	}
}

// On a phone-sized screen in the dark theme nothing overflows sideways; the
// controls are reachable and visibly focused from the keyboard, and a file
// can be deleted with the keyboard alone.
func TestBrowserPhoneDarkAndKeyboard(t *testing.T) {
	e := newBrowserEnv(t, web.Config{Config: upload.Config{MaxSize: 2 * oneMiB}})
	e.do(chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2)))
	e.emulateColorScheme("dark")
	e.open("")
	ok := genFile{Name: "a-file-with-a-rather-long-name-from-a-phone-camera-2026-01-01.jpg.bin", Seed: 61, Size: 300_000}
	big := genFile{Name: "too-big.bin", Seed: 62, Size: 3 * oneMiB}
	e.dropFiles(ok, big)
	e.waitFor("the first upload", stateIs(ok.Name, "done"))
	e.waitFor("the error", stateIs(big.Name, "error"))
	e.waitFor("the file list", `document.querySelectorAll('#files > li').length === 1`)

	if overflow := evalJS[int](e, `document.documentElement.scrollWidth - window.innerWidth`); overflow > 0 {
		t.Errorf("the page is %dpx wider than a 390px screen", overflow)
	}
	bg := evalJS[string](e, `getComputedStyle(document.documentElement).backgroundColor`)
	if l := luminance(bg); l < 0 || l > 0.25 {
		t.Errorf("background %q in the dark theme, want a dark colour", bg)
	}
	// Every visible control has a name a screen reader can say.
	if unnamed := evalJS[[]string](e, `[...document.querySelectorAll('button, a[href], input:not([tabindex="-1"]), progress')]
  .filter((el) => el.offsetParent !== null)
  .filter((el) => !(el.getAttribute('aria-label') || el.getAttribute('aria-labelledby') || el.labels?.length || el.textContent.trim()))
  .map((el) => el.outerHTML.slice(0, 80))`); len(unnamed) > 0 {
		t.Errorf("controls without an accessible name: %q", unnamed)
	}

	// Tab from the top of the page to the "Choose files" button.
	focusedChoose := false
	for range 8 {
		e.do(chromedp.KeyEvent("\t"))
		if evalJS[string](e, `document.activeElement.id`) == "choose" {
			focusedChoose = true
			break
		}
	}
	if !focusedChoose {
		t.Fatalf("Tab never reached the Choose files button")
	}
	if style := evalJS[string](e, `getComputedStyle(document.activeElement).outlineStyle`); style == "none" {
		t.Errorf("the focused button shows no outline")
	}

	// Delete with the keyboard: Enter, then Enter again to confirm.
	id := e.upload(ok.Name).ID
	e.do(chromedp.Focus(chromedp.CSS(fmt.Sprintf(`#files > li[data-id="%s"] [data-action=delete]`, id))))
	e.do(chromedp.KeyEvent("\r"))
	e.waitFor("the delete confirmation", `document.activeElement.textContent === 'Confirm delete'`)
	e.do(chromedp.KeyEvent("\r"))
	e.waitFor("the file to leave the list", `document.querySelectorAll('#files > li').length === 0`)
	if res, _ := e.fetch("/files/" + id); res.StatusCode != http.StatusNotFound {
		t.Errorf("GET /files/%s after delete: %s, want 404", id, res.Status)
	}
}

// luminance is the relative brightness (0 black, 1 white) of a CSS
// "rgb(r, g, b)" colour, or -1 when it does not parse.
func luminance(css string) float64 {
	var r, g, b float64
	if _, err := fmt.Sscanf(strings.ReplaceAll(css, " ", ""), "rgb(%g,%g,%g)", &r, &g, &b); err != nil {
		return -1
	}
	return (0.2126*r + 0.7152*g + 0.0722*b) / 255
}

// The README's picture: an upload left unfinished by a reload, offered
// for Resume without choosing the file again; finished uploads (a picture
// with its thumbnail, a sound with its player button) and one in progress,
// in the light theme. FERRY_UPDATE_DOCS=1 writes it to docs/screenshot.png;
// otherwise it only goes to the artifacts.
func TestBrowserReadmeScreenshot(t *testing.T) {
	e := newBrowserEnvSetup(t, web.Config{Config: upload.Config{MaxFrame: smallFrame, MaxSize: 4 << 30}}, nil,
		browserSetup{profile: allowOnEveryVisit})
	e.do(chromedp.EmulateViewport(1000, 900))
	e.emulateColorScheme("light")
	left := genFile{Name: "interview-raw.mov", Type: "video/quicktime", Seed: 71, Size: 4 * oneMiB}
	e.startThenReload(left, writeTempFile(t, left))
	e.waitFor("Resume in the Unfinished panel", unfinishedWithResume(left.Name))
	done := []genFile{
		{Name: "harbour-at-dawn.png", Type: "image/png", Data: pngFile(320, 200)},
		{Name: "foghorn.wav", Type: "audio/wav", Data: wavFile(3, 8000)},
	}
	e.dropFiles(done...)
	e.waitFor("the first uploads", allDone(len(done)))
	e.waitFor("the file list", `document.querySelectorAll('#files > li').length === 2 &&
  [...document.querySelectorAll('#files img')].every((img) => img.complete && img.naturalWidth > 0)`)

	e.backend.setRate(oneMiB)
	big := genFile{Name: "survey-2026.tar.gz", Type: "application/gzip", Seed: 72, Size: 6 * oneMiB}
	e.dropFiles(big)
	e.waitFor("the big upload to be under way", offsetAtLeast(big.Name, 5*oneMiB/2))
	e.waitFor("a time-left estimate", fmt.Sprintf(`%s.querySelector('.upload-detail').textContent.includes('left')`, uploadItem(big.Name)))
	e.do(chromedp.Evaluate[chromedp.Void](`window.scrollTo(0, 0)`))
	shot, err := chromedp.Run(e.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	if u := e.upload(big.Name); u.State != "uploading" && u.State != "finishing" || u.Pct == "100%" {
		t.Errorf("the in-progress upload shows %q %s", u.State, u.Pct)
	}
	e.backend.setRate(0)
	if err := os.WriteFile(filepath.Join(artifactsDir(t), "readme.png"), shot, 0o644); err != nil {
		t.Log(err)
	}
	if os.Getenv("FERRY_UPDATE_DOCS") == "1" {
		if err := os.WriteFile(filepath.Join("..", "docs", "screenshot.png"), shot, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
