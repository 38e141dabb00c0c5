package report

import (
	"bytes"
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pgadvisor/advisor/internal/rules"
)

// fixtureComparedPair is an earlier report (one route, one query per
// request, a db.missing-index finding) and a later one where the route
// makes sixteen queries per request, is slower, a second route appeared, the
// missing index is gone and an N+1 finding came.
func fixtureComparedPair() (before, after *Report) {
	fs := fixtureFindings()
	pick := func(rule string) []rules.Finding {
		return slices.DeleteFunc(slices.Clone(fs), func(f rules.Finding) bool { return f.Rule != rule })
	}
	// An hour of requests: enough above the p95 to compare it.
	busy := func(ts *rules.TimeSplit) *rules.TimeSplit {
		ts.Service.Requests, ts.Routes[0].Requests = 18.4*3600, 18.4*3600
		return ts
	}
	before = New(fixtureTime.Add(-time.Hour), 10*time.Second, fixtureSources(), pick("db.missing-index"), Baseline{}).
		WithSplit(busy(fixturePythonSplit()))
	slow := busy(fixturePythonSplit())
	q, dbMS := 16.0, 61.5
	for _, sp := range []*rules.Span{&slow.Service, &slow.Routes[0]} {
		sp.P95MS, sp.P99MS = 2600, 3100
		sp.PerRequest.DBQueries, sp.PerRequest.DBMS = &q, &dbMS
	}
	health := fixtureRoute("GET", "/health", 2, 0.4, 0.3, 0.9)
	slow.Routes = append(slow.Routes, health)
	after = New(fixtureTime, 10*time.Second, fixtureSources(), pick("db.n-plus-one"), Baseline{}).WithSplit(slow).
		WithStatements(fixtureStatementsWindow())
	// Before, the feed's one join, and the update under another queryid
	// (another server): the same text.
	before.WithStatements(fixtureStatementsWindow(
		fixtureStatementRow(10, 555, "SELECT e.id, e.kind, e.created_at, p.name FROM events e LEFT JOIN products p ON p.id = e.product_id WHERE e.user_id = $1 LIMIT $2",
			184, 920, 3680),
		fixtureStatementRow(10, 4200, "UPDATE orders SET status = $1,\n  updated_at = now() WHERE id = $2", 120, 240, 120)))
	return before, after
}

func TestGoldenCompare(t *testing.T) {
	before, after := fixtureComparedPair()
	r := after.Compare(before, DefaultThresholds())
	opts := fixtureOptions()
	opts.FailOnRegression = true
	checkFormatGoldens(t, "compare", r, opts, Formats...)
}

func TestCompareNamesRegressions(t *testing.T) {
	before, after := fixtureComparedPair()
	c := Compare(before, after, DefaultThresholds())
	var got []string
	for _, g := range c.Regressions {
		got = append(got, g.Method+" "+g.Route+" "+g.Metric)
	}
	slices.Sort(got)
	want := []string{"  " + MetricDBQueries, "  " + MetricP95, "GET /items/{item_id} " + MetricDBQueries, "GET /items/{item_id} " + MetricP95}
	if !slices.Equal(got, want) {
		t.Errorf("regressions %q, want %q", got, want)
	}
	// The route of one side only is listed, not compared, not an error.
	i := slices.IndexFunc(c.Routes, func(rc RouteComparison) bool { return rc.Route == "/health" })
	if i < 0 || c.Routes[i].Only != "after" {
		t.Errorf("route only after: %+v", c.Routes)
	}
	if len(c.Appeared) != 1 || c.Appeared[0].Rule != "db.n-plus-one" || len(c.Disappeared) != 1 || c.Disappeared[0].Rule != "db.missing-index" {
		t.Errorf("appeared %+v disappeared %+v", c.Appeared, c.Disappeared)
	}
	// The reverse is an improvement: no regression.
	if back := Compare(after, before, DefaultThresholds()); len(back.Regressions) != 0 {
		t.Errorf("an improvement regresses: %+v", back.Regressions)
	}
}

func TestCompareSelfNoRegression(t *testing.T) {
	r := fixtureSplitReport()
	c := Compare(r, r, DefaultThresholds())
	if len(c.Regressions) != 0 || len(c.Appeared) != 0 || len(c.Disappeared) != 0 {
		t.Errorf("a report against itself: %+v", c)
	}
	for _, rc := range c.Routes {
		for _, mc := range rc.Metrics {
			if mc.Change != nil && *mc.Change != 0 {
				t.Errorf("%s %s changed by %v", rc.Route, mc.Metric, *mc.Change)
			}
		}
	}
}

