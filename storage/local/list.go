package local

import (
	"context"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/ferryhq/ferry/storage"
)

// List returns up to limit completed files, newest first by completion time,
// ties broken by id, starting after the cursor (empty for the first page).
// Incomplete uploads and records that cannot be read are not listed. It
// returns an error wrapping storage.ErrInvalid for a limit below 1 or a
// cursor it did not make.
//
// A page walks the list index (index.go) from the cursor and reads the
// records of the files it lists, and of nothing else: its cost does not
// grow with the number of files.
func (b *Backend) List(ctx context.Context, after string, limit int) (storage.ListPage, error) {
	if limit < 1 {
		return storage.ListPage{}, fmt.Errorf("local: list: limit %d: %w", limit, storage.ErrInvalid)
	}
	from := ""
	if after != "" {
		k, err := parseCursor(after)
		if err != nil {
			return storage.ListPage{}, fmt.Errorf("local: list: %w", err)
		}
		from = indexKey(k.done, k.id)
	}
	var files []storage.Info
	err := b.walkIndex(ctx, from, func(k listKey) bool {
		rec, err := readRecord(b.metaPath(k.id), k.id)
		// An entry whose record is gone (deleted), unreadable (Stat
		// reports it) or not complete at this time (a Commit that failed
		// or a crash left it) lists nothing.
		if err != nil || !rec.Complete || !rec.Modified.Equal(k.done) {
			return true
		}
		files = append(files, b.info(rec))
		return len(files) <= limit
	})
	if err != nil {
		return storage.ListPage{}, fmt.Errorf("local: list: %w", err)
	}
	var page storage.ListPage
	if len(files) > limit {
		files = files[:limit]
		page.Next = keyOfInfo(files[limit-1]).cursor()
	}
	page.Files = files
	return page, nil
}

// listKey is a completed file's position in List's order. The completion
// time is the record's Modified, which is set once at Commit.
type listKey struct {
	done time.Time
	id   string
}

func keyOfInfo(in storage.Info) listKey { return listKey{in.Modified, in.ID} }

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
