package rules

import (
	"fmt"
	"math"
	"strings"
)

// A request's time is waiting as long as the service's host has a CPU to
// spare: a fix then saves the time it removes from the request (savesOf).
// Once every CPU of the host is busy, the requests queue for the CPU and
// the rate is the CPUs over the CPU time a request costs on the host, the
// service's and PostgreSQL's together when both run there: a fix then
// saves in proportion to the CPU it frees, whatever the waits it removes.
// Removing a lock on a saturated host only lets more requests queue for
// the same CPUs, while an index that spares PostgreSQL a sequential scan
// per request frees CPU for everything else.
//
// On the sample service (issue 14's calibration), after the pool was sized
// the host was 86% busy, PostgreSQL's sequential scans took two thirds of
// it, and the index gained x1.8 while the lock, the inline work and the
// internal hops, which the time split ranked first, gained x1.1, x1.2 and
// nothing.

// The host's busy share at which it starts to count as CPU-bound, and the
// share from which it is wholly so: between the two, a fix's impact blends
// the time it removes and the CPU it frees.
const (
	cpuBoundFrom = 0.75
	cpuBoundFull = 0.95
)

// service.queueing's defaults that the time split's note on a host short
// of CPU follows (busyHostWaitNote) when it analyses without a rule set
// (Input.hostWaitParams): the share of a window over which a runnable task
// of the host waited for a CPU from which the rule stands aside
// (max_host_cpu_pressure), the requests' mean number queued unread in the
// kernel from which their wait counts (min_kernel_queued), and the share
// of the request time a wait must make (min_wait_share). Its
// max_host_busy_share defaults to cpuBoundFrom.
const (
	cpuPressureFrom  = 0.2
	kernelQueuedFrom = 1.5
	waitShareFrom    = 0.5
)

// callCPUMS is the CPU one statement or command costs the client and the
// server beside its execution, in milliseconds: the protocol, the driver,
// parse and bind, the loopback network. Measured on the sample service:
// batching its N+1 (12 statements fewer per request) gained x1.53 at 940
// requests/s on a saturated 2-core host, about 60 µs a statement.
const callCPUMS = 0.05

// HostCPU is the CPU of the service's host over the window, when advisor
// can see it (the service on advisor's host).
type HostCPU struct {
	// Cores are the host's CPUs, BusyCores the mean number busy.
	Cores     int
	BusyCores float64
	// Bound is how CPU-bound the host is, 0..1: 0 below cpuBoundFrom of
	// its CPUs busy, 1 from cpuBoundFull, linear between; at least the
	// share of the window a runnable task waited for a CPU, where the
	// host's pressure stall information was read (PressureBound).
	Bound float64
	// PressureBound says the host's CPU pressure set Bound, above what its
	// busy share gives.
	PressureBound bool
	// BusyShare is the share of the host's CPUs busy.
	BusyShare float64
	// MSPerRequest is the host's CPU time per request, every process on
	// it counted.
	MSPerRequest float64
	// DBMSPerRequest is the CPU PostgreSQL spends executing statements,
	// per request, when it runs on the same host (0 otherwise): their
	// execution time, at most the host's busy time the service does not
	// use.
	DBMSPerRequest float64
	// DBRunShare is the share of the statements' execution time spent on
	// a CPU rather than waiting for one, 0..1: pg_stat_statements times
	// are wall-clock. Two readings tell it, the smaller counting: when
	// more of PostgreSQL's sessions are ready to run than it has CPUs
	// (active without a wait event in pg_stat_activity, sampled over the
	// window) each runs for the CPUs over the sessions of the time; and
	// when more of the host's tasks are ready to run than it has CPUs
	// (procs_running), each runs for the CPUs over the tasks. 1 when
	// neither was read or both fit. Running is the mean number of
	// sessions, DBCores the CPUs left to PostgreSQL (the host's busy ones
	// less the service's), HostRunnable the host's tasks (0 when not
	// read), RunHow which reading decided.
	DBRunShare, Running, DBCores float64
	HostRunnable                 float64
	RunHow                       string
	// OtherMSPerRequest is the host's CPU per request outside the service
	// and the statements' execution (backend starts, authentication,
	// planning, Redis, other processes), and outside advisor's own process
	// (its probes, and a load generator running in it: AdvisorMSPerRequest),
	// when the service's own CPU is known and PostgreSQL runs on the host;
	// -1 when unknown.
	OtherMSPerRequest   float64
	AdvisorMSPerRequest float64

	// The service's own process, for a Go service whose GOMAXPROCS and
	// CPU are known (savings_proc.go): Procs is its GOMAXPROCS (0 when
	// unknown), ProcBusyShare the share of it busy, ProcBound how
	// CPU-bound it is at it (0..1), SvcMSPerRequest its CPU per request,
	// StatementsPerRequest the top-level statements per request (the
	// split's figures), and PGClientShare and RedisClientShare the
	// shares of its CPU profile under the PostgreSQL and Redis drivers
	// (-1 without a CPU profile).
	Procs, ProcBusyShare, ProcBound float64
	SvcMSPerRequest                 float64
	StatementsPerRequest            float64
	PGClientShare, RedisClientShare float64

	// RoundTripMS is the host's CPU per statement beside its execution,
	// in milliseconds, measured over the window (roundTripCPU); 0 when it
	// cannot be, and callCPUMS stands in. RoundTripHow says how it was
	// measured. Where Redis runs on the host and its own CPU was read,
	// RedisCallMS prices a Redis command apart (its server's CPU and the
	// driver's, per command) and RoundTripMS a statement; else RedisCallMS
	// is 0 and RoundTripMS prices both.
	RoundTripMS  float64
	RoundTripHow string
	RedisCallMS  float64
	RedisCallHow string
}

