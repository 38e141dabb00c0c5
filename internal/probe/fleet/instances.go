package fleet

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/common/model"

	"github.com/pgadvisor/advisor/internal/probe/metrics"
)

// Instance is one instance of the fleet over the range ending at the
// snapshot: PromQL's rate and histogram_quantile, computed by the server.
type Instance struct {
	// Name is the instance label (host:port, or the pod).
	Name string `json:"instance"`
	// Up is the scrape's up at the end of the range; Gone is set for an
	// instance seen during the range whose series went stale before its
	// end (stopped, rescheduled, scaled in).
	Up   bool `json:"up"`
	Gone bool `json:"gone,omitempty"`
	// RPS is requests per second; P95Seconds the 95th percentile of their
	// latency (HasP95 when a histogram gives it).
	RPS        float64 `json:"rps"`
	P95Seconds float64 `json:"p95_seconds,omitempty"`
	HasP95     bool    `json:"-"`
	// CPUCores is process CPU seconds per second (HasCPU when exposed).
	CPUCores float64 `json:"cpu_cores,omitempty"`
	HasCPU   bool    `json:"-"`
	// PoolInUse and PoolMax are the instance's database pool gauges
	// (HasPool when the pool's metrics say its size).
	PoolInUse float64 `json:"pool_in_use,omitempty"`
	PoolMax   float64 `json:"pool_max,omitempty"`
	HasPool   bool    `json:"-"`
	// Version is what its *_build_info (or go_info) says, "" when nothing.
	Version string `json:"version,omitempty"`
}

// Fleet is the instances behind one snapshot's aggregate.
type Fleet struct {
	// Prometheus is the server's address, Selector the matchers.
	Prometheus, Selector string
	// Range is what each instance's figures cover, ending at Time.
	Range time.Duration
	Time  time.Time
	// Instances sorted by name; those Gone included.
	Instances []Instance
	// Families are the metric families each figure came from, for the
	// evidence: "requests", "latency", "pool".
	Families map[string]string
	// Notes say what could not be read per instance (a query that failed).
	Notes []string
}

// Live counts the instances not gone.
func (f *Fleet) Live() int {
	n := 0
	for _, in := range f.Instances {
		if !in.Gone {
			n++
		}
	}
	return n
}

// Find returns the instance named name.
func (f *Fleet) Find(name string) (Instance, bool) {
	for _, in := range f.Instances {
		if in.Name == name {
			return in, true
		}
	}
	return Instance{}, false
}

// rangeString is a PromQL duration of at least a second.
func rangeString(d time.Duration) string {
	return fmt.Sprintf("%ds", max(1, int(math.Ceil(d.Seconds()))))
}

