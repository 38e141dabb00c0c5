package metrics

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	_ "github.com/jackc/pgx/v5/stdlib"
	"github.com/redis/go-redis/v9"
	"go.uber.org/goleak"

	"github.com/pgadvisor/advisor/internal/probe/metrics/metricstest"
	"github.com/pgadvisor/advisor/internal/probe/source"
	"github.com/pgadvisor/advisor/internal/stack/stacktest"
)

// childEnv makes the test binary serve metricstest until its stdin closes,
// to play a service process that restarts.
const childEnv = "ADVISOR_METRICS_TEST_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "1" {
		serveChild()
		return
	}
	goleak.VerifyTestMain(m)
}

func serveChild() {
	svc := metricstest.New(metricstest.Config{Process: true})
	var h http.Handler
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h.ServeHTTP(w, r) }))
	h = svc.Handler(srv.URL)
	fmt.Println(srv.URL)
	_, _ = bufio.NewReader(os.Stdin).ReadString('\n')
	srv.Close()
}

func readCapture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func findRoute(routes []Route, name string) (Route, bool) {
	for _, r := range routes {
		if r.Route == name {
			return r, true
		}
	}
	return Route{}, false
}

func findPool(pools []Pool, kind string) (Pool, bool) {
	for _, p := range pools {
		if p.Kind == kind {
			return p, true
		}
	}
	return Pool{}, false
}

func TestSnapshotCapture(t *testing.T) {
	fams, err := ParseBytes(readCapture(t, "client_golang.txt"))
	if err != nil {
		t.Fatal(err)
	}
	s := NewSnapshot(time.Now(), fams, DefaultNames())
	if len(s.Routes) != 5 {
		t.Fatalf("routes = %+v", s.Routes)
	}
	orders, _ := findRoute(s.Routes, "/orders")
	if orders.Method != "get" || orders.Requests != 40 || orders.Errors != 0 || orders.Latency == nil || orders.Latency.Count != 40 {
		t.Errorf("/orders = %+v", orders)
	}
	if len(orders.Latency.Buckets) != 12 || !math.IsInf(orders.Latency.Buckets[11].UpperBound, 1) {
		t.Errorf("/orders buckets = %+v", orders.Latency.Buckets)
	}
	fail, _ := findRoute(s.Routes, "/fail")
	if fail.Requests != 40 || fail.Errors != 40 || fail.ByCode["500"] != 40 {
		t.Errorf("/fail = %+v", fail)
	}
	if len(s.InFlight) != 1 || s.InFlight[0].Name != "http_requests_in_flight" {
		t.Errorf("in flight = %+v", s.InFlight)
	}
	if len(s.Outbound) != 1 || s.Outbound[0].Host != "users-service" || s.Outbound[0].Calls != 80 || s.Outbound[0].Latency == nil {
		t.Errorf("outbound = %+v", s.Outbound)
	}

	pgx, ok := findPool(s.Pools, "pgxpool")
	if !ok || pgx.ID != `pgxpool{db="orders"}` || pgx.Gauges[PoolMax] != 2 || pgx.Counters[PoolAcquires] != 40 || pgx.Counters[PoolWaits] != 6 {
		t.Errorf("pgxpool = %+v", pgx)
	}
	if w := pgx.Counters[PoolWaitSeconds]; math.Abs(w-0.048807249) > 1e-9 {
		t.Errorf("pgxpool wait seconds = %v (nanoseconds not scaled?)", w)
	}
	sqlPool, ok := findPool(s.Pools, "database/sql")
	if !ok || sqlPool.Labels["db_name"] != "users" || sqlPool.Gauges[PoolMax] != 2 || sqlPool.Counters[PoolWaits] != 116 {
		t.Errorf("database/sql = %+v", sqlPool)
	}
	rp, ok := findPool(s.Pools, "go-redis")
	if !ok || rp.ID != "go-redis:app_redis" || rp.Counters[PoolHits] != 38 || rp.Counters[PoolMisses] != 2 || rp.Gauges[PoolOpen] != 2 {
		t.Errorf("go-redis = %+v", rp)
	}
	if len(s.Pools) != 3 {
		t.Errorf("pools = %+v", s.Pools)
	}

	r := s.Runtime
	if r.Goroutines == nil || *r.Goroutines != 16 || r.GOMAXPROCS == nil || *r.GOMAXPROCS != 2 || r.GCCPUSeconds == nil || r.TotalCPUSeconds == nil {
		t.Errorf("runtime = %+v", r)
	}
	if r.SchedLatencies == nil || len(r.SchedLatencies.Buckets) != 8 || r.GCPauses == nil || r.GCPauses.Count != 1 || r.HeapAllocBytes == nil || r.GOGC == nil {
		t.Errorf("runtime histograms = sched %v gc %v", r.SchedLatencies != nil, r.GCPauses)
	}
	p := s.Process
	if p.StartTimeSeconds == nil || *p.StartTimeSeconds != 1.7953043022e+09 || p.MaxFDs == nil || p.OpenFDs == nil || p.ResidentBytes == nil || p.CPUSeconds == nil {
		t.Errorf("process = %+v", p)
	}
	if v, ok := s.Value("http_requests_total", map[string]string{"handler": "/users/{id}"}); !ok || v != 120 {
		t.Errorf("Value = %v %v", v, ok)
	}

	// A cumulative window: rates over the process's life.
	w := Diff(nil, s)
	if !w.Cumulative || !w.LengthKnown || w.Seconds <= 0 || w.Requests != 280 || w.Errors != 40 {
		t.Errorf("cumulative window = %+v", w)
	}
	if o := w.Outbound[0]; o.PerInboundRequest != 80.0/280 {
		t.Errorf("outbound per request = %v", o.PerInboundRequest)
	}
}

