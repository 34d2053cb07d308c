package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"slices"
	"strings"
	"time"

	"github.com/ferryhq/ferry/eventrelay"
	"github.com/ferryhq/ferry/events"
	"github.com/ferryhq/ferry/internal/connlimit"
	"github.com/ferryhq/ferry/internal/realip"
	"github.com/ferryhq/ferry/storage"
	"github.com/ferryhq/ferry/storage/local"
	"github.com/ferryhq/ferry/storage/s3"
	"github.com/ferryhq/ferry/upload"
	"github.com/ferryhq/ferry/web"
)

// serveConfig is everything `ferry serve` is told by flags and environment.
type serveConfig struct {
	addr, data, storage string
	s3                  s3.Config
	tokens              string
	uploadTokens        string
	readTokens          string
	linkSecret          string
	linkTTL, linkMaxTTL time.Duration
	hosts               string
	origins             string
	types               string
	maxSize, maxFrame   byteSize
	pingPeriod          time.Duration
	expiry              time.Duration
	grace               time.Duration
	maxConns, maxPerIP  int
	reserve             byteSize
	inlineActive        bool
	attachPDF           bool
	idle                time.Duration
	eventsPoll          time.Duration
	hooks               hookFlags
	s3Buffer            byteSize
	trustedProxies      string
	tlsCert, tlsKey     string
	httpRedirect        string
}

// serveFlags defines the flags of `ferry serve`. A default that a package
// also applies to its zero value is that package's constant, so the two
// cannot drift apart (TestServeDefaultsAreThePackages).
func serveFlags(stderr io.Writer) (*flagSet, *serveConfig) {
	c := &serveConfig{maxFrame: upload.DefaultMaxFrame, s3Buffer: s3.DefaultBufferMemory}
	fs := newFlagSet("serve", stderr, `Usage: ferry [serve] [flags]

Serves resumable uploads on /ws/upload (ferry.v1) and /uploads/ (tus 1.0 and
the IETF resumable upload draft), downloads on /files/<id>, the API on
/api/files, upload events on /api/events, the uploader page on /, /healthz
and /metrics.
`)
	e := envFlags{fs}
	maxReserve := byteSize(local.DefaultReserveMax)
	e.String(&c.addr, "addr", ":8080", "address to listen on")
	e.String(&c.data, "data", "./data", "data directory of the local storage")
	e.String(&c.storage, "storage", "local", "storage backend: local or s3")
	e.String(&c.s3.Endpoint, "s3-endpoint", "", "S3 endpoint host[:port], e.g. s3.amazonaws.com or 127.0.0.1:9000")
	e.String(&c.s3.Bucket, "s3-bucket", "", "S3 bucket")
	e.String(&c.s3.Prefix, "s3-prefix", "", "key prefix inside the bucket")
	e.String(&c.s3.Region, "s3-region", "", "S3 region (empty: the endpoint's default)")
	e.Bool(&c.s3.Insecure, "s3-insecure", false, "talk plain HTTP to the S3 endpoint")
	e.Bool(&c.s3.CreateBucket, "s3-create-bucket", false, "create the bucket if it does not exist")
	e.Duration(&c.s3.LeaseTTL, "s3-lease-ttl", s3.DefaultLeaseTTL, "how long an upload stays locked after the instance writing it dies without a word")
	e.Duration(&c.eventsPoll, "s3-events-poll", eventrelay.DefaultPoll, "how often the bucket is listed for other instances' events (/api/events); 0: only this instance's")
	e.Bool(&c.s3.HideParts, "s3-hide-parts", false, "upload whole parts straight into the multipart upload instead of staging each as a readable object: faster on a store that shares this machine's disk, but ?follow=1 on S3 then waits for the upload to complete")
	e.Var(&c.s3Buffer, "s3-buffer-memory", "memory all S3 uploads share for their part buffers; when it is spent, uploads wait (their sockets are not read) until a part is stored")
	e.Secret(&c.tokens, "token", "comma-separated full-access tokens; with no token of any kind: no authentication")
	e.Secret(&c.uploadTokens, "upload-token", "comma-separated tokens that may only upload (/ws/upload, /uploads/)")
	e.Secret(&c.readTokens, "read-token", "comma-separated tokens that may only read (downloads, /api/files, links, /metrics)")
	e.Secret(&c.linkSecret, "link-secret", "comma-separated keys (32+ bytes) of signed links: the first signs, all verify; empty: a random one, links die with the process")
	e.Duration(&c.linkTTL, "link-ttl", web.DefaultLinkTTL, "how long a signed link lives when the request names no ttl")
	e.Duration(&c.linkMaxTTL, "link-max-ttl", web.DefaultLinkMaxTTL, "the longest ttl a signed link may be asked for")
	e.String(&c.hosts, "allowed-hosts", "", `comma-separated Host names served besides localhost and IP addresses ("*.example.com" for subdomains, "*": any); others answer 421`)
	e.String(&c.origins, "allowed-origins", "", `comma-separated browser origins allowed besides the server's own ("*": any)`)
	e.String(&c.types, "allowed-types", "", `comma-separated upload content types, e.g. "image/*,video/mp4"; empty: any`)
	e.Var(&c.maxSize, "max-size", "largest upload accepted, e.g. 10GiB; 0: no limit")
	e.Var(&c.maxFrame, "max-frame", "largest WebSocket binary message")
	e.Duration(&c.pingPeriod, "ping-period", upload.DefaultPingPeriod, "WebSocket ping period; silent connections are dropped after two")
	e.Duration(&c.expiry, "expiry", local.DefaultExpiry, "incomplete uploads untouched this long are deleted")
	e.Duration(&c.grace, "shutdown-grace", 10*time.Second, "how long in-flight requests may finish on SIGINT/SIGTERM")
	e.Bool(&c.inlineActive, "inline-active", false, "serve HTML, JavaScript, SVG and XML files inline (sandboxed) instead of as attachments")
	e.Bool(&c.attachPDF, "attach-pdf", false, "serve PDF files as attachments instead of inline")
	e.Var(&c.reserve, "reserve", "free disk space local storage keeps back from uploads; 0: 1% of the disk, at most "+maxReserve.String())
	e.Int(&c.maxConns, "max-conns", 0, "most connections open at once; 0: half the open-file limit")
	e.Int(&c.maxPerIP, "max-conns-per-ip", connlimit.DefaultPerHost, "most connections open at once from one client address (behind a proxy, list it in --trusted-proxies: the cap then applies to each real client); 0: no cap")
	e.Duration(&c.idle, "idle-timeout", 2*time.Minute, "how long an idle keep-alive connection is kept open")
	c.hooks.define(e)
	e.String(&c.trustedProxies, "trusted-proxies", "", "comma-separated CIDRs or addresses of reverse proxies whose X-Forwarded-For/-Proto/-Host and Forwarded headers are believed (see docs/deploy.md); empty: nobody's")
	e.String(&c.tlsCert, "tls-cert", "", "PEM certificate chain: serve https (HTTP/2 and HTTP/1.1) instead of http; reloaded on SIGHUP")
	e.String(&c.tlsKey, "tls-key", "", "PEM private key of --tls-cert; reloaded with it on SIGHUP")
	e.String(&c.httpRedirect, "http-redirect", "", "with --tls-cert: also listen on this address for plain HTTP and redirect it (308) to https; empty: plain HTTP is refused (400)")
	return fs, c
}

