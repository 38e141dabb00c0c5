package rules

import (
	"math"
	"strings"
	"testing"

	"github.com/pgadvisor/advisor/internal/probe"
	"github.com/pgadvisor/advisor/internal/probe/postgres"
)

// TestSavesOfSamples: every rule's sample finding, over a known split,
// either says what its fix saves per request (within the request's time) or
// says that it costs no request time; the figures follow the evidence.
func TestSavesOfSamples(t *testing.T) {
	in := &Input{Window: &probe.Window{Seconds: 10, Postgres: &postgres.Window{Statements: postgres.StatementsWindow{Seconds: 10}}}}
	in.views.split = &TimeSplit{Service: Span{RPS: 200, MeanMS: 100, HasLatency: true, Parts: []Part{
		{Name: PartCPU, MSPerRequest: 20, Share: 0.2},
		{Name: PartDB, MSPerRequest: 50, Share: 0.5},
		{Name: PartDBPool, MSPerRequest: 10, Share: 0.1},
		{Name: PartRedis, MSPerRequest: 5, Share: 0.05},
		{Name: PartOther, MSPerRequest: 15, Share: 0.15},
	}}}
	set := loadBuiltin(t)
	// The statement fixes also shorten the wait for a pooled connection:
	// by their time x 10 ms of waiting / 50 ms of holding one.
	const pooled = 1 + 10.0/50
	want := map[string]float64{
		// 1520 calls over 10 s x 38.2 ms x 99.7% cut, over 200 requests/s.
		dbMissingIndex.ID:    152 * 38.2 * 0.997 / 200 / 100 * pooled,
		dbNPlusOne.ID:        1120.0 / 10 * (1 - 1.0/20) / 200 / 100 * pooled,
		appLockContention.ID: 0.55,
		poolUndersized.ID:    0.1,
		runtimeGCPressure.ID: 0.2 * 0.23,
	}
	notTime := map[string]bool{dbUnusedIndex.ID: true, dbDuplicateIndex.ID: true, probeUnavailable.ID: true,
		dbIdleInTransaction.ID: true, redisMemoryUnbounded.ID: true,
		dbVacuumLag.ID: true, dbTableBloat.ID: true, dbSettings.ID: true, queueBacklog.ID: true}
	for _, r := range set.Rules {
		f := loadSample(t, r.ID)
		f.Rule = r.ID
		s := savesOf(in, &f)
		if s == nil {
			if _, ok := want[r.ID]; ok || notTime[r.ID] {
				t.Errorf("%s: no saving", r.ID)
			}
			continue
		}
		if s.Basis == "" {
			t.Errorf("%s: saving without a basis", r.ID)
		}
		if s.NotRequestTime != notTime[r.ID] {
			t.Errorf("%s: not request time %v", r.ID, s.NotRequestTime)
		}
		if s.Share < 0 || s.Share > 1 || s.MSPerRequest > 100 || math.Abs(s.MSPerRequest-s.Share*100) > 1e-9 {
			t.Errorf("%s: saves %v ms (%v)", r.ID, s.MSPerRequest, s.Share)
		}
		if w, ok := want[r.ID]; ok && math.Abs(s.Share-w) > 1e-9 {
			t.Errorf("%s: share %v, want %v", r.ID, s.Share, w)
		}
	}
}

// TestSavesOfPoolFromSessions: a pool.undersized told from pg_stat_activity
// (a Node or Python pool without metrics) saves the wait inside the service
// its evidence measures, which the split holds in no db-pool part.
func TestSavesOfPoolFromSessions(t *testing.T) {
	in := &Input{Window: &probe.Window{Seconds: 10}}
	in.views.split = &TimeSplit{Service: Span{RPS: 77, MeanMS: 416, HasLatency: true, Parts: []Part{
		{Name: PartDB, MSPerRequest: 16, Share: 16.0 / 416},
		{Name: PartCPU, MSPerRequest: 4, Share: 4.0 / 416},
		{Name: PartOther, MSPerRequest: 396, Share: 396.0 / 416},
	}}}
	f := Finding{Rule: poolUndersized.ID, Evidence: map[string]any{"evidence_from": "pg_stat_activity", "wait_share": 0.951, "wait_ms_per_request": 396.4}}
	s := savesOf(in, &f)
	if s == nil || math.Abs(s.Share-0.951) > 1e-9 || !strings.Contains(s.Basis, "pg_stat_activity") {
		t.Fatalf("saving %+v, want 95.1%% of the request time, from pg_stat_activity", s)
	}
}

