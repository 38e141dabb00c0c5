// The kernel's socket diagnostics (sock_diag over netlink, what ss reads):
// the requests waiting for the service, read from its own sockets only. A
// host with tens of thousands of connections writes /proc/net/tcp as a
// line of text for every one of them, every time it is read; sock_diag
// walks the same tables in the kernel and answers with the sockets on the
// service's port alone, as binary records.

package probe

import (
	"encoding/binary"
	"errors"
	"fmt"
	"syscall"
)

// Netlink and inet_diag constants (include/uapi/linux/netlink.h,
// sock_diag.h, inet_diag.h), for every platform: the request and its
// answer are built and parsed everywhere, exchanged on Linux only.
const (
	nlmsgHdrLen      = 16
	nlmsgError       = 2
	nlmsgDone        = 3
	nlmFRequest      = 0x1
	nlmFDump         = 0x300 // NLM_F_ROOT | NLM_F_MATCH
	sockDiagByFamily = 20
	inetDiagReqLen   = 56 // struct inet_diag_req_v2
	inetDiagMsgLen   = 72 // struct inet_diag_msg
	ipprotoTCP       = 6
	// Socket states (include/net/tcp_states.h).
	diagEstablished = 1
	diagListen      = 10
)

// errSockDiag is a sock_diag answer advisor cannot read.
var errSockDiag = errors.New("malformed sock_diag answer")

// Socket state sets of a dump request (idiag_states). The kernel walks the
// listening sockets for the first, and the table of every connection of
// the host for the second.
const (
	statesListen      = 1 << diagListen
	statesEstablished = 1 << diagEstablished
)

// sockTally is what a sock_diag dump counted on the service's port: the
// requests waiting (queuedOn) and the listening sockets.
type sockTally struct {
	queued, listeners int
}

// sockDiagRequest is a netlink request for a dump of the TCP sockets of
// family (AF_INET or AF_INET6) in the given states (statesListen,
// statesEstablished) on local port port: the kernel compares each
// socket's local port with the request's (id.idiag_sport) before it
// writes a record.
func sockDiagRequest(family uint8, port int, states uint32) []byte {
	b := make([]byte, nlmsgHdrLen+inetDiagReqLen)
	ne := binary.NativeEndian
	ne.PutUint32(b[0:], uint32(len(b)))
	ne.PutUint16(b[4:], sockDiagByFamily)
	ne.PutUint16(b[6:], nlmFRequest|nlmFDump)
	ne.PutUint32(b[8:], 1) // sequence number; the kernel fills the port id
	r := b[nlmsgHdrLen:]
	r[0] = family
	r[1] = ipprotoTCP
	ne.PutUint32(r[4:], states)
	binary.BigEndian.PutUint16(r[8:], uint16(port)) // id.idiag_sport, network order
	return b
}

// parseSockDiag reads netlink messages of a sock_diag dump (one or more
// datagrams as received) and counts, on local port port, what
// parseQueuedRequests counts in /proc/net/tcp (queuedOn: idiag_rqueue is
// a listening socket's accept queue length, an accepted connection's
// bytes not read), and the listening sockets. done reports the dump's end
// (NLMSG_DONE); the kernel's error, or errSockDiag for a message that does
// not parse, ends the reading.
func parseSockDiag(b []byte, port int) (t sockTally, done bool, err error) {
	ne := binary.NativeEndian
	for len(b) > 0 {
		if len(b) < nlmsgHdrLen {
			return t, false, fmt.Errorf("%w: %d bytes left, less than a header", errSockDiag, len(b))
		}
		n := int(ne.Uint32(b[0:]))
		typ := ne.Uint16(b[4:])
		if n < nlmsgHdrLen || n > len(b) {
			return t, false, fmt.Errorf("%w: message of %d bytes in %d", errSockDiag, n, len(b))
		}
		body := b[nlmsgHdrLen:n]
		switch typ {
		case nlmsgDone:
			// Since Linux 4.x the dump's end carries its status.
			if len(body) >= 4 {
				if e := int32(ne.Uint32(body)); e < 0 {
					return t, false, fmt.Errorf("sock_diag dump: %w", syscall.Errno(-e))
				}
			}
			return t, true, nil
		case nlmsgError:
			if len(body) < 4 {
				return t, false, fmt.Errorf("%w: short error message", errSockDiag)
			}
			if e := int32(ne.Uint32(body)); e < 0 {
				return t, false, fmt.Errorf("sock_diag: %w", syscall.Errno(-e))
			}
		case sockDiagByFamily:
			if len(body) < inetDiagMsgLen {
				return t, false, fmt.Errorf("%w: socket record of %d bytes", errSockDiag, len(body))
			}
			if int(binary.BigEndian.Uint16(body[4:])) != port {
				break
			}
			rqueue, inode := ne.Uint32(body[56:]), ne.Uint32(body[68:])
			listening := body[1] == diagListen
			t.queued += queuedOn(listening, body[1] == diagEstablished, uint64(rqueue), inode != 0)
			if listening {
				t.listeners++
			}
		}
		// Messages are aligned to 4 bytes.
		b = b[min(len(b), (n+3)&^3):]
	}
	return t, false, nil
}
