package local_test

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/ferryhq/ferry/storage"
	"github.com/ferryhq/ferry/storage/local"
)

// The tests here run a writer in a child process (this test binary,
// re-executed into TestChildWriter) and kill it with SIGKILL, as a crashed
// server would die. They check what the contract promises after such a
// crash: the lock dies with the process, and Resume answers the offset and
// state of one and the same completed Checkpoint, with the bytes to match.

const (
	envDir  = "FERRY_LOCAL_CHILD_DIR"
	envID   = "FERRY_LOCAL_CHILD_ID"
	envMode = "FERRY_LOCAL_CHILD_MODE"

	childSize = 64 << 20 // declared size of the child's upload
	childStep = 64 << 10 // bytes per Write in "loop" mode
)

// pattern is the byte at position i of the child's upload: a shifted or
// torn range shows.
func pattern(i int64) byte { return byte(i%251) ^ byte(i>>16) }

func fill(p []byte, at int64) {
	for i := range p {
		p[i] = pattern(at + int64(i))
	}
}

// TestChildWriter is not a test: it is the child process of the tests below.
func TestChildWriter(t *testing.T) {
	dir := os.Getenv(envDir)
	if dir == "" {
		t.Skip("runs only as the child process of the kill -9 tests")
	}
	b, err := local.New(local.Config{Dir: dir})
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(2)
	}
	ctx := t.Context()
	if os.Getenv(envMode) == "commits" {
		commitForever(t, b)
	}
	meta := storage.Meta{Name: "crash.bin", Size: childSize}
	if os.Getenv(envMode) == "deferred" {
		meta.Size = storage.SizeUnknown
	}
	w, err := b.Create(ctx, os.Getenv(envID), meta)
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(2)
	}
	buf := make([]byte, childStep)
	writeNext := func(n int) {
		fill(buf[:n], w.Written())
		if _, err := w.Write(buf[:n]); err != nil {
			fmt.Println("error:", err)
			os.Exit(2)
		}
	}
	switch os.Getenv(envMode) {
	case "hold":
		// Three checkpointed steps, one more that is not, then wait to die.
		for range 3 {
			writeNext(childStep)
		}
		if _, err := w.Checkpoint(ctx, []byte("cp")); err != nil {
			fmt.Println("error:", err)
			os.Exit(2)
		}
		writeNext(childStep)
		fmt.Println("held")
		io.Copy(io.Discard, os.Stdin) // until the parent kills us (or goes away)
	case "deferred":
		// Checkpoint with the size unknown, then declare it and checkpoint
		// again, then write more and wait to die.
		checkpoint := func(state string) {
			if _, err := w.Checkpoint(ctx, []byte(state)); err != nil {
				fmt.Println("error:", err)
				os.Exit(2)
			}
		}
		writeNext(childStep)
		checkpoint("unknown")
		writeNext(childStep)
		if err := w.SetSize(childSize); err != nil {
			fmt.Println("error:", err)
			os.Exit(2)
		}
		checkpoint("sized")
		writeNext(childStep)
		fmt.Println("held")
		io.Copy(io.Discard, os.Stdin)
	case "loop":
		// Write and checkpoint as fast as possible, reporting each durable
		// offset, until killed at an arbitrary point.
		for w.Written() < childSize {
			writeNext(int(min(childStep, childSize-w.Written())))
			off, err := w.Checkpoint(ctx, []byte(strconv.FormatInt(w.Written(), 10)))
			if err != nil {
				fmt.Println("error:", err)
				os.Exit(2)
			}
			fmt.Println("durable", off)
		}
		io.Copy(io.Discard, os.Stdin)
	}
	os.Exit(0)
}

// startChild runs TestChildWriter in mode and returns its stdout lines.
func startChild(t *testing.T, dir, id, mode string) (*exec.Cmd, *bufio.Scanner) {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestChildWriter$", "-test.count=1")
	cmd.Env = append(os.Environ(), envDir+"="+dir, envID+"="+id, envMode+"="+mode)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start child: %v", err)
	}
	t.Cleanup(func() {
		stdin.Close()
		cmd.Process.Kill()
		cmd.Wait()
	})
	return cmd, bufio.NewScanner(stdout)
}

