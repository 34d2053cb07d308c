package hooks

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/ferryhq/ferry/storage"
)

// outbox keeps on disk what must survive the process: the bodies of the
// hook requests not yet delivered (pending/<time>-<event id>.json) and a
// marker per upload this process saw being written and has not yet queued
// a final event for (uploads/<upload id>). Every write is fsynced, file and
// directory, before it returns.
type outbox struct {
	pending, uploads string
}

func openOutbox(dir string) (*outbox, error) {
	o := &outbox{pending: filepath.Join(dir, "pending"), uploads: filepath.Join(dir, "uploads")}
	for _, d := range []string{o.pending, o.uploads} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("hooks: outbox: %w", err)
		}
		// Temporary files left by a crash were never renamed into place:
		// nothing refers to them.
		tmps, _ := filepath.Glob(filepath.Join(d, ".tmp-*"))
		for _, t := range tmps {
			_ = os.Remove(t)
		}
	}
	return o, nil
}

// put stores body as pending delivery name, durably, unless it is there.
func (o *outbox) put(name string, body []byte) error {
	path := filepath.Join(o.pending, name)
	if _, err := os.Stat(path); err == nil {
		return nil
	}
	return writeDurably(o.pending, name, body)
}

// read returns the body of pending delivery name.
func (o *outbox) read(name string) ([]byte, error) {
	return os.ReadFile(filepath.Join(o.pending, name))
}

// done removes pending delivery name. Losing the removal to a crash only
// sends it again, which its event ID makes harmless.
func (o *outbox) done(name string) error {
	err := os.Remove(filepath.Join(o.pending, name))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}

// setAside renames pending delivery name to name.bad, which list skips.
func (o *outbox) setAside(name string) error {
	return os.Rename(filepath.Join(o.pending, name), filepath.Join(o.pending, name+".bad"))
}

// list returns the names of the pending deliveries, oldest first.
func (o *outbox) list() ([]string, error) {
	entries, err := os.ReadDir(o.pending)
	if err != nil {
		return nil, fmt.Errorf("hooks: outbox: %w", err)
	}
	var names []string
	for _, e := range entries {
		if n := e.Name(); strings.HasSuffix(n, ".json") && !strings.HasPrefix(n, ".") {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	return names, nil
}

// mark records, durably, that upload id is being written here. The marker
// is empty, so its existence is all there is to make durable: one
// directory fsync, no temporary file.
func (o *outbox) mark(id string) error {
	f, err := os.OpenFile(filepath.Join(o.uploads, id), os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("hooks: outbox: mark %s: %w", id, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("hooks: outbox: mark %s: %w", id, err)
	}
	if err := syncDir(o.uploads); err != nil {
		return fmt.Errorf("hooks: outbox: sync %s: %w", o.uploads, err)
	}
	return nil
}

// unmark forgets upload id. A marker left by a crash costs one Stat at the
// next reconcile, and at worst a second copy of an event with a fixed ID.
func (o *outbox) unmark(id string) error {
	err := os.Remove(filepath.Join(o.uploads, id))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}

// marked returns the uploads marked.
func (o *outbox) marked() ([]string, error) {
	entries, err := os.ReadDir(o.uploads)
	if err != nil {
		return nil, fmt.Errorf("hooks: outbox: %w", err)
	}
	var ids []string
	for _, e := range entries {
		if storage.ValidID(e.Name()) {
			ids = append(ids, e.Name())
		}
	}
	return ids, nil
}

// writeDurably writes dir/name through a temporary file, fsyncing the file
// before the rename and the directory after it, so that after a crash the
// file is either absent or whole.
func writeDurably(dir, name string, body []byte) error {
	tmp, err := os.CreateTemp(dir, ".tmp-*")
	if err != nil {
		return fmt.Errorf("hooks: outbox: %w", err)
	}
	_, err = tmp.Write(body)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), filepath.Join(dir, name))
	}
	if err != nil {
		_ = os.Remove(tmp.Name())
		return fmt.Errorf("hooks: outbox: write %s: %w", name, err)
	}
	if err := syncDir(dir); err != nil {
		return fmt.Errorf("hooks: outbox: sync %s: %w", dir, err)
	}
	return nil
}
