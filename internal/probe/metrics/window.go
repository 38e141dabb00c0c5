package metrics

import (
	"math"
	"sort"
	"time"

	"github.com/pgadvisor/advisor/internal/probe/source"
)

// Window is the change between two snapshots: counters as deltas and
// per-second rates, histograms as deltas with percentiles, gauges at their
// latest value.
type Window struct {
	Start, End time.Time
	// Seconds is the length rates are taken over. For a cumulative window
	// it is the time since the process started, when that is known.
	Seconds float64
	// Cumulative is set for Diff(nil, cur): values since process start.
	Cumulative bool
	// LengthKnown is false for a cumulative window without
	// process_start_time_seconds: deltas are set, rates are zero.
	LengthKnown bool
	// Restarted is set when the process restarted between the snapshots
	// (its start time changed): every counter starts from zero.
	Restarted bool
	// Resets counts series whose counter went down (and were read as
	// counted from zero).
	Resets int
	// Status of the latest snapshot.
	Status source.Status
	// Note says what limits the window, e.g. an unknown length.
	Note string

	Routes []RouteRate
	// Latency is every request's latency over the window, from
	// Snapshot.Latency; HasLatency when the service exposes one.
	Latency    Latency
	HasLatency bool
	// Requests, Errors and RPS over every route.
	Requests, Errors, RPS float64
	// ErrorRate is Errors/Requests (0 without requests).
	ErrorRate float64
	// InFlight gauges of the latest snapshot, and their total.
	InFlight      []Gauge
	InFlightTotal float64
	HasInFlight   bool
	Pools         []PoolRate
	Outbound      []OutboundRate
	// OutboundPerSec and OutboundPerRequest sum every host.
	OutboundPerSec, OutboundPerRequest float64
	Runtime                            RuntimeWindow
	Process                            ProcessWindow

	prev, cur *Snapshot
}

// Latency is a histogram's delta summed up, in its unit (seconds).
type Latency struct {
	Count float64 `json:"count"`
	Mean  float64 `json:"mean"`
	// Percentiles, interpolated linearly inside buckets as Prometheus'
	// histogram_quantile does; set when HasPercentiles.
	P50, P90, P95, P99 float64
	HasPercentiles     bool `json:"has_percentiles"`
	// Bounds are the histogram's finite bucket upper bounds, ascending: a
	// percentile is only known to the bucket that holds it.
	Bounds []float64 `json:"bounds,omitempty"`
}

// RouteRate is one route over a window.
type RouteRate struct {
	Route, Method string
	Requests      float64
	RPS           float64
	Errors        float64
	ErrorsPerSec  float64
	ErrorRate     float64
	Latency       Latency
	HasLatency    bool
}

// PoolRate is one pool over a window.
type PoolRate struct {
	Kind, ID string
	Labels   map[string]string
	// Gauges at the end of the window.
	Gauges map[string]float64
	// Deltas and Rates (per second) of the counters.
	Deltas, Rates map[string]float64
	// WaitsPerSec: acquires that waited for a connection, per second.
	WaitsPerSec float64
	// WaitSecondsPerSec: seconds spent waiting per second (the mean number
	// of goroutines waiting).
	WaitSecondsPerSec float64
	// MeanWaitSeconds per waiting acquire.
	MeanWaitSeconds float64
	// Utilisation is in use / max, when both are known.
	Utilisation    float64
	HasUtilisation bool
}

// OutboundRate is the calls to one host over a window.
type OutboundRate struct {
	Host               string
	Calls, PerSec      float64
	Errors             float64
	PerInboundRequest  float64
	Latency            Latency
	HasLatency         bool
	HasInboundRequests bool
}

