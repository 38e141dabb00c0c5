package fleet

import (
	"context"
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/model"
	"google.golang.org/protobuf/proto"

	"github.com/pgadvisor/advisor/internal/probe/metrics"
)

// nameLabel carries a series' name through PromQL's aggregations, which
// drop __name__.
const nameLabel = "advisor_name"

// perProcessGauges are gauges of one process that a sum over the fleet would
// misread (GOMAXPROCS, limits, settings, info metrics): the aggregate takes
// their largest value instead.
const perProcessGauges = `.+_info|go_sched_gomaxprocs_threads|go_gomaxprocs|go_threads|process_max_fds|` +
	`go_gc_gogc_percent|go_gc_gomemlimit_bytes|process_start_time_seconds|nodejs_eventloop_lag.*|python_gc_.*`

// aggregateQuery sums (or takes the largest of, with agg "max") every series
// of the selector over the instance labels, keeping the names.
func (c *Collector) aggregateQuery(agg, names string) string {
	match := c.selector
	if names != "" {
		match = `__name__=~"` + names + `",` + match
	}
	return fmt.Sprintf(`%s without (%s) (label_replace({%s}, %q, "$1", "__name__", "(.+)"))`,
		agg, strings.Join(InstanceLabels, ", "), match, nameLabel)
}

// aggregate reads the service's series at t summed over the instances.
func (c *Collector) aggregate(ctx context.Context, t time.Time) (metrics.Families, error) {
	sum, _, _, err := c.api.Query(ctx, c.aggregateQuery("sum", ""), t)
	if err != nil {
		return nil, c.queryError(ctx, "aggregate", err)
	}
	maxv, _, _, err := c.api.Query(ctx, c.aggregateQuery("max", perProcessGauges), t)
	if err != nil {
		return nil, c.queryError(ctx, "aggregate", err)
	}
	sv, _ := sum.(model.Vector)
	mv, _ := maxv.(model.Vector)
	types, err := c.metadata(ctx)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.families(sv, mv, types), nil
}

// metadata returns the families' types, read once from the metadata API.
func (c *Collector) metadata(ctx context.Context) (map[string]string, error) {
	c.mu.Lock()
	t := c.types
	c.mu.Unlock()
	if t != nil {
		return t, nil
	}
	md, err := c.api.Metadata(ctx, "", "")
	if err != nil {
		return nil, c.queryError(ctx, "metadata", err)
	}
	t = make(map[string]string, len(md))
	for name, ms := range md {
		if len(ms) > 0 {
			t[name] = string(ms[0].Type)
		}
	}
	c.mu.Lock()
	c.types = t
	c.mu.Unlock()
	return t, nil
}

// family is where one series belongs: its family's name and type, and
// which part of it the series is ("_bucket", "_sum", "_count" or "").
func family(name string, types map[string]string) (base, typ, part string) {
	if t, ok := types[name]; ok && t != string(v1.MetricTypeHistogram) && t != string(v1.MetricTypeSummary) {
		return name, t, ""
	}
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		b, ok := strings.CutSuffix(name, suffix)
		if !ok {
			continue
		}
		switch t := types[b]; {
		case t == string(v1.MetricTypeHistogram) || t == string(v1.MetricTypeGaugeHistogram):
			return b, "histogram", suffix
		case t == string(v1.MetricTypeSummary) && suffix != "_bucket":
			return b, "summary", suffix
		case t == "" && suffix == "_bucket":
			return b, "histogram", suffix
		}
	}
	if b, ok := strings.CutSuffix(name, "_total"); ok && types[b] == string(v1.MetricTypeCounter) {
		return name, "counter", ""
	}
	if t, ok := types[name]; ok {
		return name, t, ""
	}
	if strings.HasSuffix(name, "_total") {
		return name, "counter", ""
	}
	return name, "gauge", ""
}

