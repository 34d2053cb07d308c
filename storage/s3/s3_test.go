package s3_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/ferryhq/ferry/storage"
	"github.com/ferryhq/ferry/storage/s3"
	"github.com/ferryhq/ferry/storage/s3/s3test"
)

func TestConfigInvalid(t *testing.T) {
	ok := s3.Config{Endpoint: "127.0.0.1:9", Bucket: "ferry"}
	tests := []struct {
		name   string
		change func(*s3.Config)
	}{
		{"no endpoint", func(c *s3.Config) { c.Endpoint = "" }},
		{"unknown scheme", func(c *s3.Config) { c.Endpoint = "ftp://127.0.0.1:9" }},
		{"endpoint with a path", func(c *s3.Config) { c.Endpoint = "127.0.0.1:9/bucket" }},
		{"no bucket", func(c *s3.Config) { c.Bucket = "" }},
		{"bad bucket name", func(c *s3.Config) { c.Bucket = "Not_A_Bucket" }},
		{"part size under 5 MiB", func(c *s3.Config) { c.PartSize = s3.MinPartSize - 1 }},
		{"part size over 5 GiB", func(c *s3.Config) { c.PartSize = s3.MaxPartSize + 1 }},
		{"negative expiry", func(c *s3.Config) { c.Expiry = -time.Second }},
		{"negative lease", func(c *s3.Config) { c.LeaseTTL = -time.Second }},
		{"negative buffer memory", func(c *s3.Config) { c.BufferMemory = -1 }},
		{"buffer memory under one part", func(c *s3.Config) { c.BufferMemory = s3.DefaultPartSize - 1 }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := ok
			tc.change(&cfg)
			_, err := s3.New(t.Context(), cfg)
			wantErr(t, "New", err, storage.ErrInvalid)
		})
	}
}

func TestPartSize(t *testing.T) {
	tests := []struct {
		size, least, want int64
	}{
		{0, s3.MinPartSize, s3.MinPartSize},
		{1, s3.DefaultPartSize, s3.DefaultPartSize},
		{s3.MaxParts * s3.MinPartSize, s3.MinPartSize, s3.MinPartSize},
		{s3.MaxParts*s3.MinPartSize + 1, s3.MinPartSize, 6 * mib},
		{100 << 30, s3.MinPartSize, 11 * mib}, // 10.24 MiB, rounded up
		{10 << 30, s3.DefaultPartSize, s3.DefaultPartSize},
		{100 << 30, s3.DefaultPartSize, 11 * mib}, // the default is raised to fit MaxParts
		{s3.MaxObjectSize, s3.MinPartSize, 525 * mib},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%d bytes, least %d", tc.size, tc.least), func(t *testing.T) {
			got := s3.PartSizeFor(tc.size, tc.least)
			if got != tc.want {
				t.Fatalf("part size = %d, want %d", got, tc.want)
			}
			if parts := (tc.size + got - 1) / got; parts > s3.MaxParts || got > s3.MaxPartSize {
				t.Fatalf("part size %d needs %d parts", got, parts)
			}
		})
	}
}

// TestNewFailsFast: startup must say what is wrong with the store instead
// of failing at the first upload.
func TestNewFailsFast(t *testing.T) {
	env := s3test.Lookup(t)
	closed := func() string {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		return l.Addr().String()
	}()
	tests := []struct {
		name   string
		change func(*s3.Config)
		want   string // in the error
	}{
		{"unreachable endpoint", func(c *s3.Config) { c.Endpoint = closed }, closed},
		{"missing bucket", func(c *s3.Config) { c.Bucket = "ferry-missing-bucket" }, "does not exist"},
		{"bad credentials", func(c *s3.Config) { c.SecretKey = "wrong" + c.SecretKey }, "ferry-test-"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := env.Config(env.Bucket(t))
			tc.change(&cfg)
			b, err := s3.New(t.Context(), cfg)
			if err == nil {
				t.Fatalf("New succeeded: %v", b)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New: %v; want an error mentioning %q", err, tc.want)
			}
		})
	}
	t.Run("create missing bucket", func(t *testing.T) {
		cfg := env.Config(fmt.Sprintf("ferry-created-%d", time.Now().UnixNano()))
		cfg.CreateBucket = true
		b, err := s3.New(t.Context(), cfg)
		if err != nil {
			t.Fatalf("New with CreateBucket: %v", err)
		}
		c := env.Client(t)
		t.Cleanup(func() { c.RemoveBucket(context.Background(), cfg.Bucket) })
		if ok, err := c.BucketExists(t.Context(), cfg.Bucket); !ok || err != nil {
			t.Fatalf("bucket after New with CreateBucket: exists %v, %v", ok, err)
		}
		if err := b.Ping(t.Context()); err != nil {
			t.Fatalf("Ping: %v", err)
		}
	})
}

