package metrics

import (
	"sort"
	"strings"
	"time"

	"github.com/pgadvisor/advisor/internal/probe/source"
)

// Snapshot is what one scrape read: every family, and the views advisor
// reasons about. Counters and histograms hold cumulative values; Diff turns
// two snapshots into rates.
type Snapshot struct {
	Target string        `json:"target"`
	Time   time.Time     `json:"time"`
	Status source.Status `json:"status"`
	// Families holds every family, for lookups of any metric.
	Families Families `json:"-"`
	Routes   []Route  `json:"routes"`
	// Latency is every request's latency in seconds, from a latency
	// histogram without a route label beside routes read from labelled
	// families (prometheus-fastapi-instrumentator's fine
	// http_request_duration_highr_seconds next to its coarse per-route
	// one); nil otherwise.
	Latency  *Histogram `json:"latency,omitempty"`
	InFlight []Gauge    `json:"in_flight"`
	Outbound []Outbound `json:"outbound"`
	Pools    []Pool     `json:"pools"`
	Runtime  Runtime    `json:"runtime"`
	Process  Process    `json:"process"`
}

// Route is one served route (and method), cumulative.
type Route struct {
	Route  string `json:"route"`
	Method string `json:"method,omitempty"`
	// Requests served, from a request counter or, failing that, the
	// latency histogram's count.
	Requests float64 `json:"requests"`
	// Errors are requests answered with a 5xx status.
	Errors float64            `json:"errors"`
	ByCode map[string]float64 `json:"by_code,omitempty"`
	// Latency in seconds, merged over status codes; nil without a
	// histogram or summary.
	Latency *Histogram `json:"latency,omitempty"`
	// Families the route was read from.
	Families []string `json:"families"`
}

// Gauge is one sample of a gauge.
type Gauge struct {
	Name   string            `json:"name"`
	Labels map[string]string `json:"labels,omitempty"`
	Value  float64           `json:"value"`
}

// Outbound is the HTTP calls made to one host, cumulative.
type Outbound struct {
	Host    string     `json:"host"`
	Calls   float64    `json:"calls"`
	Errors  float64    `json:"errors"`
	Latency *Histogram `json:"latency,omitempty"`
}

// Pool is one connection pool: gauges (current values) and counters
// (cumulative) under the canonical keys (PoolMax, PoolWaits, ...).
type Pool struct {
	Kind string `json:"kind"`
	// ID identifies the pool: the metric prefix when it is not the usual
	// one, and the labels.
	ID       string             `json:"id"`
	Labels   map[string]string  `json:"labels,omitempty"`
	Gauges   map[string]float64 `json:"gauges"`
	Counters map[string]float64 `json:"counters"`
}

// Runtime is the service's runtime: which one it is, and the Go runtime's
// and Node's event loop's figures; nil fields are not exposed.
type Runtime struct {
	// Language is the runtime, recognised from its info metric (go_info,
	// python_info, nodejs_version_info, jvm_info) or, without one, from
	// the families only its client library exports: LanguageGo,
	// LanguagePython, LanguageNode, LanguageJVM; "" when none is
	// recognised.
	Language string `json:"language,omitempty"`
	// Version of the runtime, from the info metric: "1.26.0" (Go, without
	// its "go"), "3.11.2" (Python), "20.11.0" (Node, without its "v"),
	// "17.0.2+8" (JVM); "" when unknown.
	Version string `json:"version,omitempty"`
	// Implementation is python_info's implementation (CPython, PyPy) or
	// jvm_info's runtime; "" for others.
	Implementation string `json:"implementation,omitempty"`
	// EventLoop is Node's event loop, nil when not exposed.
	EventLoop *EventLoop `json:"event_loop,omitempty"`

	Goroutines *float64 `json:"goroutines,omitempty"`
	GOMAXPROCS *float64 `json:"gomaxprocs,omitempty"`
	Threads    *float64 `json:"threads,omitempty"`
	// GCCPUFraction is go_memstats_gc_cpu_fraction (old client_golang):
	// the GC's share of CPU since the program started.
	GCCPUFraction *float64 `json:"gc_cpu_fraction,omitempty"`
	// GCCPUSeconds and TotalCPUSeconds are the runtime/metrics CPU classes
	// (cumulative); their ratio over a window is the GC's CPU share.
	GCCPUSeconds    *float64 `json:"gc_cpu_seconds,omitempty"`
	TotalCPUSeconds *float64 `json:"total_cpu_seconds,omitempty"`
	// GCPauses is go_gc_duration_seconds (a summary: count and sum).
	GCPauses *Histogram `json:"gc_pauses,omitempty"`
	// SchedLatencies is go_sched_latencies_seconds: time goroutines spent
	// runnable before running.
	SchedLatencies *Histogram `json:"sched_latencies,omitempty"`
	HeapAllocBytes *float64   `json:"heap_alloc_bytes,omitempty"`
	HeapInuseBytes *float64   `json:"heap_inuse_bytes,omitempty"`
	HeapSysBytes   *float64   `json:"heap_sys_bytes,omitempty"`
	NextGCBytes    *float64   `json:"next_gc_bytes,omitempty"`
	GOGC           *float64   `json:"gogc_percent,omitempty"`
	GOMEMLIMIT     *float64   `json:"gomemlimit_bytes,omitempty"`
}