// callMS is the host's CPU one statement or Redis command costs beside
// its execution: measured when the window allows, else callCPUMS.
func (h HostCPU) callMS() float64 {
	if h.RoundTripMS > 0 {
		return h.RoundTripMS
	}
	return callCPUMS
}

// redisCallMS is the host's CPU one Redis command costs: measured apart
// where Redis's own CPU was read, else callMS.
func (h HostCPU) redisCallMS() float64 {
	if h.RedisCallMS > 0 {
		return h.RedisCallMS
	}
	return h.callMS()
}

// redisCallBasis says how redisCallMS was reached.
func (h HostCPU) redisCallBasis() string {
	if h.RedisCallMS > 0 {
		return fmt.Sprintf("%.0f µs of the host's CPU each (%s)", h.RedisCallMS*1000, h.RedisCallHow)
	}
	return h.callBasis()
}

// callBasis says how callMS was reached.
func (h HostCPU) callBasis() string {
	if h.RoundTripMS > 0 {
		return fmt.Sprintf("%.0f µs of the host's CPU each (%s)", h.RoundTripMS*1000, h.RoundTripHow)
	}
	return fmt.Sprintf("%.0f µs of CPU each", callCPUMS*1000)
}

// roundTripCPU prices a statement, and a Redis command, on the host: the
// host's CPU per request outside the service's process, the statements'
// execution and advisor's own process (PostgreSQL's and Redis's handling
// of each call, the loopback network, and whatever else runs there: an
// upper bound), with the share of the service's CPU profile under its
// PostgreSQL and Redis drivers (or procClientCPUMS a call without a
// profile), over the statements and Redis commands per request. Where
// Redis runs on the host and its own CPU is known, a command is priced
// apart, at its server's CPU and its driver's share per command, and a
// statement at the rest: a command costs Redis a few microseconds where a
// statement costs a PostgreSQL backend its protocol, snapshot and
// executor. A statement costs at least callCPUMS. It needs the service's
// CPU, PostgreSQL on the host and its statements per request, and sessions
// that outlive requests: where a session starts per request, its start
// takes most of that CPU (pool.no-pooling's saving). It returns the
// statement's price and how it was measured, then the command's when
// priced apart (else 0 and "").
//
// On the sample service, once its pool was sized and its Go process was
// no longer the bottleneck, batching the N+1 (3.3 statements fewer per
// request) gained x1.94 at 1,540 requests/s on a 2-core host: about
// 190 µs of the host's CPU per statement, where callCPUMS counts 50
// (2026-12-05, BenchmarkImpactCalibration); with one price for both, the
// Redis round trips batched before it were predicted at 22 to 24% and
// gained x0.88 to x1.05.
func roundTripCPU(in *Input, svc *Span, h *HostCPU) (float64, string, float64, string) {
	rps := svc.RPS
	if h.OtherMSPerRequest < 0 || rps <= 0 || svc.PerRequest == nil || svc.PerRequest.DBQueries == nil {
		return 0, "", 0, ""
	}
	if n, ok := sessionsPerRequest(in, rps); !ok || n >= sessionPerRequest {
		return 0, "", 0, ""
	}
	statements := *svc.PerRequest.DBQueries
	commands := 0.0
	r := redisWindow(in)
	if r != nil {
		commands = r.OpsPerS / rps
	}
	if statements+commands < 1 {
		return 0, "", 0, ""
	}
	profiled := h.PGClientShare >= 0 && h.SvcMSPerRequest > 0
	// client is the drivers' CPU per request for n calls of a driver
	// whose share of the profile is share.
	client := func(n, share float64) float64 {
		if profiled {
			return share * h.SvcMSPerRequest
		}
		return n * procClientCPUMS
	}
	how := fmt.Sprintf("%.0f µs of driver CPU per call, no CPU profile", procClientCPUMS*1000)
	if profiled {
		how = fmt.Sprintf("%.0f%% of the service's CPU profile under its drivers", (h.PGClientShare+h.RedisClientShare)*100)
	}
	advisor := ""
	if h.AdvisorMSPerRequest > 0 {
		advisor = fmt.Sprintf(" (advisor's own %.2f ms left out)", h.AdvisorMSPerRequest)
	}
	if r != nil && r.Cur != nil && r.Cur.Local && r.CPUCores > 0 && commands >= 0.5 && statements >= 1 {
		server := math.Min(r.CPUCores*1000/rps, h.OtherMSPerRequest)
		redisMS := (server + client(commands, h.RedisClientShare)) / commands
		pgMS := math.Max(callCPUMS, (h.OtherMSPerRequest-server+client(statements, h.PGClientShare))/statements)
		return pgMS, fmt.Sprintf("the host's %.2f ms of CPU per request outside the service, the statements' execution and Redis%s, and %s, over %.1f statements per request",
				h.OtherMSPerRequest-server, advisor, how, statements),
			redisMS, fmt.Sprintf("Redis's own %.3f ms of CPU per request and its driver's share, over %.1f commands per request", server, commands)
	}
	ms := math.Max(callCPUMS, (h.OtherMSPerRequest+client(statements+commands, h.PGClientShare+h.RedisClientShare))/(statements+commands))
	return ms, fmt.Sprintf("the host's %.2f ms of CPU per request outside the service and the statements' execution%s, and %s, over %.1f statements and %.1f Redis commands per request",
		h.OtherMSPerRequest, advisor, how, statements, commands), 0, ""
}

