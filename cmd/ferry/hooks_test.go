package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ferryhq/ferry/client"
	"github.com/ferryhq/ferry/hooks"
)

const hookSecret = "a secret the receiver checks"

// uploadWS uploads data over the WebSocket as name.
func uploadWS(t *testing.T, server, name string, data []byte) (client.Result, error) {
	t.Helper()
	// A bound for an upload that hangs, long enough for a loaded machine.
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	return client.Upload(ctx, bytes.NewReader(data), int64(len(data)), client.Options{
		Server: server, Name: name, MIME: "application/octet-stream", MaxRetries: 1})
}

// createTus creates an upload over tus named name and, when it is created,
// PATCHes data into it; it returns the creation's status, its body and the
// upload's id.
func createTus(t *testing.T, server, name string, data []byte) (int, []byte, string) {
	t.Helper()
	req, _ := http.NewRequest("POST", server+"/uploads/", nil)
	req.Header.Set("Tus-Resumable", "1.0.0")
	req.Header.Set("Upload-Length", strconv.Itoa(len(data)))
	req.Header.Set("Upload-Metadata", "filename "+base64.StdEncoding.EncodeToString([]byte(name))+
		",filetype "+base64.StdEncoding.EncodeToString([]byte("application/octet-stream")))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		return resp.StatusCode, body, ""
	}
	loc := resp.Header.Get("Location")
	req, _ = http.NewRequest("PATCH", server+loc, bytes.NewReader(data))
	req.Header.Set("Tus-Resumable", "1.0.0")
	req.Header.Set("Upload-Offset", "0")
	req.Header.Set("Content-Type", "application/offset+octet-stream")
	patch, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	patch.Body.Close()
	if patch.StatusCode != http.StatusNoContent {
		t.Fatalf("PATCH %s: %s", loc, patch.Status)
	}
	return resp.StatusCode, body, idOf(loc)
}

// createIETF uploads data in one IETF draft creation request named name;
// it returns the status, the body and the upload's id.
func createIETF(t *testing.T, server, name string, data []byte) (int, []byte, string) {
	t.Helper()
	req, _ := http.NewRequest("POST", server+"/uploads/", bytes.NewReader(data))
	req.Header.Set("Upload-Draft-Interop-Version", "6")
	req.Header.Set("Upload-Complete", "?1")
	req.Header.Set("Content-Type", "application/octet-stream")
	req.Header.Set("Content-Disposition", `attachment; filename="`+name+`"`)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, body, idOf(resp.Header.Get("Location"))
}

