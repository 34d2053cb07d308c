package local

import (
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/ferryhq/ferry/storage"
)

// Flock takes the lock a Writer holds on its data file (flock(2), or
// LockFileEx on Windows) on f, for tests that play another process.
func Flock(f *os.File) error { return flock(f) }

// StoreFiles lists the regular files under dir, as slash-separated paths
// relative to it, sorted; index/.complete, which every data directory has
// once opened, is left out. Directories (the shards, the index's) are not
// listed: an empty one stores nothing.
func StoreFiles(dir string) ([]string, error) { return storeFiles(dir) }

func storeFiles(dir string) ([]string, error) {
	var names []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		if rel = filepath.ToSlash(rel); rel != indexDir+"/"+indexDoneName {
			names = append(names, rel)
		}
		return nil
	})
	slices.Sort(names)
	return names, err
}

// DataPath, MetaPath, MarkPath and TmpPath are where b keeps the data
// file, the record, the expiry marker and the temporary record of upload id.
func DataPath(b *Backend, id string) string { return b.dataPath(id) }
func MetaPath(b *Backend, id string) string { return b.metaPath(id) }
func MarkPath(b *Backend, id string) string { return b.markPath(id) }
func TmpPath(b *Backend, id string) string  { return b.tmpPath(id) }

// DataFile is where a Backend on dir keeps the data file of upload id.
func DataFile(dir, id string) string { return (&Backend{dir: dir}).dataPath(id) }

// SeedComplete stores a completed file of size 0 as Commit would leave it
// (record, data file, index entry), without syncing anything: benchmarks
// build a million files with it in minutes.
func SeedComplete(b *Backend, id, name string, done time.Time) error {
	rec := record{ID: id, Meta: storage.Meta{Name: name}, Created: done, Modified: done,
		Complete: true, SHA256: "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"}
	enc, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	if err := os.WriteFile(b.dataPath(id), nil, 0o600); err != nil {
		return err
	}
	if err := os.WriteFile(b.metaPath(id), enc, 0o600); err != nil {
		return err
	}
	return b.indexAppend(indexKey(done, id), false)
}
