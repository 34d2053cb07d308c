package main

// The load harness of docs/reliability.md (`make load`): a real `ferry serve`
// process (this test binary re-executed, as in e2e_test.go) under five probes,
// one after another, every byte checked, the server's goroutines, descriptors
// and RSS sampled all along:
//
//  1. uploaders: 200 uploaders for 45 s, half over the WebSocket (the Go
//     client), half over tus (net/http: POST, then PATCHes), with 40 range
//     readers reading random ranges of the files completed so far;
//  2. slow: 1,000 uploads (500 WebSocket, 500 tus) trickling a few KiB a
//     second for about 25 s;
//  3. idle WebSockets: 10,000 opened and held without a word;
//  4. idle keep-alives: 20,000 connections that each make one request and then
//     sit, opened by two helper processes (this test binary again) because one
//     process may not hold 20,000 descriptors here;
//  5. kill -9 during 20 uploads (10 WebSocket, 10 tus) on a second server,
//     which is started again on the same address and data directory; every
//     upload resumes and is checked.
//
// After probe 4 every file of probes 1 and 2 is read back whole and compared;
// then the first server is left alone for 60 s, and its RSS, goroutines and
// descriptors are recorded at +10, +30 and +60 s. Lost or corrupted bytes, and
// RSS not back near idle at +60 s, fail the test.
//
// Many probes need more than the 512 connections the server allows one
// client address (--max-conns-per-ip): they dial from 127.0.x.y source
// addresses, which Linux routes to the loopback without any set-up. Nothing
// leaves the loopback.
//
// It runs only with FERRY_LOAD=1 (make load); FERRY_LOAD_REPORT names a file
// for the results table (markdown). FERRY_LOAD_SCALE (default 1) multiplies
// every count and duration, for a quick try (0.05) of the harness itself.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/ferryhq/ferry/client"
	"github.com/ferryhq/ferry/upload"
)

// Probe sizes (before FERRY_LOAD_SCALE).
const (
	loadUploaders       = 200
	loadRangeReaders    = 40
	loadUploadersFor    = 45 * time.Second
	loadSlowUploads     = 1_000
	loadSlowFor         = 25 * time.Second
	loadIdleWebSockets  = 10_000
	loadIdleKeepAlives  = 20_000
	loadKeepAliveProcs  = 2
	loadHold            = 10 * time.Second
	loadKillUploads     = 20
	loadKillUploadSize  = 48 << 20
	loadPerAddress      = 500    // connections per source address, under the default 512
	loadServerMaxConns  = 17_900 // the server's --max-conns: its descriptor limit is 20,000, and serve wants 2,048 left for storage
	loadRecoveryWindow  = 60 * time.Second
	loadSampleEvery     = 500 * time.Millisecond
	loadNearIdleSlack   = 32 << 20 // "near idle": at most this much above idle RSS...
	loadNearIdleFactor  = 2        // ...or this many times idle, whichever is more
	loadHelperMaxLife   = 3 * time.Minute
	loadMaxVerifyErrors = 20
)

// ---- content: any byte of any file can be made again from its recipe -------

// loadBlock is random, and its length is no power of two, so a byte stored at
// the wrong offset or in the wrong file is noticed.
var loadBlock = func() []byte {
	b := make([]byte, 1<<20+7)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return b
}()

// loadFile is a file's recipe: byte i is loadBlock[(i+shift) % len] XOR
// key[i%8]. It is an io.ReaderAt of its content.
type loadFile struct {
	shift int64
	key   [8]byte
	size  int64
}

func newLoadFile(size int64) loadFile {
	f := loadFile{shift: mrand.Int64N(int64(len(loadBlock))), size: size}
	binary.LittleEndian.PutUint64(f.key[:], mrand.Uint64()|1)
	return f
}

func (f loadFile) fill(p []byte, off int64) {
	pos := (off + f.shift) % int64(len(loadBlock))
	for i := 0; i < len(p); pos = 0 {
		i += copy(p[i:], loadBlock[pos:])
	}
	for i := range p {
		p[i] ^= f.key[(off+int64(i))&7]
	}
}

func (f loadFile) ReadAt(p []byte, off int64) (int, error) {
	if off >= f.size {
		return 0, io.EOF
	}
	n := int(min(int64(len(p)), f.size-off))
	f.fill(p[:n], off)
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func (f loadFile) sha256() string {
	h := sha256.New()
	_, _ = io.Copy(h, io.NewSectionReader(f, 0, f.size))
	return hex.EncodeToString(h.Sum(nil))
}

// compare reads r to its end and compares it with the file's bytes from off;
// it returns how many bytes matched before the first difference or the end.
func (f loadFile) compare(r io.Reader, off int64) (n int64, same bool, err error) {
	got := make([]byte, 64<<10)
	want := make([]byte, 64<<10)
	for {
		m, rerr := io.ReadFull(r, got)
		if m > 0 {
			if off+n+int64(m) > f.size {
				return n, false, nil
			}
			f.fill(want[:m], off+n)
			if !bytes.Equal(got[:m], want[:m]) {
				return n, false, nil
			}
			n += int64(m)
		}
		if rerr == io.EOF || rerr == io.ErrUnexpectedEOF {
			return n, true, nil
		}
		if rerr != nil {
			return n, true, rerr
		}
	}
}

// ---- the server's numbers ---------------------------------------------------

type loadSample struct {
	at         time.Time
	rss, hwm   int64 // bytes
	fds        int
	goroutines int // -1: /metrics did not answer
}

// loadMonitor samples one server process every loadSampleEvery.
type loadMonitor struct {
	pid     int
	metrics string
	hc      *http.Client // one kept-alive connection, opened before any probe

	mu      sync.Mutex
	samples []loadSample
	stop    chan struct{}
	done    chan struct{}
	once    sync.Once
}

func newLoadMonitor(pid int, base string) *loadMonitor {
	m := &loadMonitor{pid: pid, metrics: base + "/metrics",
		hc: &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
			MaxConnsPerHost: 1, MaxIdleConnsPerHost: 1, IdleConnTimeout: 0, DisableCompression: true}},
		stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(m.done)
		for {
			s := m.sample()
			m.mu.Lock()
			m.samples = append(m.samples, s)
			m.mu.Unlock()
			select {
			case <-m.stop:
				return
			case <-time.After(loadSampleEvery):
			}
		}
	}()
	return m
}

