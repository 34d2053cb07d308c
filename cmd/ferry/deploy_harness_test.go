package main

// The harness of the deployment tests (deploy_test.go): the configuration
// blocks of docs/deploy.md, a real nginx started with them, and ferry
// started with the systemd unit's command line.

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// deployGuide is docs/deploy.md, relative to this package's directory.
const deployGuide = "../../docs/deploy.md"

// guideBlock matches a fenced block right after its marker line.
var guideBlock = regexp.MustCompile("(?s)<!-- deploy-test: ([a-z0-9-]+) -->\n```[a-z]*\n(.*?)```")

// guideBlocks returns the marked blocks of docs/deploy.md by name.
func guideBlocks(t testing.TB) map[string]string {
	t.Helper()
	md, err := os.ReadFile(deployGuide)
	if err != nil {
		t.Fatal(err)
	}
	blocks := map[string]string{}
	for _, m := range guideBlock.FindAllStringSubmatch(string(md), -1) {
		blocks[m[1]] = m[2]
	}
	for _, name := range []string{"systemd-unit", "nginx-main", "nginx-site", "nginx-upstream-several"} {
		if blocks[name] == "" {
			t.Fatalf("docs/deploy.md has no block marked <!-- deploy-test: %s -->", name)
		}
	}
	return blocks
}

// substitute replaces each old with its new in s, failing the test when an
// old is not there: the guide changed and the test must follow.
func substitute(t testing.TB, what, s string, pairs ...string) string {
	t.Helper()
	for i := 0; i < len(pairs); i += 2 {
		if !strings.Contains(s, pairs[i]) {
			t.Fatalf("docs/deploy.md, %s: %q is not there any more", what, pairs[i])
		}
		s = strings.ReplaceAll(s, pairs[i], pairs[i+1])
	}
	return s
}

