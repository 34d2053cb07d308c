package web

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/ferryhq/ferry/internal/httperr"
)

// all: keeps files whose names start with "_" (the vendored
// static/vendor/noble-hashes/_md.js and _u64.js), which embed skips otherwise.
//
//go:embed all:static
var staticFS embed.FS

// asset is one embedded file with its validator, computed once at start-up.
type asset struct {
	body  []byte
	etag  string
	ctype string
}

// assets serves the embedded uploader page. Files are small and few, so they
// are held in memory with a content-hash ETag: browsers revalidate with
// "no-cache" and get 304s, and a new release is never hidden by a stale cache.
type assets struct {
	files map[string]asset
}

func newAssets() (*assets, error) {
	a := &assets{files: map[string]asset{}}
	err := fs.WalkDir(staticFS, "static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		body, err := staticFS.ReadFile(p)
		if err != nil {
			return fmt.Errorf("read %s: %w", p, err)
		}
		sum := sha256.Sum256(body)
		ctype := mime.TypeByExtension(path.Ext(p))
		if ctype == "" {
			ctype = http.DetectContentType(body)
		}
		a.files[strings.TrimPrefix(p, "static/")] = asset{
			body:  body,
			etag:  `"` + hex.EncodeToString(sum[:16]) + `"`,
			ctype: ctype,
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if _, ok := a.files["index.html"]; !ok {
		return nil, fmt.Errorf("static/index.html is missing")
	}
	return a, nil
}

func (a *assets) index(c echo.Context) error { return a.serve(c, "index.html") }

func (a *assets) file(c echo.Context) error { return a.serve(c, c.Param("*")) }

func (a *assets) serve(c echo.Context, name string) error {
	f, ok := a.files[name]
	if !ok {
		return httperr.ErrNotFound
	}
	h := c.Response().Header()
	h.Set("Cache-Control", "no-cache")
	h.Set("ETag", f.etag)
	h.Set("Content-Type", f.ctype)
	if name == "index.html" {
		// The page needs nothing from other origins; saying so blunts any
		// injected markup.
		h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' blob: data:; media-src 'self' blob:; connect-src 'self' ws: wss:; style-src 'self'; script-src 'self'; frame-ancestors 'none'")
		h.Set("Referrer-Policy", "same-origin")
	}
	// ServeContent handles If-None-Match/304 and HEAD for us.
	http.ServeContent(c.Response(), c.Request(), name, time.Time{}, bytes.NewReader(f.body))
	return nil
}
