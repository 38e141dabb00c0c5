package report

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/charmbracelet/x/ansi"

	"github.com/pgadvisor/advisor/internal/rules"
)

// fixtureRoute is a route of the split fixtures: rate and latencies, its
// requests in flight by Little's law.
func fixtureRoute(method, route string, rps, meanMS, p50MS, p95MS float64) rules.Span {
	return rules.Span{Route: route, Method: method, RPS: rps, MeanMS: meanMS, P50MS: p50MS, P95MS: p95MS, P99MS: p95MS * 1.25,
		HasLatency: true, InFlight: rps * meanMS / 1000, InFlightFrom: "rate x latency", Requests: rps * 10}
}

// fixtureParts splits meanMS by shares, in rules.Parts order.
func fixtureParts(meanMS float64, from string, shares map[string]float64) []rules.Part {
	var out []rules.Part
	for _, name := range rules.Parts {
		if s, ok := shares[name]; ok {
			out = append(out, rules.Part{Name: name, MSPerRequest: meanMS * s, Share: s, From: from})
		}
	}
	return out
}

// fixtureGoSplit is the split of a Go service measured from goroutine
// dumps, as rules.Split builds it: five routes (one without a latency
// histogram), the service's parts, and three handlers.
func fixtureGoSplit() *rules.TimeSplit {
	ts := &rules.TimeSplit{Runtime: "go", Method: "goroutine dumps"}
	ts.Routes = []rules.Span{
		fixtureRoute("GET", "/api/orders", 40, 80, 52, 212),
		fixtureRoute("GET", "/users/{id}/feed", 30, 55, 41, 130),
		fixtureRoute("POST", "/api/orders", 4, 160, 150, 190),
		fixtureRoute("GET", "/health", 10, 0.4, 0.3, 0.9),
		{Route: "/static/{path}", RPS: 0.2},
	}
	svc := rules.Span{InFlightFrom: "rate x latency", HasLatency: true, Share: 1, P95MS: 212}
	var p50w float64
	for _, r := range ts.Routes {
		svc.RPS += r.RPS
		svc.InFlight += r.InFlight
		p50w += r.P50MS * r.RPS
	}
	for i := range ts.Routes {
		ts.Routes[i].Share = ts.Routes[i].InFlight / svc.InFlight
		svc.Requests += ts.Routes[i].Requests
	}
	ts.Routes[0].ErrorShare = 0.02
	svc.ErrorShare = ts.Routes[0].ErrorShare * ts.Routes[0].Requests / svc.Requests
	svc.P99MS = 265
	svc.PerRequest = fixturePerRequest(6.2, 28.4, 1.5, "every route together: the sources' totals over every route's requests")
	ts.Notes = append(ts.Notes, "queries, database time, Redis and outbound calls and CPU per request are the service's: "+
		"several routes shared the window, and no source tells them apart by route")
	svc.MeanMS = svc.InFlight / svc.RPS * 1000
	svc.P50MS = p50w / svc.RPS
	const from = "goroutine dumps (1840 handler samples)"
	svc.Parts = fixtureParts(svc.MeanMS, from, map[string]float64{
		rules.PartDB: 0.43, rules.PartDBPool: 0.18, rules.PartLock: 0.15, rules.PartCPU: 0.09,
		rules.PartOutbound: 0.07, rules.PartOther: 0.08})
	ts.Service = svc
	handler := func(name string, share float64, shares map[string]float64) rules.Span {
		return rules.Span{Route: name, Share: share, Parts: fixtureParts(0, from, shares)}
	}
	ts.Handlers = []rules.Span{
		handler("github.com/acme/shop/internal/orders.(*Handler).List", 0.55,
			map[string]float64{rules.PartDB: 0.5, rules.PartDBPool: 0.3, rules.PartCPU: 0.1, rules.PartOther: 0.1}),
		handler("github.com/acme/shop/internal/feed.(*Handler).Feed", 0.35,
			map[string]float64{rules.PartLock: 0.4, rules.PartDB: 0.4, rules.PartCPU: 0.1, rules.PartOther: 0.1}),
		handler("github.com/acme/shop/internal/orders.(*Handler).Create", 0.1,
			map[string]float64{rules.PartOutbound: 0.7, rules.PartCPU: 0.2, rules.PartOther: 0.1}),
	}
	// Served on advisor's host, 3.4 of its 4 CPUs busy: half-way to
	// CPU-bound, 5.25 tasks running or ready to run on average.
	ts.Host = &rules.HostCPU{Cores: 4, BusyCores: 3.4, BusyShare: 0.85, MSPerRequest: 3.4 * 1000 / svc.RPS, Bound: 0.5, HostRunnable: 5.25}
	return ts
}

