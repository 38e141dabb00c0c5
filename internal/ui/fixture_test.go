package ui

import (
	"context"
	"errors"
	"math"
	"testing"
	"time"

	"github.com/pgadvisor/advisor/internal/probe"
	"github.com/pgadvisor/advisor/internal/probe/metrics"
	"github.com/pgadvisor/advisor/internal/probe/postgres"
	"github.com/pgadvisor/advisor/internal/probe/pprof"
	"github.com/pgadvisor/advisor/internal/probe/redis"
	"github.com/pgadvisor/advisor/internal/probe/source"
	"github.com/pgadvisor/advisor/internal/rules"
)

// fixtureStart is the fixed clock of the fixtures.
var fixtureStart = time.Date(2026, 3, 14, 9, 30, 0, 0, time.UTC)

func ptr(f float64) *float64 { return &f }

// fixtureWindow is the i-th two-second window of a service under a load that
// swells and ebbs, with every source read.
func fixtureWindow(i int) *probe.Window {
	end := fixtureStart.Add(time.Duration(i+1) * 2 * time.Second)
	wave := 1 + 0.5*math.Sin(float64(i)/4)
	ok := func(version string, took time.Duration) source.Status {
		return source.Status{State: source.OK, Version: version, Took: took}
	}
	w := &probe.Window{Start: end.Add(-2 * time.Second), End: end, Seconds: 2,
		Sources: map[string]source.Status{
			probe.Pprof:    ok("", 8*time.Millisecond),
			probe.Metrics:  ok("", 3*time.Millisecond),
			probe.Postgres: ok("15.8", 41*time.Millisecond),
			probe.Redis:    ok("7.0.15", 2*time.Millisecond),
		}}
	rps := 40 * wave
	w.Metrics = &metrics.Window{Start: w.Start, End: end, Seconds: 2, LengthKnown: true,
		RPS: rps, Requests: rps * 2,
		Routes: []metrics.RouteRate{
			{Route: "/users/{id}/feed", Method: "GET", Requests: rps * 1.2, RPS: rps * 0.6, HasLatency: true,
				Latency: metrics.Latency{Count: rps * 1.2, Mean: 0.09, P50: 0.08, P90: 0.15, P95: 0.18 * wave, P99: 0.4, HasPercentiles: true}},
			{Route: "/users/{id}/orders", Method: "GET", Requests: rps * 0.8, RPS: rps * 0.4, HasLatency: true,
				Latency: metrics.Latency{Count: rps * 0.8, Mean: 0.05, P50: 0.04, P90: 0.09, P95: 0.11, P99: 0.2, HasPercentiles: true}},
		},
		Pools: []metrics.PoolRate{{Kind: "pgxpool", ID: "db=sampleapp",
			Gauges:      map[string]float64{metrics.PoolMax: 4, metrics.PoolInUse: 4, metrics.PoolIdle: 0},
			Rates:       map[string]float64{metrics.PoolNewConns: 0},
			WaitsPerSec: 12 * wave, MeanWaitSeconds: 0.031, Utilisation: 1, HasUtilisation: true}},
		Runtime: metrics.RuntimeWindow{Goroutines: ptr(57), GOMAXPROCS: ptr(1), Threads: ptr(9), GCCPUFraction: ptr(0.021),
			GCRuns: 3, GCPauseMean: 0.00012, HeapAllocBytes: ptr(12 << 20), NextGCBytes: ptr(16 << 20), GOGC: ptr(100), GOMEMLIMIT: ptr(math.MaxInt64),
			SchedLatency: metrics.Latency{P99: 0.0042, HasPercentiles: true}, HasSchedLatency: true},
		Process: metrics.ProcessWindow{CPUCores: ptr(0.97)},
	}
	stmts := []postgres.StatementDelta{
		stmt(1, "SELECT * FROM events WHERE user_id = $1 ORDER BY created_at DESC LIMIT $2", 24*wave, 21.5, 20),
		stmt(2, "SELECT name FROM products WHERE id = $1", 480*wave, 0.04, 1),
		stmt(3, "SELECT id, user_id, total_cents, created_at FROM orders WHERE user_id = $1 ORDER BY created_at DESC LIMIT $2", 16*wave, 1.9, 20),
		stmt(4, "INSERT INTO audit_log (route, user_id, at) VALUES ($1, $2, $3)", 40*wave, 0.35, 1),
		stmt(5, "SELECT quantity, product_id FROM order_items WHERE order_id = $1", 320*wave, 0.03, 3),
	}
	var total float64
	for _, s := range stmts {
		total += s.TotalTime
	}
	for i := range stmts {
		stmts[i].Share = stmts[i].TotalTime / total
	}
	cur := &postgres.Snapshot{Time: end,
		Server: postgres.Server{Settings: postgres.Settings{"max_connections": {Value: "100"}}},
		Activity: postgres.Activity{Total: 7, Groups: []postgres.ActivityGroup{
			{Database: "sampleapp", User: "advisor", Application: "sampleapp", State: "active", WaitEventType: "IO", WaitEvent: "DataFileRead", Count: 3, OldestXactAge: 0.12},
			{Database: "sampleapp", User: "advisor", Application: "sampleapp", State: "idle", Count: 3},
			{Database: "sampleapp", User: "advisor", Application: "sampleapp", State: "idle in transaction", WaitEventType: "Client", WaitEvent: "ClientRead", Count: 1, OldestXactAge: 1.4},
		}},
		Statements: postgres.Statements{Status: source.Status{State: source.OK}},
	}
	w.Postgres = &postgres.Window{Start: w.Start, End: end, Seconds: 2, Cur: cur,
		Statements: postgres.StatementsWindow{Seconds: 2, TotalTime: total, Rows: stmts},
		Tables: []postgres.TableDelta{
			{RelID: 16401, Schema: "public", Name: "events", SeqScan: 48, SeqTupRead: 2_400_000, SeqScanPerS: 24 * wave, SeqTupPerS: 1_200_000 * wave,
				Table: postgres.Table{LiveTup: 50_000, TotalBytes: 152 << 20}},
			{RelID: 16390, Schema: "public", Name: "users", IdxScanPerS: 90 * wave, Table: postgres.Table{LiveTup: 2_000, TotalBytes: 1 << 20}},
			{RelID: 16420, Schema: "public", Name: "orders", IdxScanPerS: 16 * wave, WritesPerS: 2, Table: postgres.Table{LiveTup: 6_000, TotalBytes: 2 << 20}},
		},
		Indexes: []postgres.IndexDelta{
			{RelID: 16395, ScanPerS: 90 * wave, Index: postgres.Index{Name: "users_pkey", Table: "users", Scan: 182_000, Bytes: 64 << 10, Primary: true, Unique: true, Valid: true, Method: "btree"}},
			{RelID: 16425, ScanPerS: 16 * wave, Index: postgres.Index{Name: "orders_user_id_idx", Table: "orders", Scan: 30_100, Bytes: 160 << 10, Valid: true, Method: "btree"}},
			{RelID: 16426, Index: postgres.Index{Name: "orders_note_idx", Table: "orders", Scan: 0, Bytes: 232 << 10, Valid: true, Method: "btree"}},
		},
		Database: postgres.DatabaseDelta{Seconds: 2, SessionsPerS: 0.5, CacheHitRatio: 0.97},
	}
	w.Redis = &redis.Window{Start: w.Start, End: end, Seconds: 2, OpsPerS: 310 * wave, HitRatio: 0.42,
		EvictedPerS: 0, ExpiredPerS: 1.5, CPUCores: 0.08, UsedMemory: 3 << 20, MemoryRatio: -1, Fragmentation: 1.9,
		PerCommand: []redis.CommandDelta{
			{Name: "get", Calls: 400, CallsPerS: 200 * wave, UsecPerCall: 1.6},
			{Name: "set", Calls: 220, CallsPerS: 110 * wave, UsecPerCall: 2.9},
		},
		NewSlow: []redis.SlowEntry{{Duration: 14 * time.Millisecond, Args: []string{"KEYS", "sampleapp:*"}}},
		Cur:     &redis.Snapshot{Version: "7.0.15", ConnectedClients: 12, Config: redis.Config{MaxMemoryPolicy: "noeviction"}},
	}
	w.Goroutines = []*pprof.GoroutineResult{{Status: source.Status{State: source.OK}, Summary: pprof.GoroutineSummary{
		Total: 57, InServer: 14, InHandler: 9, ByState: map[string]int{"IO wait": 22, "select": 18, "sync.Mutex.Lock": 6, "running": 1, "chan receive": 10},
		Groups: []pprof.GoroutineGroup{
			{Handler: "github.com/pgadvisor/advisor/sampleapp.(*App).feed", State: "sync.Mutex.Lock", Count: 6,
				WaitIn: pprof.Frame{Func: "sync.(*Mutex).Lock"}, CallSite: pprof.Frame{Func: "github.com/pgadvisor/advisor/sampleapp.(*App).audit", File: "/src/sampleapp/audit.go", Line: 58}},
			{Handler: "github.com/pgadvisor/advisor/sampleapp.(*App).feed", State: "IO wait", Count: 3,
				WaitIn: pprof.Frame{Func: "net.(*conn).Read"}, CallSite: pprof.Frame{Func: "github.com/pgadvisor/advisor/sampleapp.(*database).query", File: "/src/sampleapp/db.go", Line: 112}},
			{State: "IO wait", Count: 19, WaitIn: pprof.Frame{Func: "net.(*conn).Read"}},
		}}}}
	return w
}