// TestThroughPool: while requests wait for a pooled connection, a
// statement fix's saving grows by the wait it shortens, in proportion to
// the part of the connections' holding time it removes, at most the whole
// wait; with no pool wait it stays the statement's time, and the fixes
// that do not shorten statements keep theirs.
func TestThroughPool(t *testing.T) {
	split := func(wait float64) *TimeSplit {
		return &TimeSplit{Service: Span{RPS: 100, MeanMS: 41, HasLatency: true, Parts: []Part{
			{Name: PartDB, MSPerRequest: 4.9, Share: 4.9 / 41},
			{Name: PartDBPool, MSPerRequest: wait, Share: wait / 41},
			{Name: PartRedis, MSPerRequest: 4, Share: 4.0 / 41},
			{Name: PartOther, MSPerRequest: 41 - 8.9 - wait, Share: (41 - 8.9 - wait) / 41},
		}}}
	}
	in := &Input{Window: &probe.Window{Seconds: 10, Postgres: &postgres.Window{Statements: postgres.StatementsWindow{Seconds: 10}}}}
	// 0.49 ms of the N+1's statements per request: a tenth of the db part.
	nplusone := Finding{Rule: dbNPlusOne.ID, Evidence: map[string]any{"estimated_time_ms": 490.0, "repetitions": 1e9}}
	slow := Finding{Rule: dbSlowQuery.ID, Evidence: map[string]any{"calls_per_s": 100.0, "mean_ms": 4.9}}
	trips := Finding{Rule: redisRoundTrips.ID, Evidence: map[string]any{"commands_per_request": 4.0}}
	for _, c := range []struct {
		name            string
		wait            float64
		f               Finding
		wantMS          float64
		wantPoolInBasis bool
	}{
		{"n+1, no pool wait", 0, nplusone, 0.49, false},
		{"n+1, 32 ms of pool wait", 32, nplusone, 0.49 + 0.49*32/4.9, true},
		{"the whole db part, at most the whole wait", 32, slow, 4.9 + 32, true},
		{"redis round trips", 32, trips, 3, false},
	} {
		in.views.split = split(c.wait)
		s := savesOf(in, &c.f)
		if s == nil {
			t.Fatalf("%s: no saving", c.name)
		}
		if math.Abs(s.MSPerRequest-c.wantMS) > 1e-6 || math.Abs(s.Share-c.wantMS/41) > 1e-6 {
			t.Errorf("%s: saves %.4f ms (%.4f), want %.4f ms (%s)", c.name, s.MSPerRequest, s.Share, c.wantMS, s.Basis)
		}
		if got := strings.Contains(s.Basis, "pooled connection"); got != c.wantPoolInBasis {
			t.Errorf("%s: basis %q", c.name, s.Basis)
		}
	}
}

// TestCompoundStatementFixes: an overfetch on a statement db.missing-index
// also flags saves half of what the statement's time is once the index has
// cut it, not half of the scan; an overfetch on another statement, or with
// no index finding, keeps its own saving.
func TestCompoundStatementFixes(t *testing.T) {
	in := &Input{Window: &probe.Window{Seconds: 10, Postgres: &postgres.Window{Statements: postgres.StatementsWindow{Seconds: 10}}}}
	in.views.split = &TimeSplit{Service: Span{RPS: 10, MeanMS: 1000, HasLatency: true, Parts: []Part{
		{Name: PartDB, MSPerRequest: 800, Share: 0.8},
		{Name: PartOther, MSPerRequest: 200, Share: 0.2},
	}}}
	// The naive feed: 7.4 calls/s of a 65 ms sequential scan for 20 rows.
	overfetch := func(queryid string) Finding {
		return Finding{Rule: dbOverfetch.ID, Evidence: map[string]any{"queryid": queryid, "calls_per_s": 7.4, "mean_ms": 65.0}}
	}
	index := Finding{Rule: dbMissingIndex.ID, Evidence: map[string]any{"queryid": "7", "cost_cut": 0.99,
		"also_serves_queryids": []string{"8"}, "calls_per_s": 7.4, "mean_ms": 65.0}}
	fs := []Finding{overfetch("7"), overfetch("8"), overfetch("9"), index}
	for i := range fs {
		fs[i].Saves = savingOf(in, &fs[i])
		fs[i].Impact = fs[i].Saves.Share
	}
	alone := fs[2].Impact
	if want := 7.4 * 65 / 2 / 10 / 1000; math.Abs(alone-want) > 1e-9 {
		t.Fatalf("overfetch alone: impact %v, want %v", alone, want)
	}
	compoundStatementFixes(in, fs)
	for i, want := range []float64{alone * 0.01, alone * 0.01, alone} {
		if math.Abs(fs[i].Impact-want) > 1e-9 || math.Abs(fs[i].Saves.Share-want) > 1e-9 {
			t.Errorf("overfetch of queryid %v: impact %v, saves %+v, want %v", fs[i].Evidence["queryid"], fs[i].Impact, fs[i].Saves, want)
		}
	}
	if !strings.Contains(fs[0].Saves.Basis, "cut it by 99%") {
		t.Errorf("basis %q", fs[0].Saves.Basis)
	}
	if idx := fs[3].Impact; math.Abs(idx-7.4*65*0.99/10/1000) > 1e-9 {
		t.Errorf("the index's own impact moved: %v", idx)
	}
}