// fixturePythonSplit is the split of a Python service from its metrics and
// its database: one route, an in-flight gauge, no process CPU metric.
func fixturePythonSplit() *rules.TimeSplit {
	return fixtureGaugeSplit("GET", "/items/{item_id}", 18.4, 1650, 1400, 1900, 30.2, 42.3)
}

// fixtureLoopSplit is the split of a Python service whose one worker's
// event loop a synchronous database call blocks: its metrics count 3
// requests in flight, each of 36.6 ms, while 16.9 more wait unread on its
// port, 206 ms each.
func fixtureLoopSplit() *rules.TimeSplit {
	ts := fixtureGaugeSplit("GET", "/users/{id}/events", 82, 36.6, 30, 95, 3, 30.1)
	ts.Kernel = &rules.KernelQueue{Queued: 16.9, WaitMS: 16.9 / 82 * 1000, Readings: 24}
	return ts
}

// fixtureGaugeSplit is the split of a Python service with one route and an
// in-flight gauge, from its metrics and its database: one query of dbMS per
// request, the rest of the mean latency other.
func fixtureGaugeSplit(method, path string, rps, meanMS, p50MS, p95MS, inFlight, dbMS float64) *rules.TimeSplit {
	route := fixtureRoute(method, path, rps, meanMS, p50MS, p95MS)
	route.Share = 1
	svc := route
	svc.Route, svc.Method = "", ""
	svc.InFlight, svc.InFlightFrom = inFlight, "gauge"
	svc.Parts = []rules.Part{
		{Name: rules.PartDB, MSPerRequest: dbMS, Share: dbMS / meanMS, From: "pg_stat_statements (execution time of the window's statements)"},
		{Name: rules.PartOther, MSPerRequest: meanMS - dbMS, Share: (meanMS - dbMS) / meanMS, From: "the rest: waiting inside the service for nothing advisor can see"},
	}
	svc.PerRequest = fixturePerRequest(1, dbMS, 0, "every route together: the sources' totals over every route's requests")
	route.PerRequest = fixturePerRequest(1, dbMS, 0, "exact: the only route with requests in the window")
	route.Parts = svc.Parts
	return &rules.TimeSplit{Runtime: "python", Method: "metrics and database", Service: svc, Routes: []rules.Span{route},
		Notes: []string{"no process CPU metric (process_cpu_seconds_total): CPU time is counted in other"}}
}

// fixturePerRequest are per-request figures of PostgreSQL and Redis (none
// of Redis when redis is 0), without CPU or outbound calls.
func fixturePerRequest(queries, dbMS, redis float64, attribution string) *rules.PerRequest {
	pr := &rules.PerRequest{DBQueries: &queries, DBMS: &dbMS, Attribution: attribution,
		From: map[string]string{"db_queries": "pg_stat_statements (top-level statements)", "db_ms": "pg_stat_statements (top-level statements) execution time"}}
	if redis > 0 {
		pr.RedisCalls = &redis
		pr.From["redis_calls"] = "Redis INFO commandstats"
	}
	return pr
}

// fixtureSavings gives some of the fixture's findings what their fix
// saves, one of them no request time.
func fixtureSavings() []rules.Finding {
	fs := fixtureFindings()
	for i := range fs {
		switch fs[i].Rule {
		case "db.missing-index":
			fs[i].Saves = &rules.Saving{MSPerRequest: 21.4, Share: 0.328, Basis: "db part: the statement's 76% of the window's statement time"}
		case "app.blocking-io":
			fs[i].Saves = &rules.Saving{MSPerRequest: 4.6, Share: 0.07, Basis: "outbound part of GET /api/orders (goroutine dumps)"}
		case "db.n-plus-one":
			fs[i].Saves = &rules.Saving{MSPerRequest: 0.62, Share: 0.0095, Basis: "db part: 50 of the 51 statements per request"}
		case "db.unused-index":
			fs[i].Saves = &rules.Saving{NotRequestTime: true, Basis: "an unused index costs writes and disk, not request time"}
		}
	}
	return fs
}