// sessionPerRequest is the PostgreSQL sessions per request from which a
// session counts as started per request (no pool): its start, not the
// statements, then takes most of what the database costs a request.
const sessionPerRequest = 0.5

// sessionsPerRequest is the PostgreSQL sessions started per request over
// the window; false where PostgreSQL does not count them (before 14) or
// the window cannot tell.
func sessionsPerRequest(in *Input, rps float64) (float64, bool) {
	pg := in.Window.Postgres
	if rps <= 0 || pg == nil || pg.Cur == nil || !pg.Cur.Database.Stats.HasSessions || pg.Database.Seconds <= 0 {
		return 0, false
	}
	return pg.Database.SessionsPerS / rps, true
}

// hostCPUOf reads the host's CPU over the window for the service's span
// (its rate, and what a request costs in the other sources); false when
// advisor cannot see the service's host or the service served nothing.
func hostCPUOf(in *Input, svc *Span) (HostCPU, bool) {
	rps := svc.RPS
	w := in.Window
	if w == nil || w.ServiceCPUs <= 0 || w.HostBusyCores <= 0 || w.Cumulative || rps <= 0 {
		return HostCPU{}, false
	}
	cores := float64(w.ServiceCPUs)
	busy := math.Min(w.HostBusyCores, cores)
	h := HostCPU{Cores: w.ServiceCPUs, BusyCores: busy, BusyShare: busy / cores, MSPerRequest: busy * 1000 / rps, OtherMSPerRequest: -1}
	h.Bound = math.Max(0, math.Min(1, (h.BusyShare-cpuBoundFrom)/(cpuBoundFull-cpuBoundFrom)))
	// A host 80 to 85% busy on average can still keep its tasks waiting
	// for a CPU most of the time: its CPU comes in bursts, and a request
	// pays each wait. On the sample service with its pool sized, its
	// cache on and its index missing, the host 82 to 84% busy (a bound of
	// 0.35 to 0.45 by the busy share), a task waited for a CPU over 56 to
	// 61% of the window (/proc/pressure/cpu), and the index, which frees
	// only PostgreSQL's CPU, gained x1.26 to x1.74 (2026-12-07).
	if p := w.HostCPUPressure; p != nil && *p > h.Bound {
		h.Bound, h.PressureBound = math.Min(1, *p), true
	}
	if w.HostRunnableReadings > 0 {
		h.HostRunnable = w.HostRunnable
	}
	procCPUOf(in, svc, &h)
	svcCores := -1.0
	if m := w.Metrics; m != nil && m.Process.CPUCores != nil {
		svcCores = *m.Process.CPUCores
	}
	pg := w.Postgres
	if pg == nil || pg.Cur == nil || !pg.Cur.Server.CPUsLocal || pg.Statements.Seconds <= 0 {
		return h, true
	}
	dbCores := pg.Statements.TotalTime / 1000 / pg.Statements.Seconds
	// Execution times are wall-clock: on a host whose CPUs are all taken,
	// a session ready to run waits its turn inside them, and taking them
	// for CPU would credit an index with the queue's time. On the naive
	// sample service, pg_stat_activity showed fewer sessions ready than
	// CPUs (2026-12-05), but the host had 9 tasks running or ready to run
	// for its 2 CPUs, most of them backends starting for a request
	// (2026-12-06): the index, predicted at 16% from the statements'
	// wall-clock time, gained x0.91 to x1.18 in ten calibration runs.
	h.DBRunShare, h.DBCores = 1, busy
	if svcCores >= 0 {
		h.DBCores = math.Max(0, busy-svcCores)
	}
	if h.Running = runnableSessions(in); h.Running > h.DBCores && h.DBCores > 0 {
		h.DBRunShare = h.DBCores / h.Running
		h.RunHow = fmt.Sprintf("%.1f sessions ready to run for %.2f CPUs", h.Running, h.DBCores)
	}
	// The sessions PostgreSQL shows active are not all that wait for its
	// CPUs: backends starting (a session per request) and every other
	// process of the host do too, and a statement's backend gets its
	// turn among all of them. That holds where sessions start per request
	// (or PostgreSQL does not count them), not once they are pooled: a
	// pooled backend sleeps between statements and, woken, tends to get a
	// CPU ahead of the tasks that used theirs. On the sample service with
	// its pool sized and 5 to 6 tasks ready to run for 2 CPUs, PostgreSQL's
	// processes used 1.1 to 1.8 ms of CPU per request (/proc) for about
	// 1.1 ms of execution time, and the index on the feed's scan, its
	// saving counted at a third of that time, gained x1.2 to x1.6 in three
	// pairs (2026-12-07).
	if h.HostRunnable > cores && cores/h.HostRunnable < h.DBRunShare && !pooledSessions(in, rps) {
		h.DBRunShare = cores / h.HostRunnable
		h.RunHow = fmt.Sprintf("%.1f of the host's tasks ready to run for its %d CPUs", h.HostRunnable, w.ServiceCPUs)
	}
	dbCores *= h.DBRunShare
	if svcCores >= 0 {
		dbCores = math.Min(dbCores, h.DBCores)
		advisor := math.Min(math.Max(0, w.AdvisorCores), math.Max(0, busy-svcCores-dbCores))
		h.AdvisorMSPerRequest = advisor * 1000 / rps
		h.OtherMSPerRequest = math.Max(0, busy-svcCores-dbCores-advisor) * 1000 / rps
	}
	h.DBMSPerRequest = dbCores * 1000 / rps
	h.RoundTripMS, h.RoundTripHow, h.RedisCallMS, h.RedisCallHow = roundTripCPU(in, svc, &h)
	return h, true
}

