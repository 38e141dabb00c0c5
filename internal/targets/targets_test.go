package targets

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/pgadvisor/advisor/internal/load"
	"github.com/pgadvisor/advisor/internal/stack/stacktest"
)

// spec is what a test expects of one kind of target.
type spec struct {
	kind Kind
	// routeLabel is the label that names the route in the HTTP metrics;
	// routes maps each load entry to its value.
	routeLabel string
	routes     map[string]string
	// info is the runtime's info metric; extra are metrics that must be
	// there besides the HTTP ones.
	info  string
	extra []string
	naive profileSpec
	tuned profileSpec
}

type profileSpec struct {
	workers int
	// maxSessions bounds the sessions the pool may hold.
	maxSessions int
	// Statement calls per GET /posts: at least minCalls, at most maxCalls.
	minCalls, maxCalls float64
	// aliases: the statements carry SQLAlchemy's "AS table_column" aliases.
	aliases bool
}

var fastapiSpec = spec{
	kind:       FastAPI,
	routeLabel: "handler",
	routes: map[string]string{
		"posts":  "/posts",
		"user":   "/users/{user_id}",
		"orders": "/users/{user_id}/orders",
		"events": "/users/{user_id}/events",
		"token":  "/users/{user_id}/token",
	},
	info:  "python_info",
	extra: []string{"http_request_duration_highr_seconds", "http_requests_inprogress", "process_start_time_seconds"},
	// lazy: the page, then an author and the comments per post (20 each),
	// in a transaction (BEGIN ... ROLLBACK).
	naive: profileSpec{workers: 1, maxSessions: 2, minCalls: 40, maxCalls: 50, aliases: true},
	// selectin: the page, the authors, the comments.
	tuned: profileSpec{workers: 2, maxSessions: 2 * (5 + 10), minCalls: 3, maxCalls: 6, aliases: true},
}

var expressSpec = spec{
	kind:       Express,
	routeLabel: "route",
	routes: map[string]string{
		"posts":  "/posts",
		"user":   "/users/:userId",
		"orders": "/users/:userId/orders",
		"events": "/users/:userId/events",
		"token":  "/users/:userId/token",
	},
	info:  "nodejs_version_info",
	extra: []string{"nodejs_eventloop_lag_p99_seconds", "nodejs_eventloop_utilization"},
	// loop: the page, then an author and the comments per post.
	naive: profileSpec{workers: 1, maxSessions: 2, minCalls: 40, maxCalls: 42},
	// = ANY($1): the page, the authors, the comments.
	tuned: profileSpec{workers: 2, maxSessions: 2 * 10, minCalls: 3, maxCalls: 3},
}

func TestFastAPI(t *testing.T) {
	t.Parallel()
	testTarget(t, fastapiSpec)
}

func TestExpress(t *testing.T) {
	t.Parallel()
	testTarget(t, expressSpec)
}

// testTarget starts the naive profile on a new database, then the tuned one
// on the same data, and checks each.
func testTarget(t *testing.T, s spec) {
	ctx := t.Context()
	// The tiny data set: these tests count requests and statements, not
	// the missing index's cost.
	naive := Start(ctx, t, s.kind, Options{Profile: "naive", Size: "tiny"})
	checkTarget(ctx, t, naive, s, s.naive)
	if err := naive.Stop(); err != nil {
		t.Errorf("stop naive: %v", err)
	}
	if left := naive.PIDs(); len(left) > 0 {
		t.Errorf("processes left after Stop: %v", left)
	}
	tuned := Start(ctx, t, s.kind, Options{Profile: "tuned", Database: naive.DSN})
	checkTarget(ctx, t, tuned, s, s.tuned)
}

func checkTarget(ctx context.Context, t *testing.T, tg *Target, s spec, want profileSpec) {
	t.Helper()
	checkWorkers(t, tg, want.workers)

	conn, err := pgx.Connect(ctx, tg.DSN)
	if err != nil {
		t.Fatalf("connect to the target's database: %v", err)
	}
	defer conn.Close(context.Background())

	checkStatementsPerRequest(ctx, t, tg, conn, want)
	before := scrape(ctx, t, tg)
	cpu0 := workerCPU(t, tg)
	res := runLoad(ctx, t, tg)
	// Right after the load, before node-postgres closes idle clients (10 s).
	checkSessions(ctx, t, tg, conn, want)
	after := scrapeSettled(ctx, t, tg, s, before, res)
	checkMetrics(t, tg, s, before, after, res)
	checkProcessCPU(ctx, t, tg, before, cpu0)
}

