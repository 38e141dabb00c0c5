package rules

import (
	"context"
	"slices"

	"github.com/pgadvisor/advisor/internal/probe/pprof"
)

// appLockContention flags locks that request goroutines queue on: the
// waiters in the goroutine dumps (mutex class) grouped by the line that
// called Lock, with the delay the block and mutex profiles measured there.
var appLockContention = Def[appLockContentionParams]{ID: "app.lock-contention", Check: checkAppLockContention, CountsDumps: alwaysDumps}

type appLockContentionParams struct {
	MinShare       float64 `param:"min_share"`
	MinSamples     float64 `param:"min_samples"`
	MinDelayMsPerS float64 `param:"min_delay_ms_per_s"`
}

func checkAppLockContention(_ context.Context, in *Input, p appLockContentionParams) ([]Finding, error) {
	minShare, least, minDelay := p.MinShare, p.MinSamples, p.MinDelayMsPerS
	v := in.app()
	type lock struct {
		site        pprof.Frame
		siteSamples float64
		samples     float64
		handlers    map[string]float64
		delayNs     float64
		profiled    bool
	}
	locks := map[string]*lock{} // by the function that takes the lock
	get := func(site pprof.Frame) *lock {
		l := locks[site.Func]
		if l == nil {
			l = &lock{site: site, handlers: map[string]float64{}}
			locks[site.Func] = l
		}
		return l
	}
	for _, h := range v.handlers {
		for _, c := range h.classes {
			if c.class.Kind != WaitLock {
				continue
			}
			for _, s := range c.sites {
				if s.samples == 0 {
					continue
				}
				l := get(s.site)
				if s.samples > l.siteSamples {
					l.site, l.siteSamples = s.site, s.samples
				}
				l.samples += s.samples
				l.handlers[h.name] += s.samples
			}
		}
	}
	// Contention profiles: delay under handlers, by the service's frame.
	seconds := 0.0
	if w := in.Window; w != nil && w.Profiles != nil {
		// A cumulative window's profiles count from the process's start,
		// not from the statistics' reset.
		seconds = w.Seconds
		if w.ProfileSeconds > 0 || w.Cumulative {
			seconds = w.ProfileSeconds
		}
		for _, pr := range []*pprof.ProfileResult{w.Profiles.Block, w.Profiles.Mutex} {
			if pr == nil || !pr.Status.Ok() {
				continue
			}
			if pr.Profile != nil && pr.Profile.DurationNanos > 0 {
				seconds = float64(pr.Profile.DurationNanos) / 1e9
			}
			mutexProfile := pr == w.Profiles.Mutex
			delays := map[string]float64{}
			sites := map[string]pprof.Frame{}
			for _, h := range pr.Handlers {
				if slices.Contains(appProfilerPackages, pprof.FuncPackage(h.Handler)) {
					continue
				}
				for _, s := range h.Sites {
					if !mutexProfile && !appIsLockFrame(in.Patterns, s.WaitIn.Func) {
						continue
					}
					if s.CallSite.IsZero() {
						continue
					}
					delays[s.CallSite.Func] += float64(s.Value)
					sites[s.CallSite.Func] = s.CallSite
				}
			}
			for fn, d := range delays {
				l := locks[fn]
				if l == nil {
					if seconds <= 0 || d/1e6/seconds < minDelay {
						continue
					}
					l = get(sites[fn])
				}
				l.profiled = true
				// The block profile (waiters) and the mutex profile
				// (holders) see the same contention: keep the larger.
				l.delayNs = max(l.delayNs, d)
			}
		}
	}
	// inFlight is the mean number of request goroutines in a dump.
	inFlight := 0.0
	if v.dumps > 0 {
		inFlight = v.samples / float64(v.dumps)
	}
	var out []Finding
	for fn, l := range locks {
		share := 0.0
		if v.samples > 0 {
			share = l.samples / v.samples
		}
		delay, profileShare := 0.0, 0.0
		if seconds > 0 {
			delay = l.delayNs / 1e6 / seconds
			// Delay per second is the mean number of goroutines waiting.
			// The dumps are instants and the profiles sampled, so the two
			// can disagree; a share is at most all requests.
			if inFlight > 0 {
				profileShare = min(1, delay/1000/inFlight)
			}
		}
		// The share of waiters the dumps support (Wilson's lower bound,
		// over the floor of samples), as for the other app rules.
		byDumps := shareSupported(l.samples, v.samples, minShare, least)
		byProfiles := l.profiled && delay >= minDelay && (inFlight == 0 || profileShare >= minShare)
		if !byDumps && !byProfiles {
			continue
		}
		ev := map[string]any{
			"lock_site": fn,
			"handler":   appTop(l.handlers),
			"handlers":  len(l.handlers),
			// The share of requests waiting: seen in the dumps, or
			// measured by the contention profiles.
			"waiting_share":          appRound(max(share, profileShare)),
			"waiting_share_dumps":    appRound(share),
			"waiting_share_profiles": appRound(profileShare),
			"delay_ms_per_s":         appRound(delay),
			"samples":                v.samples,
			"waiting":                l.samples,
		}
		if len(l.handlers) == 0 {
			ev["handler"] = "(contention profiles only)"
		}
		impact := max(share, profileShare)
		out = append(out, Finding{
			Subject:  fn,
			Evidence: ev,
			Location: l.site.Location(),
			Impact:   impact,
			Fix: Fix{Code: "mu.Lock()\n" +
				"rec := state.snapshot() // only memory work under the lock\n" +
				"mu.Unlock()\n" +
				"err := write(ctx, rec)  // I/O after unlocking, or batched by one goroutine"},
		})
	}
	return out, nil
}

// appIsLockFrame reports whether a block profile's wait frame is a mutex
// (the mutex classes of the catalogue), not a channel or a select.
func appIsLockFrame(p *Patterns, fn string) bool {
	if p == nil {
		return false
	}
	for _, c := range p.Classes {
		if c.Kind != WaitLock {
			continue
		}
		for _, re := range c.Functions {
			if re.MatchString(fn) {
				return true
			}
		}
	}
	return false
}
