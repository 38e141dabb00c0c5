package probe

import (
	"encoding/binary"
	"errors"
	"os"
	"syscall"
	"testing"
)

// The capture's ports (TestSockDiagCapture).
const (
	captureInetPort  = 38431
	captureInet6Port = 38432
)

// TestParseSockDiag reads captures of Linux 6's sock_diag answers
// (TestSockDiagCapture): on 127.0.0.1:38431 two accepted connections hold
// an unread request, one is accepted and idle, and three wait in the
// accept queue (one with its request sent); on [::1]:38432 one waits in
// the accept queue. The counts are /proc/net/tcp's (TestParseQueuedRequests).
func TestParseSockDiag(t *testing.T) {
	if binary.NativeEndian.Uint16([]byte{1, 0}) != 1 {
		t.Skip("the captures are little-endian, as the kernel that wrote them")
	}
	for _, tc := range []struct {
		file string
		port int
		want sockTally
	}{
		{"testdata/sock-diag-inet.bin", captureInetPort, sockTally{queued: 5, listeners: 1}},
		{"testdata/sock-diag-inet6.bin", captureInet6Port, sockTally{queued: 1, listeners: 1}},
		// A record of another port is not the service's.
		{"testdata/sock-diag-inet.bin", captureInet6Port, sockTally{}},
	} {
		b, err := os.ReadFile(tc.file)
		if err != nil {
			t.Fatal(err)
		}
		got, done, err := parseSockDiag(b, tc.port)
		if err != nil || !done || got != tc.want {
			t.Errorf("%s port %d: %+v (done %v, %v), want %+v", tc.file, tc.port, got, done, err, tc.want)
		}
		// Cut before its end, the dump is not done; cut inside a
		// message, it does not parse.
		if _, done, err := parseSockDiag(b[:len(b)-20], tc.port); done || err != nil {
			t.Errorf("%s without its end: done %v, %v", tc.file, done, err)
		}
		if _, _, err := parseSockDiag(b[:len(b)-30], tc.port); !errors.Is(err, errSockDiag) {
			t.Errorf("%s cut inside a message: %v", tc.file, err)
		}
	}
	// The kernel's refusal, and a dump that ended in an error.
	for _, tc := range []struct {
		typ   uint16
		errno syscall.Errno
	}{{nlmsgError, syscall.EPERM}, {nlmsgDone, syscall.ENOBUFS}} {
		msg := make([]byte, nlmsgHdrLen+4)
		binary.NativeEndian.PutUint32(msg, uint32(len(msg)))
		binary.NativeEndian.PutUint16(msg[4:], tc.typ)
		binary.NativeEndian.PutUint32(msg[nlmsgHdrLen:], uint32(-int32(tc.errno)))
		if _, _, err := parseSockDiag(msg, 1); !errors.Is(err, tc.errno) {
			t.Errorf("message type %d with errno %d: %v", tc.typ, tc.errno, err)
		}
	}
	// A header that claims more than there is, or less than itself.
	for _, n := range []uint32{4096, 8} {
		msg := make([]byte, nlmsgHdrLen)
		binary.NativeEndian.PutUint32(msg, n)
		if _, _, err := parseSockDiag(msg, 1); !errors.Is(err, errSockDiag) {
			t.Errorf("length %d: %v", n, err)
		}
	}
}

// TestSockDiagRequest: the request asks for a dump of the TCP sockets
// in the given states on the port, in network order.
func TestSockDiagRequest(t *testing.T) {
	b := sockDiagRequest(10, 8000, statesListen|statesEstablished)
	ne := binary.NativeEndian
	if int(ne.Uint32(b)) != len(b) || len(b) != nlmsgHdrLen+inetDiagReqLen {
		t.Fatalf("length %d in %d bytes", ne.Uint32(b), len(b))
	}
	if ne.Uint16(b[4:]) != sockDiagByFamily || ne.Uint16(b[6:]) != nlmFRequest|nlmFDump {
		t.Errorf("type %d flags %#x", ne.Uint16(b[4:]), ne.Uint16(b[6:]))
	}
	r := b[nlmsgHdrLen:]
	if r[0] != 10 || r[1] != ipprotoTCP || ne.Uint32(r[4:]) != 1<<1|1<<10 || binary.BigEndian.Uint16(r[8:]) != 8000 {
		t.Errorf("request % x", r)
	}
}
