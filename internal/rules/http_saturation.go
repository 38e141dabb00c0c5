package rules

import (
	"context"
	"math"
	"slices"

	"github.com/pgadvisor/advisor/internal/probe/pprof"
)

// httpRules are the detectors of the HTTP server rules.
var httpRules = []Detector{httpSaturation}

// httpSaturation flags a server whose requests queue: in the goroutine
// dumps, either request goroutines wait at one channel or semaphore site (a
// concurrency limit in front of the work) while the requests in flight stay
// pinned, or a large share of the connections' goroutines are runnable
// (queued for a CPU) while their number stays pinned and the process uses
// its CPUs: runnable goroutines of a process well below its GOMAXPROCS wait
// for CPUs other processes of the host hold, which no change to the service
// undoes.
var httpSaturation = Def[httpSaturationParams]{ID: "http.saturation", Check: checkHTTPSaturation}

type httpSaturationParams struct {
	MinPinnedShare float64 `param:"min_pinned_share"`
	MinQueueShare  float64 `param:"min_queue_share"`
	// MinProcessCPUShare is the process's CPU, as a share of its
	// GOMAXPROCS, below which runnable goroutines are not the service's
	// queue but the host's.
	MinProcessCPUShare float64 `param:"min_process_cpu_share"`
}

func checkHTTPSaturation(_ context.Context, in *Input, p httpSaturationParams) ([]Finding, error) {
	v := in.app()
	if len(v.perDump) < 3 || v.server == 0 {
		return nil, nil
	}
	minPinned, minQueue := p.MinPinnedShare, p.MinQueueShare
	pinned := func(series []float64) (peak, share float64) {
		peak = slices.Max(series)
		if peak <= 1 {
			return peak, 0
		}
		var n float64
		for _, x := range series {
			if x >= 0.8*peak {
				n++
			}
		}
		return peak, n / float64(len(series))
	}

	// A limit: request goroutines queued on a channel or semaphore at one
	// site (not those in a select, which is how timers and contexts wait).
	var limitSite pprof.Frame
	var limitSamples float64
	for _, h := range v.handlers {
		for _, c := range h.classes {
			if c.class.Kind != WaitChannel {
				continue
			}
			for _, s := range c.sites {
				if s.queued > limitSamples {
					limitSite, limitSamples = s.site, s.queued
				}
			}
		}
	}
	peak, pinnedShare := pinned(v.perDump)
	queueShare, kind := 0.0, ""
	if v.samples > 0 && limitSamples/v.samples >= minQueue && pinnedShare >= minPinned {
		queueShare, kind = limitSamples/v.samples, "limit"
	} else {
		// CPU: goroutines serving connections, runnable.
		peak, pinnedShare = pinned(v.perServerDump)
		queueShare, kind = v.serverRunnable/v.server, "cpu"
		if pinnedShare < minPinned || queueShare < minQueue {
			return nil, nil
		}
	}
	cpuShare, hasCPUShare := processCPUShare(in)
	if kind == "cpu" && hasCPUShare && cpuShare < p.MinProcessCPUShare {
		return nil, nil
	}
	ev := map[string]any{
		"in_flight_max":  peak,
		"in_flight_mean": appRound(v.samples / float64(len(v.perDump))),
		"pinned_share":   appRound(pinnedShare),
		"queue_share":    appRound(queueShare),
		"queue":          kind,
		"dumps":          len(v.perDump),
		"requests_per_s": 0.0,
		"p99_ms":         0.0,
	}
	f := Finding{Subject: "http server", Evidence: ev, Impact: queueShare}
	if kind == "limit" {
		ev["limit_site"] = limitSite.Func
		f.Location = limitSite.Location()
	} else {
		ev["in_flight_mean"] = appRound(v.server / float64(len(v.perServerDump)))
		if hasCPUShare {
			ev["process_cpu_share"] = appRound(cpuShare)
		}
	}
	if m := in.Window.Metrics; m != nil {
		ev["requests_per_s"] = appRound(m.RPS)
		var p99 float64
		for _, rt := range m.Routes {
			if rt.HasLatency && rt.Latency.HasPercentiles {
				p99 = math.Max(p99, rt.Latency.P99)
			}
		}
		ev["p99_ms"] = appRound(p99 * 1000)
		if m.HasInFlight {
			ev["in_flight_gauge"] = m.InFlightTotal
		}
		if rt := m.Runtime; rt.HasSchedLatency {
			ev["sched_latency_p99_ms"] = appRound(rt.SchedLatency.P99 * 1000)
		}
	}
	return []Finding{f}, nil
}

// processCPUShare is the process's CPU over the window as a share of its
// GOMAXPROCS, when the metrics have both.
func processCPUShare(in *Input) (float64, bool) {
	w := in.Window
	if w == nil || w.Metrics == nil || w.Metrics.Process.CPUCores == nil || w.Metrics.Runtime.GOMAXPROCS == nil {
		return 0, false
	}
	procs := float64(*w.Metrics.Runtime.GOMAXPROCS)
	if procs <= 0 {
		return 0, false
	}
	return *w.Metrics.Process.CPUCores / procs, true
}
