package local

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/ferryhq/ferry/storage"
)

// The list index is a sorted layout of empty files, one per completed file:
//
//	index/<k[0:3]>/<k[3:6]>/<k[6:9]>/<k>-<id>
//
// where k is the completion time in 16 hex digits, inverted so that the
// newest sorts first. Names sort in List's order (newest first, then by id),
// and os.ReadDir returns them sorted, so a page walks the tree from its
// cursor and reads only the directories on its way: 4,096 names at most
// per level, a leaf holding the files completed within 268 ms. An entry
// says only "look here": List reads the record it names and skips an entry
// whose record is gone, incomplete or completed at another time, so an
// entry left by a crash does no harm. Commit makes the entry durable before
// its record says complete, so a complete record always has its entry.
// index/.complete is written when the index covers every record; a data
// directory without it (new, migrated, or the index deleted) has its index
// built again at start-up.

// indexDoneName marks an index that covers every record.
const indexDoneName = ".complete"

func (b *Backend) indexDone() string { return filepath.Join(b.sub(indexDir), indexDoneName) }

// indexKey is the name of a completed file's entry.
func indexKey(done time.Time, id string) string {
	// Flipping the sign bit maps int64 order onto uint64 order; inverting
	// makes the newest smallest.
	inv := ^(uint64(done.UnixNano()) ^ 1<<63)
	return fmt.Sprintf("%016x-%s", inv, id)
}

// parseIndexKey is the inverse of indexKey.
func parseIndexKey(name string) (listKey, bool) {
	hex, id, ok := strings.Cut(name, "-")
	if !ok || len(hex) != 16 || !storage.ValidID(id) {
		return listKey{}, false
	}
	inv, err := strconv.ParseUint(hex, 16, 64)
	if err != nil {
		return listKey{}, false
	}
	return listKey{time.Unix(0, int64(^inv^1<<63)), id}, true
}

// indexLeaf is the directory of the entry named key.
func (b *Backend) indexLeaf(key string) string {
	return filepath.Join(b.sub(indexDir), key[0:3], key[3:6], key[6:9])
}

// indexAdd creates the entry of a file completed at done and returns its
// directory, which the caller syncs to make the entry durable (directories
// it had to create are synced here, each after its parent).
func (b *Backend) indexAdd(done time.Time, id string) (string, error) {
	key := indexKey(done, id)
	leaf := b.indexLeaf(key)
	if err := mkdirDurable(leaf, b.sub(indexDir)); err != nil {
		return "", fmt.Errorf("index: %w", err)
	}
	f, err := openFile(filepath.Join(leaf, key), os.O_WRONLY|os.O_CREATE, 0o600)
	if err != nil {
		return "", fmt.Errorf("index: %w", mapErr(err))
	}
	if err := f.Close(); err != nil {
		return "", fmt.Errorf("index: %w", mapErr(err))
	}
	return leaf, nil
}

// indexRemove removes the entry of a file completed at done. A failure is
// not reported: List skips an entry whose record is gone.
func (b *Backend) indexRemove(done time.Time, id string) {
	key := indexKey(done, id)
	os.Remove(filepath.Join(b.indexLeaf(key), key))
}

// mkdirDurable makes dir and any missing parents up to root (which exists),
// syncing the parent of each directory it creates.
func mkdirDurable(dir, root string) error {
	err := os.Mkdir(dir, 0o750)
	if errors.Is(err, os.ErrExist) {
		return nil
	}
	if errors.Is(err, os.ErrNotExist) && dir != root {
		if err := mkdirDurable(filepath.Dir(dir), root); err != nil {
			return err
		}
		if err = os.Mkdir(dir, 0o750); errors.Is(err, os.ErrExist) {
			return nil
		}
	}
	if err != nil {
		return mapErr(err)
	}
	return syncDir(filepath.Dir(dir))
}

// walkIndex calls fn with the entries after the key from ("" for the
// start), in order, until fn returns false or the entries run out.
func (b *Backend) walkIndex(ctx context.Context, from string, fn func(key listKey) bool) error {
	_, err := walkLevel(ctx, b.sub(indexDir), 0, from, fn)
	return err
}

// walkLevel walks the index directory dir at depth level (0 to 3; 3 holds
// the entries). from bounds the walk while we are on the path to the
// cursor's entry; it is "" once past it.
func walkLevel(ctx context.Context, dir string, level int, from string, fn func(listKey) bool) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) && level > 0 {
			return true, nil // removed while we walked
		}
		return false, err
	}
	lo, hi := level*3, level*3+3
	for _, e := range entries {
		name := e.Name()
		if level == 3 {
			if from != "" && name <= from {
				continue
			}
			k, ok := parseIndexKey(name)
			if !ok {
				continue
			}
			if !fn(k) {
				return false, nil
			}
			continue
		}
		if len(name) != 3 || name[0] == '.' {
			continue
		}
		bound := ""
		if from != "" {
			switch p := from[lo:hi]; {
			case name < p:
				continue
			case name == p:
				bound = from
			}
		}
		more, err := walkLevel(ctx, filepath.Join(dir, name), level+1, bound, fn)
		if err != nil || !more {
			return more, err
		}
	}
	return true, nil
}

// rebuildIndex makes the index cover every record: an entry for each
// completed file and, for each incomplete upload, its marker in uploads/
// (records moved by the migration have none). It reads every record once,
// one shard at a time, so it runs only when index/.complete is missing.
// Entries already there stay; an entry it cannot see is harmless. It ends
// by writing index/.complete, after syncing what it made.
func (b *Backend) rebuildIndex() error {
	leaves := make(map[string]bool)
	marked := false
	for i := range shards {
		shard := filepath.Join(b.sub(filesDir), fmt.Sprintf("%02x", i))
		entries, err := os.ReadDir(shard)
		if err != nil {
			return fmt.Errorf("rebuild index: %w", err)
		}
		for _, e := range entries {
			id, ok := idOf(e.Name(), metaExt)
			if !ok {
				continue
			}
			rec, err := readRecord(filepath.Join(shard, e.Name()), id)
			if err != nil {
				continue // gone, or damaged: Stat reports it
			}
			if !rec.Complete {
				if err := touch(b.markPath(id)); err != nil {
					return fmt.Errorf("rebuild index: %w", err)
				}
				marked = true
				continue
			}
			leaf, err := b.indexAdd(rec.Modified, id)
			if err != nil {
				return fmt.Errorf("rebuild index: %w", err)
			}
			leaves[leaf] = true
		}
	}
	var errs []error
	for leaf := range leaves {
		errs = append(errs, syncDir(leaf))
	}
	if marked {
		errs = append(errs, syncDir(b.sub(uploadsDir)))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("rebuild index: %w", err)
	}
	if err := touch(b.indexDone()); err != nil {
		return fmt.Errorf("rebuild index: %w", err)
	}
	return syncDir(b.sub(indexDir))
}

// touch creates an empty file at path if there is none.
func touch(path string) error {
	f, err := openFile(path, os.O_WRONLY|os.O_CREATE, 0o600)
	if err != nil {
		return mapErr(err)
	}
	return mapErr(f.Close())
}
