package s3_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"iter"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/google/uuid"
	"github.com/minio/minio-go/v7"

	"github.com/ferryhq/ferry/storage"
	"github.com/ferryhq/ferry/storage/s3"
	"github.com/ferryhq/ferry/storage/s3/s3test"
)

const mib = 1 << 20

// payload returns n deterministic pseudo-random bytes for seed.
func payload(seed uint64, n int) []byte {
	var key [32]byte
	key[0], key[1] = byte(seed), byte(seed>>8)
	p := make([]byte, n)
	rand.NewChaCha8(key).Read(p)
	return p
}

func digest(p []byte) string {
	s := sha256.Sum256(p)
	return hex.EncodeToString(s[:])
}

// site is one bucket of the test server with the Config to reach it.
type site struct {
	env    s3test.Env
	bucket string
	cfg    s3.Config
}

// newSite makes a fresh bucket with 5 MiB parts (the least S3 allows, so
// small uploads span several parts) and a prefix, so that keys under the
// prefix are all a Backend may touch.
func newSite(t *testing.T) site {
	t.Helper()
	env := s3test.Lookup(t)
	bucket := env.Bucket(t)
	cfg := env.Config(bucket)
	cfg.Prefix = "ferry/"
	cfg.PartSize = s3.MinPartSize
	return site{env: env, bucket: bucket, cfg: cfg}
}

// backend opens a Backend on the site; change, if not nil, edits its Config.
func (s site) backend(t *testing.T, change func(*s3.Config)) *s3.Backend {
	t.Helper()
	cfg := s.cfg
	if change != nil {
		change(&cfg)
	}
	b, err := s3.New(t.Context(), cfg)
	if err != nil {
		t.Fatalf("s3.New: %v", err)
	}
	return b
}

// faulty opens a Backend whose store calls go through a faultClient.
func (s site) faulty(t *testing.T, change func(*s3.Config)) (*s3.Backend, *faultClient) {
	t.Helper()
	cfg := s.cfg
	if change != nil {
		change(&cfg)
	}
	f := &faultClient{}
	b, err := s3.NewWithClient(t.Context(), cfg, func(c s3.Client) s3.Client { f.Client = c; return f })
	if err != nil {
		t.Fatalf("s3.NewWithClient: %v", err)
	}
	return b, f
}

// core is a low-level client on the site, to reach behind the Backend.
func (s site) core(t *testing.T) *minio.Core {
	t.Helper()
	return &minio.Core{Client: s.env.Client(t)}
}

// keys lists every object in the bucket, sorted.
func (s site) keys(t *testing.T) []string {
	t.Helper()
	var keys []string
	for oi := range s.env.Client(t).ListObjects(t.Context(), s.bucket, minio.ListObjectsOptions{Recursive: true}) {
		if oi.Err != nil {
			t.Fatalf("list %s: %v", s.bucket, oi.Err)
		}
		keys = append(keys, oi.Key)
	}
	slices.Sort(keys)
	return keys
}

// uploads lists the multipart uploads in progress in the bucket as key/uploadID.
func (s site) uploads(t *testing.T) map[string]string {
	t.Helper()
	res, err := s.core(t).ListMultipartUploads(t.Context(), s.bucket, "", "", "", "", 1000)
	if err != nil {
		t.Fatalf("list multipart uploads: %v", err)
	}
	m := map[string]string{}
	for _, u := range res.Uploads {
		m[u.Key] = u.UploadID
	}
	return m
}

// onlyKeys fails unless the bucket holds exactly want and no multipart upload.
func (s site) onlyKeys(t *testing.T, want ...string) {
	t.Helper()
	slices.Sort(want)
	if got := s.keys(t); !slices.Equal(got, want) {
		t.Fatalf("bucket holds %q, want %q", got, want)
	}
	if u := s.uploads(t); len(u) != 0 {
		t.Fatalf("multipart uploads left: %v", u)
	}
}

// fileKeys are the keys of a completed file, whatever its List rank.
func (s site) fileKeys(t *testing.T, id string) []string {
	t.Helper()
	var keys []string
	for _, k := range s.keys(t) {
		if strings.Contains(k, id) {
			keys = append(keys, k)
		}
	}
	return keys
}

