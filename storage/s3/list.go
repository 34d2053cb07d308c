package s3

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"iter"
	"strings"
	"sync"

	"github.com/minio/minio-go/v7"

	"github.com/ferryhq/ferry/storage"
)

// listWorkers is how many file records List reads at once.
const listWorkers = 8

// finishCommit does what follows the publication of a file: its List entry,
// then the removal of the upload's helper objects (state, lease, pending
// bytes). Both steps can be repeated, so DeleteExpired finishes the work of
// a Commit that stopped halfway.
func (b *Backend) finishCommit(ctx context.Context, fr fileRecord) error {
	_, err := b.c.PutObject(ctx, b.cfg.Bucket, b.keys.index(fr.Modified, fr.ID), bytes.NewReader(nil), 0, "", "",
		minio.PutObjectOptions{})
	if err != nil {
		return fmt.Errorf("write list entry: %w", translate(err))
	}
	return b.removeAll(ctx, b.keys.uploadDir(fr.ID))
}

// List returns up to limit completed files, newest first by completion
// time, ties broken by id, starting after the cursor (empty for the first
// page). It walks the index/ keys, whose names sort in that order, and reads
// the record of each; entries whose record is gone (a Delete in progress)
// are skipped. It returns an error wrapping storage.ErrInvalid for a limit
// below 1 or a cursor it did not make.
func (b *Backend) List(ctx context.Context, after string, limit int) (storage.ListPage, error) {
	if limit < 1 {
		return storage.ListPage{}, fmt.Errorf("s3: list: limit %d: %w", limit, storage.ErrInvalid)
	}
	opts := minio.ListObjectsOptions{Prefix: b.keys.indexDir(), Recursive: true, MaxKeys: min(limit+1, 1000)}
	if after != "" {
		r, err := parseRank(after)
		if err != nil {
			return storage.ListPage{}, fmt.Errorf("s3: list: %w", err)
		}
		opts.StartAfter = b.keys.indexDir() + r
	}
	next, stop := iter.Pull(b.c.ListObjectsIter(ctx, b.cfg.Bucket, opts))
	defer stop()

	// One more file than asked tells whether there is a next page.
	var files []storage.Info
	var ranks []string
	for done := false; !done && len(files) <= limit; {
		var batch []string // ids
		var batchRanks []string
		for len(batch) < limit+1-len(files) {
			oi, ok := next()
			if !ok {
				done = true
				break
			}
			if oi.Err != nil {
				return storage.ListPage{}, fmt.Errorf("s3: list: %w", translate(oi.Err))
			}
			r := strings.TrimPrefix(oi.Key, b.keys.indexDir())
			if _, err := parseRank(r); err != nil {
				continue // not ours
			}
			batch = append(batch, r[20:])
			batchRanks = append(batchRanks, r)
		}
		recs, err := b.readFiles(ctx, batch)
		if err != nil {
			return storage.ListPage{}, fmt.Errorf("s3: list: %w", err)
		}
		for i, fr := range recs {
			if fr != nil {
				files = append(files, fr.info())
				ranks = append(ranks, batchRanks[i])
			}
		}
	}
	var page storage.ListPage
	if len(files) > limit {
		files = files[:limit]
		page.Next = ranks[limit-1]
	}
	page.Files = files
	return page, nil
}

// readFiles reads the records of ids, listWorkers at a time. A missing
// record is a nil entry.
func (b *Backend) readFiles(ctx context.Context, ids []string) ([]*fileRecord, error) {
	recs := make([]*fileRecord, len(ids))
	errs := make([]error, len(ids))
	todo := make(chan int)
	var wg sync.WaitGroup
	for range min(listWorkers, len(ids)) {
		wg.Go(func() {
			for i := range todo {
				fr, err := b.readFile(ctx, ids[i])
				switch {
				case err == nil:
					recs[i] = &fr
				case !errors.Is(err, storage.ErrNotFound):
					errs[i] = err
				}
			}
		})
	}
	for i := range ids {
		todo <- i
	}
	close(todo)
	wg.Wait()
	return recs, errors.Join(errs...)
}
