package loopback

import (
	"net"
	"strconv"
	"testing"
)

func TestFreeAddrIsBindableAndBelowTheEphemeralRange(t *testing.T) {
	seen := map[string]bool{}
	for range 50 {
		addr := FreeAddr(t)
		if seen[addr] {
			t.Fatalf("%s handed out twice in a row of 50", addr)
		}
		seen[addr] = true
		host, portText, err := net.SplitHostPort(addr)
		if err != nil || host != "127.0.0.1" {
			t.Fatalf("FreeAddr = %q", addr)
		}
		port, _ := strconv.Atoi(portText)
		if port < lowestPort || port >= ephemeralStart() {
			t.Fatalf("port %d is outside %d-%d", port, lowestPort, ephemeralStart()-1)
		}
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			t.Fatalf("binding the address FreeAddr returned: %v", err)
		}
		ln.Close()
	}
}

func TestFreeAddrSkipsAPortInUse(t *testing.T) {
	first := FreeAddr(t)
	held, err := net.Listen("tcp", first)
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	// Walk the sequence back onto the held port: the next call must pass it by.
	_, portText, _ := net.SplitHostPort(first)
	port, _ := strconv.Atoi(portText)
	next.Store(int32(port-lowestPort) - 1)
	if got := FreeAddr(t); got == first {
		t.Fatalf("FreeAddr returned %s, which is listened on", got)
	}
}
