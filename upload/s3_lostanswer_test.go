package upload

import (
	"bytes"
	"testing"
	"time"

	"github.com/ferryhq/ferry/client"
	"github.com/ferryhq/ferry/storage/s3"
	"github.com/ferryhq/ferry/storage/s3/s3test"
)

// TestS3DisconnectCheckpointAnswerLost: the client vanishes mid-upload; the
// session's last checkpoint sends its state write to MinIO, which takes it
// but answers only after the session's storage grace has ended (as a
// saturated MinIO did in the 1,000-upload run, docs/performance.md). The
// client package, reconnecting and resuming by itself, must then complete
// the upload: before, the failed checkpoint deleted the pending object the
// landed state listed, and the resume was answered not_found.
func TestS3DisconnectCheckpointAnswerLost(t *testing.T) {
	b, proxy := losingS3(t, nil)
	srv := newTestServer(t, Config{Backend: b})
	const mib = 1 << 20
	data := randomBytes(t, s3.MinPartSize+mib)

	p := dial(t, srv.url)
	id := p.start("lost.bin", int64(len(data)), "").ID
	p.sendChunks(data[:mib], 64<<10)
	p.waitOffset(mib)
	// The next state write (a progress checkpoint's or the one at
	// disconnect) lands in MinIO, and its answer never reaches the session.
	landed := proxy.Arm(id + "/state")
	p.sendChunks(data[mib:mib+300<<10], 64<<10)
	p.conn.Close()
	select {
	case <-landed:
	case <-time.After(frameWait):
		t.Fatal("no state write after the disconnect")
	}

	res, err := client.Upload(t.Context(), bytes.NewReader(data), int64(len(data)),
		client.Options{Server: srv.srv.URL, ResumeID: id, MaxRetries: 30})
	if err != nil {
		t.Fatalf("resumed upload (code %q): %v", client.CodeOf(err), err)
	}
	if want := hexSum(data); res.SHA256 != want || storedSum(t, b, id) != want {
		t.Fatalf("stored sha256 %s (client saw %s), want %s", storedSum(t, b, id), res.SHA256, want)
	}
}

// TestS3PartTimeoutClientResumes: a part upload that MinIO takes but answers
// only after the part timeout fails the session's Writer; the client package
// reconnects, resumes and completes the upload (the sequence the
// 1,000-upload run logged before its not_found answers).
func TestS3PartTimeoutClientResumes(t *testing.T) {
	b, proxy := losingS3(t, func(cfg *s3.Config) {
		cfg.PartTimeout = 5 * time.Second // the held part's; others may need it on a loaded machine
	})
	srv := newTestServer(t, Config{Backend: b})
	const mib = 1 << 20
	data := randomBytes(t, s3.MinPartSize+mib)

	p := dial(t, srv.url)
	id := p.start("slow-part.bin", int64(len(data)), "").ID
	p.sendChunks(data[:mib], 64<<10)
	p.waitOffset(mib)
	p.conn.Close()
	// The next PUT to the data key (a part: part 1's copy from its staged
	// object, or the last part) lands, and its answer comes too late.
	landed := proxy.Arm("/files/" + id)

	res, err := client.Upload(t.Context(), bytes.NewReader(data), int64(len(data)),
		client.Options{Server: srv.srv.URL, ResumeID: id, MaxRetries: 30})
	if err != nil {
		t.Fatalf("upload (code %q): %v", client.CodeOf(err), err)
	}
	select {
	case <-landed:
	default:
		t.Fatal("no part upload was held: the test did not test anything")
	}
	if want := hexSum(data); res.SHA256 != want || storedSum(t, b, id) != want {
		t.Fatalf("stored sha256 %s (client saw %s), want %s", storedSum(t, b, id), res.SHA256, want)
	}
}

// losingS3 is an S3 backend with minimal parts on a fresh bucket of the
// test MinIO, reached through a LosingProxy that can withhold the answer to
// a write; tweak, if not nil, changes the configuration first.
func losingS3(t *testing.T, tweak func(*s3.Config)) (*s3.Backend, *s3test.LosingProxy) {
	t.Helper()
	env := s3test.Lookup(t)
	proxy := s3test.NewLosingProxy(t, env.Endpoint)
	cfg := env.Config(env.Bucket(t))
	cfg.Endpoint = proxy.Addr
	cfg.PartSize = s3.MinPartSize
	if tweak != nil {
		tweak(&cfg)
	}
	b, err := s3.New(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return b, proxy
}
