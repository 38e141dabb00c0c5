package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/pgadvisor/advisor/internal/probe/source"
)

// The plans in testdata were captured from PostgreSQL 15 by
// testdata/capture (go run ./testdata/capture -dsn DSN).
func readPlan(t testing.TB, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestParsePlanCaptures(t *testing.T) {
	p, err := ParsePlan(readPlan(t, "plan_index_scan.json"))
	if err != nil {
		t.Fatal(err)
	}
	if r := p.Root; r.NodeType != "Index Scan" || r.RelationName != "pg_class" || r.IndexName != "pg_class_oid_index" ||
		!strings.Contains(r.IndexCond, "oid =") || r.TotalCost <= r.StartupCost || r.PlanRows != 1 {
		t.Errorf("index scan root = %+v", r)
	}
	if !json.Valid(p.JSON) {
		t.Error("plan JSON not kept")
	}
	if !p.UsesIndex("pg_class_oid_index") || len(p.SeqScans()) != 0 {
		t.Error("index scan plan: index not seen, or a seq scan seen")
	}

	p, err = ParsePlan(readPlan(t, "plan_sort_limit.json"))
	if err != nil {
		t.Fatal(err)
	}
	sorts := p.SortsUnderLimit()
	if len(sorts) != 1 || len(sorts[0].SortKey) != 1 || sorts[0].SortKey[0] != "relpages DESC" {
		t.Errorf("sorts under limit = %+v", sorts)
	}
	scans := p.SeqScans()
	if len(scans) != 1 || scans[0].RelationName != "pg_class" || !strings.Contains(scans[0].Filter, "relkind =") {
		t.Errorf("seq scans = %+v", scans)
	}

	p, err = ParsePlan(readPlan(t, "plan_join_agg.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(p.SortsUnderLimit()) != 0 {
		t.Error("a sort without a limit counted")
	}
	joins := p.Nodes("Hash Join")
	if len(joins) != 1 || joins[0].JoinType != "Inner" || !strings.Contains(joins[0].HashCond, "relnamespace") {
		t.Errorf("hash join = %+v", joins)
	}
	if rels := p.Relations(); len(rels) != 2 || rels[0] != "pg_class" || rels[1] != "pg_namespace" {
		t.Errorf("relations = %v", rels)
	}
	if agg := p.Nodes("Aggregate"); len(agg) != 1 || len(agg[0].GroupKey) != 1 {
		t.Errorf("aggregate = %+v", agg)
	}

	p, err = ParsePlan(readPlan(t, "plan_nested.json"))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	depth := 0
	p.Walk(func(node *Node, anc []*Node) bool {
		n++
		depth = max(depth, len(anc))
		return true
	})
	if n != 7 || depth != 3 || len(p.Nodes()) != 7 {
		t.Errorf("walked %d nodes, depth %d", n, depth)
	}
	// Returning false skips the children.
	n = 0
	p.Walk(func(*Node, []*Node) bool { n++; return false })
	if n != 1 {
		t.Errorf("walk without children visited %d", n)
	}
}

func TestParsePlanErrors(t *testing.T) {
	deep := strings.Repeat(`{"Node Type":"Limit","Plans":[`, 300) + `{}` + strings.Repeat(`]}`, 300)
	for _, bad := range []string{"", "null", "[]", "{}", `[{"Plan":null}]`, `[{"Plan":`, "[" + `{"Plan":` + deep + "}]"} {
		if _, err := ParsePlan([]byte(bad)); err == nil {
			t.Errorf("ParsePlan(%.40q) accepted", bad)
		}
	}
	var nilPlan *Plan
	if nilPlan.TotalCost() != 0 || len(nilPlan.SeqScans()) != 0 {
		t.Error("nil plan")
	}
}

func FuzzParsePlan(f *testing.F) {
	for _, name := range []string{"plan_index_scan.json", "plan_sort_limit.json", "plan_join_agg.json", "plan_nested.json"} {
		f.Add(readPlan(f, name))
	}
	f.Add([]byte(`[{"Plan":{"Node Type":"Sort","Plans":[null,{"Node Type":"Limit"}]}}]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := ParsePlan(data)
		if err != nil {
			return
		}
		_ = p.TotalCost()
		_ = p.SeqScans()
		_ = p.SortsUnderLimit()
		_ = p.Relations()
		_ = p.UsesIndex("x")
	})
}

func TestCheckExplainable(t *testing.T) {
	ok := []string{
		"SELECT 1",
		"select * from events where user_id = $1 and kind = $2;",
		"  -- leading comment\n/* block /* nested */ */ SELECT 'a;b' || $1 FROM t",
		"WITH x AS (SELECT 1) SELECT * FROM x",
		"SELECT $$ DELETE ; $$, $tag$ INSERT $tag$",
		`SELECT "update", "into" FROM t`,
		"SELECT E'it\\'s; DELETE'",
		"VALUES (1), (2)",
		"TABLE users",
		"SELECT * FROM t FOR UPDATE",
	}
	for _, q := range ok {
		if err := CheckExplainable(q); err != nil {
			t.Errorf("CheckExplainable(%q) = %v", q, err)
		}
	}
	bad := map[string]string{
		"":                          "empty",
		"INSERT INTO t VALUES ($1)": "not a query",
		"UPDATE t SET a = 1":        "not a query",
		"DELETE FROM t":             "not a query",
		"CREATE INDEX ON t (a)":     "not a query",
		"VACUUM t":                  "not a query",
		"EXPLAIN ANALYZE SELECT 1":  "not a query",
		"SELECT 1; DELETE FROM t":   "more than one",
		"SELECT 1;;SELECT 2":        "more than one",
		"WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d": "WITH holds DELETE",
		"SELECT * INTO new_table FROM t":                        "SELECT INTO",
		"SELECT 'unterminated":                                  "unterminated",
		"SELECT 1 /* open":                                      "unterminated",
		"COPY t TO STDOUT":                                      "not a query",
		"SET search_path = x":                                   "not a query",
	}
	for q, want := range bad {
		err := CheckExplainable(q)
		var se *SkipError
		if !errors.As(err, &se) || !strings.Contains(err.Error(), want) {
			t.Errorf("CheckExplainable(%q) = %v, want a SkipError with %q", q, err, want)
		}
	}
}

func TestCheckCreateIndex(t *testing.T) {
	got, err := checkCreateIndex("CREATE INDEX CONCURRENTLY ON events (user_id, created_at DESC);")
	if err != nil || got != "CREATE INDEX ON events (user_id, created_at DESC)" {
		t.Errorf("got %q, %v", got, err)
	}
	if _, err := checkCreateIndex("CREATE UNIQUE INDEX ON t (a)"); err != nil {
		t.Error(err)
	}
	for _, bad := range []string{"DROP INDEX x", "CREATE TABLE t (a int)", "CREATE INDEX ON t (a); DROP TABLE t", ""} {
		if _, err := checkCreateIndex(bad); !errors.As(err, new(*SkipError)) {
			t.Errorf("checkCreateIndex(%q) = %v", bad, err)
		}
	}
}

func TestStatementsSQLByVersion(t *testing.T) {
	cases := []struct {
		v           int
		has, hasNot []string
	}{
		{120000, []string{"s.total_time", "s.queryid, true, s.calls"}, []string{"total_exec_time", "toplevel", "wal_bytes", "stats_since"}},
		{130000, []string{"s.total_exec_time", "s.blk_read_time", "s.wal_bytes", "s.queryid, true, s.calls"}, []string{"toplevel", "shared_blk_read_time"}},
		{140000, []string{"s.toplevel", "s.blk_read_time"}, []string{"shared_blk_read_time", "stats_since"}},
		{160000, []string{"s.toplevel", "s.blk_read_time"}, []string{"shared_blk_read_time"}},
		{170000, []string{"s.shared_blk_read_time", "s.shared_blk_write_time", "s.stats_since", "s.toplevel"}, []string{"s.blk_read_time"}},
	}
	for _, c := range cases {
		sql := statementsSQL(c.v, "public")
		// The counters without the texts; the texts by queryid.
		if !strings.Contains(sql, `"public"."pg_stat_statements"(false)`) || !strings.Contains(sql, "current_database()") ||
			strings.Contains(sql, "s.query,") {
			t.Errorf("%d: %s", c.v, sql)
		}
		texts := statementTextsSQL(c.v, "public")
		if !strings.Contains(texts, `"public"."pg_stat_statements"(true)`) || !strings.Contains(texts, "queryid = ANY($1)") ||
			strings.Contains(texts, "s.toplevel") != (c.v >= pg14) {
			t.Errorf("%d: %s", c.v, texts)
		}
		for _, s := range c.has {
			if !strings.Contains(sql, s) {
				t.Errorf("%d: no %q in %s", c.v, s, sql)
			}
		}
		for _, s := range c.hasNot {
			if strings.Contains(sql, s) {
				t.Errorf("%d: %q in %s", c.v, s, sql)
			}
		}
	}
	if strings.Contains(databaseSQL(130000), "sessions") || !strings.Contains(databaseSQL(140000), "sessions_abandoned") {
		t.Error("databaseSQL: sessions counters by version")
	}
	if strings.Contains(blockedSQL(130000), "waitstart") || !strings.Contains(blockedSQL(140000), "waitstart") {
		t.Error("blockedSQL: waitstart by version")
	}
}

func TestSettings(t *testing.T) {
	s := Settings{
		"shared_buffers":           {Value: "16384", Unit: "8kB"},
		"work_mem":                 {Value: "4096", Unit: "kB"},
		"max_connections":          {Value: "100"},
		"track_io_timing":          {Value: "on"},
		"shared_preload_libraries": {Value: `pg_stat_statements, "auto_explain"`},
	}
	if b, ok := s.Bytes("shared_buffers"); !ok || b != 128<<20 {
		t.Errorf("shared_buffers = %d", b)
	}
	if b, ok := s.Bytes("work_mem"); !ok || b != 4<<20 {
		t.Errorf("work_mem = %d", b)
	}
	if _, ok := s.Bytes("max_connections"); ok {
		t.Error("max_connections has no byte unit")
	}
	if libs := s.List("shared_preload_libraries"); len(libs) != 2 || libs[1] != "auto_explain" {
		t.Errorf("libs = %q", libs)
	}
	if !s.Bool("track_io_timing") {
		t.Error("track_io_timing")
	}
}

// snap builds a snapshot for the Diff tests.
func snap(at time.Time, postmaster time.Time, stmtReset time.Time, stmts ...Statement) *Snapshot {
	ok := source.Status{State: source.OK}
	s := &Snapshot{Time: at, Status: ok}
	s.Server = Server{Status: ok, PostmasterAt: postmaster, VersionNum: 150000}
	s.Statements = Statements{Status: ok, StatsReset: stmtReset, Rows: stmts}
	s.Database = Database{Status: ok}
	s.Tables = Tables{Status: ok}
	s.Indexes = Indexes{Status: ok}
	return s
}

func stmt(id int64, calls int64, total float64) Statement {
	return Statement{UserID: 10, DBID: 5, QueryID: id, TopLevel: true, Calls: calls, TotalExecTime: total, Rows: calls}
}

func TestDiffResets(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	boot := t0.Add(-time.Hour)
	reset := t0.Add(-30 * time.Minute)
	prev := snap(t0, boot, reset, stmt(1, 100, 1000), stmt(2, 50, 500), stmt(3, 10, 10))
	prev.Tables.Rows = []Table{{RelID: 1, Name: "t", SeqScan: 10, SeqTupRead: 1000, TupIns: 5}}
	prev.Database.Stats = DatabaseStats{XactCommit: 100, BlksHit: 90, BlksRead: 10, Sessions: 20}

	// Plain window: statement 1 ran 10 times, 2 was evicted and came back
	// with fewer calls, 3 did not run, 4 is new.
	cur := snap(t0.Add(10*time.Second), boot, reset, stmt(1, 110, 1100), stmt(2, 5, 50), stmt(3, 10, 10), stmt(4, 3, 300))
	cur.Tables.Rows = []Table{{RelID: 1, Name: "t", SeqScan: 15, SeqTupRead: 1500, TupIns: 7}}
	cur.Database.Stats = DatabaseStats{XactCommit: 150, BlksHit: 189, BlksRead: 11, Sessions: 30}
	w := Diff(prev, cur)
	if w.Seconds != 10 || len(w.Resets) != 0 || w.Cumulative {
		t.Fatalf("window %+v", w)
	}
	got := map[int64]StatementDelta{}
	for _, d := range w.Statements.Rows {
		got[d.Key.QueryID] = d
	}
	if d := got[1]; d.Calls != 10 || d.TotalTime != 100 || d.MeanTime != 10 || d.CallsPerS != 1 || d.Fresh {
		t.Errorf("statement 1: %+v", d)
	}
	if d := got[2]; d.Calls != 5 || !d.Fresh {
		t.Errorf("statement 2 (calls went down): %+v", d)
	}
	if _, ok := got[3]; ok {
		t.Error("statement 3 did not run but is in the window")
	}
	if d := got[4]; d.Calls != 3 || d.TotalTime != 300 || !d.Fresh {
		t.Errorf("statement 4 (new): %+v", d)
	}
	if w.Statements.TotalTime != 450 || got[4].Share != 300.0/450 {
		t.Errorf("total %f, share %f", w.Statements.TotalTime, got[4].Share)
	}
	if w.Statements.Rows[0].Key.QueryID != 4 {
		t.Error("rows not sorted by time")
	}
	if tb := w.Tables[0]; tb.SeqScan != 5 || tb.SeqScanPerS != 0.5 || tb.SeqTupPerS != 50 || tb.Writes != 2 {
		t.Errorf("table %+v", tb)
	}
	if d := w.Database; d.Commits != 50 || d.SessionsPerS != 1 || d.CacheHitRatio != 0.99 {
		t.Errorf("database %+v", d)
	}

	// pg_stat_statements_reset() 4 s before cur: fresh baseline over 4 s.
	r2 := t0.Add(6 * time.Second)
	cur2 := snap(t0.Add(10*time.Second), boot, r2, stmt(1, 8, 80))
	cur2.Database.Stats = cur.Database.Stats
	w = Diff(prev, cur2)
	if len(w.Resets) != 1 || !strings.Contains(w.Resets[0], "pg_stat_statements reset") {
		t.Errorf("resets %v", w.Resets)
	}
	if w.Statements.Seconds != 4 || len(w.Statements.Rows) != 1 || w.Statements.Rows[0].Calls != 8 || w.Statements.Rows[0].CallsPerS != 2 {
		t.Errorf("after reset: %+v", w.Statements)
	}

	// A restart: everything counts from the new start.
	boot2 := t0.Add(8 * time.Second)
	cur3 := snap(t0.Add(10*time.Second), boot2, boot2, stmt(1, 4, 4))
	cur3.Tables.Rows = []Table{{RelID: 1, Name: "t", SeqScan: 1}}
	cur3.Database.Stats = DatabaseStats{XactCommit: 4, Sessions: 2}
	w = Diff(prev, cur3)
	if len(w.Resets) != 1 || !strings.Contains(w.Resets[0], "restarted") {
		t.Errorf("resets %v", w.Resets)
	}
	if w.Statements.Rows[0].Calls != 4 || w.Statements.Rows[0].CallsPerS != 2 || w.Tables[0].SeqScan != 1 ||
		w.Database.Commits != 4 || w.Database.Seconds != 2 {
		t.Errorf("after restart: %+v %+v %+v", w.Statements.Rows, w.Tables, w.Database)
	}
	checkNonNegative(t, w)

	// pg_stat_reset(): database and tables start again.
	cur4 := snap(t0.Add(10*time.Second), boot, reset, stmt(1, 110, 1100))
	cur4.Database.Stats = DatabaseStats{XactCommit: 3, StatsReset: t0.Add(5 * time.Second)}
	cur4.Tables.Rows = []Table{{RelID: 1, Name: "t", SeqScan: 2}}
	w = Diff(prev, cur4)
	if w.Database.Commits != 3 || w.Database.Seconds != 5 || w.Tables[0].SeqScan != 2 || w.Database.CacheHitRatio != -1 {
		t.Errorf("after pg_stat_reset: %+v %+v", w.Database, w.Tables)
	}
	checkNonNegative(t, w)

	// Cumulative: since the statements' reset.
	w = Diff(nil, cur)
	if !w.Cumulative || w.Seconds != 30*60+10 || !w.Start.Equal(reset) {
		t.Errorf("cumulative: %v s from %v", w.Seconds, w.Start)
	}
	if d := w.Statements.Rows; len(d) != 4 || d[0].Fresh {
		t.Errorf("cumulative rows %+v", d)
	}
	// The database's stats were never reset: since the server started.
	if w.Database.Seconds != 3610 {
		t.Errorf("cumulative database seconds %f", w.Database.Seconds)
	}

	// A part that could not be read before counts since its reset, never
	// as if everything happened in the window.
	failed := *prev
	failed.Statements = Statements{Status: source.Status{State: source.Error}}
	failed.Tables = Tables{Status: source.Status{State: source.Error}}
	w = Diff(&failed, cur)
	if len(w.Resets) != 1 || w.Statements.Seconds != 30*60+10 || w.Tables[0].SeqScanPerS != 15.0/3610 {
		t.Errorf("after a failed part: resets %v, %f s, %+v", w.Resets, w.Statements.Seconds, w.Tables[0])
	}
	if d := w.Database; d.Commits != 50 {
		t.Errorf("the database part was read both times: %+v", d)
	}

	// A snapshot of a server that was down diffs as cumulative.
	down := &Snapshot{Time: t0, Status: source.Status{State: source.Unavailable}}
	if w := Diff(down, cur); !w.Cumulative {
		t.Error("diff after an unavailable snapshot is not cumulative")
	}
}

func checkNonNegative(t *testing.T, w *Window) {
	t.Helper()
	for _, d := range w.Statements.Rows {
		if d.Calls < 0 || d.TotalTime < 0 || d.Rows < 0 || d.CallsPerS < 0 {
			t.Errorf("negative statement %+v", d)
		}
	}
	for _, d := range w.Tables {
		if d.SeqScan < 0 || d.IdxScan < 0 || d.Writes < 0 || d.SeqTupRead < 0 {
			t.Errorf("negative table %+v", d)
		}
	}
	if d := w.Database; d.Commits < 0 || d.Sessions < 0 || d.BlksHit < 0 {
		t.Errorf("negative database %+v", d)
	}
}

func TestHotTables(t *testing.T) {
	tables := []Table{{RelID: 1, Name: "big"}, {RelID: 2, Name: "events"}, {RelID: 3, Name: "users"}, {RelID: 4, Name: "small"}}
	stmts := []Statement{
		{Query: "SELECT * FROM users WHERE id = $1", TotalExecTime: 10},
		{Query: `SELECT * FROM "events" e JOIN users u ON u.id = e.user_id`, TotalExecTime: 100},
		{Query: "<insufficient privilege>", Hidden: true, TotalExecTime: 1000},
	}
	hot := HotTables(stmts, tables, 2)
	var names []string
	for _, h := range hot {
		names = append(names, h.Name)
	}
	if strings.Join(names, ",") != "events,users,big" {
		t.Errorf("hot tables = %v", names)
	}
}

func TestOptionsDefaults(t *testing.T) {
	o := Options{MaxConns: 10}.withDefaults()
	if o.MaxConns != 3 || o.StatementTimeout != 2*time.Second || o.LockTimeout != 500*time.Millisecond ||
		o.CollectorTimeout != 3*time.Second {
		t.Errorf("defaults %+v", o)
	}
}

func TestDescribeErrors(t *testing.T) {
	p := &Probe{host: "db.example", port: 5433, user: "app", database: "shop", password: "Top-Secret-1",
		opts: Options{}.withDefaults()}
	cases := []struct {
		err   error
		state source.State
		want  string
	}{
		{&net.OpError{Op: "dial", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}, source.Unavailable, "connection refused at db.example:5433"},
		{&pgconn.PgError{Code: "28P01", Message: "password authentication failed"}, source.Unavailable, `password authentication failed for user "app"`},
		{&pgconn.PgError{Code: "3D000"}, source.Unavailable, `database "shop" does not exist`},
		{&pgconn.PgError{Code: "57014", Message: "canceling statement due to statement timeout"}, source.Error, "statement_timeout (2s)"},
		{&pgconn.PgError{Code: "55P03"}, source.Error, "lock_timeout (500ms)"},
		{&pgconn.PgError{Code: "42501", Message: "permission denied for table x"}, source.Error, "GRANT pg_monitor TO app"},
		{context.DeadlineExceeded, source.Unavailable, "no answer from db.example:5433"},
		{errors.New("dial postgres://app:Top-Secret-1@db.example/shop failed"), source.Error, "app:xxxxx@"},
	}
	for _, c := range cases {
		state, detail := p.describe(c.err)
		if state != c.state || !strings.Contains(detail, c.want) || strings.Contains(detail, "Top-Secret") {
			t.Errorf("describe(%v) = %s, %q; want %s, %q", c.err, state, detail, c.state, c.want)
		}
	}
	err := p.wrap("explain", errors.New("password=Top-Secret-1 rejected"))
	if strings.Contains(err.Error(), "Top-Secret") || !strings.HasPrefix(err.Error(), "explain: ") {
		t.Errorf("wrap = %q", err)
	}
}

func TestStatementsNotLoaded(t *testing.T) {
	err := statementsError(&pgconn.PgError{Code: "55000", Message: `pg_stat_statements must be loaded via "shared_preload_libraries"`})
	var ps *partStatus
	if !errors.As(err, &ps) || ps.st.State != source.Unavailable ||
		ps.st.Detail != "pg_stat_statements is not loaded: add it to shared_preload_libraries and restart" {
		t.Errorf("statementsError = %v", err)
	}
	other := &pgconn.PgError{Code: "42P01"}
	if statementsError(other) != error(other) {
		t.Error("another error was changed")
	}
}
