// Package probe reads the sources advisor analyses (pprof, Prometheus
// metrics, PostgreSQL, Redis) into a Snapshot, and turns two snapshots into a
// Window of rates and deltas. Each source has a package of its own beneath
// this one; this package runs them together and composes their results.
package probe

import (
	"context"
	"time"

	"github.com/pgadvisor/advisor/internal/probe/metrics"
	"github.com/pgadvisor/advisor/internal/probe/postgres"
	"github.com/pgadvisor/advisor/internal/probe/pprof"
	"github.com/pgadvisor/advisor/internal/probe/redis"
	"github.com/pgadvisor/advisor/internal/probe/source"
)

// Window is what the rules analyse: the change between two snapshots, or the
// cumulative statistics since their last reset when Cumulative is set.
// Parts of sources that could not be read are nil; Sources says why.
type Window struct {
	Start, End time.Time
	// Seconds is the length of the window (for a cumulative window: as well
	// as the sources tell it, the time since the statistics were reset; each
	// part carries its own length too).
	Seconds    float64
	Cumulative bool

	// Sources is the status of each source over the window: the worse of
	// its two snapshots.
	Sources map[string]source.Status

	Metrics  *metrics.Window
	Postgres *postgres.Window
	Redis    *redis.Window
	// Profiles taken inside the window (CPU, block, mutex, fgprof, heap,
	// goroutine), nil without a pprof target.
	Profiles *pprof.Snapshot
	// Goroutines are the goroutine dumps sampled over the window, oldest
	// first.
	Goroutines []*pprof.GoroutineResult
	// ProfileSeconds is the time the block and mutex profiles cover: the
	// window, or for a cumulative window the service's uptime (from its
	// process_start_time_seconds), since those profiles count from the
	// process's start; 0 when unknown.
	ProfileSeconds float64

	// Explainer runs EXPLAIN and hypothetical indexes on the PostgreSQL
	// source; nil without one. It is the only I/O a rule may do.
	Explainer postgres.Explainer

	// InternalHosts are hosts of the same system named by the user, besides
	// loopback and the private ranges.
	InternalHosts []string
}

// NewWindow composes the windows of each source from two snapshots. With
// prev nil the window is cumulative since each source's last reset.
func NewWindow(prev, cur *Snapshot) *Window {
	w := &Window{End: cur.Time, Sources: map[string]source.Status{}}
	if prev == nil {
		w.Cumulative = true
		w.Start = cur.Time
	} else {
		w.Start = prev.Time
		w.Seconds = cur.Time.Sub(prev.Time).Seconds()
	}
	for name, st := range cur.Status {
		w.Sources[name] = st
	}
	if prev != nil {
		for name, st := range prev.Status {
			if !st.Ok() && w.Sources[name].Ok() {
				// Read at the end but not at the start: the window of
				// this source is cumulative, which its Diff handles.
				continue
			}
			if _, ok := w.Sources[name]; !ok {
				w.Sources[name] = st
			}
		}
	}
	var prevM *metrics.Snapshot
	var prevPG *postgres.Snapshot
	var prevR *redis.Snapshot
	if prev != nil {
		prevM, prevPG, prevR = usable(prev.Metrics), usablePG(prev.Postgres), usableRedis(prev.Redis)
	}
	if m := usable(cur.Metrics); m != nil {
		w.Metrics = metrics.Diff(prevM, m)
	}
	if pg := usablePG(cur.Postgres); pg != nil {
		w.Postgres = postgres.Diff(prevPG, pg)
	}
	if r := usableRedis(cur.Redis); r != nil {
		w.Redis = redis.Diff(prevR, r)
	}
	if prev != nil && prev.Goroutines != nil && prev.Goroutines.Status.Ok() {
		w.Goroutines = append(w.Goroutines, prev.Goroutines)
	}
	if cur.Goroutines != nil && cur.Goroutines.Status.Ok() {
		w.Goroutines = append(w.Goroutines, cur.Goroutines)
	}
	if w.Cumulative {
		w.Seconds = cumulativeSeconds(w)
		w.Start = w.End.Add(-time.Duration(w.Seconds * float64(time.Second)))
	}
	return w
}

// cumulativeSeconds is the longest of the sources' own lengths.
func cumulativeSeconds(w *Window) float64 {
	var s float64
	if w.Postgres != nil {
		s = max(s, w.Postgres.Seconds)
	}
	if w.Metrics != nil && w.Metrics.LengthKnown {
		s = max(s, w.Metrics.Seconds)
	}
	if w.Redis != nil {
		s = max(s, w.Redis.Seconds)
	}
	return s
}

func usable(m *metrics.Snapshot) *metrics.Snapshot {
	if m == nil || !m.Status.Ok() {
		return nil
	}
	return m
}