func kill9(t *testing.T, cmd *exec.Cmd) {
	t.Helper()
	if err := cmd.Process.Kill(); err != nil { // SIGKILL
		t.Fatalf("kill child: %v", err)
	}
	cmd.Wait()
}

func TestKilledWriterReleasesLockAndKeepsCheckpoint(t *testing.T) {
	dir := t.TempDir()
	id := uuid.NewString()
	cmd, out := startChild(t, dir, id, "hold")
	for out.Scan() && out.Text() != "held" {
		if strings.HasPrefix(out.Text(), "error:") {
			t.Fatalf("child: %s", out.Text())
		}
	}
	if out.Err() != nil {
		t.Fatalf("child output: %v", out.Err())
	}
	b := newBackend(t, local.Config{Dir: dir})
	ctx := t.Context()
	if _, err := b.Resume(ctx, id); !errors.Is(err, storage.ErrLocked) {
		t.Fatalf("Resume while the child holds the upload = %v, want ErrLocked", err)
	}
	if n, err := b.DeleteExpired(ctx, time.Now().AddDate(100, 0, 0), nil); err != nil || n != 0 {
		t.Fatalf("DeleteExpired while the child holds the upload = %d, %v; want 0", n, err)
	}

	kill9(t, cmd)

	w, err := b.Resume(ctx, id)
	if err != nil {
		t.Fatalf("Resume after the holder was killed: %v", err)
	}
	defer w.Close()
	const durable = 3 * childStep
	if w.Info().Offset != durable || w.Written() != durable || string(w.State()) != "cp" {
		t.Fatalf("after kill -9: offset %d, written %d, state %q; want %d, %d, %q",
			w.Info().Offset, w.Written(), w.State(), durable, durable, "cp")
	}
	got, err := os.ReadFile(local.DataFile(dir, id))
	if err != nil {
		t.Fatal(err)
	}
	want := make([]byte, durable)
	fill(want, 0)
	if !bytes.Equal(got, want) {
		t.Fatalf("data file after kill -9 and Resume: %d bytes, want the %d checkpointed ones", len(got), durable)
	}
}

func TestKillDuringCheckpointsLeavesOneConsistentCheckpoint(t *testing.T) {
	for round := range 3 {
		t.Run(fmt.Sprint("round ", round), func(t *testing.T) {
			dir := t.TempDir()
			id := uuid.NewString()
			cmd, out := startChild(t, dir, id, "loop")
			// Kill after a few reported checkpoints, while the child is busy
			// with the next write or checkpoint; where exactly it dies differs
			// from run to run.
			var reported int64
			for seen := 0; seen < 5+round*7 && out.Scan(); {
				line := out.Text()
				if off, ok := strings.CutPrefix(line, "durable "); ok {
					reported, _ = strconv.ParseInt(off, 10, 64)
					seen++
				} else if strings.HasPrefix(line, "error:") {
					t.Fatalf("child: %s", line)
				}
			}
			kill9(t, cmd)

			b := newBackend(t, local.Config{Dir: dir})
			w, err := b.Resume(t.Context(), id)
			if err != nil {
				t.Fatalf("Resume after kill -9: %v", err)
			}
			defer w.Close()
			off := w.Info().Offset
			if off < reported {
				t.Fatalf("resumed at %d, below the offset %d the child had reported durable", off, reported)
			}
			if string(w.State()) != strconv.FormatInt(off, 10) {
				t.Fatalf("resumed at %d with the state of offset %q: not one checkpoint", off, w.State())
			}
			got, err := os.ReadFile(local.DataFile(dir, id))
			if err != nil {
				t.Fatal(err)
			}
			want := make([]byte, off)
			fill(want, 0)
			if !bytes.Equal(got, want) {
				t.Fatalf("data file after Resume: %d bytes, want the %d checkpointed ones intact", len(got), off)
			}
		})
	}
}