func stmt(id int64, query string, callsPerS, meanMS float64, rowsPerCall int64) postgres.StatementDelta {
	calls := int64(math.Round(callsPerS * 2))
	return postgres.StatementDelta{Key: postgres.StatementKey{QueryID: id, DBID: 5, UserID: 10, TopLevel: true},
		Statement: postgres.Statement{QueryID: id, Query: query, TopLevel: true},
		Calls:     calls, CallsPerS: callsPerS, MeanTime: meanMS, TotalTime: meanMS * float64(calls),
		Rows: calls * rowsPerCall, RowsPerS: float64(calls*rowsPerCall) / 2}
}

// fixtureFindings are findings as the rules write them.
func fixtureFindings() []rules.Finding {
	fs := []rules.Finding{
		{Rule: "db.missing-index", Severity: rules.Critical, Impact: 0.62, Confidence: rules.ConfidenceOf(1, "verified with hypopg"),
			Title:   "Sequential scans of events (50000 rows) for WHERE user_id = $1: an index would cut the plan's cost 98%",
			Subject: "events(user_id, created_at)",
			Evidence: map[string]any{"calls_per_s": 24.0, "mean_ms": 21.5, "share": 0.62, "cost_before": 1893.5, "cost_after": 12.4,
				"seq_tup_read_per_s": 1200000.0},
			Saves: &rules.Saving{MSPerRequest: 18.2, Share: 0.25, Basis: "db part: the statement's 73% of the window's statement time"},
			Fix: rules.Fix{Summary: "Create the index concurrently; the planner's cost drops from 1893.5 to 12.4.",
				SQL: "CREATE INDEX CONCURRENTLY events_user_id_created_at_idx\n    ON events (user_id, created_at DESC);"}},
		{Rule: "db.n-plus-one", Severity: rules.Warning, Impact: 0.16, Confidence: rules.ConfidenceOf(0.92, "84 calls"),
			Title:    "SELECT name FROM products WHERE id = $1 runs 20 times per feed request",
			Subject:  "SELECT name FROM products WHERE id = $1",
			Evidence: map[string]any{"calls_per_request": 20.0, "calls_per_s": 480.0},
			Fix: rules.Fix{Summary: "Fetch the names in one query with the events (a join or = ANY($1)).",
				Code: "SELECT e.*, p.name FROM events e LEFT JOIN products p ON p.id = e.product_id WHERE e.user_id = $1"}},
		{Rule: "pool.undersized", Severity: rules.Warning, Impact: 0.3, Confidence: rules.ConfidenceOf(0.55, "3 s of window"),
			Title:    "pgxpool db=sampleapp waits 12 times a second for a connection (4 of 4 in use)",
			Subject:  "pgxpool db=sampleapp",
			Evidence: map[string]any{"waits_per_s": 12.0, "mean_wait_ms": 31.0, "max_conns": 4},
			Fix:      rules.Fix{Summary: "Raise the pool's size to 8.", Config: map[string]string{"pool_max_conns": "8"}}},
		{Rule: "redis.low-hit-ratio", Severity: rules.Info, Impact: 0.02, Confidence: rules.ConfidenceOf(0.3, "0.9 s of window"),
			Title:    "Redis answers 42% of lookups from the cache",
			Subject:  "redis",
			Evidence: map[string]any{"hit_ratio": 0.42},
			Fix:      rules.Fix{Summary: "Check the TTLs and the keys the service reads."}},
	}
	rules.SortFindings(fs)
	return fs
}

