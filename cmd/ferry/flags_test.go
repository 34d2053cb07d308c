package main

import (
	"context"
	"errors"
	"flag"
	"io"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ferryhq/ferry/hooks"
	"github.com/ferryhq/ferry/httpupload"
	"github.com/ferryhq/ferry/internal/connlimit"
	"github.com/ferryhq/ferry/storage/local"
	"github.com/ferryhq/ferry/storage/s3"
	"github.com/ferryhq/ferry/upload"
	"github.com/ferryhq/ferry/web"
)

// clearFlagEnv unsets the environment variable of every flag of fs for the
// rest of the test, so that the developer's own FERRY_* settings do not
// leak into it.
func clearFlagEnv(t *testing.T, fs *flagSet) {
	t.Helper()
	fs.VisitAll(func(f *flag.Flag) {
		t.Setenv(envName(f.Name), "") // restored when the test ends
		os.Unsetenv(envName(f.Name))
	})
}

// TestServeDefaultsAreThePackages: a flag whose zero value a package would
// also fill in defaults to that package's constant, so --help states what
// the server does.
func TestServeDefaultsAreThePackages(t *testing.T) {
	fs, _ := serveFlags(io.Discard)
	clearFlagEnv(t, fs)
	fs, c := serveFlags(io.Discard)
	if err := fs.Parse(nil); err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		flag      string
		got, want any
	}{
		{"max-frame", int64(c.maxFrame), int64(upload.DefaultMaxFrame)},
		{"ping-period", c.pingPeriod, upload.DefaultPingPeriod},
		{"expiry", c.expiry, local.DefaultExpiry},
		{"expiry (s3)", c.expiry, s3.DefaultExpiry},
		{"s3-lease-ttl", c.s3.LeaseTTL, s3.DefaultLeaseTTL},
		{"s3-buffer-memory", int64(c.s3Buffer), int64(s3.DefaultBufferMemory)},
		{"link-ttl", c.linkTTL, web.DefaultLinkTTL},
		{"link-max-ttl", c.linkMaxTTL, web.DefaultLinkMaxTTL},
		{"max-conns-per-ip", c.maxPerIP, connlimit.DefaultPerHost},
		{"max-size (0: no limit)", int64(c.maxSize), int64(0)},
		{"reserve (0: the default)", int64(c.reserve), int64(0)},
		{"hook-timeout", c.hooks.timeout, hooks.DefaultTimeout},
		{"hook-retry-max", c.hooks.retryMax, hooks.DefaultRetryMax},
	}
	for _, ck := range checks {
		if ck.got != ck.want {
			t.Errorf("--%s defaults to %v, the package's default is %v", ck.flag, ck.got, ck.want)
		}
	}
}

// TestBadEnvironmentStopsStartup: a FERRY_* value that does not parse, or
// is negative, stops the command with an error naming the variable and the
// problem, instead of being passed over.
func TestBadEnvironmentStopsStartup(t *testing.T) {
	tests := []struct {
		cmd        []string
		env, value string
		problem    string
	}{
		{[]string{"serve"}, "FERRY_PING_PERIOD", "soon", "not a duration"},
		{[]string{"serve"}, "FERRY_PING_PERIOD", "-5s", "must not be negative"},
		{[]string{"serve"}, "FERRY_MAX_SIZE", "lots", "not a size"},
		{[]string{"serve"}, "FERRY_MAX_SIZE", "-1GiB", "must not be negative"},
		{[]string{"serve"}, "FERRY_MAX_CONNS", "many", "not a whole number"},
		{[]string{"serve"}, "FERRY_S3_INSECURE", "maybe", "not a boolean"},
		{[]string{}, "FERRY_EXPIRY", "1 day", "not a duration"}, // ferry with no subcommand serves
		{[]string{"link", "some-id"}, "FERRY_TTL", "-1h", "must not be negative"},
		{[]string{"smoke"}, "FERRY_SIZE", "big", "not a size"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(append(slices.Clone(tt.cmd), tt.env+"="+tt.value), " "), func(t *testing.T) {
			t.Setenv(tt.env, tt.value)
			args := append(slices.Clone(tt.cmd), "--addr", freeAddr(t))
			if len(tt.cmd) > 0 && tt.cmd[0] != "serve" {
				args = tt.cmd // only serve has --addr
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			err := run(ctx, args, io.Discard, io.Discard)
			if err == nil || errors.Is(err, flag.ErrHelp) {
				t.Fatalf("ran with %s=%q: error %v", tt.env, tt.value, err)
			}
			want := `invalid value "` + tt.value + `" for ` + tt.env + ": " + tt.problem
			if !strings.Contains(err.Error(), want) {
				t.Fatalf("error %q does not say %q", err, want)
			}
			if ctx.Err() != nil {
				t.Fatal("the command ran until the deadline instead of stopping at once")
			}
		})
	}
}

// TestBadEnvironmentExitsNonZero runs `ferry serve` as a process with a bad
// FERRY_* value: it must exit non-zero, saying why, without serving.
func TestBadEnvironmentExitsNonZero(t *testing.T) {
	cmd := ferryCommand(freeAddr(t), nil)
	cmd.Env = append(cmd.Env, "FERRY_SHUTDOWN_GRACE=-10s")
	var out syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var err error
	select {
	case err = <-done:
	case <-time.After(20 * time.Second):
		_ = cmd.Process.Kill()
		<-done
		t.Fatalf("serve with FERRY_SHUTDOWN_GRACE=-10s is still running after 20s:\n%s", out.String())
	}
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() == 0 {
		t.Fatalf("serve with FERRY_SHUTDOWN_GRACE=-10s: %v\n%s", err, out.String())
	}
	if want := `invalid value "-10s" for FERRY_SHUTDOWN_GRACE: must not be negative`; !strings.Contains(out.String(), want) {
		t.Fatalf("output does not say %q:\n%s", want, out.String())
	}
}

// TestBadEnvironmentAllReported: every bad variable is named at once, and
// --help still answers.
func TestBadEnvironmentAllReported(t *testing.T) {
	t.Setenv("FERRY_PING_PERIOD", "-1s")
	t.Setenv("FERRY_MAX_CONNS", "-1")
	fs, _ := serveFlags(io.Discard)
	err := fs.Parse(nil)
	if err == nil || !strings.Contains(err.Error(), "FERRY_PING_PERIOD") || !strings.Contains(err.Error(), "FERRY_MAX_CONNS") {
		t.Fatalf("error %v does not name both variables", err)
	}
	fs, _ = serveFlags(io.Discard)
	if err := fs.Parse([]string{"--help"}); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("--help with a bad environment: %v", err)
	}
}