// Process is the process collector's view; nil fields are not exposed.
type Process struct {
	CPUSeconds       *float64 `json:"cpu_seconds,omitempty"`
	ResidentBytes    *float64 `json:"resident_bytes,omitempty"`
	StartTimeSeconds *float64 `json:"start_time_seconds,omitempty"`
	MaxFDs           *float64 `json:"max_fds,omitempty"`
	OpenFDs          *float64 `json:"open_fds,omitempty"`
}

// NewSnapshot recognises the families of one scrape taken at t. The status
// is OK; Client.Scrape sets it from the fetch.
func NewSnapshot(t time.Time, fams Families, names Names) *Snapshot {
	if fams == nil {
		fams = Families{}
	}
	s := &Snapshot{Time: t, Status: source.Status{State: source.OK}, Families: fams}
	s.Routes, s.Latency = routes(fams, names)
	for _, name := range names.InFlight {
		for _, se := range fams.Series(name) {
			s.InFlight = append(s.InFlight, Gauge{Name: name, Labels: se.Labels, Value: se.Value})
		}
	}
	s.Outbound = outbound(fams, names)
	s.Pools = pools(fams, names.Pools)
	s.Runtime = runtimeOf(fams)
	s.Process = Process{
		CPUSeconds:       value(fams, "process_cpu_seconds_total"),
		ResidentBytes:    value(fams, "process_resident_memory_bytes"),
		StartTimeSeconds: value(fams, "process_start_time_seconds"),
		MaxFDs:           value(fams, "process_max_fds"),
		OpenFDs:          value(fams, "process_open_fds"),
	}
	return s
}

// Value is Families.Value on the snapshot's families.
func (s *Snapshot) Value(name string, match map[string]string) (float64, bool) {
	return s.Families.Value(name, match)
}

// InFlightTotal sums the in-flight gauges of the first family present.
func (s *Snapshot) InFlightTotal() (float64, bool) {
	if len(s.InFlight) == 0 {
		return 0, false
	}
	first := s.InFlight[0].Name
	var sum float64
	for _, g := range s.InFlight {
		if g.Name == first {
			sum += g.Value
		}
	}
	return sum, true
}

func value(f Families, name string) *float64 {
	v, ok := f.Value(name, nil)
	if !ok {
		return nil
	}
	return &v
}

func firstLabel(labels map[string]string, names []string) (string, bool) {
	for _, n := range names {
		if v, ok := labels[n]; ok {
			return v, true
		}
	}
	return "", false
}

func isServerError(status string) bool {
	return strings.HasPrefix(status, "5") || strings.EqualFold(status, "SERVER_ERROR")
}

type routeKey struct{ route, method string }

