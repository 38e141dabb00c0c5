// Package promtest runs Debian's real prometheus binary for tests, on a
// private loopback port with a temporary TSDB and a 1 s scrape interval,
// and serves lightweight instrumented targets from the test process for it
// to scrape: each a real client_golang registry with a request counter and
// latency histogram per route, process CPU, a pgxpool-shaped pool and a
// build info, fed by a ticker at the rate and latency the test asks for.
//
// The port is ADVISOR_TEST_PROM_PORT (default 29090) or, when taken, one of
// the nine after it.
package promtest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Binary is the prometheus executable the tests run.
const Binary = "prometheus"

// Server is a running prometheus.
type Server struct {
	URL  string
	Port int
	cmd  *exec.Cmd
	dir  string
	log  *os.File
	done chan struct{}
	// release gives the port back once.
	release sync.Once
}

// Start runs prometheus scraping targets (host:port each) every second,
// job "svc", and waits until it answers; the test's cleanup stops it. The
// test fails when the binary is missing: `make setup-test` installs it.
func Start(t testing.TB, targets []string) *Server {
	t.Helper()
	bin, err := exec.LookPath(Binary)
	if err != nil {
		t.Fatalf("promtest: %s not found: run make setup-test (Debian package prometheus)", Binary)
	}
	dir := t.TempDir()
	var quoted []string
	for _, tg := range targets {
		quoted = append(quoted, strconv.Quote(tg))
	}
	cfg := fmt.Sprintf(`global:
  scrape_interval: 1s
  scrape_timeout: 900ms
  evaluation_interval: 1s
scrape_configs:
  - job_name: svc
    static_configs:
      - targets: [%s]
`, strings.Join(quoted, ", "))
	cfgPath := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	// The tests of one package may start several at once, and another
	// package's tests may too: a port is taken for this process until its
	// server stops, and a server that could not listen (another took the
	// port first) is started again on another.
	var s *Server
	for attempt := 1; ; attempt++ {
		port, err := freePort()
		if err != nil {
			t.Fatalf("promtest: %v", err)
		}
		s, err = start(bin, dir, cfgPath, port, attempt)
		if err == nil {
			break
		}
		releasePort(port)
		if attempt == 3 {
			t.Fatalf("promtest: %v", err)
		}
	}
	t.Cleanup(s.Stop)
	return s
}

