package rules

import (
	"slices"

	"github.com/pgadvisor/advisor/internal/probe/pprof"
)

// handlerDumps are the handler goroutines of the window's dumps, as a
// wall-clock profile: with their frames and wait class.
type handlerDumps struct {
	samples []handlerSample
}

type handlerSample struct {
	frames []pprof.Frame
	class  *WaitPattern
}

// handlerDumpsOf collects the handler goroutines of every dump.
func handlerDumpsOf(in *Input) handlerDumps {
	var out handlerDumps
	if in.Window == nil {
		return out
	}
	for _, dump := range in.Window.Goroutines {
		if dump == nil || !dump.Status.Ok() {
			continue
		}
		for i, s := range in.dump(dump).samples {
			if !s.ok {
				continue
			}
			out.samples = append(out.samples, handlerSample{frames: dump.Goroutines[i].Frames, class: s.s.class})
		}
	}
	return out
}

// share returns the share of handler samples that match, over those that
// pass within (every sample when within is nil).
func (h handlerDumps) share(match, within func(handlerSample) bool) float64 {
	var n, m float64
	for _, s := range h.samples {
		if within != nil && !within(s) {
			continue
		}
		n++
		if match(s) {
			m++
		}
	}
	if n == 0 {
		return 0
	}
	return m / n
}

// calls reports whether a sample's stack holds a frame whose function fn
// matches.
func (s handlerSample) calls(fn func(string) bool) bool {
	return slices.ContainsFunc(s.frames, func(f pprof.Frame) bool { return fn(f.Func) })
}

// lockHeld returns the share of the handlers' time spent waiting for locks
// and a test of the samples that hold the lock taken at site: in its
// function, past the lock (not waiting in it). What the holders do is the
// time the lock makes every waiter pay: work taken out of the critical
// section shortens every wait.
func (h handlerDumps) lockHeld(site string) (waiting float64, holder func(handlerSample) bool) {
	isLock := func(s handlerSample) bool { return s.class != nil && s.class.Kind == WaitLock }
	waiting = h.share(isLock, nil)
	holder = func(s handlerSample) bool {
		return !isLock(s) && s.calls(func(fn string) bool { return fn == site })
	}
	return waiting, holder
}

// topLockSite is the function where most handler goroutines wait for a
// lock, "" when none do.
func topLockSite(v *appView) string {
	var best *appSiteStat
	for _, h := range v.sortedHandlers() {
		for _, c := range h.classes {
			if c.class.Kind != WaitLock {
				continue
			}
			if s := c.topSite(); s != nil && (best == nil || s.samples > best.samples) {
				best = s
			}
		}
	}
	if best == nil {
		return ""
	}
	return best.site.Func
}

// amplified is the share of the handlers' time that work matching work
// takes, directly and, when it runs while holding the busiest lock, in the
// waits it makes the others pay; ok is false without goroutine dumps.
func amplified(in *Input, work func(handlerSample) bool) (direct, throughLock float64, ok bool) {
	h := in.handlers()
	if len(h.samples) == 0 {
		return 0, 0, false
	}
	direct = h.share(work, nil)
	if site := topLockSite(in.app()); site != "" {
		waiting, holder := h.lockHeld(site)
		throughLock = waiting * h.share(work, holder)
	}
	return direct, throughLock, true
}

// lockFreed is the share of the handlers' time a lock's removal frees: its
// waits, of which the part its holders spend on the database (connecting,
// waiting for a connection or for a query) may queue there once the lock no
// longer serialises it. How much does depends on the database's spare
// capacity, which advisor cannot see from here: that part counts half, the
// middle of what removing the lock can free (all of the waits) and what it
// must free (the waits less that part).
func lockFreed(in *Input, site string) (float64, bool) {
	h := in.handlers()
	if len(h.samples) == 0 || site == "" {
		return 0, false
	}
	waiting, holder := h.lockHeld(site)
	onDB := func(s handlerSample) bool {
		return s.calls(poolConnectRe.MatchString) ||
			(s.class != nil && (partOfClass(s.class) == PartDBPool || partOfClass(s.class) == PartDB))
	}
	return waiting * (1 - h.share(onDB, holder)/2), true
}
