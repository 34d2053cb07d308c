package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"github.com/ferryhq/ferry/storage"
)

const downloadHeader = `Usage: ferry download [flags] ID...

Downloads each completed file to the current directory under its name (its
id when the name is hidden or unusable), or to --output, checks its SHA-256 against the server's, and prints the path
written, one line per file. ID is a file id, or a URL that ends in
/files/<id> (what ferry upload and ferry wait print). --token needs read
scope.

A file is written to a temporary name beside its destination and renamed
into place only once its digest matched, so a failed download leaves
nothing behind. An upload still in progress is refused: run ferry wait
first. The exit status is non-zero if any file failed.
`

// downloadConfig is what `ferry download` is told by flags and environment.
type downloadConfig struct {
	server, token, output string
}

// runDownload downloads every ID in args. It returns flag.ErrHelp for
// --help, an error for bad flags, no ID or --output with several IDs, and
// the first failure otherwise (after trying every ID).
func runDownload(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("download", stderr, downloadHeader)
	var c downloadConfig
	e := envFlags{fs}
	e.String(&c.server, "server", "http://localhost:8080", "base URL of the ferry server")
	e.Secret(&c.token, "token", "access token with read scope, sent as Authorization: Bearer (of a comma-separated list, the first)")
	e.String(&c.output, "output", "", `file to write (one ID only; "-": stdout); empty: the file's name in the current directory`)
	ids, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(ids) == 0 {
		fs.Usage()
		return errors.New("download: no ID given")
	}
	if c.output != "" && len(ids) > 1 {
		return errors.New("download: --output takes one ID")
	}
	c.server = strings.TrimRight(c.server, "/")
	c.token, _, _ = strings.Cut(c.token, ",")
	var errs []error
	for _, arg := range ids {
		id := fileIDOf(arg)
		if !storage.ValidID(id) {
			errs = append(errs, fmt.Errorf("%s: not a file id or a /files/<id> URL", arg))
			fmt.Fprintln(stderr, "ferry download:", errs[len(errs)-1])
			continue
		}
		path, err := downloadFile(ctx, c, id, stdout)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", id, err))
			fmt.Fprintln(stderr, "ferry download:", errs[len(errs)-1])
			continue
		}
		if path != "-" {
			fmt.Fprintln(stdout, path)
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("download: %d of %d files failed: %w", len(errs), len(ids), errs[0])
	}
	return nil
}

// downloadFile writes file id where c says and returns the path.
func downloadFile(ctx context.Context, c downloadConfig, id string, stdout io.Writer) (string, error) {
	var info struct {
		Name     string `json:"name"`
		SHA256   string `json:"sha256"`
		Complete bool   `json:"complete"`
	}
	resp, err := c.get(ctx, "/api/files/"+id)
	if err != nil {
		return "", err
	}
	err = json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&info)
	resp.Body.Close()
	if err := statusError(resp); err != nil {
		return "", err
	}
	if err != nil {
		return "", fmt.Errorf("GET /api/files/%s: %w", id, err)
	}
	if !info.Complete || info.SHA256 == "" {
		return "", errors.New("the upload is not complete yet (ferry wait first)")
	}
	path := c.output
	if path == "" {
		path = localName(info.Name, id)
	}

	resp, err = c.get(ctx, "/files/"+id)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	if err := statusError(resp); err != nil {
		return "", err
	}
	h := sha256.New()
	if path == "-" {
		if _, err := io.Copy(io.MultiWriter(stdout, h), resp.Body); err != nil {
			return "", err
		}
		if got := hex.EncodeToString(h.Sum(nil)); got != info.SHA256 {
			return "", fmt.Errorf("sha256 %s, the server's is %s", got, info.SHA256)
		}
		return "-", nil
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".ferry-download-*")
	if err != nil {
		return "", err
	}
	defer os.Remove(tmp.Name()) // a no-op once renamed
	_, err = io.Copy(io.MultiWriter(tmp, h), resp.Body)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", err
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != info.SHA256 {
		return "", fmt.Errorf("sha256 %s, the server's is %s; nothing written", got, info.SHA256)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return "", err
	}
	return path, nil
}

// localName is the name a download gets in the current directory: the
// file's own name without any directory part, or its id when that name is
// not usable.
func localName(name, id string) string {
	base := filepath.Base(filepath.FromSlash(strings.ReplaceAll(name, `\`, "/")))
	if base == "." || base == ".." || base == string(filepath.Separator) || base == "" || strings.HasPrefix(base, ".") {
		return id
	}
	return base
}

func (c downloadConfig) get(ctx context.Context, path string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.server+path, nil)
	if err != nil {
		return nil, err
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	return http.DefaultClient.Do(req)
}

// statusError says what a non-200 answer means for a download.
func statusError(resp *http.Response) error {
	switch resp.StatusCode {
	case http.StatusOK:
		return nil
	case http.StatusNotFound:
		return errors.New("no such file")
	case http.StatusUnauthorized, http.StatusForbidden:
		return authError(resp.StatusCode)
	}
	return fmt.Errorf("%s %s answered %s", resp.Request.Method, resp.Request.URL.Path, resp.Status)
}
