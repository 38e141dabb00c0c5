package report

import (
	"cmp"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"

	"github.com/pgadvisor/advisor/internal/rules"
)

// Figures is where the requests' time went over the report's window: the
// service's and each route's rate, latency and requests in flight, and the
// time per request split into parts (the report's "figures" object). It is
// built from a rules.TimeSplit with FiguresOf; printers read only this, so a
// JSON report decodes back into the same figures.
type Figures struct {
	// Runtime is the service's language as its metrics tell it (go,
	// python, node, jvm); empty when unknown.
	Runtime string `json:"runtime,omitempty"`
	// Method says how the parts were measured: "goroutine dumps" or
	// "metrics and database"; empty when the time could not be split.
	Method  string         `json:"method,omitempty"`
	Service ServiceFigures `json:"service"`
	// Routes are by share of the service's request time, largest first.
	Routes []RouteFigures `json:"routes"`
	// Handlers are the Go handlers seen in goroutine dumps, by share of
	// handler samples.
	Handlers []HandlerFigures `json:"handlers,omitempty"`
	// Host is the CPU of the service's host, when it is advisor's host.
	Host *HostFigures `json:"host,omitempty"`
	// KernelQueue is the requests that waited in the kernel for the
	// service to read them, when it listens on advisor's host.
	KernelQueue *KernelQueueFigures `json:"kernel_queue,omitempty"`
	// Notes say what the split could not see.
	Notes []string `json:"notes,omitempty"`
}

// HostFigures are the CPU of the service's host over the window, when
// advisor runs on it (rules.HostCPU).
type HostFigures struct {
	Cores     int     `json:"cores"`
	BusyCores float64 `json:"busy_cores"`
	// BusyShare is BusyCores over Cores, 0..1.
	BusyShare float64 `json:"busy_share"`
	// CPUMSPerRequest is the host's CPU time per request, every process on
	// it counted.
	CPUMSPerRequest float64 `json:"cpu_ms_per_request"`
	// CPUBound is how CPU-bound the host was, 0..1: the weight the
	// findings' savings give the CPU their fix frees against the time it
	// removes.
	CPUBound float64 `json:"cpu_bound"`
	// RunnableTasks is the mean number of the host's tasks running or
	// ready to run over the window (procs_running); nil when not read.
	RunnableTasks *float64 `json:"runnable_tasks,omitempty"`
}

// KernelQueueFigures are the requests that waited unread on the service's
// port (rules.KernelQueue): its latency does not count their wait.
type KernelQueueFigures struct {
	// Queued is their mean number over Readings readings.
	Queued   float64 `json:"queued"`
	Readings int     `json:"readings"`
	// WaitMSPerRequest is each request's wait there by Little's law,
	// before the service's latency starts.
	WaitMSPerRequest float64 `json:"wait_ms_per_request"`
}

// Rates are the request figures of the service or of one route. The
// latencies and the requests in flight are nil when unknown (no latency
// histogram, or one without buckets for percentiles).
type Rates struct {
	RPS float64 `json:"rps"`
	// Requests are the requests served in the window; ErrorShare the share
	// of them answered with a 5xx status, 0..1.
	Requests   float64  `json:"requests"`
	ErrorShare float64  `json:"error_share"`
	MeanMS     *float64 `json:"mean_ms,omitempty"`
	P50MS      *float64 `json:"p50_ms,omitempty"`
	P95MS      *float64 `json:"p95_ms,omitempty"`
	P99MS      *float64 `json:"p99_ms,omitempty"`
	// LatencyBucketsMS are the latency histogram's bucket upper bounds:
	// the percentiles are interpolated inside them, so a percentile that
	// stays in its bucket has not measurably moved.
	LatencyBucketsMS []float64 `json:"latency_buckets_ms,omitempty"`
	// InFlight is the mean number of requests in flight; InFlightFrom
	// says how it was measured: "gauge" or "rate x latency" (Little's law).
	InFlight     *float64 `json:"in_flight,omitempty"`
	InFlightFrom string   `json:"in_flight_from,omitempty"`
	PerRequest
}

