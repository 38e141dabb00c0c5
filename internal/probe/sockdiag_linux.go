package probe

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"
)

// sockDiagQueued reads the requests waiting in the kernel for the service
// listening on port, over IPv4 and IPv6, from sock_diag. A family the
// kernel does not have (IPv6 disabled) is left out, as /proc/net/tcp6
// would be missing; the error of both, when neither answers.
func sockDiagQueued(port int) (int, error) {
	total, read := 0, false
	var errs []error
	for _, family := range []uint8{unix.AF_INET, unix.AF_INET6} {
		n, err := sockDiagExchange(family, port, nil)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		total += n
		read = true
	}
	if !read {
		return 0, errors.Join(errs...)
	}
	return total, nil
}

// sockDiagExchange sends the dump request for family and port on a
// netlink socket of its own and parses the answer; raw, when not nil,
// receives each datagram as it came (the tests' captures). A kernel that
// does not answer within a second ends it.
func sockDiagExchange(family uint8, port int, raw func([]byte)) (int, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, unix.NETLINK_SOCK_DIAG)
	if err != nil {
		return 0, fmt.Errorf("sock_diag socket: %w", err)
	}
	defer unix.Close(fd)
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &unix.Timeval{Sec: 1}); err != nil {
		return 0, fmt.Errorf("sock_diag receive timeout: %w", err)
	}
	if err := unix.Sendto(fd, sockDiagRequest(family, port), 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return 0, fmt.Errorf("sock_diag request: %w", err)
	}
	buf := make([]byte, 64<<10)
	total := 0
	for {
		n, _, err := unix.Recvfrom(fd, buf, 0)
		if err != nil {
			return 0, fmt.Errorf("sock_diag answer: %w", err)
		}
		if n >= len(buf) {
			return 0, fmt.Errorf("%w: a datagram of %d bytes or more", errSockDiag, n)
		}
		if raw != nil {
			raw(buf[:n])
		}
		q, done, err := parseSockDiag(buf[:n], port)
		if err != nil {
			return 0, err
		}
		total += q
		if done {
			return total, nil
		}
	}
}
