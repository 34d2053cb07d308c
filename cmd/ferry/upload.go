package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"

	"github.com/ferryhq/ferry/client"
)

const uploadHeader = `Usage: ferry upload [flags] FILE...

Uploads each FILE to a ferry server, with a progress bar on stderr, and
prints its download URL on stdout, one line per file (with --print id, its
id instead: id=$(ferry upload --print id f) && ferry wait "$id").

An interrupted upload (Ctrl-C, a lost connection, a crash) continues where
the server stopped when the same command is run again: the state of each
upload in progress is kept in <user cache dir>/ferry/uploads/ (XDG_CACHE_HOME
on Linux) until the file completes. A file that changed (size or modification
time) starts over. Dropped connections are retried on their own.

When the upload is done, ferry checks the server's SHA-256 against the file.
The exit status is non-zero if any file failed.
`

// uploadConfig is what `ferry upload` is told by flags and environment.
type uploadConfig struct {
	server, token string
	print         string // "url" or "id": what is printed of each file
}

// runUpload uploads every FILE in args, one after the other. It returns
// flag.ErrHelp for --help, an error for bad flags or no FILE, an error
// wrapping ctx's when interrupted (the upload in progress stays resumable),
// and an *uploadFailures when some files failed while the rest went on.
func runUpload(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("upload", stderr, uploadHeader)
	var c uploadConfig
	e := envFlags{fs}
	e.String(&c.server, "server", "http://localhost:8080", "base URL of the ferry server")
	e.String(&c.token, "token", "", "access token, sent as Authorization: Bearer (of a comma-separated list, the first)")
	e.String(&c.print, "print", "url", "what to print of each uploaded file: url (its download URL) or id")
	files, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if c.print != "url" && c.print != "id" {
		return fmt.Errorf("upload: --print %q: want url or id", c.print)
	}
	if len(files) == 0 {
		fs.Usage()
		return errors.New("upload: no FILE given")
	}
	c.server = strings.TrimRight(c.server, "/")
	// FERRY_TOKEN may hold a server's comma-separated list: any one will do.
	c.token, _, _ = strings.Cut(c.token, ",")

	store, err := openResumeStore()
	if err != nil {
		fmt.Fprintf(stderr, "ferry upload: %v; interrupted uploads will start over\n", err)
	}
	failures := &uploadFailures{total: len(files)}
	for _, path := range files {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("upload interrupted before %s: %w", path, err)
		}
		err := uploadFile(ctx, c, store, path, stdout, stderr)
		if err != nil && ctx.Err() != nil {
			return fmt.Errorf("upload of %s interrupted; run the same command again to resume: %w", path, ctx.Err())
		}
		if err != nil {
			err = fmt.Errorf("%s: %w", path, err)
			if len(files) > 1 { // said now, between the other files' bars; main says the last one
				fmt.Fprintf(stderr, "ferry upload: %v\n", err)
			}
			failures.errs = append(failures.errs, err)
		}
	}
	if len(failures.errs) > 0 {
		return failures
	}
	return nil
}

// uploadFailures reports the files that failed: the one error when a single
// file was given, else a count (each was printed as it happened). Unwrap
// gives every file's error, so client.CodeOf works on them.
type uploadFailures struct {
	total int
	errs  []error
}

func (f *uploadFailures) Error() string {
	if f.total == 1 {
		return f.errs[0].Error()
	}
	return fmt.Sprintf("%d of %d uploads failed", len(f.errs), f.total)
}

func (f *uploadFailures) Unwrap() []error { return f.errs }

// parseInterspersed parses flags wherever they appear among the file names
// (`ferry upload a.bin --server URL b.bin`); after "--" everything is a file.
func parseInterspersed(fs flagParser, args []string) ([]string, error) {
	var files []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return files, nil
		}
		if consumed := len(args) - len(rest); consumed > 0 && args[consumed-1] == "--" {
			return append(files, rest...), nil
		}
		files, args = append(files, rest[0]), rest[1:]
	}
}

