// Package probe reads the sources advisor analyses (pprof, Prometheus
// metrics, PostgreSQL, Redis) into a Snapshot, and turns two snapshots into a
// Window of rates and deltas; a Session takes snapshots in turn and builds
// the windows between them. Each source has a package of its own beneath
// this one; this package runs them together and composes their results.
package probe

import (
	"time"

	"github.com/pgadvisor/advisor/internal/probe/fleet"
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

	Metrics *metrics.Window
	// Fleet is each instance's figures at the window's end, over the
	// probes' FleetRange, when the metrics come through Prometheus.
	Fleet    *fleet.Fleet
	Postgres *postgres.Window
	Redis    *redis.Window
	// Profiles taken inside the window (CPU, block, mutex, fgprof, heap,
	// goroutine), nil without a pprof target.
	Profiles *pprof.Snapshot
	// Goroutines are the goroutine dumps sampled over the window, oldest
	// first.
	Goroutines []*pprof.GoroutineResult
	// Activity holds every reading of pg_stat_activity's groups taken
	// inside the window, oldest first: those of its snapshots (for an
	// analysis window, every snapshot of the session since its start) and
	// the light readings Probes.Observe takes between them. A cumulative
	// window holds its one snapshot's. ActivityByClient summarises them.
	Activity []postgres.ActivitySample
	// ProfileSeconds is the time the block and mutex profiles cover: the
	// window, or for a cumulative window the service's uptime (from its
	// process_start_time_seconds), since those profiles count from the
	// process's start; 0 when unknown.
	ProfileSeconds float64

	// InternalHosts are hosts of the same system named by the user, besides
	// loopback and the private ranges.
	InternalHosts []string
	// ServiceCPUs are the CPUs of the service's host when advisor can tell:
	// this machine's when the service is served on loopback; 0 when
	// unknown.
	ServiceCPUs int
	// HostBusyCores is the mean number of the service's host's CPUs busy
	// over the window (every process's), when the host is this machine;
	// 0 when unknown.
	HostBusyCores float64
	// AdvisorCores is the mean number of the host's CPUs advisor's own
	// process kept busy over the window (its probes, and the load
	// generator of tune or a benchmark), when the host is this machine;
	// 0 when unknown, or when the service runs in advisor's process (its
	// process CPU counts them then). HostBusyCores counts them.
	AdvisorCores float64
	// HostRunnable is the mean number of the service's host's tasks
	// running or ready to run over the window's readings (procs_running,
	// read at each snapshot and, in an observation, every quarter second),
	// when the host is this machine; 0 when unknown, with
	// HostRunnableReadings 0. Above the host's CPUs, a task ready to run
	// gets CPUs/HostRunnable of a CPU: a statement's wall-clock time holds
	// its wait for one.
	HostRunnable         float64
	HostRunnableReadings int
	// KernelQueued is the mean number of requests waiting in the kernel
	// for the service over the same readings, when it listens on this
	// machine: connections in its accept queue and accepted connections
	// whose request it has not read (readQueuedRequests). Its metrics do
	// not count them in flight. 0 when unknown, with KernelQueuedReadings
	// 0.
	KernelQueued         float64
	KernelQueuedReadings int
	// HostCPUPressure is the share of the window during which some
	// runnable task of the service's host waited for a CPU (Linux pressure
	// stall information), when the host is this machine; nil when unknown.
	HostCPUPressure *float64
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
		if st, ok := w.Sources[Pprof]; ok {
			w.Sources[Pprof] = pprofStatusFor(w.Metrics, st)
		}
	}
	if usable(cur.Metrics) != nil {
		w.Fleet = cur.Fleet
	}
	w.ServiceCPUs = cur.ServiceCPUs
	if prev != nil {
		w.HostBusyCores = hostBusyCores(prev.hostCPU, cur.hostCPU, cur.ServiceCPUs)
		if !servedByAdvisor(usable(cur.Metrics)) {
			w.AdvisorCores = ownCores(prev.hostCPU, cur.hostCPU, cur.ServiceCPUs)
		}
		w.HostCPUPressure = hostCPUPressure(prev.hostCPU, cur.hostCPU)
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
	if prev != nil {
		if a, ok := prev.ActivitySample(); ok {
			w.Activity = append(w.Activity, a)
		}
	}
	if a, ok := cur.ActivitySample(); ok {
		w.Activity = append(w.Activity, a)
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

// ActivityByClient summarises the window's pg_stat_activity readings per
// application and client address (postgres.SummariseActivity); nil without
// any.
func (w *Window) ActivityByClient() []postgres.ClientActivity {
	return postgres.SummariseActivity(w.Activity)
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