// TestSecondInstance: an upload started on one instance, cut off, resumes on
// another that shares the bucket; simultaneous resumes give one ErrLocked.
func TestSecondInstance(t *testing.T) {
	s := newSite(t)
	one, two := s.backend(t, nil), s.backend(t, nil)
	data := payload(1, 12*mib+3)
	id := newID()

	w := create(t, one, id, int64(len(data)))
	write(t, w, data[:7*mib])
	checkpoint(t, w, "seven")
	write(t, w, data[7*mib:8*mib]) // never checkpointed
	_, err := two.Resume(t.Context(), id)
	wantErr(t, "Resume on the second instance while the first writes", err, storage.ErrLocked)
	if err := w.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	// Both instances resume at once: exactly one wins.
	var wg sync.WaitGroup
	ws := make([]storage.Writer, 2)
	errs := make([]error, 2)
	for i, b := range []storage.Backend{one, two} {
		wg.Go(func() { ws[i], errs[i] = b.Resume(t.Context(), id) })
	}
	wg.Wait()
	won := 0
	for i := range ws {
		switch {
		case errs[i] == nil:
			won++
			ws[i].Close()
		case !errors.Is(errs[i], storage.ErrLocked):
			t.Fatalf("simultaneous Resume %d: %v", i, errs[i])
		}
	}
	if won != 1 {
		t.Fatalf("%d of 2 simultaneous Resumes won, want 1 (errors %v)", won, errs)
	}

	w = resumeAt(t, two, id, 7*mib, "seven")
	write(t, w, data[7*mib:])
	checkpoint(t, w, "all")
	commit(t, w, data)
	sameBytes(t, "file read on the first instance", contents(t, one, id), data)
	if st, err := one.Stat(t.Context(), id); err != nil || !st.Complete || st.SHA256 != digest(data) {
		t.Fatalf("Stat on the first instance = %+v, %v", st, err)
	}
	page, err := one.List(t.Context(), "", 10)
	if err != nil || len(page.Files) != 1 || page.Files[0].ID != id {
		t.Fatalf("List on the first instance = %+v, %v", page, err)
	}
}

// TestLeaseTakeover: a lease no one renewed for LeaseTTL may be taken; the
// Writer that lost it finds out at its next Checkpoint and cannot release
// the new holder's lease.
func TestLeaseTakeover(t *testing.T) {
	s := newSite(t)
	const ttl = 10 * time.Second
	b := s.backend(t, func(c *s3.Config) { c.LeaseTTL = ttl })
	// later's clock runs past the lease's expiry: to it, every lease taken
	// now is stale, without the test sleeping.
	later := s.backend(t, func(c *s3.Config) {
		c.LeaseTTL = ttl
		c.Now = func() time.Time { return time.Now().Add(ttl + time.Second) }
	})
	data := payload(2, 100<<10)
	id := newID()
	w := create(t, b, id, int64(len(data)))
	write(t, w, data[:1000])
	checkpoint(t, w, "first")

	other := s.backend(t, func(c *s3.Config) { c.LeaseTTL = ttl })
	_, err := other.Resume(t.Context(), id)
	wantErr(t, "Resume of a live lease", err, storage.ErrLocked)

	taken := resumeAt(t, later, id, 1000, "first")
	write(t, w, data[1000:2000])
	_, err = w.Checkpoint(t.Context(), []byte("lost"))
	wantErr(t, "Checkpoint after a takeover", err, storage.ErrLocked)
	_, err = w.Write(data[2000:3000])
	wantErr(t, "Write after a takeover", err, storage.ErrLocked)
	if err := w.Close(); err != nil {
		t.Fatalf("Close of the Writer that lost its lease: %v", err)
	}
	_, err = other.Resume(t.Context(), id)
	wantErr(t, "Resume while the new holder writes", err, storage.ErrLocked)

	write(t, taken, data[1000:])
	checkpoint(t, taken, "all")
	commit(t, taken, data)
	sameBytes(t, "file", contents(t, b, id), data)
}