// fixtureSplitReport is the report of the split goldens: the fixture's
// findings, with savings, and the Go split.
func fixtureSplitReport() *Report {
	return New(fixtureTime, 10*time.Second, fixtureSources(), fixtureSavings(), fixtureBaseline()).WithSplit(fixtureGoSplit())
}

// TestPercentileText: a percentile in a histogram's first bucket is only
// known to be under its bound, one past the last finite bound over it.
func TestPercentileText(t *testing.T) {
	bounds := []float64{100, 500, 1000}
	for _, c := range []struct {
		ms     float64
		bounds []float64
		want   string
	}{
		{50, bounds, "≤100 ms"},
		{100, bounds, "≤100 ms"},
		{300, bounds, "300 ms"},
		{1000, bounds, "≥1.0 s"},
		{95, nil, "95 ms"},
		{0, bounds, "0.00 ms"},
	} {
		if got := PercentileText(c.ms, c.bounds); got != c.want {
			t.Errorf("PercentileText(%g, %v) = %q, want %q", c.ms, c.bounds, got, c.want)
		}
	}
}

func TestGoldenSplit(t *testing.T) {
	checkFormatGoldens(t, "split", fixtureSplitReport(), fixtureOptions(), Formats...)
}

func TestGoldenSplitPython(t *testing.T) {
	ts := fixturePythonSplit()
	withInstrumentatorBuckets(ts)
	r := New(fixtureTime, 10*time.Second, fixtureSources(), nil, Baseline{}).WithSplit(ts)
	checkFormatGoldens(t, "split-python", r, Options{}, FormatText, FormatMarkdown, FormatJSON)
}

// withInstrumentatorBuckets gives the split's latencies the bucket bounds of
// prometheus-fastapi-instrumentator's per-route histogram: its percentiles
// then show as bounds (≤100 ms, ≥1.0 s) where they fall in its first
// bucket or past its last.
func withInstrumentatorBuckets(ts *rules.TimeSplit) {
	bounds := []float64{100, 500, 1000}
	ts.Service.BoundsMS = bounds
	for i := range ts.Routes {
		ts.Routes[i].BoundsMS = bounds
	}
}

// TestGoldenSplitKernelQueue: the requests waiting unread on the service's
// port have a line of their own, with the mean the clients see.
func TestGoldenSplitKernelQueue(t *testing.T) {
	ts := fixtureLoopSplit()
	withInstrumentatorBuckets(ts)
	r := New(fixtureTime, 10*time.Second, fixtureSources(), nil, Baseline{}).WithSplit(ts)
	checkFormatGoldens(t, "split-kernel", r, Options{}, FormatText, FormatMarkdown, FormatJSON)
}

func TestKernelQueueText(t *testing.T) {
	mean := 36.6
	for _, c := range []struct {
		k    KernelQueueFigures
		mean *float64
		want string
	}{
		{KernelQueueFigures{Queued: 16.9, Readings: 24, WaitMSPerRequest: 206.1}, &mean,
			"16.9 requests waited unread on the service's port, 206 ms each before its latency starts: the clients waited a mean of 243 ms or more"},
		{KernelQueueFigures{Queued: 16.9, Readings: 24, WaitMSPerRequest: 206.1}, nil,
			"16.9 requests waited unread on the service's port, 206 ms each before its latency starts"},
		{KernelQueueFigures{Queued: 0.02, Readings: 40, WaitMSPerRequest: 0.1}, &mean,
			"no request waited unread on the service's port (40 readings)"},
	} {
		if got := KernelQueueText(&c.k, c.mean); got != c.want {
			t.Errorf("KernelQueueText(%+v):\n got %s\nwant %s", c.k, got, c.want)
		}
	}
	k := KernelQueueFigures{Queued: 16.9, Readings: 24, WaitMSPerRequest: 206.1}
	if got, want := KernelQueueShort(&k, &mean), "16.9 requests unread, 206 ms each, outside the service's latency; clients' mean ≥ 243 ms"; got != want {
		t.Errorf("KernelQueueShort:\n got %s\nwant %s", got, want)
	}
	if got, want := KernelQueueShort(&KernelQueueFigures{Readings: 3}, nil), "none waited unread (3 readings)"; got != want {
		t.Errorf("KernelQueueShort of none: got %s, want %s", got, want)
	}
}

