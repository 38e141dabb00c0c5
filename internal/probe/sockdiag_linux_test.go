package probe

import (
	"flag"
	"fmt"
	"net"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

var sockDiagCapture = flag.Bool("sockdiag.capture", false, "write testdata/sock-diag-*.bin from this kernel")

// queueScenario listens on addr and leaves requests waiting for it: six
// connections, of which three are accepted (two with a request sent and
// not read, one idle) and three wait in the accept queue (one with its
// request sent). Five requests wait: three in the accept queue, two
// unread. With one, a single connection waits in the accept queue, its
// request sent. It returns the listener's port; everything closes with
// the test.
func queueScenario(t testing.TB, network, addr string, conns int) int {
	t.Helper()
	ln, err := net.Listen(network, addr)
	if err != nil {
		t.Skipf("listen %s %s: %v", network, addr, err)
	}
	t.Cleanup(func() { ln.Close() })
	var clients []net.Conn
	for range conns {
		c, err := net.Dial(network, ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		clients = append(clients, c)
	}
	accepted := min(3, conns-1)
	for range accepted {
		c, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
	}
	send := []int{conns - 1}
	if conns == 6 {
		send = []int{0, 1, 3}
	}
	for _, i := range send {
		if _, err := clients[i].Write([]byte("GET /posts HTTP/1.1\r\nHost: x\r\n\r\n")); err != nil {
			t.Fatal(err)
		}
	}
	return ln.Addr().(*net.TCPAddr).Port
}

// TestSockDiagLive reads the waiting requests from this kernel's sock_diag
// and from /proc/net/tcp: both count what queueScenario left waiting.
func TestSockDiagLive(t *testing.T) {
	port4 := queueScenario(t, "tcp4", "127.0.0.1:0", 6)
	port6 := queueScenario(t, "tcp6", "[::1]:0", 1)
	for _, tc := range []struct {
		name string
		port int
		want int
	}{{"IPv4", port4, 5}, {"IPv6", port6, 1}} {
		var sd, proc int
		var err error
		// The requests sent reach the service's socket within the write,
		// on loopback; a loaded machine gets a second.
		for deadline := time.Now().Add(2 * time.Second); ; {
			sd, err = sockDiagQueued(tc.port)
			proc, _ = procQueuedRequests(tc.port)
			if err != nil || (sd == tc.want && proc == tc.want) || time.Now().After(deadline) {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		if err != nil {
			t.Fatalf("%s: sock_diag: %v", tc.name, err)
		}
		if sd != tc.want || proc != tc.want {
			t.Errorf("%s port %d: sock_diag %d, /proc/net %d; want %d", tc.name, tc.port, sd, proc, tc.want)
		}
		if n, ok := readQueuedRequests(tc.port); !ok || n != tc.want {
			t.Errorf("%s: readQueuedRequests %d (%v), want %d", tc.name, n, ok, tc.want)
		}
	}
	// A port nothing listens on: nothing waits, and that is a reading.
	if n, err := sockDiagQueued(1); err != nil || n != 0 {
		t.Errorf("port 1: %d, %v", n, err)
	}
}

// TestSockDiagCapture writes the captures TestParseSockDiag reads, with
// -sockdiag.capture:
//
//	go test -run SockDiagCapture ./internal/probe/ -args -sockdiag.capture
func TestSockDiagCapture(t *testing.T) {
	if !*sockDiagCapture {
		t.Skip("-sockdiag.capture writes the captures")
	}
	queueScenario(t, "tcp4", "127.0.0.1:"+strconv.Itoa(captureInetPort), 6)
	queueScenario(t, "tcp6", "[::1]:"+strconv.Itoa(captureInet6Port), 1)
	time.Sleep(300 * time.Millisecond)
	for _, c := range []struct {
		family uint8
		port   int
		file   string
	}{{unix.AF_INET, captureInetPort, "testdata/sock-diag-inet.bin"}, {unix.AF_INET6, captureInet6Port, "testdata/sock-diag-inet6.bin"}} {
		var all []byte
		// One answer with both states, as the parser reads either.
		n, err := sockDiagExchange(c.family, c.port, statesListen|statesEstablished, func(b []byte) { all = append(all, b...) })
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(c.file, all, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: %d bytes, %d waiting", c.file, len(all), n.queued)
	}
}

// BenchmarkQueuedRequests reads the requests waiting for a service from
// sock_diag and from /proc/net/tcp and tcp6, one after the other in each
// iteration, with 4,000 more loopback connections open on the host: to
// another port (a database's, a proxy's), then to the service's own (its
// keep-alive clients). attach and report read it four times a second. It
// reports each reader's median time per read and their ratio.
//
//	go test -run '^$' -bench QueuedRequests -benchtime 200x ./internal/probe/
func BenchmarkQueuedRequests(b *testing.B) {
	const conns = 4000
	service := listenAccepting(b)
	openConnsTo(b, listenAccepting(b), conns)
	for _, set := range []struct {
		name string
		open func()
	}{
		{"other-port", func() {}},
		{"service-port", func() { openConnsTo(b, service, conns) }},
	} {
		set.open()
		b.Run(fmt.Sprintf("%s-%d", set.name, conns), func(b *testing.B) {
			var sd, proc []float64
			for b.Loop() {
				start := time.Now()
				if _, err := sockDiagQueued(service); err != nil {
					b.Fatal(err)
				}
				mid := time.Now()
				if _, ok := procQueuedRequests(service); !ok {
					b.Fatal("no /proc/net/tcp")
				}
				sd = append(sd, float64(mid.Sub(start))/1e6)
				proc = append(proc, float64(time.Since(mid))/1e6)
			}
			msd, mproc := medianOf(sd), medianOf(proc)
			b.ReportMetric(msd, "sockdiag_ms")
			b.ReportMetric(mproc, "proc_ms")
			b.ReportMetric(mproc/msd, "proc/sockdiag")
		})
	}
}

// medianOf is the median of xs (sorted in place).
func medianOf(xs []float64) float64 {
	slices.Sort(xs)
	n := len(xs)
	if n%2 == 1 {
		return xs[n/2]
	}
	return (xs[n/2-1] + xs[n/2]) / 2
}

// listenAccepting listens on a loopback port that accepts every
// connection and leaves it idle, all closed with the benchmark.
func listenAccepting(b *testing.B) int {
	b.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { ln.Close() })
	go acceptAll(b, ln)
	return ln.Addr().(*net.TCPAddr).Port
}

// openConnsTo opens n connections to port on 127.0.0.1, closed with the
// benchmark.
func openConnsTo(b *testing.B, port, n int) {
	b.Helper()
	for range n {
		c, err := net.Dial("tcp4", "127.0.0.1:"+strconv.Itoa(port))
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { c.Close() })
	}
}

// acceptAll accepts ln's connections until it closes, each closed with
// the benchmark.
func acceptAll(b *testing.B, ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		b.Cleanup(func() { c.Close() })
	}
}