// A size declared with SetSize and made durable by a Checkpoint survives
// kill -9 together with that Checkpoint's offset and state.
func TestKilledWriterKeepsCheckpointedSize(t *testing.T) {
	dir := t.TempDir()
	id := uuid.NewString()
	cmd, out := startChild(t, dir, id, "deferred")
	for out.Scan() && out.Text() != "held" {
		if strings.HasPrefix(out.Text(), "error:") {
			t.Fatalf("child: %s", out.Text())
		}
	}
	if out.Err() != nil {
		t.Fatalf("child output: %v", out.Err())
	}
	kill9(t, cmd)

	b := newBackend(t, local.Config{Dir: dir})
	w, err := b.Resume(t.Context(), id)
	if err != nil {
		t.Fatalf("Resume after kill -9: %v", err)
	}
	defer w.Close()
	in := w.Info()
	if in.Meta.Size != childSize || in.Offset != 2*childStep || string(w.State()) != "sized" {
		t.Fatalf("after kill -9: size %d, offset %d, state %q; want %d, %d, %q",
			in.Meta.Size, in.Offset, w.State(), childSize, 2*childStep, "sized")
	}
	_, err = w.Write(make([]byte, childSize-2*childStep+1))
	if !errors.Is(err, storage.ErrSizeExceeded) {
		t.Fatalf("Write past the recovered size = %v, want ErrSizeExceeded", err)
	}
}

// commitForever completes small files one after another, deleting every
// third one after its Commit, and reports each step once it returned, until
// it is killed.
func commitForever(t *testing.T, b *local.Backend) {
	ctx := t.Context()
	for i := 0; ; i++ {
		id := uuid.NewString()
		w, err := b.Create(ctx, id, storage.Meta{Name: "f", Size: 3})
		if err == nil {
			_, err = w.Write([]byte("abc"))
		}
		if err == nil {
			_, err = w.Checkpoint(ctx, nil)
		}
		if err == nil {
			_, err = w.Commit(ctx, digestOf("abc"))
		}
		if err != nil {
			fmt.Println("error:", err)
			os.Exit(2)
		}
		fmt.Println("committed", id)
		if i%3 == 2 {
			fmt.Println("deleting", id)
			if err := b.Delete(ctx, id); err != nil {
				fmt.Println("error:", err)
				os.Exit(2)
			}
			fmt.Println("deleted", id)
		}
	}
}

// TestKillDuringCommitsKeepsIndexWhole: a server killed while it commits
// and deletes files leaves an index that lists every file whose Commit
// returned and that was not deleted, and no deleted one (a Delete the kill
// cut short may have gone through or not).
func TestKillDuringCommitsKeepsIndexWhole(t *testing.T) {
	dir := t.TempDir()
	cmd, out := startChild(t, dir, uuid.NewString(), "commits")
	want := make(map[string]bool)
	// deleting is the file whose Delete had begun and not returned when
	// the child died: it may be listed or not.
	deleting := ""
	for n := 0; n < 60 && out.Scan(); n++ {
		verb, id, _ := strings.Cut(out.Text(), " ")
		switch verb {
		case "committed":
			want[id] = true
		case "deleting":
			deleting = id
		case "deleted":
			delete(want, id)
			deleting = ""
		default:
			t.Fatalf("child: %s", out.Text())
		}
	}
	kill9(t, cmd)
	// Lines the child printed after the ones we read were done too.
	for out.Scan() {
		switch verb, id, _ := strings.Cut(out.Text(), " "); verb {
		case "committed":
			want[id] = true
		case "deleting":
			deleting = id
		case "deleted":
			delete(want, id)
			deleting = ""
		}
	}
	if deleting != "" {
		delete(want, deleting)
	}

	b := newBackend(t, local.Config{Dir: dir})
	listed := make(map[string]bool)
	for cursor := ""; ; {
		page, err := b.List(t.Context(), cursor, 7)
		if err != nil {
			t.Fatal(err)
		}
		for _, in := range page.Files {
			if listed[in.ID] {
				t.Fatalf("%s listed twice", in.ID)
			}
			listed[in.ID] = true
			if _, err := b.Stat(t.Context(), in.ID); err != nil {
				t.Fatalf("listed %s: Stat = %v", in.ID, err)
			}
		}
		if cursor = page.Next; cursor == "" {
			break
		}
	}
	for id := range want {
		if !listed[id] {
			t.Errorf("%s: Commit returned, not listed after the crash", id)
		}
	}
	// The file being committed when the child died may be listed too, if
	// its Commit got through, and so may the one being deleted; nothing
	// else.
	extra := 0
	for id := range listed {
		if !want[id] && id != deleting {
			extra++
		}
	}
	if extra > 1 {
		t.Errorf("listed %d files, want the %d committed (and perhaps one in flight)", len(listed), len(want))
	}
}