// TestDiffCumulativeUnknownLength: without process_start_time_seconds the
// cumulative window has deltas but no rates.
func TestDiffCumulativeUnknownLength(t *testing.T) {
	fams, err := Parse(strings.NewReader("# TYPE http_requests_total counter\nhttp_requests_total{handler=\"/a\",code=\"200\"} 10\n"))
	if err != nil {
		t.Fatal(err)
	}
	w := Diff(nil, NewSnapshot(time.Now(), fams, DefaultNames()))
	if !w.Cumulative || w.LengthKnown || w.Seconds != 0 || w.Requests != 10 || w.RPS != 0 || !strings.Contains(w.Note, "length unknown") {
		t.Errorf("window = %+v", w)
	}
}

func TestQuantile(t *testing.T) {
	inf := math.Inf(1)
	h := &Histogram{Count: 100, Sum: 10, Buckets: []Bucket{{0.1, 50}, {0.2, 90}, {0.5, 99}, {1, 100}, {inf, 100}}}
	cases := []struct{ q, want float64 }{
		{0.5, 0.1},   // rank 50 at the top of the first bucket
		{0.25, 0.05}, // interpolated from 0
		{0.9, 0.2},
		{0.7, 0.15},
		{0.99, 0.5},
		{0.995, 0.75},
	}
	for _, c := range cases {
		got, ok := h.Quantile(c.q)
		if !ok || math.Abs(got-c.want) > 1e-9 {
			t.Errorf("Quantile(%v) = %v %v, want %v", c.q, got, ok, c.want)
		}
	}
	// The rank in the +Inf bucket answers the highest finite bound.
	tail := &Histogram{Count: 10, Buckets: []Bucket{{0.1, 5}, {inf, 10}}}
	if got, _ := tail.Quantile(0.99); got != 0.1 {
		t.Errorf("tail = %v", got)
	}
	if _, ok := (&Histogram{Buckets: []Bucket{{0.1, 0}, {inf, 0}}}).Quantile(0.5); ok {
		t.Error("empty histogram has a quantile")
	}
	if _, ok := (&Histogram{Count: 3, Sum: 1}).Quantile(0.5); ok {
		t.Error("summary without buckets has a quantile")
	}
	l := LatencyOf(h)
	if !l.HasPercentiles || l.Mean != 0.1 || l.P50 != 0.1 || l.P99 != 0.5 || l.P95 <= l.P90 {
		t.Errorf("latency = %+v", l)
	}
}

