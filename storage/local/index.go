package local

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ferryhq/ferry/storage"
)

// The list index is a sorted layout of logs, one line per completed file:
//
//	index/<k[0:3]>/<k[3:6]>/<k[6:9]>/entries.log   lines <k>-<id>
//
// where k is the completion time in 16 hex digits, inverted so that the
// newest sorts first. Keys sort in List's order (newest first, then by id),
// and os.ReadDir returns the directories sorted, so a page walks the tree
// from its cursor and reads only the directories on its way: 4,096 names at
// most per level, a leaf holding the files completed within 268 ms, whose
// log List reads and sorts. Versions before the logs made one empty file
// named <k>-<id> per entry in the leaf instead; List reads those too, and
// Delete removes them. An entry says only "look here": List reads the
// record it names and skips an entry whose record is gone, incomplete or
// completed at another time, so an entry left by a crash does no harm.
// Commit makes the entry durable before its record says complete, so a
// complete record always has its entry; Delete rewrites the log without
// it, so a log holds about the files that exist. index/.complete is
// written when the index covers every record; a data directory without it
// (new, migrated, or the index deleted) has its index built again at
// start-up.

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

// indexLogName is the log of a leaf directory: its entries, one per line,
// appended by Commit. Entries of earlier versions are empty files named
// by their key in the same directory; List reads both.
const indexLogName = "entries.log"

// indexAdd appends the entry of a file completed at done to its leaf's log
// and makes it durable (see indexAppend).
func (b *Backend) indexAdd(done time.Time, id string) error {
	return b.indexAppend(indexKey(done, id), true)
}

// indexAppend appends the entry key to its leaf's log, creating the log
// and the directories on its way if they are missing. With sync it
// returns once the entry is durable: the log fdatasynced and, the first
// time this process appends to that log, its directory synced too, since
// another process (or goroutine) may have created the log and not synced
// its name yet.
//
// Each entry is written as "\n<key>\n": a line torn by a crash is one that
// does not parse (List skips it), and the leading newline keeps the next
// entry off its tail. Appenders hold the log's lock shared (exclusive on
// Windows, which has no O_APPEND here), and check under it that the log is
// still the one its path names: a rewrite (indexRemove) holds the lock
// exclusive, renames its new log over the old one, and syncs the
// directory before it lets go, so an entry appended before the rewrite
// is in the new log, durable, and one appended after it goes into the new
// log.
func (b *Backend) indexAppend(key string, sync bool) error {
	leaf := b.indexLeaf(key)
	path := filepath.Join(leaf, indexLogName)
	line := []byte("\n" + key + "\n")
	for range 3 {
		f, made, err := b.openLog(path, leaf)
		if err != nil {
			return fmt.Errorf("index: %w", err)
		}
		if err := lockLog(f, !appendShared); err != nil {
			f.Close()
			return fmt.Errorf("index: lock %s: %w", path, err)
		}
		if n, err := nlink(f); err == nil && n == 0 {
			f.Close() // rewritten meanwhile: append to the new log
			continue
		}
		err = b.appendLine(f, line)
		if err == nil && sync {
			calls := []func() error{func() error { return fdatasync(f) }}
			if made || !b.logs.known(path) {
				calls = append(calls, b.syncing(leaf))
			}
			if err = together(calls...); err == nil {
				b.logs.add(path)
			}
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("index: %w", mapErr(err))
		}
		return nil
	}
	return fmt.Errorf("index: %s keeps being rewritten", path)
}

// appendLine writes line at the end of the log f, which the caller holds
// locked.
func (b *Backend) appendLine(f *os.File, line []byte) error {
	if !appendShared {
		if _, err := f.Seek(0, io.SeekEnd); err != nil {
			return err
		}
	}
	_, err := f.Write(line)
	return err
}

// openLog opens the log at path for appending, creating it (and its leaf
// directory, durably) if it is missing; made says it did.
func (b *Backend) openLog(path, leaf string) (f *os.File, made bool, err error) {
	f, err = openFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err == nil || !errors.Is(err, os.ErrNotExist) {
		return f, false, mapErr(err)
	}
	if err := mkdirDurable(leaf, b.sub(indexDir)); err != nil {
		return nil, false, err
	}
	f, err = openFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	return f, true, mapErr(err)
}

// indexRemove removes the entry of a file completed at done: from its
// leaf's log, which it rewrites without it, and the empty file an earlier
// version made for it. A failure is not reported: List skips an entry
// whose record is gone.
func (b *Backend) indexRemove(done time.Time, id string) {
	key := indexKey(done, id)
	leaf := b.indexLeaf(key)
	os.Remove(filepath.Join(leaf, key))
	b.rewriteLog(filepath.Join(leaf, indexLogName), leaf, key)
}