// routes reads the served routes, and every request's latency from a
// histogram without a route label when routes come from labelled families
// (nil when there is none, or when it gives the only route).
func routes(f Families, n Names) ([]Route, *Histogram) {
	index := map[routeKey]*Route{}
	var order []routeKey
	get := func(k routeKey) *Route {
		r := index[k]
		if r == nil {
			r = &Route{Route: k.route, Method: k.method}
			index[k] = r
			order = append(order, k)
		}
		return r
	}
	addFamily := func(r *Route, name string) {
		if len(r.Families) == 0 || r.Families[len(r.Families)-1] != name {
			for _, have := range r.Families {
				if have == name {
					return
				}
			}
			r.Families = append(r.Families, name)
		}
	}
	counted := map[routeKey]string{} // family the route's requests come from
	for _, name := range n.RequestCounters {
		for _, se := range f.Series(name) {
			route, ok := firstLabel(se.Labels, n.RouteLabels)
			if !ok {
				continue
			}
			method, _ := firstLabel(se.Labels, n.MethodLabels)
			k := routeKey{route, method}
			if fam, ok := counted[k]; ok && fam != name {
				continue // an earlier counter family has this route
			}
			counted[k] = name
			r := get(k)
			addFamily(r, name)
			r.Requests += se.Value
			status, _ := firstLabel(se.Labels, n.StatusLabels)
			if status == "" {
				status = se.Labels["outcome"]
			}
			if status != "" {
				if r.ByCode == nil {
					r.ByCode = map[string]float64{}
				}
				r.ByCode[status] += se.Value
			}
			if isServerError(status) {
				r.Errors += se.Value
			}
		}
	}
	latencyFrom := map[routeKey]string{}
	var unlabelled []Series
	var unlabelledFamily string
	for _, name := range n.RequestDurations {
		for _, se := range f.Series(name) {
			if se.Histogram == nil {
				continue
			}
			route, ok := firstLabel(se.Labels, n.RouteLabels)
			if !ok {
				if unlabelledFamily == "" || unlabelledFamily == name {
					unlabelledFamily = name
					unlabelled = append(unlabelled, se)
				}
				continue
			}
			method, _ := firstLabel(se.Labels, n.MethodLabels)
			k := routeKey{route, method}
			if fam, ok := latencyFrom[k]; ok && fam != name {
				continue
			}
			latencyFrom[k] = name
			r := get(k)
			addFamily(r, name)
			r.Latency = mergeHistogram(r.Latency, se.Histogram)
			if _, ok := counted[k]; !ok {
				r.Requests += se.Histogram.Count
				status, _ := firstLabel(se.Labels, n.StatusLabels)
				if status == "" {
					status = se.Labels["outcome"]
				}
				if status != "" {
					if r.ByCode == nil {
						r.ByCode = map[string]float64{}
					}
					r.ByCode[status] += se.Histogram.Count
				}
				if isServerError(status) {
					r.Errors += se.Histogram.Count
				}
			}
		}
	}
	// A latency family without a route label (fastapi's highr histogram)
	// is a route only when nothing gives routes; beside routes it is every
	// request's latency.
	var all *Histogram
	for _, se := range unlabelled {
		all = mergeHistogram(all, se.Histogram)
	}
	if len(order) == 0 && all != nil {
		r := get(routeKey{})
		addFamily(r, unlabelledFamily)
		r.Latency, r.Requests, all = all, all.Count, nil
	}
	out := make([]Route, 0, len(order))
	for _, k := range order {
		out = append(out, *index[k])
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Route != out[j].Route {
			return out[i].Route < out[j].Route
		}
		return out[i].Method < out[j].Method
	})
	return out, all
}

// mergeHistogram adds h to acc (nil acc starts a copy). Buckets add by upper
// bound; bounds only one side has are kept as they are.
func mergeHistogram(acc, h *Histogram) *Histogram {
	if acc == nil {
		c := *h
		c.Buckets = append([]Bucket(nil), h.Buckets...)
		return &c
	}
	acc.Count += h.Count
	acc.Sum += h.Sum
	i, j := 0, 0
	var merged []Bucket
	for i < len(acc.Buckets) || j < len(h.Buckets) {
		switch {
		case j == len(h.Buckets) || (i < len(acc.Buckets) && acc.Buckets[i].UpperBound < h.Buckets[j].UpperBound):
			merged = append(merged, acc.Buckets[i])
			i++
		case i == len(acc.Buckets) || h.Buckets[j].UpperBound < acc.Buckets[i].UpperBound:
			merged = append(merged, h.Buckets[j])
			j++
		default:
			merged = append(merged, Bucket{UpperBound: acc.Buckets[i].UpperBound, Count: acc.Buckets[i].Count + h.Buckets[j].Count})
			i++
			j++
		}
	}
	acc.Buckets = merged
	return acc
}

func outbound(f Families, n Names) []Outbound {
	index := map[string]*Outbound{}
	var order []string
	get := func(host string) *Outbound {
		o := index[host]
		if o == nil {
			o = &Outbound{Host: host}
			index[host] = o
			order = append(order, host)
		}
		return o
	}
	counted := map[string]bool{}
	for _, name := range n.ClientCounters {
		for _, se := range f.Series(name) {
			host, _ := firstLabel(se.Labels, n.HostLabels)
			o := get(host)
			counted[host] = true
			o.Calls += se.Value
			if status, _ := firstLabel(se.Labels, n.StatusLabels); isServerError(status) {
				o.Errors += se.Value
			}
		}
	}
	latencyFrom := map[string]string{}
	for _, name := range n.ClientDurations {
		for _, se := range f.Series(name) {
			if se.Histogram == nil {
				continue
			}
			host, _ := firstLabel(se.Labels, n.HostLabels)
			if fam, ok := latencyFrom[host]; ok && fam != name {
				continue
			}
			latencyFrom[host] = name
			o := get(host)
			o.Latency = mergeHistogram(o.Latency, se.Histogram)
			if !counted[host] {
				o.Calls += se.Histogram.Count
				if status, _ := firstLabel(se.Labels, n.StatusLabels); isServerError(status) {
					o.Errors += se.Histogram.Count
				}
			}
		}
	}
	out := make([]Outbound, 0, len(order))
	for _, h := range order {
		out = append(out, *index[h])
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Host < out[j].Host })
	return out
}

