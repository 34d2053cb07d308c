package local

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"time"

	"github.com/ferryhq/ferry/storage"
)

// record is what files/<ss>/<id>.json stores about an upload. Its offset and
// state always come from one and the same Checkpoint: a record is written
// whole, into one slot (see recordFile), never in parts.
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

// The record file holds two slots of slotSize bytes each, the file being
// exactly two slots long; each slot is a header and the record's JSON:
//
//	"FRC1" | seq (uint64 LE) | n (uint32 LE) | CRC-32C (uint32 LE) of seq, n
//	and the JSON | n bytes of JSON | padding up to the slot's end
//
// The valid slot with the higher seq is the record. A writer writes the
// other slot, in place, and syncs it: a write torn by a crash fails its
// checksum, and the slot it did not touch still holds the last durable
// record. So no temporary file, rename or directory sync is needed for
// each Checkpoint and Commit (docs/performance.md, "Target 3").
//
// A file that starts with '{' is a record of the versions before slots
// (one JSON object, replaced whole by rename); it is read as it is, and
// its first write replaces it with a slotted file by rename, as a record
// too large for its slots is (rewriteRecord). A file with no valid slot is
// what a Create cut short by a crash leaves (Create acknowledges only once
// its slot is synced): it counts as no record.
const (
	slotMagic  = "FRC1"
	slotHeader = 20
	// minSlot is the smallest slot: the two slots of an ordinary record
	// share one 4 KiB block.
	minSlot = 2048
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// slotSizeFor is the slot size a record of n bytes of JSON gets in a new
// file: minSlot, or the next power of two that holds it.
func slotSizeFor(n int) int64 {
	s := int64(minSlot)
	for s < int64(slotHeader+n) {
		s *= 2
	}
	return s
}

// encodeSlot is the slot holding enc with sequence number seq.
func encodeSlot(enc []byte, seq uint64) []byte {
	buf := make([]byte, slotHeader+len(enc))
	copy(buf, slotMagic)
	binary.LittleEndian.PutUint64(buf[4:], seq)
	binary.LittleEndian.PutUint32(buf[12:], uint32(len(enc)))
	copy(buf[slotHeader:], enc)
	crc := crc32.Update(crc32.Checksum(buf[4:16], castagnoli), castagnoli, enc)
	binary.LittleEndian.PutUint32(buf[16:], crc)
	return buf
}

// decodeSlot returns the record in slot and its seq, if the slot is valid
// and names id.
func decodeSlot(slot []byte, id string) (record, uint64, bool) {
	if len(slot) < slotHeader || string(slot[:4]) != slotMagic {
		return record{}, 0, false
	}
	seq := binary.LittleEndian.Uint64(slot[4:])
	n := binary.LittleEndian.Uint32(slot[12:])
	if uint64(n) > uint64(len(slot)-slotHeader) {
		return record{}, 0, false
	}
	enc := slot[slotHeader : slotHeader+int(n)]
	crc := crc32.Update(crc32.Checksum(slot[4:16], castagnoli), castagnoli, enc)
	if crc != binary.LittleEndian.Uint32(slot[16:]) {
		return record{}, 0, false
	}
	var rec record
	if err := json.Unmarshal(enc, &rec); err != nil || rec.ID != id {
		return record{}, 0, false
	}
	return rec, seq, true
}

// recordFile is what a Writer knows of its record file: which slot holds
// the durable record, under which seq, and the slot size. A slotSize of 0
// says the file is not slotted (a record of an earlier version, or a
// Create's slots cut short), so the next write rewrites it. The Writer opens
// the file for each write only: a live Writer holds one descriptor, its
// data file's.
type recordFile struct {
	slotSize int64
	cur      int // the slot holding the record: 0 or 1
	seq      uint64
}

// parseRecord reads the record of id out of a record file's bytes. A record
// file with no valid slot is storage.ErrNotFound (a Create cut short); a
// record of an earlier version that does not parse, or one that names
// another id, is reported as corrupt rather than trusted.
func parseRecord(buf []byte, id string) (record, recordFile, error) {
	if len(buf) > 0 && buf[0] == '{' {
		var rec record
		if err := json.Unmarshal(buf, &rec); err != nil {
			return record{}, recordFile{}, fmt.Errorf("metadata of %s is corrupt: %w", id, err)
		}
		if rec.ID != id {
			return record{}, recordFile{}, fmt.Errorf("metadata of %s names upload %q", id, rec.ID)
		}
		return rec, recordFile{}, nil
	}
	size := int64(len(buf)) / 2
	slotted := int64(len(buf)) == 2*size && size >= minSlot && size&(size-1) == 0
	var (
		best  record
		rf    recordFile
		found bool
	)
	if !slotted {
		// Only slot 0 can be found: a Create writes both slots at once,
		// and a file of another length is one it did not finish.
		size = int64(len(buf))
	}
	for i := range 2 {
		if int64(i)*size >= int64(len(buf)) {
			break
		}
		rec, seq, ok := decodeSlot(buf[int64(i)*size:min(int64(i+1)*size, int64(len(buf)))], id)
		if ok && (!found || seq > rf.seq) {
			best, found = rec, true
			rf = recordFile{cur: i, seq: seq}
		}
	}
	if !found {
		return record{}, recordFile{}, fmt.Errorf("%s: no complete record: %w", id, storage.ErrNotFound)
	}
	if slotted {
		rf.slotSize = size
	}
	return best, rf, nil
}

// readRecord reads the record of id from path. A missing file, or one with
// no valid slot, is storage.ErrNotFound; a record that does not parse or
// names another id is reported as corrupt rather than trusted.
func readRecord(path, id string) (record, error) {
	b, err := readFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return record{}, fmt.Errorf("%s: %w", id, storage.ErrNotFound)
	}
	if err != nil {
		return record{}, fmt.Errorf("read metadata of %s: %w", id, err)
	}
	rec, _, err := parseRecord(b, id)
	return rec, err
}