// TestLeaseExpires: a Writer that dies without releasing its lease (kill -9)
// blocks its upload for LeaseTTL, then anyone may resume it. The other
// instance's clock (Config.Now) is moved past the lease instead of waiting.
func TestLeaseExpires(t *testing.T) {
	s := newSite(t)
	b := s.backend(t, func(c *s3.Config) { c.LeaseTTL = time.Minute })
	id := newID()
	w := create(t, b, id, 10)
	write(t, w, []byte("01234"))
	checkpoint(t, w, "five")
	s3.Abandon(w)

	var ahead atomic.Int64
	other := s.backend(t, func(c *s3.Config) {
		c.LeaseTTL = time.Minute
		c.Now = func() time.Time { return time.Now().Add(time.Duration(ahead.Load())) }
	})
	_, err := other.Resume(t.Context(), id)
	wantErr(t, "Resume of an abandoned upload within its lease", err, storage.ErrLocked)
	ahead.Store(int64(2 * time.Minute))
	w, err = other.Resume(t.Context(), id)
	if err != nil {
		t.Fatalf("Resume after the lease expired: %v", err)
	}
	defer w.Close()
	if w.Info().Offset != 5 || string(w.State()) != "five" {
		t.Fatalf("Resume after the lease expired: offset %d, state %q", w.Info().Offset, w.State())
	}
}

// TestDeleteOnOtherInstance: a Writer whose upload another instance deletes
// fails with ErrNotFound at its next store call, and the upload stays deleted.
func TestDeleteOnOtherInstance(t *testing.T) {
	tests := []struct {
		name string
		pre  int                          // bytes written and checkpointed before the Delete
		next func(w storage.Writer) error // the Writer's next move after the Delete
	}{
		{"checkpoint", 1000, func(w storage.Writer) error {
			w.Write([]byte("more"))
			_, err := w.Checkpoint(context.Background(), nil)
			return err
		}},
		{"part upload", 1000, func(w storage.Writer) error {
			// The part goes up in the background; its failure is the
			// answer of the next call that waits for it.
			if _, err := w.Write(payload(3, s3.MinPartSize)); err != nil {
				return err
			}
			_, err := w.Checkpoint(context.Background(), nil)
			return err
		}},
		{"commit", 6 * mib, func(w storage.Writer) error {
			_, err := w.Commit(context.Background(), digest(payload(4, 6*mib)))
			return err
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newSite(t)
			a, b := s.backend(t, nil), s.backend(t, nil)
			id := newID()
			w := create(t, a, id, 6*mib)
			write(t, w, payload(4, 6*mib)[:tc.pre])
			checkpoint(t, w, "")
			if err := b.Delete(t.Context(), id); err != nil {
				t.Fatalf("Delete on the other instance: %v", err)
			}
			wantErr(t, "the Writer's next move", tc.next(w), storage.ErrNotFound)
			w.Close()
			_, err := a.Stat(t.Context(), id)
			wantErr(t, "Stat", err, storage.ErrNotFound)
			s.onlyKeys(t)
		})
	}
}

