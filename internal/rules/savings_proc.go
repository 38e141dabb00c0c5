package rules

import (
	"fmt"
	"math"
	"regexp"

	"github.com/pgadvisor/advisor/internal/probe/pprof"
)

// A Go service's own process can run out of CPU before its host does: at
// GOMAXPROCS below the host's CPUs (the sample service's naive setting is
// 1) the requests queue for a P while the host still has CPUs to spare. A
// fix then saves in proportion to the CPU it frees in the service's own
// process: the driver's work of each statement or Redis command it spares,
// or the cap itself (runtime.gomaxprocs). On the sample service, once the
// pool was sized, the process used 0.58 to 0.72 cores at GOMAXPROCS 1 with
// the host 74 to 82% busy, and the fixes that spared the driver work (the
// N+1 x1.72, the over-fetching x1.52, the cache x1.94) and GOMAXPROCS
// (x1.36) gained most, the lock nothing.

// The process's busy share of its GOMAXPROCS at which it starts to count as
// CPU-bound, and the share from which it is wholly so (a Go process at
// GOMAXPROCS 1 rarely shows more than 0.8 of a core: the P is released in
// system calls and the network poller).
const (
	procBoundFrom = 0.5
	procBoundFull = 0.8
)

// procClientCPUMS is the CPU one statement or Redis command costs the
// service's driver, in milliseconds, when the window has no CPU profile
// to measure it: about half of callCPUMS, the client's half of a round trip.
const procClientCPUMS = callCPUMS / 2

var (
	procPGClientRe    = regexp.MustCompile(`^(github\.com/jackc/pgx/|github\.com/lib/pq\.|database/sql\.)`)
	procRedisClientRe = regexp.MustCompile(`^(github\.com/redis/go-redis/|github\.com/gomodule/redigo/)`)
)

// procCPUOf fills h's process fields for a Go service whose GOMAXPROCS
// and CPU per request are known: how CPU-bound it is at its GOMAXPROCS,
// the statements per request, and the share of its CPU its PostgreSQL and
// Redis drivers take in the window's CPU profile (-1 without one): what
// each call costs the process (onProcCPU) and the client's part of what it
// costs the host (roundTripCPU).
func procCPUOf(in *Input, svc *Span, h *HostCPU) {
	h.PGClientShare, h.RedisClientShare = -1, -1
	w, pr := in.Window, svc.PerRequest
	if w == nil || w.Metrics == nil || w.Metrics.Runtime.GOMAXPROCS == nil || pr == nil || pr.CPUMS == nil || svc.RPS <= 0 {
		return
	}
	procs, ms := *w.Metrics.Runtime.GOMAXPROCS, *pr.CPUMS
	if procs <= 0 || ms <= 0 {
		return
	}
	h.Procs, h.SvcMSPerRequest = procs, ms
	h.ProcBusyShare = ms * svc.RPS / 1000 / procs
	h.ProcBound = math.Max(0, math.Min(1, (h.ProcBusyShare-procBoundFrom)/(procBoundFull-procBoundFrom)))
	if pr.DBQueries != nil {
		h.StatementsPerRequest = *pr.DBQueries
	}
	prof := appProfile(w, pprof.KindCPU)
	if prof == nil {
		return
	}
	// A profile repeats the same few hundred functions: match each once.
	type driver struct{ pg, redis bool }
	drivers := map[string]driver{}
	var total, pgCPU, redisCPU float64
	appStacks(prof.Profile, pprof.SampleIndex(prof.Profile), func(frames []pprof.Frame, val float64) {
		total += val
		var pg, rd bool
		for _, fr := range frames {
			d, ok := drivers[fr.Func]
			if !ok {
				d = driver{procPGClientRe.MatchString(fr.Func), procRedisClientRe.MatchString(fr.Func)}
				drivers[fr.Func] = d
			}
			pg, rd = pg || d.pg, rd || d.redis
		}
		switch {
		case pg:
			pgCPU += val
		case rd:
			redisCPU += val
		}
	})
	if total > 0 {
		h.PGClientShare, h.RedisClientShare = pgCPU/total, redisCPU/total
	}
}

// procFreed is the service's CPU per request, in milliseconds, that a
// finding's fix frees in its own process, with how it was estimated; false
// for a fix that frees none there (an index spares PostgreSQL, a lock
// spares no CPU).
func procFreed(in *Input, f *Finding, h HostCPU) (float64, string, bool) {
	num := func(key string) float64 { return evidenceAmount(f.Evidence, key) }
	rps := in.split().Service.RPS
	if rps <= 0 || h.SvcMSPerRequest <= 0 {
		return 0, "", false
	}
	perStatement := procClientCPUMS
	how := fmt.Sprintf("%.0f µs of driver CPU per statement (no CPU profile)", procClientCPUMS*1000)
	if h.PGClientShare >= 0 && h.StatementsPerRequest > 0 {
		perStatement = h.PGClientShare * h.SvcMSPerRequest / h.StatementsPerRequest
		how = fmt.Sprintf("%.0f µs of driver CPU per statement (the CPU profile's %.0f%% under the PostgreSQL driver over %.1f statements per request)",
			perStatement*1000, h.PGClientShare*100, h.StatementsPerRequest)
	}
	statements := func(perReq, part float64, what string) (float64, string, bool) {
		if perReq <= 0 {
			return 0, "", false
		}
		return perReq * part * perStatement, fmt.Sprintf("%s: %.2f statements per request, %s", what, perReq*part, how), true
	}
	switch f.Rule {
	case appInlineWork.ID:
		return inlineWorkCPU(in, f)
	case appInternalHops.ID:
		return hopsProcCPU(in, f, h)
	case dbNPlusOne.ID:
		perS, _, ok := nPlusOneAway(f)
		if !ok {
			return 0, "", false
		}
		return statements(perS/rps, 1, "the repeated statements batched away")
	case dbCacheCandidate.ID:
		return statements(cacheCallsPerS(f)/rps, 0.9, "90% of the cached statements")
	case dbOverfetch.ID:
		return statements(num("calls_per_s")/rps, 0.5, "half the driver work of the over-fetching statement")
	case redisRoundTrips.ID:
		cpr := num("commands_per_request")
		if cpr <= 1 {
			return 0, "", false
		}
		if h.RedisClientShare >= 0 {
			ms := h.RedisClientShare * h.SvcMSPerRequest * (1 - 1/cpr)
			return ms, fmt.Sprintf("all round trips but one of the %.0f%% of the CPU profile under the Redis driver", h.RedisClientShare*100), true
		}
		return (cpr - 1) * procClientCPUMS, fmt.Sprintf("%.1f commands fewer per request at %.0f µs of driver CPU each (no CPU profile)", cpr-1, procClientCPUMS*1000), true
	}
	return 0, "", false
}