// pooledSessions says PostgreSQL counted sessions over the window and
// fewer than one started for every two requests (pool.no-pooling's
// threshold): the service's backends outlive its requests.
func pooledSessions(in *Input, rps float64) bool {
	perReq, ok := sessionsPerRequest(in, rps)
	return ok && perReq < 0.5
}

// runnableSessions is the mean number of PostgreSQL's client sessions,
// every database's, active without a wait event over the window's
// pg_stat_activity samples: running, or ready to run and waiting for a
// CPU, which PostgreSQL does not tell apart. 0 without samples.
func runnableSessions(in *Input) float64 {
	n := 0.0
	for _, c := range in.activity() {
		n += c.OnCPU.Mean
	}
	return n
}

// cpuFreed is the host CPU per request, in milliseconds, that a finding's
// fix frees, with how it was estimated; false for a fix that frees none
// advisor can tell (a lock, GOMAXPROCS on a busy host).
func cpuFreed(in *Input, f *Finding, h HostCPU) (float64, string, bool) {
	num := func(key string) float64 { return evidenceAmount(f.Evidence, key) }
	rps := in.split().Service.RPS
	// statement frees a part of the statements' CPU on a local PostgreSQL.
	statement := func(share, part float64, what string) (float64, string, bool) {
		if h.DBMSPerRequest <= 0 || share <= 0 {
			return 0, "", false
		}
		if h.DBRunShare < 1 && what != "" {
			what += fmt.Sprintf(" (its execution time counted at %.0f%%: %s)", h.DBRunShare*100, h.RunHow)
		}
		return share * part * h.DBMSPerRequest, what, true
	}
	switch f.Rule {
	case dbMissingIndex.ID:
		return statement(num("total_share"), math.Min(1, num("cost_cut")), "the statement's share of PostgreSQL's CPU x the planner's cost cut")
	case dbSlowQuery.ID:
		return statement(num("total_share"), 1, "up to the statement's share of PostgreSQL's CPU")
	case dbOverfetch.ID:
		return statement(num("total_share"), 0.5, "half the statement's share of PostgreSQL's CPU")
	case dbCacheCandidate.ID:
		// Each cache hit spares a statement: its execution on a local
		// PostgreSQL, and the protocol, parse and bind around it, as an
		// N+1 batched away does.
		share := num("statements_share")
		if share == 0 {
			share = num("total_share")
		}
		perS := cacheCallsPerS(f)
		if rps <= 0 || perS <= 0 {
			return statement(share, 0.9, "90% of the statements' share of PostgreSQL's CPU")
		}
		spared := 0.9 * perS / rps
		ms := spared * h.callMS()
		if s, _, ok := statement(share, 0.9, ""); ok {
			ms += s
		}
		return ms, fmt.Sprintf("%.1f statements fewer per request (90%% of them cache hits) at %s, and their execution", spared, h.callBasis()), true
	case dbNPlusOne.ID:
		awayPerS, awayShare, ok := nPlusOneAway(f)
		if !ok || rps <= 0 {
			return 0, "", false
		}
		removed := awayPerS / rps
		ms := removed * h.callMS()
		if s, _, ok := statement(awayShare, 1, ""); ok {
			ms += s
		}
		return ms, fmt.Sprintf("%.1f statements fewer per request at %s, and their execution", removed, h.callBasis()), true
	case redisRoundTrips.ID:
		cpr := num("commands_per_request")
		if cpr <= 1 {
			return 0, "", false
		}
		return (cpr - 1) * h.redisCallMS(), fmt.Sprintf("%.1f commands fewer per request at %s", cpr-1, h.redisCallBasis()), true
	case appInternalHops.ID:
		// Hops this process serves itself are requests of their own on
		// the host, each paying at least what every request pays outside
		// the service's process and the statements' execution: a session
		// start where there is no pool. Where sessions outlive requests
		// and that CPU was priced per statement and Redis command instead
		// (RoundTripMS), the hops' requests pay it through their calls,
		// which the statement fixes count: on the sample service with its
		// pool sized, counting it again for the hops predicted them at 21%
		// where they gained x0.85 to x1.18 (2026-12-06). In the service's
		// process, the HTTP client's and server's work for the hops, where
		// a CPU profile tells it (hopsProcCPU); without one it is left
		// out: a lower bound.
		var ms float64
		var how []string
		if served := num("served_here_per_s"); served > 0 && rps > 0 && h.OtherMSPerRequest > 0 && h.RoundTripMS <= 0 {
			share := math.Min(1, served/rps)
			ms += share * h.OtherMSPerRequest
			how = append(how, fmt.Sprintf("the hops' own requests to this service (%.0f%% of its requests), at least the host's CPU "+
				"per request outside the service and the statements' execution", share*100))
		}
		if proc, procHow, ok := hopsProcCPU(in, f, h); ok {
			ms += proc
			how = append(how, fmt.Sprintf("%.3f ms per request in the service's process: %s", proc, procHow))
		}
		if ms <= 0 {
			return 0, "", false
		}
		return ms, strings.Join(how, "; and "), true
	case appInlineWork.ID:
		return inlineWorkCPU(in, f)
	case poolNoPooling.ID:
		if h.OtherMSPerRequest <= 0 || num("sessions_per_request") < 0.5 {
			return 0, "", false
		}
		return h.OtherMSPerRequest, "the host's CPU outside the service and the statements' execution, while a session starts per request " +
			"(backend start, authentication, catalog loads, planning): an upper bound", true
	}
	return 0, "", false
}

