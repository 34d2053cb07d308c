package s3_test

import (
	"bytes"
	"fmt"
	"io"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/ferryhq/ferry/storage"
	"github.com/ferryhq/ferry/storage/s3"
	"github.com/ferryhq/ferry/storage/s3/s3test"
)

// benchSize is the file size of the throughput benchmarks.
const benchSize = 256 * mib

// frame is how the upload layer hands bytes to a Writer: one WebSocket
// message at a time.
const frame = 64 << 10

// benchSite is newSite for benchmarks: the default part size, no prefix.
func benchSite(b *testing.B) (s3test.Env, string, *s3.Backend) {
	b.Helper()
	env := s3test.Lookup(b)
	bucket := env.Bucket(b)
	be, err := s3.New(b.Context(), env.Config(bucket))
	if err != nil {
		b.Fatal(err)
	}
	return env, bucket, be
}

// uploadWithWriter sends data through a Writer the way the upload layer
// does: frame by frame, with a progress Checkpoint every CheckpointInterval.
func uploadWithWriter(b *testing.B, be storage.Backend, data []byte) string {
	b.Helper()
	id := newID()
	w, err := be.Create(b.Context(), id, storage.Meta{Name: "bench.bin", Size: int64(len(data))})
	if err != nil {
		b.Fatal(err)
	}
	defer w.Close()
	last := time.Now()
	for off := 0; off < len(data); off += frame {
		if _, err := w.Write(data[off:min(off+frame, len(data))]); err != nil {
			b.Fatal(err)
		}
		if time.Since(last) >= be.(storage.CheckpointHinter).CheckpointInterval() {
			if _, err := w.Checkpoint(b.Context(), []byte("hash state")); err != nil {
				b.Fatal(err)
			}
			last = time.Now()
		}
	}
	if _, err := w.Checkpoint(b.Context(), []byte("hash state")); err != nil {
		b.Fatal(err)
	}
	if _, err := w.Commit(b.Context(), digest(nil)); err != nil {
		b.Fatal(err)
	}
	return id
}

// BenchmarkUpload compares a 256 MiB upload through a Writer with minio-go's
// own PutObject of the same bytes to the same MinIO, alternating them in
// every iteration so that all see the same machine load. PutObject runs
// with its defaults (4 parts in parallel, a SHA-256 streaming signature over
// plain HTTP) and, for reference, without the payload signature as the
// Writer sends its parts. It reports the rates in MB/s (10^6 bytes a
// second) and the Writer's ratio to the default PutObject.
func BenchmarkUpload(b *testing.B) {
	for _, part := range []int64{s3.MinPartSize, 8 * mib, 16 * mib} {
		b.Run(fmt.Sprintf("part=%dMiB", part/mib), func(b *testing.B) { benchUpload(b, part) })
	}
}

func benchUpload(b *testing.B, partSize int64) {
	env, bucket, _ := benchSite(b)
	cfg := env.Config(bucket)
	cfg.PartSize = partSize
	be, err := s3.New(b.Context(), cfg)
	if err != nil {
		b.Fatal(err)
	}
	client := env.Client(b)
	data := payload(20, benchSize)
	var writer, put, unsigned time.Duration
	timed := func(d *time.Duration, f func()) {
		start := time.Now()
		f()
		*d += time.Since(start)
	}
	putObject := func(key string, opts minio.PutObjectOptions) {
		if _, err := client.PutObject(b.Context(), bucket, key, bytes.NewReader(data), int64(len(data)), opts); err != nil {
			b.Fatal(err)
		}
	}
	for i := 0; b.Loop(); i++ {
		timed(&writer, func() { uploadWithWriter(b, be, data) })
		timed(&put, func() { putObject(fmt.Sprintf("put-%d", i), minio.PutObjectOptions{}) })
		timed(&unsigned, func() {
			putObject(fmt.Sprintf("unsigned-%d", i), minio.PutObjectOptions{DisableContentSha256: true})
		})
	}
	mbps := func(d time.Duration) float64 { return float64(b.N) * benchSize / d.Seconds() / 1e6 }
	b.ReportMetric(mbps(writer), "writer-MB/s")
	b.ReportMetric(mbps(put), "putobject-MB/s")
	b.ReportMetric(mbps(unsigned), "putobject-unsigned-MB/s")
	b.ReportMetric(put.Seconds()/writer.Seconds(), "ratio")
	b.ReportMetric(0, "ns/op")
}

