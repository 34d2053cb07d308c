package s3

import (
	"context"
	"errors"
	"fmt"

	"github.com/minio/minio-go/v7"

	"github.com/ferryhq/ferry/storage"
)

// Delete removes a completed file, or an incomplete upload with its
// multipart upload and every helper object. A Writer of this Backend that
// holds the upload fails its next Write with storage.ErrNotFound; a Writer
// on another instance fails its next Checkpoint (or part upload). It
// returns an error wrapping storage.ErrNotFound if there is nothing to delete.
func (b *Backend) Delete(ctx context.Context, id string) error {
	if !storage.ValidID(id) {
		return notFound("delete")
	}
	fr, err := b.readFile(ctx, id)
	if err == nil {
		b.markGone(id)
		if err := b.removeFile(ctx, fr); err != nil {
			return fmt.Errorf("s3: delete %s: %w", id, err)
		}
		return nil
	}
	if !errors.Is(err, storage.ErrNotFound) {
		return fmt.Errorf("s3: delete %s: %w", id, err)
	}
	st, err := b.readState(ctx, id)
	if errors.Is(err, storage.ErrComplete) {
		return b.Delete(ctx, id) // completed while we looked
	}
	if err != nil {
		return fmt.Errorf("s3: delete %s: %w", id, err)
	}
	b.markGone(id)
	if err := b.removeUpload(ctx, st); err != nil {
		return fmt.Errorf("s3: delete %s: %w", id, err)
	}
	return nil
}

// removeUpload deletes an incomplete upload. The state goes first: from then
// on the upload does not exist for Stat or Resume, and its Writer's next
// Checkpoint (conditional on the state's ETag) fails; then the multipart
// upload (its Writer's next part upload fails), then the helper objects, and
// the data object of a Commit that stopped halfway.
func (b *Backend) removeUpload(ctx context.Context, st uploadState) error {
	var errs []error
	if err := b.remove(ctx, b.keys.state(st.ID)); err != nil {
		errs = append(errs, err)
	}
	if st.UploadID != "" {
		err := b.c.AbortMultipartUpload(ctx, b.cfg.Bucket, b.keys.data(st.ID), st.UploadID)
		if err != nil && !isNotFound(err) {
			errs = append(errs, fmt.Errorf("abort multipart upload: %w", translate(err)))
		}
	}
	if err := b.remove(ctx, b.keys.data(st.ID)); err != nil {
		errs = append(errs, err)
	}
	if err := b.removeAll(ctx, b.keys.uploadDir(st.ID)); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// removeFile deletes a completed file: its record first, so it is never
// served without its bytes, then its bytes, its List entry and any helper
// object an interrupted Commit left.
func (b *Backend) removeFile(ctx context.Context, fr fileRecord) error {
	var errs []error
	for _, key := range []string{b.keys.info(fr.ID), b.keys.data(fr.ID), b.keys.index(fr.Modified, fr.ID)} {
		if err := b.remove(ctx, key); err != nil {
			errs = append(errs, err)
		}
	}
	if err := b.removeAll(ctx, b.keys.uploadDir(fr.ID)); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// remove deletes one key; a missing key is not an error.
func (b *Backend) remove(ctx context.Context, key string) error {
	err := b.c.RemoveObject(ctx, b.cfg.Bucket, key, minio.RemoveObjectOptions{})
	if err != nil && !isNotFound(err) {
		return fmt.Errorf("remove %s: %w", key, translate(err))
	}
	return nil
}

// removeAll deletes every key under prefix.
func (b *Backend) removeAll(ctx context.Context, prefix string) error {
	var errs []error
	for oi := range b.c.ListObjectsIter(ctx, b.cfg.Bucket, minio.ListObjectsOptions{Prefix: prefix, Recursive: true}) {
		if oi.Err != nil {
			return errors.Join(append(errs, fmt.Errorf("list %s: %w", prefix, translate(oi.Err)))...)
		}
		if err := b.remove(ctx, oi.Key); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
