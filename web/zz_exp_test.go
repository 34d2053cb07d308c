package web_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

const expPage = `<!doctype html><html><body style="margin:0"><div id=z style="width:800px;height:600px">drop</div><button id=b style="position:absolute;left:10px;top:700px">go</button><script>
window.log = [];
document.addEventListener('dragover', (e) => { e.preventDefault(); });
document.addEventListener('dragenter', (e) => { e.preventDefault(); });
document.addEventListener('drop', (e) => {
  e.preventDefault();
  const items = Array.from(e.dataTransfer.items);
  log.push('items ' + items.length + ' types ' + Array.from(e.dataTransfer.types));
  const ps = items.map((it) => it.getAsFileSystemHandle ? it.getAsFileSystemHandle() : null);
  Promise.all(ps).then(async (hs) => {
    for (const h of hs) {
      log.push('handle ' + (h && h.kind) + ' ' + (h && h.name));
      if (!h) continue;
      log.push('perm ' + await h.queryPermission({mode:'read'}));
      const f = await h.getFile();
      log.push('file ' + f.name + ' ' + f.size);
      const db = await new Promise((res, rej) => { const r = indexedDB.open('t', 1); r.onupgradeneeded = () => r.result.createObjectStore('h'); r.onsuccess = () => res(r.result); r.onerror = () => rej(r.error); });
      await new Promise((res, rej) => { const tx = db.transaction('h', 'readwrite'); tx.objectStore('h').put(h, 'k'); tx.oncomplete = res; tx.onerror = () => rej(tx.error); });
      log.push('stored');
    }
  }).catch((err) => log.push('err ' + err));
});
document.getElementById('b').addEventListener('click', async () => {
  try {
    const db = await new Promise((res, rej) => { const r = indexedDB.open('t', 1); r.onupgradeneeded = () => r.result.createObjectStore('h'); r.onsuccess = () => res(r.result); r.onerror = () => rej(r.error); });
    const h = await new Promise((res, rej) => { const tx = db.transaction('h'); const q = tx.objectStore('h').get('k'); q.onsuccess = () => res(q.result); q.onerror = () => rej(q.error); });
    log.push('loaded ' + (h && h.name));
    log.push('q ' + await h.queryPermission({mode:'read'}));
    log.push('r ' + await h.requestPermission({mode:'read'}));
    const f = await h.getFile();
    log.push('file2 ' + f.name + ' ' + f.size);
  } catch (err) { log.push('err2 ' + err); }
});
</script></body></html>`

func TestZZExp(t *testing.T) {
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		_, _ = w.Write([]byte(expPage))
	}))
	defer ts.Close()
	p := filepath.Join(t.TempDir(), "big.bin")
	os.WriteFile(p, make([]byte, 3<<20), 0o644)
	udd := t.TempDir()
	if os.Getenv("EXP_PREFS") != "" {
		os.MkdirAll(filepath.Join(udd, "Default"), 0o755)
		prefs := strings.ReplaceAll(os.Getenv("EXP_PREFS"), "ORIGIN", ts.URL)
		os.WriteFile(filepath.Join(udd, "Default", "Preferences"), []byte(prefs), 0o644)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(chromiumPath(t)), chromedp.UserDataDir(udd), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU)
	for _, f := range strings.Fields(os.Getenv("EXP_FLAGS")) {
		k, v, ok := strings.Cut(f, "=")
		if ok {
			opts = append(opts, chromedp.Flag(k, v))
		} else {
			opts = append(opts, chromedp.Flag(k, true))
		}
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	ctx, cancelB := chromedp.NewContext(allocCtx)
	defer cancelB()
	c, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(chromedp.Do(c, chromedp.Navigate(ts.URL+"/")))
	must(chromedp.Do(c, chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		if _, err := chromedp.Call(ctx, input.SetInterceptDrags, input.SetInterceptDragsParams{Enabled: false}); err != nil {
			t.Logf("setInterceptDrags: %v", err)
		}
		data := &input.DragData{Items: []*input.DragDataItem{}, Files: []string{p}, DragOperationsMask: 1}
		for _, typ := range []input.DispatchDragEventType{input.DispatchDragEventTypeDragEnter, input.DispatchDragEventTypeDragOver, input.DispatchDragEventTypeDrop} {
			if _, err := chromedp.Call(ctx, input.DispatchDragEvent, input.DispatchDragEventParams{Type: typ, X: 100, Y: 100, Data: data}); err != nil {
				return err
			}
		}
		return nil
	})))
	time.Sleep(time.Second)
	show := func() {
		v, err := chromedp.Run(c, chromedp.Evaluate[[]string](`log`, func(p *runtime.EvaluateParams) {}))
		must(err)
		t.Logf("log: %q", v)
	}
	show()
	if os.Getenv("EXP_TAB") != "" {
		c2, cancel2 := chromedp.NewContext(ctx)
		defer cancel2()
		must(chromedp.Do(c2, chromedp.Navigate(ts.URL+"/")))
	}
	must(chromedp.Do(c, chromedp.Reload()))
	time.Sleep(500 * time.Millisecond)
	must(chromedp.Do(c, chromedp.Click(chromedp.ID("b"))))
	time.Sleep(2 * time.Second)
	show()
}