// TestFiguresOmitted: a report without figures, or with a split that has
// nothing to show, prints no figures and no savings, byte for byte as
// before (the goldens of TestGolden hold that output).
func TestFiguresOmitted(t *testing.T) {
	for name, ts := range map[string]*rules.TimeSplit{
		"nil":            nil,
		"no metrics":     {Notes: []string{"no request metrics: the split needs the service's HTTP request counters and latency histograms"}},
		"no request yet": {Runtime: "go", Service: rules.Span{Share: 1, InFlightFrom: "rate x latency"}},
	} {
		if f := FiguresOf(ts); f != nil {
			t.Errorf("%s: figures %+v, want none", name, f)
		}
	}
	for _, format := range Formats {
		var plain, split bytes.Buffer
		if err := Print(&plain, format, fixtureReport(), fixtureOptions()); err != nil {
			t.Fatal(err)
		}
		r := fixtureReport().WithSplit(&rules.TimeSplit{Notes: []string{"no request metrics"}})
		if err := Print(&split, format, r, fixtureOptions()); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(plain.Bytes(), split.Bytes()) {
			t.Errorf("%s: a split with nothing to show changes the output:\n%s", format, lineDiff(plain.String(), split.String()))
		}
	}
}

func TestFiguresOf(t *testing.T) {
	f := FiguresOf(fixtureGoSplit())
	if f.Runtime != "go" || f.Method != "goroutine dumps" || len(f.Routes) != 5 || len(f.Handlers) != 3 {
		t.Fatalf("figures %+v", f)
	}
	s := f.Service
	if s.RPS != 84.2 || s.InFlight == nil || *s.InFlight != 5.494 || s.InFlightFrom != "rate x latency" ||
		s.MeanMS == nil || *s.MeanMS != 65.249 || s.P95MS == nil || *s.P95MS != 212 {
		t.Errorf("service %+v", s)
	}
	var sum float64
	for _, p := range s.Time {
		sum += p.Share
	}
	if sum < 0.999 || sum > 1.001 || s.Time[0].Part != rules.PartCPU || s.Time[len(s.Time)-1].Part != rules.PartOther {
		t.Errorf("service time %+v: shares add up to %v, want the parts' order", s.Time, sum)
	}
	// A route without a latency histogram has its rate only.
	last := f.Routes[4]
	if last.Route != "/static/{path}" || last.MeanMS != nil || last.P95MS != nil || last.InFlight != nil || last.InFlightFrom != "" || last.Time != nil {
		t.Errorf("route without latency %+v", last)
	}
	if f.Handlers[2].Time[0].Part != rules.PartCPU || f.Handlers[2].Time[1].Part != rules.PartOutbound {
		t.Errorf("handler time %+v", f.Handlers[2].Time)
	}
	if f.KernelQueue != nil {
		t.Errorf("a split without the kernel's queue has figures of it: %+v", f.KernelQueue)
	}
	if k := FiguresOf(fixtureLoopSplit()).KernelQueue; k == nil || k.Queued != 16.9 || k.Readings != 24 || k.WaitMSPerRequest != 206.098 {
		t.Errorf("kernel queue figures %+v, want 16.9 queued over 24 readings, 206.098 ms", k)
	}
	py := FiguresOf(fixturePythonSplit())
	if py.Service.InFlightFrom != "gauge" || *py.Service.InFlight != 30.2 || len(py.Routes[0].Time) != 2 || len(py.Notes) != 1 {
		t.Errorf("python figures %+v", py)
	}
}