// TestHooksPreCreateRefusesAndRenames: a pre-create hook refuses uploads
// with its message (forbidden over the WebSocket, 403 over tus and the IETF
// draft) and renames
// others; post-finish tells the receiver of the renamed files with their
// digest and absolute URL, and post-terminate of a deletion.
func TestHooksPreCreateRefusesAndRenames(t *testing.T) {
	rcv := newReceiver(t, hookSecret, false)
	rcv.start()
	f := startInstance(t, "--data", t.TempDir(), "--hook-url", rcv.url(), "--hook-secret", hookSecret,
		"--public-url", "https://files.example.test/")
	data, sum := randomBytes(t, 100<<10)

	finished := map[string]string{} // upload id -> name it must be stored under
	for _, tc := range []struct {
		proto, name string
		refused     bool
	}{
		{"ws", "refuse-me.bin", true},
		{"ws", "rename-ws.bin", false},
		{"tus", "refuse-this.bin", true},
		{"tus", "rename-tus.bin", false},
		{"ietf", "refuse-ietf.bin", true},
		{"ietf", "rename-ietf.bin", false},
	} {
		t.Run(tc.proto+"/"+tc.name, func(t *testing.T) {
			wantMsg := "the receiver refuses " + tc.name
			var id string
			switch tc.proto {
			case "ws":
				res, err := uploadWS(t, f.url, tc.name, data)
				var ce *client.Error
				if tc.refused {
					if !errors.As(err, &ce) || ce.Code != client.CodeForbidden || ce.Message != wantMsg {
						t.Fatalf("upload: %v; want forbidden %q", err, wantMsg)
					}
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				id = res.ID
			case "tus", "ietf":
				create := createTus
				if tc.proto == "ietf" {
					create = createIETF
				}
				status, body, created := create(t, f.url, tc.name, data)
				if tc.refused {
					var answer struct{ Error, Message string }
					_ = json.Unmarshal(body, &answer)
					if status != http.StatusForbidden || answer.Error != "forbidden" || answer.Message != wantMsg {
						t.Fatalf("create: %d %s; want 403 forbidden %q", status, body, wantMsg)
					}
					return
				}
				if status != http.StatusCreated {
					t.Fatalf("create: %d %s", status, body)
				}
				id = created
			}
			fi := getFileInfo(t, f.url, id)
			want := tc.name[len("rename-"):]
			if fi.Name != want || fi.MIME != "text/x-renamed" || !fi.Complete {
				t.Fatalf("stored %+v; want the hook's name %q and type", fi, want)
			}
			finished[id] = want
		})
	}
	if ids := listedIDs(t, f.url); len(ids) != len(finished) {
		t.Fatalf("listed %v; want only the %d uploads the hook allowed", ids, len(finished))
	}
	got := rcv.waitFor(hooks.PostFinish, len(finished))
	for _, p := range got {
		u := p.Upload
		if finished[u.ID] != u.Name || u.SHA256 != sum || u.Size != int64(len(data)) || u.Type != "text/x-renamed" ||
			u.URL != "https://files.example.test/files/"+u.ID {
			t.Errorf("post-finish %+v; want %v with sha256 %s and an absolute URL", p, finished, sum)
		}
		delete(finished, u.ID)
	}
	if len(finished) != 0 {
		t.Fatalf("no post-finish for %v", finished)
	}

	id := got[0].Upload.ID
	req, _ := http.NewRequest("DELETE", f.url+"/api/files/"+id, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusNoContent {
		t.Fatalf("DELETE: %v %v", resp, err)
	}
	resp.Body.Close()
	if gone := rcv.waitFor(hooks.PostTerminate, 1); gone[0].Upload.ID != id {
		t.Fatalf("post-terminate %+v; want upload %s", gone[0], id)
	}
}

// exactlyOnce checks that the receiver recorded one post-finish for each
// upload of ids, and none other, after giving late copies a moment.
func exactlyOnce(t *testing.T, rcv *receiver, ids []string) {
	t.Helper()
	rcv.waitFor(hooks.PostFinish, len(ids))
	time.Sleep(time.Second) // copies raised under another ID would come now
	var got []string
	for _, p := range rcv.events() {
		if p.Type == hooks.PostFinish {
			got = append(got, p.Upload.ID)
		}
	}
	slices.Sort(got)
	want := slices.Sorted(slices.Values(ids))
	if !slices.Equal(got, want) {
		t.Fatalf("post-finish for %v; want each of %v once", got, want)
	}
}

// TestHooksPostFinishWhileReceiverIsDown: uploads finish while the receiver
// is down for 10 s, and it then gets every post-finish exactly once (after
// dropping the copies that its own 503s made ferry send again).
func TestHooksPostFinishWhileReceiverIsDown(t *testing.T) {
	rcv := newReceiver(t, hookSecret, true)
	rcv.start()
	f := startInstance(t, "--data", t.TempDir(), "--hook-url", rcv.url(), "--hook-secret", hookSecret,
		"--hook-events", "post-finish", "--hook-retry-max", "300ms")
	data, _ := randomBytes(t, 64<<10)
	res, err := uploadWS(t, f.url, "up.bin", data)
	if err != nil {
		t.Fatal(err)
	}
	ids := []string{res.ID}
	rcv.waitFor(hooks.PostFinish, 1)

	rcv.stop()
	down := time.Now()
	for i := range 3 {
		data, _ := randomBytes(t, 64<<10)
		res, err := uploadWS(t, f.url, "down-"+strconv.Itoa(i)+".bin", data)
		if err != nil {
			t.Fatalf("an upload failed while the hook receiver is down: %v", err)
		}
		ids = append(ids, res.ID)
	}
	status, body, id := createTus(t, f.url, "down-tus.bin", []byte("over tus"))
	if status != http.StatusCreated {
		t.Fatalf("a tus upload while the hook receiver is down: %d %s", status, body)
	}
	ids = append(ids, id)
	time.Sleep(10*time.Second - time.Since(down))
	rcv.start()
	exactlyOnce(t, rcv, ids)
}

// TestHooksPostFinishSurvivesKillDashNine: post-finish of uploads finished
// while the receiver was down is delivered by the next process after a
// kill -9, exactly once; and so is one whose process died between the
// store's commit and the outbox write (the outbox is put back in the state
// that crash leaves: the upload's marker, no event).
func TestHooksPostFinishSurvivesKillDashNine(t *testing.T) {
	rcv := newReceiver(t, hookSecret, false)
	dir := t.TempDir()
	args := []string{"--data", dir, "--hook-url", rcv.url(), "--hook-secret", hookSecret,
		"--hook-events", "post-finish", "--hook-retry-max", "300ms"}
	first := startInstance(t, args...)
	var ids []string
	for i := range 3 {
		data, _ := randomBytes(t, 64<<10)
		res, err := uploadWS(t, first.url, "kill-"+strconv.Itoa(i)+".bin", data)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, res.ID)
	}
	first.kill()

	outbox := filepath.Join(dir, ".hooks-outbox")
	pending, _ := filepath.Glob(filepath.Join(outbox, "pending", "*.json"))
	if len(pending) != len(ids) {
		t.Fatalf("the outbox holds %d events after kill -9; want %d", len(pending), len(ids))
	}
	// The crash between commit and outbox write: no event, the marker.
	body, err := os.ReadFile(pending[0])
	if err != nil {
		t.Fatal(err)
	}
	var p hooks.Payload
	if err := json.Unmarshal(body, &p); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(pending[0]); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(outbox, "uploads", p.Upload.ID), nil, 0o600); err != nil {
		t.Fatal(err)
	}

	rcv.start()
	startInstance(t, args...)
	exactlyOnce(t, rcv, ids)
}

