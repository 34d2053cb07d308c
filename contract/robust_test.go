package contract_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// rawFrame builds one WebSocket frame by hand, masked unless told not to.
func rawFrame(fin bool, rsv, opcode byte, masked bool, payload []byte) []byte {
	var b bytes.Buffer
	first := opcode | rsv<<4
	if fin {
		first |= 0x80
	}
	b.WriteByte(first)
	mask := byte(0)
	if masked {
		mask = 0x80
	}
	switch n := len(payload); {
	case n < 126:
		b.WriteByte(mask | byte(n))
	case n < 1<<16:
		b.WriteByte(mask | 126)
		_ = binary.Write(&b, binary.BigEndian, uint16(n))
	default:
		b.WriteByte(mask | 127)
		_ = binary.Write(&b, binary.BigEndian, uint64(n))
	}
	if masked {
		key := []byte{1, 2, 3, 4}
		b.Write(key)
		for i, c := range payload {
			b.WriteByte(c ^ key[i%4])
		}
	} else {
		b.Write(payload)
	}
	return b.Bytes()
}

// rawUpgrade opens a TCP connection and completes a WebSocket handshake by
// hand; it returns nil if the server refused.
func rawUpgrade(addr string) net.Conn {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return nil
	}
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	fmt.Fprintf(c, "GET /ws/upload HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n", addr)
	r := bufio.NewReader(c)
	resp, err := http.ReadResponse(r, nil)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		c.Close()
		return nil
	}
	return c
}