func (m *loadMonitor) close() { m.once.Do(func() { close(m.stop) }); <-m.done }

func (m *loadMonitor) sample() loadSample {
	s := loadSample{at: time.Now(), goroutines: -1}
	s.rss = loadProcStatus(m.pid, "VmRSS")
	s.hwm = loadProcStatus(m.pid, "VmHWM")
	if d, err := os.Open(fmt.Sprintf("/proc/%d/fd", m.pid)); err == nil {
		names, _ := d.Readdirnames(-1)
		d.Close()
		s.fds = len(names)
	}
	if resp, err := m.hc.Get(m.metrics); err == nil {
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			if v, ok := strings.CutPrefix(sc.Text(), "go_goroutines "); ok {
				if f, err := strconv.ParseFloat(v, 64); err == nil {
					s.goroutines = int(f)
				}
			}
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	return s
}

// peak is the highest of each figure over the samples since from.
func (m *loadMonitor) peak(from time.Time) loadSample {
	m.mu.Lock()
	defer m.mu.Unlock()
	var p loadSample
	for _, s := range m.samples {
		if s.at.Before(from) {
			continue
		}
		p.at = s.at
		p.rss, p.hwm = max(p.rss, s.rss), max(p.hwm, s.hwm)
		p.fds, p.goroutines = max(p.fds, s.fds), max(p.goroutines, s.goroutines)
	}
	return p
}

func loadProcStatus(pid int, field string) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			kib, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kib << 10
		}
	}
	return 0
}

// ---- counting ---------------------------------------------------------------

// loadProbe is one probe's tally.
type loadProbe struct {
	name      string
	started   time.Time
	took      time.Duration
	done      atomic.Int64 // uploads completed and checked
	upBytes   atomic.Int64 // bytes of those uploads (the server's sha256 checked)
	readBytes atomic.Int64 // bytes read back and compared
	lost      atomic.Int64 // acknowledged bytes the server no longer had
	corrupt   atomic.Int64 // bytes that came back different
	failed    atomic.Int64 // uploads that did not complete (refused, cut off): nothing acknowledged lost
	peak      loadSample
	after     loadSample
	notes     []string

	mu   sync.Mutex
	errs []string
}

func (p *loadProbe) errorf(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.errs) < loadMaxVerifyErrors {
		p.errs = append(p.errs, fmt.Sprintf(format, args...))
	}
}

func (p *loadProbe) note(format string, args ...any) {
	p.notes = append(p.notes, fmt.Sprintf(format, args...))
}

// loadDone is an upload that completed, to be read back.
type loadDone struct {
	id   string
	file loadFile
}

type loadFiles struct {
	mu    sync.Mutex
	files []loadDone
}

func (l *loadFiles) add(d loadDone) { l.mu.Lock(); l.files = append(l.files, d); l.mu.Unlock() }

func (l *loadFiles) pick() (loadDone, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.files) == 0 {
		return loadDone{}, false
	}
	return l.files[mrand.IntN(len(l.files))], true
}

func (l *loadFiles) all() []loadDone {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]loadDone(nil), l.files...)
}

// ---- clients ----------------------------------------------------------------

// loadScale is FERRY_LOAD_SCALE applied to n (at least 1).
func loadScale(n int) int {
	f, err := strconv.ParseFloat(os.Getenv("FERRY_LOAD_SCALE"), 64)
	if err != nil || f <= 0 {
		return n
	}
	return max(1, int(float64(n)*f))
}

// loadScaleDur is FERRY_LOAD_SCALE applied to a probe's duration (at least 3 s).
func loadScaleDur(d time.Duration) time.Duration {
	f, err := strconv.ParseFloat(os.Getenv("FERRY_LOAD_SCALE"), 64)
	if err != nil || f <= 0 {
		return d
	}
	return max(3*time.Second, time.Duration(float64(d)*f))
}

// loadSource is source address i of a group: 127.<group>.<i/250>.<i%250+1>.
func loadSource(group, i int) net.IP {
	return net.IPv4(127, byte(group), byte(i/250), byte(i%250+1))
}

func loadDialer(ip net.IP) *net.Dialer {
	return &net.Dialer{LocalAddr: &net.TCPAddr{IP: ip}, Timeout: 10 * time.Second}
}

// loadTransport dials from ip (nil: any) and keeps up to conns idle.
func loadTransport(ip net.IP, conns int) *http.Transport {
	// A small write buffer: a slow body's pieces go on the wire as they come.
	tr := &http.Transport{MaxIdleConns: conns, MaxIdleConnsPerHost: conns, IdleConnTimeout: 30 * time.Second,
		DisableCompression: true, WriteBufferSize: 512}
	if ip != nil {
		tr.DialContext = loadDialer(ip).DialContext
	}
	return tr
}

// tusCreate creates an upload of f over tus and returns its URL.
func tusCreate(ctx context.Context, hc *http.Client, base, name string, size int64) (string, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, base+"/uploads/", nil)
	req.Header.Set("Tus-Resumable", "1.0.0")
	req.Header.Set("Upload-Length", strconv.FormatInt(size, 10))
	req.Header.Set("Upload-Metadata", "filename "+base64.StdEncoding.EncodeToString([]byte(name)))
	resp, err := hc.Do(req)
	if err != nil {
		return "", err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		return "", fmt.Errorf("POST /uploads/: %s", resp.Status)
	}
	loc := resp.Header.Get("Location")
	if !strings.HasPrefix(loc, "http") {
		loc = base + loc
	}
	return loc, nil
}

// tusPatch sends body as the bytes at off and returns the offset answered.
func tusPatch(ctx context.Context, hc *http.Client, loc string, off, n int64, body io.Reader) (int64, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodPatch, loc, body)
	req.ContentLength = n
	req.Header.Set("Tus-Resumable", "1.0.0")
	req.Header.Set("Upload-Offset", strconv.FormatInt(off, 10))
	req.Header.Set("Content-Type", "application/offset+octet-stream")
	resp, err := hc.Do(req)
	if err != nil {
		return -1, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		return -1, fmt.Errorf("PATCH at %d: %s", off, resp.Status)
	}
	return strconv.ParseInt(resp.Header.Get("Upload-Offset"), 10, 64)
}