// TestPartListingPagination: Resume checks every checkpointed part, paging
// through ListObjectParts, which answers at most 1,000 parts a call (here 2).
func TestPartListingPagination(t *testing.T) {
	s := newSite(t)
	b, f := s.faulty(t, nil)
	f.set(func(f *faultClient) { f.pageSize = 2 })
	data := payload(5, 5*s3.MinPartSize+1000)
	id := newID()
	w := create(t, b, id, int64(len(data)))
	durable := 4*s3.MinPartSize + 100
	write(t, w, data[:durable])
	checkpoint(t, w, "four parts")
	w.Close()

	f.set(func(f *faultClient) { f.listCalls = 0 })
	w = resumeAt(t, b, id, int64(durable), "four parts")
	f.mu.Lock()
	calls := f.listCalls
	f.mu.Unlock()
	if calls < 2 {
		t.Fatalf("Resume listed parts in %d calls; 4 parts at 2 a page need 2", calls)
	}
	write(t, w, data[durable:])
	checkpoint(t, w, "all")
	commit(t, w, data)
	sameBytes(t, "file", contents(t, b, id), data)

	t.Run("a changed part on a later page", func(t *testing.T) {
		id := newID()
		w := create(t, b, id, int64(len(data)))
		write(t, w, data[:durable])
		checkpoint(t, w, "four parts")
		w.Close()
		// Replace part 4 (on the second page) behind the Backend's back.
		core := s.core(t)
		uploadID := s.uploads(t)[s.cfg.Prefix+"files/"+id]
		_, err := core.PutObjectPart(t.Context(), s.bucket, s.cfg.Prefix+"files/"+id, uploadID, 4,
			strings.NewReader(strings.Repeat("x", s3.MinPartSize)), s3.MinPartSize, minio.PutObjectPartOptions{})
		if err != nil {
			t.Fatalf("replace part 4: %v", err)
		}
		if w, err := b.Resume(t.Context(), id); err == nil {
			w.Close()
			t.Fatalf("Resume accepted an upload whose part 4 changed")
		}
	})
}

// TestPurgedUpload: a multipart upload the store purged (MinIO does after
// 24 h) is an upload that no longer exists.
func TestPurgedUpload(t *testing.T) {
	s := newSite(t)
	b := s.backend(t, nil)
	id := newID()
	w := create(t, b, id, 7*mib)
	write(t, w, payload(6, 6*mib))
	checkpoint(t, w, "")
	w.Close()
	key := s.cfg.Prefix + "files/" + id
	if err := s.core(t).AbortMultipartUpload(t.Context(), s.bucket, key, s.uploads(t)[key]); err != nil {
		t.Fatalf("purge: %v", err)
	}
	_, err := b.Stat(t.Context(), id)
	wantErr(t, "Stat of a purged upload", err, storage.ErrNotFound)
	_, err = b.Resume(t.Context(), id)
	wantErr(t, "Resume of a purged upload", err, storage.ErrNotFound)
	s.onlyKeys(t) // Resume cleaned up
}

// TestInterruptedCommit: a Commit that completed the multipart upload but
// failed to publish the file is finished by the next Resume and Commit.
func TestInterruptedCommit(t *testing.T) {
	s := newSite(t)
	b, f := s.faulty(t, nil)
	data := payload(7, 6*mib)
	id := newID()
	w := create(t, b, id, int64(len(data)))
	write(t, w, data)
	checkpoint(t, w, "all")
	f.set(func(f *faultClient) { f.failPut = failOnce("info/" + id) })
	if _, err := w.Commit(t.Context(), digest(data)); err == nil {
		t.Fatal("Commit succeeded though publishing failed")
	}
	w.Close()
	_, err := b.Open(t.Context(), id)
	wantErr(t, "Open before the Commit is finished", err, storage.ErrNotFound)

	w = resumeAt(t, b, id, int64(len(data)), "all")
	s.finish(t, b, w, id, data, len(data))
}

