package ui

import (
	"slices"
	"time"

	"github.com/pgadvisor/advisor/internal/probe"
	"github.com/pgadvisor/advisor/internal/rules"
)

// Data is what the panes render: the latest window, its findings and the
// history of the windows before it. Panes only read it.
type Data struct {
	Window   *probe.Window
	Findings []rules.Finding
	// Fading holds the fingerprints of the findings kept on screen from
	// earlier windows that this one lacks: shown, marked, until enough
	// readings in a row miss them.
	Fading map[string]bool
	// Split is where the requests' time went in Window; nil when unknown.
	Split      *rules.TimeSplit
	RuleErrors []error
	History    *History
	// Rules documents the findings (the detail view's docs).
	Rules *rules.Set
	// At is when the window was analysed.
	At time.Time
}

// Series names of the history, in the order the overview plots them.
const (
	SeriesRPS       = "RPS"
	SeriesP95       = "p95 worst route"
	SeriesDBTime    = "DB time"
	SeriesPoolWaits = "pool waits"
	SeriesRedisOps  = "Redis ops"
)

// seriesUnits are the units the overview prints after each series' value.
var seriesUnits = map[string]string{
	SeriesRPS:       "req/s",
	SeriesP95:       "ms",
	SeriesDBTime:    "ms/s",
	SeriesPoolWaits: "/s",
	SeriesRedisOps:  "ops/s",
}

// SeriesNames lists the series of the history in plot order.
var SeriesNames = []string{SeriesRPS, SeriesP95, SeriesDBTime, SeriesPoolWaits, SeriesRedisOps}

// History keeps the numbers of the last windows for the sparklines: a ring
// of at most Cap values per series.
type History struct {
	Cap    int
	series map[string][]float64
	// Windows is how many windows were added.
	Windows int
}

// NewHistory returns a history of n windows per series.
func NewHistory(n int) *History {
	return &History{Cap: n, series: map[string][]float64{}}
}

// Values returns the values of one series, oldest first.
func (h *History) Values(name string) []float64 { return h.series[name] }

// Last returns the latest value of a series.
func (h *History) Last(name string) (float64, bool) {
	v := h.series[name]
	if len(v) == 0 {
		return 0, false
	}
	return v[len(v)-1], true
}

// Clone returns a copy of the history that later additions to h leave
// unchanged.
func (h *History) Clone() *History {
	c := &History{Cap: h.Cap, Windows: h.Windows, series: make(map[string][]float64, len(h.series))}
	for name, v := range h.series {
		c.series[name] = slices.Clone(v)
	}
	return c
}

// Push appends one value to a series, dropping the oldest past Cap.
func (h *History) Push(name string, v float64) {
	s := h.series[name]
	if len(s) >= h.Cap && h.Cap > 0 {
		copy(s, s[1:])
		s[len(s)-1] = v
	} else {
		s = append(s, v)
	}
	h.series[name] = s
}

// Add records the numbers of one window. Parts that are cumulative (the
// first reading of a source, or one read again after it was lost) hold totals
// since a reset, not the window's rates, and are left out: a gap rather than
// a spike.
func (h *History) Add(w *probe.Window) {
	if w == nil {
		return
	}
	h.Windows++
	if m := w.Metrics; m != nil && !m.Cumulative && !m.Restarted && m.LengthKnown {
		h.Push(SeriesRPS, m.RPS)
		if p95, ok := worstP95(w); ok {
			h.Push(SeriesP95, p95*1000)
		}
		if len(m.Pools) > 0 {
			var waits float64
			for _, p := range m.Pools {
				waits += p.WaitsPerSec
			}
			h.Push(SeriesPoolWaits, waits)
		}
	}
	if pg := w.Postgres; pg != nil && !pg.Cumulative && pg.Statements.Seconds > 0 && pg.Cur != nil && pg.Cur.Statements.Status.Ok() {
		h.Push(SeriesDBTime, pg.Statements.TotalTime/pg.Statements.Seconds)
	}
	if r := w.Redis; r != nil && !r.Cumulative && r.Reset == "" {
		h.Push(SeriesRedisOps, r.OpsPerS)
	}
}

// worstP95 is the highest p95 latency, in seconds, of the routes that served
// requests in the window: the metrics give percentiles per route only.
func worstP95(w *probe.Window) (float64, bool) {
	if w.Metrics == nil {
		return 0, false
	}
	var worst float64
	found := false
	for _, r := range w.Metrics.Routes {
		if r.Requests > 0 && r.HasLatency && r.Latency.HasPercentiles {
			worst = max(worst, r.Latency.P95)
			found = true
		}
	}
	return worst, found
}