// fixtureSplit is where the time of the window's requests goes, as
// rules.Split gives it for a Go service sampled by goroutine dumps (fixed
// parts, so that the goldens do not follow edits of the rules): the
// routes from the window's metrics, the service's parts, two handlers.
func fixtureSplit(w *probe.Window) *rules.TimeSplit {
	ts := &rules.TimeSplit{Runtime: "go", Method: "goroutine dumps"}
	svc := rules.Span{InFlightFrom: "rate x latency", HasLatency: true, Share: 1}
	var p50w float64
	for _, r := range w.Metrics.Routes {
		sp := rules.Span{Route: r.Route, Method: r.Method, RPS: r.RPS, HasLatency: true, MeanMS: r.Latency.Mean * 1000,
			P50MS: r.Latency.P50 * 1000, P95MS: r.Latency.P95 * 1000, InFlight: r.RPS * r.Latency.Mean, InFlightFrom: "rate x latency"}
		svc.RPS += sp.RPS
		svc.InFlight += sp.InFlight
		p50w += sp.P50MS * sp.RPS
		svc.P95MS = max(svc.P95MS, sp.P95MS)
		ts.Routes = append(ts.Routes, sp)
	}
	for i := range ts.Routes {
		ts.Routes[i].Share = ts.Routes[i].InFlight / svc.InFlight
	}
	ts.Routes = append(ts.Routes, rules.Span{Route: "/static/{path}", Method: "GET", RPS: 0.5})
	svc.MeanMS, svc.P50MS = svc.InFlight/svc.RPS*1000, p50w/svc.RPS
	parts := func(meanMS float64, shares ...any) []rules.Part {
		var out []rules.Part
		for i := 0; i < len(shares); i += 2 {
			s := shares[i+1].(float64)
			out = append(out, rules.Part{Name: shares[i].(string), MSPerRequest: meanMS * s, Share: s, From: "goroutine dumps (212 handler samples)"})
		}
		return out
	}
	svc.Parts = parts(svc.MeanMS, rules.PartCPU, 0.12, rules.PartDB, 0.38, rules.PartDBPool, 0.21, rules.PartLock, 0.2, rules.PartOther, 0.09)
	ts.Service = svc
	ts.Handlers = []rules.Span{
		{Route: "github.com/pgadvisor/advisor/sampleapp.(*App).feed", Share: 0.64,
			Parts: parts(0, rules.PartCPU, 0.1, rules.PartDB, 0.35, rules.PartDBPool, 0.15, rules.PartLock, 0.31, rules.PartOther, 0.09)},
		{Route: "github.com/pgadvisor/advisor/sampleapp.(*App).orders", Share: 0.36,
			Parts: parts(0, rules.PartCPU, 0.16, rules.PartDB, 0.43, rules.PartDBPool, 0.32, rules.PartOther, 0.09)},
	}
	return ts
}