func pools(f Families, families []PoolFamily) []Pool {
	names := make([]string, 0, len(f))
	for name := range f {
		names = append(names, name)
	}
	sort.Strings(names)
	index := map[string]*Pool{}
	var order []string
	claimed := map[string]bool{}
	for _, pf := range families {
		for _, name := range names {
			if claimed[name] {
				continue
			}
			prefix, metric, ok := matchPool(pf, name)
			if !ok {
				continue
			}
			claimed[name] = true
			scale := metric.Scale
			if scale == 0 {
				scale = 1
			}
			for _, se := range f.Series(name) {
				id := pf.Kind
				if pf.AnyPrefix || prefix != pf.Prefix {
					id += ":" + strings.TrimSuffix(prefix, "_")
				}
				id += labelKey(se.Labels)
				p := index[id]
				if p == nil {
					p = &Pool{Kind: pf.Kind, ID: id, Labels: se.Labels, Gauges: map[string]float64{}, Counters: map[string]float64{}}
					index[id] = p
					order = append(order, id)
				}
				if metric.Counter {
					p.Counters[metric.Key] += se.Value * scale
				} else {
					p.Gauges[metric.Key] += se.Value * scale
				}
			}
		}
	}
	out := make([]Pool, 0, len(order))
	for _, id := range order {
		out = append(out, *index[id])
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// matchPool returns the prefix and metric a family name has in a pool
// family.
func matchPool(pf PoolFamily, name string) (string, PoolMetric, bool) {
	if !pf.AnyPrefix {
		if !strings.HasPrefix(name, pf.Prefix) {
			return "", PoolMetric{}, false
		}
		m, ok := pf.Metrics[strings.TrimPrefix(name, pf.Prefix)]
		return pf.Prefix, m, ok
	}
	// The longest suffix wins, so pool_conn_total_current is not read as
	// something shorter.
	best := ""
	for suffix := range pf.Metrics {
		if strings.HasSuffix(name, suffix) && len(suffix) > len(best) {
			if rest := strings.TrimSuffix(name, suffix); rest == "" || strings.HasSuffix(rest, "_") {
				best = suffix
			}
		}
	}
	if best == "" {
		return "", PoolMetric{}, false
	}
	return strings.TrimSuffix(name, best), pf.Metrics[best], true
}

func runtimeOf(f Families) Runtime {
	r := Runtime{
		Goroutines:      value(f, "go_goroutines"),
		GOMAXPROCS:      value(f, "go_sched_gomaxprocs_threads"),
		Threads:         value(f, "go_threads"),
		GCCPUFraction:   value(f, "go_memstats_gc_cpu_fraction"),
		GCCPUSeconds:    value(f, "go_cpu_classes_gc_total_cpu_seconds_total"),
		TotalCPUSeconds: value(f, "go_cpu_classes_total_cpu_seconds_total"),
		HeapAllocBytes:  value(f, "go_memstats_heap_alloc_bytes"),
		HeapInuseBytes:  value(f, "go_memstats_heap_inuse_bytes"),
		HeapSysBytes:    value(f, "go_memstats_heap_sys_bytes"),
		NextGCBytes:     value(f, "go_memstats_next_gc_bytes"),
		GOGC:            value(f, "go_gc_gogc_percent"),
		GOMEMLIMIT:      value(f, "go_gc_gomemlimit_bytes"),
	}
	if r.NextGCBytes == nil {
		r.NextGCBytes = value(f, "go_gc_heap_goal_bytes")
	}
	recogniseRuntime(&r, f)
	r.EventLoop = eventLoopOf(f)
	for _, se := range f.Series("go_gc_duration_seconds") {
		if se.Histogram != nil {
			r.GCPauses = mergeHistogram(r.GCPauses, se.Histogram)
		}
	}
	for _, se := range f.Series("go_sched_latencies_seconds") {
		if se.Histogram != nil {
			r.SchedLatencies = mergeHistogram(r.SchedLatencies, se.Histogram)
		}
	}
	return r
}