// TestCompoundStatementFixesOnBusyHost: on a host whose CPUs are busy the
// overfetch saving is the statement's share of PostgreSQL's CPU, and the
// index cuts that too (the naive sample service's overfetch kept 10% of
// request time through it).
func TestCompoundStatementFixesOnBusyHost(t *testing.T) {
	in := &Input{Window: &probe.Window{Seconds: 10, Postgres: &postgres.Window{Statements: postgres.StatementsWindow{Seconds: 10}}}}
	in.views.split = &TimeSplit{Service: Span{RPS: 10, MeanMS: 1000, HasLatency: true, Parts: []Part{
		{Name: PartDB, MSPerRequest: 800, Share: 0.8},
		{Name: PartOther, MSPerRequest: 200, Share: 0.2},
	}}, Host: &HostCPU{Cores: 2, BusyCores: 2, Bound: 1, BusyShare: 1, MSPerRequest: 50, DBMSPerRequest: 40}}
	ev := map[string]any{"queryid": "7", "calls_per_s": 7.4, "mean_ms": 65.0, "total_share": 0.87}
	fs := []Finding{
		{Rule: dbOverfetch.ID, Evidence: ev},
		{Rule: dbMissingIndex.ID, Evidence: map[string]any{"queryid": "7", "cost_cut": 0.99, "calls_per_s": 7.4, "mean_ms": 65.0, "total_share": 0.87}},
	}
	for i := range fs {
		fs[i].Saves = savingOf(in, &fs[i])
		fs[i].Impact = fs[i].Saves.Share
	}
	// Half the statement's 87% of 40 ms of PostgreSQL CPU, of 50 ms.
	alone := fs[0].Impact
	if want := 0.87 * 0.5 * 40 / 50; math.Abs(alone-want) > 1e-9 {
		t.Fatalf("overfetch alone on a busy host: %v, want %v (%s)", alone, want, fs[0].Saves.Basis)
	}
	compoundStatementFixes(in, fs)
	if want := alone * 0.01; math.Abs(fs[0].Impact-want) > 1e-9 {
		t.Errorf("overfetch after the index on a busy host: %v, want %v (%s)", fs[0].Impact, want, fs[0].Saves.Basis)
	}
	if ev["mean_ms"] != 65.0 || ev["total_share"] != 0.87 {
		t.Errorf("the finding's evidence changed: %v", ev)
	}
}

