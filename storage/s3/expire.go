package s3

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/ferryhq/ferry/storage"
)

// DeleteExpired removes every incomplete upload whose ExpiresAt (last
// durable write plus Config.Expiry) is before now: its multipart upload,
// state and helper objects. It returns how many it removed, calling deleted
// (if not nil) with each one's Info. On the way it
// finishes Commits that stopped after publishing their file, and removes
// helper objects that belong to no upload (a Create that crashed) once they
// are older than the expiry period. A Writer of this Backend holding a
// removed upload fails its next Write with storage.ErrNotFound.
func (b *Backend) DeleteExpired(ctx context.Context, now time.Time, deleted func(storage.Info)) (int, error) {
	dir := b.keys.uploadsDir()
	removed := 0
	var errs []error
	// The listing is sorted, so the keys of one upload come together.
	var cur string // id of the group being gathered
	var hasState bool
	var newest time.Time
	flush := func() {
		if cur == "" {
			return
		}
		info, ok, err := b.expire(ctx, cur, hasState, newest, now)
		if err != nil {
			errs = append(errs, fmt.Errorf("upload %s: %w", cur, err))
		}
		if ok {
			removed++
			if deleted != nil {
				deleted(info)
			}
		}
	}
	for oi := range b.c.ListObjectsIter(ctx, b.cfg.Bucket, minio.ListObjectsOptions{Prefix: dir, Recursive: true}) {
		if oi.Err != nil {
			errs = append(errs, fmt.Errorf("list uploads: %w", translate(oi.Err)))
			// The group being gathered may lack its state, which sorts
			// last: judged as it is, a live upload would pass for the
			// leftovers of a crashed Create. The next sweep sees it whole.
			cur = ""
			break
		}
		id, name, ok := strings.Cut(strings.TrimPrefix(oi.Key, dir), "/")
		if !ok || !storage.ValidID(id) {
			continue
		}
		if id != cur {
			flush()
			cur, hasState, newest = id, false, time.Time{}
		}
		hasState = hasState || name == "state"
		if oi.LastModified.After(newest) {
			newest = oi.LastModified
		}
	}
	flush()
	if err := errors.Join(errs...); err != nil {
		return removed, fmt.Errorf("s3: delete expired: %w", err)
	}
	return removed, nil
}

// expire handles the helper objects of one id; it reports whether it
// removed an expired upload, and the Info that upload had.
func (b *Backend) expire(ctx context.Context, id string, hasState bool, newest, now time.Time) (storage.Info, bool, error) {
	if !hasState {
		// No state: leftovers of a Create that crashed between taking the
		// lease and writing the state, or of an interrupted removal.
		if !newest.Add(b.cfg.Expiry).Before(now) {
			return storage.Info{}, false, nil
		}
		return storage.Info{}, false, errors.Join(b.abortOrphans(ctx, id), b.removeAll(ctx, b.keys.uploadDir(id)))
	}
	var st uploadState
	if _, err := b.getJSON(ctx, b.keys.state(id), &st); errors.Is(err, storage.ErrNotFound) {
		return storage.Info{}, false, nil // removed meanwhile
	} else if err != nil {
		return storage.Info{}, false, err
	}
	fr, err := b.readFile(ctx, id)
	switch {
	case err == nil:
		return storage.Info{}, false, b.finishCommit(ctx, fr)
	case !errors.Is(err, storage.ErrNotFound):
		return storage.Info{}, false, err
	}
	info := b.uploadInfo(st)
	if !info.ExpiresAt.Before(now) {
		return storage.Info{}, false, nil
	}
	b.markGone(id)
	if err := b.removeUpload(ctx, st); err != nil {
		return storage.Info{}, false, err
	}
	return info, true, nil
}

// abortOrphans aborts the multipart uploads on id's data key: a Create that
// crashed before writing its state leaves one no state points to.
func (b *Backend) abortOrphans(ctx context.Context, id string) error {
	key := b.keys.data(id)
	res, err := b.c.ListMultipartUploads(ctx, b.cfg.Bucket, key, "", "", "", 1000)
	if err != nil {
		return fmt.Errorf("list multipart uploads: %w", translate(err))
	}
	var errs []error
	for _, u := range res.Uploads {
		if u.Key != key {
			continue
		}
		if err := b.c.AbortMultipartUpload(ctx, b.cfg.Bucket, key, u.UploadID); err != nil && !isNotFound(err) {
			errs = append(errs, fmt.Errorf("abort multipart upload: %w", translate(err)))
		}
	}
	return errors.Join(errs...)
}