// scrapeRegistry serves a metricstest service without the process collector
// and returns a client for it.
func serve(t *testing.T, cfg metricstest.Config) (string, *Client) {
	t.Helper()
	svc := metricstest.New(cfg)
	var h http.Handler
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h.ServeHTTP(w, r) }))
	t.Cleanup(srv.Close)
	h = svc.Handler(srv.URL)
	c, err := NewClient(srv.URL, HTTPOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return srv.URL, c
}

func TestScrapeLiveService(t *testing.T) {
	info := stacktest.Start(t)
	dsn := stacktest.NewDatabase(t, "probe_metrics")
	ctx := context.Background()
	pcfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	pcfg.MaxConns = 2
	pool, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(2)
	rdb := redis.NewClient(&redis.Options{Addr: info.RedisAddr, PoolSize: 2})
	defer rdb.Close()

	base, c := serve(t, metricstest.Config{Pool: pool, DB: db, Redis: rdb, Process: true})
	names := DefaultNames()
	paths := []string{"/orders", "/users/1", "/feed", "/cache", "/fail"}
	metricstest.Drive(ctx, base, paths, 5, 4)
	first := c.Scrape(ctx, names)
	if !first.Status.Ok() || first.Status.Took <= 0 {
		t.Fatalf("first scrape: %+v", first.Status)
	}
	metricstest.Drive(ctx, base, paths, 30, 8)
	second := c.Scrape(ctx, names)
	if !second.Status.Ok() {
		t.Fatalf("second scrape: %+v", second.Status)
	}
	w := Diff(first, second)
	if w.Cumulative || w.Restarted || w.Resets != 0 || w.Seconds <= 0 {
		t.Fatalf("window = %+v", w)
	}
	// 30 rounds: /feed calls /users twice, so /users/{id} serves 90.
	want := map[string]float64{"/orders": 30, "/users/{id}": 90, "/feed": 30, "/cache": 30, "/fail": 30}
	for _, r := range w.Routes {
		if r.Requests != want[r.Route] {
			t.Errorf("%s: %v requests in the window, want %v", r.Route, r.Requests, want[r.Route])
		}
		if math.Abs(r.RPS-r.Requests/w.Seconds) > 1e-9 || !r.HasLatency || !r.Latency.HasPercentiles {
			t.Errorf("%s: %+v", r.Route, r)
		}
		if r.Latency.P99 < r.Latency.P50 || r.Latency.Count != r.Requests {
			t.Errorf("%s: latency %+v", r.Route, r.Latency)
		}
		switch r.Route {
		case "/fail":
			if r.ErrorRate != 1 {
				t.Errorf("/fail error rate %v", r.ErrorRate)
			}
		case "/orders":
			if r.Latency.P50 < 0.005 { // pg_sleep(0.01) per request
				t.Errorf("/orders p50 = %v", r.Latency.P50)
			}
		}
	}
	if w.Requests != 210 || w.Errors != 30 || math.Abs(w.ErrorRate-30.0/210) > 1e-12 {
		t.Errorf("totals: %v requests %v errors", w.Requests, w.Errors)
	}
	if len(w.Outbound) != 1 || w.Outbound[0].Calls != 60 || w.Outbound[0].PerInboundRequest != 60.0/210 || !w.Outbound[0].HasLatency {
		t.Errorf("outbound = %+v", w.Outbound)
	}
	if !w.HasInFlight {
		t.Error("no in-flight gauge")
	}
	kinds := map[string]PoolRate{}
	for _, p := range w.Pools {
		kinds[p.Kind] = p
	}
	pgx := kinds["pgxpool"]
	if pgx.Deltas[PoolAcquires] != 30 || pgx.Gauges[PoolMax] != 2 || !pgx.HasUtilisation {
		t.Errorf("pgxpool = %+v", pgx)
	}
	if pgx.Deltas[PoolWaits] > 0 && (pgx.WaitSecondsPerSec <= 0 || pgx.MeanWaitSeconds <= 0) {
		t.Errorf("pgxpool waits without wait time: %+v", pgx)
	}
	sqlp := kinds["database/sql"]
	if sqlp.Gauges[PoolMax] != 2 || sqlp.Deltas[PoolWaits] <= 0 || sqlp.WaitsPerSec <= 0 {
		// 8 clients and /feed's hops share 2 connections: some wait.
		t.Errorf("database/sql = %+v", sqlp)
	}
	rp := kinds["go-redis"]
	if rp.Deltas[PoolHits]+rp.Deltas[PoolMisses] < 30 {
		t.Errorf("go-redis = %+v", rp)
	}
	rt := w.Runtime
	if rt.Goroutines == nil || rt.GOMAXPROCS == nil || rt.GCCPUFraction == nil || *rt.GCCPUFraction < 0 || *rt.GCCPUFraction > 1 || !rt.HasSchedLatency {
		t.Errorf("runtime = %+v", rt)
	}
	if w.Process.CPUCores == nil || *w.Process.CPUCores < 0 || w.Process.UptimeSeconds == nil {
		t.Errorf("process = %+v", w.Process)
	}
	if r, ok := w.Rate("http_requests_total", map[string]string{"handler": "/orders"}); !ok || math.Abs(r-30/w.Seconds) > 1e-9 {
		t.Errorf("Rate = %v %v", r, ok)
	}
}