// TestInterruptedCheckpoint: a Checkpoint whose state write failed leaves the
// previous Checkpoint in force, and its pending object does not outlive the upload.
func TestInterruptedCheckpoint(t *testing.T) {
	s := newSite(t)
	b, f := s.faulty(t, nil)
	data := payload(8, 7*mib)
	id := newID()
	w := create(t, b, id, int64(len(data)))
	write(t, w, data[:100])
	checkpoint(t, w, "100")
	write(t, w, data[100:6*mib])
	f.set(func(f *faultClient) { f.failPut = failOnce(id + "/state") })
	if _, err := w.Checkpoint(t.Context(), []byte("6 MiB")); err == nil {
		t.Fatal("Checkpoint succeeded though its state write failed")
	}
	if _, err := w.Write(data[6*mib : 6*mib+1]); err == nil {
		t.Fatal("Write on a Writer whose Checkpoint failed succeeded")
	}
	w.Close()
	w = resumeAt(t, b, id, 100, "100")
	s.finish(t, b, w, id, data, 100)
}

// TestCheckpointSendsOnlyNewBytes: each Checkpoint stores the bytes written
// since the previous one, not the whole unfinished part again, and Resume
// puts the pieces back together.
func TestCheckpointSendsOnlyNewBytes(t *testing.T) {
	s := newSite(t)
	b, f := s.faulty(t, nil)
	data := payload(12, 7*mib)
	id := newID()
	w := create(t, b, id, int64(len(data)))
	ends := []int{1000, 2000, 300 << 10, 6 * mib, 6*mib + 10}
	for _, end := range ends {
		write(t, w, data[w.Written():end])
		checkpoint(t, w, fmt.Sprint(end))
	}
	// Part 1 (5 MiB) went whole; everything else once as pending bytes.
	if got, want := f.putBytes("/pending-"), int64(300<<10+mib+10); got != want {
		t.Fatalf("Checkpoints stored %d pending bytes, want %d", got, want)
	}
	w.Close()
	w = resumeAt(t, b, id, 6*mib+10, fmt.Sprint(6*mib+10))
	write(t, w, data[w.Written():])
	checkpoint(t, w, "all")
	commit(t, w, data)
	sameBytes(t, "file", contents(t, b, id), data)
}

// TestNothingLeftBehind: every way an upload ends leaves only what it should.
func TestNothingLeftBehind(t *testing.T) {
	tests := []struct {
		name string
		end  func(t *testing.T, b *s3.Backend, w storage.Writer, data []byte)
		keys int // objects left for the file
	}{
		{"commit", func(t *testing.T, b *s3.Backend, w storage.Writer, data []byte) {
			commit(t, w, data)
		}, 3},
		{"commit and delete", func(t *testing.T, b *s3.Backend, w storage.Writer, data []byte) {
			commit(t, w, data)
			if err := b.Delete(t.Context(), w.ID()); err != nil {
				t.Fatalf("Delete: %v", err)
			}
		}, 0},
		{"abort", func(t *testing.T, b *s3.Backend, w storage.Writer, data []byte) {
			if err := w.Abort(t.Context()); err != nil {
				t.Fatalf("Abort: %v", err)
			}
		}, 0},
		{"close and delete", func(t *testing.T, b *s3.Backend, w storage.Writer, data []byte) {
			w.Close()
			if err := b.Delete(t.Context(), w.ID()); err != nil {
				t.Fatalf("Delete: %v", err)
			}
		}, 0},
		{"close and expire", func(t *testing.T, b *s3.Backend, w storage.Writer, data []byte) {
			w.Close()
			if n, err := b.DeleteExpired(t.Context(), time.Now().Add(48*time.Hour), nil); n != 1 || err != nil {
				t.Fatalf("DeleteExpired = %d, %v; want 1", n, err)
			}
		}, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newSite(t)
			b := s.backend(t, nil)
			data := payload(9, 11*mib)
			id := newID()
			w := create(t, b, id, int64(len(data)))
			// Several checkpoints with pending bytes, then a Close and Resume.
			for _, end := range []int{1000, 3 * mib, 6 * mib, 8 * mib} {
				write(t, w, data[w.Written():end])
				checkpoint(t, w, fmt.Sprint(end))
			}
			w.Close()
			w = resumeAt(t, b, id, 8*mib, fmt.Sprint(8*mib))
			write(t, w, data[8*mib:])
			checkpoint(t, w, "all")
			tc.end(t, b, w, data)
			if got := s.fileKeys(t, id); len(got) != tc.keys {
				t.Fatalf("objects left: %q, want %d", got, tc.keys)
			}
			if u := s.uploads(t); len(u) != 0 {
				t.Fatalf("multipart uploads left: %v", u)
			}
		})
	}
}

