package report

import (
	"cmp"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The figures a comparison holds, by their names in the JSON report (and
// in --threshold NAME=VALUE).
const (
	MetricRPS           = "rps"
	MetricP50           = "p50_ms"
	MetricP95           = "p95_ms"
	MetricP99           = "p99_ms"
	MetricErrorShare    = "error_share"
	MetricDBQueries     = "db_queries_per_request"
	MetricDBMS          = "db_ms_per_request"
	MetricRedisCalls    = "redis_calls_per_request"
	MetricOutboundCalls = "outbound_calls_per_request"
	MetricCPUMS         = "cpu_ms_per_request"
	// MetricKernelWait is the service's only: the wait of its requests
	// unread on its port (figures.kernel_queue.wait_ms_per_request), which
	// its own latency percentiles do not count.
	MetricKernelWait = "kernel_wait_ms_per_request"
)

// MinKernelReadings is how many readings of the kernel's queue each side
// must have for its wait to be gated: a report window reads it every
// quarter second (a cumulative report has none).
const MinKernelReadings = 8

// ThresholdMinRequests is the --threshold name of the noise floor: a route
// (or the service) with fewer requests than this on either side is listed
// but not compared.
const ThresholdMinRequests = "min_requests"

// DefaultMinRequests is the default noise floor.
const DefaultMinRequests = 100

// MinTailRequests is how many requests each side must have above a latency
// percentile for it to be gated: a p95 over 200 requests rests on the 10
// slowest, and one slow second of the host moves it by a bucket of the
// histogram. p95 needs 400 requests, p99 2000.
const MinTailRequests = 20

// metric describes one compared figure.
type metric struct {
	name, label string
	// lowerIsWorse: a regression is a fall (the rate), not a rise.
	lowerIsWorse bool
	// points: an absolute threshold is written in percentage points (a
	// share), the figure shown as a percentage.
	points bool
	// tail is, for a latency percentile, the share of requests above it
	// (0.05 for p95): the percentile is gated only when each side has
	// MinTailRequests requests there.
	tail float64
	unit string
	// get reads a route's (or the service's) figure; nil for the
	// service-only figures, which service reads from the figures.
	get     func(*Rates) *float64
	service func(*Figures) (v *float64, readings int)
	// text formats a value for people, where the unit's default does not
	// fit the figure; nil for the default.
	text func(float64) string
}

var metrics = []metric{
	{name: MetricRPS, label: "rate", lowerIsWorse: true, unit: "/s", get: func(r *Rates) *float64 { return &r.RPS }},
	{name: MetricP50, label: "p50", unit: "ms", tail: 0.5, get: func(r *Rates) *float64 { return r.P50MS }},
	{name: MetricP95, label: "p95", unit: "ms", tail: 0.05, get: func(r *Rates) *float64 { return r.P95MS }},
	{name: MetricP99, label: "p99", unit: "ms", tail: 0.01, get: func(r *Rates) *float64 { return r.P99MS }},
	{name: MetricErrorShare, label: "errors", points: true, get: func(r *Rates) *float64 { return &r.ErrorShare }},
	{name: MetricDBQueries, label: "queries/request", get: func(r *Rates) *float64 { return r.DBQueriesPerRequest }},
	{name: MetricDBMS, label: "PostgreSQL/request", unit: "ms", get: func(r *Rates) *float64 { return r.DBMSPerRequest }},
	{name: MetricRedisCalls, label: "Redis calls/request", get: func(r *Rates) *float64 { return r.RedisCallsPerRequest }},
	{name: MetricOutboundCalls, label: "outbound/request", get: func(r *Rates) *float64 { return r.OutboundCallsPerRequest }},
	{name: MetricCPUMS, label: "CPU/request", unit: "ms", get: func(r *Rates) *float64 { return r.CPUMSPerRequest }},
	{name: MetricKernelWait, label: "kernel wait/request", unit: "ms", service: func(f *Figures) (*float64, int) {
		if f.KernelQueue == nil {
			return nil, 0
		}
		v := f.KernelQueue.WaitMSPerRequest
		return &v, f.KernelQueue.Readings
	}},
}

func metricOf(name string) (metric, bool) {
	for _, m := range metrics {
		if m.name == name {
			return m, true
		}
	}
	return metric{}, false
}

// MetricNames lists the figures a threshold may be set on, for help texts.
func MetricNames() []string {
	out := make([]string, len(metrics))
	for i, m := range metrics {
		out[i] = m.name
	}
	return out
}

// Threshold is how far one figure may move the wrong way before it is a
// regression: by more than Relative (a fraction of the earlier value) AND
// by more than Absolute (in the figure's unit: ms, calls, requests per
// second; a share for error_share). Either may be nil (not required); both
// nil means the figure is shown, never gated.
type Threshold struct {
	Metric   string   `json:"metric"`
	Relative *float64 `json:"relative,omitempty"`
	Absolute *float64 `json:"absolute,omitempty"`
}

// without returns a copy of the thresholds where the figure is not gated,
// for the reason given.
func (t Thresholds) without(metric, reason string) Thresholds {
	out := Thresholds{MinRequests: t.MinRequests, ByMetric: maps.Clone(t.ByMetric), ungated: maps.Clone(t.ungated)}
	delete(out.ByMetric, metric)
	if out.ungated == nil {
		out.ungated = map[string]string{}
	}
	out.ungated[metric] = reason
	return out
}

// Gated reports whether the threshold can make a regression.
func (t Threshold) Gated() bool { return t.Relative != nil || t.Absolute != nil }

// Thresholds are the regression thresholds of a comparison.
type Thresholds struct {
	// MinRequests is the noise floor: with fewer requests on either side,
	// a route's figures are not compared.
	MinRequests float64
	ByMetric    map[string]Threshold
	// ungated says why a figure that had a threshold is not gated.
	ungated map[string]string
}

// DefaultThresholds are those of docs/design.md: p95 and the kernel wait
// +20% and at least +5 ms; DB queries per request +50% and at least +1;
// error share +1 point; rate -20%; at least 100 requests on each side.
func DefaultThresholds() Thresholds {
	f := func(v float64) *float64 { return &v }
	return Thresholds{MinRequests: DefaultMinRequests, ByMetric: map[string]Threshold{
		MetricRPS:        {Metric: MetricRPS, Relative: f(0.20)},
		MetricP95:        {Metric: MetricP95, Relative: f(0.20), Absolute: f(5)},
		MetricDBQueries:  {Metric: MetricDBQueries, Relative: f(0.50), Absolute: f(1)},
		MetricErrorShare: {Metric: MetricErrorShare, Absolute: f(0.01)},
		MetricKernelWait: {Metric: MetricKernelWait, Relative: f(0.20), Absolute: f(5)},
	}}
}

// Set applies one NAME=VALUE: min_requests=N, or a figure's name with
// "off", "REL%", "ABS" or "REL%,ABS" (a sign is allowed and ignored: the
// direction is the figure's; ABS of error_share is in percentage points).
func (t *Thresholds) Set(spec string) error {
	name, value, ok := strings.Cut(spec, "=")
	name, value = strings.TrimSpace(name), strings.TrimSpace(value)
	if !ok || name == "" || value == "" {
		return fmt.Errorf("threshold %q: want NAME=VALUE, e.g. p95_ms=20%%,5", spec)
	}
	if name == ThresholdMinRequests {
		n, err := strconv.ParseFloat(value, 64)
		if err != nil || n < 0 || math.IsNaN(n) || math.IsInf(n, 0) {
			return fmt.Errorf("threshold %s: %q is not a number of requests", name, value)
		}
		t.MinRequests = n
		return nil
	}
	m, ok := metricOf(name)
	if !ok {
		return fmt.Errorf("threshold %q: unknown figure %q (want %s or %s)", spec, name, strings.Join(MetricNames(), ", "), ThresholdMinRequests)
	}
	th := Threshold{Metric: name}
	if value != "off" {
		for _, part := range strings.Split(value, ",") {
			part = strings.TrimLeft(strings.TrimSpace(part), "+-")
			rel := strings.HasSuffix(part, "%")
			n, err := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(part, "%")), 64)
			if err != nil || n < 0 || math.IsNaN(n) || math.IsInf(n, 0) {
				return fmt.Errorf("threshold %s: %q: want off, REL%%, ABS or REL%%,ABS", name, value)
			}
			switch {
			case rel && th.Relative == nil:
				v := n / 100
				th.Relative = &v
			case !rel && th.Absolute == nil:
				if m.points {
					n /= 100
				}
				th.Absolute = &n
			default:
				return fmt.Errorf("threshold %s: %q sets the same bound twice", name, value)
			}
		}
	}
	if t.ByMetric == nil {
		t.ByMetric = map[string]Threshold{}
	}
	t.ByMetric[name] = th
	return nil
}

