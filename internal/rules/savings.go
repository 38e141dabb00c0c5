package rules

import (
	"fmt"
	"maps"
	"math"
)

// savingOf is a finding's saving: the request time its fix would remove
// (savesOf), weighed by how CPU-bound the service's host or process was
// (onHostCPU).
func savingOf(in *Input, f *Finding) *Saving {
	return onHostCPU(in, f, savesOf(in, f))
}

// savesOf estimates the request time a finding's fix would remove, from the
// window's time split and the finding's evidence; nil where neither can
// say. It reads the evidence keys each rule's fixture documents
// (testdata/evidence/<id>.yaml).
//
// The estimate is the time the fix takes off an average request, as the
// split measured it: a statement's time per request for the statement
// rules, the share of handler samples at the finding's site for the
// application rules, a part of the split for the pool and runtime rules.
// It does not model what a fix moves elsewhere (removing a lock lets its
// holders' work run concurrently, where it may queue for the CPU or the
// database): rank fixes by it, then measure.
func savesOf(in *Input, f *Finding) *Saving {
	ts := in.split()
	svc := ts.Service
	ev := f.Evidence
	num := func(key string) (float64, bool) { return evidenceFinite(ev, key) }
	// ofStatements turns the statement time a fix removes, in ms per
	// second of the window, into a saving per request, with the wait for a
	// pooled connection it shortens (throughPool).
	ofStatements := func(msPerSecond float64, basis string) *Saving {
		if svc.RPS <= 0 || svc.MeanMS <= 0 || msPerSecond <= 0 {
			return nil
		}
		ms := math.Min(msPerSecond/svc.RPS, svc.MeanMS)
		return throughPool(svc, &Saving{MSPerRequest: ms, Share: ms / svc.MeanMS, Basis: basis})
	}
	// ofMean takes a share of the mean request latency.
	ofMean := func(share float64, basis string) *Saving {
		if svc.MeanMS <= 0 || share < 0 || math.IsNaN(share) {
			return nil
		}
		share = math.Min(share, 1)
		return &Saving{MSPerRequest: share * svc.MeanMS, Share: share, Basis: basis}
	}
	// ofPart takes a share of one part of the split.
	ofPart := func(name string, share float64, basis string) *Saving {
		if len(svc.Parts) == 0 || share < 0 {
			return nil
		}
		return ofMean(svc.Part(name).Share*math.Min(share, 1), basis)
	}
	notRequestTime := func(basis string) *Saving { return &Saving{NotRequestTime: true, Basis: basis} }
	// ofCalls is what sparing perRequest statements per request takes off
	// the db part, where the db part holds more per statement than the
	// statements' execution and estimated round trips (heldPerStatement),
	// with the wait for a pooled connection it shortens; nil otherwise.
	ofCalls := func(perRequest float64, basis string) *Saving {
		held, how, ok := heldPerStatement(in, svc)
		if !ok || perRequest <= 0 {
			return nil
		}
		return ofStatements(perRequest*held*svc.RPS, fmt.Sprintf("%s: %.2f statements fewer per request at %s", basis, perRequest, how))
	}
	// larger is the larger of two savings, nil counting as none.
	larger := func(a, b *Saving) *Saving {
		if a == nil || (b != nil && b.MSPerRequest > a.MSPerRequest) {
			return b
		}
		return a
	}

	// statementTime is a statement's time per second of the window.
	statementTime := func() (float64, bool) {
		perS, ok1 := num("calls_per_s")
		mean, ok2 := num("mean_ms")
		if ok1 && ok2 {
			return perS * mean, true
		}
		total, ok := num("total_time_ms")
		if ok && in.Window != nil && in.Window.Postgres != nil && in.Window.Postgres.Statements.Seconds > 0 {
			return total / in.Window.Postgres.Statements.Seconds, true
		}
		return 0, false
	}

	switch f.Rule {
	case dbUnusedIndex.ID, dbDuplicateIndex.ID:
		return notRequestTime("an index no query needs costs writes, vacuum and disk, not read time")
	case probeUnavailable.ID:
		return notRequestTime("a source advisor cannot read costs no request time; it hides what it would show")
	case redisMemoryUnbounded.ID:
		return notRequestTime("a risk: Redis grows until the host runs out of memory")
	case dbIdleInTransaction.ID:
		return notRequestTime("a transaction left open holds its locks and the vacuum horizon; the requests it blocks show as db.blocked-queries")
	case dbVacuumLag.ID, dbTableBloat.ID, dbSettings.ID:
		return notRequestTime("maintenance and settings: a risk, or a cost spread over every query, not one statement's time")

	case dbMissingIndex.ID:
		t, ok := statementTime()
		cut, ok2 := num("cost_cut")
		if !ok || !ok2 {
			return nil
		}
		return ofStatements(t*cut, fmt.Sprintf("the statement's database time per request x the planner's cost cut (%.0f%%)", cut*100))
	case dbNPlusOne.ID:
		// The repeated statement's calls become one per parent call: the
		// time of all but one in each batch, plus their round trips, which
		// estimated_time_ms counts where the detector could measure them.
		t, ok := num("estimated_time_ms")
		if !ok {
			t, ok = num("total_time_ms")
		}
		reps, ok2 := num("repetitions")
		if !ok || in.Window == nil || in.Window.Postgres == nil || in.Window.Postgres.Statements.Seconds <= 0 {
			return nil
		}
		keep := 0.0
		if ok2 && reps > 1 {
			keep = 1 / reps
		}
		byTime := ofStatements(t*(1-keep)/in.Window.Postgres.Statements.Seconds,
			"the repeated statement's time and round trips per request, less one batched query")
		var byHold *Saving
		if perS, _, ok := nPlusOneAway(f); ok && svc.RPS > 0 {
			byHold = ofCalls(perS/svc.RPS, "the statements batched away")
		}
		return larger(byTime, byHold)
	case dbSlowQuery.ID:
		t, ok := statementTime()
		if !ok {
			return nil
		}
		return ofStatements(t, "up to the statement's whole database time per request")
	case dbOverfetch.ID:
		t, ok := statementTime()
		if !ok {
			return nil
		}
		// Reading and sending wide rows is part of the statement's time;
		// without a measure of how much, count half of it.
		return ofStatements(t/2, "about half the statement's time per request (the wide columns' reading and transfer)")
	case dbCacheCandidate.ID:
		t, ok := statementTime()
		if !ok {
			return nil
		}
		byTime := ofStatements(t*0.9, "90% of the statement's time per request (cache hits), less nothing for the cache's own round trip")
		var byHold *Saving
		if perS := cacheCallsPerS(f); perS > 0 && svc.RPS > 0 {
			byHold = ofCalls(0.9*perS/svc.RPS, "90% of the cached statements (cache hits)")
		}
		return larger(byTime, byHold)
	case dbBlockedQueries.ID, dbLongRunning.ID:
		return ofPart(PartDB, 1, "at most the database part of the request time")

	case appInternalHops.ID, appBlockingIO.ID, appInlineWork.ID:
		if fn, _ := ev["function"].(string); fn != "" {
			direct, lock, ok := amplified(in, func(s handlerSample) bool { return s.calls(func(f string) bool { return f == fn }) })
			if ok && direct+lock > 0 {
				return ofMean(direct+lock, "the handlers' time at this call site, and the lock waits it causes when called under the busiest lock (goroutine dumps)")
			}
		}
		if share, ok := num("share"); ok {
			return ofMean(share, "the share of the handlers' time spent at this call site")
		}
		if share, ok := num("latency_share"); ok {
			return ofMean(share, "the share of the request time spent on the internal hop")
		}
		if share, ok := num("share_wall"); ok {
			return ofMean(share, "the share of the handler's wall time spent on work the response does not need")
		}
		return nil
	case appLockContention.ID:
		site, _ := ev["lock_site"].(string)
		if freed, ok := lockFreed(in, site); ok {
			return ofMean(freed, "the handlers' waits for the lock, with half the part its holders spend on the database, which may queue there once the lock is gone (goroutine dumps)")
		}
		share, ok := num("waiting_share")
		if !ok {
			return nil
		}
		return ofMean(share, "the share of the handlers' time waiting for the lock; the work under it remains")

	case poolNoPooling.ID:
		direct, lock, ok := amplified(in, func(s handlerSample) bool { return s.calls(poolConnectRe.MatchString) })
		if ok && direct+lock > 0 {
			return ofMean(direct+lock, "the handlers' time opening connections, and the lock waits it causes when done under the busiest lock (goroutine dumps)")
		}
		return ofPart(PartDBPool, 1, "the time requests wait for a database connection (the db-pool part)")
	case poolUndersized.ID:
		if s := ofPart(PartDBPool, 1, "the time requests wait for a database connection (the db-pool part)"); s != nil && s.MSPerRequest > 0 {
			return s
		}
		if share, ok := num("wait_share"); ok {
			// A pool told from pg_stat_activity (no pool metrics, as with
			// node-postgres or SQLAlchemy): its wait is inside the
			// service, in no part of the split but the rest.
			if from, _ := ev["evidence_from"].(string); from == "pg_stat_activity" {
				return ofMean(share, "the requests' wait inside the service while the pool's sessions were all busy at its size (pg_stat_activity)")
			}
			return ofMean(share, "the pool's acquire wait time over the request time")
		}
		return nil
	case runtimeGOMAXPROCS.ID:
		busy, ok := num("cpu_busy_share")
		if !ok {
			return nil
		}
		return ofPart(PartCPU, busy, "the CPU part of the request time, while the usable CPUs are busy")
	case runtimeGCPressure.ID:
		share, ok := num("gc_cpu_share")
		if !ok {
			return nil
		}
		return ofPart(PartCPU, share, "the garbage collector's share of the CPU part")
	case httpSaturation.ID:
		share, ok := num("queue_share")
		if !ok {
			return nil
		}
		return ofMean(share, "the share of requests queued at the limit")
	case queueBacklog.ID:
		return notRequestTime("jobs wait in the queue, not requests: their results (e-mails, invoices) come late")
	case redisRoundTrips.ID:
		cpr, ok := num("commands_per_request")
		if !ok || cpr <= 1 {
			return nil
		}
		return ofPart(PartRedis, 1-1/cpr, "the Redis part of the request time, all round trips but one")
	case redisSlowCommands.ID, redisCPUSaturation.ID, redisDangerousCommands.ID:
		return ofPart(PartRedis, 1, "at most the Redis part of the request time")
	}
	return nil
}

