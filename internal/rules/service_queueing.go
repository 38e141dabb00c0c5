package rules

import (
	"context"

	"github.com/pgadvisor/advisor/internal/probe/metrics"
	"github.com/pgadvisor/advisor/internal/probe/postgres"
)

// serviceQueueing flags a service whose requests wait inside it, neither on
// a CPU nor in the database: far more requests in flight than its CPU
// concurrency (process CPU in cores) plus its busy database sessions plus
// its outbound calls. It tells the cause apart where the evidence allows: a
// global lock (Go), a pool of very few connections all busy, an event loop
// blocked by synchronous calls, too few workers, an outbound call. The
// requests in flight include those waiting in the kernel for the service to
// read them, when it runs on this machine (probe.Window.KernelQueued).
var serviceQueueing = Def[serviceQueueingParams]{ID: "service.queueing", Check: checkServiceQueueing}

type serviceQueueingParams struct {
	MinInFlight      float64 `param:"min_in_flight"`
	MinInFlightRatio float64 `param:"min_in_flight_ratio"`
	MinWaitShare     float64 `param:"min_wait_share"`
	MinRequestsPerS  float64 `param:"min_requests_per_s"`
	MaxLoopDBActive  float64 `param:"max_loop_db_active"`
	MaxLoopCPUCores  float64 `param:"max_loop_cpu_cores"`
	MinLoopLagMS     float64 `param:"min_loop_lag_p99_ms"`
	MaxPoolSessions  int     `param:"max_pool_sessions"`
	MinPoolBusyShare float64 `param:"min_pool_busy_share"`
	MinHandoffShare  float64 `param:"min_pool_handoff_busy_share"`
	MinWorkerCores   float64 `param:"min_worker_cpu_cores"`
	MaxHostBusyShare float64 `param:"max_host_busy_share"`
	MaxCPUPressure   float64 `param:"max_host_cpu_pressure"`
	MinKernelQueued  float64 `param:"min_kernel_queued"`
}

// The causes service.queueing tells apart, as its evidence names them.
const (
	causeLock      = "lock"
	causePool      = "pool"
	causeEventLoop = "blocked event loop"
	causeWorkers   = "too few workers"
	causeOutbound  = "outbound call"
	causeUnknown   = "unknown"
)