// PerRequest are what one request costs in the other sources, each absent
// (nil) when its source is: never zero for unknown. A route has them only
// when its attribution is exact (Attribution says how they were
// attributed; rules.PerRequest).
type PerRequest struct {
	DBQueriesPerRequest     *float64 `json:"db_queries_per_request,omitempty"`
	DBMSPerRequest          *float64 `json:"db_ms_per_request,omitempty"`
	RedisCallsPerRequest    *float64 `json:"redis_calls_per_request,omitempty"`
	OutboundCallsPerRequest *float64 `json:"outbound_calls_per_request,omitempty"`
	CPUMSPerRequest         *float64 `json:"cpu_ms_per_request,omitempty"`
	// PerRequestFrom names each figure's source, by figure name
	// (db_queries, db_ms, redis_calls, outbound_calls, cpu_ms).
	PerRequestFrom map[string]string `json:"per_request_from,omitempty"`
	Attribution    string            `json:"attribution,omitempty"`
}

// ServiceFigures are every route together.
type ServiceFigures struct {
	Rates
	// Time is the mean request's time by part, in the parts' order;
	// empty when it could not be split.
	Time []TimePart `json:"time,omitempty"`
}

// RouteFigures are one route's. More per-route figures may be added here
// (the JSON object is open to them, see docs/report-json.md).
type RouteFigures struct {
	Route  string `json:"route"`
	Method string `json:"method,omitempty"`
	Rates
	// Share is the route's share of the service's request time (rate x
	// mean latency), 0..1.
	Share float64 `json:"share"`
	// Time is set only when the route's time can be told apart from the
	// other routes'.
	Time []TimePart `json:"time,omitempty"`
}

// HandlerFigures are one Go handler's share of the handler goroutines'
// samples and how its samples split into parts (shares only: a handler's
// latency is not measured).
type HandlerFigures struct {
	Handler string        `json:"handler"`
	Share   float64       `json:"share"`
	Time    []HandlerPart `json:"time,omitempty"`
}

// TimePart is the time one request spends in one part, on average.
type TimePart struct {
	Part         string  `json:"part"`
	MSPerRequest float64 `json:"ms_per_request"`
	// Share is the part's share of the mean latency, 0..1.
	Share float64 `json:"share"`
	// From says what measured it.
	From string `json:"from"`
}

// HandlerPart is one part of a handler's samples.
type HandlerPart struct {
	Part  string  `json:"part"`
	Share float64 `json:"share"`
	From  string  `json:"from"`
}

// FiguresOf returns the report's figures of a time split, or nil when the
// split has nothing to show (no request metrics, no request in the window).
// Numbers are rounded to what a reader can use: milliseconds, rates and
// requests in flight to three decimals, shares to four.
func FiguresOf(ts *rules.TimeSplit) *Figures {
	if ts == nil || (ts.Service.RPS <= 0 && len(ts.Routes) == 0) {
		return nil
	}
	f := &Figures{
		Runtime:     ts.Runtime,
		Method:      ts.Method,
		Service:     ServiceFigures{Rates: ratesOf(&ts.Service), Time: timeOf(ts.Service.Parts)},
		Routes:      make([]RouteFigures, 0, len(ts.Routes)),
		Host:        HostFiguresOf(ts.Host),
		KernelQueue: KernelQueueFiguresOf(ts.Kernel),
		Notes:       slices.Clone(ts.Notes),
	}
	for i := range ts.Routes {
		r := &ts.Routes[i]
		f.Routes = append(f.Routes, RouteFigures{Route: r.Route, Method: r.Method, Rates: ratesOf(r),
			Share: round(r.Share, 4), Time: timeOf(r.Parts)})
	}
	for _, h := range ts.Handlers {
		hf := HandlerFigures{Handler: h.Route, Share: round(h.Share, 4)}
		for _, p := range h.Parts {
			hf.Time = append(hf.Time, HandlerPart{Part: p.Name, Share: round(p.Share, 4), From: p.From})
		}
		f.Handlers = append(f.Handlers, hf)
	}
	return f
}