// Comparison is the report's "comparison" object: this report's figures and
// findings against an earlier report's.
type Comparison struct {
	// Before names the earlier report.
	Before ComparedReport `json:"before"`
	// MinRequests and Thresholds are those the comparison used; only
	// figures with a threshold can regress.
	MinRequests float64     `json:"min_requests"`
	Thresholds  []Threshold `json:"thresholds"`
	// Service is every route together; absent when neither report has
	// figures.
	Service *RouteComparison `json:"service,omitempty"`
	// Routes are this report's routes in its order, then the earlier
	// report's routes that this one does not have.
	Routes []RouteComparison `json:"routes"`
	// Statements are this report's top statements in its order, then the
	// earlier report's that this one does not list; absent when a side has
	// no statements or neither lists one. They are shown, never gated.
	Statements []StatementComparison `json:"statements,omitempty"`
	// Appeared and Disappeared are findings matched by fingerprint.
	Appeared    []FindingRef `json:"appeared"`
	Disappeared []FindingRef `json:"disappeared"`
	// Regressions are the figures that moved the wrong way beyond their
	// threshold; --fail-on-regression fails the run on any.
	Regressions []Regression `json:"regressions"`
	// Notes say what could not be compared.
	Notes []string `json:"notes,omitempty"`
}

// ComparedReport names the earlier report of a comparison.
type ComparedReport struct {
	GeneratedAt   time.Time `json:"generated_at"`
	WindowSeconds float64   `json:"window_seconds"`
}