// TestExpireLeftovers: helper objects and a multipart upload of a Create that
// crashed before writing its state are removed once they are old enough.
func TestExpireLeftovers(t *testing.T) {
	s := newSite(t)
	b := s.backend(t, nil)
	id := newID()
	core := s.core(t)
	key := s.cfg.Prefix + "files/" + id
	if _, err := core.NewMultipartUpload(t.Context(), s.bucket, key, minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	lease := s.cfg.Prefix + "uploads/" + id + "/lease"
	if _, err := core.PutObject(t.Context(), s.bucket, lease, strings.NewReader("{}"), 2, "", "", minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	if n, err := b.DeleteExpired(t.Context(), time.Now(), nil); n != 0 || err != nil {
		t.Fatalf("DeleteExpired now = %d, %v", n, err)
	}
	if got := s.keys(t); len(got) != 1 {
		t.Fatalf("fresh leftovers removed too early: %q", got)
	}
	if n, err := b.DeleteExpired(t.Context(), time.Now().Add(48*time.Hour), nil); n != 0 || err != nil {
		t.Fatalf("DeleteExpired in two days = %d, %v; want 0 (no upload)", n, err)
	}
	s.onlyKeys(t)
}

// TestPrefixes: Backends with different prefixes share a bucket without
// seeing each other's files.
func TestPrefixes(t *testing.T) {
	s := newSite(t)
	a := s.backend(t, func(c *s3.Config) { c.Prefix = "a" })
	b := s.backend(t, func(c *s3.Config) { c.Prefix = "b/" })
	id := newID()
	w := create(t, a, id, 3)
	write(t, w, []byte("abc"))
	checkpoint(t, w, "")
	commit(t, w, []byte("abc"))
	_, err := b.Stat(t.Context(), id)
	wantErr(t, "Stat under the other prefix", err, storage.ErrNotFound)
	if page, err := b.List(t.Context(), "", 10); err != nil || len(page.Files) != 0 {
		t.Fatalf("List under the other prefix = %+v, %v", page, err)
	}
	for _, k := range s.keys(t) {
		if !strings.HasPrefix(k, "a/") {
			t.Fatalf("key %q outside the prefix a/", k)
		}
	}
}

// TestOpenIsLazy: Open reads only the file record; Seek fetches nothing;
// each Read after a Seek is one ranged GET, and a Range on the first byte
// (the SetRange(0, 0) trap) is one byte.
func TestOpenIsLazy(t *testing.T) {
	s := newSite(t)
	b, f := s.faulty(t, nil)
	data := payload(10, 300<<10)
	id := newID()
	w := create(t, b, id, int64(len(data)))
	write(t, w, data)
	checkpoint(t, w, "")
	commit(t, w, data)

	dataGets := func() int { return f.getsOf("files/" + id) }
	o, err := b.Open(t.Context(), id)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer o.Close()
	for _, off := range []int64{0, 100, 200 << 10} {
		if _, err := o.Seek(off, io.SeekStart); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := o.Seek(0, io.SeekEnd); err != nil {
		t.Fatal(err)
	}
	if n := dataGets(); n != 0 {
		t.Fatalf("Open and Seeks fetched the data %d times", n)
	}
	buf := make([]byte, 10)
	if _, err := o.Seek(1000, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(o, buf); err != nil {
		t.Fatal(err)
	}
	sameBytes(t, "10 bytes at 1000", buf, data[1000:1010])
	if _, err := io.ReadFull(o, buf); err != nil {
		t.Fatal(err)
	}
	sameBytes(t, "10 more bytes", buf, data[1010:1020])
	if n := dataGets(); n != 1 {
		t.Fatalf("two Reads in a row fetched the data %d times, want 1", n)
	}

	tests := []struct {
		rng  string
		want []byte
	}{
		{"bytes=0-0", data[:1]},
		{"bytes=0-9", data[:10]},
		{"bytes=-1", data[len(data)-1:]},
		{"bytes=1000-", data[1000:]},
		{"", data},
	}
	for _, tc := range tests {
		t.Run("range "+tc.rng, func(t *testing.T) {
			o, err := b.Open(t.Context(), id)
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			defer o.Close()
			req := httptest.NewRequest(http.MethodGet, "/", nil)
			if tc.rng != "" {
				req.Header.Set("Range", tc.rng)
			}
			rec := httptest.NewRecorder()
			http.ServeContent(rec, req, "", o.Info().Modified, o)
			sameBytes(t, "body", rec.Body.Bytes(), tc.want)
		})
	}
}

// TestStoreRestart: MinIO stopped in the middle of an upload makes the
// Writer fail; once MinIO is back, the upload resumes from its last
// Checkpoint and completes with nothing lost.
func TestStoreRestart(t *testing.T) {
	srv := s3test.StartServer(t)
	cfg := srv.Config("ferry-restart")
	cfg.CreateBucket = true
	cfg.PartSize = s3.MinPartSize
	b, err := s3.New(t.Context(), cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	data := payload(11, 12*mib)
	id := newID()
	w := create(t, b, id, int64(len(data)))
	write(t, w, data[:6*mib])
	checkpoint(t, w, "six")

	srv.Stop()
	write(t, w, data[6*mib:6*mib+1000])
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Second)
	_, err = w.Checkpoint(ctx, []byte("lost"))
	cancel()
	if err == nil {
		t.Fatal("Checkpoint with MinIO stopped succeeded")
	}
	if err := b.Ping(t.Context()); err == nil {
		t.Fatal("Ping with MinIO stopped succeeded")
	}
	srv.Start()
	w.Close()
	if err := b.Ping(t.Context()); err != nil {
		t.Fatalf("Ping after the restart: %v", err)
	}
	w = resumeAt(t, b, id, 6*mib, "six")
	write(t, w, data[6*mib:])
	checkpoint(t, w, "all")
	commit(t, w, data)
	sameBytes(t, "file after the restart", contents(t, b, id), data)
}

// TestExpiredIsGoneBeforeTheSweep: an instance whose clock is past an
// upload's ExpiresAt answers ErrNotFound to Resume and Stat, even though
// DeleteExpired has not removed it, and can still delete it.
func TestExpiredIsGoneBeforeTheSweep(t *testing.T) {
	s := newSite(t)
	b := s.backend(t, func(c *s3.Config) { c.Expiry = time.Hour })
	later := s.backend(t, func(c *s3.Config) {
		c.Expiry = time.Hour
		c.Now = func() time.Time { return time.Now().Add(time.Hour + time.Minute) }
	})
	id := newID()
	w := create(t, b, id, 100)
	write(t, w, payload(3, 10))
	checkpoint(t, w, "s")
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Stat(t.Context(), id); err != nil {
		t.Fatalf("Stat before ExpiresAt: %v", err)
	}
	if _, err := later.Resume(t.Context(), id); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("Resume after ExpiresAt: %v, want ErrNotFound", err)
	}
	if _, err := later.Stat(t.Context(), id); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("Stat after ExpiresAt: %v, want ErrNotFound", err)
	}
	if err := later.Delete(t.Context(), id); err != nil {
		t.Fatalf("Delete of an expired upload: %v", err)
	}
	if _, err := b.Stat(t.Context(), id); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("Stat after Delete: %v, want ErrNotFound", err)
	}
}
