package rules

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/pgadvisor/advisor/internal/probe"
	"github.com/pgadvisor/advisor/internal/probe/metrics"
)

// Parts of a request's time, in the order a split lists them.
const (
	PartCPU      = "cpu"      // running on a CPU in the service
	PartDB       = "db"       // in PostgreSQL, or waiting on its answer
	PartDBPool   = "db-pool"  // waiting for a PostgreSQL connection
	PartRedis    = "redis"    // waiting on Redis
	PartOutbound = "outbound" // waiting on an outbound call (HTTP, SMTP, DNS)
	PartDisk     = "disk"     // file I/O
	PartLock     = "lock"     // waiting for a lock
	PartSleep    = "sleep"    // sleeping
	PartQueue    = "queue"    // waiting for a slot: a channel, a semaphore
	// PartOther is the rest: waiting inside the service for nothing advisor
	// can see (a blocked event loop, a worker or thread to be free, a pool
	// whose waits are not exposed).
	PartOther = "other"
)

// Parts lists the parts in order.
var Parts = []string{PartCPU, PartDB, PartDBPool, PartRedis, PartOutbound, PartDisk, PartLock, PartSleep, PartQueue, PartOther}

// TimeSplit says where the requests' time goes over a window: for the
// service and for each route, the rate, the latency, the requests in flight
// and, where the evidence allows, the time per request in each part.
type TimeSplit struct {
	// Runtime is the service's language as its metrics tell it: go,
	// python, node, jvm, or "" when unknown.
	Runtime string
	// Method says how the parts were measured: "goroutine dumps" (a
	// wall-clock profile of the handlers, Go) or "metrics and database"
	// (process CPU, PostgreSQL and Redis time, outbound calls; the rest is
	// other); "" without request metrics.
	Method string
	// Service is every route together.
	Service Span
	// Routes are the routes by share of the service's request time,
	// largest first. Their parts are set only where a route's time can be
	// told apart from the others' (Go handlers, or a single route).
	Routes []Span
	// Handlers are the Go handlers seen in the goroutine dumps, with their
	// own parts, by share of samples.
	Handlers []Span
	// Host is the CPU of the service's host over the window, when it is
	// advisor's host: on a busy one, findings' savings weigh the CPU their
	// fix frees (onHostCPU). nil when advisor cannot see it.
	Host *HostCPU
	// Kernel is the requests that waited in the kernel for the service to
	// read them, when it listens on advisor's host; nil when not read.
	Kernel *KernelQueue
	// Notes say what the split could not see.
	Notes []string
}

// KernelQueue is the requests that waited in the kernel, unread, on the
// service's port: connections in its accept queue and accepted connections
// whose request it had not read (probe.Window.KernelQueued). The service's
// metrics count neither them nor their wait: its latency starts when it
// reads a request.
type KernelQueue struct {
	// Queued is their mean number over the window's readings.
	Queued float64
	// WaitMS is the wait per request it means by Little's law (Queued over
	// the service's rate), before the time the service measures; 0 without
	// a rate.
	WaitMS float64
	// Readings are the readings Queued is the mean of.
	Readings int
}

// kernelQueueOf is the window's kernel queue for a service serving rps
// requests per second, or nil when it was not read. A cumulative window
// (report --window 0) has it from its one snapshot, an instant after the
// load, against a rate over the service's lifetime: no wait per request
// comes of those, and it is left out.
func kernelQueueOf(in *Input, rps float64) *KernelQueue {
	w := in.Window
	if w == nil || w.KernelQueuedReadings <= 0 || w.Cumulative {
		return nil
	}
	k := &KernelQueue{Queued: w.KernelQueued, Readings: w.KernelQueuedReadings}
	if rps > 0 {
		k.WaitMS = k.Queued / rps * 1000
	}
	return k
}