// fixtureProfile is a CPU profile's reduction.
func fixtureProfile() ProfileMsg {
	cpu := &pprof.ProfileResult{Kind: pprof.KindCPU, Status: source.Status{State: source.OK},
		Aggregation: pprof.Aggregation{SampleType: "cpu", Unit: "nanoseconds", Samples: 412, Functions: []pprof.FuncStat{
			{Func: "runtime.scanobject", FlatShare: 0.12, CumShare: 0.14},
			{Func: "github.com/go-pdf/fpdf.(*Fpdf).putpages", FlatShare: 0.09, CumShare: 0.21},
			{Func: "crypto/sha256.block", FlatShare: 0.07, CumShare: 0.07},
			{Func: "encoding/json.(*encodeState).string", FlatShare: 0.05, CumShare: 0.06},
		}}}
	return ProfileMsg{Profile: &pprof.Snapshot{Status: source.Status{State: source.OK}, CPU: cpu}, Seconds: 5,
		At: fixtureStart.Add(70 * time.Second)}
}

// fixtureModel is a model fed 40 windows, the last with the fixture's
// findings, and a profile.
func fixtureModel(t testing.TB, width, height int) *Model {
	t.Helper()
	m := New(Options{Rules: fixtureRules(), Explainer: fixtureExplainer{}, Now: func() time.Time { return fixtureStart },
		Clipboard: &fakeClipboard{}})
	m.Update(sizeMsg(width, height))
	for i := range 40 {
		msg := AnalysisMsg{Window: fixtureWindow(i), At: fixtureStart.Add(time.Duration(i+1) * 2 * time.Second)}
		if i == 39 {
			msg.Findings = fixtureFindings()
			msg.Split = fixtureSplit(msg.Window)
		}
		m.Update(msg)
	}
	m.Update(fixtureProfile())
	m.message = ""
	return m
}