// instances reads every instance's figures at t over the collector's range,
// the families taken from the aggregate snapshot.
func (c *Collector) instances(ctx context.Context, t time.Time, agg *metrics.Snapshot, names metrics.Names) (*Fleet, error) {
	f := &Fleet{Prometheus: c.address, Selector: c.selector, Range: c.rng, Time: t, Families: map[string]string{}}
	r := rangeString(c.rng)
	sel := c.selector
	byName := map[string]*Instance{}
	get := func(name string) *Instance {
		in := byName[name]
		if in == nil {
			in = &Instance{Name: name}
			byName[name] = in
		}
		return in
	}
	type query struct {
		what, q string
		set     func(in *Instance, v float64)
	}
	queries := []query{
		{"up", fmt.Sprintf(`max by (instance) (max_over_time(up{%s}[%s]))`, sel, r), func(in *Instance, v float64) {}},
		{"up", fmt.Sprintf(`max by (instance) (up{%s})`, sel), func(in *Instance, v float64) { in.Up = v > 0; in.Gone = false }},
		{"cpu", fmt.Sprintf(`sum by (instance) (rate(process_cpu_seconds_total{%s}[%s]))`, sel, r),
			func(in *Instance, v float64) { in.CPUCores, in.HasCPU = v, true }},
	}
	if req, dur := requestFamilies(agg, names); req != "" {
		f.Families["requests"] = req
		queries = append(queries, query{"requests", fmt.Sprintf(`sum by (instance) (rate(%s{%s}[%s]))`, req, sel, r),
			func(in *Instance, v float64) { in.RPS = v }})
		if dur != "" {
			f.Families["latency"] = dur
			queries = append(queries, query{"latency",
				fmt.Sprintf(`histogram_quantile(0.95, sum by (instance, le) (rate(%s_bucket{%s}[%s])))`, dur, sel, r),
				func(in *Instance, v float64) {
					if !math.IsNaN(v) {
						in.P95Seconds, in.HasP95 = v, true
					}
				}})
		}
	}
	if inUse, maxName := poolGauges(agg, names); maxName != "" {
		f.Families["pool"] = maxName
		queries = append(queries, query{"pool", fmt.Sprintf(`sum by (instance) (%s{%s})`, maxName, sel),
			func(in *Instance, v float64) { in.PoolMax, in.HasPool = v, true }})
		if inUse != "" {
			queries = append(queries, query{"pool", fmt.Sprintf(`sum by (instance) (%s{%s})`, inUse, sel),
				func(in *Instance, v float64) { in.PoolInUse = v }})
		}
	}
	results := make([]model.Vector, len(queries))
	errs := make([]error, len(queries))
	var wg sync.WaitGroup
	for i, q := range queries {
		wg.Go(func() {
			v, _, _, err := c.api.Query(ctx, q.q, t)
			if err != nil {
				errs[i] = c.queryError(ctx, q.what, err)
				return
			}
			results[i], _ = v.(model.Vector)
		})
	}
	var versions model.Vector
	var verErr error
	wg.Go(func() {
		v, _, _, err := c.api.Query(ctx, fmt.Sprintf(`{__name__=~".+_build_info|go_info",%s}`, sel), t)
		if err != nil {
			verErr = err
			return
		}
		versions, _ = v.(model.Vector)
	})
	wg.Wait()
	if errs[0] != nil {
		return nil, errs[0]
	}
	// Seen in the range: gone unless up answers at its end.
	for _, s := range results[0] {
		get(string(s.Metric["instance"])).Gone = true
	}
	for i, q := range queries[1:] {
		i++
		if errs[i] != nil {
			f.Notes = append(f.Notes, errs[i].Error())
			continue
		}
		for _, s := range results[i] {
			name := string(s.Metric["instance"])
			if name == "" {
				continue
			}
			q.set(get(name), float64(s.Value))
		}
	}
	if verErr == nil {
		for _, s := range versions {
			name := string(s.Metric["instance"])
			in := byName[name]
			if in == nil {
				continue
			}
			v := string(s.Metric["version"])
			if v == "" {
				continue
			}
			// A service's own build info wins over the runtime's.
			if in.Version == "" || s.Metric[model.MetricNameLabel] != "go_info" {
				in.Version = v
			}
		}
	}
	for _, in := range byName {
		f.Instances = append(f.Instances, *in)
	}
	slices.SortFunc(f.Instances, func(a, b Instance) int { return strings.Compare(a.Name, b.Name) })
	return f, nil
}

// requestFamilies names the request counter (or, without one, the latency
// histogram's _count) and the latency histogram the aggregate's routes were
// read from.
func requestFamilies(agg *metrics.Snapshot, names metrics.Names) (req, dur string) {
	if agg == nil {
		return "", ""
	}
	for _, r := range agg.Routes {
		for _, fam := range r.Families {
			if req == "" && slices.Contains(names.RequestCounters, fam) {
				req = fam
			}
			if dur == "" && slices.Contains(names.RequestDurations, fam) && r.Latency != nil && len(r.Latency.Buckets) > 0 {
				dur = fam
			}
		}
	}
	if req == "" && dur != "" {
		req = dur + "_count"
	}
	return req, dur
}

// poolGauges names the in-use and max gauges of the first pool whose
// metrics say its size.
func poolGauges(agg *metrics.Snapshot, names metrics.Names) (inUse, maxName string) {
	if agg == nil {
		return "", ""
	}
	for _, p := range agg.Pools {
		if _, ok := p.Gauges[metrics.PoolMax]; !ok {
			continue
		}
		for _, pf := range names.Pools {
			if pf.Kind != p.Kind || pf.AnyPrefix {
				continue
			}
			for suffix, m := range pf.Metrics {
				name := pf.Prefix + suffix
				if _, ok := agg.Families[name]; !ok {
					continue
				}
				switch m.Key {
				case metrics.PoolMax:
					maxName = name
				case metrics.PoolInUse:
					inUse = name
				}
			}
			if maxName != "" {
				return inUse, maxName
			}
		}
	}
	return "", ""
}