// nPlusOneAway is what batching a db.n-plus-one finding's group removes:
// the statements per second and their share of the database's time, the
// siblings on the same parent rows included (batched_away_per_s and
// batched_away_share). False when nothing would go.
func nPlusOneAway(f *Finding) (perS, share float64, ok bool) {
	perS = evidenceAmount(f.Evidence, "batched_away_per_s")
	return perS, evidenceAmount(f.Evidence, "batched_away_share"), perS > 0
}

// cacheCallsPerS is the calls per second of the statements a
// db.cache-candidate finding would serve from a cache: all of them, or the
// first one's in evidence without the total.
func cacheCallsPerS(f *Finding) float64 {
	if v := evidenceAmount(f.Evidence, "statements_calls_per_s"); v > 0 {
		return v
	}
	return evidenceAmount(f.Evidence, "calls_per_s")
}

// inlineWorkCPU is the service's CPU per request that app.inline-work's
// fix takes off the requests' path: the work's share of the process's CPU
// profile x the service's CPU per request. The work still runs, in a job
// worker, but at the queue's pace rather than the requests', and commonly
// in a process or on a host of its own: the PDF, the e-mail and the
// webhook of the sample service's orders took 15 to 27% of its CPU once
// its pool was sized.
func inlineWorkCPU(in *Input, f *Finding) (float64, string, bool) {
	share := evidenceAmount(f.Evidence, "process_cpu_share")
	pr := in.split().Service.PerRequest
	if share <= 0 || pr == nil || pr.CPUMS == nil || *pr.CPUMS <= 0 {
		return 0, "", false
	}
	return share * *pr.CPUMS, fmt.Sprintf("the work's %.0f%% of the service's CPU profile, off the requests' path in a job worker", share*100), true
}

