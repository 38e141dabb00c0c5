package probe

import (
	"fmt"
	"sync"
	"time"

	"github.com/pgadvisor/advisor/internal/probe/pprof"
)

// A full goroutine dump stops the target for as long as the runtime takes
// to write it (pprof.DumpStop): milliseconds for a few hundred goroutines,
// most of a second for 10,000. attach takes one every half second over its
// first 20 s, report several per window. dumpGate spaces them so that,
// by their estimated stops, they stop the target at most maxDumpStopShare
// of the time, and takes none once one dump would stop it longer than
// Config.MaxDumpStop.

// maxDumpStopShare is the share of the time the dumps may stop the target.
const maxDumpStopShare = 0.02

// DefaultMaxDumpStop is the longest stop of the target one goroutine dump
// may cause (Config.MaxDumpStop's default): by pprof.DumpStop, a dump of
// about 3 MB, some 4,000 goroutines of an HTTP service.
const DefaultMaxDumpStop = 100 * time.Millisecond

// dumpGate decides whether a goroutine dump may be taken now. Safe for
// concurrent use.
type dumpGate struct {
	// max is the longest stop one dump may cause; negative: no limit.
	max time.Duration
	mu  sync.Mutex
	// counted: the goroutine count was read before the first dump.
	counted bool
	// next is the earliest time of the next dump.
	next time.Time
	// stop is the last dump's estimated stop.
	stop time.Duration
	// off says why no dump is taken any more, "" while they are.
	off string
}

// newDumpGate is a gate with limit as the longest stop of one dump (0:
// DefaultMaxDumpStop; negative: no limit).
func newDumpGate(limit time.Duration) *dumpGate {
	if limit == 0 {
		limit = DefaultMaxDumpStop
	}
	return &dumpGate{max: limit}
}

// allow reports whether a dump may be taken at now; when not, why. A
// spaced dump (a sample between readings) also waits for the last dump's
// share of the time; a reading's dump, at attach's --interval or report's
// window ends, does not.
func (g *dumpGate) allow(now time.Time, spaced bool) (bool, string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	switch {
	case g.off != "":
		return false, g.off
	case spaced && now.Before(g.next):
		return false, fmt.Sprintf("goroutine dump skipped: the last one stopped the service about %s; the next in %s, so that they stop it %.0f%% of the time at most",
			roundStop(g.stop), g.next.Sub(now).Round(100*time.Millisecond), 100*maxDumpStopShare)
	}
	return true, ""
}

// needsCount reports whether the goroutine count is to be read before the
// dump: before the first one, whose size nothing tells yet.
func (g *dumpGate) needsCount() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return !g.counted && g.max > 0
}

// countedGoroutines takes the target's goroutine count, read before the
// first dump: when a dump of that many goroutines would stop the target
// longer than the limit, dumps are off, and it returns why.
func (g *dumpGate) countedGoroutines(n int) string {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.counted = true
	if stop := pprof.DumpStop(n * pprof.BytesPerGoroutine); g.max > 0 && stop > g.max {
		g.off = g.offReason(stop, fmt.Sprintf("%d goroutines", n))
	}
	return g.off
}

// record takes a dump of size bytes taken at start: the next waits for its
// share of the time; dumps are off once one stopped the target longer than
// the limit.
func (g *dumpGate) record(start time.Time, size int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.counted = true
	g.stop = pprof.DumpStop(size)
	g.next = start.Add(g.wait())
	if g.max > 0 && g.stop > g.max {
		g.off = g.offReason(g.stop, fmt.Sprintf("a dump of %d kB", size/1000))
	}
}

func (g *dumpGate) offReason(stop time.Duration, what string) string {
	return fmt.Sprintf("goroutine dumps off: one stops the service while the runtime writes it, about %s for %s, more than --max-dump-stop %s; the rules that read them have less evidence",
		roundStop(stop), what, g.max)
}

// roundStop rounds an estimated stop for a status line.
func roundStop(d time.Duration) time.Duration {
	if d < 10*time.Millisecond {
		return d.Round(100 * time.Microsecond)
	}
	return d.Round(time.Millisecond)
}

// spacing is the least time between two dumps that keeps the last one's
// stop within maxDumpStopShare; 0 before any dump or once they are off.
func (g *dumpGate) spacing() time.Duration {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.off != "" {
		return 0
	}
	return g.wait()
}

// wait is the time the last dump's stop asks before the next: the stop
// over its share. Called with mu held.
func (g *dumpGate) wait() time.Duration {
	return time.Duration(float64(g.stop) / maxDumpStopShare)
}
