package postgres

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgadvisor/advisor/internal/probe/source"
	"github.com/pgadvisor/advisor/internal/stack/stacktest"
)

// The tests share one database with a small schema. Tests run one after the
// other within this package; other packages use databases of their own.
const testDB = "probe_pg"

var (
	fixtureOnce sync.Once
	fixtureDSN  string
	fixtureErr  error
)

const schemaSQL = `
CREATE TABLE users (id bigint PRIMARY KEY, email text NOT NULL, name text, payload text);
CREATE TABLE events (id bigserial PRIMARY KEY, user_id bigint NOT NULL, kind text NOT NULL,
                     created_at timestamptz NOT NULL DEFAULT now(), body text);
CREATE UNIQUE INDEX users_email ON users (email);
CREATE INDEX users_email_dup ON users (email);
INSERT INTO users SELECT i, 'u' || i || '@example.com', 'user ' || i, repeat('x', 500) FROM generate_series(1, 2000) i;
INSERT INTO events (user_id, kind, body) SELECT i % 2000, 'k' || (i % 7), repeat('b', 100) FROM generate_series(1, 30000) i;
ANALYZE users;
ANALYZE events;
`

// fixture returns the DSN of the shared test database, creating it once.
func fixture(t testing.TB) string {
	t.Helper()
	fixtureOnce.Do(func() {
		dsn := stacktest.NewDatabase(t, testDB)
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			fixtureErr = err
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, schemaSQL); err != nil {
			fixtureErr = fmt.Errorf("schema: %w", err)
			return
		}
		flushStats(t, conn)
		fixtureDSN = dsn
	})
	if fixtureErr != nil {
		t.Fatal(fixtureErr)
	}
	return fixtureDSN
}

func adminConn(t testing.TB, dsn string) *pgx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