// negativeFlags are the flags of serve that hold a size, a duration or a
// count, with a negative value of their kind.
var negativeFlags = map[string]string{
	"max-size":         "-1",
	"max-frame":        "-1KiB",
	"reserve":          "-1GiB",
	"ping-period":      "-30s",
	"expiry":           "-1h",
	"shutdown-grace":   "-1s",
	"idle-timeout":     "-2m",
	"link-ttl":         "-1h",
	"link-max-ttl":     "-1h",
	"s3-lease-ttl":     "-15s",
	"s3-events-poll":   "-1s",
	"s3-buffer-memory": "-1MiB",
	"max-conns":        "-1",
	"max-conns-per-ip": "-1",

	"hook-timeout":           "-5s",
	"hook-progress-interval": "-1s",
	"hook-retry-max":         "-1m",
}

// TestNegativeValuesRefused: every size, duration and count is refused
// negative in one way, from the command line and from the environment.
func TestNegativeValuesRefused(t *testing.T) {
	fs, _ := serveFlags(io.Discard)
	clearFlagEnv(t, fs)
	fs.VisitAll(func(f *flag.Flag) {
		switch f.Value.(type) {
		case *byteSize, *duration, *count:
			if _, ok := negativeFlags[f.Name]; !ok {
				t.Errorf("--%s takes a number but is not in negativeFlags", f.Name)
			}
		}
	})
	sources := []struct {
		name  string
		apply func(t *testing.T, flagName, v string) []string // the arguments of serve
		where func(flagName string) string                    // how the error names the source
	}{
		{"flag", func(_ *testing.T, name, v string) []string { return []string{"--" + name, v} },
			func(name string) string { return "flag -" + name }},
		{"env", func(t *testing.T, name, v string) []string { t.Setenv(envName(name), v); return nil },
			envName},
	}
	for name, v := range negativeFlags {
		for _, src := range sources {
			t.Run(src.name+" "+name+"="+v, func(t *testing.T) {
				args := append([]string{"--addr", freeAddr(t)}, src.apply(t, name, v)...)
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second) // should a value get through
				defer cancel()
				err := runServe(ctx, args, io.Discard, io.Discard)
				want := `invalid value "` + v + `" for ` + src.where(name) + ": must not be negative"
				if err == nil || !strings.Contains(err.Error(), want) {
					t.Fatalf("serve %v: error %v, want one saying %q", args, err, want)
				}
			})
		}
	}
	t.Run("link --ttl", func(t *testing.T) {
		err := run(context.Background(), []string{"link", "--ttl", "-1h", "id"}, io.Discard, io.Discard)
		if err == nil || !strings.Contains(err.Error(), "must not be negative") {
			t.Fatalf("link --ttl -1h: %v", err)
		}
	})
	t.Run("smoke --size", func(t *testing.T) {
		err := run(context.Background(), []string{"smoke", "--size", "-1MiB"}, io.Discard, io.Discard)
		if err == nil || !strings.Contains(err.Error(), "must not be negative") {
			t.Fatalf("smoke --size -1MiB: %v", err)
		}
	})
}

// TestPackagesRefuseNegatives: past the flags, the packages' constructors
// refuse negative values too rather than reading them as a default.
func TestPackagesRefuseNegatives(t *testing.T) {
	b, err := local.New(local.Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	webs := map[string]web.Config{
		"MaxSize":       {Config: upload.Config{MaxSize: -1}},
		"MaxFrame":      {Config: upload.Config{MaxFrame: -1}},
		"PingPeriod":    {Config: upload.Config{PingPeriod: -time.Second}},
		"LinkTTL":       {LinkTTL: -time.Hour},
		"LinkMaxTTL":    {LinkMaxTTL: -time.Hour},
		"SweepInterval": {SweepInterval: -time.Minute},
	}
	for field, cfg := range webs {
		cfg.Backend = b
		if _, err := web.New(cfg); err == nil {
			t.Errorf("web.New took a negative %s", field)
		}
	}
	if _, err := httpupload.New(httpupload.Config{Backend: b, MaxSize: -1}); err == nil {
		t.Error("httpupload.New took a negative MaxSize")
	}
	if _, err := local.New(local.Config{Dir: t.TempDir(), Expiry: -time.Hour}); err == nil {
		t.Error("local.New took a negative Expiry")
	}
	for field, cfg := range map[string]s3.Config{
		"Expiry":   {Expiry: -time.Hour},
		"LeaseTTL": {LeaseTTL: -time.Second},
	} {
		cfg.Endpoint, cfg.Bucket = freeAddr(t), "ferry-negative"
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, err := s3.New(ctx, cfg)
		cancel()
		if err == nil || !strings.Contains(err.Error(), "negative") {
			t.Errorf("s3.New with a negative %s: %v", field, err)
		}
	}
}