// start runs prometheus on port and waits until it answers as the server
// of cfgPath; an error when it exits first or another answers there.
func start(bin, dir, cfgPath string, port, attempt int) (*Server, error) {
	logf, err := os.Create(filepath.Join(dir, fmt.Sprintf("prometheus-%d.log", attempt)))
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin,
		"--config.file="+cfgPath,
		"--storage.tsdb.path="+filepath.Join(dir, fmt.Sprintf("data-%d", attempt)),
		"--web.listen-address="+net.JoinHostPort("127.0.0.1", strconv.Itoa(port)),
		"--storage.tsdb.retention.time=1h",
		"--log.level=warn",
	)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("starting %s: %w", bin, err)
	}
	s := &Server{URL: fmt.Sprintf("http://127.0.0.1:%d", port), Port: port, cmd: cmd, dir: dir, log: logf, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(s.done) }()
	deadline := time.Now().Add(30 * time.Second)
	for {
		// Ready, and ours: its flags name this test's configuration.
		if s.ready() && s.serves(cfgPath) {
			return s, nil
		}
		select {
		case <-s.done:
			_ = s.log.Close()
			return nil, fmt.Errorf("prometheus on port %d exited: %s", port, s.Log())
		default:
		}
		if time.Now().After(deadline) {
			s.halt()
			return nil, fmt.Errorf("prometheus on port %d not ready after 30s: %s", port, s.Log())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// ready says whether the server answers /-/ready with 200.
func (s *Server) ready() bool {
	resp, err := http.Get(s.URL + "/-/ready")
	if err != nil {
		return false
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// serves says whether the server's flags name the configuration file
// cfgPath.
func (s *Server) serves(cfgPath string) bool {
	flags, err := s.get("/api/v1/status/flags")
	return err == nil && strings.Contains(flags, cfgPath)
}

// get is the body of a GET of path.
func (s *Server) get(path string) (string, error) {
	resp, err := http.Get(s.URL + path)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

// Stop stops the server (SIGTERM, then SIGKILL after 10 s) and gives its
// port back; idempotent.
func (s *Server) Stop() {
	s.halt()
	s.release.Do(func() { releasePort(s.Port) })
}

// halt stops the server's process, keeping its port taken.
func (s *Server) halt() {
	select {
	case <-s.done:
	default:
		_ = s.cmd.Process.Signal(os.Interrupt)
		select {
		case <-s.done:
		case <-time.After(10 * time.Second):
			_ = s.cmd.Process.Kill()
			<-s.done
		}
	}
	_ = s.log.Close()
}

// Log is the tail of the server's log.
func (s *Server) Log() string {
	b, _ := os.ReadFile(s.log.Name())
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(b)
}

// WaitSamples waits until the query `count(up{job="svc"} == 1)` reaches n
// and each target has been scraped for at least d; it fails the test after
// a minute.
func (s *Server) WaitSamples(t testing.TB, n int, d time.Duration) {
	t.Helper()
	q := fmt.Sprintf(`count(count_over_time(up{job="svc"}[%ds]) >= %d)`, max(1, int(d.Seconds())+2), max(1, int(d.Seconds())))
	deadline := time.Now().Add(time.Minute + d)
	for {
		v, err := s.scalar(q)
		if err == nil && int(v) >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("promtest: %d targets not scraped for %s within a minute (last: %v, %v): %s", n, d, v, err, s.Log())
		}
		time.Sleep(250 * time.Millisecond)
	}
}

func (s *Server) scalar(q string) (float64, error) {
	str, err := s.get("/api/v1/query?query=" + urlQuery(q))
	if err != nil {
		return 0, err
	}
	// {"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[t,"3"]}]}}
	i := strings.LastIndex(str, `,"`)
	if i < 0 || !strings.Contains(str, `"result":[{`) {
		return 0, errors.New("empty result")
	}
	rest := str[i+2:]
	j := strings.IndexByte(rest, '"')
	if j < 0 {
		return 0, errors.New("malformed result")
	}
	return strconv.ParseFloat(rest[:j], 64)
}

func urlQuery(q string) string {
	var b strings.Builder
	for _, c := range []byte(q) {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '_', c == '.', c == '~':
			b.WriteByte(c)
		default:
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

func freePort() (int, error) {
	base := 29090
	if v := os.Getenv("ADVISOR_TEST_PROM_PORT"); v != "" {
		p, err := strconv.Atoi(v)
		if err != nil {
			return 0, fmt.Errorf("ADVISOR_TEST_PROM_PORT=%q is not a port", v)
		}
		base = p
	}
	portsMu.Lock()
	defer portsMu.Unlock()
	for p := base; p < base+10; p++ {
		if portsTaken[p] {
			continue
		}
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
		if err == nil {
			_ = l.Close()
			portsTaken[p] = true
			return p, nil
		}
	}
	return 0, fmt.Errorf("ports %d-%d are all taken: set ADVISOR_TEST_PROM_PORT", base, base+9)
}

// The ports freePort handed to servers of this process that have not
// stopped.
var (
	portsMu    sync.Mutex
	portsTaken = map[int]bool{}
)

func releasePort(p int) {
	portsMu.Lock()
	delete(portsTaken, p)
	portsMu.Unlock()
}

// Spec is what one target reports.
type Spec struct {
	// RPS is the requests per second it counts, over two routes.
	RPS float64
	// Latency is every request's latency.
	Latency time.Duration
	// CPU is the process CPU it reports, in cores.
	CPU float64
	// PoolMax and PoolInUse are its pgxpool gauges; PoolMax 0 exposes none.
	PoolMax, PoolInUse float64
	// Version is its app_build_info version label.
	Version string
}

// Target is one instance: a /metrics endpoint on loopback.
type Target struct {
	Addr string
	srv  *http.Server
	stop chan struct{}
	wg   sync.WaitGroup
	spec atomic.Pointer[Spec]
}

// NewTarget serves spec's metrics on a loopback port until the test ends
// or Stop.
func NewTarget(t testing.TB, spec Spec) *Target {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tg := &Target{Addr: l.Addr().String(), stop: make(chan struct{})}
	tg.spec.Store(&spec)
	reg := prometheus.NewRegistry()
	requests := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "http_requests_total", Help: "Requests served."},
		[]string{"handler", "method", "code"})
	durations := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "http_request_duration_seconds", Help: "Request latency.",
		Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5}}, []string{"handler", "method"})
	var cpu atomic.Uint64 // micro-seconds
	start := float64(time.Now().Unix())
	reg.MustRegister(requests, durations,
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "process_cpu_seconds_total", Help: "CPU."},
			func() float64 { return float64(cpu.Load()) / 1e6 }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "process_start_time_seconds", Help: "Start."},
			func() float64 { return start }),
	)
	if spec.PoolMax > 0 {
		reg.MustRegister(
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "pgxpool_max_conns", Help: "Pool size."},
				func() float64 { return tg.spec.Load().PoolMax }),
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "pgxpool_acquired_conns", Help: "In use."},
				func() float64 { return tg.spec.Load().PoolInUse }),
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "pgxpool_total_conns", Help: "Open."},
				func() float64 { return tg.spec.Load().PoolMax }),
		)
	}
	if spec.Version != "" {
		info := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "app_build_info", Help: "Build."}, []string{"version"})
		info.WithLabelValues(spec.Version).Set(1)
		reg.MustRegister(info)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	tg.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = tg.srv.Serve(l) }()
	tg.wg.Go(func() {
		const tick = 100 * time.Millisecond
		tk := time.NewTicker(tick)
		defer tk.Stop()
		var owed float64
		for {
			select {
			case <-tg.stop:
				return
			case <-tk.C:
			}
			sp := tg.spec.Load()
			owed += sp.RPS * tick.Seconds()
			n := math.Floor(owed)
			owed -= n
			for i := 0; i < int(n); i++ {
				route := "/api/items"
				if i%4 == 3 {
					route = "/api/orders"
				}
				requests.WithLabelValues(route, "GET", "200").Inc()
				durations.WithLabelValues(route, "GET").Observe(sp.Latency.Seconds())
			}
			cpu.Add(uint64(sp.CPU * tick.Seconds() * 1e6))
		}
	})
	t.Cleanup(tg.Stop)
	return tg
}

// Set changes what the target reports from now on.
func (tg *Target) Set(spec Spec) { tg.spec.Store(&spec) }

// Stop stops serving (the instance goes down); idempotent.
func (tg *Target) Stop() {
	select {
	case <-tg.stop:
		return
	default:
	}
	close(tg.stop)
	tg.wg.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = tg.srv.Shutdown(ctx)
}