// s3MemoryHeadroom is what an S3 server may use besides its part buffers
// before Go's collector works harder: connections, sessions, the runtime.
const s3MemoryHeadroom = 160 << 20

// runServe serves until ctx ends (SIGINT/SIGTERM), then drains for the grace period.
func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, c := serveFlags(stderr)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("serve: unexpected argument %q", fs.Arg(0))
	}
	logger := slog.New(slog.NewTextHandler(stderr, nil))

	var secrets [][]byte
	for _, s := range splitList(c.linkSecret) {
		if len(s) < web.MinLinkSecret {
			return fmt.Errorf("serve: --link-secret: a secret of %d bytes is too short, want at least %d (e.g. openssl rand -base64 32)", len(s), web.MinLinkSecret)
		}
		secrets = append(secrets, []byte(s))
	}
	if c.linkTTL <= 0 || c.linkMaxTTL <= 0 || c.linkTTL > c.linkMaxTTL {
		return fmt.Errorf("serve: --link-ttl %s and --link-max-ttl %s: want 0 < ttl <= max", c.linkTTL, c.linkMaxTTL)
	}

	hk, err := c.hooks.open(c, logger)
	if err != nil {
		return err
	}
	proxies, err := realip.Parse(splitList(c.trustedProxies))
	if err != nil {
		return fmt.Errorf("serve: --trusted-proxies: %w", err)
	}
	var certs *certFiles
	switch {
	case (c.tlsCert == "") != (c.tlsKey == ""):
		return errors.New("serve: --tls-cert and --tls-key go together")
	case c.tlsCert != "":
		if certs, err = loadCertFiles(c.tlsCert, c.tlsKey); err != nil {
			return err
		}
	case c.httpRedirect != "":
		return errors.New("serve: --http-redirect needs --tls-cert and --tls-key")
	}

	backend, where, err := openBackend(ctx, c)
	if err != nil {
		return err
	}
	// Every change to an upload, by any protocol, the API or the expiry
	// sweep, is published on bus: hooks observe it (this instance's
	// events, each once), /api/events serves it.
	bus := events.NewBus()
	backend, runHooks := withHooks(backend, bus, hk)
	// On S3, instances sharing the bucket hear each other's events.
	streamBus := bus
	if c.storage == "s3" && c.eventsPoll > 0 {
		relay, err := eventrelay.Start(ctx, eventrelay.Config{S3: s3Config(c), Local: bus, Poll: c.eventsPoll, Logger: logger})
		if err != nil {
			return fmt.Errorf("serve: %w", err)
		}
		defer relay.Close()
		streamBus = relay.Bus()
	}
	srv, err := web.New(web.Config{
		Config: upload.Config{
			Backend:      backend,
			MaxSize:      int64(c.maxSize),
			MaxFrame:     int64(c.maxFrame),
			AllowedTypes: splitList(c.types),
			PingPeriod:   c.pingPeriod,
			Logger:       logger,
		},
		Tokens:         splitList(c.tokens),
		UploadTokens:   splitList(c.uploadTokens),
		ReadTokens:     splitList(c.readTokens),
		LinkSecrets:    secrets,
		LinkTTL:        c.linkTTL,
		LinkMaxTTL:     c.linkMaxTTL,
		AllowedHosts:   splitList(c.hosts),
		AllowedOrigins: splitList(c.origins),
		InlineActive:   c.inlineActive,
		AttachPDF:      c.attachPDF,
		Events:         streamBus,
		TrustedProxies: proxies,
	})
	if err != nil {
		return err
	}

	files, err := connlimit.RaiseFileLimit()
	if err != nil {
		logger.Warn("could not raise the open-file limit", "limit", files, "err", err)
	}
	if c.maxConns == 0 {
		c.maxConns = connlimit.DefaultTotal(files)
	}
	if files > 0 && uint64(c.maxConns)+descriptorsBesideConns > files {
		logger.Warn("--max-conns leaves too few open files for storage: at the peak, accept, uploads and downloads fail with \"too many open files\"",
			"max_conns", c.maxConns, "open_file_limit", files, "want_free", descriptorsBesideConns)
	}
	raw, err := net.Listen("tcp", c.addr)
	if err != nil {
		return fmt.Errorf("serve: listen on %s: %w", c.addr, err)
	}
	ln := connlimit.New(raw, c.maxConns, c.maxPerIP)
	ln.TrustProxies(proxies)
	if c.tokens == "" && c.uploadTokens == "" && c.readTokens == "" && !loopbackOnly(ln.Addr()) {
		logger.Warn("no token is set and the server listens beyond loopback: anyone who reaches it can upload, list and delete files",
			"addr", ln.Addr().String())
	}
	// No ReadTimeout or WriteTimeout: WebSockets, uploads and downloads
	// stream for as long as they need. Idle keep-alives are closed, and the
	// listener caps what stays open.
	httpSrv := &http.Server{
		Handler:           connlimit.NewPerClient(c.maxPerIP, proxies).Handler(srv.Handler()),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       c.idle,
		MaxHeaderBytes:    64 << 10, // a bigger header block answers 431
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	sweepCtx, stopSweep := context.WithCancel(context.Background())
	defer stopSweep()
	go srv.SweepExpired(sweepCtx)
	if runHooks != nil {
		go runHooks(sweepCtx)
	}
	go releaseMemoryWhenQuiet(sweepCtx, ln, logger)

	served := make(chan error, 1)
	scheme := "http"
	if certs != nil {
		scheme = "https"
		httpSrv.TLSConfig = certs.tlsConfig()
		certs.reloadOnHangup(sweepCtx, logger)
		if c.httpRedirect != "" {
			_, port, _ := net.SplitHostPort(ln.Addr().String())
			stopRedirect, err := serveRedirect(c.httpRedirect, port, logger)
			if err != nil {
				_ = ln.Close()
				return err
			}
			defer stopRedirect()
		}
		go func() { served <- httpSrv.ServeTLS(ln, "", "") }()
	} else {
		go func() { served <- httpSrv.Serve(ln) }()
	}
	logger.Info("ferry serving", "url", scheme+"://"+displayAddr(ln.Addr()), "storage", where, "version", version,
		"max_conns", c.maxConns, "max_conns_per_ip", c.maxPerIP, "allowed_hosts", hostsForLog(c.hosts),
		"trusted_proxies", c.trustedProxies)

	select {
	case err := <-served:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	logger.Info("shutting down", "grace", c.grace)
	graceCtx, cancel := context.WithTimeout(context.Background(), c.grace)
	defer cancel()
	// Uploads first: each session makes its bytes durable and is told 1001.
	upErr := srv.Shutdown(graceCtx)
	httpErr := httpSrv.Shutdown(graceCtx)
	if errors.Is(httpErr, context.DeadlineExceeded) {
		_ = httpSrv.Close()
	}
	if upErr != nil || httpErr != nil {
		logger.Warn("shutdown was not clean", "uploads", upErr, "http", httpErr)
	}
	if closer, ok := storage.As[io.Closer](backend); ok {
		_ = closer.Close()
	}
	logger.Info("stopped")
	return nil
}

// openBackend builds the storage backend the flags ask for and says where it stores.
func openBackend(ctx context.Context, c *serveConfig) (storage.Backend, string, error) {
	switch c.storage {
	case "local":
		b, err := local.New(local.Config{Dir: c.data, Expiry: c.expiry, Reserve: int64(c.reserve)})
		if err != nil {
			return nil, "", fmt.Errorf("local storage in %s: %w", c.data, err)
		}
		return b, "local " + c.data, nil
	case "s3":
		cfg := s3Config(c)
		if cfg.Endpoint == "" || cfg.Bucket == "" {
			return nil, "", errors.New("s3 storage needs --s3-endpoint and --s3-bucket")
		}
		startCtx, cancel := context.WithTimeout(ctx, 15*time.Second)
		defer cancel()
		b, err := s3.New(startCtx, cfg)
		if err != nil {
			return nil, "", fmt.Errorf("s3 storage at %s, bucket %s: %w", cfg.Endpoint, cfg.Bucket, err)
		}
		if _, set := os.LookupEnv("GOMEMLIMIT"); !set {
			// Go's collector lets the heap grow to twice what is live:
			// with the part buffers live, that doubles them. A soft limit
			// of the budget plus headroom keeps the process near the
			// budget (docs/performance.md, "S3 memory budget").
			debug.SetMemoryLimit(cmp.Or(cfg.BufferMemory, s3.DefaultBufferMemory) + s3MemoryHeadroom)
		}
		return b, "s3 " + cfg.Endpoint + "/" + cfg.Bucket + "/" + cfg.Prefix, nil
	}
	return nil, "", fmt.Errorf("unknown --storage %q (want local or s3)", c.storage)
}

// s3Config is the S3 storage's configuration: the flags, and credentials
// and region from the environment.
func s3Config(c *serveConfig) s3.Config {
	cfg := c.s3
	cfg.Expiry = c.expiry
	cfg.BufferMemory = int64(c.s3Buffer)
	cfg.AccessKey = firstEnv("FERRY_S3_ACCESS_KEY", "AWS_ACCESS_KEY_ID")
	cfg.SecretKey = firstEnv("FERRY_S3_SECRET_KEY", "AWS_SECRET_ACCESS_KEY")
	if cfg.Region == "" {
		cfg.Region = firstEnv("AWS_REGION", "AWS_DEFAULT_REGION")
	}
	return cfg
}

// displayAddr turns a listen address into one a person can paste into a
// browser: the unspecified address becomes localhost.
func displayAddr(a net.Addr) string {
	host, port, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		host = "localhost"
	}
	return net.JoinHostPort(host, port)
}