// Span is one route (or the service) over the window.
type Span struct {
	Route, Method string
	RPS           float64
	// Mean, P50 and P95 latency in milliseconds; HasLatency is unset
	// without a latency histogram.
	MeanMS, P50MS, P95MS float64
	HasLatency           bool
	// InFlight is the mean number of requests in flight: a gauge's value
	// when the service exposes one (InFlightFrom "gauge"), else rate times
	// mean latency (Little's law, "rate x latency").
	InFlight     float64
	InFlightFrom string
	// Share is the span's share of the service's request time (rate x mean
	// latency), 0..1.
	Share float64
	// Parts are the time per request in each part, in Parts order; empty
	// when unknown.
	Parts []Part
	// Requests are the requests served in the window; ErrorShare is the
	// share of them answered with a 5xx status, 0..1.
	Requests, ErrorShare float64
	// P99MS is the 99th percentile latency, set with P50MS and P95MS.
	P99MS float64
	// BoundsMS are the latency histogram's bucket upper bounds in
	// milliseconds (for the service, every route's): the percentiles are
	// interpolated inside them, so only known to a bucket.
	BoundsMS []float64
	// PerRequest are what one request costs in the other sources (queries,
	// database time, Redis calls, outbound calls, CPU); nil when no source
	// tells it for this span.
	PerRequest *PerRequest
}

// PerRequest are the figures of one request over the window, each nil when
// its source is absent: never zero for unknown. For the service they divide
// the sources' totals by every route's requests; a route has them only when
// it is the one route with requests in the window, where the attribution is
// exact (Attribution says so). Several routes share the window's statements,
// Redis calls and CPU, which no source tells apart by route.
type PerRequest struct {
	DBQueries, DBMS           *float64
	RedisCalls, OutboundCalls *float64
	CPUMS                     *float64
	// From says which source measured each figure, by figure name
	// (db_queries, db_ms, redis_calls, outbound_calls, cpu_ms).
	From map[string]string
	// Attribution says how the figures were attributed to the span.
	Attribution string
}

// Part is the time one request spends in one part, on average.
type Part struct {
	Name         string
	MSPerRequest float64
	// Share is the part's share of the span's mean latency, 0..1.
	Share float64
	// From says what measured it.
	From string
}

// Part returns the named part, or a zero Part.
func (s *Span) Part(name string) Part {
	for _, p := range s.Parts {
		if p.Name == name {
			return p
		}
	}
	return Part{Name: name}
}

// ignoredRoute reports the routes of the profilers and metrics advisor itself
// reads, which are not the service's requests.
func ignoredRoute(route string) bool {
	return route == "/metrics" || strings.HasPrefix(route, "/debug/pprof")
}

// serviceLatency is every request's latency over the window, from a
// histogram without a route label (metrics.Window.Latency), when it has
// percentiles and counted the routes' requests (within a tenth: it may
// count the metrics scrapes the routes leave out); false otherwise, and
// the service's percentiles come from its routes'.
func serviceLatency(m *metrics.Window, requests float64) (metrics.Latency, bool) {
	l := m.Latency
	if !m.HasLatency || !l.HasPercentiles || requests <= 0 || math.Abs(l.Count-requests) > 0.1*requests {
		return metrics.Latency{}, false
	}
	return l, true
}

// setPercentiles takes the span's percentiles and bucket bounds, in
// milliseconds, from a latency histogram's (in seconds).
func (s *Span) setPercentiles(l metrics.Latency) {
	s.P50MS, s.P95MS, s.P99MS = l.P50*1000, l.P95*1000, l.P99*1000
	s.BoundsMS = nil
	for _, b := range l.Bounds {
		s.BoundsMS = append(s.BoundsMS, b*1000)
	}
}

// Split returns where the requests' time goes over the input's window.
func Split(in *Input) *TimeSplit { return in.split() }

