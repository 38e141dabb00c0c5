package main

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/pgadvisor/advisor/internal/load"
	"github.com/pgadvisor/advisor/internal/report"
	"github.com/pgadvisor/advisor/internal/scenario"
	"github.com/pgadvisor/advisor/internal/stack/stacktest"
	"github.com/pgadvisor/advisor/sampleapp"
	"github.com/pgadvisor/advisor/sampleapp/sampletest"
)

// feedRoute is the feed's route as sampleapp's metrics name it.
const feedRoute = "/users/{id}/feed"

// feedRun is one run of sampleapp under a load of its feed alone.
type feedRun struct {
	ctx        context.Context
	t          *testing.T
	dsn, redis string
	dir        string
	bin        string // sampleapp, built once
}

// newFeedRun seeds a database of its own and builds sampleapp.
func newFeedRun(ctx context.Context, t *testing.T, name string) *feedRun {
	t.Helper()
	info := stacktest.Start(t)
	r := &feedRun{ctx: ctx, t: t, dsn: sampletest.Database(t, name, sampleapp.TestSize), redis: info.RedisAddr, dir: t.TempDir(), bin: buildSampleapp(ctx, t)}
	if _, err := sampleapp.Seed(ctx, r.dsn, sampleapp.TestSize, false); err != nil {
		t.Fatal(err)
	}
	return r
}

// report starts sampleapp as a process of its own (as in production: its
// latency is not the test's), tuned but without its cache (every feed reads
// PostgreSQL) and with the given N+1 knob, loads its feed route alone at
// rate requests per second (0: as fast as it answers), and runs advisor
// report on a window of the load with args; it returns the exit code, the
// JSON report's path and standard error.
func (r *feedRun) report(name, nplusone string, rate float64, args ...string) (code int, jsonPath, stderr string) {
	r.t.Helper()
	svc := sampletest.RunProcess(r.t, r.bin, r.dsn, r.redis, "--profile", sampleapp.ProfileTuned, "--knob", sampleapp.KnobNPlusOne+"="+nplusone,
		"--knob", sampleapp.KnobCache+"=none", "--cache-namespace", "compare-"+name)
	defer svc.Stop()
	_, vars, header := sampleapp.LoadMix(sampleapp.TestSize)
	lc := load.Config{BaseURL: svc.Base, Header: header, Vars: vars, Connections: 8, Rate: rate, Timeout: 30 * time.Second,
		Mix: []load.Entry{{Name: sampleapp.MixFeed, Method: http.MethodGet, Path: "/users/{uid}/feed"}}}
	stop := backgroundLoad(r.ctx, r.t, lc)
	defer stop()                // before the service closes
	time.Sleep(2 * time.Second) // pools and plans warm
	jsonPath = filepath.Join(r.dir, name+".json")
	all := append([]string{"report", "--no-config", "--target", svc.Base, "--pg", r.dsn, "--redis", r.redis,
		"--window", "4s", "--profile-seconds", "1", "--fail-on", "never", "--format", "json:" + jsonPath}, args...)
	code, _, stderr = runCaptured(r.t, all...)
	return code, jsonPath, stderr
}

func readJSONReport(t *testing.T, path string) *report.Report {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var rep report.Report
	if err := json.Unmarshal(data, &rep); err != nil {
		t.Fatal(err)
	}
	return &rep
}

// feedQueries is the feed route's queries per request in a report.
func feedQueries(t *testing.T, rep *report.Report) float64 {
	t.Helper()
	if rep.Figures == nil {
		t.Fatal("no figures")
	}
	for _, r := range rep.Figures.Routes {
		if r.Route == feedRoute {
			if r.DBQueriesPerRequest == nil {
				t.Fatalf("feed route without queries per request: %+v", r)
			}
			if !strings.HasPrefix(r.Attribution, "exact") {
				t.Errorf("one loaded route, attribution %q", r.Attribution)
			}
			return *r.DBQueriesPerRequest
		}
	}
	t.Fatalf("no route %s in %+v", feedRoute, rep.Figures.Routes)
	return 0
}

// feedStatement returns the top statement of a report whose text holds
// every part, or nil.
func feedStatement(rep *report.Report, parts ...string) *report.StatementFigures {
	if rep.Statements == nil {
		return nil
	}
	for i := range rep.Statements.Top {
		st := &rep.Statements.Top[i]
		if !slices.ContainsFunc(parts, func(p string) bool { return !strings.Contains(st.Query, p) }) {
			return st
		}
	}
	return nil
}