// RuntimeWindow is the service's runtime over a window.
type RuntimeWindow struct {
	// Language, Version and Implementation are those of the latest
	// snapshot (see Runtime).
	Language, Version, Implementation string
	// EventLoop is Node's event loop at the latest snapshot (its gauges
	// cover the time since the scrape before it), nil when not exposed.
	EventLoop *EventLoop

	Goroutines, GOMAXPROCS, Threads *float64
	// GCCPUFraction is the GC's share of CPU in the window (from the
	// runtime/metrics CPU classes), else since start (the old gauge).
	GCCPUFraction *float64
	// GCRuns in the window and their pauses (count and mean only).
	GCRuns      float64
	GCPauseMean float64
	// SchedLatency percentiles over the window, when exposed.
	SchedLatency    Latency
	HasSchedLatency bool
	HeapAllocBytes  *float64
	NextGCBytes     *float64
	GOGC            *float64
	GOMEMLIMIT      *float64
}

// ProcessWindow is the process over a window.
type ProcessWindow struct {
	// CPUCores is CPU seconds per second (1.0 = one core busy).
	CPUCores      *float64
	ResidentBytes *float64
	OpenFDs       *float64
	MaxFDs        *float64
	// UptimeSeconds at the end of the window.
	UptimeSeconds *float64
}

// Diff turns two snapshots of the same target into a window. With prev nil
// the window is cumulative since process start. Counters that went down and
// a restarted process count from zero: no rate is ever negative.
func Diff(prev, cur *Snapshot) *Window {
	if cur == nil {
		return &Window{Status: source.Status{State: source.Unavailable, Detail: "no metrics snapshot"}}
	}
	w := &Window{End: cur.Time, Status: cur.Status, prev: prev, cur: cur}
	curStart := cur.Process.StartTimeSeconds
	switch {
	case prev == nil || !prev.Status.Ok() || len(prev.Families) == 0:
		w.Cumulative = true
		w.prev = nil
		if curStart != nil && *curStart > 0 {
			w.Start = time.Unix(0, int64(*curStart*1e9))
			w.Seconds = cur.Time.Sub(w.Start).Seconds()
			w.LengthKnown = w.Seconds > 0
		}
	default:
		w.Start = prev.Time
		w.Seconds = cur.Time.Sub(prev.Time).Seconds()
		w.LengthKnown = w.Seconds > 0
		prevStart := prev.Process.StartTimeSeconds
		// The start time is exact to the clock tick (10ms): any change is a
		// new process.
		if curStart != nil && prevStart != nil && math.Abs(*curStart-*prevStart) > 1e-3 {
			w.Restarted = true
			w.prev = nil
			// Counters restarted with the process: rate over its life
			// when that is inside the window.
			if since := cur.Time.Sub(time.Unix(0, int64(*curStart*1e9))).Seconds(); since > 0 && since < w.Seconds {
				w.Seconds = since
			}
		}
	}
	if !w.LengthKnown {
		w.Seconds = 0
		if w.Cumulative {
			w.Note = "window length unknown: the target exposes no process_start_time_seconds, so totals since start have no rates"
		}
	}
	w.routes()
	// A histogram the previous scrape did not have would give its
	// counts since the process started, not the window's.
	if cur.Latency != nil && (w.prev == nil || w.prev.Latency != nil) {
		var pl *Histogram
		if w.prev != nil {
			pl = w.prev.Latency
		}
		w.Latency, w.HasLatency = LatencyOf(w.histDelta(pl, cur.Latency)), true
	}
	w.InFlight = cur.InFlight
	w.InFlightTotal, w.HasInFlight = cur.InFlightTotal()
	w.pools()
	w.outbound()
	w.runtime()
	return w
}

// rate divides by the window's length; 0 when it is unknown.
func (w *Window) rate(delta float64) float64 {
	if w.Seconds <= 0 {
		return 0
	}
	return delta / w.Seconds
}

// delta of a counter: cur - prev, or cur when there is no previous value or
// the counter went down.
func (w *Window) delta(prev float64, hasPrev bool, cur float64) float64 {
	if !hasPrev || w.prev == nil {
		return cur
	}
	if cur < prev {
		w.Resets++
		return cur
	}
	return cur - prev
}