// splitOf computes the time split of an input's window.
func splitOf(in *Input) *TimeSplit {
	ts := &TimeSplit{}
	w := in.Window
	if w == nil || w.Metrics == nil {
		ts.Notes = append(ts.Notes, "no request metrics: the split needs the service's HTTP request counters and latency histograms")
		return ts
	}
	m := w.Metrics
	ts.Runtime = runtimeOf(m)
	var total float64 // request seconds per second over every route
	for _, r := range m.Routes {
		if ignoredRoute(r.Route) || r.RPS <= 0 {
			continue
		}
		sp := Span{Route: r.Route, Method: r.Method, RPS: r.RPS, Requests: r.Requests, ErrorShare: r.ErrorRate}
		if r.HasLatency && r.Latency.Count > 0 {
			sp.HasLatency = true
			sp.MeanMS = r.Latency.Mean * 1000
			if r.Latency.HasPercentiles {
				sp.setPercentiles(r.Latency)
			}
			sp.InFlight, sp.InFlightFrom = sp.RPS*r.Latency.Mean, "rate x latency"
			total += sp.InFlight
		}
		ts.Routes = append(ts.Routes, sp)
	}
	svc := Span{Route: "", InFlight: total, InFlightFrom: "rate x latency"}
	var p50w, p95w, p99w float64
	for i := range ts.Routes {
		r := &ts.Routes[i]
		svc.RPS += r.RPS
		svc.Requests += r.Requests
		svc.ErrorShare += r.ErrorShare * r.Requests
		if total > 0 {
			r.Share = r.InFlight / total
		}
		if r.HasLatency {
			svc.HasLatency = true
			p50w += r.P50MS * r.RPS
			p95w = math.Max(p95w, r.P95MS)
			p99w = math.Max(p99w, r.P99MS)
			for _, b := range r.BoundsMS {
				if !slices.Contains(svc.BoundsMS, b) {
					svc.BoundsMS = append(svc.BoundsMS, b)
				}
			}
		}
	}
	slices.Sort(svc.BoundsMS)
	if svc.Requests > 0 {
		svc.ErrorShare /= svc.Requests
	}
	if svc.RPS > 0 && svc.HasLatency {
		svc.MeanMS = total / svc.RPS * 1000
		if l, ok := serviceLatency(m, svc.Requests); ok {
			svc.setPercentiles(l)
		} else {
			svc.P50MS = p50w / svc.RPS // rate-weighted: the routes' histograms are not merged
			svc.P95MS = p95w           // the slowest route's: an upper bound
			svc.P99MS = p99w
		}
	}
	if m.HasInFlight && m.InFlightTotal > 0 {
		svc.InFlight, svc.InFlightFrom = m.InFlightTotal, "gauge"
	}
	svc.Share = 1
	svc.PerRequest = perRequestOf(in, svc.RPS, svc.Requests, "every route together: the sources' totals over every route's requests", &ts.Notes)
	if len(ts.Routes) == 1 && svc.PerRequest != nil {
		// One route served every request: what the sources counted is its.
		pr := *svc.PerRequest
		pr.Attribution = "exact: the only route with requests in the window"
		ts.Routes[0].PerRequest = &pr
	} else if len(ts.Routes) > 1 && svc.PerRequest != nil {
		ts.Notes = append(ts.Notes, "queries, database time, Redis and outbound calls and CPU per request are the service's: "+
			"several routes shared the window, and no source tells them apart by route")
	}
	ts.Service = svc
	if h, ok := hostCPUOf(in, &svc); ok {
		ts.Host = &h
	}
	ts.Kernel = kernelQueueOf(in, svc.RPS)
	slices.SortStableFunc(ts.Routes, func(a, b Span) int { return cmp.Compare(b.Share, a.Share) })
	if svc.RPS <= 0 || !svc.HasLatency {
		ts.Notes = append(ts.Notes, "no requests with a latency histogram in the window: the time per request cannot be split")
		return ts
	}

	if v := in.app(); v.dumps >= 2 && v.samples > 0 {
		ts.Method = "goroutine dumps"
		ts.Service.Parts = dumpParts(v, nil, svc.MeanMS)
		ts.Handlers = handlerSpans(v)
		if len(ts.Routes) == 1 {
			ts.Routes[0].Parts = ts.Service.Parts
		}
		return ts
	}
	ts.Method = "metrics and database"
	ts.Service.Parts = metricParts(in, &ts.Service, &ts.Notes)
	if n := busyHostWaitNote(ts, in.Window, in.hostWaitParams()); n != "" {
		ts.Notes = append(ts.Notes, n)
	}
	if len(ts.Routes) == 1 {
		ts.Routes[0].Parts = ts.Service.Parts
	}
	return ts
}