// The feed's statements: one query per event for the name of its product
// (per-row), or the events joined with the names (batched).
var (
	perRowStatement  = []string{"FROM products WHERE id = $1"}
	batchedStatement = []string{"FROM events e", "LEFT JOIN products p"}
)

// comparedStatement returns a comparison's statement with the given
// queryid, or nil.
func comparedStatement(c *report.Comparison, queryID string) *report.StatementComparison {
	for i := range c.Statements {
		if c.Statements[i].QueryID == queryID {
			return &c.Statements[i]
		}
	}
	return nil
}

// statementFigure is one figure of a compared statement.
func statementFigure(sc *report.StatementComparison, metric string) report.MetricChange {
	for _, m := range sc.Metrics {
		if m.Metric == metric {
			return m
		}
	}
	return report.MetricChange{Metric: metric}
}

// textSection is the text report's comparison: from "Compared with" to the
// findings that appeared.
func textSection(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	text := string(data)
	i, j := strings.Index(text, "Where the time goes"), strings.Index(text, "  findings appeared")
	if i < 0 || j < i {
		return text
	}
	return text[i:j]
}

// validReport checks a JSON report of a live run against the report's
// JSON Schema: real statement texts and comparisons, not the fixtures'.
func validReport(t *testing.T, path string) {
	t.Helper()
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	sch, err := c.Compile(filepath.Join("..", "..", "internal", "report", "schema", "report.schema.json"))
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	doc, err := jsonschema.UnmarshalJSON(f)
	if err != nil {
		t.Fatal(err)
	}
	if err := sch.Validate(doc); err != nil {
		t.Errorf("%s: %v", filepath.Base(path), err)
	}
}