// startChild runs the test binary as a metricstest service process.
func startChild(t *testing.T) (string, func()) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"=1")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		_ = cmd.Process.Kill()
		t.Fatalf("child: %v", err)
	}
	stop := func() {
		stdin.Close()
		_ = cmd.Wait()
	}
	t.Cleanup(stop)
	return strings.TrimSpace(line), stop
}

// TestDiffRestartedProcess: the second scrape comes from a restarted
// process with fewer requests; nothing may be negative.
func TestDiffRestartedProcess(t *testing.T) {
	ctx := context.Background()
	paths := []string{"/fail", "/feed"}
	base1, stop1 := startChild(t)
	metricstest.Drive(ctx, base1, paths, 20, 4)
	c1, _ := NewClient(base1, HTTPOptions{})
	before := c1.Scrape(ctx, DefaultNames())
	stop1()
	time.Sleep(20 * time.Millisecond) // a start time the process collector tells apart

	base2, _ := startChild(t)
	metricstest.Drive(ctx, base2, paths, 3, 2)
	c2, _ := NewClient(base2, HTTPOptions{})
	after := c2.Scrape(ctx, DefaultNames())
	if !before.Status.Ok() || !after.Status.Ok() {
		t.Fatalf("scrapes: %+v %+v", before.Status, after.Status)
	}
	w := Diff(before, after)
	if !w.Restarted {
		t.Errorf("restart not detected: start times %v %v", *before.Process.StartTimeSeconds, *after.Process.StartTimeSeconds)
	}
	checkNonNegative(t, w)
	if fail, ok := findRouteRate(w.Routes, "/fail"); !ok || fail.Requests != 3 {
		t.Errorf("/fail after restart = %+v", fail)
	}
}

