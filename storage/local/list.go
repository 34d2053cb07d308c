package local

import (
	"cmp"
	"context"
	"encoding/base64"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ferryhq/ferry/storage"
)

// List returns up to limit completed files, newest first by completion time,
// ties broken by id, starting after the cursor (empty for the first page).
// Incomplete uploads and records that cannot be read are not listed. It returns an error wrapping
// storage.ErrInvalid for a limit below 1 or a cursor it did not make.
//
// There is no index: every call reads the metadata of every upload in the
// directory, so a page costs O(files). That is fine for thousands of files.
func (b *Backend) List(ctx context.Context, after string, limit int) (storage.ListPage, error) {
	if limit < 1 {
		return storage.ListPage{}, fmt.Errorf("local: list: limit %d: %w", limit, storage.ErrInvalid)
	}
	var from listKey
	if after != "" {
		var err error
		if from, err = parseCursor(after); err != nil {
			return storage.ListPage{}, fmt.Errorf("local: list: %w", err)
		}
	}
	entries, err := os.ReadDir(b.dir)
	if err != nil {
		return storage.ListPage{}, fmt.Errorf("local: list: %w", err)
	}
	var files []storage.Info
	for _, e := range entries {
		if err := ctx.Err(); err != nil {
			return storage.ListPage{}, fmt.Errorf("local: list: %w", err)
		}
		id, ok := idOf(e.Name(), metaExt)
		if !ok {
			continue
		}
		rec, err := readRecord(b.metaPath(id), id)
		if err != nil {
			// Deleted while we listed, or unreadable: one damaged record
			// must not take the whole listing down (Stat reports it).
			continue
		}
		if !rec.Complete || (after != "" && !from.before(keyOf(rec))) {
			continue
		}
		files = append(files, b.info(rec))
	}
	slices.SortFunc(files, func(x, y storage.Info) int { return keyOfInfo(x).compare(keyOfInfo(y)) })
	var page storage.ListPage
	if len(files) > limit {
		files = files[:limit]
		page.Next = keyOfInfo(files[limit-1]).cursor()
	}
	page.Files = files
	return page, nil
}

// idOf returns the id of a file named <id><ext>, if it is one.
func idOf(name, ext string) (string, bool) {
	id, ok := strings.CutSuffix(name, ext)
	return id, ok && storage.ValidID(id)
}

// listKey is a completed file's position in List's order. The completion
// time is the record's Modified, which is set once at Commit.
type listKey struct {
	done time.Time
	id   string
}

func keyOf(rec record) listKey          { return listKey{rec.Modified, rec.ID} }
func keyOfInfo(in storage.Info) listKey { return listKey{in.Modified, in.ID} }

// compare orders newest first, then by id.
func (k listKey) compare(o listKey) int {
	if c := o.done.Compare(k.done); c != 0 {
		return c
	}
	return cmp.Compare(k.id, o.id)
}

// before reports whether k comes before o in List's order.
func (k listKey) before(o listKey) bool { return k.compare(o) < 0 }

// cursor encodes k; base64 keeps it opaque and URL-safe.
func (k listKey) cursor() string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(k.done.UnixNano(), 10) + "." + k.id))
}

func parseCursor(s string) (listKey, error) {
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return listKey{}, fmt.Errorf("bad cursor: %w", storage.ErrInvalid)
	}
	ns, id, ok := strings.Cut(string(raw), ".")
	n, err := strconv.ParseInt(ns, 10, 64)
	if !ok || err != nil || !storage.ValidID(id) {
		return listKey{}, fmt.Errorf("bad cursor: %w", storage.ErrInvalid)
	}
	return listKey{time.Unix(0, n), id}, nil
}