// loopbackOnly reports whether a listen address reaches only this machine.
func loopbackOnly(a net.Addr) bool {
	tcp, ok := a.(*net.TCPAddr)
	return ok && tcp.IP.IsLoopback()
}

// hostsForLog says which Host names the server answers to.
func hostsForLog(flag string) string {
	switch list := splitList(flag); {
	case len(list) == 0:
		return "localhost, IP addresses (other names answer 421: set --allowed-hosts)"
	case slices.Contains(list, "*"):
		return "any"
	}
	return "localhost, IP addresses, " + strings.Join(splitList(flag), ", ")
}

func splitList(s string) []string {
	var out []string
	for _, part := range strings.Split(s, ",") {
		if part = strings.TrimSpace(part); part != "" {
			out = append(out, part)
		}
	}
	return out
}

func firstEnv(names ...string) string {
	for _, n := range names {
		if v := os.Getenv(n); v != "" {
			return v
		}
	}
	return ""
}

// descriptorsBesideConns is how many open files serve wants left over when
// every connection --max-conns allows is open: local storage keeps up to
// 1,024 directories and 256 small files open, and uploads, downloads and
// health checks open files of their own.
const descriptorsBesideConns = 2048

// Memory after a load. The Go runtime gives freed memory back to the OS
// slowly: garbage is found only by a collection, none runs for two minutes
// when nothing allocates, and the scavenger then returns pages gradually.
// After 10,000 idle WebSockets closed, RSS stayed at 457 MiB (idle: 19 MiB)
// for minutes (docs/reliability.md). So serve looks at the runtime every
// releaseEvery and, once the process has been quiet for two looks in a row
// after memory grew or many connections closed, ends the OS threads the
// runtime holds idle (endIdleThreads) and calls debug.FreeOSMemory: one full
// collection, and every free page back to the OS.
const (
	releaseEvery  = 5 * time.Second
	releaseQuiet  = 8 << 20  // allocated between two looks: less is quiet
	releaseGrowth = 64 << 20 // memory held beyond what it was after the last release
	releaseClosed = 256      // connections closed since the most open after the last release
	releaseMinGap = 30 * time.Second
	// Threads kept beyond one per P at a release: the runtime's own
	// (sysmon, the template thread) and a few to start the next burst with.
	idleThreadsKept = 8
)

