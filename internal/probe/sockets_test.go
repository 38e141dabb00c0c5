package probe

import (
	"os"
	"testing"

	"github.com/pgadvisor/advisor/internal/config"
)

// TestParseQueuedRequests reads a capture of /proc/net/tcp and tcp6
// (testdata/proc-net-tcp-capture.py): on 127.0.0.1:38421 two accepted
// connections hold an unread request and three wait in the accept queue
// (one of them with its request sent); on [::1]:38422 one waits in the
// accept queue.
func TestParseQueuedRequests(t *testing.T) {
	for _, tc := range []struct {
		file string
		port int
		want int
	}{
		{"testdata/proc-net-tcp.txt", 38421, 5},
		{"testdata/proc-net-tcp6.txt", 38422, 1},
		// The clients' side of the same connections is not the service's.
		{"testdata/proc-net-tcp.txt", 0xB054, 0},
		{"testdata/proc-net-tcp.txt", 1, 0},
		// A listener with nothing queued.
		{"testdata/proc-net-tcp.txt", 0x07E8, 0},
	} {
		b, err := os.ReadFile(tc.file)
		if err != nil {
			t.Fatal(err)
		}
		got, ok := parseQueuedRequests(string(b), tc.port)
		if !ok || got != tc.want {
			t.Errorf("%s port %d: %d (%v), want %d", tc.file, tc.port, got, ok, tc.want)
		}
	}
	for _, bad := range []string{"", "garbage", "  sl  local_address rem_address   st tx_queue rx_queue\n   0: 0100007F:9615 00000000:0000 0A 00000000:zz 00:00000000 00000000 0 0 1 1\n"} {
		if _, ok := parseQueuedRequests(bad, 38421); ok {
			t.Errorf("%q parsed", bad)
		}
	}
}

func TestServicePort(t *testing.T) {
	for _, tc := range []struct {
		src  config.Sources
		want int
	}{
		{config.Sources{Target: "http://127.0.0.1:8000"}, 8000},
		{config.Sources{Target: "http://localhost"}, 80},
		{config.Sources{Metrics: "https://[::1]/metrics"}, 443},
		{config.Sources{Target: "http://api.internal:8000"}, 0},
		{config.Sources{Target: "http://api.internal:8000", Metrics: "http://127.0.0.1:9100/metrics"}, 9100},
		{config.Sources{Prometheus: "http://127.0.0.1:9090"}, 0},
	} {
		if got := servicePort(tc.src); got != tc.want {
			t.Errorf("%+v: port %d, want %d", tc.src, got, tc.want)
		}
	}
}