// TestCompareNoise: a change within the relative threshold or under the
// absolute floor is noise, and so is any change of a route with too few
// requests.
func TestCompareNoise(t *testing.T) {
	f := func(v float64) *float64 { return &v }
	rates := func(requests, p95, queries float64) *Report {
		r := &Report{Schema: SchemaID, WindowSeconds: 10, Figures: &Figures{Service: ServiceFigures{Rates: Rates{RPS: requests / 10, Requests: requests,
			P95MS: f(p95), PerRequest: PerRequest{DBQueriesPerRequest: f(queries)}}}}}
		return r
	}
	cumulative := func(r *Report) *Report {
		r.WindowSeconds = 0
		return r
	}
	buckets := func(r *Report) *Report {
		r.Figures.Service.LatencyBucketsMS = []float64{1, 2.5, 5, 10, 25, 50, 100, 250}
		return r
	}
	for _, tc := range []struct {
		name          string
		before, after *Report
		want          []string
	}{
		{"p95 +30% but +3 ms: under the floor", rates(1000, 10, 1), rates(1000, 13, 1), nil},
		{"p95 +15% and +15 ms: under the relative threshold", rates(1000, 100, 1), rates(1000, 115, 1), nil},
		{"p95 +25% and +25 ms", rates(1000, 100, 1), rates(1000, 125, 1), []string{MetricP95}},
		{"queries 1 -> 1.9: under +1", rates(1000, 10, 1), rates(1000, 10, 1.9), nil},
		{"queries 4 -> 5.5: +1.5 but +37%", rates(1000, 10, 4), rates(1000, 10, 5.5), nil},
		{"queries 1 -> 16", rates(1000, 10, 1), rates(1000, 10, 16), []string{MetricDBQueries}},
		{"rate -50%", rates(1000, 10, 1), rates(500, 10, 1), []string{MetricRPS}},
		{"rate -50%, cumulative", cumulative(rates(1000, 10, 1)), rates(500, 10, 1), nil},
		{"too few requests", rates(50, 10, 1), rates(50, 100, 16), nil},
		{"p95 x10 on 300 requests: too few above the p95", rates(300, 10, 1), rates(300, 100, 1), nil},
		{"p95 16.6 -> 24 ms inside the 10-25 ms bucket", buckets(rates(1000, 16.6, 1)), buckets(rates(1000, 24, 1)), nil},
		{"p95 25 -> 46 ms out of its bucket", buckets(rates(1000, 25, 1)), buckets(rates(1000, 46, 1)), []string{MetricP95}},
		{"p95 16.6 -> 24 ms, buckets differ", buckets(rates(1000, 16.6, 1)), rates(1000, 24, 1), []string{MetricP95}},
	} {
		c := Compare(tc.before, tc.after, DefaultThresholds())
		var got []string
		for _, g := range c.Regressions {
			got = append(got, g.Metric)
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s: regressions %q, want %q", tc.name, got, tc.want)
		}
		if tc.name == "too few requests" && (c.Service == nil || !strings.Contains(c.Service.NotCompared, "too few requests")) {
			t.Errorf("too few requests: the comparison does not say why: %+v", c.Service)
		}
	}
}