// onHostCPU weighs a finding's saving by how CPU-bound the service's host
// (Bound) and its own process at its GOMAXPROCS (ProcBound) were. At b, the
// larger of the two, the share is (1-b) x the time it removes + b x the
// share of the CPU per request it frees, that share being the host's and
// the process's, each counted in proportion to its bound. A saving on a
// host advisor cannot see, or neither CPU-bound, is returned as it is.
//
// Each bound holds the other back: a Go process at GOMAXPROCS 1 gets its
// CPU from a host whose other tasks (PostgreSQL's backends) take theirs,
// and what the host's CPUs free reaches it only while it has CPU to spare.
// Counting the more bound alone, as advisor did until 2026-12-07, priced
// an index at 1.2% with the process at 62% of its GOMAXPROCS 1 and the
// host at 81% busy with 5 tasks ready to run for its 2 CPUs, where the same
// index gained x1.18 to x1.58.
func onHostCPU(in *Input, f *Finding, s *Saving) *Saving {
	if s == nil || s.NotRequestTime {
		return s
	}
	ts := in.split()
	h := ts.Host
	if h == nil || h.MSPerRequest <= 0 {
		return s
	}
	bh, bp := h.Bound, h.ProcBound
	b := math.Max(bh, bp)
	if b <= 0 {
		return s
	}
	var cpu float64
	var parts []string
	if bh > 0 {
		share, how := hostCPUShare(in, f, *h)
		cpu += bh / (bh + bp) * share
		parts = append(parts, fmt.Sprintf("the host's CPUs (%s): %s", h.busyText(), how))
	}
	if bp > 0 {
		share, how := procCPUShare(in, f, *h)
		cpu += bp / (bh + bp) * share
		parts = append(parts, fmt.Sprintf("the service's process at %.0f%% of its GOMAXPROCS %.0f: %s", h.ProcBusyShare*100, h.Procs, how))
	}
	share := (1-b)*s.Share + b*cpu
	return &Saving{Share: share, MSPerRequest: share * ts.Service.MeanMS, Basis: s.Basis + "; weighed by " + strings.Join(parts, "; and by ")}
}