func ratesOf(s *rules.Span) Rates {
	r := Rates{RPS: round(s.RPS, 3), Requests: round(s.Requests, 3), ErrorShare: round(s.ErrorShare, 4)}
	if s.HasLatency {
		r.MeanMS = roundPtr(s.MeanMS, 3)
		if s.P50MS > 0 || s.P95MS > 0 {
			r.P50MS, r.P95MS = roundPtr(s.P50MS, 3), roundPtr(s.P95MS, 3)
			if s.P99MS > 0 {
				r.P99MS = roundPtr(s.P99MS, 3)
			}
			for _, b := range s.BoundsMS {
				r.LatencyBucketsMS = append(r.LatencyBucketsMS, round(b, 6))
			}
		}
	}
	if p := s.PerRequest; p != nil {
		opt := func(v *float64) *float64 {
			if v == nil {
				return nil
			}
			return roundPtr(*v, 3)
		}
		r.PerRequest = PerRequest{DBQueriesPerRequest: opt(p.DBQueries), DBMSPerRequest: opt(p.DBMS),
			RedisCallsPerRequest: opt(p.RedisCalls), OutboundCallsPerRequest: opt(p.OutboundCalls),
			CPUMSPerRequest: opt(p.CPUMS), Attribution: p.Attribution}
		if len(p.From) > 0 {
			r.PerRequestFrom = maps.Clone(p.From)
		}
	}
	if s.InFlightFrom != "" && (s.HasLatency || s.InFlightFrom == "gauge") {
		r.InFlight, r.InFlightFrom = roundPtr(s.InFlight, 3), s.InFlightFrom
	}
	return r
}

func timeOf(parts []rules.Part) []TimePart {
	var out []TimePart
	for _, p := range parts {
		out = append(out, TimePart{Part: p.Name, MSPerRequest: round(p.MSPerRequest, 3), Share: round(p.Share, 4), From: p.From})
	}
	return out
}

// round rounds v to the given decimals; NaN and infinities become 0, which
// JSON cannot hold.
func round(v float64, decimals int) float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return 0
	}
	p := math.Pow10(decimals)
	return math.Round(v*p) / p
}

// WithSplit sets the report's figures from the window's time split
// (FiguresOf) and returns the report.
func (r *Report) WithSplit(ts *rules.TimeSplit) *Report {
	r.Figures = FiguresOf(ts)
	return r
}

func roundPtr(v float64, decimals int) *float64 {
	r := round(v, decimals)
	return &r
}

// Formatting for people, shared by the text, Markdown and JUnit printers.

// MSText formats a duration in milliseconds for people: "0.42 ms",
// "8.1 ms", "42 ms", "1.6 s", and "-" for a value that is not a number. The
// report's printers and attach's panes share it.
func MSText(ms float64) string {
	switch {
	case math.IsNaN(ms) || math.IsInf(ms, 0):
		return "-"
	case ms >= 10_000:
		return fmt.Sprintf("%.0f s", ms/1000)
	case ms >= 1000:
		return fmt.Sprintf("%.1f s", ms/1000)
	case ms >= 9.95:
		return fmt.Sprintf("%.0f ms", ms)
	case ms >= 0.995:
		return fmt.Sprintf("%.1f ms", ms)
	}
	return fmt.Sprintf("%.2f ms", ms)
}

// PercentileText formats a percentile interpolated inside a latency
// histogram with the given bucket upper bounds (ascending, finite): in the
// first bucket it is only known to be at most its bound ("≤100 ms"), past
// the last finite one at least that bound ("≥1.0 s"), as histogram_quantile
// answers it; elsewhere, and without bounds, MSText.
func PercentileText(ms float64, boundsMS []float64) string {
	if len(boundsMS) == 0 || ms <= 0 {
		return MSText(ms)
	}
	if last := boundsMS[len(boundsMS)-1]; ms >= last {
		return "≥" + MSText(last)
	}
	if first := boundsMS[0]; ms <= first {
		return "≤" + MSText(first)
	}
	return MSText(ms)
}

// optPercentile is PercentileText for an optional percentile, "-" when
// unknown.
func optPercentile(ms *float64, boundsMS []float64) string {
	if ms == nil {
		return "-"
	}
	return PercentileText(*ms, boundsMS)
}

