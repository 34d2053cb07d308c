package s3_test

import (
	"testing"
	"time"

	"github.com/ferryhq/ferry/storage/s3"
)

// BenchmarkStagedParts measures what staging whole parts as readable
// objects (for ?follow=1 on any instance: partial.go) costs an upload: the
// same 64 MiB through a Writer that stages its parts and through one that
// uploads them straight into the multipart upload, alternating in every
// iteration so that both see the same load. ratio is the staged Writer's
// rate over the direct one's.
func BenchmarkStagedParts(b *testing.B) {
	env, bucket, _ := benchSite(b)
	cfg := env.Config(bucket)
	staged, err := s3.New(b.Context(), cfg)
	if err != nil {
		b.Fatal(err)
	}
	cfg.HideParts = true
	direct, err := s3.New(b.Context(), cfg)
	if err != nil {
		b.Fatal(err)
	}
	const size = 64 * mib
	data := payload(21, size)
	var st, di time.Duration
	for b.Loop() {
		start := time.Now()
		uploadWithWriter(b, staged, data)
		st += time.Since(start)
		start = time.Now()
		uploadWithWriter(b, direct, data)
		di += time.Since(start)
	}
	mbps := func(d time.Duration) float64 { return float64(b.N) * size / d.Seconds() / 1e6 }
	b.ReportMetric(mbps(st), "staged-MB/s")
	b.ReportMetric(mbps(di), "direct-MB/s")
	b.ReportMetric(di.Seconds()/st.Seconds(), "ratio")
	b.ReportMetric(0, "ns/op")
}