func checkServiceQueueing(_ context.Context, in *Input, p serviceQueueingParams) ([]Finding, error) {
	w := in.Window
	if w == nil || w.Metrics == nil {
		return nil, nil
	}
	m := w.Metrics
	ts := in.split()
	svc := ts.Service
	if svc.RPS < p.MinRequestsPerS || !svc.HasLatency || svc.MeanMS <= 0 || len(svc.Parts) == 0 {
		return nil, nil
	}
	var cpu float64
	if c := m.Process.CPUCores; c != nil {
		cpu = *c
	}
	db := serviceDBOf(in)
	dbActive := db.active
	if db.samples == 0 {
		// Without activity samples: the statements' time, as concurrency.
		dbActive = svc.Part(PartDB).MSPerRequest / 1000 * svc.RPS
	}
	outbound := outboundConcurrency(m)
	busy := cpu + dbActive + outbound
	// The share of request time spent waiting for something inside the
	// service: the parts that are neither CPU nor a datastore nor a call.
	waitShare, waitMS := waitOf(svc)
	// The requests waiting in the kernel for the service to read them,
	// when it runs here: a worker whose loop a synchronous call blocks
	// takes the next request only when the call returns, and its metrics
	// count none of those waiting, nor their wait. By Little's law each
	// request waited there kernel_queued / rate, before the time its
	// metrics measure.
	// Below min_kernel_queued on average, the queue is the moment between
	// a keep-alive client's request and the read that takes it.
	kernelQueued, kernelMS := kernelWait(ts, p.MinKernelQueued)
	if kernelQueued > 0 {
		waitMS += kernelMS
		waitShare = waitMS / (svc.MeanMS + kernelMS)
	}
	inFlight := svc.InFlight + kernelQueued
	if inFlight < p.MinInFlight || inFlight < p.MinInFlightRatio*busy || waitShare < p.MinWaitShare {
		return nil, nil
	}
	// On a host whose CPUs are all busy (known when it is this machine),
	// the requests wait for a CPU: runnable, which process CPU does not
	// count. That is not a wait inside the service.
	// Requests that wait for a CPU also keep some runnable task waiting: a
	// service whose requests wait most of the time (waitShare) for a CPU
	// puts its host under CPU pressure most of the time. Where the host's
	// pressure stall information says no task waited for a CPU over much
	// of the window, the wait is inside the service; where it says one
	// did, the wait may be the CPU's, on a host shared with other work.
	// That does not hold for the requests waiting unread in the kernel,
	// when they make most of the wait: a worker leaves them there while it
	// is busy with another request, and on a host with CPUs free (the
	// busy share above) that is its loop or its workers, whatever task
	// waited for a CPU now and then. Both readings are hostShortOfCPU's,
	// which the time split's note on such a host shares.
	if hostShortOfCPU(ts, w, p) != "" {
		return nil, nil
	}

	lang := serviceLanguage(in)
	ev := map[string]any{
		"runtime":             lang,
		"in_flight":           dbRound(inFlight, 1),
		"in_flight_from":      svc.InFlightFrom,
		"cpu_cores":           dbRound(cpu, 2),
		"db_active_sessions":  dbRound(dbActive, 2),
		"outbound_in_flight":  dbRound(outbound, 2),
		"busy_concurrency":    dbRound(busy, 2),
		"waiting_requests":    dbRound(max(0, inFlight-busy), 1),
		"wait_share":          dbRound(waitShare, 3),
		"wait_ms_per_request": dbRound(waitMS, 1),
		"mean_ms":             dbRound(svc.MeanMS, 1),
		"kernel_queued":       dbRound(kernelQueued, 1),
		"kernel_wait_ms":      dbRound(kernelMS, 1),
		"requests_per_s":      dbRound(svc.RPS, 1),
		"routes":              topRoutes(ts, 3),
		"db_client":           "",
		"db_sessions_max":     0,
		"db_sessions_mean":    0.0,
		"pool_handoff":        false,
		// -1: the service exposes no such figure (only Node's prom-client
		// does), not a loop that never lagged.
		"event_loop_lag_p99_ms":  -1.0,
		"event_loop_utilisation": -1.0,
		"host_cores":             w.ServiceCPUs,
		"host_busy_cores":        dbRound(w.HostBusyCores, 2),
		"host_cpu_pressure":      -1.0,
	}
	if pr := w.HostCPUPressure; pr != nil {
		ev["host_cpu_pressure"] = dbRound(*pr, 3)
	}
	if kernelQueued > 0 {
		ev["in_flight_from"] = svc.InFlightFrom + " + the kernel's queue"
	}
	busyShare := 0.0
	if db.found {
		ev["db_client"] = clientName(db.main)
		ev["db_sessions_max"] = db.main.Sessions.Max
		ev["db_sessions_mean"] = dbRound(db.main.Sessions.Mean, 2)
		if mx := db.main.Sessions.Max; mx > 0 {
			busyShare = dbRound(heldSessions(db.main)/float64(mx), 2)
		}
	}
	ev["db_sessions_busy_share"] = busyShare
	loop := m.Runtime.EventLoop
	var lagMS, elu float64
	if loop != nil {
		if loop.LagP99Seconds != nil {
			lagMS = *loop.LagP99Seconds * 1000
			ev["event_loop_lag_p99_ms"] = dbRound(lagMS, 1)
		}
		if loop.Utilisation != nil {
			elu = *loop.Utilisation
			ev["event_loop_utilisation"] = dbRound(elu, 3)
		}
	}
	cause := queueingCause(p, svc, lang, cpu, db, loop != nil, lagMS, elu, outbound, inFlight, kernelQueued, ts.Kernel != nil)
	ev["cause"] = cause
	// A Python pool told from its sessions less than min_pool_busy_share
	// busy: one whose connections pass from thread to thread.
	ev["pool_handoff"] = cause == causePool && lang == metrics.LanguagePython && db.found && busyShare < p.MinPoolBusyShare
	return []Finding{{
		Subject:  "service",
		Evidence: ev,
		Impact:   waitShare,
	}}, nil
}

