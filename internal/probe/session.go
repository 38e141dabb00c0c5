package probe

import (
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/pgadvisor/advisor/internal/probe/postgres"
	"github.com/pgadvisor/advisor/internal/probe/pprof"
)

// Session is one sampling session: the snapshots of the sources fed in
// turn, and the windows between them. It keeps the previous snapshot and a
// few earlier ones (the bases) within the analysis span, and finishes every
// window it builds the same way. It reads nothing itself and runs no
// goroutine: advisor attach feeds it a snapshot every interval, and
// Probes.Observe the two ends of its window. It is not safe for concurrent
// use.
type Session struct {
	span          time.Duration
	internalHosts []string

	prev *Snapshot
	// bases are earlier snapshots, oldest first, at least a third of the
	// analysis span apart: the start of the analysis window.
	bases []*Snapshot
	// activity holds the pg_stat_activity readings since the oldest base,
	// oldest first: every snapshot's, and those taken between snapshots
	// (Extra.Activity).
	activity []postgres.ActivitySample
	// dumps are the goroutine dumps of the snapshots fed since the oldest
	// base, oldest first: an analysis window holds every dump of its span,
	// not only those of its two ends, so that the app rules count the
	// samples of every reading.
	dumps []timedDump
	// runnable holds the readings of the host's tasks ready to run since
	// the oldest base, oldest first: every snapshot's, and those taken
	// between snapshots (Extra.Runnable).
	runnable []RunnableReading
}

// timedDump is the goroutine dump of a snapshot, with the snapshot's time.
type timedDump struct {
	at   time.Time
	dump *pprof.GoroutineResult
}

// SessionOptions configure a session.
type SessionOptions struct {
	// AnalysisSpan is how far back the analysis window reaches; 0 starts
	// each analysis window at the previous snapshot.
	AnalysisSpan time.Duration
	// InternalHosts are set on every window (Window.InternalHosts).
	InternalHosts []string
}

// NewSession returns a session with no snapshot yet.
func NewSession(opts SessionOptions) *Session {
	return &Session{span: max(opts.AnalysisSpan, 0), internalHosts: opts.InternalHosts}
}

// NewSession returns a session whose windows carry the probes' internal
// hosts.
func (p *Probes) NewSession(span time.Duration) *Session {
	return NewSession(SessionOptions{AnalysisSpan: span, InternalHosts: p.cfg.Sources.InternalHosts})
}

// Extra is what an analysis window holds besides its two snapshots.
type Extra struct {
	// Profiles taken for the window; nil for none.
	Profiles *pprof.Snapshot
	// Goroutines are dumps sampled between the window's two snapshots,
	// oldest first; they go between the snapshots' own dumps.
	Goroutines []*pprof.GoroutineResult
	// Activity holds readings of pg_stat_activity taken between the
	// previous snapshot and this one, oldest first. The session keeps them
	// with the snapshots' own for the analysis windows of the span.
	Activity []postgres.ActivitySample
	// Runnable holds readings of the host's tasks ready to run taken
	// between the previous snapshot and this one, oldest first.
	Runnable []RunnableReading
}

// Step is the windows one snapshot ends.
type Step struct {
	// Interval runs from the previous snapshot (what moved since: the
	// sparklines' numbers); cumulative for the first snapshot.
	Interval *Window
	// Analysis runs from the oldest snapshot kept within the analysis span,
	// or the previous one when none is: what the rules analyse. It holds
	// the Extra, and the pg_stat_activity readings of every snapshot fed
	// since its start.
	Analysis *Window
}

// Prev returns the last snapshot fed, or nil.
func (s *Session) Prev() *Snapshot { return s.prev }

// Keep records snap as the previous snapshot, and as a base when far
// enough from the last one, without building a window: the start of an
// observation. It keeps snap's pg_stat_activity reading, and forgets the
// readings older than the oldest base.
func (s *Session) Keep(snap *Snapshot) {
	s.prev = snap
	if n := len(s.bases); n == 0 || snap.Time.Sub(s.bases[n-1].Time) >= s.span/3 {
		s.bases = append(s.bases, snap)
	}
	for len(s.bases) > 1 && snap.Time.Sub(s.bases[0].Time) > s.span {
		s.bases = s.bases[1:]
	}
	if a, ok := snap.ActivitySample(); ok {
		s.activity = append(s.activity, a)
	}
	if g := snap.Goroutines; g != nil && g.Status.Ok() {
		s.dumps = append(s.dumps, timedDump{at: snap.Time, dump: g})
	}
	if r, ok := snap.runnable(); ok {
		s.runnable = append(s.runnable, r)
	}
	oldest := s.bases[0].Time
	s.activity = keptFrom(s.activity, oldest, func(a postgres.ActivitySample) time.Time { return a.Time })
	s.dumps = keptFrom(s.dumps, oldest, func(d timedDump) time.Time { return d.at })
	s.runnable = keptFrom(s.runnable, oldest, func(r RunnableReading) time.Time { return r.Time })
}

// keptFrom drops the readings of xs, oldest first, taken before oldest. It
// returns a copy, so that the dropped readings are not held by the array.
func keptFrom[T any](xs []T, oldest time.Time, at func(T) time.Time) []T {
	i := 0
	for i < len(xs) && at(xs[i]).Before(oldest) {
		i++
	}
	return slices.Clone(xs[i:])
}

