package local_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/ferryhq/ferry/storage/local"
)

// BenchmarkList measures List(limit 50) on a data directory of many
// completed files: the first page, and the tenth (after following nine
// cursors, outside the timing). The directory holds
// FERRY_BENCH_LIST_FILES files (default 1,000,000), seeded through the
// backend's own record and index functions without fsyncs; with
// FERRY_BENCH_LIST_DIR set it is kept there and reused by the next run
// (seeding a million files takes minutes). Figures in docs/performance.md:
//
//	FERRY_BENCH_LIST_DIR=/var/tmp/ferry-list go test -run '^$' -bench '^BenchmarkList$' -benchtime 200x ./storage/local
func BenchmarkList(b *testing.B) {
	n := 1_000_000
	if v := os.Getenv("FERRY_BENCH_LIST_FILES"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 1 {
			b.Fatalf("FERRY_BENCH_LIST_FILES=%q", v)
		}
	}
	dir := os.Getenv("FERRY_BENCH_LIST_DIR")
	if dir == "" {
		dir = b.TempDir()
	}
	backend, err := local.New(local.Config{Dir: dir})
	if err != nil {
		b.Fatal(err)
	}
	seeded := filepath.Join(dir, fmt.Sprintf("seeded-%d", n))
	if _, err := os.Stat(seeded); err != nil {
		start := time.Now()
		seed(b, backend, n)
		if err := os.WriteFile(seeded, nil, 0o600); err != nil {
			b.Fatal(err)
		}
		b.Logf("seeded %d files in %v", n, time.Since(start).Round(time.Second))
	}
	ctx := b.Context()
	cursor := ""
	for range 9 {
		page, err := backend.List(ctx, cursor, 50)
		if err != nil || page.Next == "" {
			b.Fatalf("List: %d files, next %q, %v", len(page.Files), page.Next, err)
		}
		cursor = page.Next
	}
	for _, bc := range []struct{ name, cursor string }{{"page1", ""}, {"page10", cursor}} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				page, err := backend.List(ctx, bc.cursor, 50)
				if err != nil || len(page.Files) != 50 {
					b.Fatalf("List: %d files, %v", len(page.Files), err)
				}
			}
		})
	}
}

// seed stores n completed files, one per millisecond of completion time
// ending now, from a few goroutines (the work is file creation).
func seed(b *testing.B, backend *local.Backend, n int) {
	const workers = 8
	end := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Go(func() {
			for i := w; i < n; i += workers {
				id := uuid.NewString()
				if err := local.SeedComplete(backend, id, "f"+strconv.Itoa(i), end.Add(-time.Duration(i)*time.Millisecond)); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		b.Fatal(err)
	}
}