// uploadFile uploads one file, resuming it if a state for this very file
// (same absolute path, size and mtime, same server) was saved.
func uploadFile(ctx context.Context, c uploadConfig, store resumeStore, path string, stdout, stderr io.Writer) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return err
	}
	if !info.Mode().IsRegular() {
		return errors.New("not a regular file")
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return err
	}
	want := resumeState{Server: c.server, Path: abs, Size: info.Size(), ModTime: info.ModTime()}
	key := resumeKey(c.server, abs, info.Size(), info.ModTime())
	saved, resuming := store.load(key, want)

	name := filepath.Base(path)
	bar := newUploadBar(stderr, name, info.Size())
	opts := client.Options{
		Server:   c.server,
		Token:    c.token,
		Name:     name,
		MIME:     mime.TypeByExtension(filepath.Ext(path)),
		Progress: bar.progress,
		OnID: func(id string) {
			if id == saved.ID {
				return
			}
			st := want
			st.ID, st.Saved = id, time.Now().UTC()
			if err := store.save(key, st); err != nil {
				fmt.Fprintf(stderr, "ferry upload: %v; this upload will not resume if interrupted\n", err)
			}
		},
	}
	if resuming {
		opts.ResumeID = saved.ID
	}
	res, err := client.Upload(ctx, f, info.Size(), opts)
	if resuming && client.CodeOf(err) == client.CodeNotFound {
		// The server no longer has it (expired, deleted): start over.
		bar.restart()
		saved, opts.ResumeID = resumeState{}, ""
		res, err = client.Upload(ctx, f, info.Size(), opts)
	}
	if err != nil {
		bar.stop()
		if ctx.Err() == nil && !resumable(err) {
			if rmErr := store.remove(key); rmErr != nil {
				fmt.Fprintf(stderr, "ferry upload: %v\n", rmErr)
			}
		}
		if client.CodeOf(err) == client.CodeChecksumMismatch {
			err = deleteMismatch(ctx, c, err)
		}
		return err
	}
	bar.finish()
	if err := store.remove(key); err != nil {
		fmt.Fprintf(stderr, "ferry upload: %v\n", err)
	}
	if c.print == "id" {
		fmt.Fprintln(stdout, res.ID)
	} else {
		fmt.Fprintln(stdout, res.URL)
	}
	return nil
}

// resumable reports whether a failed upload is worth resuming on the next
// run, so its state is kept: the server or the network failed, or the
// token was wrong. Refusals of the file itself make the state useless.
func resumable(err error) bool {
	switch client.CodeOf(err) {
	case "", client.CodeStorageError, client.CodeLocked, client.CodeShuttingDown,
		client.CodeUnauthorized, client.CodeQuotaExceeded, client.CodeIncomplete:
		return true
	}
	return false
}

// deleteMismatch removes a completed file whose server digest differs from
// the local file's, so that no wrong copy stays published. The server
// deletes on its own a mismatch it detects; then the DELETE finds nothing.
func deleteMismatch(ctx context.Context, c uploadConfig, err error) error {
	var e *client.Error
	if !errors.As(err, &e) || e.ID == "" {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, rerr := http.NewRequestWithContext(ctx, http.MethodDelete, c.server+"/api/files/"+e.ID, nil)
	if rerr != nil {
		return err
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, rerr := http.DefaultClient.Do(req)
	if rerr != nil {
		return fmt.Errorf("%w (and deleting the server's copy failed: %v)", err, rerr)
	}
	resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusNoContent, http.StatusOK:
		return fmt.Errorf("%w; the server's copy was deleted", err)
	case http.StatusNotFound:
		return err
	}
	return fmt.Errorf("%w (and deleting the server's copy answered %s)", err, resp.Status)
}

// uploadBar draws one file's progress, driven by the durable offset: what
// it shows would survive a crash of the server. A resumed upload's bar
// covers what this run sends, so that speed and ETA are this run's (the
// progress bar library would count the resumed bytes as sent at once); its
// description says where it resumed. Its methods are called by one
// goroutine at a time (client.Options.Progress's promise).
type uploadBar struct {
	w    io.Writer
	name string
	size int64
	base int64                    // offset the bar starts from
	bar  *progressbar.ProgressBar // made at the first progress
}

func newUploadBar(w io.Writer, name string, size int64) *uploadBar {
	return &uploadBar{w: w, name: name, size: size}
}

func (b *uploadBar) progress(p client.Progress) {
	if b.bar == nil {
		if p.Offset >= b.size {
			return // nothing left to show: an empty file, or all bytes durable
		}
		b.start(p.Offset)
	}
	b.bar.Set64(p.Offset - b.base)
}

func (b *uploadBar) start(base int64) {
	throttle := time.Second // a log file does not need ten lines a second
	if isTerminal(b.w) {
		throttle = 100 * time.Millisecond
	}
	desc := b.name
	if base > 0 {
		desc = fmt.Sprintf("%s (resumed at %d%%)", b.name, base*100/b.size)
	}
	b.base = base
	b.bar = progressbar.NewOptions64(b.size-base,
		progressbar.OptionSetWriter(b.w),
		progressbar.OptionSetDescription(desc),
		progressbar.OptionShowBytes(true),
		progressbar.OptionShowCount(),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionSetWidth(30),
		progressbar.OptionThrottle(throttle),
		progressbar.OptionOnCompletion(func() { fmt.Fprintln(b.w) }),
	)
}

// restart ends the bar's line; the next progress draws a new bar.
func (b *uploadBar) restart() {
	b.stop()
	b.bar = nil
}

func (b *uploadBar) finish() {
	if b.bar != nil {
		b.bar.Finish()
	}
}

// stop leaves the bar where it is and ends its line.
func (b *uploadBar) stop() {
	if b.bar != nil && !b.bar.IsFinished() {
		b.bar.Exit()
	}
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