// heldPerStatement is the time a request spends in the db part per
// statement it issues, in milliseconds, with how it was measured: the db
// part of the split over the top-level statements per request. Where the
// split comes from goroutine dumps it counts what a statement holds the
// request and its pooled connection for beyond its execution: the round
// trip, and on a busy process the wait for a CPU between the reply and the
// next statement; a fix that spares statements takes that off. False
// without the figures, when the db part is no more than the statements'
// execution time (the split from metrics, whose db part it is), or where
// a session starts per request: its start then fills the db part (100 ms
// a request for 5 statements on the naive sample service), which
// pool.no-pooling's fix removes, not batching. The statement rules' own
// estimate, with round trips, stands then.
//
// On the sample service at GOMAXPROCS 1 with its pool of a few
// connections busy, requests held a connection 4.4 ms for 4.5 statements
// and waited 22 ms for one: batching its N+1s (3.6 statements fewer per
// request) gained x2.0, where their execution and round trips, 0.26 ms a
// statement, predicted 10% (2026-12-06, BenchmarkImpactCalibration).
func heldPerStatement(in *Input, svc Span) (float64, string, bool) {
	pr := svc.PerRequest
	if pr == nil || pr.DBQueries == nil || *pr.DBQueries < 1 {
		return 0, "", false
	}
	if n, ok := sessionsPerRequest(in, svc.RPS); ok && n >= sessionPerRequest {
		return 0, "", false
	}
	db := svc.Part(PartDB)
	if db.MSPerRequest <= 0 || pr.DBMS == nil || db.MSPerRequest <= *pr.DBMS {
		return 0, "", false
	}
	held := db.MSPerRequest / *pr.DBQueries
	return held, fmt.Sprintf("%.2f ms of the db part each (%.1f ms per request over %.1f statements, %s)",
		held, db.MSPerRequest, *pr.DBQueries, db.From), true
}