// TestDiffCounterReset: the same target's counters go down without a
// process start time (a fresh registry): each counts from zero.
func TestDiffCounterReset(t *testing.T) {
	ctx := context.Background()
	paths := []string{"/fail", "/feed"}
	base1, c1 := serve(t, metricstest.Config{})
	metricstest.Drive(ctx, base1, paths, 20, 4)
	before := c1.Scrape(ctx, DefaultNames())
	base2, c2 := serve(t, metricstest.Config{})
	metricstest.Drive(ctx, base2, paths, 2, 2)
	after := c2.Scrape(ctx, DefaultNames())
	after.Time = before.Time.Add(10 * time.Second)
	w := Diff(before, after)
	if w.Restarted || w.Resets == 0 {
		t.Errorf("restarted %v resets %d", w.Restarted, w.Resets)
	}
	checkNonNegative(t, w)
	if fail, ok := findRouteRate(w.Routes, "/fail"); !ok || fail.Requests != 2 || fail.RPS != 0.2 {
		t.Errorf("/fail after reset = %+v", fail)
	}
	if d, ok := w.Delta("http_requests_total", nil); !ok || d < 0 {
		t.Errorf("Delta = %v", d)
	}
}

func findRouteRate(routes []RouteRate, name string) (RouteRate, bool) {
	for _, r := range routes {
		if r.Route == name {
			return r, true
		}
	}
	return RouteRate{}, false
}

func checkNonNegative(t *testing.T, w *Window) {
	t.Helper()
	for _, r := range w.Routes {
		if r.Requests < 0 || r.RPS < 0 || r.Errors < 0 || r.Latency.Count < 0 || r.Latency.P50 < 0 || r.Latency.Mean < 0 {
			t.Errorf("negative route %+v", r)
		}
	}
	for _, o := range w.Outbound {
		if o.Calls < 0 || o.PerSec < 0 || o.PerInboundRequest < 0 {
			t.Errorf("negative outbound %+v", o)
		}
	}
	for _, p := range w.Pools {
		for k, v := range p.Rates {
			if v < 0 || p.Deltas[k] < 0 {
				t.Errorf("negative pool %s %s", p.ID, k)
			}
		}
	}
	if w.Requests < 0 || w.RPS < 0 || w.Runtime.GCRuns < 0 || (w.Runtime.GCCPUFraction != nil && *w.Runtime.GCCPUFraction < 0) ||
		(w.Process.CPUCores != nil && *w.Process.CPUCores < 0) {
		t.Errorf("negative totals: %+v", w)
	}
}

func TestScrapeFailures(t *testing.T) {
	ctx := context.Background()
	notFound := httptest.NewServer(http.NotFoundHandler())
	defer notFound.Close()
	garbage := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("this is { not metrics\n"))
	}))
	defer garbage.Close()
	html := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("<!doctype html><html><body>app</body></html>"))
	}))
	defer html.Close()
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(5 * time.Second):
		case <-r.Context().Done():
		}
	}))
	defer slow.Close()
	empty := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer empty.Close()
	down := httptest.NewServer(http.NotFoundHandler())
	downURL := down.URL
	down.Close()

	cases := []struct {
		url   string
		state source.State
		text  string
	}{
		{notFound.URL, source.Unavailable, "metrics not served"},
		{garbage.URL, source.Error, "not Prometheus text format"},
		{html.URL, source.Error, "HTML"},
		{slow.URL, source.Unavailable, "did not answer within 300ms"},
		{strings.Replace(downURL, "http://", "http://admin:hunter2@", 1), source.Unavailable, "cannot reach"},
		{empty.URL, source.OK, "serves no metrics"},
	}
	for _, tc := range cases {
		c, err := NewClient(tc.url, HTTPOptions{Timeout: 300 * time.Millisecond, Header: http.Header{"Authorization": {"Bearer tok3n"}}})
		if err != nil {
			t.Fatal(err)
		}
		s := c.Scrape(ctx, DefaultNames())
		if s.Status.State != tc.state || !strings.Contains(s.Status.Detail, tc.text) {
			t.Errorf("%s: status %+v", tc.url, s.Status)
		}
		if strings.Contains(s.Status.Detail, "hunter2") || strings.Contains(s.Status.Detail, "tok3n") {
			t.Errorf("status leaks a secret: %s", s.Status.Detail)
		}
		// A failed scrape still gives a usable, empty snapshot and window.
		w := Diff(nil, s)
		if w == nil || len(w.Routes) != 0 && tc.state != source.OK {
			t.Errorf("%s: window %+v", tc.url, w)
		}
	}
}

