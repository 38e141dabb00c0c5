package rules

import (
	"context"
	"math"
	"net/url"
	"runtime"
	"strconv"

	"github.com/pgadvisor/advisor/internal/probe/source"
)

// runtimeGOMAXPROCS flags GOMAXPROCS below the CPUs the process may use
// while it is CPU-bound at GOMAXPROCS cores, or above them. When the usable
// CPUs are unknown it flags a process CPU-bound at GOMAXPROCS with
// goroutines queueing for a P, and says that the CPU count is unknown.
var runtimeGOMAXPROCS = Def[runtimeGOMAXPROCSParams]{ID: "runtime.gomaxprocs", Check: checkRuntimeGOMAXPROCS}

type runtimeGOMAXPROCSParams struct {
	MinCPUBusyShare      float64 `param:"min_cpu_busy_share"`
	MinSchedLatencyP99Ms float64 `param:"min_sched_latency_p99_ms"`
	UsableCPUs           float64 `param:"usable_cpus"`
}

func checkRuntimeGOMAXPROCS(_ context.Context, in *Input, p runtimeGOMAXPROCSParams) ([]Finding, error) {
	w := in.Window
	if w == nil || w.Metrics == nil || w.Metrics.Runtime.GOMAXPROCS == nil || w.Metrics.Process.CPUCores == nil {
		return nil, nil
	}
	procs := *w.Metrics.Runtime.GOMAXPROCS
	used := *w.Metrics.Process.CPUCores
	if procs <= 0 {
		return nil, nil
	}
	busy := used / procs
	usable, source := runtimeUsableCPUs(in, p.UsableCPUs)
	// Goroutines waiting for a P, on average over the dumps.
	var runnable float64
	var dumps int
	for _, g := range w.Goroutines {
		if g != nil && g.Status.Ok() {
			runnable += float64(g.Summary.ByState["runnable"])
			dumps++
		}
	}
	if dumps > 0 {
		runnable /= float64(dumps)
	}
	ev := map[string]any{
		"gomaxprocs":          procs,
		"usable_cpus":         usable,
		"usable_cpus_source":  source,
		"cpu_used_cores":      appRound(used),
		"cpu_busy_share":      appRound(busy),
		"runnable_goroutines": appRound(runnable),
	}
	if l := w.Metrics.Runtime.SchedLatency; w.Metrics.Runtime.HasSchedLatency {
		ev["sched_latency_p99_ms"] = appRound(l.P99 * 1000)
	}
	minBusy := p.MinCPUBusyShare
	var fire bool
	// GOMAXPROCS limits the process when it is busy at GOMAXPROCS cores,
	// or when goroutines queue for a P (on a machine shared with other
	// processes the process may get less CPU than its Ps could use).
	queueing := dumps > 0 && runnable >= procs
	if rt := w.Metrics.Runtime; rt.HasSchedLatency {
		// Goroutines just woken are runnable for microseconds; queueing
		// shows in the scheduler's latency.
		queueing = queueing && rt.SchedLatency.P99*1000 >= p.MinSchedLatencyP99Ms
	} else {
		queueing = dumps > 0 && runnable >= 2*procs
	}
	switch {
	case usable > 0 && procs < usable:
		// Fewer Ps than CPUs is the misconfiguration itself; it matters
		// once the process does real work. On a machine shared with other
		// processes it may get less CPU than its Ps could use, so a
		// quarter of the busy bar, or goroutines queueing for a P, is
		// enough.
		fire = busy >= minBusy/4 || queueing
	case usable > 0 && procs > math.Ceil(usable):
		fire = true
	case usable == 0:
		// CPU-bound at GOMAXPROCS with goroutines queueing for a P: more
		// CPUs would help if the machine has them.
		fire = busy >= minBusy && queueing
	}
	if !fire {
		return nil, nil
	}
	f := Finding{Subject: "GOMAXPROCS", Evidence: ev, Impact: math.Min(runnable/math.Max(runnable+procs, 1), 1)}
	if usable > 0 {
		f.Fix.Config = map[string]string{"GOMAXPROCS": "unset (Go 1.25+ default) or " + strconv.Itoa(int(math.Floor(usable)))}
		if procs < usable {
			f.Impact = math.Max(f.Impact, 1-procs/usable)
		}
	} else {
		f.Fix.Config = map[string]string{"GOMAXPROCS": "unset (Go 1.25+ default), or the container's CPU limit"}
	}
	return []Finding{f}, nil
}

// runtimeUsableCPUs returns the CPUs the target may use when they are known:
// the rule's usable_cpus param when set, else the host's CPU count when the
// target is served on loopback (advisor runs beside it): the profiles'
// target says so when the window has profiles (advisor report), the
// window's ServiceCPUs (the metrics served on loopback) when it has none,
// as attach's readings have none until p takes one. The source says which.
func runtimeUsableCPUs(in *Input, usableCPUs float64) (cpus float64, source string) {
	if usableCPUs > 0 {
		return usableCPUs, "usable_cpus param"
	}
	w := in.Window
	if w == nil {
		return 0, "unknown"
	}
	if w.Profiles != nil && runtimeLoopback(w.Profiles.Target) {
		return float64(runtime.NumCPU()), hostCPUsSource
	}
	if w.ServiceCPUs > 0 {
		return float64(w.ServiceCPUs), hostCPUsSource
	}
	return 0, "unknown"
}

// hostCPUsSource says the usable CPUs are the host's.
const hostCPUsSource = "host CPUs (the target runs on advisor's host)"

// runtimeLoopback reports whether a target URL's host is loopback.
func runtimeLoopback(target string) bool {
	u, err := url.Parse(target)
	if err != nil || u.Host == "" {
		return false
	}
	return source.LocalHost(u.Hostname())
}