// throughPool adds to a statement fix's saving the part of the pool wait it
// removes. Requests that wait for a pooled connection (the db-pool part)
// wait for the statements of the requests holding one: with every
// connection busy, the pool serves requests at its size over the time
// each holds a connection (the db part), and the wait grows with that
// time. A fix that takes s off the db part shortens the wait in
// proportion, by s x db-pool / db; in a closed loop it shortens the
// request's other parts too, which this leaves out. On the sample service
// with its pool sized for 2 cores under 64 connections, requests waited
// 32 ms for a connection and held one 4.9 ms: batching its N+1s (about a
// tenth of the db part) gained x1.19 to x1.43, where their statement
// time alone was 1.2% of the request time (2026-12-06).
func throughPool(svc Span, s *Saving) *Saving {
	if s == nil || svc.MeanMS <= 0 {
		return s
	}
	wait, hold := svc.Part(PartDBPool).MSPerRequest, svc.Part(PartDB).MSPerRequest
	if wait <= 0 || hold <= 0 {
		return s
	}
	shorter := math.Min(s.MSPerRequest*wait/hold, wait)
	ms := math.Min(s.MSPerRequest+shorter, svc.MeanMS)
	return &Saving{MSPerRequest: ms, Share: ms / svc.MeanMS,
		Basis: fmt.Sprintf("%s, and the wait for a pooled connection it shortens (%.1f ms per request for connections held %.1f ms)", s.Basis, wait, hold)}
}