// tusHead returns the upload's durable offset.
func tusHead(ctx context.Context, hc *http.Client, loc string) (int64, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodHead, loc, nil)
	req.Header.Set("Tus-Resumable", "1.0.0")
	resp, err := hc.Do(req)
	if err != nil {
		return -1, err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return -1, fmt.Errorf("HEAD: %s", resp.Status)
	}
	return strconv.ParseInt(resp.Header.Get("Upload-Offset"), 10, 64)
}

// storedSHA256 is what /api/files/<id> says of a complete upload.
func storedSHA256(ctx context.Context, hc *http.Client, base, id string) (string, int64, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/api/files/"+id, nil)
	resp, err := hc.Do(req)
	if err != nil {
		return "", 0, err
	}
	defer resp.Body.Close()
	var fi fileInfo
	if resp.StatusCode != http.StatusOK {
		return "", 0, fmt.Errorf("GET /api/files/%s: %s", id, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(&fi); err != nil {
		return "", 0, err
	}
	if !fi.Complete {
		return "", 0, fmt.Errorf("/api/files/%s: not complete (offset %d of %d)", id, fi.Offset, fi.Size)
	}
	return fi.SHA256, fi.Size, nil
}

// tusUploadAll uploads f over tus in PATCHes of up to chunk bytes and checks
// the server's sha256.
func tusUploadAll(ctx context.Context, hc *http.Client, base string, f loadFile, chunk int64) (string, error) {
	loc, err := tusCreate(ctx, hc, base, "load.bin", f.size)
	if err != nil {
		return "", err
	}
	for off := int64(0); off < f.size; {
		n := min(chunk, f.size-off)
		got, err := tusPatch(ctx, hc, loc, off, n, io.NewSectionReader(f, off, n))
		if err != nil {
			return "", err
		}
		if got != off+n {
			return "", fmt.Errorf("PATCH of %d..%d answered offset %d", off, off+n, got)
		}
		off = got
	}
	return idOf(loc), nil
}

// ---- probe 1: uploaders and range readers ----------------------------------

func loadUploadersProbe(t *testing.T, base string, p *loadProbe, files *loadFiles) {
	uploaders, readers := loadScale(loadUploaders), loadScale(loadRangeReaders)
	end := time.Now().Add(loadScaleDur(loadUploadersFor))
	ctx, cancel := context.WithDeadline(context.Background(), end.Add(60*time.Second))
	defer cancel()
	hc := &http.Client{Transport: loadTransport(nil, uploaders+readers)}
	defer hc.CloseIdleConnections()
	var wg sync.WaitGroup
	var ws, tus atomic.Int64
	for i := range uploaders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(end) {
				size := 1 + mrand.Int64N(2<<20)
				if mrand.IntN(20) == 0 {
					size = 8<<20 + mrand.Int64N(1<<20)
				}
				f := newLoadFile(size)
				want := f.sha256()
				var id string
				var err error
				if i%2 == 0 {
					var res client.Result
					res, err = client.Upload(ctx, f, size, client.Options{Server: base, Name: "load.bin", SHA256: want})
					if err == nil && (res.SHA256 != want || res.Size != size) {
						p.corrupt.Add(size)
						p.errorf("websocket upload %s: server has sha256 %s size %d, want %s %d", res.ID, res.SHA256, res.Size, want, size)
						continue
					}
					id = res.ID
					ws.Add(1)
				} else {
					id, err = tusUploadAll(ctx, hc, base, f, 256<<10+mrand.Int64N(768<<10))
					if err == nil {
						var sum string
						var n int64
						if sum, n, err = storedSHA256(ctx, hc, base, id); err == nil && (sum != want || n != size) {
							p.corrupt.Add(size)
							p.errorf("tus upload %s: server has sha256 %s size %d, want %s %d", id, sum, n, want, size)
							continue
						}
					}
					tus.Add(1)
				}
				if err != nil {
					if client.CodeOf(err) == client.CodeChecksumMismatch {
						p.corrupt.Add(size)
					} else {
						p.failed.Add(1)
					}
					p.errorf("upload of %d bytes: %v", size, err)
					continue
				}
				p.done.Add(1)
				p.upBytes.Add(size)
				files.add(loadDone{id: id, file: f})
			}
		}()
	}
	for range readers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(end) {
				d, ok := files.pick()
				if !ok {
					time.Sleep(50 * time.Millisecond)
					continue
				}
				loadRangeRead(ctx, hc, base, d, p)
			}
		}()
	}
	wg.Wait()
	p.note("%d over the WebSocket (Go client), %d over tus (POST + PATCHes of 256 KiB..1 MiB); sizes 1 B..2 MiB, one in 20 8..9 MiB", ws.Load(), tus.Load())
}

// loadRangeRead reads one random range of d and compares it.
func loadRangeRead(ctx context.Context, hc *http.Client, base string, d loadDone, p *loadProbe) {
	size := d.file.size
	var first, last int64
	var spec string
	switch r := mrand.IntN(5); {
	case r == 0: // suffix
		n := 1 + mrand.Int64N(size)
		first, last, spec = size-n, size-1, fmt.Sprintf("-%d", n)
	case r == 1: // open-ended
		first = mrand.Int64N(size)
		last, spec = size-1, fmt.Sprintf("%d-", first)
	default:
		first = mrand.Int64N(size)
		last = min(size-1, first+mrand.Int64N(1<<20))
		spec = fmt.Sprintf("%d-%d", first, last)
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/files/"+d.id, nil)
	req.Header.Set("Range", "bytes="+spec)
	resp, err := hc.Do(req)
	if err != nil {
		p.failed.Add(1)
		p.errorf("GET %s range %s: %v", d.id, spec, err)
		return
	}
	defer resp.Body.Close()
	wantRange := fmt.Sprintf("bytes %d-%d/%d", first, last, size)
	if resp.StatusCode == http.StatusNotFound {
		p.lost.Add(size)
		p.errorf("GET %s: 404 for a completed upload", d.id)
		return
	}
	if resp.StatusCode != http.StatusPartialContent || resp.Header.Get("Content-Range") != wantRange {
		p.corrupt.Add(last - first + 1)
		p.errorf("GET %s range %s: %s Content-Range %q, want 206 %q", d.id, spec, resp.Status, resp.Header.Get("Content-Range"), wantRange)
		return
	}
	n, same, err := d.file.compare(resp.Body, first)
	p.readBytes.Add(n)
	switch {
	case !same || (err == nil && n != last-first+1):
		p.corrupt.Add(last - first + 1 - n)
		p.errorf("GET %s range %s: %d bytes matched, then a difference or the end", d.id, spec, n)
	case err != nil:
		p.failed.Add(1)
		p.errorf("GET %s range %s: %v after %d bytes", d.id, spec, err, n)
	}
}

// loadVerifyAll reads every file back whole and compares it.
func loadVerifyAll(base string, all []loadDone, p *loadProbe) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	hc := &http.Client{Transport: loadTransport(nil, 8)}
	defer hc.CloseIdleConnections()
	work := make(chan loadDone)
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for d := range work {
				req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/files/"+d.id, nil)
				resp, err := hc.Do(req)
				if err != nil {
					p.failed.Add(1)
					p.errorf("GET %s: %v", d.id, err)
					continue
				}
				if resp.StatusCode != http.StatusOK {
					resp.Body.Close()
					p.lost.Add(d.file.size)
					p.errorf("GET %s: %s for a completed upload", d.id, resp.Status)
					continue
				}
				n, same, err := d.file.compare(resp.Body, 0)
				resp.Body.Close()
				p.readBytes.Add(n)
				switch {
				case !same:
					p.corrupt.Add(d.file.size - n)
					p.errorf("GET %s: differs after %d of %d bytes", d.id, n, d.file.size)
				case err != nil:
					p.failed.Add(1)
					p.errorf("GET %s: %v after %d bytes", d.id, err, n)
				case n != d.file.size:
					p.lost.Add(d.file.size - n)
					p.errorf("GET %s: %d bytes, want %d", d.id, n, d.file.size)
				default:
					p.done.Add(1)
				}
			}
		}()
	}
	for _, d := range all {
		work <- d
	}
	close(work)
	wg.Wait()
}

