package s3

import (
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/minio/minio-go/v7/pkg/s3utils"

	"github.com/ferryhq/ferry/storage"
)

// Defaults for the zero values of Config.
const (
	// DefaultExpiry matches MinIO's default stale_uploads_expiry (24h): an
	// upload ferry still lists as resumable should not have had its multipart
	// upload purged under it.
	DefaultExpiry = 24 * time.Hour
	// DefaultLeaseTTL is how long an upload's lock outlives a Writer that
	// stopped renewing it (a crashed or cut-off instance).
	DefaultLeaseTTL = 15 * time.Second
	// MinLeaseTTL keeps renewals (every LeaseTTL/3) from flooding the store.
	MinLeaseTTL = 300 * time.Millisecond
	// DefaultPartSize is the part size of uploads small enough to need no
	// bigger one to stay under MaxParts. A Writer holds up to three parts in
	// memory (one filling, two uploading): 24 MiB at this size.
	DefaultPartSize = 8 << 20
	// DefaultBufferMemory is the memory all Writers of a Backend share for
	// their part buffers when Config.BufferMemory is 0: 32 parts of
	// DefaultPartSize, enough for about ten uploads at full speed at once
	// (more wait their turn, see Config.BufferMemory).
	DefaultBufferMemory = 256 << 20
	// CheckpointInterval is what the Backend advertises through
	// storage.CheckpointHinter. A Checkpoint costs two PUTs (the bytes
	// written since the previous one, then the state), so progress-only
	// checkpoints should be about this far apart: often enough for a smooth
	// progress bar, rare enough that 50 uploads make 200 requests a second.
	CheckpointInterval = 500 * time.Millisecond
	// DefaultPartTimeout is the part timeout for a zero Config.PartTimeout,
	// plus PartTimeoutPerMiB for each MiB of the part.
	DefaultPartTimeout = time.Minute
	// PartTimeoutPerMiB lets a part move as slowly as 1 MiB/s after its
	// first DefaultPartTimeout: 68 s for an 8 MiB part, about 9 min 45 s
	// for the 525 MiB parts of a 5 TiB file.
	PartTimeoutPerMiB = time.Second
)

// Limits of S3 multipart uploads (the same on AWS and MinIO).
const (
	MinPartSize   = 5 << 20 // every part but the last
	MaxPartSize   = 5 << 30 // any part
	MaxParts      = 10_000  // parts per upload
	MaxObjectSize = 5 << 40 // a completed object
	maxListParts  = 1000    // parts per ListObjectParts answer
)

const (
	mib = 1 << 20 // part sizes are whole MiBs
	// Versions of the JSON records this package writes, for a future
	// format to recognise them.
	infoSchema  = 1
	stateSchema = 1
	leaseSchema = 1
)

// Config configures a Backend. Zero values mean the documented default.
type Config struct {
	// Endpoint is the S3 server as host[:port], required. A leading
	// "http://" or "https://" is accepted and decides Insecure.
	Endpoint string
	// Bucket holds everything the Backend stores, required.
	Bucket string
	// Prefix is put before every key, so that several ferry deployments (or
	// tests) can share a bucket. "" or a path such as "ferry/".
	Prefix string
	// Region of the bucket; "" lets the client discover it.
	Region string
	// Insecure speaks plain HTTP instead of HTTPS.
	Insecure bool
	// AccessKey and SecretKey sign requests. When both are empty, the
	// credentials come from the environment (AWS_ACCESS_KEY_ID and
	// AWS_SECRET_ACCESS_KEY, MINIO_ROOT_USER and MINIO_ROOT_PASSWORD) or the
	// AWS credentials file, else requests are anonymous.
	AccessKey, SecretKey string
	// CreateBucket creates the bucket when it does not exist; otherwise New
	// fails when it is missing.
	CreateBucket bool
	// PartSize is the least part size of a multipart upload: 0 means
	// DefaultPartSize. It is raised for big files so that no upload needs more
	// than MaxParts parts, then fixed for the life of the upload. An upload
	// of unknown size (storage.SizeUnknown) keeps it, so it can hold at most
	// MaxParts times PartSize bytes. A Writer buffers one part in memory. It must be 0 or within [MinPartSize, MaxPartSize].
	PartSize int64
	// BufferMemory bounds the memory of the part buffers of all the
	// Backend's Writers together: 0 means DefaultBufferMemory; otherwise it
	// must be at least PartSize. A Writer takes a buffer before the first
	// byte of a part and gives it back once the part is uploaded; when the
	// budget is spent, Write (and Resume, which reads the bytes of a partial
	// part back) waits for one, first come first served, so the reads of the
	// clients' sockets wait too instead of memory growing. A part bigger than
	// the whole budget (a file so big that MaxParts parts of PartSize do not
	// hold it) takes the whole budget and exceeds it by the difference.
	BufferMemory int64
	// HideParts uploads each whole part straight into the multipart upload
	// instead of staging it as a readable object first (see OpenPartial).
	// Uploads are then faster against a store that shares this machine's
	// CPU and disk, where the staging copy writes every byte twice, but
	// OpenPartial answers errors.ErrUnsupported: ?follow=1 of an upload in
	// progress waits for its completion. Every instance sharing a bucket
	// should set it alike; a follower that finds an upload's parts hidden
	// waits for its completion too.
	HideParts bool
	// Expiry is how long an incomplete upload lives after its last durable
	// write before DeleteExpired removes it; 0 means DefaultExpiry. Note that
	// MinIO itself deletes a multipart upload 24 hours after it started,
	// however active it is (MINIO_API_STALE_UPLOADS_EXPIRY): an upload that
	// takes longer than that is lost there (ErrNotFound at its next write),
	// so raise that setting on MinIO for slower uploads.
	Expiry time.Duration
	// LeaseTTL is how long the lock of an upload stays valid without being
	// renewed; a live Writer renews it every LeaseTTL/3. 0 means
	// DefaultLeaseTTL; less than MinLeaseTTL is MinLeaseTTL. A Writer on an
	// instance that died keeps its upload locked for this long.
	LeaseTTL time.Duration
	// PartTimeout bounds the upload of one part, minio-go's retries
	// included: past it the upload is cancelled and the Writer fails, so a
	// store that stops answering cannot block a Write for longer.
	// Checkpoint and Commit also stop waiting for parts when their context
	// ends, and Close and Abort cancel the parts in flight at once. 0 means
	// DefaultPartTimeout plus PartTimeoutPerMiB per MiB of the part.
	PartTimeout time.Duration
	// Now is the clock for Created, Modified, expiry and leases; nil means
	// time.Now. Instances sharing a bucket compare lease times, so their
	// clocks should agree to well within LeaseTTL.
	Now func() time.Time
}

