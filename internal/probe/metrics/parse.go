package metrics

import (
	"bytes"
	"fmt"
	"io"
	"math"
	"sort"
	"strings"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Families are parsed metric families by name.
type Families map[string]*dto.MetricFamily

// Parse reads the Prometheus text exposition format (version 0.0.4); an
// error says where the text stopped being valid. expfmt's parser does not
// panic on malformed input (FuzzParse holds it to that; a minute of fuzzing
// on prometheus/common v0.74 found no panic, so there is no recover here),
// but a zero TextParser still panics: it needs its name validation scheme.
func Parse(r io.Reader) (Families, error) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	m, err := p.TextToMetricFamilies(r)
	if err != nil {
		return nil, fmt.Errorf("not Prometheus text format: %w", err)
	}
	return Families(m), nil
}

// ParseBytes is Parse of a byte slice; an HTML page gets a clearer error.
func ParseBytes(b []byte) (Families, error) {
	trimmed := bytes.TrimSpace(b)
	if bytes.HasPrefix(trimmed, []byte("<")) {
		return nil, fmt.Errorf("not Prometheus text format: the body is HTML or XML (%q...)", firstLine(trimmed[:min(len(trimmed), 60)]))
	}
	return Parse(bytes.NewReader(b))
}

// Bucket is one cumulative histogram bucket.
type Bucket struct {
	UpperBound float64 `json:"le"`
	Count      float64 `json:"count"`
}

// Histogram is a cumulative histogram (or, without buckets, a summary's
// count and sum).
type Histogram struct {
	// Buckets sorted by upper bound, counts cumulative; may end with +Inf.
	Buckets []Bucket `json:"buckets,omitempty"`
	Count   float64  `json:"count"`
	Sum     float64  `json:"sum"`
}

// Series is one labelled sample of a family.
type Series struct {
	Labels map[string]string `json:"labels"`
	// Value of a counter, gauge or untyped sample.
	Value float64 `json:"value"`
	// Histogram of a histogram or summary sample.
	Histogram *Histogram `json:"histogram,omitempty"`
}

// Series returns the samples of a family, or nil when it is absent.
func (f Families) Series(name string) []Series {
	mf := f[name]
	if mf == nil {
		return nil
	}
	out := make([]Series, 0, len(mf.GetMetric()))
	for _, m := range mf.GetMetric() {
		if m == nil {
			continue
		}
		s := Series{Labels: make(map[string]string, len(m.GetLabel()))}
		for _, lp := range m.GetLabel() {
			s.Labels[lp.GetName()] = lp.GetValue()
		}
		switch {
		case m.Counter != nil:
			s.Value = m.Counter.GetValue()
		case m.Gauge != nil:
			s.Value = m.Gauge.GetValue()
		case m.Untyped != nil:
			s.Value = m.Untyped.GetValue()
		case m.Histogram != nil:
			s.Histogram = histogramOf(m.Histogram)
			s.Value = s.Histogram.Count
		case m.Summary != nil:
			s.Histogram = &Histogram{Count: float64(m.Summary.GetSampleCount()), Sum: m.Summary.GetSampleSum()}
			s.Value = s.Histogram.Count
		default:
			continue
		}
		if math.IsNaN(s.Value) {
			continue
		}
		out = append(out, s)
	}
	return out
}

func histogramOf(h *dto.Histogram) *Histogram {
	out := &Histogram{Count: float64(h.GetSampleCount()), Sum: h.GetSampleSum()}
	if h.GetSampleCountFloat() != 0 {
		out.Count = h.GetSampleCountFloat()
	}
	for _, b := range h.GetBucket() {
		if b == nil {
			continue
		}
		c := float64(b.GetCumulativeCount())
		if b.GetCumulativeCountFloat() != 0 {
			c = b.GetCumulativeCountFloat()
		}
		out.Buckets = append(out.Buckets, Bucket{UpperBound: b.GetUpperBound(), Count: c})
	}
	sort.SliceStable(out.Buckets, func(i, j int) bool { return out.Buckets[i].UpperBound < out.Buckets[j].UpperBound })
	return out
}

// Value is the sum of the samples of a family whose labels include match
// (nil matches all); false when no sample matches.
func (f Families) Value(name string, match map[string]string) (float64, bool) {
	var sum float64
	found := false
	for _, s := range f.Series(name) {
		if matches(s.Labels, match) {
			sum += s.Value
			found = true
		}
	}
	return sum, found
}

func matches(labels, match map[string]string) bool {
	for k, v := range match {
		if labels[k] != v {
			return false
		}
	}
	return true
}

// labelKey formats labels as {a="1",b="2"} in name order; "" for none.
func labelKey(labels map[string]string) string {
	if len(labels) == 0 {
		return ""
	}
	keys := make([]string, 0, len(labels))
	for k := range labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteByte('{')
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "%s=%q", k, labels[k])
	}
	b.WriteByte('}')
	return b.String()
}