// shareText formats a share in [0, 1] as a whole percentage, "<1%" for a
// share above zero that rounds to it.
func shareText(s float64) string {
	if s > 0 && s < 0.005 {
		return "<1%"
	}
	return fmt.Sprintf("%.0f%%", s*100)
}

// errorShareText formats an error share as a percentage with one decimal.
func errorShareText(s float64) string {
	return fmt.Sprintf("%.1f%%", s*100)
}

// rateText formats requests per second.
func rateText(rps float64) string {
	switch {
	case rps >= 100:
		return fmt.Sprintf("%.0f/s", rps)
	case rps >= 10:
		return fmt.Sprintf("%.1f/s", rps)
	}
	return fmt.Sprintf("%.2f/s", rps)
}

// inFlightText formats the requests in flight, "-" when unknown.
func inFlightText(v *float64) string {
	if v == nil {
		return "-"
	}
	switch {
	case *v >= 10:
		return fmt.Sprintf("%.0f", *v)
	case *v >= 1:
		return fmt.Sprintf("%.1f", *v)
	}
	return fmt.Sprintf("%.2f", *v)
}

// partItems are the parts as "db 42 ms (61%)", largest first and the time
// advisor cannot see (other) last.
func partItems(parts []TimePart) []string {
	sorted := slices.Clone(parts)
	slices.SortStableFunc(sorted, func(a, b TimePart) int { return partOrder(a.Part, a.Share, b.Part, b.Share) })
	out := make([]string, len(sorted))
	for i, p := range sorted {
		out[i] = fmt.Sprintf("%s %s (%s)", sanitize(p.Part), MSText(p.MSPerRequest), shareText(p.Share))
	}
	return out
}

// partOrder orders parts largest share first, with the time advisor cannot
// see (other) last.
func partOrder(a string, aShare float64, b string, bShare float64) int {
	if (a == rules.PartOther) != (b == rules.PartOther) {
		if a == rules.PartOther {
			return 1
		}
		return -1
	}
	return cmp.Compare(bShare, aShare)
}

// handlerItems are a handler's parts as "lock 67%", largest first, other
// last.
func handlerItems(parts []HandlerPart) []string {
	sorted := slices.Clone(parts)
	slices.SortStableFunc(sorted, func(a, b HandlerPart) int { return partOrder(a.Part, a.Share, b.Part, b.Share) })
	out := make([]string, len(sorted))
	for i, p := range sorted {
		out[i] = sanitize(p.Part) + " " + shareText(p.Share)
	}
	return out
}

// HostFiguresOf returns the figures of the host's CPU in the split, nil
// when advisor could not see the host; the report and attach print these.
func HostFiguresOf(h *rules.HostCPU) *HostFigures {
	if h == nil {
		return nil
	}
	f := &HostFigures{Cores: h.Cores, BusyCores: round(h.BusyCores, 3), BusyShare: round(h.BusyShare, 4),
		CPUMSPerRequest: round(h.MSPerRequest, 3), CPUBound: round(h.Bound, 4)}
	if h.HostRunnable > 0 {
		f.RunnableTasks = roundPtr(h.HostRunnable, 2)
	}
	return f
}

// KernelQueueFiguresOf returns the figures of a kernel queue, nil when it
// was not read.
func KernelQueueFiguresOf(k *rules.KernelQueue) *KernelQueueFigures {
	if k == nil {
		return nil
	}
	return &KernelQueueFigures{Queued: round(k.Queued, 3), Readings: k.Readings, WaitMSPerRequest: round(k.WaitMS, 3)}
}

// kernelQueueNone is the mean queue below which the kernel queue's lines
// say none waited: it shows as 0.0.
const kernelQueueNone = 0.05

// KernelQueueText is the kernel queue's line: how many requests waited
// unread on the service's port, for how long each, and the mean latency
// the clients saw with that wait (meanMS, the service's own, may be nil):
// at least that, since a request the service has read but not started (an
// event loop's pending task) is in neither.
func KernelQueueText(k *KernelQueueFigures, meanMS *float64) string {
	if k.Queued < kernelQueueNone {
		return fmt.Sprintf("no request waited unread on the service's port (%d readings)", k.Readings)
	}
	t := fmt.Sprintf("%.1f requests waited unread on the service's port, %s each before its latency starts",
		k.Queued, MSText(k.WaitMSPerRequest))
	if meanMS != nil {
		t += ": the clients waited a mean of " + MSText(*meanMS+k.WaitMSPerRequest) + " or more"
	}
	return t
}