func TestSplitJSONMatchesSchema(t *testing.T) {
	sch := compileSchema(t, "report.schema.json")
	for name, r := range map[string]*Report{
		"go":     fixtureSplitReport(),
		"python": New(fixtureTime, 0, nil, nil, Baseline{}).WithSplit(fixturePythonSplit()),
		"kernel": New(fixtureTime, 0, nil, nil, Baseline{}).WithSplit(fixtureLoopSplit()),
	} {
		if err := validate(sch, printJSON(t, r)); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	kernel := printJSON(t, New(fixtureTime, 0, nil, nil, Baseline{}).WithSplit(fixtureLoopSplit()))
	for _, m := range []struct{ name, old, new string }{
		{"kernel_queue readings 0", `"readings": 24`, `"readings": 0`},
		{"kernel_queue wait renamed", `"wait_ms_per_request"`, `"wait_ms"`},
		{"kernel_queue queued negative", `"queued": 16.9`, `"queued": -1`},
	} {
		if !bytes.Contains(kernel, []byte(m.old)) {
			t.Errorf("%s: the kernel fixture's JSON does not contain %s", m.name, m.old)
			continue
		}
		if err := validate(sch, bytes.Replace(kernel, []byte(m.old), []byte(m.new), 1)); err == nil {
			t.Errorf("%s: the schema accepts the mutated report", m.name)
		}
	}
	valid := printJSON(t, fixtureSplitReport())
	for _, m := range []struct{ name, old, new string }{
		{"figures renamed", `"figures":`, `"figure":`},
		{"part value", `"part": "db-pool"`, `"part": "pool"`},
		{"ms_per_request renamed", `"ms_per_request": 11.745`, `"ms": 11.745`},
		{"in_flight_from value", `"in_flight_from": "rate x latency"`, `"in_flight_from": "little"`},
		{"route share missing", ",\n        \"share\": 0.5825\n", "\n"},
		{"method value", `"method": "goroutine dumps"`, `"method": "dumps"`},
		{"saves renamed", `"saves": {`, `"saving": {`},
		{"saving basis renamed", `"basis": "db part`, `"why": "db part`},
		{"not_request_time type", `"not_request_time": true`, `"not_request_time": "yes"`},
		{"host cpu_bound above 1", `"cpu_bound": 0.5`, `"cpu_bound": 1.5`},
		{"host cores missing", `"cores": 4,`, ``},
	} {
		if !bytes.Contains(valid, []byte(m.old)) {
			t.Errorf("%s: the split fixture's JSON does not contain %s", m.name, m.old)
			continue
		}
		mutated := bytes.Replace(valid, []byte(m.old), []byte(m.new), 1)
		if err := validate(sch, mutated); err == nil {
			t.Errorf("%s: the schema accepts the mutated report", m.name)
		}
	}
}

// TestSchemaParts checks that the schema's parts are the rules' parts, in
// their order.
func TestSchemaParts(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("schema", "report.schema.json"))
	if err != nil {
		t.Fatal(err)
	}
	var schema struct {
		Defs struct {
			Part struct {
				Enum []string `json:"enum"`
			} `json:"part"`
		} `json:"$defs"`
	}
	if err := json.Unmarshal(data, &schema); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(schema.Defs.Part.Enum, rules.Parts) {
		t.Errorf("schema parts %v, rules.Parts %v", schema.Defs.Part.Enum, rules.Parts)
	}
}

