package s3

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"sync"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/ferryhq/ferry/storage"
)

// probeTimeout bounds New's and Ping's check when the caller's context has
// no sooner deadline: an unreachable endpoint must fail startup quickly.
const probeTimeout = 10 * time.Second

// releaseTimeout bounds the store calls of Writer.Close, which has no context.
const releaseTimeout = 10 * time.Second

// Backend is a storage.Backend over one S3 bucket. It also implements
// storage.Expirer, storage.Pinger and storage.CheckpointHinter. Any number of
// Backends, in any number of processes, may share a bucket and prefix: every
// fact about an upload (its state, its lock) lives in the bucket.
type Backend struct {
	c     client // every call but the probes
	probe client // New and Ping: no retries, so a dead endpoint fails fast
	cfg   Config
	keys  keys

	// mu guards live, the Writers of this Backend, so that Delete can make
	// their next Write fail at once rather than at their next store call.
	mu   sync.Mutex
	live map[string]*writer
	// mem is the memory the part buffers of all Writers share.
	mem *budget

	// hideParts (Config.HideParts) uploads whole parts straight into the multipart upload,
	// unreadable until Commit, instead of staging them (see stagePart);
	// only the benchmarks set it, to measure what staging costs.
	hideParts bool
}

var (
	_ storage.Backend          = (*Backend)(nil)
	_ storage.Expirer          = (*Backend)(nil)
	_ storage.Pinger           = (*Backend)(nil)
	_ storage.CheckpointHinter = (*Backend)(nil)
	_ storage.PartialOpener    = (*Backend)(nil)
)

// New connects to the bucket that cfg names and checks that it answers. It
// fails fast, with an error naming the endpoint and bucket, when the
// endpoint is unreachable, the credentials are refused, or the bucket is
// missing and cfg.CreateBucket is false (it creates the bucket otherwise).
// A bad Config is an error wrapping storage.ErrInvalid.
func New(ctx context.Context, cfg Config) (*Backend, error) {
	return newWrapped(ctx, cfg, func(c client) client { return c })
}

// newWrapped is New with every store call but the startup probe going
// through wrap(the real client), so tests can inject faults.
func newWrapped(ctx context.Context, cfg Config, wrap func(client) client) (*Backend, error) {
	cfg, err := cfg.normalize()
	if err != nil {
		return nil, err
	}
	c, err := newCore(cfg, 0)
	if err != nil {
		return nil, err
	}
	probe, err := newCore(cfg, 1)
	if err != nil {
		return nil, err
	}
	return open(ctx, cfg, wrap(c), probe)
}

func newCore(cfg Config, maxRetries int) (*minio.Core, error) {
	creds := credentials.NewStaticV4(cfg.AccessKey, cfg.SecretKey, "")
	if cfg.AccessKey == "" && cfg.SecretKey == "" {
		creds = credentials.NewChainCredentials([]credentials.Provider{
			&credentials.EnvAWS{}, &credentials.EnvMinio{}, &credentials.FileAWSCredentials{},
		})
	}
	c, err := minio.NewCore(cfg.Endpoint, &minio.Options{
		Creds:      creds,
		Secure:     !cfg.Insecure,
		Region:     cfg.Region,
		MaxRetries: maxRetries,
	})
	if err != nil {
		return nil, fmt.Errorf("s3: client for %s: %w", cfg.Endpoint, err)
	}
	return c, nil
}

// open builds a Backend over c (probe answers the startup check) and checks
// the bucket. cfg is normalized.
func open(ctx context.Context, cfg Config, c, probe client) (*Backend, error) {
	b := &Backend{c: c, probe: probe, cfg: cfg, keys: keys{cfg.Prefix}, live: make(map[string]*writer),
		mem: newBudget(cfg.BufferMemory), hideParts: cfg.HideParts}
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	ok, err := probe.BucketExists(ctx, cfg.Bucket)
	if err != nil {
		return nil, fmt.Errorf("s3: cannot use bucket %q at %s: %w", cfg.Bucket, cfg.Endpoint, err)
	}
	if ok {
		return b, nil
	}
	if !cfg.CreateBucket {
		return nil, fmt.Errorf("s3: bucket %q does not exist at %s (create it, or enable bucket creation)",
			cfg.Bucket, cfg.Endpoint)
	}
	err = probe.MakeBucket(ctx, cfg.Bucket, minio.MakeBucketOptions{Region: cfg.Region})
	if code, _ := s3Code(err); err != nil && code != "BucketAlreadyOwnedByYou" {
		return nil, fmt.Errorf("s3: create bucket %q at %s: %w", cfg.Bucket, cfg.Endpoint, err)
	}
	return b, nil
}

// CheckpointInterval implements storage.CheckpointHinter: each Checkpoint
// uploads the bytes that do not fill a part yet.
func (b *Backend) CheckpointInterval() time.Duration { return CheckpointInterval }

// Ping checks that the bucket answers. It returns the store's error, or an
// error if the bucket no longer exists.
func (b *Backend) Ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	ok, err := b.probe.BucketExists(ctx, b.cfg.Bucket)
	if err != nil {
		return fmt.Errorf("s3: ping %s: %w", b.cfg.Endpoint, err)
	}
	if !ok {
		return fmt.Errorf("s3: ping %s: bucket %q is gone", b.cfg.Endpoint, b.cfg.Bucket)
	}
	return nil
}

