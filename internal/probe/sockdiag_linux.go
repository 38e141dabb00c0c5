package probe

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"
)

// sockDiagQueued reads the requests waiting in the kernel for the service
// listening on port, over IPv4 and IPv6, from sock_diag: the listening
// sockets of both families first (the kernel walks only those), then the
// connections of the families that listen on the port, each a walk of
// every connection of the host: an accepted connection has its listener's
// family (an IPv6 socket bound to :: takes IPv4 clients as v4-mapped IPv6
// ones), so a service listening on one family costs one walk, and a port
// nothing listens on none. A family the kernel does not have (IPv6
// disabled) is left out, as /proc/net/tcp6 would be missing; the error of
// both, when neither answers.
func sockDiagQueued(port int) (int, error) {
	total, read := 0, false
	var errs []error
	var listening []uint8
	for _, family := range []uint8{unix.AF_INET, unix.AF_INET6} {
		t, err := sockDiagExchange(family, port, statesListen, nil)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		total += t.queued
		read = true
		if t.listeners > 0 {
			listening = append(listening, family)
		}
	}
	if !read {
		return 0, errors.Join(errs...)
	}
	for _, family := range listening {
		t, err := sockDiagExchange(family, port, statesEstablished, nil)
		if err != nil {
			return 0, err
		}
		total += t.queued
	}
	return total, nil
}

// sockDiagExchange sends the dump request for family, port and states on
// a netlink socket of its own and parses the answer; raw, when not nil,
// receives each datagram as it came (the tests' captures). A kernel that
// does not answer within a second ends it.
func sockDiagExchange(family uint8, port int, states uint32, raw func([]byte)) (sockTally, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, unix.NETLINK_SOCK_DIAG)
	if err != nil {
		return sockTally{}, fmt.Errorf("sock_diag socket: %w", err)
	}
	defer unix.Close(fd)
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &unix.Timeval{Sec: 1}); err != nil {
		return sockTally{}, fmt.Errorf("sock_diag receive timeout: %w", err)
	}
	if err := unix.Sendto(fd, sockDiagRequest(family, port, states), 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return sockTally{}, fmt.Errorf("sock_diag request: %w", err)
	}
	buf := make([]byte, 64<<10)
	var total sockTally
	for {
		n, _, err := unix.Recvfrom(fd, buf, 0)
		if err != nil {
			return sockTally{}, fmt.Errorf("sock_diag answer: %w", err)
		}
		if n >= len(buf) {
			return sockTally{}, fmt.Errorf("%w: a datagram of %d bytes or more", errSockDiag, n)
		}
		if raw != nil {
			raw(buf[:n])
		}
		t, done, err := parseSockDiag(buf[:n], port)
		if err != nil {
			return sockTally{}, err
		}
		total.queued += t.queued
		total.listeners += t.listeners
		if done {
			return total, nil
		}
	}
}