// histDelta is cur - prev bucket by bucket; cur when prev is missing, has
// other bounds, or any count went down.
func (w *Window) histDelta(prev, cur *Histogram) *Histogram {
	if cur == nil {
		return nil
	}
	if prev == nil || w.prev == nil {
		return cur
	}
	if cur.Count < prev.Count || len(cur.Buckets) != len(prev.Buckets) {
		if cur.Count < prev.Count {
			w.Resets++
		}
		return cur
	}
	d := &Histogram{Count: cur.Count - prev.Count, Sum: cur.Sum - prev.Sum, Buckets: make([]Bucket, len(cur.Buckets))}
	for i, b := range cur.Buckets {
		pb := prev.Buckets[i]
		if pb.UpperBound != b.UpperBound || b.Count < pb.Count {
			if b.Count < pb.Count {
				w.Resets++
			}
			return cur
		}
		d.Buckets[i] = Bucket{UpperBound: b.UpperBound, Count: b.Count - pb.Count}
	}
	if d.Sum < 0 {
		d.Sum = 0
	}
	return d
}

// LatencyOf sums up a histogram: count, mean and percentiles.
func LatencyOf(h *Histogram) Latency {
	if h == nil {
		return Latency{}
	}
	l := Latency{Count: h.Count}
	if h.Count > 0 {
		l.Mean = h.Sum / h.Count
	}
	var ok bool
	if l.P50, ok = h.Quantile(0.50); ok {
		l.P90, _ = h.Quantile(0.90)
		l.P95, _ = h.Quantile(0.95)
		l.P99, _ = h.Quantile(0.99)
		l.HasPercentiles = true
		for _, b := range h.Buckets {
			if !math.IsInf(b.UpperBound, 0) {
				l.Bounds = append(l.Bounds, b.UpperBound)
			}
		}
	}
	return l
}

// Quantile estimates the q-quantile (0..1) as Prometheus' histogram_quantile
// does: find the bucket holding the rank, interpolate linearly inside it
// (from 0 for the first bucket), and answer the highest finite bound when
// the rank falls in the +Inf bucket. False without buckets or observations.
func (h *Histogram) Quantile(q float64) (float64, bool) {
	if h == nil || len(h.Buckets) == 0 || math.IsNaN(q) {
		return 0, false
	}
	buckets := h.Buckets
	total := buckets[len(buckets)-1].Count
	if !math.IsInf(buckets[len(buckets)-1].UpperBound, 1) {
		total = math.Max(total, h.Count)
		buckets = append(append([]Bucket(nil), buckets...), Bucket{UpperBound: math.Inf(1), Count: total})
	}
	if total <= 0 {
		return 0, false
	}
	q = math.Min(math.Max(q, 0), 1)
	rank := q * total
	i := sort.Search(len(buckets), func(i int) bool { return buckets[i].Count >= rank })
	if i >= len(buckets) {
		i = len(buckets) - 1
	}
	if math.IsInf(buckets[i].UpperBound, 1) {
		if i == 0 {
			return 0, false
		}
		return buckets[i-1].UpperBound, true
	}
	lower, below := 0.0, 0.0
	if i > 0 {
		lower, below = buckets[i-1].UpperBound, buckets[i-1].Count
	} else if buckets[0].UpperBound <= 0 {
		return buckets[0].UpperBound, true
	}
	upper, in := buckets[i].UpperBound, buckets[i].Count-below
	if in <= 0 {
		return upper, true
	}
	return lower + (upper-lower)*(rank-below)/in, true
}