// busyHostWaitNote says, where most of the requests' time went to waiting
// inside the service on a host short of CPU, that the wait may be for a
// CPU: a thread ready to run counts in no source, and which other wait it
// is cannot be told. service.queueing stands aside there, at its params p
// (hostShortOfCPU: the host's CPUs busy, or a runnable task waiting for a
// CPU on a host shared with other work while its CPUs are not that busy).
// "" otherwise. On the
// Express target with its load generator on the same 2-core host, requests
// waited 96% of their time there with the host 92% busy, and the report
// said nothing of it.
func busyHostWaitNote(ts *TimeSplit, w *probe.Window, p serviceQueueingParams) string {
	share, _ := waitOf(ts.Service)
	if ts.Host == nil || share < p.MinWaitShare {
		return ""
	}
	short := hostShortOfCPU(ts, w, p)
	if short == "" {
		return ""
	}
	return fmt.Sprintf("the requests waited inside the service %.0f%% of their time, neither on its CPU nor in a datastore or a call, "+
		"while %s: on a host this short of CPU a request also waits for a CPU, which no source counts, "+
		"so that wait's cause is not named (service.queueing); give the service CPUs of its own (a load generator on the same host takes them) and measure again",
		share*100, short)
}

// hostShortOfCPU says which reading of the window finds the service's host
// short of CPU at service.queueing's params p, where the rule stands aside
// (the wait may be a CPU's): its CPUs busy at max_host_busy_share or more,
// or a runnable task waiting for a CPU over more than
// max_host_cpu_pressure of the window, unless the requests waited mostly
// unread in the kernel (kernelWaitMost); "" when neither does.
func hostShortOfCPU(ts *TimeSplit, w *probe.Window, p serviceQueueingParams) string {
	if w == nil {
		return ""
	}
	cores := float64(w.ServiceCPUs)
	var busyShare float64
	if cores > 0 {
		busyShare = math.Min(w.HostBusyCores, cores) / cores
	}
	switch {
	case cores > 0 && w.HostBusyCores >= p.MaxHostBusyShare*cores:
		return fmt.Sprintf("the host's %d CPUs were %.0f%% busy", w.ServiceCPUs, busyShare*100)
	case w.HostCPUPressure != nil && *w.HostCPUPressure > p.MaxCPUPressure && !kernelWaitMost(ts, p.MinKernelQueued, p.MinWaitShare):
		return fmt.Sprintf("a task on the host waited for a CPU over %.0f%% of the window (its pressure stall information; its %d CPUs %.0f%% busy)",
			*w.HostCPUPressure*100, w.ServiceCPUs, busyShare*100)
	}
	return ""
}

// kernelWait is the requests' mean number waiting unread in the kernel's
// queue and the wait per request (ms) it means, when at least minQueued
// waited on average (below that, the queue is the moment between a
// keep-alive client's request and the read that takes it); zeros
// otherwise.
func kernelWait(ts *TimeSplit, minQueued float64) (queued, ms float64) {
	if k := ts.Kernel; k != nil && k.Queued >= minQueued {
		return k.Queued, k.WaitMS
	}
	return 0, 0
}

// kernelWaitMost says the requests' wait unread in the kernel's queue
// (kernelWait) made at least minShare of their time, that wait counted: a
// worker busy with another request leaves them there, which
// service.queueing names whatever the host's CPU pressure.
func kernelWaitMost(ts *TimeSplit, minQueued, minShare float64) bool {
	_, ms := kernelWait(ts, minQueued)
	return ms > 0 && ms/(ts.Service.MeanMS+ms) >= minShare
}