// ---- probe 2: slow uploads -------------------------------------------------

// loadTrickle is a body that hands out f's bytes from off in pieces, one
// every second or so, over about loadSlowFor.
type loadTrickle struct {
	f        loadFile
	off, end int64
	piece    int64
	started  bool
}

func (r *loadTrickle) Read(p []byte) (int, error) {
	if r.off >= r.end {
		return 0, io.EOF
	}
	if r.started {
		time.Sleep(500*time.Millisecond + mrand.N(time.Second))
	}
	r.started = true
	n := int(min(int64(len(p)), r.piece, r.end-r.off))
	r.f.fill(p[:n], r.off)
	r.off += int64(n)
	return n, nil
}

func loadSlowProbe(t *testing.T, base string, p *loadProbe, files *loadFiles) {
	n := loadScale(loadSlowUploads)
	ctx, cancel := context.WithTimeout(context.Background(), loadSlowFor+40*time.Second)
	defer cancel()
	addr := strings.TrimPrefix(base, "http://")
	transports := map[int]*http.Client{}
	var wg sync.WaitGroup
	var inFlight, peakInFlight atomic.Int64
	for i := range n {
		ip := loadSource(1, i/loadPerAddress)
		if transports[i/loadPerAddress] == nil {
			transports[i/loadPerAddress] = &http.Client{Transport: loadTransport(ip, loadPerAddress)}
		}
		hc := transports[i/loadPerAddress]
		// 25 pieces of 1..2 KiB, one a second or so.
		piece := 1<<10 + mrand.Int64N(1<<10)
		f := newLoadFile(piece * int64(loadScaleDur(loadSlowFor)/time.Second))
		wg.Add(1)
		go func() {
			defer wg.Done()
			time.Sleep(mrand.N(2 * time.Second)) // not all in the same millisecond
			inFlight.Add(1)
			defer inFlight.Add(-1)
			for {
				now, top := inFlight.Load(), peakInFlight.Load()
				if now <= top || peakInFlight.CompareAndSwap(top, now) {
					break
				}
			}
			want := f.sha256()
			var id string
			var err error
			if i%2 == 0 {
				id, err = loadSlowWebSocket(ctx, addr, ip, f, piece, want)
			} else {
				var loc string
				if loc, err = tusCreate(ctx, hc, base, "slow.bin", f.size); err == nil {
					var got int64
					got, err = tusPatch(ctx, hc, loc, 0, f.size, &loadTrickle{f: f, end: f.size, piece: piece})
					if err == nil && got != f.size {
						err = fmt.Errorf("slow PATCH answered offset %d of %d", got, f.size)
					}
					id = idOf(loc)
				}
				if err == nil {
					var sum string
					if sum, _, err = storedSHA256(ctx, hc, base, id); err == nil && sum != want {
						p.corrupt.Add(f.size)
						p.errorf("slow tus upload %s: sha256 %s, want %s", id, sum, want)
						return
					}
				}
			}
			if err != nil {
				if upload.CodeOf(err) == upload.CodeChecksumMismatch {
					p.corrupt.Add(f.size)
				} else {
					p.failed.Add(1)
				}
				p.errorf("slow upload from %s: %v", ip, err)
				return
			}
			p.done.Add(1)
			p.upBytes.Add(f.size)
			files.add(loadDone{id: id, file: f})
		}()
	}
	wg.Wait()
	for _, hc := range transports {
		hc.CloseIdleConnections()
	}
	p.note("%d over the WebSocket, %d over tus (one PATCH each), each 25 pieces of 1..2 KiB about a second apart, from %d source addresses; at most %d open at once",
		(n+1)/2, n/2, (n+loadPerAddress-1)/loadPerAddress, peakInFlight.Load())
}