// RouteComparison is one route's figures (or the service's) before and
// after.
type RouteComparison struct {
	Route  string `json:"route"`
	Method string `json:"method,omitempty"`
	// Only is "before" or "after" for a route one side does not have.
	Only string `json:"only,omitempty"`
	// NotCompared says why the figures were not held against thresholds
	// (too few requests); they are still listed.
	NotCompared string         `json:"not_compared,omitempty"`
	Metrics     []MetricChange `json:"metrics"`
}

// MetricChange is one figure before and after. Before or After is absent
// when that side does not have it.
type MetricChange struct {
	Metric string   `json:"metric"`
	Before *float64 `json:"before,omitempty"`
	After  *float64 `json:"after,omitempty"`
	// Change is After - Before; RelativeChange is Change / Before, absent
	// when Before is 0.
	Change         *float64 `json:"change,omitempty"`
	RelativeChange *float64 `json:"relative_change,omitempty"`
	Regressed      bool     `json:"regressed"`
	// NotGated says why a figure with a threshold was not held against it
	// (a percentile with too few requests above it).
	NotGated string `json:"not_gated,omitempty"`
}

// Regression is a figure that moved the wrong way beyond its threshold.
type Regression struct {
	// Route is "" for the service.
	Route     string  `json:"route"`
	Method    string  `json:"method,omitempty"`
	Metric    string  `json:"metric"`
	Before    float64 `json:"before"`
	After     float64 `json:"after"`
	Threshold string  `json:"threshold"`
}

// FindingRef is a finding that appeared or disappeared.
type FindingRef struct {
	Fingerprint string `json:"fingerprint"`
	Rule        string `json:"rule"`
	Severity    string `json:"severity"`
	Subject     string `json:"subject"`
	Title       string `json:"title"`
}

// ErrNotAReport is returned by CheckComparable for a file that is not a
// JSON report of this schema.
var ErrNotAReport = errors.New("not an advisor JSON report (schema " + SchemaID + ")")

// CheckComparable checks that a decoded earlier report can be compared.
func CheckComparable(r *Report) error {
	if r == nil || r.Schema != SchemaID {
		return ErrNotAReport
	}
	return nil
}

// Compare sets the report's comparison with an earlier report and returns
// the report.
func (r *Report) Compare(before *Report, th Thresholds) *Report {
	r.Comparison = Compare(before, r, th)
	return r
}

// Regressed reports whether the comparison found a regression.
func (r *Report) Regressed() bool {
	return r.Comparison != nil && len(r.Comparison.Regressions) > 0
}