// perRequestOf divides what the sources counted over the window by the
// requests served: PostgreSQL's top-level statements and their execution
// time, Redis' commands (advisor's own INFO and SLOWLOG left out), outbound
// HTTP calls and process CPU. Over a window, each source's rate is divided
// by the request rate (the sources' snapshots are not taken at the same
// instant). Cumulative statistics count from different moments (the
// service's start, the statistics' last reset) over which the requests'
// rate is not the load's: there the counts are divided by the requests,
// exact when the load ran after the reset. nil when no request was served
// or no source counted anything.
//
// A source whose window is cumulative while the report's is not (its first
// snapshot failed) counts from another moment than the requests: its
// figures are left out and a note says so.
func perRequestOf(in *Input, rps, requests float64, attribution string, notes *[]string) *PerRequest {
	w := in.Window
	if rps <= 0 || w == nil {
		return nil
	}
	pr := &PerRequest{From: map[string]string{}, Attribution: attribution}
	apart := func(source string, cumulative bool) bool {
		if cumulative && !w.Cumulative {
			*notes = append(*notes, source+"'s window holds its statistics since their last reset (its first snapshot failed): "+
				"no per-request figures from it")
			return true
		}
		return false
	}
	set := func(dst **float64, name string, count, seconds float64, from string) {
		var v float64
		switch {
		case w.Cumulative && requests > 0:
			v = count / requests
		case seconds > 0:
			v = count / seconds / rps
		default:
			return
		}
		if math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
			return
		}
		*dst = &v
		pr.From[name] = from
	}
	if pg := w.Postgres; pg != nil && pg.Statements.Seconds > 0 && !apart("PostgreSQL", pg.Cumulative) {
		var calls float64
		for _, r := range pg.Statements.Rows {
			if r.Statement.TopLevel {
				calls += float64(r.Calls)
			}
		}
		from := "pg_stat_statements (top-level statements)"
		set(&pr.DBQueries, "db_queries", calls, pg.Statements.Seconds, from)
		set(&pr.DBMS, "db_ms", pg.Statements.TotalTime, pg.Statements.Seconds, from+" execution time")
	}
	if r := w.Redis; r != nil && r.Seconds > 0 && len(r.PerCommand) > 0 && !apart("Redis", r.Cumulative) {
		var calls float64
		for _, c := range r.PerCommand {
			if !advisorRedisCommand(c.Name) {
				calls += float64(c.Calls)
			}
		}
		set(&pr.RedisCalls, "redis_calls", calls, r.Seconds, "Redis INFO commandstats")
	}
	if m := w.Metrics; m != nil && m.Seconds > 0 && !apart("The service's metrics", m.Cumulative) {
		if len(m.Outbound) > 0 {
			var calls float64
			for _, o := range m.Outbound {
				calls += o.Calls
			}
			set(&pr.OutboundCalls, "outbound_calls", calls, m.Seconds, "outbound HTTP client metrics")
		}
		if c := m.Process.CPUCores; c != nil {
			set(&pr.CPUMS, "cpu_ms", *c*m.Seconds*1000, m.Seconds, "process_cpu_seconds_total")
		}
	}
	if len(pr.From) == 0 {
		return nil
	}
	return pr
}

// advisorRedisCommand reports the commands advisor's Redis probe itself
// sends, which are not the service's calls.
func advisorRedisCommand(name string) bool {
	switch strings.ToLower(name) {
	case "info", "slowlog", "config|get", "config", "latency", "client|list", "client", "memory", "ping", "hello", "auth":
		return true
	}
	return false
}

// runtimeOf recognises the service's runtime from its metrics.
func runtimeOf(m *metrics.Window) string {
	if m.Runtime.Language != "" {
		return m.Runtime.Language
	}
	if m.Runtime.GOMAXPROCS != nil || m.Runtime.Goroutines != nil {
		return "go"
	}
	return ""
}

// partOfClass maps a wait class to the part of a request's time it is.
func partOfClass(w *WaitPattern) string {
	if w == nil {
		return PartOther
	}
	switch w.Kind {
	case WaitCPU:
		return PartCPU
	case WaitPool, WaitDatastore:
		// A wait on Redis, for its reply or for a connection from
		// go-redis's pool, is Redis time: a statement fix does not shorten
		// it (throughPool), nor does a larger database pool end it.
		if strings.Contains(w.Class, "redis") {
			return PartRedis
		}
		if w.Kind == WaitPool {
			return PartDBPool
		}
		return PartDB
	case WaitNetwork:
		return PartOutbound
	case WaitDisk:
		return PartDisk
	case WaitLock:
		return PartLock
	case WaitSleep:
		return PartSleep
	case WaitChannel:
		return PartQueue
	}
	return PartOther
}