// notFound is the error for an id that fails storage.ValidID. The id is not
// echoed: it may hold anything a client sent.
func notFound(op string) error {
	return fmt.Errorf("s3: %s: invalid id: %w", op, storage.ErrNotFound)
}

// Create makes a new, empty upload (a multipart upload plus its state
// object) and returns a Writer holding its lease. It returns an error
// wrapping storage.ErrExists if the id is in use (stored, or held by another
// Writer), storage.ErrInvalid for a meta that fails storage.Meta.Validate,
// storage.ErrTooLarge for a size over MaxObjectSize, and for an id that
// fails storage.ValidID an error wrapping both storage.ErrNotFound and
// storage.ErrInvalid.
func (b *Backend) Create(ctx context.Context, id string, meta storage.Meta) (storage.Writer, error) {
	if !storage.ValidID(id) {
		return nil, fmt.Errorf("s3: create: invalid id: %w (%w)", storage.ErrNotFound, storage.ErrInvalid)
	}
	if err := meta.Validate(); err != nil {
		return nil, fmt.Errorf("s3: create %s: %w", id, err)
	}
	if meta.Size > MaxObjectSize {
		return nil, fmt.Errorf("s3: create %s: size %d is over S3's object limit of %d: %w", id, meta.Size, int64(MaxObjectSize), storage.ErrTooLarge)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("s3: create %s: %w", id, err)
	}
	// The lease first: while we hold it no one else can create or resume
	// this id, so the checks below cannot go stale.
	l, err := b.takeLease(ctx, id)
	if errors.Is(err, storage.ErrLocked) {
		return nil, fmt.Errorf("s3: create %s: held by another writer: %w", id, storage.ErrExists)
	}
	if err != nil {
		return nil, fmt.Errorf("s3: create %s: %w", id, err)
	}
	fail := func(err error) (storage.Writer, error) {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), releaseTimeout)
		defer cancel()
		l.release(ctx)
		return nil, fmt.Errorf("s3: create %s: %w", id, err)
	}
	if exists, err := b.exists(ctx, b.keys.info(id)); err != nil {
		return fail(err)
	} else if exists {
		return fail(storage.ErrExists)
	}

	now := b.cfg.Now()
	st := uploadState{
		Schema:   stateSchema,
		ID:       id,
		Meta:     meta,
		Created:  now,
		Modified: now,
		PartSize: partSizeFor(meta.Size, b.cfg.PartSize),
		Parts:    []string{},
		Owner:    l.owner,
	}
	if meta.Size != 0 {
		st.UploadID, err = b.c.NewMultipartUpload(ctx, b.cfg.Bucket, b.keys.data(id), b.dataOptions(id, meta, now))
		if err != nil {
			return fail(fmt.Errorf("start multipart upload: %w", translate(err)))
		}
	}
	// If-None-Match: an incomplete upload with this id that no one holds
	// (so our lease went through) must not be overwritten.
	tag, err := b.writeState(ctx, &st, ifNoneMatch)
	if err != nil {
		if st.UploadID != "" {
			b.c.AbortMultipartUpload(context.WithoutCancel(ctx), b.cfg.Bucket, b.keys.data(id), st.UploadID)
		}
		if isConflict(err) {
			return fail(storage.ErrExists)
		}
		return fail(fmt.Errorf("write state: %w", translate(err)))
	}
	w := &writer{b: b, st: st, tag: tag, lease: l, parts: st.Parts, size: meta.Size}
	w.begin()
	return w, nil
}

// dataOptions are the options of the data object: its content type, and a
// copy of the file's metadata for people browsing the bucket (the record
// under info/ is what ferry reads).
func (b *Backend) dataOptions(id string, meta storage.Meta, created time.Time) minio.PutObjectOptions {
	ct := meta.MIME
	if ct == "" {
		ct = "application/octet-stream"
	}
	name := url.PathEscape(meta.Name)
	if len(name) > 512 { // S3 allows 2 KiB of user metadata in all
		name = name[:512]
	}
	return minio.PutObjectOptions{
		ContentType: ct,
		UserMetadata: map[string]string{
			"Ferry-Id":      id,
			"Ferry-Name":    name,
			"Ferry-Created": created.UTC().Format(time.RFC3339Nano),
		},
	}
}

// register records a new live Writer so that Delete can reach it.
func (b *Backend) register(w *writer) {
	b.mu.Lock()
	b.live[w.st.ID] = w
	b.mu.Unlock()
}

// unregister forgets a Writer that released its lease.
func (b *Backend) unregister(w *writer) {
	b.mu.Lock()
	if b.live[w.st.ID] == w {
		delete(b.live, w.st.ID)
	}
	b.mu.Unlock()
}

// markGone makes the next Write of this Backend's Writer of id, if any,
// fail with storage.ErrNotFound.
func (b *Backend) markGone(id string) {
	b.mu.Lock()
	if w := b.live[id]; w != nil {
		w.gone.Store(true)
		// A Write waiting for buffer memory gives up at once.
		w.stopParts(fmt.Errorf("deleted: %w", storage.ErrNotFound))
	}
	b.mu.Unlock()
}
