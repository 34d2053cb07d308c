package s3

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/ferryhq/ferry/storage"
)

// Key layout under Config.Prefix. Ids have passed storage.ValidID before a
// key is built, so keys never hold anything a client chose.
//
//	files/<id>                 the bytes of a completed file; during the upload,
//	                           the key of its multipart upload
//	info/<id>                  fileRecord of a completed file: the commit point
//	index/<rank>-<id>          empty; List walks these, newest first
//	uploads/<id>/state         uploadState of an incomplete upload: its commit point
//	uploads/<id>/lease         leaseRecord: which Writer holds the upload
//	uploads/<id>/pending-<seq> bytes past the last whole part, written before
//	                           Checkpoint seq and after the one before it
//	uploads/<id>/part-<n>      a readable copy of whole part n, staged before it is
//	                           copied into the multipart upload (OpenPartial reads it)
//	events/…                   not the Backend's: package eventrelay's
type keys struct{ prefix string }

func (k keys) data(id string) string      { return k.prefix + "files/" + id }
func (k keys) info(id string) string      { return k.prefix + "info/" + id }
func (k keys) indexDir() string           { return k.prefix + "index/" }
func (k keys) uploadsDir() string         { return k.prefix + "uploads/" }
func (k keys) uploadDir(id string) string { return k.uploadsDir() + id + "/" }
func (k keys) state(id string) string     { return k.uploadDir(id) + "state" }
func (k keys) lease(id string) string     { return k.uploadDir(id) + "lease" }
func (k keys) pending(id string, seq int64) string {
	return fmt.Sprintf("%spending-%019d", k.uploadDir(id), seq)
}
func (k keys) index(done time.Time, id string) string { return k.indexDir() + rank(done, id) }

// rank orders completed files for List: keys sort ascending, so the time is
// stored as MaxInt64 minus its nanoseconds, fixed width, and the newest file
// comes first; ties go by id, as in the local backend.
func rank(done time.Time, id string) string {
	return fmt.Sprintf("%019d-%s", math.MaxInt64-done.UnixNano(), id)
}

// parseRank checks a List cursor, which is the rank of the last file of the
// previous page. Errors wrap storage.ErrInvalid.
func parseRank(s string) (string, error) {
	n, id, ok := strings.Cut(s, "-")
	if !ok || len(n) != 19 || !storage.ValidID(id) {
		return "", fmt.Errorf("bad cursor: %w", storage.ErrInvalid)
	}
	if _, err := strconv.ParseUint(n, 10, 63); err != nil {
		return "", fmt.Errorf("bad cursor: %w", storage.ErrInvalid)
	}
	return s, nil
}

// fileRecord describes a completed file. Writing it publishes the file.
type fileRecord struct {
	Schema   int          `json:"schema"`
	ID       string       `json:"id"`
	Meta     storage.Meta `json:"meta"`
	SHA256   string       `json:"sha256"`
	Created  time.Time    `json:"created"`
	Modified time.Time    `json:"modified"` // completion time
	// ETag of the data object; reads are pinned to it.
	ETag string `json:"etag"`
}

func (r fileRecord) info() storage.Info {
	return storage.Info{
		ID:       r.ID,
		Meta:     r.Meta,
		SHA256:   r.SHA256,
		Offset:   r.Meta.Size,
		Complete: true,
		Created:  r.Created,
		Modified: r.Modified,
	}
}

// uploadState is everything needed to resume an upload on any instance.
// Writing it is the commit point of a Checkpoint. Invariant: Offset ==
// the bytes of the parts in Parts plus those of the Pending objects.
type uploadState struct {
	Schema int    `json:"schema"`
	ID     string `json:"id"`
	// Meta is as declared at Create; Meta.Size may be storage.SizeUnknown
	// until a Checkpoint records the size Writer.SetSize declared, together
	// with the offset and state of that Checkpoint.
	Meta     storage.Meta `json:"meta"`
	Created  time.Time    `json:"created"`
	Modified time.Time    `json:"modified"` // last durable write
	// UploadID is the multipart upload on keys.data(ID); empty for a
	// zero-byte file, which needs none.
	UploadID string `json:"upload_id,omitempty"`
	PartSize int64  `json:"part_size"`
	Offset   int64  `json:"offset"`
	// Parts holds the ETags of parts 1..len(Parts), each uploaded whole.
	Parts []string `json:"parts"`
	// Pending lists the objects holding the bytes after the last whole
	// part, in order. Each Checkpoint adds one with only the bytes written
	// since the previous one, so a slow upload does not send its current
	// part again at every Checkpoint; they are dropped once the part is whole.
	Pending []pendingChunk `json:"pending,omitempty"`
	// Seq counts the writes of this record; it names pending objects, so a
	// Checkpoint never overwrites the bytes the current record points to.
	Seq int64 `json:"seq"`
	// Owner is the lease owner that wrote the record (for people debugging).
	Owner string `json:"owner,omitempty"`
	State []byte `json:"state,omitempty"` // opaque, from Writer.Checkpoint
}

// pendingChunk is one object of pending bytes.
type pendingChunk struct {
	Key  string `json:"key"`
	Size int64  `json:"size"`
}

// pendingSize is the number of bytes after the last whole part.
func (s *uploadState) pendingSize() int64 {
	var n int64
	for _, c := range s.Pending {
		n += c.Size
	}
	return n
}

// partLen is the length of part n (1-based): PartSize but for the last one.
func (s *uploadState) partLen(n int) int64 { return partLen(s.Meta.Size, s.PartSize, n) }

// limit is the most bytes the upload can hold: its size, or for an upload
// of unknown size what MaxParts parts of PartSize hold.
func (s *uploadState) limit() int64 { return sizeLimit(s.Meta.Size, s.PartSize) }

