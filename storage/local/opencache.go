package local

import (
	"os"
	"runtime"
	"sync"

	"github.com/ferryhq/ferry/storage"
)

// maxOpenCache bounds the records openCache keeps: about 300 bytes each.
const maxOpenCache = 1 << 14

// maxOpenFiles bounds the data files openCache keeps open: a small share of
// the descriptors a process may have (Go raises the soft limit to the hard
// one, commonly 2^20, but 1,024 is still the default hard limit on some
// systems, and uploads and connections need theirs).
const maxOpenFiles = 256

// maxSharedSize is the largest file whose descriptor openCache keeps open.
// Opening, checking and closing a data file costs four system calls, as much
// as serving a small file; against a large body it is nothing.
const maxSharedSize = 64 << 10

// sharesFiles tells whether data files are kept open at all. Not on
// Windows, where an open file's name stays taken until its last handle
// closes, even after it was removed.
const sharesFiles = runtime.GOOS != "windows"

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
//
// For small files (up to maxSharedSize, at most maxOpenFiles of them) it
// also keeps the data file open, and the next Open checks the path with
// one stat instead of opening, checking and closing the file. While the
// cache holds the descriptor the inode cannot be reused, so a file put in
// its place always has another identity. Readers of a kept file share its
// descriptor and read at their own position (pread), never moving the
// descriptor's offset. A file is closed when it is dropped (by Delete in
// this process, or by an Open that found it changed) or evicted, once its
// last reader is closed. A file another process deleted keeps its space
// until this one opens it again or evicts it: at most maxOpenFiles files
// of maxSharedSize each.
type openCache struct {
	mu      sync.Mutex
	entries map[string]openEntry
	// files are the data files kept open, by id; each has an entry.
	files map[string]*sharedFile
}

// openEntry is one completed file's record and its data file as Open
// first saw it.
type openEntry struct {
	rec  record
	data os.FileInfo
	path string // the data file's, made once: joining it costs allocations
}

// sharedFile is a data file kept open by openCache and read by the objects
// it handed out. It is closed when refs, the cache's reference and one per
// object not yet closed, falls to zero.
type sharedFile struct {
	f    *os.File
	data os.FileInfo // f as the entry that kept it saw it
	refs int         // guarded by the openCache's mu
}

// get returns id's entry and, when its data file is kept open, that file
// with a reference taken for the caller (to give back with release).
func (c *openCache) get(id string) (openEntry, *sharedFile, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[id]
	sf := c.files[id]
	if sf != nil {
		sf.refs++
	}
	return e, sf, ok
}

// put records e for id; with f it also keeps f open for id and returns it
// with a reference taken for the caller. It returns nil when f is nil or
// id's file is kept open already (the caller keeps f to itself then).
func (c *openCache) put(id string, e openEntry, f *os.File) *sharedFile {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.entries == nil {
		c.entries = make(map[string]openEntry)
		c.files = make(map[string]*sharedFile)
	}
	if _, ok := c.entries[id]; !ok && len(c.entries) >= maxOpenCache {
		// Forget one at random (map order): bounded memory, and a hot
		// file comes back on its next Open.
		for k := range c.entries {
			c.dropLocked(k)
			break
		}
	}
	c.entries[id] = e
	if old := c.files[id]; old != nil && !sameData(old.data, e.data) {
		// Two Opens raced with a replacement: the file kept open is not
		// the one e describes, and must never be served for it.
		delete(c.files, id)
		c.releaseLocked(old)
	}
	if f == nil || c.files[id] != nil {
		return nil
	}
	if len(c.files) >= maxOpenFiles {
		for k, old := range c.files {
			delete(c.files, k)
			c.releaseLocked(old)
			break
		}
	}
	sf := &sharedFile{f: f, data: e.data, refs: 2} // the cache's and the caller's
	c.files[id] = sf
	return sf
}

// drop forgets id and closes its data file once no reader holds it.
func (c *openCache) drop(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.dropLocked(id)
}

func (c *openCache) dropLocked(id string) {
	delete(c.entries, id)
	if sf := c.files[id]; sf != nil {
		delete(c.files, id)
		c.releaseLocked(sf)
	}
}

// release gives back a reference get or put took.
func (c *openCache) release(sf *sharedFile) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.releaseLocked(sf)
}

func (c *openCache) releaseLocked(sf *sharedFile) error {
	sf.refs--
	if sf.refs > 0 {
		return nil
	}
	return sf.f.Close()
}

// openCached is Open for a file in the cache: its kept data file after a
// stat of the path, or the data file opened again; either is checked
// against the entry. ok is false when there is no entry or it no longer
// holds (then it is dropped), and Open reads the record.
func (b *Backend) openCached(id string) (storage.Object, bool) {
	e, sf, ok := b.opened.get(id)
	if !ok {
		return nil, false
	}
	if sf != nil {
		fi, err := os.Stat(e.path)
		if err != nil || !sameData(fi, e.data) {
			b.opened.release(sf)
			b.opened.drop(id)
			return nil, false
		}
		return b.sharedObject(e.rec, sf), true
	}
	f, err := openFile(e.path, os.O_RDONLY, 0)
	if err != nil {
		b.opened.drop(id)
		return nil, false
	}
	fi, err := f.Stat()
	if err != nil || !sameData(fi, e.data) {
		f.Close()
		b.opened.drop(id)
		return nil, false
	}
	return b.cacheObject(id, e, f), true
}

// cacheObject records e for id and returns the object of f, a data file
// just opened and checked: reading a file kept open by the cache when it
// is small enough to keep (then the cache owns f), else reading f alone.
func (b *Backend) cacheObject(id string, e openEntry, f *os.File) storage.Object {
	var keep *os.File
	if sharesFiles && e.data.Size() <= maxSharedSize {
		keep = f
	}
	if sf := b.opened.put(id, e, keep); sf != nil {
		return b.sharedObject(e.rec, sf)
	}
	return &object{reader: reader{f: f}, info: b.info(e.rec)}
}

// sharedObject returns an object reading sf, whose reference it takes
// over.
func (b *Backend) sharedObject(rec record, sf *sharedFile) storage.Object {
	return &object{reader: reader{f: sf.f, shared: sf, cache: &b.opened, size: rec.Meta.Size}, info: b.info(rec)}
}

// sameData reports whether fi describes the data file first seen as was:
// the same inode, size and modification time.
func sameData(fi, was os.FileInfo) bool {
	return os.SameFile(fi, was) && fi.Size() == was.Size() && fi.ModTime().Equal(was.ModTime())
}