// TestHookFlagsStopStartup: a mistake in the hook flags stops serve before
// any storage is opened (the S3 endpoint here answers nothing).
func TestHookFlagsStopStartup(t *testing.T) {
	s3 := []string{"--storage", "s3", "--s3-endpoint", freeAddr(t), "--s3-insecure", "--s3-bucket", "b"}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{append([]string{"--hook-url", "http://127.0.0.1:1/"}, s3...), "needs --hook-outbox"},
		{[]string{"--hook-url", "127.0.0.1:1/hook"}, "not http:// or https://"},
		{[]string{"--hook-url", "http://127.0.0.1:1/", "--hook-events", "post-finish,post-finsh"}, `unknown hook "post-finsh"`},
		{[]string{"--hook-url", "http://127.0.0.1:1/", "--hook-events", "post-receive"}, "progress interval"},
		{[]string{"--hook-url", "http://127.0.0.1:1/", "--public-url", "files.example.com"}, "public URL"},
	} {
		args := append([]string{"--addr", freeAddr(t), "--data", t.TempDir()}, tc.args...)
		err := runServe(t.Context(), args, io.Discard, io.Discard)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("serve %v: %v; want an error saying %q", tc.args, err, tc.want)
		}
	}
}

// TestHooksS3TwoInstances: an upload begun on one instance and finished on
// another is told once; the first instance, restarted, finds its marker of
// the upload and sends the post-finish again under the same ID, which the
// receiver drops.
func TestHooksS3TwoInstances(t *testing.T) {
	endpoint, access, secret := minioEnv(t)
	t.Setenv("FERRY_S3_ACCESS_KEY", access)
	t.Setenv("FERRY_S3_SECRET_KEY", secret)
	rcv := newReceiver(t, hookSecret, false)
	rcv.start()
	bucket := "ferry-hooks-" + strconv.FormatInt(time.Now().UnixNano(), 10)
	args := func(outbox string) []string {
		return []string{"--storage", "s3", "--s3-endpoint", endpoint, "--s3-insecure",
			"--s3-bucket", bucket, "--s3-create-bucket", "--s3-lease-ttl", "2s",
			"--hook-url", rcv.url(), "--hook-secret", hookSecret, "--hook-events", "post-finish",
			"--hook-retry-max", "300ms", "--hook-outbox", outbox}
	}
	outA, outB := t.TempDir(), t.TempDir()
	a := startInstance(t, args(outA)...)
	b := startInstance(t, args(outB)...)
	data, sum := randomBytes(t, 12<<20)
	id := uploadHalf(t, a.url, data, sum)
	resume(t, b.url, id, data, sum)
	exactlyOnce(t, rcv, []string{id})

	a.kill()
	if _, err := os.Stat(filepath.Join(outA, "uploads", id)); err != nil {
		t.Fatalf("the first instance has no marker of the upload it began: %v", err)
	}
	startInstance(t, args(outA)...)
	deadline := time.Now().Add(30 * time.Second)
	for {
		n := 0
		for _, p := range rcv.deliveries() {
			if p.Type == hooks.PostFinish && p.Upload.ID == id {
				n++
			}
		}
		if n >= 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the restarted instance did not reconcile its marker (%d deliveries)", n)
		}
		time.Sleep(50 * time.Millisecond)
	}
	exactlyOnce(t, rcv, []string{id})
}