// rewriteLog replaces the log at path with one without the entry drop (and
// without torn lines and repeats), or removes it if nothing else is left.
// It holds the log's lock exclusive throughout, writes the new log beside
// it, fsyncs it, renames it over the old one and syncs the directory
// before it lets go (see indexAppend).
func (b *Backend) rewriteLog(path, leaf, drop string) error {
	for range 3 {
		f, err := openFile(path, os.O_RDWR, 0)
		if errors.Is(err, os.ErrNotExist) {
			return nil
		} else if err != nil {
			return err
		}
		if err := lockLog(f, true); err != nil {
			f.Close()
			return err
		}
		if n, err := nlink(f); err == nil && n == 0 {
			f.Close()
			continue
		}
		err = b.rewriteLocked(f, path, leaf, drop)
		f.Close()
		return err
	}
	return fmt.Errorf("index: %s keeps being rewritten", path)
}

func (b *Backend) rewriteLocked(f *os.File, path, leaf, drop string) error {
	buf, err := io.ReadAll(f)
	if err != nil {
		return err
	}
	keys := parseLog(buf)
	if !slices.Contains(keys, drop) {
		return nil
	}
	keys = slices.DeleteFunc(keys, func(k string) bool { return k == drop })
	if len(keys) == 0 {
		if err := os.Remove(path); err != nil {
			return err
		}
		return b.dirs.sync(leaf)
	}
	var out []byte
	for _, k := range keys {
		out = append(out, '\n')
		out = append(out, k...)
		out = append(out, '\n')
	}
	tmp := path + tmpExt
	t, err := openFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	_, err = t.Write(out)
	if err == nil {
		err = synced(t.Sync)
	}
	if cerr := t.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	return b.dirs.sync(leaf)
}

// parseLog returns the keys a leaf's log holds, sorted, without repeats;
// lines that are not a key (torn by a crash) are left out.
func parseLog(buf []byte) []string {
	var keys []string
	for line := range strings.SplitSeq(string(buf), "\n") {
		if _, ok := parseIndexKey(line); ok {
			keys = append(keys, line)
		}
	}
	slices.Sort(keys)
	return slices.Compact(keys)
}

// logSet remembers the index logs whose names this process has made
// durable (synced their directory after seeing them), so that an append
// syncs only the log, not its directory too. It is bounded: past
// maxKnownLogs it starts again, and the next append to each log syncs its
// directory once more.
type logSet struct {
	mu   sync.Mutex
	seen map[string]bool
}

const maxKnownLogs = 1024

func (s *logSet) known(path string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.seen[path]
}

func (s *logSet) add(path string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.seen == nil || len(s.seen) >= maxKnownLogs {
		s.seen = make(map[string]bool)
	}
	s.seen[path] = true
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
	if level == 3 {
		return walkLeaf(dir, entries, from, fn)
	}
	lo, hi := level*3, level*3+3
	for _, e := range entries {
		name := e.Name()
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

// walkLeaf calls fn with the entries of the leaf directory dir after the
// key from, in order: the lines of its log and, from earlier versions,
// the names of its empty entry files.
func walkLeaf(dir string, entries []os.DirEntry, from string, fn func(listKey) bool) (bool, error) {
	var keys []string
	for _, e := range entries {
		name := e.Name()
		if name == indexLogName {
			buf, err := readFile(filepath.Join(dir, name))
			if errors.Is(err, os.ErrNotExist) {
				continue // removed while we walked
			} else if err != nil {
				return false, err
			}
			keys = append(keys, parseLog(buf)...)
		} else if _, ok := parseIndexKey(name); ok {
			keys = append(keys, name)
		}
	}
	slices.Sort(keys)
	for _, key := range slices.Compact(keys) {
		if from != "" && key <= from {
			continue
		}
		k, _ := parseIndexKey(key)
		if !fn(k) {
			return false, nil
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
			key := indexKey(rec.Modified, id)
			if err := b.indexAppend(key, false); err != nil {
				return fmt.Errorf("rebuild index: %w", err)
			}
			leaves[b.indexLeaf(key)] = true
		}
	}
	var errs []error
	for leaf := range leaves {
		errs = append(errs, syncFile(filepath.Join(leaf, indexLogName)), syncDir(leaf))
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

// syncFile makes the file at path durable (fsync).
func syncFile(path string) error {
	f, err := openFile(path, os.O_RDONLY, 0)
	if err != nil {
		return mapErr(err)
	}
	err = synced(f.Sync)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return mapErr(err)
}