// §1: "Nothing a client sends, however malformed, crashes the server or
// corrupts another upload." A good upload runs while hostile clients do
// their worst; its bytes, checksum and progress must be exact.
func TestHostileClientsDoNotDisturbAnUpload(t *testing.T) {
	t.Parallel()
	const mf = 64 << 10
	s := start(t, cfg{MaxFrame: mf, MaxSize: 64 << 20})
	addr := strings.TrimPrefix(s.URL, "http://")
	body := data(3<<20, 700)

	good := s.dial(t)
	id := good.startUpload("good.bin", int64(len(body)), map[string]any{"sha256": sha(body)})

	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	hostile := func(name string, f func()) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				f()
			}
		}()
	}
	dial := func() *websocket.Conn {
		c, _, err := s.dialRaw("", nil, []string{"ferry.v1"})
		if err != nil {
			return nil
		}
		go func() { // drain so the server never blocks on us
			for {
				if _, _, err := c.ReadMessage(); err != nil {
					return
				}
			}
		}()
		return c
	}
	texts := []string{
		`garbage`, ``, `{`, `null`, `[]`, `{"type":null}`, `{"type":"start"}`,
		`{"type":"start","name":"x","size":-5}`, `{"type":"start","name":"x","size":1e400}`,
		`{"type":"start","name":"x","size":18446744073709551616}`,
		`{"type":"start","name":"x","size":10,"sha256":"` + strings.Repeat("g", 64) + `"}`,
		`{"type":"resume","id":"` + id + `"}`,
		`{"type":"resume","id":"../../` + id + `"}`,
		`{"type":"resume","id":{"$ne":null}}`,
		`{"type":"end"}`, `{"type":"abort"}`, `{"type":"progress","id":"` + id + `","offset":0}`,
		`{"type":"complete","id":"` + id + `"}`,
		strings.Repeat("[", 100000) + strings.Repeat("]", 100000),
		`{"type":"start","name":"` + strings.Repeat("n", 200000) + `","size":1}`,
		"\xff\xfe\xfd invalid utf-8",
		`{"type":"start","name":"a\u0000b","size":1}`,
	}
	hostile("bad text frames", func() {
		c := dial()
		if c == nil {
			return
		}
		defer c.Close()
		for _, m := range texts {
			if c.WriteMessage(websocket.TextMessage, []byte(m)) != nil {
				return
			}
		}
		_ = c.WriteMessage(websocket.BinaryMessage, []byte("stray bytes"))
		time.Sleep(5 * time.Millisecond)
	})
	hostile("steal the good upload", func() {
		c := dial()
		if c == nil {
			return
		}
		defer c.Close()
		_ = c.WriteMessage(websocket.TextMessage, []byte(`{"type":"resume","id":"`+id+`"}`))
		_ = c.WriteMessage(websocket.BinaryMessage, bytes.Repeat([]byte{0xBA}, 1000))
		_ = c.WriteMessage(websocket.TextMessage, []byte(`{"type":"abort"}`))
		_ = c.WriteMessage(websocket.TextMessage, []byte(`{"type":"end"}`))
		time.Sleep(5 * time.Millisecond)
	})
	hostile("uploads that overrun, oversize and vanish", func() {
		c := dial()
		if c == nil {
			return
		}
		_ = c.WriteMessage(websocket.TextMessage, []byte(`{"type":"start","name":"h","size":100}`))
		_ = c.WriteMessage(websocket.BinaryMessage, make([]byte, 101))
		_ = c.WriteMessage(websocket.BinaryMessage, make([]byte, 60))
		_ = c.WriteMessage(websocket.TextMessage, []byte(`{"type":"end"}`))
		_ = c.WriteMessage(websocket.BinaryMessage, make([]byte, mf+1))
		c.Close()
	})
	hostile("partial frames then reset", func() {
		c := dial()
		if c == nil {
			return
		}
		_ = c.WriteMessage(websocket.TextMessage, []byte(`{"type":"start","name":"p","size":1000000}`))
		time.Sleep(2 * time.Millisecond)
		nc := c.NetConn()
		_, _ = nc.Write(rawFrame(true, 0, 2, true, make([]byte, 5000))[:3000])
		nc.Close()
	})
	hostile("WebSocket protocol violations", func() {
		for _, fr := range [][]byte{
			rawFrame(true, 0, 2, false, []byte("unmasked")),
			rawFrame(true, 4, 2, true, []byte("reserved bit")),
			rawFrame(true, 0, 3, true, []byte("reserved opcode")),
			rawFrame(false, 0, 9, true, []byte("fragmented ping")),
			rawFrame(true, 0, 0, true, []byte("continuation out of nowhere")),
			rawFrame(true, 0, 8, true, []byte{0x03, 0xE7}), // close 999
			rawFrame(true, 0, 9, true, make([]byte, 200)),  // ping too long
			append(rawFrame(false, 0, 1, true, []byte(`{"type":`)), rawFrame(true, 0, 2, true, []byte("x"))...),
			{0x82, 0xFF, 0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 1, 2, 3, 4}, // 2^63-1 bytes
		} {
			c := rawUpgrade(addr)
			if c == nil {
				return
			}
			_, _ = c.Write(fr)
			_, _ = io.Copy(io.Discard, io.LimitReader(c, 1024))
			c.Close()
		}
	})
	hostile("not HTTP at all", func() {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			return
		}
		_ = c.SetDeadline(time.Now().Add(time.Second))
		_, _ = c.Write([]byte("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 not http\r\n\r\n"))
		_, _ = io.Copy(io.Discard, c)
		c.Close()
	})
	hostile("hostile downloads", func() {
		for _, h := range []hdrs{
			{"Range": "bytes=" + strings.Repeat("0-0,", 5000) + "0-0"},
			{"Range": "bytes=-99999999999999999999"},
			{"Range": "bytes=0-0", "If-Range": strings.Repeat("\"", 1000)},
			{"If-None-Match": strings.Repeat("W/\"x\",", 1000)},
		} {
			req, _ := http.NewRequest(http.MethodGet, s.URL+"/files/"+id, nil)
			for k, v := range h {
				req.Header.Set(k, v)
			}
			if resp, err := s.client.Do(req); err == nil {
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		}
		for _, p := range []string{"/files/" + id + "?follow=1", "/api/files?limit=-7&after=%00", "/api/files/" + id, "/files/%00", "/files/" + strings.Repeat("a", 10000)} {
			rctx, rcancel := context.WithTimeout(ctx, 30*time.Millisecond)
			req, _ := http.NewRequestWithContext(rctx, http.MethodGet, s.URL+p, nil)
			if resp, err := s.client.Do(req); err == nil {
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
			rcancel()
		}
	})

	// The good upload, in pieces with pauses so that it overlaps the noise.
	for off := 0; off < len(body); off += 32 << 10 {
		good.sendBin(body[off : off+32<<10])
		if off%(512<<10) == 0 {
			good.waitOffset(id, int64(off), 10*time.Second)
		}
	}
	good.finish(id, body)
	cancel()
	wg.Wait()

	resp, got := s.get(t, "/files/"+id, nil)
	wantStatus(t, "download of the good upload", resp, got, http.StatusOK)
	if !bytes.Equal(got, body) {
		t.Errorf("the good upload's stored bytes differ from what was sent")
	}
	resp, b := s.get(t, "/healthz", nil)
	wantStatus(t, "/healthz after the noise", resp, b, http.StatusOK)
	s.upload(t, "after.bin", "", []byte("the server still works"))
}