func openProbe(t testing.TB, dsn string, opts Options) *Probe {
	t.Helper()
	p, err := Open(context.Background(), dsn, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

// eventsByUser is the workload's statement that scans events sequentially.
const eventsByUser = "SELECT id, kind FROM events WHERE user_id = $1"

func workload(t testing.TB, conn *pgx.Conn, n int) {
	t.Helper()
	ctx := context.Background()
	for i := 0; i < n; i++ {
		rows, err := conn.Query(ctx, eventsByUser, int64(i%2000))
		if err != nil {
			t.Fatal(err)
		}
		rows.Close()
		if _, err := conn.Exec(ctx, "SELECT email FROM users WHERE id = $1", int64(i%2000+1)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := conn.Exec(ctx, "UPDATE users SET name = name WHERE id = $1", int64(n)); err != nil {
		t.Fatal(err)
	}
	flushStats(t, conn)
}

// flushStats makes conn's backend report its table and database statistics
// now rather than within the next second or more.
func flushStats(t testing.TB, conn *pgx.Conn) {
	t.Helper()
	if _, err := conn.Exec(context.Background(), "SELECT pg_stat_force_next_flush()"); err != nil {
		t.Fatal(err)
	}
	// The flush happens when the backend goes idle after that statement.
	if _, err := conn.Exec(context.Background(), "SELECT 1"); err != nil {
		t.Fatal(err)
	}
}

// roleDSN creates (or re-creates) a login role with a password, optionally a
// member of inRole, and returns a DSN for it.
func roleDSN(t testing.TB, admin *pgx.Conn, dsn, role, password, inRole string) string {
	t.Helper()
	ctx := context.Background()
	ident := pgx.Identifier{role}.Sanitize()
	if _, err := admin.Exec(ctx, "DROP ROLE IF EXISTS "+ident); err != nil {
		t.Fatal(err)
	}
	create := "CREATE ROLE " + ident + " LOGIN PASSWORD " + quoteLiteral(password)
	if inRole != "" {
		create += " IN ROLE " + inRole
	}
	if _, err := admin.Exec(ctx, create); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// Sessions of the role may linger a moment after the probe closes.
		for i := 0; i < 20; i++ {
			if _, err := admin.Exec(context.Background(), "DROP ROLE IF EXISTS "+ident); err == nil {
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
	})
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.UserPassword(role, password)
	return u.String()
}

func quoteLiteral(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

func findStatement(rows []StatementDelta, query string) *StatementDelta {
	for i := range rows {
		if rows[i].Statement.Query == query {
			return &rows[i]
		}
	}
	return nil
}

func findTable(rows []TableDelta, name string) *TableDelta {
	for i := range rows {
		if rows[i].Name == name {
			return &rows[i]
		}
	}
	return nil
}

func requireOK(t *testing.T, name string, st source.Status) {
	t.Helper()
	if st.State != source.OK {
		t.Errorf("%s: status %s: %s", name, st.State, st.Detail)
	}
}

func TestSnapshotDiff(t *testing.T) {
	dsn := fixture(t)
	admin := adminConn(t, dsn)
	p := openProbe(t, dsn, Options{SessionMinAge: 100 * time.Millisecond, ServerCPUs: 2})
	ctx := context.Background()

	workload(t, admin, 20)
	s1 := p.Snapshot(ctx)
	if !s1.Status.Ok() {
		t.Fatalf("snapshot: %s: %s", s1.Status.State, s1.Status.Detail)
	}
	const n = 37
	workload(t, admin, n)
	s2 := p.Snapshot(ctx)
	for name, st := range map[string]source.Status{"server": s2.Server.Status, "statements": s2.Statements.Status,
		"tables": s2.Tables.Status, "indexes": s2.Indexes.Status, "activity": s2.Activity.Status,
		"blocked": s2.Blocked.Status, "database": s2.Database.Status, "pg_stats": s2.ColumnStats.Status} {
		requireOK(t, name, st)
	}

	srv := s2.Server
	if srv.VersionNum < 130000 || s2.Status.Version == "" {
		t.Errorf("version %d %q", srv.VersionNum, s2.Status.Version)
	}
	if n, ok := srv.Settings.Int("max_connections"); !ok || n <= 0 {
		t.Errorf("max_connections = %d, %v", n, ok)
	}
	if b, ok := srv.Settings.Bytes("shared_buffers"); !ok || b < 1<<20 {
		t.Errorf("shared_buffers = %d bytes, %v", b, ok)
	}
	if !contains(srv.Settings.List("shared_preload_libraries"), "pg_stat_statements") {
		t.Errorf("shared_preload_libraries = %v", srv.Settings.List("shared_preload_libraries"))
	}
	if srv.CPUs != 2 || srv.Database != testDB {
		t.Errorf("server = %+v", srv)
	}

	w := Diff(s1, s2)
	if w.Cumulative || w.Seconds <= 0 || len(w.Resets) != 0 {
		t.Fatalf("window: cumulative %v, %v s, resets %v", w.Cumulative, w.Seconds, w.Resets)
	}
	ev := findStatement(w.Statements.Rows, eventsByUser)
	if ev == nil {
		t.Fatalf("statement %q not in the window", eventsByUser)
	}
	if ev.Calls != n || ev.Fresh {
		t.Errorf("calls = %d (fresh %v), want %d", ev.Calls, ev.Fresh, n)
	}
	if ev.Rows != n*15 {
		t.Errorf("rows = %d, want %d", ev.Rows, n*15)
	}
	if ev.CallsPerS <= 0 || ev.MeanTime <= 0 || ev.Share <= 0 || ev.Share > 1 {
		t.Errorf("rates: %+v", ev)
	}
	var shares float64
	for _, r := range w.Statements.Rows {
		shares += r.Share
		if r.Calls < 0 || r.TotalTime < 0 || r.CallsPerS < 0 {
			t.Errorf("negative delta %+v", r)
		}
	}
	if shares < 0.99 || shares > 1.01 {
		t.Errorf("shares sum to %f", shares)
	}
	events := findTable(w.Tables, "events")
	if events == nil {
		t.Fatal("events not in the window")
	}
	if events.SeqScan != n || events.SeqTupRead != n*30000 {
		t.Errorf("events: seq scans %d, tuples %d; want %d, %d", events.SeqScan, events.SeqTupRead, n, n*30000)
	}
	users := findTable(w.Tables, "users")
	if users == nil || users.IdxScan < n || users.Writes != 1 {
		t.Errorf("users: %+v", users)
	}
	if w.Database.Commits < 2*n || w.Database.CacheHitRatio <= 0 || w.Database.CacheHitRatio > 1 {
		t.Errorf("database: %+v", w.Database)
	}

	// Indexes: the duplicate, the unique and the primary key are there.
	var dup *Index
	for i, ix := range s2.Indexes.Rows {
		if ix.Name == "users_email_dup" {
			dup = &s2.Indexes.Rows[i]
		}
	}
	if dup == nil || dup.Unique || !dup.Valid || len(dup.KeyColumns) != 1 || dup.KeyColumns[0] != "email" ||
		dup.Bytes <= 0 || !strings.Contains(dup.Definition, "(email)") || dup.Method != "btree" {
		t.Errorf("users_email_dup = %+v", dup)
	}
	// pg_stats of the hot tables.
	var width int32
	for _, c := range s2.ColumnStats.Rows {
		if c.Table == "users" && c.Column == "payload" {
			width = c.AvgWidth
		}
	}
	if width < 100 {
		t.Errorf("users.payload avg_width = %d", width)
	}

	// The cumulative window counts everything since the last reset.
	cw := Diff(nil, s2)
	if !cw.Cumulative || cw.Seconds <= 0 {
		t.Errorf("cumulative window: %+v", cw)
	}
	// (At least: with -count=2 the database is reused.)
	if ev := findStatement(cw.Statements.Rows, eventsByUser); ev == nil || ev.Calls < 20+n || ev.Calls != ev.Statement.Calls {
		t.Errorf("cumulative calls: %+v", ev)
	}
}

func TestActivityAndLocks(t *testing.T) {
	dsn := fixture(t)
	a := adminConn(t, dsn)
	b := adminConn(t, dsn)
	p := openProbe(t, dsn, Options{SessionMinAge: 100 * time.Millisecond})
	ctx := context.Background()

	// a holds a row lock and stays idle in its transaction; b waits for it.
	tx, err := a.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	if _, err := tx.Exec(ctx, "UPDATE users SET name = 'locked' WHERE id = 7"); err != nil {
		t.Fatal(err)
	}
	var aPID, bPID int32
	if err := tx.QueryRow(ctx, "SELECT pg_backend_pid()").Scan(&aPID); err != nil {
		t.Fatal(err)
	}
	if err := b.QueryRow(ctx, "SELECT pg_backend_pid()").Scan(&bPID); err != nil {
		t.Fatal(err)
	}
	bctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		_, err := b.Exec(bctx, "UPDATE users SET name = 'waiting' WHERE id = 7")
		done <- err
	}()
	defer func() {
		cancel()
		<-done
	}()
	// Wait until b waits for the lock, and both have been at it 300ms.
	watch := adminConn(t, dsn)
	deadline := time.Now().Add(10 * time.Second)
	for {
		var waiting bool
		if err := watch.QueryRow(ctx, `SELECT coalesce(wait_event_type = 'Lock' AND now() - query_start > interval '300 ms', false)
			FROM pg_stat_activity WHERE pid = $1`, bPID).Scan(&waiting); err != nil {
			t.Fatal(err)
		}
		if waiting {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the second session never waited for the lock")
		}
		time.Sleep(50 * time.Millisecond)
	}

	s := p.Snapshot(ctx)
	requireOK(t, "activity", s.Activity.Status)
	requireOK(t, "blocked", s.Blocked.Status)
	var blocked *BlockedQuery
	for i, r := range s.Blocked.Rows {
		if r.PID == bPID {
			blocked = &s.Blocked.Rows[i]
		}
	}
	if blocked == nil {
		t.Fatalf("pid %d not blocked in %+v", bPID, s.Blocked.Rows)
	}
	if blocked.BlockingPID != aPID || !strings.Contains(blocked.Query, "waiting") ||
		!strings.Contains(blocked.BlockingQuery, "pg_backend_pid") || blocked.WaitSeconds <= 0 ||
		blocked.Relation != "users" && blocked.LockType != "transactionid" {
		t.Errorf("blocked = %+v", blocked)
	}
	var idle, waiting bool
	for _, ss := range s.Activity.Sessions {
		if ss.PID == aPID && ss.State == "idle in transaction" && ss.XactAge > 0.2 {
			idle = true
		}
		if ss.PID == bPID && ss.WaitEventType == "Lock" {
			waiting = true
		}
		if ss.Application == ApplicationName {
			t.Errorf("advisor's own session listed: %+v", ss)
		}
	}
	if !idle || !waiting {
		t.Errorf("sessions: idle in transaction %v, waiting %v: %+v", idle, waiting, s.Activity.Sessions)
	}
	var lockGroup bool
	for _, g := range s.Activity.Groups {
		if g.Application == ApplicationName {
			t.Errorf("advisor's own sessions counted: %+v", g)
		}
		if g.Database == testDB && g.WaitEventType == "Lock" && g.Count >= 1 && g.OldestQueryAge > 0.2 {
			lockGroup = true
		}
	}
	if !lockGroup {
		t.Errorf("no group waiting on a lock: %+v", s.Activity.Groups)
	}
}

// TestWindowStddev: the spread of a statement's calls over the window comes
// from the change of pg_stat_statements' cumulative mean and standard
// deviation. Calls of one length before the window and of two lengths in
// it: the window's spread is theirs (about 14 ms), not the cumulative one.
func TestWindowStddev(t *testing.T) {
	dsn := fixture(t)
	admin := adminConn(t, dsn)
	p := openProbe(t, dsn, Options{})
	ctx := context.Background()
	const query = "SELECT pg_sleep($1::float8 / $2) AS window_stddev"
	sleep := func(ms ...float64) {
		for _, v := range ms {
			if _, err := admin.Exec(ctx, query, v, 1000); err != nil {
				t.Fatal(err)
			}
		}
	}
	sleep(10, 10, 10, 10, 10, 10, 10, 10)
	s1 := p.Snapshot(ctx)
	var in []float64
	for range 6 {
		in = append(in, 2, 30)
	}
	sleep(in...)
	s2 := p.Snapshot(ctx)
	d := findStatement(Diff(s1, s2).Statements.Rows, "SELECT pg_sleep($1::float8 / $2) AS window_stddev")
	if d == nil {
		t.Fatal("the statement is not in the window")
	}
	cum := d.Statement.StddevExecTime
	// Sleeps overrun by a fraction of a millisecond each; the spread of
	// 2 and 30 ms calls is 14 ms.
	if d.Calls != 12 || d.StddevTime < 13 || d.StddevTime > 15.5 || math.Abs(d.StddevTime-cum) < 1 {
		t.Errorf("window: %d calls, mean %.2f ms, stddev %.2f ms (cumulative %.2f); want 12 calls, about 14 ms",
			d.Calls, d.MeanTime, d.StddevTime, cum)
	}
}

func TestResetGivesFreshBaseline(t *testing.T) {
	dsn := fixture(t)
	admin := adminConn(t, dsn)
	p := openProbe(t, dsn, Options{})
	ctx := context.Background()
	workload(t, admin, 30)
	s1 := p.Snapshot(ctx)
	// Reset this database's statements only: a full reset would disturb
	// the tests of other packages that share the server.
	if _, err := admin.Exec(ctx, "SELECT pg_stat_statements_reset(0, (SELECT oid FROM pg_database WHERE datname = current_database()), 0)"); err != nil {
		t.Fatal(err)
	}
	workload(t, admin, 3)
	s2 := p.Snapshot(ctx)
	w := Diff(s1, s2)
	ev := findStatement(w.Statements.Rows, eventsByUser)
	if ev == nil || ev.Calls != 3 || !ev.Fresh {
		t.Errorf("after reset: %+v", ev)
	}
	for _, r := range w.Statements.Rows {
		if r.Calls < 0 || r.TotalTime < 0 || r.Rows < 0 || r.CallsPerS < 0 || r.Share < 0 || r.MeanTime < 0 {
			t.Errorf("negative after reset: %+v", r)
		}
	}
}

func TestExplain(t *testing.T) {
	dsn := fixture(t)
	admin := adminConn(t, dsn)
	workload(t, admin, 2)
	p := openProbe(t, dsn, Options{})
	ctx := context.Background()
	s := p.Snapshot(ctx)
	var text string
	for _, r := range s.Statements.Rows {
		if strings.HasPrefix(r.Query, "SELECT id, kind FROM events") {
			text = r.Query
		}
	}
	if text == "" {
		t.Fatal("events statement not in pg_stat_statements")
	}
	plan, err := p.Explain(ctx, text)
	if err != nil {
		t.Fatal(err)
	}
	scans := plan.SeqScans()
	if len(scans) != 1 || scans[0].RelationName != "events" || !strings.Contains(scans[0].Filter, "user_id = $1") {
		t.Errorf("seq scans = %+v", scans)
	}
	if !plan.Generic || plan.TotalCost() <= 0 {
		t.Errorf("plan: generic %v, cost %f", plan.Generic, plan.TotalCost())
	}

	// A statement with a parameter of more than one use, and a join.
	plan, err = p.Explain(ctx, "SELECT u.email, count(*) FROM users u JOIN events e ON e.user_id = u.id WHERE u.id > $1 AND e.kind = $2 GROUP BY u.email ORDER BY 2 DESC LIMIT $3")
	if err != nil {
		t.Fatal(err)
	}
	if rels := plan.Relations(); len(rels) != 2 {
		t.Errorf("relations = %v", rels)
	}
	if len(plan.SortsUnderLimit()) != 1 {
		t.Errorf("no sort under the limit in %+v", plan.Root)
	}

	skipped := []string{
		"SELECT 1 WHERE $1 IS NULL",          // parameter type cannot be inferred
		"INSERT INTO users (id) VALUES ($1)", // a write
		"CREATE TABLE x (a int)",             // DDL
		"VACUUM users",                       // utility
		"SELECT * FROM no_such_table",        // cannot be planned
		"SELECT 1; DELETE FROM users",        // two statements
		"WITH d AS (DELETE FROM users RETURNING id) SELECT * FROM d",
	}
	for _, q := range skipped {
		_, err := p.Explain(ctx, q)
		var se *SkipError
		if !errors.As(err, &se) || se.Reason == "" {
			t.Errorf("Explain(%q) = %v, want a SkipError", q, err)
		}
	}
	// The probe still works after the skips.
	if s := p.Snapshot(ctx); !s.Status.Ok() {
		t.Errorf("after skips: %+v", s.Status)
	}
	var n int
	if err := admin.QueryRow(ctx, "SELECT count(*) FROM users").Scan(&n); err != nil || n != 2000 {
		t.Errorf("users = %d, %v", n, err)
	}
}

func TestHypotheticalCost(t *testing.T) {
	dsn := fixture(t)
	p := openProbe(t, dsn, Options{})
	ctx := context.Background()
	res, err := p.HypotheticalCost(ctx, eventsByUser, "CREATE INDEX CONCURRENTLY ON events (user_id)")
	if err != nil {
		t.Fatal(err)
	}
	if !res.Used || res.After >= res.Before/2 || res.IndexName == "" {
		t.Errorf("hypothetical index: used %v, cost %f -> %f (%s)", res.Used, res.Before, res.After, res.IndexName)
	}
	if len(res.BeforePlan.SeqScans()) != 1 || len(res.AfterPlan.SeqScans()) != 0 {
		t.Errorf("plans: before %+v, after %+v", res.BeforePlan.Root, res.AfterPlan.Root)
	}
	// Nothing was created, and the hypothetical index is gone.
	admin := adminConn(t, dsn)
	var n int
	if err := admin.QueryRow(ctx, "SELECT count(*) FROM pg_indexes WHERE tablename = 'events'").Scan(&n); err != nil || n != 1 {
		t.Errorf("indexes on events = %d, %v", n, err)
	}
	again, err := p.HypotheticalCost(ctx, eventsByUser, "CREATE INDEX ON events (kind)")
	if err != nil {
		t.Fatal(err)
	}
	if again.Used || again.After != again.Before {
		t.Errorf("an unrelated index changed the plan: %+v", again)
	}
	if _, err := p.HypotheticalCost(ctx, eventsByUser, "DROP TABLE events"); !errors.As(err, new(*SkipError)) {
		t.Errorf("DROP as an index: %v", err)
	}
}

// newPlainDatabase creates a database without the extensions.
func newPlainDatabase(t testing.TB, name string) string {
	t.Helper()
	inf := stacktest.Start(t)
	admin := adminConn(t, inf.DSN)
	ctx := context.Background()
	ident := pgx.Identifier{name}.Sanitize()
	if _, err := admin.Exec(ctx, "DROP DATABASE IF EXISTS "+ident+" WITH (FORCE)"); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+ident); err != nil {
		t.Fatal(err)
	}
	dsn, err := stacktest.WithDatabase(inf.DSN, name)
	if err != nil {
		t.Fatal(err)
	}
	return dsn
}

func TestWithoutExtensions(t *testing.T) {
	dsn := newPlainDatabase(t, "probe_pg_noext")
	p := openProbe(t, dsn, Options{})
	ctx := context.Background()
	s := p.Snapshot(ctx)
	if !s.Status.Ok() || !s.Tables.Status.Ok() || !s.Database.Status.Ok() {
		t.Errorf("snapshot: %+v", s.Status)
	}
	if s.Statements.Status.State != source.Unavailable ||
		!strings.Contains(s.Statements.Status.Detail, "CREATE EXTENSION pg_stat_statements") {
		t.Errorf("statements status: %+v", s.Statements.Status)
	}
	if !strings.Contains(s.Status.Detail, "CREATE EXTENSION pg_stat_statements") {
		t.Errorf("overall detail: %q", s.Status.Detail)
	}
	_, err := p.HypotheticalCost(ctx, "SELECT relname FROM pg_class WHERE relpages > $1", "CREATE INDEX ON pg_class (relpages)")
	var missing *HypoPGMissingError
	if !errors.As(err, &missing) || !strings.Contains(err.Error(), `hypopg is not installed in database "probe_pg_noext": CREATE EXTENSION hypopg (package postgresql-`) {
		t.Errorf("hypopg missing: %v", err)
	}
	// Explain does not need hypopg.
	if _, err := p.Explain(ctx, "SELECT relname FROM pg_class WHERE relpages > $1"); err != nil {
		t.Errorf("explain: %v", err)
	}
}

func TestMonitorRole(t *testing.T) {
	dsn := fixture(t)
	admin := adminConn(t, dsn)
	workload(t, admin, 3)
	mdsn := roleDSN(t, admin, dsn, "probe_pg_monitor", "Mon-itor-pw-8842", "pg_monitor")
	p := openProbe(t, mdsn, Options{})
	s := p.Snapshot(context.Background())
	for name, st := range map[string]source.Status{"server": s.Server.Status, "statements": s.Statements.Status,
		"tables": s.Tables.Status, "indexes": s.Indexes.Status, "activity": s.Activity.Status,
		"blocked": s.Blocked.Status, "database": s.Database.Status} {
		requireOK(t, name, st)
	}
	if s.Statements.Hidden != 0 || !s.Server.ReadAllStats || s.Server.Superuser {
		t.Errorf("pg_monitor: hidden %d, read all stats %v", s.Statements.Hidden, s.Server.ReadAllStats)
	}
	if len(s.Tables.Rows) < 2 || len(s.Indexes.Rows) < 4 {
		t.Errorf("tables %d, indexes %d", len(s.Tables.Rows), len(s.Indexes.Rows))
	}
	found := false
	for _, r := range s.Statements.Rows {
		found = found || r.Query == eventsByUser
	}
	if !found {
		t.Error("pg_monitor does not see the workload's statement texts")
	}
}

func TestHiddenTexts(t *testing.T) {
	dsn := fixture(t)
	admin := adminConn(t, dsn)
	workload(t, admin, 3)
	pdsn := roleDSN(t, admin, dsn, "probe_pg_plain", "Plain-pw-1193", "")
	p := openProbe(t, pdsn, Options{})
	s := p.Snapshot(context.Background())
	requireOK(t, "statements", s.Statements.Status)
	if s.Statements.Hidden == 0 {
		t.Fatal("no hidden statement for a role without pg_read_all_stats")
	}
	want := "GRANT pg_read_all_stats TO probe_pg_plain"
	if !strings.Contains(s.Statements.Status.Detail, want) || !strings.Contains(s.Status.Detail, want) {
		t.Errorf("status %q, want it to say %q", s.Statements.Status.Detail, want)
	}
	for _, r := range s.Statements.Rows {
		if r.Hidden && (r.Query != "<insufficient privilege>" || r.HiddenCount == 0 || r.Calls == 0) {
			t.Errorf("hidden row %+v", r)
		}
		if r.Query == eventsByUser {
			t.Errorf("text of another role visible: %+v", r)
		}
	}
	// Two snapshots of hidden rows still diff without negatives.
	workload(t, admin, 2)
	w := Diff(s, p.Snapshot(context.Background()))
	for _, r := range w.Statements.Rows {
		if r.Calls < 0 || r.TotalTime < 0 {
			t.Errorf("negative: %+v", r)
		}
	}
}

// writeRe matches the keywords of statements that write or change schema.
var writeRe = regexp.MustCompile(`(?i)\b(INSERT|UPDATE|DELETE|MERGE|CREATE|DROP|ALTER|TRUNCATE|COPY|GRANT|REVOKE|VACUUM|REINDEX|CLUSTER|ANALYZE|ANALYSE|LOCK|REFRESH|COMMENT|SECURITY|IMPORT|CALL|DO|NOTIFY|LISTEN)\b`)

// TestSafety drives every probe function as a dedicated role and then reads
// what that role ran from pg_stat_statements: nothing may write.
func TestSafety(t *testing.T) {
	dsn := fixture(t)
	admin := adminConn(t, dsn)
	workload(t, admin, 3)
	const role = "probe_pg_safety"
	sdsn := roleDSN(t, admin, dsn, role, "Safety-pw-5521", "pg_monitor")
	// The role may read the tables so that pg_stats and EXPLAIN work.
	if _, err := admin.Exec(context.Background(), "GRANT SELECT ON ALL TABLES IN SCHEMA public TO "+role); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = admin.Exec(context.Background(), "REVOKE SELECT ON ALL TABLES IN SCHEMA public FROM "+role)
	})
	p := openProbe(t, sdsn, Options{SessionMinAge: 10 * time.Millisecond})
	ctx := context.Background()

	s1 := p.Snapshot(ctx)
	if !s1.Status.Ok() || len(s1.ColumnStats.Rows) == 0 {
		t.Fatalf("snapshot as %s: %+v, %d column stats", role, s1.Status, len(s1.ColumnStats.Rows))
	}
	_ = Diff(s1, p.Snapshot(ctx))
	if _, err := p.Explain(ctx, eventsByUser); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{"SELECT 1 WHERE $1 IS NULL", "DELETE FROM users", "SELECT * FROM no_such_table"} {
		if _, err := p.Explain(ctx, q); !errors.As(err, new(*SkipError)) {
			t.Errorf("Explain(%q) = %v", q, err)
		}
	}
	res, err := p.HypotheticalCost(ctx, eventsByUser, "CREATE INDEX ON events (user_id)")
	if err != nil || !res.Used {
		t.Fatalf("hypothetical index as %s: %+v, %v", role, res, err)
	}

	// Every session is read-only and bounded.
	c, err := p.pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for setting, want := range map[string]string{"default_transaction_read_only": "on", "application_name": ApplicationName,
		"statement_timeout": "2s", "lock_timeout": "500ms", "idle_in_transaction_session_timeout": "10s"} {
		var got string
		if err := c.QueryRow(ctx, "SELECT current_setting($1)", setting).Scan(&got); err != nil || got != want {
			t.Errorf("%s = %q, %v; want %q", setting, got, err, want)
		}
	}
	_, err = c.Exec(ctx, "UPDATE users SET name = name WHERE id = 1")
	if err == nil || !strings.Contains(err.Error(), "read-only transaction") {
		t.Errorf("a write through the probe's session: %v", err)
	}
	c.Release()

	rows, err := admin.Query(ctx, `SELECT query FROM pg_stat_statements
		WHERE userid = (SELECT oid FROM pg_roles WHERE rolname = $1)
		  AND dbid = (SELECT oid FROM pg_database WHERE datname = current_database())`, role)
	if err != nil {
		t.Fatal(err)
	}
	texts, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	if len(texts) < 10 {
		t.Fatalf("only %d statements of %s in pg_stat_statements", len(texts), role)
	}
	sawExplain, sawHypo := false, false
	for _, q := range texts {
		// The probe tags its statements; what follows the tag is checked.
		q = strings.TrimPrefix(q, probeTag)
		if q == "UPDATE users SET name = name WHERE id = $1" {
			continue // the test's own attempt above, refused as read-only
		}
		if m := writeRe.FindString(q); m != "" {
			t.Errorf("advisor ran a statement with %s: %s", m, q)
		}
		sawExplain = sawExplain || strings.HasPrefix(q, "EXPLAIN")
		sawHypo = sawHypo || strings.Contains(q, "hypopg_create_index")
	}
	if !sawExplain || !sawHypo {
		t.Errorf("explain %v, hypopg %v not seen in %d statements", sawExplain, sawHypo, len(texts))
	}
}

func TestPasswordNeverShown(t *testing.T) {
	dsn := fixture(t)
	admin := adminConn(t, dsn)
	const role, password = "probe_pg_pw", "Pa55-Word-Sekret-7731"
	good := roleDSN(t, admin, dsn, role, password, "pg_monitor")
	gu, _ := url.Parse(good)
	check := func(name, text, want string) {
		t.Helper()
		if strings.Contains(text, password) || strings.Contains(text, "Sekret") {
			t.Errorf("%s: password in %q", name, text)
		}
		if !strings.Contains(text, want) {
			t.Errorf("%s: %q does not say %q", name, text, want)
		}
	}
	ctx := context.Background()

	// The server is down (nothing listens on port 1).
	down := *gu
	down.Host = "127.0.0.1:1"
	for _, d := range []string{down.String(),
		"host=127.0.0.1 port=1 user=" + role + " password=" + password + " dbname=" + testDB + " sslmode=disable"} {
		p := openProbe(t, d, Options{})
		s := p.Snapshot(ctx)
		if s.Status.State != source.Unavailable {
			t.Errorf("down: %+v", s.Status)
		}
		check("down", s.Status.Detail, "connection refused at 127.0.0.1:1")
		check("down statements", s.Statements.Status.Detail, "server unavailable")
		_, err := p.Explain(ctx, "SELECT 1")
		check("down explain", err.Error(), "connection refused")
		_, err = p.HypotheticalCost(ctx, "SELECT 1", "CREATE INDEX ON users (id)")
		check("down hypopg", err.Error(), "connection refused")
	}

	// A wrong password: the wrong one must not show either.
	wrong := *gu
	const wrongPassword = "Wr0ng-Sekret-Guess"
	wrong.User = url.UserPassword(role, wrongPassword)
	p := openProbe(t, wrong.String(), Options{})
	s := p.Snapshot(ctx)
	check("wrong password", s.Status.Detail, "password authentication failed")
	if strings.Contains(s.Status.Detail, wrongPassword) {
		t.Errorf("wrong password shown: %q", s.Status.Detail)
	}
	_, err := p.Explain(ctx, "SELECT 1")
	check("wrong password explain", err.Error(), "password authentication failed")

	// A malformed DSN.
	_, err = Open(ctx, "postgres://"+role+":"+password+"@127.0.0.1:notaport/x", Options{})
	if err == nil {
		t.Fatal("malformed DSN accepted")
	}
	check("malformed", err.Error(), "invalid DSN")

	// And the right password works.
	ok := openProbe(t, good, Options{})
	if s := ok.Snapshot(ctx); !s.Status.Ok() {
		t.Errorf("good password: %+v", s.Status)
	}
}

func TestOwnStatementsLeftOut(t *testing.T) {
	dsn := stacktest.NewDatabase(t, "probe_pg_own")
	p := openProbe(t, dsn, Options{})
	ctx := context.Background()
	// Two rounds: the second sees the first's statements if they are not
	// left out.
	_ = p.Snapshot(ctx)
	if _, err := p.Explain(ctx, "SELECT relname FROM pg_class WHERE relpages > $1"); err != nil {
		t.Fatal(err)
	}
	s := p.Snapshot(ctx)
	if !s.Statements.Status.Ok() {
		t.Fatalf("statements: %+v", s.Statements.Status)
	}
	for _, st := range s.Statements.Rows {
		if strings.Contains(st.Query, "advisor */") || strings.Contains(st.Query, "FROM pg_settings WHERE name = ANY") {
			t.Errorf("the probe's own statement is analysed: %s", st.Query)
		}
	}
}

// TestTextsReadOnce: a snapshot reads the query texts of the statements it
// has not seen before only, and every statement still has its text.
func TestTextsReadOnce(t *testing.T) {
	dsn := stacktest.NewDatabase(t, "probe_pg_texts")
	p := openProbe(t, dsn, Options{})
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "SELECT count(*) FROM pg_class WHERE relpages > $1", 1); err != nil {
		t.Fatal(err)
	}
	first := p.Snapshot(ctx)
	if first.Statements.TextsRead == 0 {
		t.Fatalf("first snapshot read no text: %+v", first.Statements.Status)
	}
	// The probe's own statements of the first round are new to the
	// second; by the third nothing is new.
	_ = p.Snapshot(ctx)
	third := p.Snapshot(ctx)
	if third.Statements.TextsRead != 0 {
		t.Errorf("third snapshot read %d texts, want 0", third.Statements.TextsRead)
	}
	if _, err := conn.Exec(ctx, "SELECT count(*) FROM pg_attribute WHERE attnum > $1", 2); err != nil {
		t.Fatal(err)
	}
	fourth := p.Snapshot(ctx)
	if fourth.Statements.TextsRead != 1 {
		t.Errorf("after one new statement a snapshot read %d texts, want 1", fourth.Statements.TextsRead)
	}
	want := map[string]bool{"SELECT count(*) FROM pg_class WHERE relpages > $1": false, "SELECT count(*) FROM pg_attribute WHERE attnum > $1": false}
	for _, st := range fourth.Statements.Rows {
		if st.Query == "" {
			t.Errorf("statement %d without its text", st.QueryID)
		}
		if _, ok := want[st.Query]; ok {
			want[st.Query] = true
		}
	}
	for q, seen := range want {
		if !seen {
			t.Errorf("%q not in the snapshot", q)
		}
	}
}

