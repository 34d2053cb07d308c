package local

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/ferryhq/ferry/storage"
)

// record is the metadata file <id>.json. It is replaced whole by rename, so
// its offset and state always come from one and the same Checkpoint.
type record struct {
	ID       string       `json:"id"`
	Meta     storage.Meta `json:"meta"`
	Created  time.Time    `json:"created"`
	Modified time.Time    `json:"modified"`
	// Offset is the durable length of the data file.
	Offset int64 `json:"offset"`
	// State is the caller's opaque checkpoint state (base64 in JSON).
	State    []byte `json:"state,omitempty"`
	Complete bool   `json:"complete,omitempty"`
	SHA256   string `json:"sha256,omitempty"`
}

// readRecord reads the record of id from path. A missing file is
// storage.ErrNotFound; a record that does not parse or names another id is
// reported as corrupt rather than trusted.
func readRecord(path, id string) (record, error) {
	b, err := readFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return record{}, fmt.Errorf("%s: %w", id, storage.ErrNotFound)
	}
	if err != nil {
		return record{}, fmt.Errorf("read metadata of %s: %w", id, err)
	}
	var rec record
	if err := json.Unmarshal(b, &rec); err != nil {
		return record{}, fmt.Errorf("metadata of %s is corrupt: %w", id, err)
	}
	if rec.ID != id {
		return record{}, fmt.Errorf("metadata of %s names upload %q", id, rec.ID)
	}
	return rec, nil
}

// writeRecord replaces the record of rec.ID atomically: write the
// temporary record <id>.tmp next to it, fsync it, rename it over the
// record, fsync the shard's directory. A crash leaves either the old record
// or the new one, never a mix. The syncs in before (of the data file, of a
// directory holding a marker or an index entry) run together with the
// temporary file's fsync, and all must succeed before the rename: what the
// new record counts on is durable before the record is, at the cost of one
// wait instead of several.
//
// The temporary record has a fixed name in the record's own directory: only
// the holder of the upload's lock writes it, so no random name is needed,
// and a rename within one directory does not take the file system's
// cross-directory rename lock, which every upload's records contended for
// while they were all made in one shared tmp/ (docs/performance.md). A
// leftover of a crash is truncated by the next writeRecord, or removed with
// the upload (Backend.remove, the expiry sweep).
func (b *Backend) writeRecord(id string, rec record, before ...func() error) (err error) {
	enc, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("encode metadata: %w", err)
	}
	if err := b.step("record: write"); err != nil {
		return fmt.Errorf("write metadata: %w", err)
	}
	tmp := b.tmpPath(id)
	f, err := openFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("write metadata: %w", mapErr(err))
	}
	defer func() {
		if err != nil {
			os.Remove(tmp)
		}
	}()
	if _, err := f.Write(enc); err != nil {
		f.Close()
		return fmt.Errorf("write metadata: %w", mapErr(err))
	}
	if err := together(append(before, func() error { return synced(f.Sync) })...); err != nil {
		f.Close()
		return fmt.Errorf("sync metadata: %w", mapErr(err))
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write metadata: %w", mapErr(err))
	}
	if err := b.step("record: rename"); err != nil {
		return fmt.Errorf("publish metadata: %w", err)
	}
	if err := os.Rename(tmp, b.metaPath(id)); err != nil {
		return fmt.Errorf("publish metadata: %w", mapErr(err))
	}
	if err := b.step("record: sync directory"); err != nil {
		return fmt.Errorf("sync directory: %w", err)
	}
	return b.dirs.sync(b.shardPath(id))
}

// mapErr translates the file system's errors into storage's sentinels at the
// edge, keeping the cause: a missing file is ErrNotFound, a full disk or
// quota is ErrNoSpace.
func mapErr(err error) error {
	switch {
	case err == nil:
		return nil
	case isNoSpace(err):
		return fmt.Errorf("%w: %w", storage.ErrNoSpace, err)
	case errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("%w: %w", storage.ErrNotFound, err)
	}
	return err
}