// faultClient wraps the real client: it can shorten part listings (to make
// the Backend page through them), count calls, and fail chosen calls.
type faultClient struct {
	s3.Client

	mu        sync.Mutex
	pageSize  int              // most parts per ListObjectParts answer; 0 = as asked
	listCalls int              // ListObjectParts calls
	gets      map[string]int   // GetObject calls by key
	puts      map[string]int64 // bytes PutObject sent, by key
	// failPut, when set, is asked before each PutObject; an error it returns
	// is the call's answer, and the call does not reach the store.
	failPut func(key string) error
	// beforeGet and beforeListParts, when set, run before each GetObject
	// (with its key) and ListObjectParts, which then reach the store.
	beforeGet       func(key string)
	beforeListParts func()
	// hang, when set, is asked before each PutObject, PutObjectPart and
	// CopyObjectPart (call is the method's name, key the object written,
	// n the part number or 0): land sends the call to the store first;
	// hold then keeps its answer until the call's context ends, and returns
	// the context's error, as a store too slow to answer in time would.
	hang func(call, key string, n int) (land, hold bool)
	// breakList, when set, is asked after each key a ListObjectsIter
	// yields: true ends that listing with an error there.
	breakList func(key string) bool
}

func (f *faultClient) ListObjectsIter(ctx context.Context, bucket string, opts minio.ListObjectsOptions) iter.Seq[minio.ObjectInfo] {
	f.mu.Lock()
	stop := f.breakList
	f.mu.Unlock()
	return func(yield func(minio.ObjectInfo) bool) {
		for oi := range f.Client.ListObjectsIter(ctx, bucket, opts) {
			if !yield(oi) {
				return
			}
			if oi.Err == nil && stop != nil && stop(oi.Key) {
				yield(minio.ObjectInfo{Err: errors.New("injected: listing broke off")})
				return
			}
		}
	}
}

// hung runs call as hang says for it.
func (f *faultClient) hung(ctx context.Context, name, key string, n int, call func() error) error {
	f.mu.Lock()
	hang := f.hang
	f.mu.Unlock()
	land, hold := true, false
	if hang != nil {
		land, hold = hang(name, key, n)
	}
	var err error
	if land {
		err = call()
	}
	if hold {
		<-ctx.Done()
		return ctx.Err()
	}
	return err
}

func (f *faultClient) PutObjectPart(ctx context.Context, bucket, object, uploadID string, partID int,
	data io.Reader, size int64, opts minio.PutObjectPartOptions) (p minio.ObjectPart, err error) {
	err = f.hung(ctx, "PutObjectPart", object, partID, func() (err error) {
		p, err = f.Client.PutObjectPart(ctx, bucket, object, uploadID, partID, data, size, opts)
		return err
	})
	return p, err
}

func (f *faultClient) CopyObjectPart(ctx context.Context, srcBucket, srcObject, destBucket, destObject, uploadID string,
	partID int, startOffset, length int64, metadata map[string]string) (p minio.CompletePart, err error) {
	err = f.hung(ctx, "CopyObjectPart", destObject, partID, func() (err error) {
		p, err = f.Client.CopyObjectPart(ctx, srcBucket, srcObject, destBucket, destObject, uploadID,
			partID, startOffset, length, metadata)
		return err
	})
	return p, err
}

func (f *faultClient) ListObjectParts(ctx context.Context, bucket, object, uploadID string,
	marker, maxParts int) (minio.ListObjectPartsResult, error) {
	f.mu.Lock()
	f.listCalls++
	if f.pageSize > 0 && (maxParts <= 0 || maxParts > f.pageSize) {
		maxParts = f.pageSize
	}
	before := f.beforeListParts
	f.mu.Unlock()
	if before != nil {
		before()
	}
	return f.Client.ListObjectParts(ctx, bucket, object, uploadID, marker, maxParts)
}

func (f *faultClient) GetObject(ctx context.Context, bucket, object string,
	opts minio.GetObjectOptions) (io.ReadCloser, minio.ObjectInfo, http.Header, error) {
	f.mu.Lock()
	if f.gets == nil {
		f.gets = map[string]int{}
	}
	f.gets[object]++
	before := f.beforeGet
	f.mu.Unlock()
	if before != nil {
		before(object)
	}
	return f.Client.GetObject(ctx, bucket, object, opts)
}