// checkWorkers: one worker is the launcher itself; more are its children.
func checkWorkers(t *testing.T, tg *Target, want int) {
	t.Helper()
	workers := tg.Workers()
	if len(workers) != want {
		t.Fatalf("worker processes %v, want %d", workers, want)
	}
	if want == 1 {
		if workers[0] != tg.PID {
			t.Errorf("single worker %d is not the launcher %d", workers[0], tg.PID)
		}
		return
	}
	for _, pid := range workers {
		if ppid, err := parentPID(pid); err != nil || ppid != tg.PID {
			t.Errorf("worker %d: parent %d (%v), want the launcher %d", pid, ppid, err, tg.PID)
		}
		if !slices.Contains(tg.PIDs(), pid) {
			t.Errorf("worker %d is not in the target's process group %v", pid, tg.PIDs())
		}
	}
}

// checkStatementsPerRequest counts in pg_stat_statements the statements a
// GET /posts runs: about 2 per post with the N+1, a handful without.
func checkStatementsPerRequest(ctx context.Context, t *testing.T, tg *Target, conn *pgx.Conn, want profileSpec) {
	t.Helper()
	const requests = 10
	calls := func() float64 {
		var n float64
		err := conn.QueryRow(ctx, `SELECT coalesce(sum(calls), 0)::float8 FROM pg_stat_statements s
			JOIN pg_database d ON d.oid = s.dbid
			WHERE d.datname = current_database() AND s.query NOT LIKE '%pg_stat%'`).Scan(&n)
		if err != nil {
			t.Fatalf("read pg_stat_statements: %v", err)
		}
		return n
	}
	// The first request of a process may run set-up statements
	// (SQLAlchemy's dialect initialisation); http.DefaultClient keeps its
	// connection, and so its worker process.
	get(ctx, t, tg.BaseURL+"/posts?page=1")
	base := calls()
	for i := range requests {
		get(ctx, t, fmt.Sprintf("%s/posts?page=%d", tg.BaseURL, i+1))
	}
	per := (calls() - base) / requests
	t.Logf("%s: %.1f statement calls per GET /posts", tg.Kind, per)
	if per < want.minCalls || per > want.maxCalls {
		t.Errorf("statement calls per GET /posts: %.1f, want %.0f to %.0f", per, want.minCalls, want.maxCalls)
	}
	if want.aliases {
		var n int
		err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_stat_statements s
			JOIN pg_database d ON d.oid = s.dbid
			WHERE d.datname = current_database() AND s.query LIKE '%users.id AS users_id%'`).Scan(&n)
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			t.Errorf("no statement with SQLAlchemy's AS table_column aliases in pg_stat_statements")
		}
	}
}

// runLoad sends a short bounded mix over every route: at most 400 requests,
// for 3 s.
func runLoad(ctx context.Context, t *testing.T, tg *Target) *load.Result {
	t.Helper()
	const timeout = 15 * time.Second
	res, err := load.Run(ctx, load.Config{
		BaseURL: tg.BaseURL,
		Mix: []load.Entry{
			{Name: "posts", Path: "/posts?page={page}", Weight: 2},
			{Name: "user", Path: "/users/{user}", Weight: 2},
			{Name: "orders", Path: "/users/{user}/orders"},
			{Name: "events", Path: "/users/{user}/events"},
			{Name: "token", Path: "/users/{user}/token"},
		},
		Vars: map[string]load.Range{"page": {Min: 1, Max: 50}, "user": {Min: 1, Max: 1000}},
		// A connection per request: every worker process gets its share of
		// the connections, which the kernel or the cluster's primary deals.
		Header:      http.Header{"Connection": {"close"}},
		Connections: loadConnections,
		MaxRequests: 400,
		Duration:    3 * time.Second,
		Timeout:     timeout,
	})
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	t.Logf("%s load: %d requests (%d answered), %.0f/s, p50 %v, p95 %v, max %v, errors %v", tg.Kind, res.Requests, res.Answered,
		res.RPS, res.Latency.P50, res.Latency.P95, res.Latency.Max, res.ErrorsByKind)
	// A request of this run can only time out if the service kept it for
	// the whole timeout, five times the run: a timeout is a service that
	// stopped answering (its log says why), never a busy machine. (The load
	// generator used to count dials just past the run's end as timeouts.)
	if n := res.ErrorsByKind[load.KindTimeout]; n > 0 {
		t.Errorf("load: %d requests got no answer in %s: the service stopped answering\n%s", n, timeout, tg.Log())
	} else if res.Errors > 0 {
		t.Errorf("load: %d errors: %v\n%s", res.Errors, res.ErrorsByKind, tg.Log())
	}
	if res.Requests < 10 {
		t.Fatalf("load: only %d requests", res.Requests)
	}
	return res
}

const loadConnections = 8

// scrapeSettled scrapes /metrics until the counters hold at least the
// requests the load saw answered, and each route's duration histogram has
// counted as many as its counter: the service may count a request after it
// sent the answer, and a request the end of the load cut off may be in its
// histogram and not yet in its counter (seen with two uvicorn workers); on
// FastAPI, the unlabelled fine histogram has counted every request too.
// Past 10 s it returns the last scrape, for checkMetrics to report.
func scrapeSettled(ctx context.Context, t *testing.T, tg *Target, s spec, before map[string]*dto.MetricFamily, res *load.Result) map[string]*dto.MetricFamily {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		after := scrape(ctx, t, tg)
		settled := true
		for entry, route := range s.routes {
			d := sum(after, "http_requests_total", s.routeLabel, route) - sum(before, "http_requests_total", s.routeLabel, route)
			if d < float64(res.PerEntry[entry].Answered) {
				settled = false
			}
			observed := histogramCount(after, "http_request_duration_seconds", s.routeLabel, route) -
				histogramCount(before, "http_request_duration_seconds", s.routeLabel, route)
			if observed != d {
				settled = false
			}
		}
		if s.kind == FastAPI && highrCount(after)-highrCount(before) != sum(after, "http_requests_total", "", "")-sum(before, "http_requests_total", "", "") {
			settled = false
		}
		if settled || time.Now().After(deadline) {
			return after
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func checkMetrics(t *testing.T, tg *Target, s spec, before, after map[string]*dto.MetricFamily, res *load.Result) {
	t.Helper()
	for entry, route := range s.routes {
		// The service counts every request it answered: each one the load
		// saw answered (whatever the status), those whose answer the load
		// lost (a transport error, which runLoad reports), and up to one
		// per connection that the end of the load cut off, which the load
		// does not count but the service may have answered.
		e := res.PerEntry[entry]
		answered, lost := float64(e.Answered), float64(e.Requests-e.Answered)
		counted := sum(after, "http_requests_total", s.routeLabel, route) - sum(before, "http_requests_total", s.routeLabel, route)
		if counted < answered || counted > answered+lost+loadConnections {
			t.Errorf("http_requests_total{%s=%q} went up by %.0f; the load got %.0f answers, lost %.0f, and had %d connections",
				s.routeLabel, route, counted, answered, lost, loadConnections)
		}
		observed := histogramCount(after, "http_request_duration_seconds", s.routeLabel, route) -
			histogramCount(before, "http_request_duration_seconds", s.routeLabel, route)
		if observed != counted {
			t.Errorf("http_request_duration_seconds{%s=%q} count went up by %.0f, the counter by %.0f", s.routeLabel, route, observed, counted)
		}
		if histogramSum(after, "http_request_duration_seconds", s.routeLabel, route) <= histogramSum(before, "http_request_duration_seconds", s.routeLabel, route) {
			t.Errorf("http_request_duration_seconds{%s=%q} sum did not grow", s.routeLabel, route)
		}
	}
	if d := sum(after, "process_cpu_seconds_total", "", "") - sum(before, "process_cpu_seconds_total", "", ""); d <= 0 {
		t.Errorf("process_cpu_seconds_total went up by %g under load", d)
	}
	if v := sum(after, s.info, "", ""); v != 1 {
		t.Errorf("%s = %g, want 1", s.info, v)
	}
	for _, name := range s.extra {
		if after[name] == nil {
			t.Errorf("no %s in /metrics", name)
		}
	}
	if s.kind == FastAPI {
		// The unlabelled fine histogram sees every request.
		total := sum(after, "http_requests_total", "", "") - sum(before, "http_requests_total", "", "")
		highr := highrCount(after) - highrCount(before)
		if highr != total {
			t.Errorf("http_request_duration_highr_seconds count went up by %.0f, http_requests_total by %.0f", highr, total)
		}
	}
}

// highrCount is the count of the instrumentator's unlabelled fine latency
// histogram (FastAPI).
func highrCount(m map[string]*dto.MetricFamily) float64 {
	return histogramCount(m, "http_request_duration_highr_seconds", "", "")
}

// workerCPU returns the CPU time of each worker process so far.
func workerCPU(t *testing.T, tg *Target) map[int]time.Duration {
	t.Helper()
	cpu := map[int]time.Duration{}
	for _, pid := range tg.Workers() {
		c, err := CPUTime(pid)
		if err != nil {
			t.Fatal(err)
		}
		cpu[pid] = c
	}
	return cpu
}

// checkProcessCPU: process_cpu_seconds_total grew by the CPU every worker
// process used, added up, as /proc counts it. (prom-client counts from the
// time its metrics were registered, so only the growth compares.) before
// and cpu0 were read just before the load.
func checkProcessCPU(ctx context.Context, t *testing.T, tg *Target, before map[string]*dto.MetricFamily, cpu0 map[int]time.Duration) {
	t.Helper()
	cpu1 := workerCPU(t, tg)
	var used, most time.Duration
	for pid, c := range cpu1 {
		d := c - cpu0[pid]
		used += d
		most = max(most, d)
		// Every worker must have served part of the load, or the sum over
		// workers is not tested.
		if len(cpu1) > 1 && d < 20*time.Millisecond {
			t.Errorf("worker %d used %v of CPU under load: it served nothing", pid, d)
		}
	}
	// The FastAPI workers copy their CPU time into the shared metric every
	// half second.
	time.Sleep(1200 * time.Millisecond)
	grew := sum(scrape(ctx, t, tg), "process_cpu_seconds_total", "", "") - sum(before, "process_cpu_seconds_total", "", "")
	var group0 time.Duration
	for _, c := range cpu0 {
		group0 += c
	}
	all, err := CPUTime(tg.PIDs()...)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s: under load process_cpu_seconds_total grew by %.2f s; the workers used %.2f s (the busiest %.2f s)",
		tg.Kind, grew, used.Seconds(), most.Seconds())
	// The metric may lag /proc by half a second of CPU at the start (FastAPI).
	if grew < 0.95*used.Seconds()-0.02 || grew > (all-group0).Seconds()+0.6 {
		t.Errorf("process_cpu_seconds_total grew by %.2f s under load, the workers used %.2f s", grew, used.Seconds())
	}
}

// checkSessions: pg_stat_activity shows the pools' sessions under the
// target's application_name.
func checkSessions(ctx context.Context, t *testing.T, tg *Target, conn *pgx.Conn, want profileSpec) {
	t.Helper()
	var n int
	err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
		WHERE datname = current_database() AND application_name = $1
			AND backend_type = 'client backend'`, tg.Kind.ApplicationName()).Scan(&n)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s: %d sessions named %s in pg_stat_activity", tg.Kind, n, tg.Kind.ApplicationName())
	// Each worker keeps at least one session in its pool after the load.
	if n < want.workers || n > want.maxSessions {
		t.Errorf("%d sessions named %s, want %d to %d", n, tg.Kind.ApplicationName(), want.workers, want.maxSessions)
	}
}