// compoundStatementFixes weighs the fixes of one statement against each
// other: db.overfetch's saving (about half the statement's time, the wide
// columns' reading and transfer) stands for a statement that reads the rows
// it returns. When db.missing-index flags the same statement, nearly all
// of its time is the scan the index removes, not the columns: the naive
// sample service's feed, a sequential scan of 51,000 rows for 20, ranked
// overfetch at 10% of request time and gained nothing (x0.93) when its
// columns alone were trimmed; after the index it gained x1.22. The
// overfetch saving is then half of what the statement's time would be with
// the index: its time and share of the database's CPU x (1 - the planner's
// cost cut); the driver's work on the rows in the service stays.
func compoundStatementFixes(in *Input, fs []Finding) {
	cuts := map[string]float64{}
	for i := range fs {
		if fs[i].Rule != dbMissingIndex.ID {
			continue
		}
		cut, ok := evidenceFinite(fs[i].Evidence, "cost_cut")
		if !ok || cut <= 0 {
			continue
		}
		q, _ := fs[i].Evidence["queryid"].(string)
		also, _ := fs[i].Evidence["also_serves_queryids"].([]string)
		for _, q := range append([]string{q}, also...) {
			if q != "" {
				cuts[q] = max(cuts[q], min(cut, 1))
			}
		}
	}
	if len(cuts) == 0 {
		return
	}
	for i := range fs {
		f := &fs[i]
		q, _ := f.Evidence["queryid"].(string)
		cut, ok := cuts[q]
		if f.Rule != dbOverfetch.ID || !ok {
			continue
		}
		// The statement as it would be with the index: its time and its
		// share of the database's CPU cut, its calls (the driver's work
		// in the service) as they are.
		g := *f
		g.Evidence = maps.Clone(f.Evidence)
		for _, k := range []string{"mean_ms", "total_time_ms", "total_share"} {
			if v, ok := evidenceFinite(f.Evidence, k); ok {
				g.Evidence[k] = v * (1 - cut)
			}
		}
		s := savingOf(in, &g)
		if s == nil || s.NotRequestTime {
			continue
		}
		s.Basis = fmt.Sprintf("%s; of the statement's time once db.missing-index's index on it has cut it by %.0f%%", s.Basis, cut*100)
		f.Saves = s
		f.Impact = f.Saves.Share
	}
}