// TestCompareNPlusOne: sampleapp's feed with its N+1 knob on, compared with
// a report of it batched, regresses on queries per request, named on the
// feed's route, and --fail-on-regression exits 1; the reverse (the fix)
// exits 0 and shows queries per request falling. The top statements say
// which statements: the per-event query of the N+1 and the join that
// replaces it, each on its side of the comparison.
func TestCompareNPlusOne(t *testing.T) {
	if testing.Short() {
		t.Skip("end to end")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	r := newFeedRun(ctx, t, "compare_nplusone")
	// A fixed rate, below what the per-row feed serves on a busy 2-core
	// host (440 requests/s on an idle one): as fast as the service
	// answered, the three reports' load kept both CPUs busy for their
	// 20 s (54 CPU-seconds of a CI run's 1,200, 2026-12-05), and every
	// figure checked here is per request or a ratio of rates.
	const rate = 150
	code, batched, stderr := r.report("batched", "batched", rate)
	if code != exitOK {
		t.Fatalf("batched: exit %d: %s", code, stderr)
	}
	code, perRow, stderr := r.report("per-row", "per-row", rate, "--compare", batched, "--fail-on-regression",
		"--format", "markdown:"+filepath.Join(r.dir, "per-row.md"), "--format", "text:"+filepath.Join(r.dir, "per-row.txt"))
	if code != exitRegression {
		t.Errorf("N+1 against batched: exit %d, want %d: %s", code, exitRegression, stderr)
	}
	if !strings.Contains(stderr, "GET "+feedRoute+": queries/request") {
		t.Errorf("stderr does not name the feed's queries per request:\n%s", stderr)
	}
	before, after := readJSONReport(t, batched), readJSONReport(t, perRow)
	qb, qa := feedQueries(t, before), feedQueries(t, after)
	t.Logf("feed queries per request: batched %.2f, per-row %.2f", qb, qa)
	if qb > 5 || qa < 10 || qa < 4*qb {
		t.Errorf("queries per request: batched %.2f (want a few), per-row %.2f (want several times more)", qb, qa)
	}
	c := after.Comparison
	if c == nil || !slices.ContainsFunc(c.Regressions, func(g report.Regression) bool {
		return g.Route == feedRoute && g.Metric == report.MetricDBQueries
	}) {
		t.Errorf("no queries-per-request regression on %s: %+v", feedRoute, c)
	}
	md, err := os.ReadFile(filepath.Join(r.dir, "per-row.md"))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("per-row against batched:\n%s", md[strings.Index(string(md), "## Compared"):strings.Index(string(md), "## Summary")])
	t.Logf("per-row against batched, text:\n%s", textSection(t, filepath.Join(r.dir, "per-row.txt")))

	// The statements: the batched report has the join and not the
	// per-event query; the N+1 report has the per-event query, called
	// about once per event of every feed.
	bj, br := feedStatement(before, batchedStatement...), feedStatement(before, perRowStatement...)
	aj, ar := feedStatement(after, batchedStatement...), feedStatement(after, perRowStatement...)
	if bj == nil || br != nil || ar == nil || aj != nil {
		t.Fatalf("top statements: batched %+v, per-row %+v", before.Statements, after.Statements)
	}
	t.Logf("per-event query: %.0f calls/s per-row, join %.0f calls/s batched", ar.CallsPerS, bj.CallsPerS)
	if ar.CallsPerS < 4*bj.CallsPerS {
		t.Errorf("per-event query %.1f calls/s with the N+1, join %.1f calls/s batched: want several times more", ar.CallsPerS, bj.CallsPerS)
	}
	if sc := comparedStatement(c, ar.QueryID); sc == nil || sc.Only != "after" {
		t.Errorf("the per-event query is not listed as new: %+v", sc)
	}
	if sc := comparedStatement(c, bj.QueryID); sc == nil || sc.Only != "before" {
		t.Errorf("the join is not listed as gone: %+v", sc)
	}

	// The fix: batched against the N+1 report is no regression. At a rate
	// both serve, neither queues, and the p95 of a few milliseconds moves
	// with the shared host beyond any threshold (25 ms per-row, 36 ms
	// batched in a fresh clone's run): the p95 gate is off, as in
	// TestCompareUnchanged, and every other figure keeps its default.
	fixedMD, fixedText := filepath.Join(r.dir, "fixed.md"), filepath.Join(r.dir, "fixed.txt")
	code, fixed, stderr := r.report("fixed", "batched", rate, "--compare", perRow, "--fail-on-regression", "--threshold", "p95_ms=off",
		"--format", "markdown:"+fixedMD, "--format", "text:"+fixedText)
	if code != exitOK {
		t.Errorf("batched against per-row: exit %d, want 0: %s", code, stderr)
	}
	if md, err := os.ReadFile(fixedMD); err == nil {
		t.Logf("batched against per-row:\n%s", md[strings.Index(string(md), "## Compared"):strings.Index(string(md), "## Summary")])
	}
	t.Logf("batched against per-row, text:\n%s", textSection(t, fixedText))
	// The fix's statements: the per-event query's calls/s fall (it leaves
	// the top statements, or is far less called) and the join appears.
	for _, path := range []string{batched, perRow, fixed} {
		validReport(t, path)
	}
	fc := readJSONReport(t, fixed).Comparison
	if fc == nil {
		t.Fatal("the fix has no comparison")
	}
	if sc := comparedStatement(fc, ar.QueryID); sc == nil {
		t.Errorf("the per-event query is not in the fix's comparison: %+v", fc.Statements)
	} else if m := statementFigure(sc, report.StatementCallsPerS); m.Before == nil || (m.After != nil && *m.After > *m.Before/4) {
		t.Errorf("the per-event query's calls/s do not fall with the fix: %+v (only %q)", m, sc.Only)
	}
	if sc := comparedStatement(fc, bj.QueryID); sc == nil || sc.Only != "after" || statementFigure(sc, report.StatementCallsPerS).After == nil {
		t.Errorf("the join does not appear with the fix: %+v", sc)
	}
}

// TestCompareUnchanged: the same service under the same load, reported
// several times, compares without regression every time.
//
// The figures the service decides (queries, rate, errors) hold still with
// the default thresholds. Latency does not on this test's host, shared by
// several test runs on two cores: the p95 of a 2 ms route was measured
// between 9 and 93 ms from one run to the next, beyond any threshold that
// would still catch a regression. The test turns the p95 gate off, as a CI
// job on such a runner must (docs/ci.md says to measure it first), and
// checks the defaults hold for every other figure.
func TestCompareUnchanged(t *testing.T) {
	if testing.Short() {
		t.Skip("end to end")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	r := newFeedRun(ctx, t, "compare_unchanged")
	// Requests per second, well under what the batched feed serves, and
	// 600 in the window: enough above the p95 to compare it.
	const rate = 150
	code, prev, stderr := r.report("run0", "batched", rate)
	if code != exitOK {
		t.Fatalf("run0: exit %d: %s", code, stderr)
	}
	for i := 1; i <= 3; i++ {
		name := "run" + string(rune('0'+i))
		code, cur, stderr := r.report(name, "batched", rate, "--compare", prev, "--fail-on-regression", "--threshold", "p95_ms=off")
		rep := readJSONReport(t, cur)
		if code != exitOK {
			t.Errorf("%s against the previous run: exit %d: %s", name, code, stderr)
		}
		// The defaults, but for latency, on the same two reports.
		before := readJSONReport(t, prev)
		for _, g := range report.Compare(before, rep, report.DefaultThresholds()).Regressions {
			if g.Metric != report.MetricP95 {
				t.Errorf("%s: %s %s regressed with the default thresholds: %v -> %v", name, g.Route, g.Metric, g.Before, g.After)
			}
		}
		if rep.Comparison == nil || rep.Comparison.Service == nil {
			t.Fatalf("%s: no comparison", name)
		}
		for _, rc := range append([]report.RouteComparison{*rep.Comparison.Service}, rep.Comparison.Routes...) {
			if rc.NotCompared != "" || rc.Only != "" {
				t.Errorf("%s: %s: only %q, not compared %q", name, rc.Route, rc.Only, rc.NotCompared)
			}
			for _, m := range rc.Metrics {
				if m.RelativeChange != nil && rc.Route != "" {
					t.Logf("%s %s %s: %.3f -> %.3f (%+.1f%%)", name, rc.Route, m.Metric, *m.Before, *m.After, *m.RelativeChange*100)
				}
			}
		}
		if f := rep.Figures; f != nil && len(f.Routes) > 0 && f.Routes[0].MeanMS != nil {
			t.Logf("%s: mean %.2f ms, %g requests", name, *f.Routes[0].MeanMS, f.Routes[0].Requests)
		}
		prev = cur
	}
}

// BenchmarkReportCompare times advisor report --window 0 on sampleapp after
// a load of its feed, plain and with --compare (an earlier report of the
// same service): the comparison must not add to the report's wall time.
//
//	go test -run '^$' -bench ReportCompare -benchtime 5x ./cmd/advisor/
func BenchmarkReportCompare(b *testing.B) {
	ctx := context.Background()
	info := stacktest.Start(b)
	dsn := sampletest.Database(b, "compare_bench", sampleapp.TestSize)
	s, err := scenario.Start(ctx, scenario.Options{DSN: dsn, RedisAddr: info.RedisAddr, Profile: sampleapp.ProfileTuned,
		Knobs: map[string]string{sampleapp.KnobCache: "none"}, CacheNamespace: "compare-bench"})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	_, vars, header := sampleapp.LoadMix(sampleapp.TestSize)
	if _, err := load.Run(ctx, load.Config{BaseURL: s.App.URL, Header: header, Vars: vars, Connections: 8, Duration: 3 * time.Second,
		Mix: []load.Entry{{Name: sampleapp.MixFeed, Method: http.MethodGet, Path: "/users/{uid}/feed"}}}); err != nil {
		b.Fatal(err)
	}
	before := filepath.Join(b.TempDir(), "before.json")
	common := []string{"report", "--no-config", "--target", s.App.URL, "--pg", dsn, "--redis", info.RedisAddr, "--window", "0", "--fail-on", "never"}
	var out, errOut strings.Builder
	if code := run(ctx, append(common, "--format", "json:"+before), &out, &errOut); code != exitOK {
		b.Fatalf("exit %d: %s", code, errOut.String())
	}
	for _, bc := range []struct {
		name string
		args []string
	}{
		{"plain", []string{"--format", "json", "--format", "markdown:" + filepath.Join(b.TempDir(), "r.md")}},
		{"compare", []string{"--format", "json", "--format", "markdown:" + filepath.Join(b.TempDir(), "r.md"), "--compare", before, "--fail-on-regression"}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				var out, errOut strings.Builder
				if code := run(ctx, append(slices.Clone(common), bc.args...), &out, &errOut); code != exitOK {
					b.Fatalf("exit %d: %s", code, errOut.String())
				}
			}
		})
	}
}