// Compare holds after's figures and findings against before's.
func Compare(before, after *Report, th Thresholds) *Comparison {
	if th.ByMetric == nil {
		th = DefaultThresholds()
	}
	c := &Comparison{
		Before:      ComparedReport{GeneratedAt: before.GeneratedAt, WindowSeconds: before.WindowSeconds},
		MinRequests: th.MinRequests,
		Thresholds:  []Threshold{},
		Routes:      []RouteComparison{},
		Appeared:    []FindingRef{},
		Disappeared: []FindingRef{},
		Regressions: []Regression{},
	}
	for _, m := range metrics {
		if t, ok := th.ByMetric[m.name]; ok && t.Gated() {
			t.Metric = m.name
			c.Thresholds = append(c.Thresholds, t)
		}
	}
	bf, af := before.Figures, after.Figures
	switch {
	case bf == nil && af == nil:
		c.Notes = append(c.Notes, "neither report has figures (no request metrics): only findings are compared")
	case bf == nil:
		c.Notes = append(c.Notes, "the earlier report has no figures (no request metrics): only findings are compared")
	case af == nil:
		c.Notes = append(c.Notes, "this report has no figures (no request metrics): only findings are compared")
	default:
		if before.WindowSeconds == 0 || after.WindowSeconds == 0 {
			// A cumulative report's rate is its requests over the service's
			// lifetime, idle time included: not the load's.
			th = th.without(MetricRPS, "a cumulative report (--window 0): its rate is the requests over the service's lifetime, not the load's")
		}
		svc := c.compareRates("", "", &bf.Service.Rates, &af.Service.Rates, th)
		c.compareService(&svc, bf, af, th)
		c.Service = &svc
		seen := map[string]bool{}
		for i := range af.Routes {
			a := &af.Routes[i]
			key := a.Method + " " + a.Route
			seen[key] = true
			var b *Rates
			if j := slices.IndexFunc(bf.Routes, func(x RouteFigures) bool { return x.Method == a.Method && x.Route == a.Route }); j >= 0 {
				b = &bf.Routes[j].Rates
			}
			c.Routes = append(c.Routes, c.compareRates(a.Route, a.Method, b, &a.Rates, th))
		}
		for i := range bf.Routes {
			b := &bf.Routes[i]
			if !seen[b.Method+" "+b.Route] {
				c.Routes = append(c.Routes, c.compareRates(b.Route, b.Method, &b.Rates, nil, th))
			}
		}
	}
	c.compareStatements(before, after)
	c.compareFindings(before, after)
	return c
}

// compareRates compares one route's figures (the service's with route "").
func (c *Comparison) compareRates(route, method string, b, a *Rates, th Thresholds) RouteComparison {
	rc := RouteComparison{Route: route, Method: method, Metrics: []MetricChange{}}
	switch {
	case b == nil:
		rc.Only = "after"
	case a == nil:
		rc.Only = "before"
	case b.Requests < th.MinRequests || a.Requests < th.MinRequests:
		rc.NotCompared = fmt.Sprintf("too few requests to compare: %.0f before, %.0f after (fewer than %.0f)", b.Requests, a.Requests, th.MinRequests)
	}
	for _, m := range metrics {
		if m.get == nil {
			continue
		}
		var mc MetricChange
		mc.Metric = m.name
		if b != nil {
			mc.Before = m.get(b)
		}
		if a != nil {
			mc.After = m.get(a)
		}
		if mc.Before == nil && mc.After == nil {
			continue
		}
		if mc.Before != nil && mc.After != nil {
			mc.setChange()
			t, gated := th.gateOf(m, rc.Only == "" && rc.NotCompared == "", &mc)
			if need := math.Ceil(MinTailRequests / max(m.tail, 1e-9)); gated && m.tail > 0 && min(b.Requests, a.Requests) < need {
				gated = false
				mc.NotGated = fmt.Sprintf("fewer than %.0f requests on a side: too few above the percentile to compare it", need)
			}
			if gated && m.tail > 0 && sameBucket(*mc.Before, *mc.After, b.LatencyBucketsMS, a.LatencyBucketsMS) {
				gated = false
				mc.NotGated = "within the latency histogram's bucket: the percentile is interpolated inside it"
			}
			if gated {
				c.gate(route, method, m, t, &mc)
			}
		}
		rc.Metrics = append(rc.Metrics, mc)
	}
	return rc
}