// TestHeldPerStatement: where the split from goroutine dumps shows requests
// in the db part longer per statement than the statements' execution and
// round trips (a busy process at GOMAXPROCS 1 waiting for its P between a
// reply and the next statement), a fix that spares statements takes each
// one's share of the db part off, and the pool wait it shortens with it.
// The figures are the sample service's before its N+1s were batched
// (2026-12-06): 1,835 requests/s, 4.4 ms in the db part for 4.5
// statements, 22 ms waiting for a connection; batching gained x2.0. From
// metrics, where the db part is the statements' execution time, the
// statements' own time and round trips stand.
func TestHeldPerStatement(t *testing.T) {
	const rps, mean, db, wait, stmts = 1835.0, 35.0, 4.4, 22.0, 4.5
	// split is the window's split with the db part from, and dbms of the
	// statements' execution per request: the db part itself in a split
	// from metrics, a part of it in one from goroutine dumps.
	split := func(from string, dbms float64) *TimeSplit {
		q := stmts
		return &TimeSplit{Service: Span{RPS: rps, MeanMS: mean, HasLatency: true,
			PerRequest: &PerRequest{DBQueries: &q, DBMS: &dbms},
			Parts: []Part{
				{Name: PartDB, MSPerRequest: db, Share: db / mean, From: from},
				{Name: PartDBPool, MSPerRequest: wait, Share: wait / mean, From: from},
				{Name: PartOther, MSPerRequest: mean - db - wait, Share: (mean - db - wait) / mean, From: from},
			}}}
	}
	in := &Input{Window: &probe.Window{Seconds: 10, Postgres: &postgres.Window{Statements: postgres.StatementsWindow{Seconds: 10}}}}
	// 1.67 statements per request batched away, 0.06 ms each plus the
	// 0.2 ms round trip the rule estimates.
	away := 1.67 * rps
	nplusone := Finding{Rule: dbNPlusOne.ID, Evidence: map[string]any{
		"estimated_time_ms": away * 10 * 0.26, "repetitions": 1e9, "batched_away_per_s": away}}
	cache := Finding{Rule: dbCacheCandidate.ID, Evidence: map[string]any{
		"calls_per_s": 0.5 * rps, "mean_ms": 0.06, "statements_calls_per_s": 2.0 * rps}}
	pooled := func(ms float64) float64 { return ms + ms*wait/db }
	const dumps, metrics = "goroutine dumps (300 handler samples)", "pg_stat_statements (execution time of the window's statements)"
	for _, c := range []struct {
		name   string
		from   string
		dbms   float64
		f      Finding
		wantMS float64
		basis  string
	}{
		{"n+1 from dumps", dumps, 0.3, nplusone, pooled(1.67 * db / stmts), "0.98 ms of the db part each"},
		{"n+1 from metrics", metrics, db, nplusone, pooled(1.67 * 0.26), "round trips per request"},
		{"cache from dumps", dumps, 0.3, cache, pooled(0.9 * 2.0 * db / stmts), "1.80 statements fewer per request"},
	} {
		in.views.split = split(c.from, c.dbms)
		s := savesOf(in, &c.f)
		if s == nil {
			t.Fatalf("%s: no saving", c.name)
		}
		if math.Abs(s.MSPerRequest-c.wantMS) > 1e-6 || math.Abs(s.Share-c.wantMS/mean) > 1e-6 {
			t.Errorf("%s: saves %.4f ms (%.4f), want %.4f ms (%s)", c.name, s.MSPerRequest, s.Share, c.wantMS, s.Basis)
		}
		if !strings.Contains(s.Basis, c.basis) {
			t.Errorf("%s: basis %q, want it to say %q", c.name, s.Basis, c.basis)
		}
	}
	// The N+1 from dumps: 28% of the request time, where its execution and
	// round trips alone said 7%.
	in.views.split = split(dumps, 0.3)
	if s := savesOf(in, &nplusone); s.Share < 0.27 || s.Share > 0.29 {
		t.Errorf("n+1 from dumps: share %.3f, want about 0.28", s.Share)
	}
	// A session started per request fills the db part with its start
	// (pool.no-pooling's saving): the statements' own time and round
	// trips stand; with sessions that outlive requests, the hold.
	for _, c := range []struct {
		sessionsPerS float64
		wantMS       float64
	}{
		{rps, pooled(1.67 * 0.26)},
		{10, pooled(1.67 * db / stmts)},
	} {
		in := &Input{Window: &probe.Window{Seconds: 10, Postgres: &postgres.Window{
			Statements: postgres.StatementsWindow{Seconds: 10},
			Cur:        &postgres.Snapshot{Database: postgres.Database{Stats: postgres.DatabaseStats{HasSessions: true}}},
			Database:   postgres.DatabaseDelta{Seconds: 10, SessionsPerS: c.sessionsPerS},
		}}}
		in.views.split = split(dumps, 0.3)
		if s := savesOf(in, &nplusone); s == nil || math.Abs(s.MSPerRequest-c.wantMS) > 1e-6 {
			t.Errorf("%.0f sessions/s for %.0f requests/s: saves %+v, want %.4f ms", c.sessionsPerS, rps, s, c.wantMS)
		}
	}
}
