package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// resumeState is what `ferry upload` remembers about an upload in progress:
// enough to continue it, and to tell that the file is still the same one.
type resumeState struct {
	Server  string    `json:"server"`
	Path    string    `json:"path"` // absolute
	Size    int64     `json:"size"`
	ModTime time.Time `json:"mtime"`
	ID      string    `json:"id"`
	Saved   time.Time `json:"saved"`
}

// resumeKey names the state of one file version on one server: a file that
// is modified (other size or mtime) or sent elsewhere starts a new upload.
func resumeKey(server, absPath string, size int64, mtime time.Time) string {
	h := sha256.New()
	for _, part := range []string{server, absPath, strconv.FormatInt(size, 10), strconv.FormatInt(mtime.UnixNano(), 10)} {
		h.Write([]byte(part))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// resumeStore keeps one small JSON file per upload in progress under the
// user's cache directory. A store with an empty dir keeps nothing.
type resumeStore struct{ dir string }

// openResumeStore returns the store under os.UserCacheDir()/ferry/uploads
// (XDG_CACHE_HOME is honoured), creating it; the error says why it cannot.
func openResumeStore() (resumeStore, error) {
	base, err := os.UserCacheDir()
	if err != nil {
		return resumeStore{}, fmt.Errorf("resume state: %w", err)
	}
	dir := filepath.Join(base, "ferry", "uploads")
	// 0700: an upload id lets its holder write to the upload.
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return resumeStore{}, fmt.Errorf("resume state: %w", err)
	}
	return resumeStore{dir: dir}, nil
}

func (s resumeStore) path(key string) string { return filepath.Join(s.dir, key+".json") }

// load returns the state saved under key. A missing, unreadable or foreign
// state is reported as none: the worst outcome is a fresh upload.
func (s resumeStore) load(key string, want resumeState) (resumeState, bool) {
	if s.dir == "" {
		return resumeState{}, false
	}
	b, err := os.ReadFile(s.path(key))
	if err != nil {
		return resumeState{}, false
	}
	var st resumeState
	if json.Unmarshal(b, &st) != nil || st.ID == "" || st.Server != want.Server ||
		st.Path != want.Path || st.Size != want.Size || !st.ModTime.Equal(want.ModTime) {
		return resumeState{}, false
	}
	return st, true
}

// save writes the state atomically (a temporary file renamed over the old
// one), so an interrupted save leaves the previous state or none, never half.
func (s resumeStore) save(key string, st resumeState) error {
	if s.dir == "" {
		return nil
	}
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return fmt.Errorf("resume state: %w", err)
	}
	tmp, err := os.CreateTemp(s.dir, ".tmp-"+key+"-*")
	if err != nil {
		return fmt.Errorf("resume state: %w", err)
	}
	defer os.Remove(tmp.Name()) // after a successful rename this finds nothing
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return fmt.Errorf("resume state: writing %s: %w", tmp.Name(), err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("resume state: syncing %s: %w", tmp.Name(), err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("resume state: closing %s: %w", tmp.Name(), err)
	}
	if err := os.Rename(tmp.Name(), s.path(key)); err != nil {
		return fmt.Errorf("resume state: %w", err)
	}
	return nil
}

// remove forgets the state under key; forgetting a missing state is no error.
func (s resumeStore) remove(key string) error {
	if s.dir == "" {
		return nil
	}
	if err := os.Remove(s.path(key)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("resume state: %w", err)
	}
	return nil
}