// queueingCause tells the cause of the wait apart, in order of how
// unmistakable its evidence is.
func queueingCause(p serviceQueueingParams, svc Span, lang string, cpu float64, db serviceDB,
	hasLoop bool, lagMS, elu, outbound, inFlight, kernelQueued float64, kernelRead bool) string {
	switch {
	case svc.Part(PartLock).Share >= 0.5*svc.Part(PartOther).Share && svc.Part(PartLock).Share > 0.2:
		return causeLock
	case svc.Part(PartDBPool).Share > 0.2:
		return causePool
	}
	// Requests wait in the kernel, unread, half as many or more as the
	// service counts in flight (its gauge counts the scrape reading it
	// too): its workers do not read them. A single-threaded runtime does
	// so at one core per worker (too few workers), or when a synchronous
	// call blocks its event loop: then a worker holds one database session
	// at most, busy, which looks like a tiny pool all busy, but a pool too
	// small keeps the requests inside the service, read and waiting.
	if singleThreaded(lang) && kernelQueued > 0 && kernelQueued >= 0.5*svc.InFlight {
		if cpu >= p.MinWorkerCores {
			return causeWorkers
		}
		return causeEventLoop
	}
	main := db.main
	if db.found {
		sessions := main.Sessions
		active := main.State(postgres.StateActive).Mean
		// A pool of very few connections, all busy: the sessions pinned
		// at a constant small count, nearly all active, and the loop (if
		// any) not the one holding them back.
		if sessions.Max > 0 && sessions.Max <= p.MaxPoolSessions &&
			sessions.Mean >= 0.9*float64(sessions.Max) &&
			active >= p.MinPoolBusyShare*float64(sessions.Max) &&
			!(hasLoop && lagMS >= p.MinLoopLagMS) {
			return causePool
		}
		// A Python pool of very few connections behind a threadpool: a
		// connection passes from the thread that returns it to the next
		// waiting one under the GIL, so it sits idle between them for a
		// good part of the time (the sessions of the reference FastAPI
		// target with one connection per worker were held, active or
		// idle in a transaction, 29 to 62% of the time in five windows)
		// while the requests wait for it. The requests were read (the
		// kernel's queue read and empty: no loop is blocked) and wait
		// inside, at least twice as many as the sessions, on little CPU.
		held := heldSessions(main)
		if lang == metrics.LanguagePython && kernelRead && kernelQueued == 0 &&
			sessions.Max > 0 && sessions.Max <= p.MaxPoolSessions &&
			sessions.Mean >= 0.9*float64(sessions.Max) &&
			held >= p.MinHandoffShare*float64(sessions.Max) &&
			inFlight >= 2*float64(sessions.Max) && cpu < p.MinWorkerCores {
			return causePool
		}
	}
	dbActive := db.active
	if singleThreaded(lang) {
		if cpu >= p.MinWorkerCores {
			return causeWorkers
		}
		// An async server whose loop is blocked: few database sessions
		// busy (one per loop at most, as a blocking call holds the loop),
		// little CPU, many requests in flight. Node says it directly; the
		// kernel's queue, where it was read, says it above, and read empty
		// says the workers read their requests: no loop is blocked.
		if lang == metrics.LanguageNode && hasLoop {
			if lagMS >= p.MinLoopLagMS || elu >= 0.9 {
				return causeEventLoop
			}
		} else if dbActive <= p.MaxLoopDBActive && cpu <= p.MaxLoopCPUCores && !kernelRead {
			return causeEventLoop
		}
	}
	if outbound >= 0.3*inFlight {
		return causeOutbound
	}
	return causeUnknown
}

// heldSessions is the mean number of a client's sessions held by a
// request: active, or idle in a transaction (checked out of its pool
// between statements).
func heldSessions(c postgres.ClientActivity) float64 {
	return c.State(postgres.StateActive).Mean + c.State(postgres.StateIdleInTransaction).Mean
}