func (f *faultClient) PutObject(ctx context.Context, bucket, object string, data io.Reader, size int64,
	md5Base64, sha256Hex string, opts minio.PutObjectOptions) (minio.UploadInfo, error) {
	f.mu.Lock()
	fail := f.failPut
	if f.puts == nil {
		f.puts = map[string]int64{}
	}
	f.puts[object] += size
	f.mu.Unlock()
	if fail != nil {
		if err := fail(object); err != nil {
			return minio.UploadInfo{}, err
		}
	}
	var info minio.UploadInfo
	err := f.hung(ctx, "PutObject", object, 0, func() (err error) {
		info, err = f.Client.PutObject(ctx, bucket, object, data, size, md5Base64, sha256Hex, opts)
		return err
	})
	return info, err
}

func (f *faultClient) set(fn func(f *faultClient)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f)
}

func (f *faultClient) getsOf(suffix string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for k, v := range f.gets {
		if strings.HasSuffix(k, suffix) {
			n += v
		}
	}
	return n
}

// putBytes is how many bytes PutObject sent to keys containing part.
func (f *faultClient) putBytes(part string) int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	var n int64
	for k, v := range f.puts {
		if strings.Contains(k, part) {
			n += v
		}
	}
	return n
}

// failOnce makes the first PutObject to a key with the given suffix fail.
func failOnce(suffix string) func(string) error {
	var once sync.Once
	return func(key string) error {
		var err error
		if strings.HasSuffix(key, suffix) {
			once.Do(func() { err = errors.New("injected: connection reset") })
		}
		return err
	}
}

func newID() string { return uuid.Must(uuid.NewV7()).String() }

func create(t *testing.T, b storage.Backend, id string, size int64) storage.Writer {
	t.Helper()
	w, err := b.Create(t.Context(), id, storage.Meta{Name: "f.bin", Size: size})
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	t.Cleanup(func() { w.Close() })
	return w
}

func resume(t *testing.T, b storage.Backend, id string) storage.Writer {
	t.Helper()
	w, err := b.Resume(t.Context(), id)
	if err != nil {
		t.Fatalf("Resume: %v", err)
	}
	t.Cleanup(func() { w.Close() })
	return w
}

func write(t *testing.T, w storage.Writer, p []byte) {
	t.Helper()
	if n, err := w.Write(p); err != nil || n != len(p) {
		t.Fatalf("Write(%d bytes) at %d = %d, %v", len(p), w.Written()-int64(n), n, err)
	}
}

func checkpoint(t *testing.T, w storage.Writer, state string) {
	t.Helper()
	off, err := w.Checkpoint(t.Context(), []byte(state))
	if err != nil || off != w.Written() {
		t.Fatalf("Checkpoint at %d = %d, %v", w.Written(), off, err)
	}
}

func commit(t *testing.T, w storage.Writer, data []byte) {
	t.Helper()
	if _, err := w.Commit(t.Context(), digest(data)); err != nil {
		t.Fatalf("Commit: %v", err)
	}
}

// finish writes data[from:] to w and checkpoints it (when there is any
// left), commits, and checks that b serves exactly data and that the store
// keeps the file's three keys only (data, record, list entry): nothing of
// the upload is left behind.
func (s *site) finish(t *testing.T, b storage.Backend, w storage.Writer, id string, data []byte, from int) {
	t.Helper()
	if from < len(data) {
		write(t, w, data[from:])
		checkpoint(t, w, "all")
	}
	commit(t, w, data)
	sameBytes(t, "file", contents(t, b, id), data)
	if got := s.fileKeys(t, id); len(got) != 3 {
		t.Fatalf("keys of the file: %q; want data, record and list entry only", got)
	}
}

// contents reads a completed file whole.
func contents(t *testing.T, b storage.Backend, id string) []byte {
	t.Helper()
	o, err := b.Open(t.Context(), id)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer o.Close()
	got, err := io.ReadAll(o)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	return got
}

func sameBytes(t *testing.T, what string, got, want []byte) {
	t.Helper()
	if !bytes.Equal(got, want) {
		t.Fatalf("%s: got %d bytes (sha256 %.12s), want %d (sha256 %.12s)", what, len(got), digest(got), len(want), digest(want))
	}
}

func wantErr(t *testing.T, what string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("%s: got error %v, want %v", what, err, target)
	}
}

// resumeAt resumes id and checks the durable offset and state it reports.
func resumeAt(t *testing.T, b storage.Backend, id string, off int64, state string) storage.Writer {
	t.Helper()
	w := resume(t, b, id)
	if w.Info().Offset != off || w.Written() != off || string(w.State()) != state {
		t.Fatalf("Resume: offset %d, written %d, state %q; want %d, %d, %q",
			w.Info().Offset, w.Written(), w.State(), off, off, state)
	}
	return w
}