// The net/http functions that tell a hop's work apart in a CPU profile:
// the client's connection loops, and the server's connection outside the
// handler it calls.
const (
	httpClientReadLoop  = "net/http.(*persistConn).readLoop"
	httpClientWriteLoop = "net/http.(*persistConn).writeLoop"
	httpServerConn      = "net/http.(*conn).serve"
	httpServerHandler   = "net/http.serverHandler.ServeHTTP"
)

// hopsProcCPU is the service's CPU per request, in milliseconds, that
// calling in-process what an app.internal-hops finding calls over HTTP
// frees in the service's own process, from the window's CPU profile: the
// client's work under the calling function and in net/http's connection
// loops (their share of the outbound calls that are hops), and, for the
// hops this process serves itself, the HTTP server's work outside the
// handlers (its share of the requests served that are hops). The called
// handler's own work stays: the in-process call runs it. On the sample
// service at GOMAXPROCS 1 with the pool sized, the cache on and the inline
// work queued, that was 17% of the process's CPU: 5.8% under the calling
// function, 5.8% in the connection loops, and 37% of the 14% the server
// spent outside the handlers.
func hopsProcCPU(in *Input, f *Finding, h HostCPU) (float64, string, bool) {
	prof := appProfile(in.Window, pprof.KindCPU)
	if prof == nil || h.SvcMSPerRequest <= 0 {
		return 0, "", false
	}
	fn, _ := f.Evidence["function"].(string)
	var total, caller, loops, server float64
	appStacks(prof.Profile, pprof.SampleIndex(prof.Profile), func(frames []pprof.Frame, val float64) {
		total += val
		var atCaller, inLoop, inConn, inHandler bool
		for _, fr := range frames {
			switch fr.Func {
			case fn:
				atCaller = true
			case httpClientReadLoop, httpClientWriteLoop:
				inLoop = true
			case httpServerConn:
				inConn = true
			case httpServerHandler:
				inHandler = true
			}
		}
		switch {
		case atCaller:
			caller += val
		case inLoop:
			loops += val
		case inConn && !inHandler:
			server += val
		}
	})
	if total <= 0 {
		return 0, "", false
	}
	// The hops' part of every outbound call (webhooks and other services
	// share the connection loops) and of the requests served here.
	hopsPerS := evidenceAmount(f.Evidence, "outbound_per_s")
	var allPerS float64
	if m := in.Window.Metrics; m != nil && m.Seconds > 0 {
		for _, o := range m.Outbound {
			allPerS += o.Calls / m.Seconds
		}
	}
	clientPart := 1.0
	if allPerS > 0 && hopsPerS > 0 {
		clientPart = math.Min(1, hopsPerS/allPerS)
	}
	served, inbound := evidenceAmount(f.Evidence, "served_here_per_s"), evidenceAmount(f.Evidence, "inbound_per_s")
	serverPart := 0.0
	if served > 0 && inbound > 0 {
		serverPart = served / (served + inbound)
	}
	share := (caller + loops*clientPart + server*serverPart) / total
	if share <= 0 {
		return 0, "", false
	}
	how := fmt.Sprintf("the HTTP client's CPU under %s (%.1f%% of the CPU profile) and in its connection loops (%.0f%% of %.1f%%)",
		fn, 100*caller/total, 100*clientPart, 100*loops/total)
	if serverPart > 0 {
		how += fmt.Sprintf(", and the HTTP server's outside the handlers for the hops served here (%.0f%% of %.1f%%)", 100*serverPart, 100*server/total)
	}
	return share * h.SvcMSPerRequest, how, true
}

// gomaxprocsGain is the throughput factor raising GOMAXPROCS to the usable
// CPUs would give a process CPU-bound at it: the usable CPUs over
// GOMAXPROCS, at most the host's CPUs over those it keeps busy.
func gomaxprocsGain(f *Finding, h HostCPU) float64 {
	usable, ok := evidenceFinite(f.Evidence, "usable_cpus")
	if !ok || usable <= 0 || h.Procs <= 0 || h.BusyCores <= 0 {
		return 1
	}
	return math.Max(1, math.Min(usable/h.Procs, float64(h.Cores)/h.BusyCores))
}