func get(ctx context.Context, t *testing.T, url string) []byte {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s: %s", url, resp.Status, body)
	}
	return body
}

func scrape(ctx context.Context, t *testing.T, tg *Target) map[string]*dto.MetricFamily {
	t.Helper()
	body := get(ctx, t, tg.BaseURL+"/metrics")
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(string(body)))
	if err != nil {
		t.Fatalf("parse /metrics: %v\n%s", err, body)
	}
	return fams
}

// matching returns the metrics of the family name whose label has value
// (all of them when label is empty).
func matching(fams map[string]*dto.MetricFamily, name, label, value string) []*dto.Metric {
	f := fams[name]
	if f == nil {
		return nil
	}
	var ms []*dto.Metric
	for _, m := range f.GetMetric() {
		if label == "" || slices.ContainsFunc(m.GetLabel(), func(l *dto.LabelPair) bool {
			return l.GetName() == label && l.GetValue() == value
		}) {
			ms = append(ms, m)
		}
	}
	return ms
}

// sum adds up the counter, gauge or untyped values of the matching metrics.
func sum(fams map[string]*dto.MetricFamily, name, label, value string) float64 {
	var s float64
	for _, m := range matching(fams, name, label, value) {
		switch {
		case m.Counter != nil:
			s += m.GetCounter().GetValue()
		case m.Gauge != nil:
			s += m.GetGauge().GetValue()
		case m.Untyped != nil:
			s += m.GetUntyped().GetValue()
		}
	}
	return s
}