// loadSlowWebSocket uploads f in pieces over a raw WebSocket, about one a
// second, and returns the id once the server completed it with sha256 want.
func loadSlowWebSocket(ctx context.Context, addr string, ip net.IP, f loadFile, piece int64, want string) (string, error) {
	d := websocket.Dialer{NetDialContext: loadDialer(ip).DialContext, HandshakeTimeout: 10 * time.Second,
		ReadBufferSize: 4 << 10, WriteBufferSize: 4 << 10, Subprotocols: []string{upload.Subprotocol}}
	conn, _, err := d.DialContext(ctx, "ws://"+addr+"/ws/upload", nil)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	if err := conn.WriteJSON(upload.StartFrame{Type: upload.TypeStart, Name: "slow.bin", Size: f.size, SHA256: want}); err != nil {
		return "", err
	}
	var ready upload.ServerFrame
	if err := conn.ReadJSON(&ready); err != nil || ready.Type != upload.TypeReady {
		return "", fmt.Errorf("ready: %+v %v", ready, err)
	}
	final := make(chan upload.ServerFrame, 1)
	go func() {
		defer close(final)
		for {
			var fr upload.ServerFrame
			if err := conn.ReadJSON(&fr); err != nil {
				return
			}
			if fr.Type == upload.TypeComplete || fr.Type == upload.TypeError {
				final <- fr
				return
			}
		}
	}()
	buf := make([]byte, piece)
	for off := int64(0); off < f.size; off += piece {
		if off > 0 {
			time.Sleep(500*time.Millisecond + mrand.N(time.Second))
		}
		n := min(piece, f.size-off)
		f.fill(buf[:n], off)
		if err := conn.WriteMessage(websocket.BinaryMessage, buf[:n]); err != nil {
			return ready.ID, err
		}
	}
	if err := conn.WriteJSON(upload.ControlFrame{Type: upload.TypeEnd}); err != nil {
		return ready.ID, err
	}
	fr, ok := <-final
	switch {
	case !ok:
		return ready.ID, errors.New("connection ended before complete")
	case fr.Type == upload.TypeError:
		return ready.ID, &upload.Error{Code: fr.Code, Message: fr.Message, ID: ready.ID}
	case fr.SHA256 != want || fr.Size != f.size:
		return ready.ID, &upload.Error{Code: upload.CodeChecksumMismatch, ID: ready.ID,
			Message: fmt.Sprintf("complete with sha256 %s size %d, want %s %d", fr.SHA256, fr.Size, want, f.size)}
	}
	return ready.ID, nil
}

// ---- probe 3: idle WebSockets ----------------------------------------------

func loadIdleWebSocketsProbe(t *testing.T, base string, p *loadProbe, mon *loadMonitor) {
	n := loadScale(loadIdleWebSockets)
	addr := strings.TrimPrefix(base, "http://")
	conns := make([]*websocket.Conn, n)
	var opened, refused atomic.Int64
	var wg sync.WaitGroup
	next := make(chan int)
	for range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				d := websocket.Dialer{NetDialContext: loadDialer(loadSource(2, i/loadPerAddress)).DialContext,
					HandshakeTimeout: 10 * time.Second, ReadBufferSize: 1 << 10, WriteBufferSize: 1 << 10,
					Subprotocols: []string{upload.Subprotocol}}
				c, resp, err := d.Dial("ws://"+addr+"/ws/upload", nil)
				if err != nil {
					if resp != nil && resp.StatusCode == http.StatusServiceUnavailable {
						refused.Add(1)
					} else {
						p.errorf("idle websocket %d: %v", i, err)
					}
					p.failed.Add(1)
					continue
				}
				conns[i] = c
				opened.Add(1)
			}
		}()
	}
	openStart := time.Now()
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	opening := time.Since(openStart)
	defer func() {
		for _, c := range conns {
			if c != nil {
				c.Close()
			}
		}
	}()

	// While they are held: an upload from another address still goes through.
	f := newLoadFile(4 << 20)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := client.Upload(ctx, f, f.size, client.Options{Server: base, Name: "beside-idle.bin", SHA256: f.sha256()})
	if err != nil {
		p.failed.Add(1)
		p.errorf("an upload beside %d idle WebSockets: %v", opened.Load(), err)
	} else {
		p.done.Add(1)
		p.upBytes.Add(res.Size)
	}
	time.Sleep(loadScaleDur(loadHold))
	// Still open? A read that times out means the server kept the connection.
	var alive int
	for _, c := range conns {
		if c == nil {
			continue
		}
		_ = c.SetReadDeadline(time.Now().Add(time.Millisecond))
		_, _, err := c.ReadMessage()
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			alive++
		}
	}
	p.note("%d opened in %s from %d source addresses (%d refused with 503), %d still open after %s; a 4 MiB upload beside them: %v",
		opened.Load(), opening.Round(100*time.Millisecond), (n+loadPerAddress-1)/loadPerAddress, refused.Load(), alive, loadScaleDur(loadHold), errText(err))
}

func errText(err error) string {
	if err == nil {
		return "ok"
	}
	return err.Error()
}

// ---- probe 4: idle keep-alives, from helper processes -----------------------

// TestLoadKeepAliveHelper is probe 4's client: run by TestLoad as a child
// process with FERRY_LOAD_HELPER=1. It opens FERRY_LOAD_HELPER_N connections
// from source addresses 127.FERRY_LOAD_HELPER_GROUP.x.y, sends one
// GET /healthz on each and keeps those answered 200 open, prints one JSON
// line of counts, waits until its stdin closes (or loadHelperMaxLife), checks
// how many the server kept open, prints a second line and exits.
func TestLoadKeepAliveHelper(t *testing.T) {
	if os.Getenv("FERRY_LOAD_HELPER") != "1" {
		t.Skip("a child process of TestLoad (FERRY_LOAD_HELPER=1)")
	}
	addr := os.Getenv("FERRY_LOAD_HELPER_ADDR")
	n, _ := strconv.Atoi(os.Getenv("FERRY_LOAD_HELPER_N"))
	group, _ := strconv.Atoi(os.Getenv("FERRY_LOAD_HELPER_GROUP"))
	conns := make([]net.Conn, n)
	var held, refused, failed atomic.Int64
	var firstErr atomic.Value
	next := make(chan int)
	var wg sync.WaitGroup
	request := []byte("GET /healthz HTTP/1.1\r\nHost: " + addr + "\r\n\r\n")
	for range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				c, err := loadDialer(loadSource(group, i/loadPerAddress)).Dial("tcp", addr)
				if err == nil {
					_ = c.SetDeadline(time.Now().Add(10 * time.Second))
					if _, err = c.Write(request); err == nil {
						var resp *http.Response
						if resp, err = http.ReadResponse(bufio.NewReader(c), nil); err == nil {
							_, _ = io.Copy(io.Discard, resp.Body)
							resp.Body.Close()
							if resp.StatusCode == http.StatusOK {
								_ = c.SetDeadline(time.Time{})
								conns[i] = c
								held.Add(1)
								continue
							}
							if resp.StatusCode == http.StatusServiceUnavailable {
								refused.Add(1)
								c.Close()
								continue
							}
							err = fmt.Errorf("GET /healthz: %s", resp.Status)
						}
					}
					c.Close()
				}
				failed.Add(1)
				firstErr.CompareAndSwap(nil, err.Error())
			}
		}()
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	out := json.NewEncoder(os.Stdout)
	_ = out.Encode(map[string]any{"held": held.Load(), "refused": refused.Load(), "failed": failed.Load(), "error": firstErr.Load()})

	stdinClosed := make(chan struct{})
	go func() { _, _ = io.Copy(io.Discard, os.Stdin); close(stdinClosed) }()
	select {
	case <-stdinClosed:
	case <-time.After(loadHelperMaxLife):
	}
	var open int
	for _, c := range conns {
		if c == nil {
			continue
		}
		_ = c.SetReadDeadline(time.Now().Add(time.Millisecond))
		if _, err := c.Read(make([]byte, 1)); err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				open++
			}
		}
		c.Close()
	}
	_ = out.Encode(map[string]any{"open": open})
}