// memoryReleaser decides when to release; it is fed one look at a time.
type memoryReleaser struct {
	allocs    uint64 // cumulative bytes allocated, at the last look
	quiet     int    // quiet looks in a row
	heldAfter uint64 // memory held after the last release
	openPeak  int    // most connections open since the last release
	last      time.Time
}

// due takes a look (cumulative allocation, memory held, open connections)
// and says whether to release memory now.
func (r *memoryReleaser) due(now time.Time, allocs, held uint64, open int) bool {
	if allocs-r.allocs < releaseQuiet {
		r.quiet++
	} else {
		r.quiet = 0
	}
	r.allocs = allocs
	r.openPeak = max(r.openPeak, open)
	grew := held > r.heldAfter+releaseGrowth
	closed := r.openPeak-open >= releaseClosed
	return r.quiet >= 2 && (grew || closed) && now.Sub(r.last) >= releaseMinGap
}

// released records a release and what the process held after it.
func (r *memoryReleaser) released(now time.Time, held uint64, open int) {
	r.heldAfter, r.openPeak, r.last = held, open, now
}

// releaseMemoryWhenQuiet runs memoryReleaser until ctx ends.
func releaseMemoryWhenQuiet(ctx context.Context, ln *connlimit.Listener, logger *slog.Logger) {
	samples := []metrics.Sample{{Name: "/gc/heap/allocs:bytes"}, {Name: "/memory/classes/total:bytes"},
		{Name: "/memory/classes/heap/released:bytes"}}
	look := func() (allocs, held uint64) {
		metrics.Read(samples)
		return samples[0].Value.Uint64(), samples[1].Value.Uint64() - samples[2].Value.Uint64()
	}
	var r memoryReleaser
	r.allocs, r.heldAfter = look()
	t := time.NewTicker(releaseEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			allocs, held := look()
			if !r.due(now, allocs, held, ln.Open()) {
				continue
			}
			// Threads first: each idle one holds its stacks for good.
			threadsBefore, threadsAfter := endIdleThreads(runtime.GOMAXPROCS(0) + idleThreadsKept)
			// Two collections: the first moves what sync.Pools hold (buffers
			// of the busy period) to their victim caches, the second frees it.
			runtime.GC()
			debug.FreeOSMemory()
			_, after := look()
			r.released(now, after, ln.Open())
			logger.Debug("returned memory to the OS after a busy period", "held_before", held, "held_after", after,
				"threads_before", threadsBefore, "threads_after", threadsAfter)
		}
	}
}
