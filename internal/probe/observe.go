package probe

import (
	"context"
	"sync"
	"time"

	"github.com/pgadvisor/advisor/internal/probe/postgres"
	"github.com/pgadvisor/advisor/internal/probe/pprof"
)

// ObserveOptions shape one observation.
type ObserveOptions struct {
	// Window is how long to observe; 0 takes one snapshot and analyses the
	// cumulative statistics since their last reset.
	Window time.Duration
	// ProfileSeconds is the length of the CPU profile taken inside the
	// window (capped to the window); 0 takes none.
	ProfileSeconds int
	// GoroutineSamples is how many goroutine dumps to take over the window,
	// counting both ends (default 5). pg_stat_activity is read at the same
	// ticks, with or without a pprof source.
	GoroutineSamples int
	// Progress, when set, is called about once a second with the time
	// elapsed; it must not block.
	Progress func(elapsed, total time.Duration)
}

// Observe takes a snapshot, profiles and samples goroutines and
// pg_stat_activity during the window, takes a second snapshot, and composes
// the window. Every source that fails
// shows in Window.Sources; Observe itself fails only when ctx is cancelled.
func (p *Probes) Observe(ctx context.Context, opts ObserveOptions) (*Window, error) {
	s := p.NewSession(0)
	if opts.Window <= 0 {
		cur := p.Snapshot(ctx)
		step := s.Add(cur, Extra{Profiles: p.Profiles(ctx, 0)})
		return step.Analysis, ctx.Err()
	}
	if opts.GoroutineSamples < 2 {
		opts.GoroutineSamples = 5
	}
	start := time.Now()
	// Profiles run for (up to) the window, concurrently with the first
	// snapshot and the sampling: started after that snapshot, which takes
	// most of a second on a host whose CPUs the service keeps busy, they
	// ended that long after the window, and the report with them.
	cpu := min(opts.ProfileSeconds, int(opts.Window/time.Second))
	// Block and mutex deltas cover the whole window: contention is
	// sampled, and a few seconds may hold too little of it.
	contention := max(cpu, int(opts.Window/time.Second))
	profiles := make(chan *pprof.Snapshot, 1)
	go func() { profiles <- p.profiles(ctx, cpu, contention) }()
	s.Keep(p.Snapshot(ctx))
	// A snapshot lasts as long as its slowest source: a service whose
	// event loop is blocked answers /metrics after the requests queued
	// before it, seconds later, and the last snapshot would hold the
	// report that long past the window. It is asked for early by what the
	// first took beyond lastSnapshotAllowance (up to a quarter of the
	// window), so that its answers arrive about when the window ends: the
	// window observed is then that much shorter than asked, and says so
	// (Window.Seconds spans the two snapshots).
	window := opts.Window - lastSnapshotLead(time.Since(start), opts.Window)

	var samples []*pprof.GoroutineResult
	var activity []postgres.ActivitySample
	// The host's run queue is read at every tick when the service runs
	// here: a reading of /proc/stat is cheap, and the queue moves fast.
	var runnable []RunnableReading
	local := localServiceCPUs(p.cfg.Sources) > 0
	port := servicePort(p.cfg.Sources)
	// Both snapshots take a dump and read pg_stat_activity; the samples in
	// between are evenly spaced.
	interval := window / time.Duration(opts.GoroutineSamples-1)
	next := start.Add(interval)
	ticker := time.NewTicker(250 * time.Millisecond)
	defer ticker.Stop()
	deadline := start.Add(window)
	for time.Now().Before(deadline) {
		select {
		case <-ctx.Done():
			<-profiles
			return nil, ctx.Err()
		case now := <-ticker.C:
			if opts.Progress != nil {
				opts.Progress(now.Sub(start), window)
			}
			if local {
				if r, ok := readRunnable(port); ok {
					runnable = append(runnable, r)
				}
			}
			if (p.pprof != nil || p.pg != nil) && now.After(next) && now.Before(deadline.Add(-interval/2)) {
				next = next.Add(interval)
				g, a := p.sample(ctx)
				if g != nil {
					samples = append(samples, g)
				}
				if a != nil {
					activity = append(activity, *a)
				}
			}
		}
	}
	last := p.Snapshot(ctx)
	step := s.Add(last, Extra{Profiles: <-profiles, Goroutines: samples, Activity: activity, Runnable: runnable})
	return step.Analysis, ctx.Err()
}

// lastSnapshotAllowance is how long a snapshot may take before the last
// one of a window is asked for early. The last snapshot's sources answer
// about as slowly as the first's, give or take what their queues did
// meanwhile: a report ends this long past its window, and more when the
// last took longer. At a second, on the FastAPI target with its loop
// blocked (scrapes of 2 to 3 s), a report of a 10 s window ended 1.8 s
// past it, over the 1.5 s it may; at half a second a snapshot of the
// sample service keeping both CPUs busy (1.1 s in a CI run's demo)
// shortens a 3 s window by 0.6 s, which the report says.
const lastSnapshotAllowance = 500 * time.Millisecond

// lastSnapshotLead is how much earlier than the window's end the last
// snapshot is asked for when the first one took first: what it took
// beyond lastSnapshotAllowance, up to a quarter of the window.
func lastSnapshotLead(first, window time.Duration) time.Duration {
	return min(max(first-lastSnapshotAllowance, 0), window/4)
}

// Goroutines takes one goroutine dump of the pprof target within the
// probes' timeout: the light sample attach takes between its readings
// (Extra.Goroutines). nil without a pprof target or when the dump failed.
func (p *Probes) Goroutines(ctx context.Context) *pprof.GoroutineResult {
	if p.pprof == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, p.cfg.Timeout)
	defer cancel()
	if g := p.goroutineDump(ctx, true); g.Status.Ok() {
		return g
	}
	return nil
}

// DumpSpacing is the least time between two goroutine dumps of the target
// that keeps their stops of it under their share of the time (dumpGate),
// from the last dump's size; 0 before the first and when none is taken.
// attach's first seconds read the sources no more often than that.
func (p *Probes) DumpSpacing() time.Duration { return p.dumps.spacing() }

// sample takes, at the same time, a goroutine dump (with a pprof source)
// and a light reading of pg_stat_activity (with PostgreSQL), each bounded
// by the source timeout; nil for what was not configured or failed.
func (p *Probes) sample(ctx context.Context) (*pprof.GoroutineResult, *postgres.ActivitySample) {
	ctx, cancel := context.WithTimeout(ctx, p.cfg.Timeout)
	defer cancel()
	var activity *postgres.ActivitySample
	var wg sync.WaitGroup
	if p.pg != nil {
		wg.Go(func() {
			if a, ok := p.activitySample(ctx); ok {
				activity = &a
			}
		})
	}
	var dump *pprof.GoroutineResult
	if p.pprof != nil {
		if g := p.goroutineDump(ctx, true); g.Status.Ok() {
			dump = g
		}
	}
	wg.Wait()
	return dump, activity
}