// TestFetchErrorIsStatusError checks that a failed fetch is the shared
// source.StatusError, whose state the snapshot's status takes.
func TestFetchErrorIsStatusError(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	defer srv.Close()
	c, err := NewClient(srv.URL, HTTPOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, err = c.Fetch(context.Background())
	var se *source.StatusError
	if !errors.As(err, &se) || se.State != source.Unavailable || !strings.Contains(se.Error(), "metrics not served") {
		t.Errorf("Fetch: %#v", err)
	}
}

func TestNewClientValidates(t *testing.T) {
	for _, bad := range []string{"", "host:9090", "ftp://h/metrics", "http://", "http://a b/"} {
		if _, err := NewClient(bad, HTTPOptions{}); err == nil {
			t.Errorf("NewClient(%q) accepted", bad)
		}
	}
	c, err := NewClient("http://host:9090", HTTPOptions{})
	if err != nil || c.String() != "http://host:9090/metrics" {
		t.Errorf("default path: %v %v", c, err)
	}
	c, _ = NewClient("http://host:9090/prometheus/stats?x=1", HTTPOptions{})
	if c.String() != "http://host:9090/prometheus/stats" {
		t.Errorf("given path: %s", c)
	}
}

func TestNamesExtend(t *testing.T) {
	text := `# TYPE myapp_hits_total counter
myapp_hits_total{view="/home",verb="GET",result="503"} 4
myapp_hits_total{view="/home",verb="GET",result="200"} 6
`
	fams, err := Parse(strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	if s := NewSnapshot(time.Now(), fams, DefaultNames()); len(s.Routes) != 0 {
		t.Errorf("unknown names recognised: %+v", s.Routes)
	}
	n := DefaultNames().Clone()
	n.RequestCounters = append(n.RequestCounters, "myapp_hits_total")
	n.RouteLabels = append(n.RouteLabels, "view")
	n.MethodLabels = append(n.MethodLabels, "verb")
	n.StatusLabels = append(n.StatusLabels, "result")
	s := NewSnapshot(time.Now(), fams, n)
	if len(s.Routes) != 1 || s.Routes[0].Route != "/home" || s.Routes[0].Requests != 10 || s.Routes[0].Errors != 4 {
		t.Errorf("extended names: %+v", s.Routes)
	}
	if len(DefaultNames().RequestCounters) != 2 {
		t.Error("Clone shares slices with DefaultNames")
	}
}

func FuzzParse(f *testing.F) {
	f.Add(readCapture(f, "client_golang.txt")[:3000])
	f.Add([]byte("# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 2\nh_sum 3\nh_count 2\n"))
	f.Add([]byte("# TYPE s summary\ns{quantile=\"0.5\"} 1\ns_sum 1\ns_count 1\n"))
	f.Add([]byte("http_requests_total{handler=\"/\",code=\"500\"} NaN\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		fams, err := Parse(bytes.NewReader(data))
		if err != nil {
			return
		}
		s := NewSnapshot(time.Now(), fams, DefaultNames())
		w := Diff(s, s)
		for _, r := range w.Routes {
			if r.Requests < 0 && !math.IsInf(r.Requests, -1) {
				// A counter the text itself makes negative is reported as
				// read; Diff of a snapshot with itself gives zero deltas.
				t.Fatalf("negative delta %v", r.Requests)
			}
		}
	})
}