type loadHelper struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	out   *bufio.Scanner
	errs  *syncBuffer
}

func startLoadHelper(t *testing.T, addr string, group, n int) *loadHelper {
	cmd := exec.Command(os.Args[0], "-test.run=^TestLoadKeepAliveHelper$", "-test.count=1")
	cmd.Env = append(os.Environ(), "FERRY_LOAD_HELPER=1", "FERRY_LOAD_HELPER_ADDR="+addr,
		"FERRY_LOAD_HELPER_N="+strconv.Itoa(n), "FERRY_LOAD_HELPER_GROUP="+strconv.Itoa(group))
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	h := &loadHelper{cmd: cmd, stdin: stdin, out: bufio.NewScanner(stdout), errs: &syncBuffer{}}
	cmd.Stderr = h.errs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	return h
}

// line reads the helper's next JSON line (the go test output around it is skipped).
func (h *loadHelper) line() map[string]any {
	for h.out.Scan() {
		var m map[string]any
		if json.Unmarshal(h.out.Bytes(), &m) == nil {
			return m
		}
	}
	return map[string]any{"error": "helper ended: " + h.errs.String()}
}

func loadKeepAlivesProbe(t *testing.T, base string, p *loadProbe) {
	n := loadScale(loadIdleKeepAlives)
	addr := strings.TrimPrefix(base, "http://")
	per := (n + loadKeepAliveProcs - 1) / loadKeepAliveProcs
	var helpers []*loadHelper
	for k := range loadKeepAliveProcs {
		helpers = append(helpers, startLoadHelper(t, addr, 10+k, min(per, n-k*per)))
	}
	var held, refused, failed float64
	var firstErr []string
	for _, h := range helpers {
		m := h.line()
		held += num(m["held"])
		refused += num(m["refused"])
		failed += num(m["failed"])
		if e, ok := m["error"].(string); ok && e != "" {
			firstErr = append(firstErr, e)
		}
	}
	// While they are held: /healthz over the monitor's connection (opened
	// before the flood; at --max-conns a new connection is refused, by design).
	time.Sleep(loadScaleDur(loadHold))
	var open float64
	for _, h := range helpers {
		h.stdin.Close()
		open += num(h.line()["open"])
		_ = h.cmd.Wait()
	}
	p.done.Add(int64(held))
	p.failed.Add(int64(failed))
	for _, e := range firstErr {
		p.errorf("keep-alive helper: %s", e)
	}
	p.note("%d connections from %d helper processes and %d source addresses, each answered one GET /healthz: %.0f held, %.0f refused with 503 at --max-conns %d, %.0f failed otherwise; %.0f still open after %s",
		n, loadKeepAliveProcs, (n+loadPerAddress-1)/loadPerAddress, held, refused, loadServerMaxConns, failed, open, loadScaleDur(loadHold))
}

func num(v any) float64 { f, _ := v.(float64); return f }

// ---- probe 5: kill -9 during 20 uploads ------------------------------------

// loadPaced reads f slowly, so that uploads are still running at the kill.
type loadPaced struct{ f loadFile }

func (r loadPaced) ReadAt(p []byte, off int64) (int, error) {
	time.Sleep(time.Duration(len(p)>>10) * 80 * time.Microsecond) // about 12 MB/s
	return r.f.ReadAt(p, off)
}

