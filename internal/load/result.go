package load

import (
	"sync"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// Histogram range: 1 µs to 60 s at 3 significant figures.
const (
	histMinMicros = 1
	histMaxMicros = 60_000_000
	histSigFigs   = 3
)

// Result is what a run measured.
type Result struct {
	// Requests completed, errors included; Errors of them failed (a transport
	// error or a status outside 200-399).
	Requests, Errors int64
	// Answered is the number of requests that got a response, whatever its
	// status: the count behind Latency.
	Answered int64
	// ErrorsByKind counts the errors by kind: "status 500", "timeout",
	// "connection refused", "connection reset", "connection closed",
	// "bad response", "dns", "tls", "other".
	ErrorsByKind map[string]int64
	// Elapsed is the wall time of the run.
	Elapsed time.Duration
	// Capped says that MaxDuration ended a run before MinRequests had
	// completed.
	Capped bool
	// RPS is Requests per second of Elapsed.
	RPS float64
	// Latency of the requests that got a response (whatever its status); in
	// open loop (Rate > 0) measured from the intended send time.
	Latency LatencySummary
	// PerEntry holds the same by Entry.Name.
	PerEntry map[string]*EntryResult
	// Connections and Rate are the run's settings, for the summary.
	Connections int
	Rate        float64
	// Histogram holds every latency of the run, in microseconds.
	Histogram *hdrhistogram.Histogram
}

// EntryResult is what a run measured for one entry of the mix.
type EntryResult struct {
	Requests, Errors, Answered int64
	ErrorsByKind               map[string]int64
	Latency                    LatencySummary
	// Histogram holds the entry's latencies, in microseconds.
	Histogram *hdrhistogram.Histogram
}

// LatencySummary is the distribution of latencies in a few numbers.
type LatencySummary struct {
	P50, P90, P95, P99, Max, Mean time.Duration
}

// Summarize reads a latency summary from a histogram of microseconds.
func Summarize(h *hdrhistogram.Histogram) LatencySummary {
	if h == nil || h.TotalCount() == 0 {
		return LatencySummary{}
	}
	q := h.ValueAtPercentilesSlice([]float64{50, 90, 95, 99})
	return LatencySummary{
		P50:  micros(q[0]),
		P90:  micros(q[1]),
		P95:  micros(q[2]),
		P99:  micros(q[3]),
		Max:  micros(h.Max()),
		Mean: time.Duration(h.Mean() * float64(time.Microsecond)),
	}
}

func micros(v int64) time.Duration { return time.Duration(v) * time.Microsecond }

func newHistogram() *hdrhistogram.Histogram {
	return hdrhistogram.New(histMinMicros, histMaxMicros, histSigFigs)
}

// shard collects the outcomes of the workers that share it; there are about
// as many shards as CPUs, as one histogram takes about 140 KB.
type shard struct {
	mu      sync.Mutex
	entries []entryStats
}

type entryStats struct {
	hist     *hdrhistogram.Histogram
	requests int64
	errors   int64
	kinds    map[errKind]int64
}

func newShard(entries int) *shard {
	s := &shard{entries: make([]entryStats, entries)}
	for i := range s.entries {
		s.entries[i] = entryStats{hist: newHistogram(), kinds: map[errKind]int64{}}
	}
	return s
}

// record adds one completed request of entry i.
func (s *shard) record(i int, latency time.Duration, answered bool, kind errKind) {
	us := max(int64(latency/time.Microsecond), histMinMicros)
	us = min(us, histMaxMicros)
	s.mu.Lock()
	e := &s.entries[i]
	e.requests++
	if answered {
		_ = e.hist.RecordValue(us)
	}
	if kind != (errKind{}) {
		e.errors++
		e.kinds[kind]++
	}
	s.mu.Unlock()
}

// collect merges the shards into a Result.
func collect(p *plan, shards []*shard, elapsed time.Duration) *Result {
	res := &Result{
		ErrorsByKind: map[string]int64{},
		Elapsed:      elapsed,
		PerEntry:     map[string]*EntryResult{},
		Histogram:    newHistogram(),
	}
	for i, ce := range p.entries {
		er := &EntryResult{ErrorsByKind: map[string]int64{}, Histogram: newHistogram()}
		for _, s := range shards {
			s.mu.Lock()
			st := &s.entries[i]
			er.Requests += st.requests
			er.Errors += st.errors
			for k, n := range st.kinds {
				er.ErrorsByKind[k.String()] += n
			}
			er.Histogram.Merge(st.hist)
			s.mu.Unlock()
		}
		res.PerEntry[ce.name] = er
	}
	res.total()
	return res
}

// total derives the run's figures from its entries' counts and latencies:
// each entry's summary, the run's counts, errors by kind and latencies
// summed over them, and RPS over Elapsed.
func (res *Result) total() {
	for _, er := range res.PerEntry {
		er.Latency = Summarize(er.Histogram)
		er.Answered = er.Histogram.TotalCount()
		res.Requests += er.Requests
		res.Errors += er.Errors
		for k, n := range er.ErrorsByKind {
			res.ErrorsByKind[k] += n
		}
		res.Histogram.Merge(er.Histogram)
	}
	res.Latency = Summarize(res.Histogram)
	res.Answered = res.Histogram.TotalCount()
	if s := res.Elapsed.Seconds(); s > 0 {
		res.RPS = float64(res.Requests) / s
	}
}

// Merge adds up runs of the same configuration taken one after another, as
// one run that took their time: each entry's requests, errors and
// latencies summed, the run's figures derived from them as Run derives
// them (total), RPS over the sum of their elapsed times, Capped when any
// run was. A
// comparison that takes turns between two services in short slices (so
// that the machine's background load falls on both alike) measures each
// side this way. Merge leaves its arguments as they are; nil results are
// skipped, and Merge of none is nil.
func Merge(runs ...*Result) *Result {
	var out *Result
	for _, r := range runs {
		if r == nil {
			continue
		}
		if out == nil {
			out = &Result{ErrorsByKind: map[string]int64{}, PerEntry: map[string]*EntryResult{},
				Histogram: newHistogram(), Connections: r.Connections, Rate: r.Rate}
		}
		out.Elapsed += r.Elapsed
		out.Capped = out.Capped || r.Capped
		for name, e := range r.PerEntry {
			m := out.PerEntry[name]
			if m == nil {
				m = &EntryResult{ErrorsByKind: map[string]int64{}, Histogram: newHistogram()}
				out.PerEntry[name] = m
			}
			m.Requests += e.Requests
			m.Errors += e.Errors
			for k, n := range e.ErrorsByKind {
				m.ErrorsByKind[k] += n
			}
			if e.Histogram != nil {
				m.Histogram.Merge(e.Histogram)
			}
		}
	}
	if out != nil {
		out.total()
	}
	return out
}