// normalize checks cfg and fills in the defaults. Errors wrap storage.ErrInvalid.
func (cfg Config) normalize() (Config, error) {
	bad := func(format string, args ...any) (Config, error) {
		return Config{}, fmt.Errorf("s3: config: "+format+": %w", append(args, storage.ErrInvalid)...)
	}
	if cfg.Endpoint == "" {
		return bad("Endpoint is required")
	}
	if scheme, rest, ok := strings.Cut(cfg.Endpoint, "://"); ok {
		switch strings.ToLower(scheme) {
		case "http":
			cfg.Insecure = true
		case "https":
			cfg.Insecure = false
		default:
			return bad("Endpoint %q: scheme must be http or https", cfg.Endpoint)
		}
		cfg.Endpoint = strings.TrimSuffix(rest, "/")
	}
	if u, err := url.Parse("http://" + cfg.Endpoint); err != nil || u.Host != cfg.Endpoint {
		return bad("Endpoint %q must be host[:port]", cfg.Endpoint)
	}
	if err := s3utils.CheckValidBucketNameStrict(cfg.Bucket); err != nil {
		return bad("Bucket %q: %v", cfg.Bucket, err)
	}
	cfg.Prefix = strings.TrimLeft(cfg.Prefix, "/")
	if cfg.Prefix != "" && !strings.HasSuffix(cfg.Prefix, "/") {
		cfg.Prefix += "/"
	}
	if err := s3utils.CheckValidObjectNamePrefix(cfg.Prefix); cfg.Prefix != "" && err != nil {
		return bad("Prefix %q: %v", cfg.Prefix, err)
	}
	if cfg.PartSize != 0 && (cfg.PartSize < MinPartSize || cfg.PartSize > MaxPartSize) {
		return bad("PartSize %d is outside [%d, %d]", cfg.PartSize, MinPartSize, MaxPartSize)
	}
	if cfg.PartSize == 0 {
		cfg.PartSize = DefaultPartSize
	}
	if cfg.BufferMemory == 0 {
		cfg.BufferMemory = max(DefaultBufferMemory, cfg.PartSize)
	}
	if cfg.BufferMemory < cfg.PartSize {
		return bad("BufferMemory %d is less than one part (%d)", cfg.BufferMemory, cfg.PartSize)
	}
	if cfg.Expiry < 0 || cfg.LeaseTTL < 0 || cfg.PartTimeout < 0 {
		return bad("negative Expiry, LeaseTTL or PartTimeout")
	}
	if cfg.Expiry == 0 {
		cfg.Expiry = DefaultExpiry
	}
	if cfg.LeaseTTL == 0 {
		cfg.LeaseTTL = DefaultLeaseTTL
	}
	cfg.LeaseTTL = max(cfg.LeaseTTL, MinLeaseTTL)
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return cfg, nil
}

// partTimeout is how long the upload of a part of n bytes may take.
func (cfg Config) partTimeout(n int64) time.Duration {
	if cfg.PartTimeout > 0 {
		return cfg.PartTimeout
	}
	return DefaultPartTimeout + time.Duration((n+mib-1)/mib)*PartTimeoutPerMiB
}

// partSizeFor returns the part size of an upload of size bytes: least, then
// raised to a whole MiB that keeps the upload within MaxParts. It is chosen
// once at Create and stored with the upload, so a resumed upload keeps its
// part numbers: part n always holds bytes [(n-1)*size, n*size).
//
// An upload of unknown size (storage.SizeUnknown) gets least: memory per
// Writer stays what it is for any other upload, and such an upload can hold
// at most MaxParts parts of that size (a Write past it fails with
// storage.ErrSizeExceeded).
func partSizeFor(size, least int64) int64 {
	if size == storage.SizeUnknown {
		return least
	}
	need := (size + MaxParts - 1) / MaxParts
	need = (need + mib - 1) / mib * mib
	return max(least, need)
}
