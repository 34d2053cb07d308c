package local

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/ferryhq/ferry/storage"
)

// Directories under the data directory (see the package documentation).
const (
	// filesDir holds every upload's data file and record, fanned out over
	// shards: files/<ss>/<id>.data and files/<ss>/<id>.json.
	filesDir = "files"
	// uploadsDir holds one empty marker per upload that may be incomplete:
	// the expiry sweep reads only these, never the completed files.
	uploadsDir = "uploads"
	// indexDir is the list index (index.go).
	indexDir = "index"
	// tmpDir holds Ping's probe files and the temporary records of
	// earlier versions, which the expiry sweep removes.
	tmpDir = "tmp"
	// shards is how many subdirectories files/ fans out over: a million
	// files leave about 4,000 uploads (8,000 names) in each.
	shards = 256
)

// shardOf is the shard of an id: its last two hex digits, random in both
// UUID versions storage.ValidID accepts (the leading ones of a v7 are its
// timestamp, and would put a burst of uploads in one directory).
func shardOf(id string) string { return id[len(id)-2:] }

// File names under Dir. They are built only from ids that passed
// storage.ValidID, so they never contain a separator or "..".
func (b *Backend) shardPath(id string) string {
	return filepath.Join(b.dir, filesDir, shardOf(id))
}
func (b *Backend) dataPath(id string) string { return filepath.Join(b.shardPath(id), id+dataExt) }
func (b *Backend) metaPath(id string) string { return filepath.Join(b.shardPath(id), id+metaExt) }
func (b *Backend) tmpPath(id string) string  { return filepath.Join(b.shardPath(id), id+tmpExt) }
func (b *Backend) markPath(id string) string { return filepath.Join(b.dir, uploadsDir, id) }
func (b *Backend) sub(name string) string    { return filepath.Join(b.dir, name) }

const (
	dataExt = ".data"
	metaExt = ".json"
	// tmpExt names an upload's temporary record, written next to its
	// record and renamed over it when the record is replaced whole
	// (rewriteRecord), and an index log's rewrite (rewriteLog).
	tmpExt = ".tmp"
	// lockExt names the lock files of versions that locked a separate file
	// (the data file is the lock now); only the migration meets them.
	lockExt = ".lock"
	// tmpPrefix started the temporary files of the flat layout.
	tmpPrefix = ".tmp-"
)

// prepare makes the layout under b.dir, moves a directory of the flat
// layout into it (migrate), and builds the list index if it is missing or
// was left unfinished (rebuildIndex). On a directory already in this layout
// it reads only the top directory and files/, whatever the number of files.
func (b *Backend) prepare() error {
	for _, d := range []string{filesDir, uploadsDir, indexDir, tmpDir} {
		if err := os.Mkdir(b.sub(d), 0o750); err != nil && !errors.Is(err, os.ErrExist) {
			return fmt.Errorf("create %s: %w", d, err)
		}
	}
	have, err := os.ReadDir(b.sub(filesDir))
	if err != nil {
		return fmt.Errorf("read %s: %w", filesDir, err)
	}
	if len(have) < shards {
		for i := range shards {
			p := filepath.Join(b.sub(filesDir), fmt.Sprintf("%02x", i))
			if err := os.Mkdir(p, 0o750); err != nil && !errors.Is(err, os.ErrExist) {
				return fmt.Errorf("create shard: %w", err)
			}
		}
		if err := syncDir(b.sub(filesDir)); err != nil {
			return err
		}
	}
	if err := syncDir(b.dir); err != nil {
		return err
	}
	moved, err := b.migrate()
	if err != nil {
		return err
	}
	if moved {
		// The moved records are in no index yet: build it again.
		if err := os.Remove(b.indexDone()); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("reset index: %w", err)
		}
	}
	if _, err := os.Stat(b.indexDone()); errors.Is(err, os.ErrNotExist) {
		return b.rebuildIndex()
	} else if err != nil {
		return fmt.Errorf("index: %w", err)
	}
	return nil
}

// migrate moves the uploads of the flat layout (every <id>.data and
// <id>.json directly under Dir, as versions before this one kept them) into
// their shards, and removes their old lock files and temporary files. It
// refuses, before moving anything, while a process of an older version
// holds a lock file: that process would not find the files it writes. A
// crash part-way leaves some uploads moved and some not; the next start
// moves the rest (a data file is moved before its record, and a record
// without its data file is never left behind in the new layout's view:
// Resume and Open find both or report the upload gone until it is moved).
func (b *Backend) migrate() (moved bool, err error) {
	entries, err := os.ReadDir(b.dir)
	if err != nil {
		return false, fmt.Errorf("migrate: %w", err)
	}
	for _, e := range entries {
		if _, ok := idOf(e.Name(), lockExt); ok {
			if err := releaseLegacyLock(b.sub(e.Name())); err != nil {
				return false, fmt.Errorf("migrate: %s: stop the older ferry process first: %w", e.Name(), err)
			}
		}
	}
	// ReadDir sorts by name, so an id's .data comes before its .json.
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, tmpPrefix) {
			if err := removeLeftover(b.sub(name)); err != nil {
				return moved, fmt.Errorf("migrate: %w", err)
			}
			continue
		}
		var to string
		if id, ok := idOf(name, dataExt); ok {
			to = b.dataPath(id)
		} else if id, ok := idOf(name, metaExt); ok {
			to = b.metaPath(id)
		} else {
			continue // a directory of the layout, or not ours
		}
		if err := os.Rename(b.sub(name), to); err != nil && !errors.Is(err, os.ErrNotExist) {
			return moved, fmt.Errorf("migrate %s: %w", name, err)
		}
		moved = true
	}
	if !moved {
		return false, nil
	}
	// The moves become durable with every shard's directory and Dir.
	var errs []error
	for i := range shards {
		errs = append(errs, syncDir(filepath.Join(b.sub(filesDir), fmt.Sprintf("%02x", i))))
	}
	errs = append(errs, syncDir(b.dir))
	if err := errors.Join(errs...); err != nil {
		return true, fmt.Errorf("migrate: %w", err)
	}
	return true, nil
}

// together runs the calls at once and returns their errors joined. Syncs
// running together cost the disk about one: the file system commits its
// journal once for all of them.
func together(calls ...func() error) error {
	if len(calls) == 1 {
		return calls[0]()
	}
	errs := make([]error, len(calls))
	var wg sync.WaitGroup
	for i, call := range calls[1:] {
		wg.Go(func() { errs[i+1] = call() })
	}
	errs[0] = calls[0]()
	wg.Wait()
	return errors.Join(errs...)
}

// syncing returns a call that syncs dir through the Backend's dirSyncer.
func (b *Backend) syncing(dir string) func() error { return func() error { return b.dirs.sync(dir) } }

// idOf returns the id of a file named <id><ext>, if it is one.
func idOf(name, ext string) (string, bool) {
	id, ok := strings.CutSuffix(name, ext)
	return id, ok && storage.ValidID(id)
}