func (w *Window) routes() {
	prev := map[routeKey]Route{}
	if w.prev != nil {
		for _, r := range w.prev.Routes {
			prev[routeKey{r.Route, r.Method}] = r
		}
	}
	for _, r := range w.cur.Routes {
		p, ok := prev[routeKey{r.Route, r.Method}]
		if ok && r.Requests < p.Requests {
			// The route's counters restarted: all of them count from zero.
			w.Resets++
			ok, p = false, Route{}
		}
		rr := RouteRate{Route: r.Route, Method: r.Method}
		rr.Requests = w.delta(p.Requests, ok, r.Requests)
		rr.Errors = w.delta(p.Errors, ok, r.Errors)
		if rr.Errors > rr.Requests {
			rr.Errors = rr.Requests
		}
		rr.RPS, rr.ErrorsPerSec = w.rate(rr.Requests), w.rate(rr.Errors)
		if rr.Requests > 0 {
			rr.ErrorRate = rr.Errors / rr.Requests
		}
		if r.Latency != nil {
			rr.Latency = LatencyOf(w.histDelta(p.Latency, r.Latency))
			rr.HasLatency = true
		}
		w.Requests += rr.Requests
		w.Errors += rr.Errors
		w.Routes = append(w.Routes, rr)
	}
	w.RPS = w.rate(w.Requests)
	if w.Requests > 0 {
		w.ErrorRate = w.Errors / w.Requests
	}
	sort.SliceStable(w.Routes, func(i, j int) bool { return w.Routes[i].Requests > w.Routes[j].Requests })
}

func (w *Window) pools() {
	prev := map[string]Pool{}
	if w.prev != nil {
		for _, p := range w.prev.Pools {
			prev[p.ID] = p
		}
	}
	for _, p := range w.cur.Pools {
		pp, ok := prev[p.ID]
		pr := PoolRate{Kind: p.Kind, ID: p.ID, Labels: p.Labels, Gauges: p.Gauges,
			Deltas: map[string]float64{}, Rates: map[string]float64{}}
		for k, v := range p.Counters {
			pv, has := pp.Counters[k]
			d := w.delta(pv, ok && has, v)
			pr.Deltas[k] = d
			pr.Rates[k] = w.rate(d)
		}
		pr.WaitsPerSec = pr.Rates[PoolWaits]
		pr.WaitSecondsPerSec = pr.Rates[PoolWaitSeconds]
		if waits := pr.Deltas[PoolWaits]; waits > 0 {
			pr.MeanWaitSeconds = pr.Deltas[PoolWaitSeconds] / waits
		}
		if maxConns, ok := p.Gauges[PoolMax]; ok && maxConns > 0 {
			if inUse, ok := p.Gauges[PoolInUse]; ok {
				pr.Utilisation, pr.HasUtilisation = inUse/maxConns, true
			}
		}
		w.Pools = append(w.Pools, pr)
	}
}

func (w *Window) outbound() {
	prev := map[string]Outbound{}
	if w.prev != nil {
		for _, o := range w.prev.Outbound {
			prev[o.Host] = o
		}
	}
	var calls float64
	for _, o := range w.cur.Outbound {
		p, ok := prev[o.Host]
		or := OutboundRate{Host: o.Host}
		or.Calls = w.delta(p.Calls, ok, o.Calls)
		or.Errors = w.delta(p.Errors, ok, o.Errors)
		or.PerSec = w.rate(or.Calls)
		if w.Requests > 0 {
			or.PerInboundRequest, or.HasInboundRequests = or.Calls/w.Requests, true
		}
		if o.Latency != nil {
			or.Latency, or.HasLatency = LatencyOf(w.histDelta(p.Latency, o.Latency)), true
		}
		calls += or.Calls
		w.Outbound = append(w.Outbound, or)
	}
	w.OutboundPerSec = w.rate(calls)
	if w.Requests > 0 {
		w.OutboundPerRequest = calls / w.Requests
	}
	sort.SliceStable(w.Outbound, func(i, j int) bool { return w.Outbound[i].Calls > w.Outbound[j].Calls })
}

