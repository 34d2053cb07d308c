// Package loopback hands tests a 127.0.0.1 address to give a server they
// start in another process (or another package's code) that binds it
// itself. Only tests import it.
package loopback

import (
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
)

// lowestPort is where the search starts: below it are the well-known and
// commonly configured service ports.
const lowestPort = 10000

// next is the last port tried; it starts at random so that the test
// binaries `go test ./...` runs side by side start in different places.
var next atomic.Int32

// FreeAddr returns a loopback address ("127.0.0.1:port") nobody listens on
// right now, for a server the caller is about to start.
//
// The port lies below the kernel's ephemeral range. A port the kernel hands
// out for 127.0.0.1:0 comes from that range, which every outgoing connection
// draws its local port from too, so in the moment between closing the probe
// and the server's own bind, a connection made by any other test could take
// it ("bind: address already in use"). Below the range only another listener
// can, and each test process walks its own sequence.
func FreeAddr(t testing.TB) string {
	t.Helper()
	top := ephemeralStart()
	span := int32(top - lowestPort)
	if next.Load() == 0 {
		next.CompareAndSwap(0, rand.Int32N(span)+1)
	}
	for range span {
		port := lowestPort + int(next.Add(1)%span)
		ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err != nil {
			continue
		}
		addr := ln.Addr().String()
		if err := ln.Close(); err != nil {
			t.Fatalf("loopback: closing the probe on %s: %v", addr, err)
		}
		return addr
	}
	t.Fatalf("loopback: no free port in %d-%d", lowestPort, top-1)
	return ""
}

// ephemeralStart is the first port of the kernel's ephemeral range: Linux's
// /proc/sys/net/ipv4/ip_local_port_range, or 32768 (Linux's default, and
// below the IANA range other systems use) where that cannot be read.
func ephemeralStart() int {
	const fallback = 32768
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return fallback
	}
	fields := strings.Fields(string(b))
	if len(fields) == 0 {
		return fallback
	}
	n, err := strconv.Atoi(fields[0])
	if err != nil || n <= lowestPort+1000 {
		return fallback
	}
	return n
}
