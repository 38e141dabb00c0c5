package probetest

import (
	"errors"
	"net"
	"syscall"
	"testing"
)

func TestClosedAddrRefuses(t *testing.T) {
	addr := ClosedAddr(t)
	for i := 0; i < 3; i++ {
		_, err := net.Dial("tcp", addr)
		if !errors.Is(err, syscall.ECONNREFUSED) {
			t.Fatalf("dial %s: %v, want connection refused", addr, err)
		}
	}
	if l, err := net.Listen("tcp", addr); err == nil {
		l.Close()
		t.Fatalf("listen on %s succeeded: the port is not held", addr)
	}
}
