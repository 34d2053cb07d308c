package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestCIExampleScript runs scripts/ci-example.sh, the sequence docs/ci.md
// gives a CI pipeline (serve on MinIO, smoke, upload, wait, download), with
// this test binary as the ferry command.
func TestCIExampleScript(t *testing.T) { runScript(t, "ci-example.sh") }

// TestWaitScript runs scripts/wait-test.sh: ferry wait in a shell against
// ferry on MinIO, with curl as the other job.
func TestWaitScript(t *testing.T) {
	needCurl(t)
	runScript(t, "wait-test.sh")
}

func runScript(t *testing.T, name string) {
	minioEnv(t)
	// A `ferry` on PATH that is this test binary acting as the command
	// (TestMain), so that the script runs the code under test, race
	// detector included, without building another binary.
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bin := t.TempDir()
	wrapper := "#!/bin/sh\nFERRY_TEST_AS_FERRY=1 exec '" + self + "' \"$@\"\n"
	if err := os.WriteFile(filepath.Join(bin, "ferry"), []byte(wrapper), 0o755); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	script, err := filepath.Abs(filepath.Join("..", "..", "scripts", name))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(ctx, "bash", script)
	cmd.Env = append(os.Environ(), "PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"), "TMPDIR="+t.TempDir())
	cmd.WaitDelay = 10 * time.Second
	out, err := cmd.CombinedOutput()
	t.Logf("%s:\n%s", name, out)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
}

// TestCIExampleIsTheDocs: the steps scripts/ci-example.sh runs are the
// ones docs/ci.md and the GitHub Actions example give, line for line.
func TestCIExampleIsTheDocs(t *testing.T) {
	want := ciSteps(t, "../../scripts/ci-example.sh")
	if len(want) < 4 {
		t.Fatalf("the script's steps: %q", want)
	}
	for _, doc := range []string{"../../docs/ci.md", "../../docs/ci/github-actions.yml"} {
		if got := ciSteps(t, doc); !slices.Equal(got, want) {
			t.Errorf("%s has the steps\n%s\nbut scripts/ci-example.sh runs\n%s", doc, strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	}
}

// ciSteps returns the trimmed lines between "# ferry-ci-steps begin" and
// "# ferry-ci-steps end" in a file.
func ciSteps(t *testing.T, path string) []string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var steps []string
	in := false
	for _, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(line, "# ferry-ci-steps begin"):
			in = true
		case strings.HasPrefix(line, "# ferry-ci-steps end"):
			return steps
		case in:
			steps = append(steps, line)
		}
	}
	t.Fatalf("%s: no ferry-ci-steps block", path)
	return nil
}