// busyText says how busy the host's CPUs were, and the pressure that
// set its bound when it did.
func (h HostCPU) busyText() string {
	if h.PressureBound {
		return fmt.Sprintf("%.0f%% busy, a task waiting for a CPU %.0f%% of the time", h.BusyShare*100, h.Bound*100)
	}
	return fmt.Sprintf("%.0f%% busy", h.BusyShare*100)
}

// hostCPUShare is the share of the host's CPU per request a finding's fix
// frees (cpuFreed), with how it was reached; 0 for a fix that frees none
// advisor can tell.
func hostCPUShare(in *Input, f *Finding, h HostCPU) (float64, string) {
	freed, how, ok := cpuFreed(in, f, h)
	if !ok {
		return 0, "the fix frees no CPU advisor can tell, so on a busy host the requests would queue for the CPU instead"
	}
	return math.Min(1, freed/h.MSPerRequest), fmt.Sprintf("%s, %.2f of %.2f ms of CPU per request", how, freed, h.MSPerRequest)
}

// procCPUShare is the share of the service process's CPU per request a
// finding's fix frees (procFreed), or for runtime.gomaxprocs what lifting
// the cap gives (1 - 1/gain), with how it was reached; 0 for a fix that
// frees none there.
func procCPUShare(in *Input, f *Finding, h HostCPU) (float64, string) {
	if f.Rule == runtimeGOMAXPROCS.ID {
		if g := gomaxprocsGain(f, h); g > 1 {
			return 1 - 1/g, fmt.Sprintf("GOMAXPROCS %.0f on %d CPUs (%.2f busy): x%.2f more requests before the CPUs run out", h.Procs, h.Cores, h.BusyCores, g)
		}
	} else if freed, how, ok := procFreed(in, f, h); ok {
		return math.Min(1, freed/h.SvcMSPerRequest), fmt.Sprintf("%s, %.3f of %.2f ms of the service's CPU per request", how, freed, h.SvcMSPerRequest)
	}
	return 0, "the fix frees none of its CPU advisor can tell, so the requests would queue for its CPU instead"
}