// dumpParts splits meanMS by the handler goroutines' samples: the share of
// samples in each part is the share of time (the fgprof idea). With h nil,
// every handler counts.
func dumpParts(v *appView, h *appHandlerStat, meanMS float64) []Part {
	samples := map[string]float64{}
	var total float64
	add := func(h *appHandlerStat) {
		var classified float64
		for _, c := range h.classes {
			samples[partOfClass(c.class)] += c.samples
			classified += c.samples
		}
		samples[PartOther] += max(0, h.samples-classified)
		total += h.samples
	}
	if h != nil {
		add(h)
	} else {
		for _, h := range v.sortedHandlers() {
			add(h)
		}
	}
	if total <= 0 {
		return nil
	}
	from := fmt.Sprintf("goroutine dumps (%g handler samples)", total)
	var out []Part
	for _, name := range Parts {
		if s := samples[name]; s > 0 {
			out = append(out, Part{Name: name, Share: s / total, MSPerRequest: meanMS * s / total, From: from})
		}
	}
	return out
}

// handlerSpans are the Go handlers with their own split; their latency is
// unknown (handlers are not routes), so their parts carry shares only.
func handlerSpans(v *appView) []Span {
	var out []Span
	for _, h := range v.sortedHandlers() {
		if h.samples <= 0 {
			continue
		}
		out = append(out, Span{Route: h.name, Share: h.samples / v.samples, Parts: dumpParts(v, h, 0)})
	}
	slices.SortStableFunc(out, func(a, b Span) int { return cmp.Compare(b.Share, a.Share) })
	return out
}

// metricParts splits a service's mean latency from what the sources
// measure: process CPU, PostgreSQL statement time, pool waits, Redis
// server time and outbound calls, each per request; the rest is other.
func metricParts(in *Input, svc *Span, notes *[]string) []Part {
	w := in.Window
	m := w.Metrics
	per := func(secondsPerSecond float64) float64 { return secondsPerSecond / svc.RPS * 1000 }
	var out []Part
	var known float64
	add := func(name string, ms float64, from string) {
		if ms <= 0 || math.IsNaN(ms) || math.IsInf(ms, 0) {
			return
		}
		// A part cannot be longer than what is left of the request: CPU or
		// database time of other work (jobs, other services) would show as
		// more than the requests take.
		ms = math.Min(ms, svc.MeanMS-known)
		if ms <= 0 {
			return
		}
		known += ms
		out = append(out, Part{Name: name, MSPerRequest: ms, Share: ms / svc.MeanMS, From: from})
	}
	if c := m.Process.CPUCores; c != nil {
		add(PartCPU, per(*c), "process_cpu_seconds_total")
	} else {
		*notes = append(*notes, "no process CPU metric (process_cpu_seconds_total): CPU time is counted in other")
	}
	if pg := w.Postgres; pg != nil && pg.Statements.Seconds > 0 {
		add(PartDB, per(pg.Statements.TotalTime/1000/pg.Statements.Seconds), "pg_stat_statements (execution time of the window's statements)")
	}
	var poolWait float64
	for _, p := range m.Pools {
		if p.Kind != "go-redis" {
			poolWait += p.WaitSecondsPerSec
		}
	}
	add(PartDBPool, per(poolWait), "pool metrics (acquire wait time)")
	if r := w.Redis; r != nil && r.Seconds > 0 {
		var usec float64
		for _, c := range r.PerCommand {
			usec += float64(c.Usec)
		}
		add(PartRedis, per(usec/1e6/r.Seconds), "Redis INFO commandstats (server time)")
	}
	var outbound float64
	for _, o := range m.Outbound {
		if o.HasLatency {
			outbound += o.PerSec * o.Latency.Mean
		}
	}
	add(PartOutbound, per(outbound), "outbound HTTP client metrics")
	if rest := svc.MeanMS - known; rest > 0 {
		out = append(out, Part{Name: PartOther, MSPerRequest: rest, Share: rest / svc.MeanMS,
			From: "the rest: waiting inside the service for nothing advisor can see"})
	}
	// Parts order, whatever the order they were measured in.
	slices.SortStableFunc(out, func(a, b Part) int {
		return cmp.Compare(slices.Index(Parts, a.Name), slices.Index(Parts, b.Name))
	})
	return out
}
