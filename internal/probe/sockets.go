// The requests that wait in the kernel for a service on this machine to
// read them: connections in its listening socket's accept queue, and
// accepted connections whose request it has not read. A worker whose event
// loop a synchronous call blocks reads the next request only when the call
// returns; its own metrics count one request in flight, and the others wait
// here, unseen by them.

package probe

import (
	"os"
	"strconv"
	"strings"

	"github.com/pgadvisor/advisor/internal/config"
)

// servicePort is the TCP port the service listens on, when it runs on this
// machine: the port of its target URL, else of its metrics URL; 0 when
// neither is a loopback URL.
func servicePort(src config.Sources) int {
	for _, raw := range []string{src.Target, src.MetricsURL()} {
		u, ok := localURL(raw)
		if !ok {
			continue
		}
		port := u.Port()
		switch {
		case port != "":
		case u.Scheme == "http":
			port = "80"
		case u.Scheme == "https":
			port = "443"
		}
		if n, err := strconv.Atoi(port); err == nil && n > 0 && n < 65536 {
			return n
		}
	}
	return 0
}

// TCP states in /proc/net/tcp (include/net/tcp_states.h).
const (
	tcpEstablished = "01"
	tcpListen      = "0A"
)

// parseQueuedRequests reads a /proc/net/tcp or /proc/net/tcp6 table and
// returns, for the sockets whose local port is port, the connections
// waiting in listening sockets' accept queues (a listening socket's
// rx_queue is its accept queue's length) and the accepted connections
// with bytes received and not read (rx_queue above 0). A connection still
// in the accept queue has no file, so inode 0: the accept queue counts it
// already. False when the table has no header or a line does not parse.
func parseQueuedRequests(table string, port int) (int, bool) {
	lines := strings.Split(strings.TrimSpace(table), "\n")
	if len(lines) == 0 || !strings.Contains(lines[0], "local_address") {
		return 0, false
	}
	want := strings.ToUpper(strconv.FormatInt(int64(port), 16))
	want = strings.Repeat("0", max(0, 4-len(want))) + want
	queued := 0
	for _, line := range lines[1:] {
		f := strings.Fields(line)
		// sl local rem st tx:rx tr:when retrnsmt uid timeout inode
		if len(f) < 10 {
			return 0, false
		}
		_, localPort, ok := strings.Cut(f[1], ":")
		if !ok {
			return 0, false
		}
		if localPort != want {
			continue
		}
		_, rx, ok := strings.Cut(f[4], ":")
		if !ok {
			return 0, false
		}
		n, err := strconv.ParseUint(rx, 16, 32)
		if err != nil {
			return 0, false
		}
		queued += queuedOn(f[3] == tcpListen, f[3] == tcpEstablished, n, f[9] != "0")
	}
	return queued, true
}

// queuedOn is what one socket on the service's port adds to the requests
// waiting for it: a listening socket, its accept queue's length (rqueue);
// an accepted connection, one when it holds bytes received and not read
// (rqueue above 0) and has a file (a connection still in the accept queue
// has none, and the accept queue counts it already).
func queuedOn(listening, established bool, rqueue uint64, hasInode bool) int {
	switch {
	case listening:
		return int(rqueue)
	case established && rqueue > 0 && hasInode:
		return 1
	}
	return 0
}

// readQueuedRequests reads the requests waiting in the kernel for the
// service listening on port, over IPv4 and IPv6: from sock_diag, else (a
// kernel or a sandbox that refuses it) from /proc/net/tcp and tcp6; false
// where it cannot (not Linux, or neither answered).
func readQueuedRequests(port int) (int, bool) {
	if port <= 0 {
		return 0, false
	}
	if n, err := sockDiagQueued(port); err == nil {
		return n, true
	}
	return procQueuedRequests(port)
}

// procQueuedRequests is readQueuedRequests from /proc/net/tcp and tcp6,
// whole: a line for every socket of the host.
func procQueuedRequests(port int) (int, bool) {
	total, read := 0, false
	for _, path := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		b, err := os.ReadFile(path)
		if err != nil {
			continue
		}
		if n, ok := parseQueuedRequests(string(b), port); ok {
			total += n
			read = true
		}
	}
	return total, read
}