// needNginx returns nginx's path, or skips (fails under CI=true) without it.
func needNginx(t testing.TB) string {
	t.Helper()
	for _, p := range []string{"nginx", "/usr/sbin/nginx"} {
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	msg := "the deployment tests need nginx (make deploy-deps: apt-get install -y nginx)"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// unitArgs is the `ferry serve` command line of the guide's systemd unit,
// with its --addr and --data pointed at the test's.
func unitArgs(t testing.TB, unit, addr, data string) []string {
	t.Helper()
	var line string
	for _, l := range strings.Split(unit, "\n") {
		if rest, ok := strings.CutPrefix(l, "ExecStart="); ok {
			line = rest
		}
	}
	fields := strings.Fields(line)
	if len(fields) < 2 || fields[0] != "/usr/local/bin/ferry" || fields[1] != "serve" {
		t.Fatalf("docs/deploy.md: the unit's ExecStart is not /usr/local/bin/ferry serve ...: %q", line)
	}
	args := fields[2:]
	seen := map[string]bool{}
	for i := 0; i+1 < len(args); i++ {
		switch args[i] {
		case "--addr":
			args[i+1], seen["addr"] = addr, true
		case "--data":
			args[i+1], seen["data"] = data, true
		}
	}
	if !seen["addr"] || !seen["data"] {
		t.Fatalf("docs/deploy.md: the unit's ExecStart has no --addr or --data: %q", line)
	}
	return args
}

// nginx is a running nginx serving the guide's site.
type nginx struct {
	addr     string // the https listener, 127.0.0.1:port
	httpAddr string // the plain-HTTP listener
	port     string
	public   string // https://ferry.example.com:port
	dir      string
}

// startNginx runs nginx with the guide's main and site blocks, TLS from
// cert, the site's upstream replaced by upstream (an upstream block; empty:
// the site's own with ferry at ferries[0]) and listening on loopback ports.
// It is stopped when the test ends.
func startNginx(t testing.TB, bin string, blocks map[string]string, cert *testCert, upstream string, ferries ...string) *nginx {
	t.Helper()
	dir := t.TempDir()
	ng := &nginx{addr: freeAddr(t), httpAddr: freeAddr(t), dir: dir}
	_, ng.port, _ = net.SplitHostPort(ng.addr)
	ng.public = "https://ferry.example.com:" + ng.port

	site := blocks["nginx-site"]
	if upstream == "" {
		site = substitute(t, "nginx site", site, "server 127.0.0.1:8080;", "server "+ferries[0]+";")
	} else {
		start := strings.Index(site, "upstream ferry {")
		end := strings.Index(site[start:], "}\n") + start + 2
		site = site[:start] + upstream + site[end:]
	}
	site = substitute(t, "nginx site", site,
		"listen 443 ssl http2;", "listen "+ng.addr+" ssl http2;",
		"listen [::]:443 ssl http2;", "",
		"listen 80;", "listen "+ng.httpAddr+";",
		"listen [::]:80;", "",
		"/etc/letsencrypt/live/ferry.example.com/fullchain.pem", cert.certFile,
		"/etc/letsencrypt/live/ferry.example.com/privkey.pem", cert.keyFile)
	siteFile := filepath.Join(dir, "ferry.conf")
	if err := os.WriteFile(siteFile, []byte(site), 0o644); err != nil {
		t.Fatal(err)
	}
	// The guide's main block, with what a packaged nginx.conf has around it
	// pointed into the test's directory.
	var main strings.Builder
	if os.Geteuid() == 0 {
		main.WriteString("user root;\n") // the workers read the test's files
	}
	main.WriteString(blocks["nginx-main"])
	fmt.Fprintf(&main, "daemon off;\npid %[1]s/nginx.pid;\nerror_log %[1]s/error.log info;\n"+
		"http {\n  access_log %[1]s/access.log;\n  client_body_temp_path %[1]s/body;\n  proxy_temp_path %[1]s/proxy;\n"+
		"  fastcgi_temp_path %[1]s/fastcgi;\n  uwsgi_temp_path %[1]s/uwsgi;\n  scgi_temp_path %[1]s/scgi;\n  include %[2]s;\n}\n",
		dir, siteFile)
	conf := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(conf, []byte(main.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	base := []string{"-p", dir, "-e", filepath.Join(dir, "error.log"), "-c", conf}
	if out, err := exec.Command(bin, append(base, "-t")...).CombinedOutput(); err != nil {
		t.Fatalf("nginx -t refuses the guide's configuration: %v\n%s\n--- site:\n%s", err, out, site)
	}
	cmd := exec.Command(bin, base...)
	cmd.SysProcAttr = nginxProcAttr()
	logs := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		// SIGTERM: the master stops its workers (SIGKILL would orphan them).
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			errLog, _ := os.ReadFile(filepath.Join(dir, "error.log"))
			t.Logf("nginx output:\n%s\nerror.log (tail):\n%s", logs.String(), tail(errLog, 4000))
		}
	})
	deadline := time.Now().Add(15 * time.Second)
	for {
		c, err := tls.Dial("tcp", ng.addr, &tls.Config{InsecureSkipVerify: true})
		if err == nil {
			c.Close()
			return ng
		}
		select {
		case <-done:
			t.Fatalf("nginx exited: %s", logs.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("nginx never answered on %s: %v", ng.addr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func tail(b []byte, n int) string {
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}

// unitProblems parse-checks a systemd unit: its sections and keys are
// the ones systemd knows, and LimitNOFILE is a number of at least min.
func unitProblems(unit string, min int) []string {
	known := map[string]map[string]bool{
		"Unit": {"Description": true, "After": true, "Wants": true, "Requires": true, "Documentation": true},
		"Service": {"Type": true, "User": true, "Group": true, "EnvironmentFile": true, "Environment": true, "ExecStart": true,
			"ExecReload": true, "LimitNOFILE": true, "KillSignal": true, "TimeoutStopSec": true, "Restart": true,
			"RestartSec": true, "NoNewPrivileges": true, "ProtectSystem": true, "ProtectHome": true, "PrivateTmp": true,
			"ReadWritePaths": true, "AmbientCapabilities": true, "WorkingDirectory": true},
		"Install": {"WantedBy": true},
	}
	var problems []string
	section, limit := "", 0
	sc := bufio.NewScanner(strings.NewReader(unit))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";"):
		case strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]"):
			section = line[1 : len(line)-1]
			if known[section] == nil {
				problems = append(problems, fmt.Sprintf("line %d: unknown section %s", n, line))
			}
		default:
			key, value, ok := strings.Cut(line, "=")
			if !ok || section == "" || !known[section][key] {
				problems = append(problems, fmt.Sprintf("line %d: %q is not a known key of [%s]", n, line, section))
			}
			if key == "LimitNOFILE" {
				fmt.Sscan(value, &limit)
			}
		}
	}
	if limit < min {
		problems = append(problems, fmt.Sprintf("LimitNOFILE %d is under %d", limit, min))
	}
	return problems
}

// startFerry is launch and waitHealthy for a test or a benchmark: `ferry
// serve --addr addr args...` as its own process, killed when tb ends.
func startFerry(tb testing.TB, addr string, args []string) *instance {
	tb.Helper()
	cmd := ferryCommand(addr, args)
	in := &instance{url: "http://" + addr, cmd: cmd, logs: &syncBuffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = in.logs, in.logs
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	go func() { _ = cmd.Wait(); close(in.done) }()
	tb.Cleanup(func() {
		in.kill()
		if tb.Failed() {
			tb.Logf("logs of ferry %s:\n%s", in.url, tail([]byte(in.logs.String()), 8000))
		}
	})
	waitHealthy(tb, in.url, in.done, in.logs)
	return in
}