func TestThresholdsSet(t *testing.T) {
	th := DefaultThresholds()
	for _, spec := range []string{"p95_ms=+10%,2", "rps=off", "error_share=0.5", "min_requests=20", "p50_ms=-30%"} {
		if err := th.Set(spec); err != nil {
			t.Fatalf("%s: %v", spec, err)
		}
	}
	p95 := th.ByMetric[MetricP95]
	if *p95.Relative != 0.1 || *p95.Absolute != 2 {
		t.Errorf("p95: %+v", p95)
	}
	if th.ByMetric[MetricRPS].Gated() {
		t.Error("rps=off still gates")
	}
	if e := th.ByMetric[MetricErrorShare]; e.Relative != nil || *e.Absolute != 0.005 {
		t.Errorf("error_share in points: %+v", e)
	}
	if th.MinRequests != 20 || *th.ByMetric[MetricP50].Relative != 0.3 || th.ByMetric[MetricP50].Absolute != nil {
		t.Errorf("min_requests %v, p50 %+v", th.MinRequests, th.ByMetric[MetricP50])
	}
	for _, bad := range []string{"p95_ms", "p95=20%", "p95_ms=fast", "p95_ms=10%,20%", "min_requests=-1", "=3"} {
		if err := (&Thresholds{}).Set(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// TestComparisonRoundTrip: a JSON report with a comparison decodes into the
// same report, and compares with itself without regression.
func TestComparisonRoundTrip(t *testing.T) {
	before, after := fixtureComparedPair()
	r := after.Compare(before, DefaultThresholds())
	var got Report
	dec := json.NewDecoder(bytes.NewReader(printJSON(t, r)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&got); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(&got, r) {
		t.Errorf("decoded report differs:\ngot  %+v\nwant %+v", got.Comparison, r.Comparison)
	}
	if err := validate(compileSchema(t, "report.schema.json"), printJSON(t, r)); err != nil {
		t.Errorf("schema: %v", err)
	}
}

// TestNotGatedSaysWhy: text and Markdown say why a figure was not gated.
func TestNotGatedSaysWhy(t *testing.T) {
	f := func(v float64) *float64 { return &v }
	rep := func(window, p95 float64) *Report {
		return &Report{Schema: SchemaID, WindowSeconds: window, Sources: map[string]Source{}, Figures: &Figures{Service: ServiceFigures{
			Rates: Rates{RPS: 100, Requests: 1000, P95MS: f(p95), LatencyBucketsMS: []float64{10, 25, 50}}}}}
	}
	for _, tc := range []struct {
		before, after *Report
		want          string
	}{
		{rep(10, 12), rep(10, 24), "(in its bucket)"},
		{rep(0, 12), rep(10, 12), "(cumulative)"},
	} {
		r := tc.after.Compare(tc.before, DefaultThresholds())
		for _, format := range []Format{FormatText, FormatMarkdown} {
			var b bytes.Buffer
			if err := Print(&b, format, r, Options{}); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(b.String(), tc.want) {
				t.Errorf("%s lacks %q:\n%s", format, tc.want, b.String())
			}
		}
	}
}

// TestCompareStatements: the top statements are matched by queryid, then
// by normalized text (another server's queryid), those of one side listed,
// and none regresses.
func TestCompareStatements(t *testing.T) {
	before, after := fixtureComparedPair()
	c := Compare(before, after, DefaultThresholds())
	type row struct{ id, only, matched, beforeID string }
	var got []row
	for _, sc := range c.Statements {
		got = append(got, row{sc.QueryID, sc.Only, sc.MatchedBy, sc.BeforeQueryID})
	}
	want := []row{
		{"8142305511", "after", "", ""},
		{"-6914734823093498211", "after", "", ""},
		{"42", "", MatchedByQuery, "4200"},
		{"555", "before", "", ""},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("statements %+v, want %+v", got, want)
	}
	upd := c.Statements[2]
	byName := map[string]MetricChange{}
	for _, m := range upd.Metrics {
		byName[m.Metric] = m
	}
	if m := byName[StatementMeanMS]; m.Before == nil || *m.Before != 2 || *m.After != 20 || *m.RelativeChange != 9 || m.Regressed {
		t.Errorf("update mean %+v", m)
	}
	if m := c.Statements[0].Metrics[0]; m.Metric != StatementCallsPerS || m.Before != nil || m.After == nil || *m.After != 200 {
		t.Errorf("events calls/s, only after: %+v", m)
	}
	if !slices.ContainsFunc(c.Notes, func(n string) bool { return strings.Contains(n, "normalized text") }) {
		t.Errorf("notes do not say statements were matched by text: %q", c.Notes)
	}
	// Statements are never gated: a ten times slower statement is shown,
	// not a regression, either way.
	for _, cc := range []*Comparison{c, Compare(after, before, DefaultThresholds())} {
		for _, g := range cc.Regressions {
			if g.Route != "" && g.Route != "/items/{item_id}" {
				t.Errorf("regression outside the routes: %+v", g)
			}
		}
	}
	// Same queryid on both sides: matched by it.
	self := Compare(after, after, DefaultThresholds())
	for _, sc := range self.Statements {
		if sc.MatchedBy != MatchedByQueryID || sc.Only != "" {
			t.Errorf("self comparison: %+v", sc)
		}
	}
	// A side without statements: a note, no statements compared.
	plain, _ := fixtureComparedPair()
	plain.Statements = nil
	if c := Compare(plain, after, DefaultThresholds()); c.Statements != nil ||
		!slices.ContainsFunc(c.Notes, func(n string) bool { return strings.Contains(n, "earlier report has no statements") }) {
		t.Errorf("earlier report without statements: %+v %q", c.Statements, c.Notes)
	}
}

// TestCompareKernelWait: a service whose requests wait unread on its port
// regresses on the kernel's wait while its own latency does not move (a
// blocked event loop); too few readings of the queue on a side, or the
// threshold off, leave it shown and not gated.
func TestCompareKernelWait(t *testing.T) {
	pair := func(beforeWait, afterWait float64, readings int) (before, after *Report) {
		mk := func(wait float64) *Report {
			ts := fixtureLoopSplit()
			ts.Service.Requests, ts.Routes[0].Requests = 82*60, 82*60
			ts.Kernel = &rules.KernelQueue{Queued: wait * 82 / 1000, WaitMS: wait, Readings: readings}
			return New(fixtureTime, 60*time.Second, fixtureSources(), nil, Baseline{}).WithSplit(ts)
		}
		return mk(beforeWait), mk(afterWait)
	}
	kernel := func(c *Comparison) *MetricChange {
		for i, mc := range c.Service.Metrics {
			if mc.Metric == MetricKernelWait {
				return &c.Service.Metrics[i]
			}
		}
		return nil
	}
	before, after := pair(0.6, 206, 24)
	c := Compare(before, after, DefaultThresholds())
	if len(c.Regressions) != 1 || c.Regressions[0].Metric != MetricKernelWait || c.Regressions[0].Route != "" ||
		c.Regressions[0].Before != 0.6 || c.Regressions[0].After != 206 {
		t.Errorf("regressions %+v, want the service's kernel wait alone", c.Regressions)
	}
	if mc := kernel(c); mc == nil || !mc.Regressed {
		t.Errorf("the service's kernel wait %+v, want regressed", mc)
	}
	// The routes have no such figure.
	for _, rc := range c.Routes {
		for _, mc := range rc.Metrics {
			if mc.Metric == MetricKernelWait {
				t.Errorf("route %s has the kernel wait", rc.Route)
			}
		}
	}
	if lines := RegressionLines(c); len(lines) != 1 || !strings.Contains(lines[0], "kernel wait/request") {
		t.Errorf("regression lines %q", lines)
	}
	opts := fixtureOptions()
	opts.FailOnRegression = true
	checkFormatGoldens(t, "compare-kernel", after.Compare(before, DefaultThresholds()), opts, FormatText, FormatMarkdown)
	// Under the absolute floor: 0.6 -> 4 ms is no regression.
	before, after = pair(0.6, 4, 24)
	if c := Compare(before, after, DefaultThresholds()); len(c.Regressions) != 0 {
		t.Errorf("0.6 -> 4 ms regressed: %+v", c.Regressions)
	}
	// A window of a second, four readings: shown, not gated.
	before, after = pair(0.6, 206, 4)
	c = Compare(before, after, DefaultThresholds())
	if mc := kernel(c); len(c.Regressions) != 0 || mc == nil || !strings.Contains(mc.NotGated, "readings of the kernel's queue") {
		t.Errorf("four readings: regressions %+v, figure %+v", c.Regressions, mc)
	}
	// Off.
	th := DefaultThresholds()
	if err := th.Set(MetricKernelWait + "=off"); err != nil {
		t.Fatal(err)
	}
	before, after = pair(0.6, 206, 24)
	if c := Compare(before, after, th); len(c.Regressions) != 0 || kernel(c) == nil {
		t.Errorf("threshold off: regressions %+v", c.Regressions)
	}
	// One side without the queue: listed with its side only.
	before, after = pair(0.6, 206, 24)
	before.Figures.KernelQueue = nil
	if c := Compare(before, after, DefaultThresholds()); len(c.Regressions) != 0 || kernel(c) == nil || kernel(c).Before != nil {
		t.Errorf("one side: regressions %+v, figure %+v", c.Regressions, kernel(c))
	}
}