// compareService adds the service-only figures to its comparison, gated as
// the others when the service is compared: the kernel's queue only with
// MinKernelReadings readings on each side.
func (c *Comparison) compareService(svc *RouteComparison, bf, af *Figures, th Thresholds) {
	compared := svc.Only == "" && svc.NotCompared == ""
	for _, m := range metrics {
		if m.service == nil {
			continue
		}
		mc := MetricChange{Metric: m.name}
		var br, ar int
		mc.Before, br = m.service(bf)
		mc.After, ar = m.service(af)
		if mc.Before == nil && mc.After == nil {
			continue
		}
		if mc.Before != nil && mc.After != nil {
			mc.setChange()
			t, gated := th.gateOf(m, compared, &mc)
			if gated && min(br, ar) < MinKernelReadings {
				gated = false
				mc.NotGated = fmt.Sprintf("fewer than %d readings of the kernel's queue on a side", MinKernelReadings)
			}
			if gated {
				c.gate("", "", m, t, &mc)
			}
		}
		svc.Metrics = append(svc.Metrics, mc)
	}
}

// gateOf returns a figure's threshold and whether it is held against it,
// where its route (or the service) is compared; a threshold withheld
// (Thresholds.without) says why on the figure.
func (th Thresholds) gateOf(m metric, compared bool, mc *MetricChange) (Threshold, bool) {
	if why, ok := th.ungated[m.name]; ok && compared {
		mc.NotGated = why
	}
	t, ok := th.ByMetric[m.name]
	return t, ok && t.Gated() && compared
}

// gate holds a figure with both sides against its threshold, and records
// a regression.
func (c *Comparison) gate(route, method string, m metric, t Threshold, mc *MetricChange) {
	if regressed(m, t, *mc.Before, *mc.After) {
		mc.Regressed = true
		c.Regressions = append(c.Regressions, Regression{Route: route, Method: method, Metric: m.name,
			Before: *mc.Before, After: *mc.After, Threshold: thresholdText(m, t)})
	}
}

// sameBucket reports whether a percentile stayed in the histogram bucket of
// its earlier value: both sides have the same bounds, and after is not past
// the upper bound of before's bucket (nor, for a fall, under its lower).
// Inside a bucket the value is a linear interpolation, not a measure.
func sameBucket(before, after float64, bb, ab []float64) bool {
	if len(bb) == 0 || !slices.Equal(bb, ab) {
		return false
	}
	i, _ := slices.BinarySearch(bb, before) // bb[i] >= before
	lower, upper := 0.0, math.Inf(1)
	if i > 0 {
		lower = bb[i-1]
	}
	if i < len(bb) {
		upper = bb[i]
	}
	return after >= lower && after <= upper
}

// regressed reports whether a figure moved the wrong way by more than both
// of its threshold's bounds.
func regressed(m metric, t Threshold, before, after float64) bool {
	worse := after - before
	if m.lowerIsWorse {
		worse = -worse
	}
	if worse <= 0 {
		return false
	}
	if t.Relative != nil && worse <= *t.Relative*math.Abs(before) {
		return false
	}
	if t.Absolute != nil && worse <= *t.Absolute {
		return false
	}
	return true
}

// thresholdText writes a threshold as people read it: "+20% and +5 ms".
func thresholdText(m metric, t Threshold) string {
	sign := "+"
	if m.lowerIsWorse {
		sign = "-"
	}
	var parts []string
	if t.Relative != nil {
		parts = append(parts, sign+strconv.FormatFloat(*t.Relative*100, 'f', -1, 64)+"%")
	}
	if t.Absolute != nil {
		switch {
		case m.points:
			parts = append(parts, sign+strconv.FormatFloat(*t.Absolute*100, 'f', -1, 64)+" points")
		case m.unit != "":
			parts = append(parts, sign+strconv.FormatFloat(*t.Absolute, 'f', -1, 64)+" "+strings.TrimPrefix(m.unit, "/"))
		default:
			parts = append(parts, sign+strconv.FormatFloat(*t.Absolute, 'f', -1, 64))
		}
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, " and ")
}

