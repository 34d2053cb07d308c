package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/ferryhq/ferry/events"
	"github.com/ferryhq/ferry/hooks"
	"github.com/ferryhq/ferry/storage"
)

// hookFlags are the flags of the HTTP hooks (package hooks).
type hookFlags struct {
	url, secret, events, outbox, publicURL string
	timeout, progress, retryMax            time.Duration
}

func (h *hookFlags) define(e envFlags) {
	e.String(&h.url, "hook-url", "", "URL that receives the hooks as JSON POSTs (docs/design.md, Hooks); empty: no hooks")
	e.Secret(&h.secret, "hook-secret", "key of the HMAC-SHA256 of each hook body, sent as Ferry-Signature: sha256=<hex>")
	e.String(&h.events, "hook-events", "pre-create,post-finish,post-terminate,post-expire", "comma-separated hooks to send")
	e.Duration(&h.timeout, "hook-timeout", hooks.DefaultTimeout, "how long a hook may take to answer; a pre-create hook that does not answer in time refuses the upload (503, storage_error)")
	e.Duration(&h.progress, "hook-progress-interval", 0, "send post-receive at most this often per upload while its bytes arrive; 0: never")
	e.Duration(&h.retryMax, "hook-retry-max", hooks.DefaultRetryMax, "longest wait between two attempts at a failed delivery (retries go on until the receiver answers 2xx)")
	e.String(&h.outbox, "hook-outbox", "", "directory of the undelivered hooks, one per instance (default with local storage: <data>/.hooks-outbox; required with s3)")
	e.String(&h.publicURL, "public-url", "", "the URL clients reach this server at, e.g. https://files.example.com: hooks then carry absolute download URLs")
}

// open makes the Hooks the flags ask for, before any storage is opened so
// that a mistake in them stops the command at once; nil without --hook-url.
func (h *hookFlags) open(c *serveConfig, logger *slog.Logger) (*hooks.Hooks, error) {
	if h.url == "" {
		return nil, nil
	}
	outbox := h.outbox
	if outbox == "" {
		if c.storage != "local" {
			return nil, errors.New("serve: --hook-url with s3 storage needs --hook-outbox, a directory of this instance's own")
		}
		outbox = filepath.Join(c.data, ".hooks-outbox")
	}
	sent := splitList(h.events)
	if sent == nil {
		sent = []string{} // set empty: none of them (nil would be all)
	}
	hk, err := hooks.New(hooks.Config{
		URL:       h.url,
		Secret:    []byte(h.secret),
		Events:    sent,
		Progress:  h.progress,
		PublicURL: h.publicURL,
		Outbox:    outbox,
		Timeout:   h.timeout,
		RetryMin:  min(hooks.DefaultRetryMin, h.retryMax),
		RetryMax:  h.retryMax,
		Logger:    logger,
	})
	if err != nil {
		return nil, fmt.Errorf("serve: %w", err)
	}
	return hk, nil
}

// withHooks returns b wrapped so that it publishes its changes on bus and,
// with hk, so that hk gates its creations and hears of its changes; and the
// function that delivers the hooks until its context ends (nil without hk).
func withHooks(b storage.Backend, bus *events.Bus, hk *hooks.Hooks) (storage.Backend, func(context.Context)) {
	if hk == nil {
		return events.Wrap(b, bus, nil), nil
	}
	bus.Observe(hk.Observe)
	wrapped := events.Wrap(b, bus, hk.Gate)
	return wrapped, func(ctx context.Context) { hk.Run(ctx, wrapped) }
}