func (w *Window) runtime() {
	cur := w.cur.Runtime
	var prev Runtime
	if w.prev != nil {
		prev = w.prev.Runtime
	}
	rw := RuntimeWindow{Language: cur.Language, Version: cur.Version, Implementation: cur.Implementation, EventLoop: cur.EventLoop,
		Goroutines: cur.Goroutines, GOMAXPROCS: cur.GOMAXPROCS, Threads: cur.Threads,
		HeapAllocBytes: cur.HeapAllocBytes, NextGCBytes: cur.NextGCBytes, GOGC: cur.GOGC, GOMEMLIMIT: cur.GOMEMLIMIT}
	if cur.GCCPUSeconds != nil && cur.TotalCPUSeconds != nil {
		gc := w.delta(deref(prev.GCCPUSeconds), prev.GCCPUSeconds != nil, *cur.GCCPUSeconds)
		total := w.delta(deref(prev.TotalCPUSeconds), prev.TotalCPUSeconds != nil, *cur.TotalCPUSeconds)
		if total > 0 {
			f := math.Min(gc/total, 1)
			rw.GCCPUFraction = &f
		}
	}
	if rw.GCCPUFraction == nil && cur.GCCPUFraction != nil {
		rw.GCCPUFraction = cur.GCCPUFraction
	}
	if cur.GCPauses != nil {
		d := w.histDelta(prev.GCPauses, cur.GCPauses)
		rw.GCRuns = d.Count
		if d.Count > 0 {
			rw.GCPauseMean = d.Sum / d.Count
		}
	}
	if cur.SchedLatencies != nil {
		rw.SchedLatency = LatencyOf(w.histDelta(prev.SchedLatencies, cur.SchedLatencies))
		rw.HasSchedLatency = rw.SchedLatency.HasPercentiles
	}
	w.Runtime = rw

	p := w.cur.Process
	pw := ProcessWindow{ResidentBytes: p.ResidentBytes, OpenFDs: p.OpenFDs, MaxFDs: p.MaxFDs}
	if p.CPUSeconds != nil && w.Seconds > 0 {
		var prevCPU *float64
		if w.prev != nil {
			prevCPU = w.prev.Process.CPUSeconds
		}
		cores := w.rate(w.delta(deref(prevCPU), prevCPU != nil, *p.CPUSeconds))
		pw.CPUCores = &cores
	}
	if p.StartTimeSeconds != nil && *p.StartTimeSeconds > 0 {
		up := w.End.Sub(time.Unix(0, int64(*p.StartTimeSeconds*1e9))).Seconds()
		pw.UptimeSeconds = &up
	}
	w.Process = pw
}

func deref(p *float64) float64 {
	if p == nil {
		return 0
	}
	return *p
}

// Rate is the per-second rate of the sum of a counter family's samples
// matching the labels in match over the window; false when the family is
// absent from the latest snapshot or the window's length is unknown.
func (w *Window) Rate(name string, match map[string]string) (float64, bool) {
	d, ok := w.Delta(name, match)
	if !ok || w.Seconds <= 0 {
		return 0, false
	}
	return d / w.Seconds, true
}

// Delta is the increase of a counter family's matching samples over the
// window, series by series, counting a series that went down from zero.
func (w *Window) Delta(name string, match map[string]string) (float64, bool) {
	if w.cur == nil {
		return 0, false
	}
	cur := w.cur.Families.Series(name)
	if len(cur) == 0 {
		return 0, false
	}
	prev := map[string]float64{}
	if w.prev != nil {
		for _, s := range w.prev.Families.Series(name) {
			prev[labelKey(s.Labels)] = s.Value
		}
	}
	var sum float64
	found := false
	for _, s := range cur {
		if !matches(s.Labels, match) {
			continue
		}
		found = true
		pv, ok := prev[labelKey(s.Labels)]
		if ok && s.Value >= pv && w.prev != nil {
			sum += s.Value - pv
		} else {
			sum += s.Value
		}
	}
	return sum, found
}

// Gauge is the latest value of a family's matching samples, summed.
func (w *Window) Gauge(name string, match map[string]string) (float64, bool) {
	if w.cur == nil {
		return 0, false
	}
	return w.cur.Families.Value(name, match)
}
