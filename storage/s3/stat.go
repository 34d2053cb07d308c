package s3

import (
	"context"
	"errors"
	"fmt"

	"github.com/minio/minio-go/v7"

	"github.com/ferryhq/ferry/storage"
)

// readState returns the state of an incomplete upload. It returns an error
// wrapping storage.ErrComplete if the upload is complete, storage.ErrNotFound
// if there is none. Both records are read, file record first, then again if
// the state is missing: a Commit publishes the file record before it
// deletes the state, so one of the reads sees the upload.
func (b *Backend) readState(ctx context.Context, id string) (uploadState, error) {
	complete := func() (bool, error) {
		ok, err := b.exists(ctx, b.keys.info(id))
		if err != nil {
			return false, fmt.Errorf("check file record: %w", err)
		}
		return ok, nil
	}
	if done, err := complete(); err != nil {
		return uploadState{}, err
	} else if done {
		return uploadState{}, storage.ErrComplete
	}
	var st uploadState
	_, err := b.getJSON(ctx, b.keys.state(id), &st)
	if errors.Is(err, storage.ErrNotFound) {
		if done, err := complete(); err != nil {
			return uploadState{}, err
		} else if done {
			return uploadState{}, storage.ErrComplete
		}
		return uploadState{}, storage.ErrNotFound
	}
	if err != nil {
		return uploadState{}, fmt.Errorf("read state: %w", err)
	}
	return st, nil
}

// readFile returns the record of a completed file, or an error wrapping
// storage.ErrNotFound.
func (b *Backend) readFile(ctx context.Context, id string) (fileRecord, error) {
	var fr fileRecord
	if _, err := b.getJSON(ctx, b.keys.info(id), &fr); err != nil {
		return fileRecord{}, err
	}
	return fr, nil
}

// exists reports whether key exists.
func (b *Backend) exists(ctx context.Context, key string) (bool, error) {
	_, err := b.c.StatObject(ctx, b.cfg.Bucket, key, minio.StatObjectOptions{})
	if isNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, translate(err)
	}
	return true, nil
}

// Stat returns the metadata of an upload or a completed file. It returns an
// error wrapping storage.ErrNotFound for an unknown or invalid id, for an
// incomplete upload past its expiry, and for one whose multipart upload the
// store has purged.
func (b *Backend) Stat(ctx context.Context, id string) (storage.Info, error) {
	if !storage.ValidID(id) {
		return storage.Info{}, notFound("stat")
	}
	fr, err := b.readFile(ctx, id)
	if err == nil {
		return fr.info(), nil
	}
	if !errors.Is(err, storage.ErrNotFound) {
		return storage.Info{}, fmt.Errorf("s3: stat %s: %w", id, err)
	}
	st, err := b.readState(ctx, id)
	if errors.Is(err, storage.ErrComplete) {
		if fr, err = b.readFile(ctx, id); err == nil {
			return fr.info(), nil
		}
	}
	if err != nil {
		return storage.Info{}, fmt.Errorf("s3: stat %s: %w", id, err)
	}
	if b.expired(st) {
		return storage.Info{}, fmt.Errorf("s3: stat %s: expired: %w", id, storage.ErrNotFound)
	}
	if st.UploadID != "" {
		_, err := b.c.ListObjectParts(ctx, b.cfg.Bucket, b.keys.data(id), st.UploadID, 0, 1)
		if isNotFound(err) {
			var done bool
			if done, err = b.assembled(ctx, &st); err == nil && !done {
				return storage.Info{}, fmt.Errorf("s3: stat %s: multipart upload purged: %w", id, storage.ErrNotFound)
			}
		}
		if err != nil {
			return storage.Info{}, fmt.Errorf("s3: stat %s: %w", id, translate(err))
		}
	}
	return b.uploadInfo(st), nil
}

// expired reports whether an incomplete upload is past its expiry: it is
// then gone for Resume and Stat, whether or not DeleteExpired has removed it.
func (b *Backend) expired(st uploadState) bool {
	return st.Modified.Add(b.cfg.Expiry).Before(b.cfg.Now())
}

// uploadInfo is the Info of an incomplete upload as of its state st.
func (b *Backend) uploadInfo(st uploadState) storage.Info {
	return storage.Info{
		ID:        st.ID,
		Meta:      st.Meta,
		Offset:    st.Offset,
		Created:   st.Created,
		Modified:  st.Modified,
		ExpiresAt: st.Modified.Add(b.cfg.Expiry),
	}
}

// Open returns a reader over a completed file; no byte is fetched before the
// first Read, and Seek is free. Reads use ctx, so it must outlive them. It
// returns an error wrapping storage.ErrNotFound for an unknown or invalid
// id, and for an upload that is not complete an error wrapping both
// storage.ErrNotFound and storage.ErrIncomplete.
func (b *Backend) Open(ctx context.Context, id string) (storage.Object, error) {
	if !storage.ValidID(id) {
		return nil, notFound("open")
	}
	fr, err := b.readFile(ctx, id)
	if errors.Is(err, storage.ErrNotFound) {
		if ok, serr := b.exists(ctx, b.keys.state(id)); serr == nil && ok {
			return nil, fmt.Errorf("s3: open %s: %w (%w)", id, storage.ErrNotFound, storage.ErrIncomplete)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("s3: open %s: %w", id, err)
	}
	return &object{ctx: ctx, b: b, key: b.keys.data(id), etag: fr.ETag, info: fr.info()}, nil
}