// BenchmarkDownload compares reading a 256 MiB file whole through Open with
// minio-go's GetObject of the same bytes: the *minio.Object that
// Client.GetObject returns, and the plain response body of Core.GetObject
// (which Open reads through). All copy through a 32 KiB buffer, as the HTTP
// server does, and alternate in every iteration. The ratio is Open's rate
// over Client.GetObject's.
func BenchmarkDownload(b *testing.B) {
	env, bucket, be := benchSite(b)
	client := env.Client(b)
	core := &minio.Core{Client: client}
	data := payload(21, benchSize)
	id := uploadWithWriter(b, be, data)
	if _, err := client.PutObject(b.Context(), bucket, "direct", bytes.NewReader(data), benchSize, minio.PutObjectOptions{}); err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, 32<<10)
	drain := func(d *time.Duration, open func() (io.ReadCloser, error)) {
		start := time.Now()
		r, err := open()
		if err != nil {
			b.Fatal(err)
		}
		// The struct hides WriterTo, so every reader copies through buf.
		if n, err := io.CopyBuffer(io.Discard, struct{ io.Reader }{r}, buf); err != nil || n != benchSize {
			b.Fatalf("read %d bytes: %v", n, err)
		}
		r.Close()
		*d += time.Since(start)
	}
	var open, get, raw time.Duration
	for b.Loop() {
		drain(&open, func() (io.ReadCloser, error) { return be.Open(b.Context(), id) })
		drain(&get, func() (io.ReadCloser, error) {
			return client.GetObject(b.Context(), bucket, "direct", minio.GetObjectOptions{})
		})
		drain(&raw, func() (io.ReadCloser, error) {
			body, _, _, err := core.GetObject(b.Context(), bucket, "direct", minio.GetObjectOptions{})
			return body, err
		})
	}
	mbps := func(d time.Duration) float64 { return float64(b.N) * benchSize / d.Seconds() / 1e6 }
	b.ReportMetric(mbps(open), "open-MB/s")
	b.ReportMetric(mbps(get), "getobject-MB/s")
	b.ReportMetric(mbps(raw), "core-getobject-MB/s")
	b.ReportMetric(get.Seconds()/open.Seconds(), "ratio")
	b.ReportMetric(0, "ns/op")
}

// BenchmarkMemoryPerUpload runs 50 uploads of 40 MiB at once, sampling the
// Go heap every 10 ms, and reports its peak growth per upload next to the
// part size: a Writer must hold one part, not its file.
func BenchmarkMemoryPerUpload(b *testing.B) {
	const uploads = 50
	const size = 40 * mib // two and a half default parts
	_, _, be := benchSite(b)
	data := payload(22, size)
	var peak atomic.Uint64
	for b.Loop() {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		base := ms.HeapAlloc
		peak.Store(0)
		stop := make(chan struct{})
		sampled := make(chan struct{})
		go func() {
			defer close(sampled)
			var ms runtime.MemStats
			for {
				select {
				case <-stop:
					return
				case <-time.After(10 * time.Millisecond):
				}
				runtime.ReadMemStats(&ms)
				if ms.HeapAlloc > peak.Load() {
					peak.Store(ms.HeapAlloc)
				}
			}
		}()
		var wg sync.WaitGroup
		for range uploads {
			wg.Go(func() { uploadWithWriter(b, be, data) })
		}
		wg.Wait()
		close(stop)
		<-sampled
		b.ReportMetric(float64(peak.Load()-base)/uploads/mib, "peak-heap-MiB/upload")
	}
	b.ReportMetric(float64(s3.DefaultPartSize)/mib, "part-MiB")
	b.ReportMetric(0, "ns/op")
}