func loadKillProbe(t *testing.T, p *loadProbe) {
	n := loadScale(loadKillUploads)
	addr, dir := freeAddr(t), t.TempDir()
	first := startInstanceAt(t, addr, "--data", dir)
	base := first.url
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	hc := &http.Client{Transport: loadTransport(nil, n)}

	var killedAt atomic.Int64 // unix nanos, once the process is dead
	type result struct {
		id               string
		file             loadFile
		reported, resume int64 // highest durable offset told before the kill; where it resumed
		err              error
	}
	results := make([]result, n)
	var started sync.WaitGroup
	var wg sync.WaitGroup
	for i := range n {
		f := newLoadFile(loadKillUploadSize + mrand.Int64N(1<<20))
		results[i].file, results[i].resume = f, -1
		started.Add(1)
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := &results[i]
			var once sync.Once
			if i%2 == 0 {
				var res client.Result
				var mu sync.Mutex
				res, r.err = client.Upload(ctx, loadPaced{f}, f.size, client.Options{
					Server: base, Name: "kill.bin", SHA256: f.sha256(), ChunkSize: 256 << 10, Window: 2 << 20,
					OnID: func(id string) { r.id = id },
					Progress: func(pr client.Progress) {
						mu.Lock()
						defer mu.Unlock()
						if pr.Offset > 0 {
							once.Do(started.Done)
						}
						if killedAt.Load() == 0 {
							r.reported = max(r.reported, pr.Offset)
						} else if r.resume < 0 {
							r.resume = pr.Offset // the first report after the kill: the new server's ready
						}
					},
				})
				once.Do(started.Done)
				if r.err == nil && (res.SHA256 != f.sha256() || res.Size != f.size) {
					r.err = fmt.Errorf("complete with sha256 %s size %d", res.SHA256, res.Size)
				}
				return
			}
			// tus: PATCHes of 1 MiB, paced; after the kill, HEAD until the
			// new server answers, then carry on from its offset.
			defer once.Do(started.Done)
			loc, err := tusCreate(ctx, hc, base, "kill.bin", f.size)
			if err != nil {
				r.err = err
				return
			}
			r.id = idOf(loc)
			off := int64(0)
			for off < f.size && ctx.Err() == nil {
				m := min(1<<20, f.size-off)
				buf := make([]byte, m)
				_, _ = loadPaced{f}.ReadAt(buf, off)
				got, err := tusPatch(ctx, hc, loc, off, m, bytes.NewReader(buf))
				if err == nil {
					if killedAt.Load() == 0 {
						r.reported = got
					}
					off = got
					once.Do(started.Done)
					continue
				}
				// Cut off: wait for a server, ask where the upload stands.
				for ctx.Err() == nil {
					time.Sleep(200 * time.Millisecond)
					if at, herr := tusHead(ctx, hc, loc); herr == nil {
						if killedAt.Load() != 0 && r.resume < 0 {
							r.resume = at
						}
						off = at
						break
					}
				}
			}
			r.err = ctx.Err()
		}()
	}
	started.Wait()
	time.Sleep(time.Second) // every upload has a durable offset; give them a moment more
	first.kill()
	killedAt.Store(time.Now().UnixNano())
	hc.CloseIdleConnections()
	second := startInstanceAt(t, addr, "--data", dir)
	restart := time.Duration(time.Now().UnixNano() - killedAt.Load())
	wg.Wait()

	var midway, resumedLess int
	for _, r := range results {
		if r.reported > 0 && r.reported < r.file.size {
			midway++
		}
		if r.err != nil {
			p.failed.Add(1)
			p.errorf("upload %s across kill -9: %v", r.id, r.err)
			continue
		}
		if r.resume >= 0 && r.resume < r.reported {
			resumedLess++
			p.lost.Add(r.reported - r.resume)
			p.errorf("upload %s resumed at %d after kill -9, but %d had been reported durable", r.id, r.resume, r.reported)
		}
		sum, size, err := storedSHA256(ctx, hc, second.url, r.id)
		if err != nil || sum != r.file.sha256() || size != r.file.size {
			p.corrupt.Add(r.file.size)
			p.errorf("upload %s: the server has sha256 %s size %d (%v), want %s %d", r.id, sum, size, err, r.file.sha256(), r.file.size)
			continue
		}
		p.done.Add(1)
		p.upBytes.Add(r.file.size)
	}
	all := make([]loadDone, 0, n)
	for _, r := range results {
		if r.err == nil {
			all = append(all, loadDone{id: r.id, file: r.file})
		}
	}
	verify := &loadProbe{}
	loadVerifyAll(second.url, all, verify)
	p.readBytes.Add(verify.readBytes.Load())
	p.lost.Add(verify.lost.Load())
	p.corrupt.Add(verify.corrupt.Load())
	for _, e := range verify.errs {
		p.errorf("%s", e)
	}
	p.note("%d uploads of 48..49 MiB (%d WebSocket with the Go client resuming by itself, %d tus resuming with HEAD + PATCH), paced to ~12 MB/s each; kill -9 once each had a durable offset: %d were midway; new process on the same address and data answered after %s; resumed below the reported offset: %d; every file read back whole",
		n, (n+1)/2, n/2, midway, restart.Round(10*time.Millisecond), resumedLess)
}

// ---- the run ------------------------------------------------------------------

// With FERRY_LOAD_DIAG=1 the server processes (this binary, see TestMain)
// write a heap profile of their live objects to
// $TMPDIR/ferry-load-heap-<pid>.pprof, for `go tool pprof
// -sample_index=inuse_space`, once loadHeapRequest(pid) exists.
func init() {
	if os.Getenv("FERRY_E2E_SERVE") != "1" || os.Getenv("FERRY_LOAD_DIAG") != "1" {
		return
	}
	go func() {
		for {
			time.Sleep(500 * time.Millisecond)
			if err := os.Remove(loadHeapRequest(os.Getpid())); err != nil {
				continue
			}
			runtime.GC()
			f, err := os.Create(filepath.Join(os.TempDir(), fmt.Sprintf("ferry-load-heap-%d.pprof", os.Getpid())))
			if err == nil {
				_ = pprof.Lookup("heap").WriteTo(f, 0)
				f.Close()
			}
		}
	}()
}

func loadHeapRequest(pid int) string {
	return filepath.Join(os.TempDir(), fmt.Sprintf("ferry-load-heap-%d.request", pid))
}