// families turns the summed and maxed vectors into metric families, the
// shape the metrics package recognises; counters pass through the
// stitcher. The caller holds c.mu.
func (c *Collector) families(sum, maxv model.Vector, types map[string]string) metrics.Families {
	maxed := map[string]bool{}
	for _, s := range maxv {
		maxed[string(s.Metric[nameLabel])] = true
	}
	type hkey struct{ base, labels string }
	hists := map[hkey]*dto.Histogram{}
	sums := map[hkey]*dto.Summary{}
	hlabels := map[hkey][]*dto.LabelPair{}
	fams := metrics.Families{}
	get := func(name string, t dto.MetricType) *dto.MetricFamily {
		f := fams[name]
		if f == nil {
			f = &dto.MetricFamily{Name: proto.String(name), Type: t.Enum()}
			fams[name] = f
		}
		return f
	}
	add := func(vec model.Vector, fromMax bool) {
		for _, s := range vec {
			name := string(s.Metric[nameLabel])
			if name == "" || (!fromMax && maxed[name]) {
				continue
			}
			if _, q := s.Metric["quantile"]; q {
				continue // a summary's quantiles do not add up
			}
			v := float64(s.Value)
			base, typ, part := family(name, types)
			var le string
			labels := pairs(s.Metric, func(k string) bool {
				if k == "le" && part == "_bucket" {
					return false
				}
				return true
			})
			if part == "_bucket" {
				le = string(s.Metric["le"])
			}
			switch typ {
			case "counter":
				v = c.stitch.add(name+labelKey(labels), v)
				f := get(base, dto.MetricType_COUNTER)
				f.Metric = append(f.Metric, &dto.Metric{Label: labels, Counter: &dto.Counter{Value: proto.Float64(v)}})
			case "histogram", "summary":
				v = c.stitch.add(name+labelKey(labels)+"le="+le, v)
				k := hkey{base, labelKey(labels)}
				hlabels[k] = labels
				if typ == "summary" {
					sm := sums[k]
					if sm == nil {
						sm = &dto.Summary{}
						sums[k] = sm
					}
					if part == "_sum" {
						sm.SampleSum = proto.Float64(v)
					} else {
						sm.SampleCount = proto.Uint64(uint64(math.Round(v)))
					}
					continue
				}
				h := hists[k]
				if h == nil {
					h = &dto.Histogram{}
					hists[k] = h
				}
				switch part {
				case "_sum":
					h.SampleSum = proto.Float64(v)
				case "_count":
					h.SampleCount = proto.Uint64(uint64(math.Round(v)))
				case "_bucket":
					ub, err := strconv.ParseFloat(le, 64)
					if err != nil {
						continue
					}
					if math.IsInf(ub, 1) {
						if h.SampleCount == nil {
							h.SampleCount = proto.Uint64(uint64(math.Round(v)))
						}
						continue
					}
					h.Bucket = append(h.Bucket, &dto.Bucket{UpperBound: proto.Float64(ub), CumulativeCount: proto.Uint64(uint64(math.Round(v)))})
				}
			default:
				if name == "process_start_time_seconds" {
					if c.startTime == nil {
						c.startTime = &v
					}
					v = *c.startTime
				}
				f := get(base, dto.MetricType_GAUGE)
				f.Metric = append(f.Metric, &dto.Metric{Label: labels, Gauge: &dto.Gauge{Value: proto.Float64(v)}})
			}
		}
	}
	add(sum, false)
	add(maxv, true)
	keys := make([]hkey, 0, len(hists)+len(sums))
	for k := range hists {
		keys = append(keys, k)
	}
	for k := range sums {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].base != keys[j].base {
			return keys[i].base < keys[j].base
		}
		return keys[i].labels < keys[j].labels
	})
	for _, k := range keys {
		if h := hists[k]; h != nil {
			slices.SortFunc(h.Bucket, func(a, b *dto.Bucket) int { return compareFloat(a.GetUpperBound(), b.GetUpperBound()) })
			if h.SampleCount == nil && len(h.Bucket) > 0 {
				h.SampleCount = proto.Uint64(h.Bucket[len(h.Bucket)-1].GetCumulativeCount())
			}
			if h.SampleSum == nil {
				h.SampleSum = proto.Float64(0)
			}
			f := get(k.base, dto.MetricType_HISTOGRAM)
			f.Metric = append(f.Metric, &dto.Metric{Label: hlabels[k], Histogram: h})
		}
		if sm := sums[k]; sm != nil {
			f := get(k.base, dto.MetricType_SUMMARY)
			f.Metric = append(f.Metric, &dto.Metric{Label: hlabels[k], Summary: sm})
		}
	}
	c.stitch.sweep()
	return fams
}

func compareFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// pairs are a series' labels less the carried name and those keep rejects,
// sorted by name.
func pairs(m model.Metric, keep func(string) bool) []*dto.LabelPair {
	var out []*dto.LabelPair
	for k, v := range m {
		name := string(k)
		if name == nameLabel || name == model.MetricNameLabel || !keep(name) {
			continue
		}
		out = append(out, &dto.LabelPair{Name: proto.String(name), Value: proto.String(string(v))})
	}
	slices.SortFunc(out, func(a, b *dto.LabelPair) int { return strings.Compare(a.GetName(), b.GetName()) })
	return out
}

func labelKey(ls []*dto.LabelPair) string {
	var b strings.Builder
	for _, l := range ls {
		b.WriteString(l.GetName())
		b.WriteByte('=')
		b.WriteString(l.GetValue())
		b.WriteByte(0)
	}
	return b.String()
}

// stitcher keeps sums of counters monotone. When an instance leaves the
// fleet (its series go stale) or restarts, the sum over the instances goes
// down; read as a counter reset it would count the whole fleet's total
// again. The stitcher carries the drop instead, so a window's increase is
// what the remaining instances served.
type stitcher map[string]*stitched

type stitched struct {
	last, carry float64
	seen        bool
}

func (s stitcher) add(key string, v float64) float64 {
	st := s[key]
	if st == nil {
		st = &stitched{last: v}
		s[key] = st
	}
	if v < st.last {
		st.carry += st.last - v
	}
	st.last, st.seen = v, true
	return v + st.carry
}

// sweep forgets the series not seen since the last sweep.
func (s stitcher) sweep() {
	for k, st := range s {
		if !st.seen {
			delete(s, k)
			continue
		}
		st.seen = false
	}
}