// KernelQueueShort is KernelQueueText for a line of attach's time pane:
// the figures first.
func KernelQueueShort(k *KernelQueueFigures, meanMS *float64) string {
	if k.Queued < kernelQueueNone {
		return fmt.Sprintf("none waited unread (%d readings)", k.Readings)
	}
	t := fmt.Sprintf("%.1f requests unread, %s each, outside the service's latency", k.Queued, MSText(k.WaitMSPerRequest))
	if meanMS != nil {
		t += "; clients' mean ≥ " + MSText(*meanMS+k.WaitMSPerRequest)
	}
	return t
}

// HostText is the host's line: its CPUs busy, the CPU per request and
// what that does to the savings.
func HostText(h *HostFigures) string {
	t := fmt.Sprintf("%.2f of %d CPUs busy (%s), ", h.BusyCores, h.Cores, shareText(h.BusyShare))
	if h.RunnableTasks != nil {
		t += fmt.Sprintf("%.1f tasks running or ready to run, ", *h.RunnableTasks)
	}
	t += MSText(h.CPUMSPerRequest) + " of CPU per request"
	switch {
	case h.CPUBound >= 1:
		return t + ": CPU-bound, savings count the CPU each fix frees"
	case h.CPUBound > 0:
		return t + fmt.Sprintf(": partly CPU-bound, savings weigh the CPU each fix frees at %s", shareText(h.CPUBound))
	}
	return t
}

// serviceItems are the service line's figures: rate, p50, p95, in flight.
func serviceItems(s *ServiceFigures) []string {
	items := []string{strings.TrimSuffix(rateText(s.RPS), "/s") + " req/s"}
	if s.P50MS != nil {
		b := s.LatencyBucketsMS
		items = append(items, "p50 "+PercentileText(*s.P50MS, b), "p95 "+PercentileText(*s.P95MS, b))
		if s.P99MS != nil {
			items = append(items, "p99 "+PercentileText(*s.P99MS, b))
		}
	} else if s.MeanMS != nil {
		items = append(items, "mean "+MSText(*s.MeanMS))
	}
	if s.InFlight != nil {
		items = append(items, inFlightText(s.InFlight)+" in flight ("+s.InFlightFrom+")")
	}
	if s.Requests > 0 {
		items = append(items, "errors "+errorShareText(s.ErrorShare))
	}
	return items
}

// routeShare formats a route's share of the service's time, "-" for a route
// whose latency is unknown.
func routeShare(r *RouteFigures) string {
	if r.MeanMS == nil {
		return "-"
	}
	return shareText(r.Share)
}

// routeName is a route as people write it: "GET /users/{id}".
func routeName(method, route string) string {
	if method == "" {
		return sanitize(route)
	}
	return sanitize(method + " " + route)
}

// shortHandler drops the package path of a Go function name:
// github.com/x/y/pkg.(*T).M becomes pkg.(*T).M.
func shortHandler(name string) string {
	if i := strings.LastIndexByte(name, '/'); i >= 0 {
		return name[i+1:]
	}
	return name
}

// savingText says what a finding's fix saves: "saves ~12 ms/request (20%)"
// or "no request time"; "" when unknown.
func savingText(s *rules.Saving) string {
	switch {
	case s == nil:
		return ""
	case s.NotRequestTime:
		return "no request time"
	}
	return fmt.Sprintf("saves ~%s/request (%s)", MSText(s.MSPerRequest), shareText(s.Share))
}

// methodText says how the parts were measured, for a heading.
func methodText(f *Figures) string {
	var parts []string
	if f.Method != "" {
		parts = append(parts, "measured from "+f.Method)
	}
	if f.Runtime != "" {
		parts = append(parts, "runtime "+f.Runtime)
	}
	return sanitize(strings.Join(parts, ", "))
}

// maxRoutes is how many routes the text and Markdown tables list.
const maxRoutes = 10

// maxHandlers is how many Go handlers they list.
const maxHandlers = 5
