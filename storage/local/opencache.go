package local

import (
	"os"
	"sync"

	"github.com/ferryhq/ferry/storage"
)

// maxOpenCache bounds the records openCache keeps: about 300 bytes each.
const maxOpenCache = 1 << 14

// openCache remembers the records of completed files that Open read, with
// the identity of their data file, so that the next Open of the same file
// skips reading and decoding the record: for a small file that is most of
// what a download costs (docs/performance.md, "Small files"). A completed
// file never changes, so the record stays true for as long as its data
// file is the same file. Delete removes the data file first, in this
// process or in another one sharing the directory, so an Open that finds
// the data file gone or another file in its place (a different inode,
// size or modification time) drops the entry and reads the record as if
// there were none.
type openCache struct {
	mu      sync.Mutex
	entries map[string]openEntry
}

// openEntry is one completed file's record and its data file as Open
// first saw it.
type openEntry struct {
	rec  record
	data os.FileInfo
}

func (c *openCache) get(id string) (openEntry, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[id]
	return e, ok
}

func (c *openCache) put(id string, e openEntry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.entries == nil {
		c.entries = make(map[string]openEntry)
	}
	if len(c.entries) >= maxOpenCache {
		// Forget one at random (map order): bounded memory, and a hot
		// file comes back on its next Open.
		for k := range c.entries {
			delete(c.entries, k)
			break
		}
	}
	c.entries[id] = e
}

func (c *openCache) drop(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.entries, id)
}

// openCached is Open for a file in the cache: the data file is opened and
// checked against the entry. ok is false when there is no entry or it no
// longer holds (then it is dropped), and Open reads the record.
func (b *Backend) openCached(id string) (storage.Object, bool) {
	e, ok := b.opened.get(id)
	if !ok {
		return nil, false
	}
	f, err := openFile(b.dataPath(id), os.O_RDONLY, 0)
	if err != nil {
		b.opened.drop(id)
		return nil, false
	}
	fi, err := f.Stat()
	if err != nil || !os.SameFile(fi, e.data) || fi.Size() != e.data.Size() || !fi.ModTime().Equal(e.data.ModTime()) {
		f.Close()
		b.opened.drop(id)
		return nil, false
	}
	return &object{reader: reader{f: f}, info: b.info(e.rec)}, true
}