func histogramCount(fams map[string]*dto.MetricFamily, name, label, value string) float64 {
	var s float64
	for _, m := range matching(fams, name, label, value) {
		s += float64(m.GetHistogram().GetSampleCount())
	}
	return s
}

func histogramSum(fams map[string]*dto.MetricFamily, name, label, value string) float64 {
	var s float64
	for _, m := range matching(fams, name, label, value) {
		s += m.GetHistogram().GetSampleSum()
	}
	return s
}

// TestKnobErrors: a wrong knob is a usage error (exit 2) that says what is
// wrong, before anything connects.
func TestKnobErrors(t *testing.T) {
	t.Parallel()
	root, err := stacktest.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	for _, kind := range []Kind{FastAPI, Express} {
		if err := CheckPrerequisites(t.Context(), root, kind); err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct{ knob, says string }{
			{"bogus=1", "unknown knob"},
			{"workers=zero", "workers"},
			{"index=maybe", "index"},
		} {
			name, args := commandLine(kind, "serve", "--knob", c.knob)
			cmd := exec.CommandContext(t.Context(), name, args...)
			cmd.Dir = filepath.Join(root, "targets", string(kind))
			cmd.Env = append(cmd.Environ(), "DATABASE_URL=postgres://nobody@127.0.0.1:1/none")
			out, err := cmd.CombinedOutput()
			if code := cmd.ProcessState.ExitCode(); code != 2 || !strings.Contains(string(out), c.says) {
				t.Errorf("%s --knob %s: exit %d (%v), output %q; want exit 2 saying %q", kind, c.knob, code, err, out, c.says)
			}
		}
	}
}

