package web_test

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/ferryhq/ferry/web"
)

// stubClipboard makes the page's clipboard record what it is given in
// window.__copied, as headless Chromium has no clipboard to read back.
const stubClipboard = `(() => {
  window.__copied = '';
  Object.defineProperty(navigator, 'clipboard', {
    configurable: true,
    value: { writeText: async (t) => { window.__copied = t; } },
  });
})()`

// copyLink stores a file, shows it on the page, presses its "Copy link" and
// returns what went to the clipboard.
func (e *browserEnv) copyLink(id, name string, data []byte) string {
	e.t.Helper()
	putFile(e.t, e.backend, id, name, data)
	e.do(chromedp.Click(chromedp.ID("refresh")))
	item := fmt.Sprintf(`#files > li[data-id="%s"] [data-action=copy]`, id)
	e.waitFor("the file in the list", fmt.Sprintf(`!!document.querySelector(%s)`, jsString(item)))
	e.do(chromedp.Evaluate[chromedp.Void](stubClipboard), chromedp.Click(chromedp.CSS(item)))
	e.waitFor("the link on the clipboard", `window.__copied !== ''`)
	return evalJS[string](e, `window.__copied`)
}

// "Copy link" on a server with tokens copies a signed link to that one file
// that opens without a token, and never the token itself (issue 9: it used
// to copy /files/<id>?token=<the full-access token>).
func TestBrowserCopyLinkIsSigned(t *testing.T) {
	const token = "river-otter-42"
	e := newBrowserEnv(t, web.Config{Tokens: []string{token}, LinkSecrets: [][]byte{secret}})
	e.open("")
	e.do(chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`localStorage.setItem('ferry.token', %s)`, jsString(token))))
	e.open("")

	data := []byte("shared by a link that cannot delete anything")
	link := e.copyLink(fileID, "notes.txt", data)
	if strings.Contains(link, token) || strings.Contains(link, "token=") {
		t.Fatalf("the copied link carries the token: %q", link)
	}
	if !strings.HasPrefix(link, e.url+"/files/"+fileID+"?") || !strings.Contains(link, "exp=") || !strings.Contains(link, "sig=") {
		t.Fatalf("copied %q, want a signed link to /files/%s", link, fileID)
	}
	resp, err := http.Get(link)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != string(data) {
		t.Fatalf("GET the copied link without a token: %d %q", resp.StatusCode, body)
	}
	mints := 0
	for _, r := range e.http.requests("/api/files/" + fileID + "/link") {
		if r.Method == "POST" && r.Status == 200 && r.Auth == "Bearer "+token {
			mints++
		}
	}
	if mints != 1 {
		t.Errorf("the page asked for %d links with its token, want 1", mints)
	}
}

// Without tokens the server needs none: the plain link is copied.
func TestBrowserCopyLinkWithoutTokens(t *testing.T) {
	e := newBrowserEnv(t, web.Config{})
	e.open("")
	link := e.copyLink(fileID, "open.txt", []byte("anyone may read this"))
	if link != e.url+"/files/"+fileID {
		t.Fatalf("copied %q, want %q", link, e.url+"/files/"+fileID)
	}
}

// A token that may only upload (a kiosk): uploads complete, the list says
// it cannot be shown instead of asking for a token, and nothing is thrown.
func TestBrowserUploadOnlyToken(t *testing.T) {
	const kiosk = "kiosk-token"
	e := newBrowserEnv(t, web.Config{Tokens: []string{"admin"}, UploadTokens: []string{kiosk}})
	e.open("")
	e.do(chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`localStorage.setItem('ferry.token', %s)`, jsString(kiosk))))
	e.open("")
	e.waitFor("the list to say it may not be shown", `document.getElementById('files-status').textContent.includes('may upload but not list')`)
	if hidden := evalJS[bool](e, `document.getElementById('token-needed').hidden`); !hidden {
		t.Error("the page asks for a token although its token is valid")
	}
	f := genFile{Name: "kiosk.bin", Seed: 9, Size: oneMiB/2 + 3}
	e.dropFiles(f)
	e.waitFor("the upload to complete", allDone(1))
	e.checkStored(f)
}