func usablePG(p *postgres.Snapshot) *postgres.Snapshot {
	if p == nil || !p.Status.Ok() {
		return nil
	}
	return p
}

func usableRedis(r *redis.Snapshot) *redis.Snapshot {
	if r == nil || !r.Status.Ok() {
		return nil
	}
	return r
}

// ObserveOptions shape one observation.
type ObserveOptions struct {
	// Window is how long to observe; 0 takes one snapshot and analyses the
	// cumulative statistics since their last reset.
	Window time.Duration
	// ProfileSeconds is the length of the CPU profile taken inside the
	// window (capped to the window); 0 takes none.
	ProfileSeconds int
	// GoroutineSamples is how many goroutine dumps to take over the window,
	// counting both ends (default 5).
	GoroutineSamples int
	// Progress, when set, is called about once a second with the time
	// elapsed; it must not block.
	Progress func(elapsed, total time.Duration)
}

// Observe takes a snapshot, profiles and samples goroutines during the window,
// takes a second snapshot, and composes the window. Every source that fails
// shows in Window.Sources; Observe itself fails only when ctx is cancelled.
func (p *Probes) Observe(ctx context.Context, opts ObserveOptions) (*Window, error) {
	if opts.Window <= 0 {
		cur := p.Snapshot(ctx)
		w := NewWindow(nil, cur)
		w.Profiles = p.Profiles(ctx, 0)
		p.finish(w)
		return w, ctx.Err()
	}
	if opts.GoroutineSamples < 2 {
		opts.GoroutineSamples = 5
	}
	start := time.Now()
	first := p.Snapshot(ctx)

	// Profiles run for (up to) the window, concurrently with the sampling.
	cpu := min(opts.ProfileSeconds, int(opts.Window/time.Second))
	// Block and mutex deltas cover the whole window: contention is
	// sampled, and a few seconds may hold too little of it.
	contention := max(cpu, int(opts.Window/time.Second))
	profiles := make(chan *pprof.Snapshot, 1)
	go func() { profiles <- p.profiles(ctx, cpu, contention) }()

	var samples []*pprof.GoroutineResult
	// Both snapshots take a dump; the samples in between are evenly spaced.
	interval := opts.Window / time.Duration(opts.GoroutineSamples-1)
	next := start.Add(interval)
	ticker := time.NewTicker(250 * time.Millisecond)
	defer ticker.Stop()
	deadline := start.Add(opts.Window)
	for time.Now().Before(deadline) {
		select {
		case <-ctx.Done():
			<-profiles
			return nil, ctx.Err()
		case now := <-ticker.C:
			if opts.Progress != nil {
				opts.Progress(now.Sub(start), opts.Window)
			}
			if p.pprof != nil && now.After(next) && now.Before(deadline.Add(-interval/2)) {
				next = next.Add(interval)
				gctx, cancel := context.WithTimeout(ctx, p.cfg.Timeout)
				if g := p.goroutineDump(gctx); g.Status.Ok() {
					samples = append(samples, g)
				}
				cancel()
			}
		}
	}
	last := p.Snapshot(ctx)
	w := NewWindow(first, last)
	w.Profiles = <-profiles
	// Keep the dumps in time order: first, the samples, last.
	var dumps []*pprof.GoroutineResult
	if len(w.Goroutines) > 0 && first.Goroutines != nil && w.Goroutines[0] == first.Goroutines {
		dumps = append(dumps, w.Goroutines[0])
		w.Goroutines = w.Goroutines[1:]
	}
	dumps = append(dumps, samples...)
	w.Goroutines = append(dumps, w.Goroutines...)
	p.finish(w)
	return w, ctx.Err()
}

// finish adds what does not come from the snapshots.
func (p *Probes) finish(w *Window) {
	w.ProfileSeconds = w.Seconds
	if w.Cumulative {
		w.ProfileSeconds = 0
		if m := w.Metrics; m != nil && m.LengthKnown {
			w.ProfileSeconds = m.Seconds
		}
	}
	if w.Profiles != nil && !w.Sources[Pprof].Ok() && w.Profiles.Status.Ok() {
		w.Sources[Pprof] = w.Profiles.Status
	}
	if w.Postgres != nil {
		w.Explainer = p.Explainer()
	}
	w.InternalHosts = p.cfg.Sources.InternalHosts
}

// Status returns the window's status of one source; a source never probed is
// Unavailable.
func (w *Window) Status(name string) source.Status {
	if st, ok := w.Sources[name]; ok {
		return st
	}
	return source.Status{State: source.Unavailable, Detail: "not probed"}
}

// AnyOK reports whether at least one source could be read.
func (w *Window) AnyOK() bool {
	for _, st := range w.Sources {
		if st.Ok() {
			return true
		}
	}
	return false
}