func TestSplitJSONRoundTrip(t *testing.T) {
	r := fixtureSplitReport()
	var got Report
	dec := json.NewDecoder(bytes.NewReader(printJSON(t, r)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&got); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(&got, r) {
		t.Errorf("decoded report differs:\ngot  %+v\nwant %+v", got, *r)
	}
}

// TestSplitTextFitsWidth: the time section and the savings fit every
// width, long route and handler names included.
func TestSplitTextFitsWidth(t *testing.T) {
	ts := fixtureGoSplit()
	ts.Routes = append(ts.Routes, fixtureRoute("GET", "/api/v2/organisations/{organisation_id}/projects/{project_id}/reports", 0.1, 3, 2, 9))
	ts.Handlers = append(ts.Handlers, rules.Span{Route: "github.com/acme/shop/internal/reports.(*VeryLongHandlerTypeName).ServeOrganisationReports",
		Share: 0.01, Parts: fixtureParts(0, "goroutine dumps", map[string]float64{rules.PartDB: 0.5, rules.PartOther: 0.5})})
	ts.Notes = append(ts.Notes, "no process CPU metric (process_cpu_seconds_total): CPU time is counted in other")
	code := map[string]bool{}
	for _, f := range fixtureFindings() {
		for _, l := range strings.Split(f.Fix.SQL+"\n"+f.Fix.Code, "\n") {
			code[strings.TrimSpace(strings.ReplaceAll(l, "\t", "    "))] = true
		}
	}
	for _, width := range []int{0, 50, 60, 100, 140} {
		r := New(fixtureTime, time.Second, fixtureSources(), fixtureSavings(), Baseline{}).WithSplit(ts)
		var b bytes.Buffer
		if err := Print(&b, FormatText, r, Options{Width: width}); err != nil {
			t.Fatal(err)
		}
		limit := width
		if limit == 0 {
			limit = DefaultWidth
		}
		for i, line := range strings.Split(b.String(), "\n") {
			if w := ansi.StringWidth(line); w > limit && !code[strings.TrimSpace(line)] {
				t.Errorf("width %d: line %d is %d columns: %q", width, i+1, w, line)
			}
		}
		if !strings.Contains(b.String(), "Where the time goes") || !strings.Contains(b.String(), "no request time") {
			t.Errorf("width %d: no time section or no saving", width)
		}
	}
}

// TestSplitTextColor: colour changes the styling of the time section,
// never its text.
func TestSplitTextColor(t *testing.T) {
	var plain, color bytes.Buffer
	if err := Print(&plain, FormatText, fixtureSplitReport(), Options{}); err != nil {
		t.Fatal(err)
	}
	if err := Print(&color, FormatText, fixtureSplitReport(), Options{Color: true}); err != nil {
		t.Fatal(err)
	}
	if got := ansi.Strip(color.String()); got != plain.String() {
		t.Errorf("text with colour, stripped, differs from text without:\n%s", lineDiff(plain.String(), got))
	}
}

// TestSavingText covers the saving's wording.
func TestSavingText(t *testing.T) {
	for _, tc := range []struct {
		s    *rules.Saving
		want string
	}{
		{nil, ""},
		{&rules.Saving{NotRequestTime: true}, "no request time"},
		{&rules.Saving{MSPerRequest: 12.2, Share: 0.2}, "saves ~12 ms/request (20%)"},
		{&rules.Saving{MSPerRequest: 0.42, Share: 0.004}, "saves ~0.42 ms/request (<1%)"},
		{&rules.Saving{MSPerRequest: 1540, Share: 0.93}, "saves ~1.5 s/request (93%)"},
	} {
		if got := savingText(tc.s); got != tc.want {
			t.Errorf("savingText(%+v) = %q, want %q", tc.s, got, tc.want)
		}
	}
}

// TestSplitSARIFAndJUnit: the split report's SARIF is valid SARIF 2.1.0
// with the figures as run properties and each saving in its result's
// properties; its JUnit is valid XML with the figures in the suite's
// system-out and each saving in its failure text.
func TestSplitSARIFAndJUnit(t *testing.T) {
	data := printSARIF(t, fixtureSplitReport(), fixtureOptions())
	if err := validate(compileSchema(t, "sarif-2.1.0.json"), data); err != nil {
		t.Fatal(err)
	}
	var log struct {
		Runs []struct {
			Properties struct {
				Figures *Figures `json:"figures"`
			} `json:"properties"`
			Results []struct {
				RuleID     string `json:"ruleId"`
				Properties struct {
					Saves *rules.Saving `json:"saves"`
				} `json:"properties"`
			} `json:"results"`
		} `json:"runs"`
	}
	if err := json.Unmarshal(data, &log); err != nil {
		t.Fatal(err)
	}
	run := log.Runs[0]
	if !reflect.DeepEqual(run.Properties.Figures, fixtureSplitReport().Figures) {
		t.Errorf("run figures %+v", run.Properties.Figures)
	}
	saves := map[string]*rules.Saving{}
	for _, r := range run.Results {
		saves[r.RuleID] = r.Properties.Saves
	}
	if s := saves["db.missing-index"]; s == nil || s.MSPerRequest != 21.4 {
		t.Errorf("db.missing-index saves %+v", s)
	}
	if s := saves["db.unused-index"]; s == nil || !s.NotRequestTime {
		t.Errorf("db.unused-index saves %+v", s)
	}
	if s := saves["pool.oversized"]; s != nil {
		t.Errorf("pool.oversized saves %+v, want none", s)
	}

	var b bytes.Buffer
	if err := Print(&b, FormatJUnit, fixtureSplitReport(), fixtureOptions()); err != nil {
		t.Fatal(err)
	}
	var suites struct {
		Suites []struct {
			SystemOut string `xml:"system-out"`
			Cases     []struct {
				Name    string `xml:"name,attr"`
				Failure *struct {
					Body string `xml:",chardata"`
				} `xml:"failure"`
			} `xml:"testcase"`
		} `xml:"testsuite"`
	}
	dec := xml.NewDecoder(&b)
	dec.Strict = true
	if err := dec.Decode(&suites); err != nil {
		t.Fatal(err)
	}
	suite := suites.Suites[0]
	if !strings.HasPrefix(suite.SystemOut, "Where the time goes") || !strings.Contains(suite.SystemOut, "GET /api/orders") {
		t.Errorf("suite system-out %q", suite.SystemOut)
	}
	for _, c := range suite.Cases {
		if c.Name == "db.missing-index" && (c.Failure == nil || !strings.Contains(c.Failure.Body, "saves ~21 ms/request (33%)")) {
			t.Errorf("db.missing-index failure %+v", c.Failure)
		}
	}
}