// partLen is the length of part n (1-based) of an upload of size bytes (or
// storage.SizeUnknown) in parts of partSize: partSize but for the last part
// of a known size.
func partLen(size, partSize int64, n int) int64 {
	if size == storage.SizeUnknown {
		return partSize
	}
	return min(partSize, size-int64(n-1)*partSize)
}

// sizeLimit is the most bytes an upload of size bytes (or
// storage.SizeUnknown) in parts of partSize can hold.
func sizeLimit(size, partSize int64) int64 {
	if size == storage.SizeUnknown {
		return min(partSize*MaxParts, MaxObjectSize)
	}
	return size
}

func (s *uploadState) check() error {
	var whole int64
	for n := range len(s.Parts) {
		whole += s.partLen(n + 1)
	}
	for _, c := range s.Pending {
		if c.Size <= 0 || c.Key == "" {
			return fmt.Errorf("inconsistent upload state (pending object %q of %d bytes)", c.Key, c.Size)
		}
	}
	if pending := s.pendingSize(); s.PartSize <= 0 || s.Offset < 0 || s.Offset > s.limit() ||
		whole+pending != s.Offset || pending >= s.PartSize {
		return fmt.Errorf("inconsistent upload state (offset %d, %d parts of %d, %d pending)",
			s.Offset, len(s.Parts), s.PartSize, pending)
	}
	return nil
}

// leaseRecord is the content of an upload's lease object. A lease whose
// Expires has passed may be taken by anyone, with a conditional PUT.
type leaseRecord struct {
	Schema  int       `json:"schema"`
	Owner   string    `json:"owner"`
	Expires time.Time `json:"expires"`
	// Yield is set by a holder whose Writer called Yield: it gives the
	// upload up when asked. Only the owner writes it.
	Yield bool `json:"yield,omitempty"`
	// Release is set by a TakeOver (with If-Match on the holder's ETag, the
	// rest of the record unchanged) to ask a yielding holder to let go.
	Release bool `json:"release,omitempty"`
}

// putJSON stores v at key. cond sets If-Match or If-None-Match (see
// ifMatch, ifNoneMatch). It returns the new object's ETag, or minio-go's error.
func (b *Backend) putJSON(ctx context.Context, key string, v any, cond func(*minio.PutObjectOptions)) (string, error) {
	raw, err := json.Marshal(v)
	if err != nil {
		return "", fmt.Errorf("encode %s: %w", key, err)
	}
	opts := minio.PutObjectOptions{ContentType: "application/json", DisableContentSha256: true}
	if cond != nil {
		cond(&opts)
	}
	// With the payload's SHA-256 given (and streaming off), minio-go signs
	// it in the header instead of streaming it in signed chunks, which
	// allocates 64 KiB per request: a thousand uploads renewing leases made that a tenth of the
	// heap (docs/performance.md).
	sum := sha256.Sum256(raw)
	info, err := b.c.PutObject(ctx, b.cfg.Bucket, key, bytes.NewReader(raw), int64(len(raw)), "", hex.EncodeToString(sum[:]), opts)
	if err != nil {
		return "", err
	}
	return info.ETag, nil
}

// writeState stores st with cond and returns its ETag. minio-go retries a
// request whose answer was lost, and the retry of a conditional write then
// fails against our own first attempt: if the stored state is st (same
// owner and sequence number), that is a success.
func (b *Backend) writeState(ctx context.Context, st *uploadState, cond func(*minio.PutObjectOptions)) (string, error) {
	key := b.keys.state(st.ID)
	tag, err := b.putJSON(ctx, key, st, cond)
	if err == nil || !isConflict(err) {
		return tag, err
	}
	var cur uploadState
	if curTag, gerr := b.getJSON(ctx, key, &cur); gerr == nil && cur.Owner == st.Owner && cur.Seq == st.Seq {
		return curTag, nil
	}
	return "", err
}

// mayHold reports whether a state write of owner's that failed may have
// landed, or may still land: the stored state names owner (whatever its
// sequence number: a write the store is still working on can land later),
// or it cannot be read now. A state that is gone, or names another owner,
// can never take a write conditional on owner's earlier ETag any more.
func (b *Backend) mayHold(ctx context.Context, id, owner string) bool {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), releaseTimeout)
	defer cancel()
	var cur uploadState
	_, err := b.getJSON(ctx, b.keys.state(id), &cur)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return false
	case err != nil:
		return true
	}
	return cur.Owner == owner
}

func ifMatch(etag string) func(*minio.PutObjectOptions) {
	return func(o *minio.PutObjectOptions) { o.SetMatchETag(etag) }
}

func ifNoneMatch(o *minio.PutObjectOptions) { o.SetMatchETagExcept("*") }

// maxRecord bounds what getJSON reads: the largest record is a state with
// MaxParts ETags and the upload layer's opaque state.
const maxRecord = 4 << 20

// getJSON reads the JSON object at key into v and returns its ETag. A missing
// key is an error wrapping storage.ErrNotFound.
func (b *Backend) getJSON(ctx context.Context, key string, v any) (string, error) {
	body, info, _, err := b.c.GetObject(ctx, b.cfg.Bucket, key, minio.GetObjectOptions{})
	if err != nil {
		return "", translate(err)
	}
	defer body.Close()
	raw, err := io.ReadAll(io.LimitReader(body, maxRecord+1))
	if err != nil {
		return "", translate(err)
	}
	if len(raw) > maxRecord {
		return "", fmt.Errorf("%s is larger than %d bytes", key, maxRecord)
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return "", fmt.Errorf("decode %s: %w", key, err)
	}
	return info.ETag, nil
}