// TestColumnStatsReadAfterAnalyse: pg_stats is read again only once a hot
// table was analysed since the last read.
func TestColumnStatsReadAfterAnalyse(t *testing.T) {
	dsn := stacktest.NewDatabase(t, "probe_pg_colstats")
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `CREATE TABLE hot (id int, v text);
		INSERT INTO hot SELECT i, 'v' || i FROM generate_series(1, 1000) i; ANALYZE hot`); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, "SELECT count(*) FROM hot WHERE id > $1", 5); err != nil {
		t.Fatal(err)
	}
	reads := func() int64 {
		var n int64
		err := conn.QueryRow(ctx, `SELECT coalesce(sum(calls), 0)::int8 FROM pg_stat_statements
			WHERE query LIKE '/* advisor */ SELECT schemaname::text, tablename::text, attname%'
			AND dbid = (SELECT oid FROM pg_database WHERE datname = current_database())`).Scan(&n)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	p := openProbe(t, dsn, Options{})
	var s *Snapshot
	for range 3 {
		s = p.Snapshot(ctx)
	}
	if n := reads(); n != 1 {
		t.Errorf("pg_stats read %d times in 3 snapshots, want 1", n)
	}
	if len(s.ColumnStats.Rows) == 0 || !s.ColumnStats.Status.Ok() {
		t.Fatalf("column stats of the last snapshot: %+v", s.ColumnStats)
	}
	if _, err := conn.Exec(ctx, "ANALYZE hot"); err != nil {
		t.Fatal(err)
	}
	_ = p.Snapshot(ctx)
	if n := reads(); n != 2 {
		t.Errorf("pg_stats read %d times after ANALYZE, want 2", n)
	}
}