// compareFindings lists the findings that appeared and disappeared, by
// fingerprint.
func (c *Comparison) compareFindings(before, after *Report) {
	has := func(r *Report, fp string) bool {
		return slices.ContainsFunc(r.Findings, func(f Finding) bool { return f.Fingerprint == fp })
	}
	ref := func(f *Finding) FindingRef {
		return FindingRef{Fingerprint: f.Fingerprint, Rule: f.Rule, Severity: f.Severity.String(), Subject: f.Subject, Title: f.Title}
	}
	for i := range after.Findings {
		f := &after.Findings[i]
		if !has(before, f.Fingerprint) && !slices.ContainsFunc(c.Appeared, func(x FindingRef) bool { return x.Fingerprint == f.Fingerprint }) {
			c.Appeared = append(c.Appeared, ref(f))
		}
	}
	for i := range before.Findings {
		f := &before.Findings[i]
		if !has(after, f.Fingerprint) && !slices.ContainsFunc(c.Disappeared, func(x FindingRef) bool { return x.Fingerprint == f.Fingerprint }) {
			c.Disappeared = append(c.Disappeared, ref(f))
		}
	}
}

// Formatting of comparisons for people, shared by the text and Markdown
// printers and the annotations.

// metricValueText formats one figure's value.
func metricValueText(m metric, v *float64) string {
	if v == nil {
		return "-"
	}
	switch {
	case m.text != nil:
		return m.text(*v)
	case m.unit == "/s":
		return rateText(*v)
	case m.points:
		return fmt.Sprintf("%.1f%%", *v*100)
	case m.unit == "ms":
		return MSText(*v)
	}
	return strconv.FormatFloat(round(*v, 2), 'f', -1, 64)
}

// changeText formats a figure's change: "+17%" with the absolute change
// for figures whose percentage alone misleads (counts, shares).
func changeText(m metric, mc *MetricChange) string {
	if mc.Change == nil {
		return "-"
	}
	d := *mc.Change
	if d == 0 {
		return "="
	}
	var abs string
	switch {
	case m.points:
		abs = fmt.Sprintf("%+.1f points", d*100)
	case m.unit == "/s":
		abs = fmt.Sprintf("%+.1f/s", d)
	case m.unit == "ms":
		abs = signed(d) + MSText(math.Abs(d))
	default:
		abs = signed(d) + strconv.FormatFloat(round(math.Abs(d), 2), 'f', -1, 64)
	}
	if mc.RelativeChange == nil || m.points {
		return abs
	}
	return fmt.Sprintf("%s (%+.0f%%)", abs, *mc.RelativeChange*100)
}

func signed(d float64) string {
	if d < 0 {
		return "-"
	}
	return "+"
}

// scopeName is a comparison's route as people write it; "service" for the
// service.
func scopeName(route, method string) string {
	if route == "" && method == "" {
		return "service"
	}
	return routeName(method, route)
}

// regressionText says one regression in a line.
func regressionText(g *Regression) string {
	m, _ := metricOf(g.Metric)
	b, a := g.Before, g.After
	return fmt.Sprintf("%s: %s %s -> %s (threshold %s)", scopeName(g.Route, g.Method), m.label,
		metricValueText(m, &b), metricValueText(m, &a), g.Threshold)
}

// comparedRoutes are the service then the routes, at most maxRoutes of them.
func comparedRoutes(c *Comparison) (rows []*RouteComparison, more int) {
	if c.Service != nil {
		rows = append(rows, c.Service)
	}
	for i := range c.Routes {
		if i == maxRoutes {
			more = len(c.Routes) - maxRoutes
			break
		}
		rows = append(rows, &c.Routes[i])
	}
	return rows, more
}

// sortedRegressions are the regressions in a stable order: service first.
func sortedRegressions(c *Comparison) []Regression {
	out := slices.Clone(c.Regressions)
	slices.SortStableFunc(out, func(a, b Regression) int {
		return cmp.Or(cmp.Compare(a.Route, b.Route), cmp.Compare(a.Method, b.Method))
	})
	return out
}

// RegressionLines are the regressions, one line each, service first.
func RegressionLines(c *Comparison) []string {
	var out []string
	for _, g := range sortedRegressions(c) {
		out = append(out, sanitize(regressionText(&g)))
	}
	return out
}

// setChange sets the change of a figure both sides have, absolute and
// relative to before (absent when before is 0).
func (mc *MetricChange) setChange() {
	d := round(*mc.After-*mc.Before, 4)
	mc.Change = &d
	if *mc.Before != 0 {
		rel := round(d / *mc.Before, 4)
		mc.RelativeChange = &rel
	}
}