func TestLoad(t *testing.T) {
	if os.Getenv("FERRY_LOAD") != "1" {
		t.Skip("load harness: set FERRY_LOAD=1 (make load; about 5 minutes)")
	}
	runStart := time.Now()
	addr, dir := freeAddr(t), t.TempDir()
	srv := startInstanceAt(t, addr, "--data", dir, "--max-conns", strconv.Itoa(loadServerMaxConns))
	pid := srv.cmd.Process.Pid
	mon := newLoadMonitor(pid, srv.url)
	defer mon.close()

	// Idle: started, a few requests answered, left alone for 3 s.
	for range 5 {
		if resp, err := http.Get(srv.url + "/healthz"); err == nil {
			resp.Body.Close()
		}
	}
	time.Sleep(3 * time.Second)
	idle := mon.sample()

	files := &loadFiles{}
	var probes []*loadProbe
	run := func(name string, f func(p *loadProbe)) *loadProbe {
		p := &loadProbe{name: name, started: time.Now()}
		t.Logf("probe %q...", name)
		f(p)
		p.took = time.Since(p.started)
		time.Sleep(2 * time.Second) // the server closes what the clients closed
		p.peak = mon.peak(p.started)
		p.after = mon.sample()
		t.Logf("probe %q: %s, %d done, %d failed, lost %d, corrupted %d; peak RSS %d MiB, goroutines %d, fds %d; after: %d MiB, %d, %d",
			name, p.took.Round(time.Second), p.done.Load(), p.failed.Load(), p.lost.Load(), p.corrupt.Load(),
			p.peak.rss>>20, p.peak.goroutines, p.peak.fds, p.after.rss>>20, p.after.goroutines, p.after.fds)
		for _, e := range p.errs {
			t.Logf("  %s", e)
		}
		probes = append(probes, p)
		return p
	}
	loadStart := time.Now()
	run(fmt.Sprintf("%d uploaders + %d range readers, %s", loadScale(loadUploaders), loadScale(loadRangeReaders), loadUploadersFor),
		func(p *loadProbe) { loadUploadersProbe(t, srv.url, p, files) })
	run(fmt.Sprintf("%d slow uploads", loadScale(loadSlowUploads)),
		func(p *loadProbe) { loadSlowProbe(t, srv.url, p, files) })
	run(fmt.Sprintf("%d idle WebSockets", loadScale(loadIdleWebSockets)),
		func(p *loadProbe) { loadIdleWebSocketsProbe(t, srv.url, p, mon) })
	run(fmt.Sprintf("%d idle keep-alives", loadScale(loadIdleKeepAlives)),
		func(p *loadProbe) { loadKeepAlivesProbe(t, srv.url, p) })
	all := files.all()
	run(fmt.Sprintf("read back all %d files of probes 1-2", len(all)),
		func(p *loadProbe) { loadVerifyAll(srv.url, all, p) })
	loadEnd := time.Now()
	loadPeak := mon.peak(loadStart)

	// Recovery: nothing but the monitor's /metrics scrape for 60 s.
	marks := []time.Duration{0, loadScaleDur(10 * time.Second), loadScaleDur(30 * time.Second), loadScaleDur(loadRecoveryWindow)}
	after := make([]loadSample, len(marks))
	for i, m := range marks {
		time.Sleep(time.Until(loadEnd.Add(m)))
		after[i] = mon.sample()
	}
	mon.close()
	srvLogs := srv.logs.String()
	if os.Getenv("FERRY_LOAD_DIAG") == "1" {
		_ = os.WriteFile(loadHeapRequest(pid), nil, 0o600)
		time.Sleep(2 * time.Second)
		rollup, _ := os.ReadFile(fmt.Sprintf("/proc/%d/smaps_rollup", pid))
		var memstats []string
		if resp, err := mon.hc.Get(srv.url + "/metrics"); err == nil {
			sc := bufio.NewScanner(resp.Body)
			for sc.Scan() {
				if l := sc.Text(); !strings.HasPrefix(l, "#") && (strings.HasPrefix(l, "go_memstats") || strings.HasPrefix(l, "go_threads") || strings.HasPrefix(l, "go_gc")) {
					memstats = append(memstats, l)
				}
			}
			resp.Body.Close()
		}
		t.Logf("server memory at the end:\n%s\n%s", rollup, strings.Join(memstats, "\n"))
	}

	kill := &loadProbe{name: fmt.Sprintf("kill -9 during %d uploads", loadScale(loadKillUploads)), started: time.Now()}
	t.Logf("probe %q...", kill.name)
	loadKillProbe(t, kill)
	kill.took = time.Since(kill.started)
	probes = append(probes, kill)
	for _, e := range kill.errs {
		t.Logf("  %s", e)
	}

	report := loadReport(probes, idle, loadPeak, marks, after, time.Since(runStart))
	t.Logf("\n%s", report)
	if path := os.Getenv("FERRY_LOAD_REPORT"); path != "" {
		if err := os.WriteFile(path, []byte(report), 0o644); err != nil {
			t.Error(err)
		}
	}

	var lost, corrupt int64
	for _, p := range probes {
		lost += p.lost.Load()
		corrupt += p.corrupt.Load()
	}
	if lost != 0 || corrupt != 0 {
		t.Errorf("%d bytes lost and %d corrupted", lost, corrupt)
	}
	near := max(idle.rss*loadNearIdleFactor, idle.rss+loadNearIdleSlack)
	if rss := after[len(after)-1].rss; rss > near {
		t.Errorf("RSS %d MiB %s after the load ended; idle was %d MiB (near idle: at most %d MiB)",
			rss>>20, loadRecoveryWindow, idle.rss>>20, near>>20)
	}
	if strings.Contains(srvLogs, "panic") {
		t.Errorf("the server logged a panic:\n%s", srvLogs)
	}
}

func loadReport(probes []*loadProbe, idle, peak loadSample, marks []time.Duration, after []loadSample, took time.Duration) string {
	var b strings.Builder
	mib := func(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }
	mb := func(n int64) string {
		if n >= 1<<30 {
			return fmt.Sprintf("%.2f GiB", float64(n)/(1<<30))
		}
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	}
	fmt.Fprintf(&b, "Run of %s, %s, GOMAXPROCS of the server: the machine's %d cores.\n\n",
		time.Now().UTC().Format("2006-01-02 15:04 MST"), took.Round(time.Second), runtime.NumCPU())
	b.WriteString("| probe | took | uploads done | bytes uploaded (sha256 checked) | bytes read back and compared | lost | corrupted | failed | peak goroutines | peak fds | peak RSS | after: goroutines / fds / RSS |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, p := range probes {
		peakCell := func(v int) string {
			if p.peak.at.IsZero() {
				return "(own server)"
			}
			return strconv.Itoa(v)
		}
		rssCell, afterCell := "(own server)", "(own server)"
		if !p.peak.at.IsZero() {
			rssCell = mib(p.peak.rss)
			afterCell = fmt.Sprintf("%d / %d / %s", p.after.goroutines, p.after.fds, mib(p.after.rss))
		}
		fmt.Fprintf(&b, "| %s | %s | %d | %s | %s | %d | %d | %d | %s | %s | %s | %s |\n",
			p.name, p.took.Round(time.Second), p.done.Load(), mb(p.upBytes.Load()), mb(p.readBytes.Load()),
			p.lost.Load(), p.corrupt.Load(), p.failed.Load(), peakCell(p.peak.goroutines), peakCell(p.peak.fds), rssCell, afterCell)
	}
	b.WriteString("\n| server (probes 1-4) | goroutines | fds | RSS | VmHWM |\n|---|---|---|---|---|\n")
	fmt.Fprintf(&b, "| idle, before | %d | %d | %s | %s |\n", idle.goroutines, idle.fds, mib(idle.rss), mib(idle.hwm))
	fmt.Fprintf(&b, "| peak during the load | %d | %d | %s | %s |\n", peak.goroutines, peak.fds, mib(peak.rss), mib(peak.hwm))
	for i, m := range marks {
		fmt.Fprintf(&b, "| load ended +%s | %d | %d | %s | %s |\n", m, after[i].goroutines, after[i].fds, mib(after[i].rss), mib(after[i].hwm))
	}
	b.WriteString("\n")
	for _, p := range probes {
		for _, n := range p.notes {
			fmt.Fprintf(&b, "- %s: %s\n", p.name, n)
		}
		for _, e := range p.errs {
			fmt.Fprintf(&b, "- %s: error: %s\n", p.name, e)
		}
	}
	return b.String()
}
