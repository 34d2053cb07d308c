package client

import (
	"encoding/json"
	"testing"

	"github.com/ferryhq/ferry/upload"
)

// The client declares the wire itself; these tests hold it to the server's
// declarations, so that the two cannot drift apart unnoticed.

func TestWireCodesMatchServer(t *testing.T) {
	if Subprotocol != upload.Subprotocol {
		t.Errorf("Subprotocol %q, server %q", Subprotocol, upload.Subprotocol)
	}
	codes := []struct {
		ours   Code
		server upload.Code
	}{
		{CodeBadRequest, upload.CodeBadRequest},
		{CodeUnknownType, upload.CodeUnknownType},
		{CodeNotStarted, upload.CodeNotStarted},
		{CodeAlreadyStarted, upload.CodeAlreadyStarted},
		{CodeTooLarge, upload.CodeTooLarge},
		{CodeSizeExceeded, upload.CodeSizeExceeded},
		{CodeIncomplete, upload.CodeIncomplete},
		{CodeChecksumMismatch, upload.CodeChecksumMismatch},
		{CodeForbiddenType, upload.CodeForbiddenType},
		{CodeForbidden, upload.CodeForbidden},
		{CodeNotFound, upload.CodeNotFound},
		{CodeLocked, upload.CodeLocked},
		{CodeQuotaExceeded, upload.CodeQuotaExceeded},
		{CodeStorageError, upload.CodeStorageError},
		{CodeUnauthorized, upload.CodeUnauthorized},
		{CodeShuttingDown, upload.CodeShuttingDown},
	}
	for _, c := range codes {
		if string(c.ours) != string(c.server) {
			t.Errorf("code %q, server %q", c.ours, c.server)
		}
	}
	types := [][2]string{
		{typeStart, upload.TypeStart}, {typeResume, upload.TypeResume}, {typeEnd, upload.TypeEnd},
		{typeReady, upload.TypeReady}, {typeProgress, upload.TypeProgress},
		{typeComplete, upload.TypeComplete}, {typeError, upload.TypeError},
	}
	for _, ty := range types {
		if ty[0] != ty[1] {
			t.Errorf("frame type %q, server %q", ty[0], ty[1])
		}
	}
	if got, want := fileURLOf("x"), upload.FileURL("x"); got != want {
		t.Errorf("fileURLOf = %q, server %q", got, want)
	}
}

// What the client sends encodes as the server's frames do, and what the
// server sends decodes into the fields the client reads.
func TestWireFramesMatchServer(t *testing.T) {
	sends := []struct {
		name         string
		ours, server any
	}{
		{"start", startFrame{Type: typeStart, Name: "a.bin", Size: 3, MIME: "text/plain", SHA256: "ab"},
			upload.StartFrame{Type: upload.TypeStart, Name: "a.bin", Size: 3, MIME: "text/plain", SHA256: "ab"}},
		{"start without options", startFrame{Type: typeStart, Name: "a.bin"},
			upload.StartFrame{Type: upload.TypeStart, Name: "a.bin"}},
		{"resume", resumeFrame{Type: typeResume, ID: "id"}, upload.ResumeFrame{Type: upload.TypeResume, ID: "id"}},
		{"end", controlFrame{Type: typeEnd}, upload.ControlFrame{Type: upload.TypeEnd}},
	}
	for _, s := range sends {
		ours, _ := json.Marshal(s.ours)
		server, _ := json.Marshal(s.server)
		if string(ours) != string(server) {
			t.Errorf("%s: client sends %s, server expects %s", s.name, ours, server)
		}
	}

	reads := []struct {
		frame any
		want  serverFrame
	}{
		{upload.ReadyFrame{Type: upload.TypeReady, ID: "id", Offset: 5, Size: 9, MaxFrame: 7},
			serverFrame{Type: typeReady, ID: "id", Offset: 5, Size: 9, MaxFrame: 7}},
		{upload.ProgressFrame{Type: upload.TypeProgress, ID: "id", Received: 6, Offset: 5, Size: 9},
			serverFrame{Type: typeProgress, ID: "id", Received: 6, Offset: 5, Size: 9}},
		{upload.CompleteFrame{Type: upload.TypeComplete, ID: "id", Size: 9, SHA256: "ab", URL: "/files/id"},
			serverFrame{Type: typeComplete, ID: "id", Size: 9, SHA256: "ab", URL: "/files/id"}},
		{upload.ErrorFrame{Type: upload.TypeError, Code: upload.CodeLocked, Message: "m", ID: "id"},
			serverFrame{Type: typeError, ID: "id", Code: CodeLocked, Message: "m"}},
	}
	for _, r := range reads {
		data, _ := json.Marshal(r.frame)
		var got serverFrame
		if err := json.Unmarshal(data, &got); err != nil {
			t.Errorf("%s: %v", data, err)
			continue
		}
		if got != r.want {
			t.Errorf("%s decodes as %+v, want %+v", data, got, r.want)
		}
	}
}