// TestPrerequisiteErrors: a missing interpreter or module says what to do.
func TestPrerequisiteErrors(t *testing.T) {
	t.Parallel()
	err := checkPython(t.Context(), "/nonexistent/python3", pythonModules)
	if err == nil || !strings.Contains(err.Error(), "run make setup") {
		t.Errorf("missing interpreter: %v", err)
	}
	modules := append(slices.Clone(pythonModules), pythonModule{"advisor_no_such_module", "python3-advisor-none"})
	err = checkPython(t.Context(), Python, modules)
	if err == nil || !strings.Contains(err.Error(), "cannot import advisor_no_such_module (package python3-advisor-none)") {
		t.Errorf("missing module: %v", err)
	}
	if err := checkNode(t.TempDir()); err == nil || !strings.Contains(err.Error(), "run make setup") {
		t.Errorf("missing node_modules: %v", err)
	}
}

func TestDatabaseName(t *testing.T) {
	for in, want := range map[string]string{
		"TestFastAPI":            "targets_testfastapi",
		"TestX/sub_test#01":      "targets_testx_sub_test_01",
		strings.Repeat("a", 100): "targets_" + strings.Repeat("a", 55),
	} {
		if got := databaseName(in); got != want {
			t.Errorf("databaseName(%q) = %q, want %q", in, got, want)
		}
	}
	// The names handed out so far live as long as the process: forget this
	// test's, so that it also passes with -count.
	namesMu.Lock()
	delete(names, "targets_testtwice")
	namesMu.Unlock()
	if a, b := newDatabaseName("TestTwice"), newDatabaseName("TestTwice"); a != "targets_testtwice" || b != "targets_testtwice_2" {
		t.Errorf("two new databases of one test: %q, %q", a, b)
	}
	if got := Redact("postgres://u:secret@127.0.0.1:5432/db"); strings.Contains(got, "secret") {
		t.Errorf("Redact kept the password: %s", got)
	}
}