// readRecordFile reads the record of id through f, its open record file.
func readRecordFile(f *os.File, id string) (record, recordFile, error) {
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return record{}, recordFile{}, fmt.Errorf("read metadata of %s: %w", id, err)
	}
	b, err := io.ReadAll(f)
	if err != nil {
		return record{}, recordFile{}, fmt.Errorf("read metadata of %s: %w", id, err)
	}
	return parseRecord(b, id)
}

// createRecord writes the first record of a new upload into f, the empty
// record file that Create made (or emptied: one without a valid slot, left
// by a crashed Create), and syncs it together with the shard's directory,
// which makes the names of the record and of the data file durable. The syncs in before run
// first, and all must succeed before the record is written: what the
// record counts on (the marker) is durable before the record is.
func (b *Backend) createRecord(f *os.File, rec record, before ...func() error) (recordFile, error) {
	enc, err := json.Marshal(rec)
	if err != nil {
		return recordFile{}, fmt.Errorf("encode metadata: %w", err)
	}
	if len(before) > 0 {
		if err := together(before...); err != nil {
			return recordFile{}, err
		}
	}
	if err := b.step("record: write"); err != nil {
		return recordFile{}, fmt.Errorf("write metadata: %w", err)
	}
	size := slotSizeFor(len(enc))
	buf := make([]byte, 2*size)
	copy(buf, encodeSlot(enc, 1))
	if _, err := f.WriteAt(buf, 0); err != nil {
		return recordFile{}, fmt.Errorf("write metadata: %w", mapErr(err))
	}
	if err := b.step("record: sync"); err != nil {
		return recordFile{}, fmt.Errorf("sync metadata: %w", err)
	}
	if err := together(func() error { return fdatasync(f) }, b.syncing(b.shardPath(rec.ID))); err != nil {
		return recordFile{}, fmt.Errorf("sync metadata: %w", mapErr(err))
	}
	return recordFile{slotSize: size, cur: 0, seq: 1}, nil
}

// writeRecord makes rec the record in f, the open record file rf describes:
// the syncs in before (of the data
// file, of an index directory) run first, and only once all succeeded is
// rec written into the slot that does not hold the current record and
// synced. Until that sync returns, readers may already see rec (never a
// torn one: a slot that fails its checksum is skipped), but never a record
// whose bytes or index entry are not durable. If the write or its sync
// fails, the slot is cleared again (as far as the file system lets us),
// and rf still names the last durable record.
//
// A record too large for its slots, or a file that is not slotted, is
// replaced whole instead (rewriteRecord).
func (b *Backend) writeRecord(f *os.File, rf *recordFile, rec record, before ...func() error) error {
	enc, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("encode metadata: %w", err)
	}
	if len(before) > 0 {
		if err := together(before...); err != nil {
			return err
		}
	}
	if err := b.step("record: write"); err != nil {
		return fmt.Errorf("write metadata: %w", err)
	}
	if rf.slotSize == 0 || int64(slotHeader+len(enc)) > rf.slotSize {
		return b.rewriteRecord(rf, rec.ID, enc)
	}
	next := 1 - rf.cur
	slot := encodeSlot(enc, rf.seq+1)
	if _, err := f.WriteAt(slot, int64(next)*rf.slotSize); err != nil {
		clearSlot(f, rf, next)
		return fmt.Errorf("write metadata: %w", mapErr(err))
	}
	err = b.step("record: sync")
	if err == nil {
		err = fdatasync(f)
	}
	if err != nil {
		clearSlot(f, rf, next)
		return fmt.Errorf("sync metadata: %w", mapErr(err))
	}
	rf.cur, rf.seq = next, rf.seq+1
	return nil
}

// clearSlot overwrites the header of a slot whose write failed, so that
// readers go on seeing the last durable record. Best effort: if this fails
// too, the file system is failing, and the slot's sync failed before it.
func clearSlot(f *os.File, rf *recordFile, slot int) {
	f.WriteAt(make([]byte, slotHeader), int64(slot)*rf.slotSize)
}

// rewriteRecord replaces the record file of id with a new slotted file
// holding enc in slot 0: written to files/<ss>/<id>.tmp, fsynced, renamed
// over the record, and the shard's directory synced. A crash leaves the
// old file or the new one. It is the rare path (an earlier version's
// record, or one that outgrew its slots); rf then describes the new file.
func (b *Backend) rewriteRecord(rf *recordFile, id string, enc []byte) (err error) {
	tmp := b.tmpPath(id)
	f, err := openFile(tmp, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("write metadata: %w", mapErr(err))
	}
	renamed := false
	defer func() {
		f.Close()
		if err != nil && !renamed {
			os.Remove(tmp)
		}
	}()
	size := slotSizeFor(len(enc))
	buf := make([]byte, 2*size)
	seq := rf.seq + 1
	copy(buf, encodeSlot(enc, seq))
	if _, err := f.WriteAt(buf, 0); err != nil {
		return fmt.Errorf("write metadata: %w", mapErr(err))
	}
	if err := synced(f.Sync); err != nil {
		return fmt.Errorf("sync metadata: %w", mapErr(err))
	}
	if err := b.step("record: rename"); err != nil {
		return fmt.Errorf("publish metadata: %w", err)
	}
	if err := os.Rename(tmp, b.metaPath(id)); err != nil {
		return fmt.Errorf("publish metadata: %w", mapErr(err))
	}
	// The rename happened: f is the record now, whatever the directory
	// sync says.
	renamed = true
	*rf = recordFile{slotSize: size, cur: 0, seq: seq}
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