// runnableMean is the mean of the readings of the host's tasks ready to
// run from base (nil: none before cur) to cur, cur's included, and how
// many there were; and the same of the requests waiting in the kernel for
// the service, over the readings that have them.
func (s *Session) runnableMean(base, cur *Snapshot) (tasks float64, n int, queued float64, nq int) {
	sum, sumQ := 0, 0
	add := func(r RunnableReading) {
		sum += r.Tasks
		n++
		if r.HasQueued {
			sumQ += r.Queued
			nq++
		}
	}
	if base != nil {
		for _, r := range s.runnable {
			if !r.Time.Before(base.Time) && r.Time.Before(cur.Time) {
				add(r)
			}
		}
	}
	if r, ok := cur.runnable(); ok {
		add(r)
	}
	if n > 0 {
		tasks = float64(sum) / float64(n)
	}
	if nq > 0 {
		queued = float64(sumQ) / float64(nq)
	}
	return tasks, n, queued, nq
}

// dumpsBetween are the kept snapshots' goroutine dumps strictly after base
// and before cur, oldest first: those a window from base to cur lacks.
func (s *Session) dumpsBetween(base, cur *Snapshot) []*pprof.GoroutineResult {
	if base == nil {
		return nil
	}
	var out []*pprof.GoroutineResult
	for _, d := range s.dumps {
		if d.at.After(base.Time) && d.at.Before(cur.Time) {
			out = append(out, d.dump)
		}
	}
	return out
}

// Add builds and finishes the windows that end at cur, then keeps cur.
func (s *Session) Add(cur *Snapshot, extra Extra) Step {
	base := s.analysisBase(cur)
	analysis := NewWindow(base, cur)
	var interval *Window
	if base == s.prev {
		interval = analysis.clone()
	} else {
		interval = NewWindow(s.prev, cur)
	}
	s.finish(interval)
	analysis.Profiles = extra.Profiles
	analysis.insertGoroutines(base, append(s.dumpsBetween(base, cur), extra.Goroutines...))
	// The dumps sampled between the snapshots count in the later analysis
	// windows of the span too, as the snapshots' own do: timed just before
	// cur, so that a window starting at cur leaves them out.
	for _, g := range extra.Goroutines {
		if g != nil && g.Status.Ok() {
			s.dumps = append(s.dumps, timedDump{at: cur.Time.Add(-time.Nanosecond), dump: g})
		}
	}
	s.activity = append(s.activity, extra.Activity...)
	analysis.Activity = s.activitySince(base, cur)
	s.runnable = append(s.runnable, extra.Runnable...)
	if cur.ServiceCPUs > 0 {
		analysis.HostRunnable, analysis.HostRunnableReadings, analysis.KernelQueued, analysis.KernelQueuedReadings = s.runnableMean(base, cur)
		interval.HostRunnable, interval.HostRunnableReadings, interval.KernelQueued, interval.KernelQueuedReadings = s.runnableMean(s.prev, cur)
	}
	s.finish(analysis)
	s.Keep(cur)
	return Step{Interval: interval, Analysis: analysis}
}

// analysisBase is the oldest base within the analysis span of cur, or the
// previous snapshot.
func (s *Session) analysisBase(cur *Snapshot) *Snapshot {
	for _, b := range s.bases {
		if b != cur && cur.Time.Sub(b.Time) <= s.span {
			return b
		}
	}
	return s.prev
}

// activitySince is the pg_stat_activity readings from base (nil: none
// before cur) to cur, cur's included, oldest first.
func (s *Session) activitySince(base, cur *Snapshot) []postgres.ActivitySample {
	var out []postgres.ActivitySample
	if base != nil {
		for _, a := range s.activity {
			if !a.Time.Before(base.Time) && !a.Time.After(cur.Time) {
				out = append(out, a)
			}
		}
	}
	if a, ok := cur.ActivitySample(); ok {
		out = append(out, a)
	}
	slices.SortStableFunc(out, func(a, b postgres.ActivitySample) int { return a.Time.Compare(b.Time) })
	return out
}

// finish adds to w what does not come from the snapshots: the time its
// contention profiles cover, the pprof status when only its profiles read
// the target, and the internal hosts.
func (s *Session) finish(w *Window) {
	w.ProfileSeconds = w.Seconds
	if w.Cumulative {
		// Block and mutex profiles count from the process's start.
		w.ProfileSeconds = 0
		if m := w.Metrics; m != nil && m.LengthKnown {
			w.ProfileSeconds = m.Seconds
		}
	}
	// Profiles read inside the window show the target answered even when
	// the goroutine dumps of its snapshots failed, or were not taken (the
	// dumpGate): why comes first in the detail. An older profile (one
	// attach took earlier) says nothing of the source now.
	if p := w.Profiles; p != nil && p.Status.Ok() && !w.Sources[Pprof].Ok() && !p.Time.Before(w.Start) {
		st := p.Status
		if d := w.Sources[Pprof].Detail; d != "" {
			st.Detail = strings.Join(slices.DeleteFunc([]string{d, st.Detail}, func(s string) bool { return s == "" }), "; ")
		}
		w.Sources[Pprof] = st
	}
	w.InternalHosts = s.internalHosts
}

// clone copies w with maps and slices of its own, sharing the sources'
// windows (which nothing changes once built).
func (w *Window) clone() *Window {
	c := *w
	c.Sources = maps.Clone(w.Sources)
	c.Goroutines = slices.Clone(w.Goroutines)
	c.Activity = slices.Clone(w.Activity)
	return &c
}

// insertGoroutines puts samples, taken between base and the window's end,
// after base's dump and before the end's.
func (w *Window) insertGoroutines(base *Snapshot, samples []*pprof.GoroutineResult) {
	if len(samples) == 0 {
		return
	}
	var dumps []*pprof.GoroutineResult
	rest := w.Goroutines
	if len(rest) > 0 && base != nil && base.Goroutines != nil && rest[0] == base.Goroutines {
		dumps = append(dumps, rest[0])
		rest = rest[1:]
	}
	dumps = append(dumps, samples...)
	w.Goroutines = append(dumps, rest...)
}