// fixtureRules documents the fixture's findings (fixed text, so that the
// goldens do not follow edits of rules.yaml).
func fixtureRules() *rules.Set {
	return &rules.Set{Rules: []*rules.Rule{{ID: "db.missing-index", Severity: rules.Critical, Enabled: true, Docs: rules.Docs{
		Summary: "Sequential scans that a B-tree index would remove",
		Why: "A sequential scan reads the whole table for every call; on a hot statement over a growing\n" +
			"table it dominates the database's time.",
		Detection: "The statement's generic plan has a sequential scan with a filter; a hypothetical\n" +
			"index (hypopg) on the filter's columns cuts the plan's cost.\n\n- only statements with enough calls\n- at most a few indexes per window",
		Fix:   "Run the CREATE INDEX CONCURRENTLY outside a transaction, then ANALYZE the table.",
		Links: []string{"https://hypopg.readthedocs.io/"},
	}}}}
}

// fixtureExplainer explains every statement with the same plan.
type fixtureExplainer struct{}

const fixturePlan = `[{"Plan": {"Node Type": "Limit", "Startup Cost": 1235.61, "Total Cost": 1235.61, "Plan Rows": 2, "Plan Width": 67,
  "Plans": [{"Node Type": "Sort", "Parent Relationship": "Outer", "Startup Cost": 1235.61, "Total Cost": 1235.67, "Plan Rows": 25,
    "Plan Width": 67, "Sort Key": ["created_at DESC"],
    "Plans": [{"Node Type": "Seq Scan", "Parent Relationship": "Outer", "Relation Name": "events", "Alias": "events",
      "Startup Cost": 0.00, "Total Cost": 1235.03, "Plan Rows": 25, "Plan Width": 67, "Filter": "(user_id = $1)"}]}]}}]`

func (fixtureExplainer) Explain(_ context.Context, query string) (*postgres.Plan, error) {
	p, err := postgres.ParsePlan([]byte(fixturePlan))
	if err != nil {
		return nil, err
	}
	p.Query = query
	return p, nil
}

func (fixtureExplainer) HypotheticalCost(context.Context, string, string) (postgres.HypoResult, error) {
	return postgres.HypoResult{}, errors.New("not in the fixture")
}

// fakeClipboard records what is copied.
type fakeClipboard struct{ got []string }

func (c *fakeClipboard) Copy(text string) (string, error) {
	c.got = append(c.got, text)
	return "the test clipboard", nil
}
