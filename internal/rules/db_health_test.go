package rules

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgadvisor/advisor/internal/probe"
	"github.com/pgadvisor/advisor/internal/probe/postgres"
	"github.com/pgadvisor/advisor/internal/probe/source"
	"github.com/pgadvisor/advisor/internal/stack"
	"github.com/pgadvisor/advisor/internal/stack/stacktest"
)

// The fixtures of the server-health rules: each creates the state for real,
// on the shared stack (a database of its own) or on a scratch cluster the
// test owns (pg_resetwal, replicas, a small max_connections), reads it with
// the probe and runs the rule with its built-in params.

// healthWindow reads two snapshots of dsn a moment apart, as a report does.
func healthWindow(t *testing.T, dsn string, opts postgres.Options) *probe.Window {
	t.Helper()
	ctx := context.Background()
	pg, err := postgres.Open(ctx, dsn, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer pg.Close()
	snap := func() *probe.Snapshot {
		s := &probe.Snapshot{Postgres: pg.Snapshot(ctx)}
		s.Time = s.Postgres.Time
		s.Status = map[string]source.Status{probe.Postgres: s.Postgres.Status}
		if !s.Postgres.Health.Status.Ok() {
			t.Fatalf("health part: %+v", s.Postgres.Health.Status)
		}
		return s
	}
	first := snap()
	time.Sleep(100 * time.Millisecond)
	return probe.NewWindow(first, snap())
}

// healthDetect runs one health rule, with some params changed, on a fresh
// window of dsn.
func healthDetect(t *testing.T, dsn, id string, params map[string]any) []Finding {
	t.Helper()
	return dbDetect(t, healthWindow(t, dsn, postgres.Options{}), dbRule(t, id, params))
}

// healthExec runs statements on dsn.
func healthExec(t *testing.T, dsn string, stmts ...string) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	for _, sql := range stmts {
		if _, err := conn.Exec(ctx, sql); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
}

// healthOne returns the one finding with subject, failing the test when
// there is none.
func healthOne(t *testing.T, fs []Finding, subject string) Finding {
	t.Helper()
	for _, f := range fs {
		if f.Subject == subject {
			return f
		}
	}
	t.Fatalf("no finding about %q in %d findings: %v", subject, len(fs), fs)
	return Finding{}
}

func healthSkipShort(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("needs the private stack")
	}
}

func TestHealthSequenceExhaustionFixture(t *testing.T) {
	healthSkipShort(t)
	t.Parallel() // servers or a database of its own, and no load whose rate it measures
	dsn := stacktest.NewDatabase(t, "rules_health_seq")
	healthExec(t, dsn,
		// serial: an integer column on an integer sequence, at 95%.
		`CREATE TABLE narrow (id serial PRIMARY KEY)`,
		`SELECT setval('narrow_id_seq', 2040109465)`,
		// A bigint sequence feeding an integer column, at 99% of the
		// column's range and nothing of its own.
		`CREATE SEQUENCE wide_seq AS bigint`,
		`CREATE TABLE wide (id integer DEFAULT nextval('wide_seq') PRIMARY KEY)`,
		`ALTER SEQUENCE wide_seq OWNED BY wide.id`,
		`SELECT setval('wide_seq', 2126008811)`,
		// Healthy: a bigserial, and an integer sequence at 50%.
		`CREATE TABLE roomy (id bigserial PRIMARY KEY)`,
		`INSERT INTO roomy DEFAULT VALUES`,
		`CREATE TABLE half (id serial PRIMARY KEY)`,
		`SELECT setval('half_id_seq', 1073741824)`,
	)
	fs := healthDetect(t, dsn, "db.sequence-exhaustion", nil)
	if len(fs) != 2 {
		t.Fatalf("want 2 findings, got %d: %v", len(fs), fs)
	}
	n := healthOne(t, fs, "narrow_id_seq")
	if n.Severity != Warning || n.Evidence["limited_by"] != "sequence" || n.Evidence["table"] != "narrow" ||
		!strings.Contains(n.Fix.SQL, "ALTER TABLE narrow ALTER COLUMN id TYPE bigint;") ||
		!strings.Contains(n.Fix.SQL, "ALTER SEQUENCE narrow_id_seq AS bigint;") {
		t.Errorf("narrow: %s %v %q", n.Severity, n.Evidence, n.Fix.SQL)
	}
	w := healthOne(t, fs, "wide_seq")
	if w.Severity != Critical || w.Evidence["limited_by"] != "column" || w.Evidence["column_type"] != "integer" ||
		w.Fix.SQL != "ALTER TABLE wide ALTER COLUMN id TYPE bigint;" || !strings.Contains(w.Title, "integer") {
		t.Errorf("wide: %s %s %v %q", w.Severity, w.Title, w.Evidence, w.Fix.SQL)
	}
}

func TestHealthXIDWraparoundFixture(t *testing.T) {
	healthSkipShort(t)
	t.Parallel() // a scratch cluster of its own (or a database of its own): it mostly waits for servers
	// Anti-wraparound autovacuum would freeze the fixture away: it starts
	// at autovacuum_freeze_max_age, here its maximum.
	c := stacktest.Cluster(t, "autovacuum = off\nautovacuum_freeze_max_age = 2000000000\n")
	dsn := c.DSN(c.Database())
	// ledger, autovacuum disabled, is the one table never frozen: the
	// others are (a server that vacuums them).
	healthExec(t, dsn, `CREATE TABLE ledger (id bigint PRIMARY KEY, amount numeric) WITH (autovacuum_enabled = false)`,
		`INSERT INTO ledger SELECT g, g FROM generate_series(1, 1000) g`)
	healthFreezeAllBut(t, dsn, "ledger")
	if fs := healthDetect(t, dsn, "db.xid-wraparound", nil); len(fs) != 0 {
		t.Fatalf("a new cluster: %v", fs)
	}
	ctx := context.Background()
	for _, step := range []struct {
		share float64
		want  Severity
	}{{0.6, Warning}, {0.85, Critical}} {
		if err := c.SetNextXID(ctx, uint32(step.share*dbXIDSpace)); err != nil {
			t.Fatal(err)
		}
		fs := healthDetect(t, dsn, "db.xid-wraparound", nil)
		f := healthOne(t, fs, "database "+c.Database())
		share, _ := f.Evidence["age_share"].(float64)
		if f.Severity != step.want || share < step.share-0.01 || share > step.share+0.01 ||
			!strings.HasPrefix(f.Evidence["oldest_tables"].(string), "ledger (age ") ||
			!strings.Contains(f.Fix.SQL, "VACUUM (FREEZE, VERBOSE) ledger;") {
			t.Errorf("at %.0f%%: %s %s %v %q", step.share*100, f.Severity, f.Title, f.Evidence, f.Fix.SQL)
		}
	}
}

// healthFreezeAllBut runs VACUUM (FREEZE) on every table of dsn's
// database but one.
func healthFreezeAllBut(t *testing.T, dsn, keep string) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `SELECT format('%I.%I', n.nspname, c.relname) FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind IN ('r', 'm') AND c.relname <> $1`, keep)
	if err != nil {
		t.Fatal(err)
	}
	tables, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range tables {
		if _, err := conn.Exec(ctx, "VACUUM (FREEZE) "+name); err != nil {
			t.Fatalf("vacuum %s: %v", name, err)
		}
	}
}

func TestHealthInvalidIndexFixture(t *testing.T) {
	healthSkipShort(t)
	t.Parallel() // servers or a database of its own, and no load whose rate it measures
	dsn := stacktest.NewDatabase(t, "rules_health_invalid")
	healthExec(t, dsn, `CREATE TABLE members (id bigint PRIMARY KEY, email text)`,
		`INSERT INTO members VALUES (1, 'a@example.com'), (2, 'a@example.com'), (3, 'b@example.com')`,
		`CREATE INDEX members_email_idx ON members (email)`)
	if fs := healthDetect(t, dsn, "db.invalid-index", nil); len(fs) != 0 {
		t.Fatalf("valid indexes only: %v", fs)
	}
	conn, err := pgx.Connect(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	_, err = conn.Exec(context.Background(), `CREATE UNIQUE INDEX CONCURRENTLY members_email_key ON members (email)`)
	conn.Close(context.Background())
	if err == nil || !strings.Contains(err.Error(), "could not create unique index") {
		t.Fatalf("the concurrent unique build should fail on the duplicate: %v", err)
	}
	fs := healthDetect(t, dsn, "db.invalid-index", nil)
	if len(fs) != 1 {
		t.Fatalf("want one finding: %v", fs)
	}
	f := fs[0]
	if f.Subject != "members_email_key" || f.Severity != Warning || f.Evidence["unique"] != true ||
		f.Fix.SQL != "DROP INDEX CONCURRENTLY members_email_key;\nCREATE UNIQUE INDEX CONCURRENTLY members_email_key ON public.members USING btree (email);" {
		t.Errorf("%s %s %v %q", f.Severity, f.Subject, f.Evidence, f.Fix.SQL)
	}
}

func TestHealthXminHorizonFixture(t *testing.T) {
	healthSkipShort(t)
	t.Parallel() // a scratch cluster of its own (or a database of its own): it mostly waits for servers
	c := stacktest.Cluster(t, "max_prepared_transactions = 2\nwal_level = logical\n")
	dsn := c.DSN(c.Database())
	healthExec(t, dsn, `CREATE TABLE orders (id bigint PRIMARY KEY, state text)`,
		// A logical slot whose consumer never came: it holds the catalogs'
		// horizon. Created first: it waits for running transactions.
		`SELECT pg_create_logical_replication_slot('forgotten_cdc', 'test_decoding')`,
		// A prepared transaction its transaction manager forgot.
		`BEGIN`, `INSERT INTO orders VALUES (1, 'paid')`, `PREPARE TRANSACTION 'checkout-42'`)
	if fs := healthDetect(t, dsn, "db.xmin-horizon", nil); len(fs) != 0 {
		t.Fatalf("young holders: %v", fs)
	}
	ctx := context.Background()
	// 60 million transactions later (pg_resetwal): past min_xid_age.
	if err := c.SetNextXID(ctx, 60_000_000); err != nil {
		t.Fatal(err)
	}
	fs := healthDetect(t, dsn, "db.xmin-horizon", nil)
	p := healthOne(t, fs, "prepared transaction checkout-42")
	s := healthOne(t, fs, "replication slot forgotten_cdc")
	for _, f := range []Finding{p, s} {
		if age, _ := f.Evidence["xid_age"].(int64); f.Severity != Warning || age < 59_000_000 {
			t.Errorf("%s: %s %v", f.Subject, f.Severity, f.Evidence)
		}
	}
	if !strings.HasPrefix(p.Fix.SQL, "ROLLBACK PREPARED 'checkout-42';") || s.Evidence["catalog_only"] != true ||
		!strings.Contains(s.Fix.SQL, "pg_drop_replication_slot('forgotten_cdc')") {
		t.Errorf("fixes: %q %q %v", p.Fix.SQL, s.Fix.SQL, s.Evidence)
	}

	// A session idle in its transaction: by time (min_age_seconds
	// lowered; a report waits no hour).
	conn, err := pgx.Connect(ctx, dsn+"&application_name=billing")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "BEGIN; INSERT INTO orders VALUES (2, 'new')"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1500 * time.Millisecond)
	fs = healthDetect(t, dsn, "db.xmin-horizon", map[string]any{"min_age_seconds": 1.0})
	b := healthOne(t, fs, "billing on "+c.Database())
	if b.Severity != Warning || b.Evidence["state"] != "idle in transaction" || !strings.HasPrefix(b.Fix.SQL, "SELECT pg_terminate_backend(") {
		t.Errorf("session: %s %v %q", b.Severity, b.Evidence, b.Fix.SQL)
	}
	conn.Close(ctx)

	// 250 million: past autovacuum_freeze_max_age (200 million), critical.
	if err := c.SetNextXID(ctx, 250_000_000); err != nil {
		t.Fatal(err)
	}
	fs = healthDetect(t, dsn, "db.xmin-horizon", nil)
	for _, subject := range []string{"prepared transaction checkout-42", "replication slot forgotten_cdc"} {
		if f := healthOne(t, fs, subject); f.Severity != Critical {
			t.Errorf("%s at 250 million: %s %v", subject, f.Severity, f.Evidence)
		}
	}
	healthExec(t, dsn, `ROLLBACK PREPARED 'checkout-42'`, `SELECT pg_drop_replication_slot('forgotten_cdc')`)
	if fs := healthDetect(t, dsn, "db.xmin-horizon", nil); len(fs) != 0 {
		t.Errorf("released, still reported: %v", fs)
	}
}

func TestHealthConnectionsFixture(t *testing.T) {
	healthSkipShort(t)
	t.Parallel() // a scratch cluster of its own (or a database of its own): it mostly waits for servers
	// 20 slots, 3 reserved for superusers: 17 for ordinary roles.
	c := stacktest.Cluster(t, "max_connections = 20\n")
	dsn := c.DSN(c.Database())
	ctx := context.Background()
	var held []*pgx.Conn
	defer func() {
		for _, conn := range held {
			conn.Close(ctx)
		}
	}()
	hold := func(n int) {
		t.Helper()
		for len(held) < n {
			conn, err := pgx.Connect(ctx, dsn+"&application_name=worker")
			if err != nil {
				t.Fatal(err)
			}
			held = append(held, conn)
		}
	}
	// The probe with one connection of its own: the sessions counted are
	// those held plus it.
	detect := func() []Finding {
		return dbDetect(t, healthWindow(t, dsn, postgres.Options{MaxConns: 1}), dbRule(t, "db.connections", nil))
	}
	hold(10)
	if fs := detect(); len(fs) != 0 {
		t.Fatalf("11 of 17: %v", fs)
	}
	for _, step := range []struct {
		held int
		want Severity
	}{{15, Warning}, {17, Critical}} {
		hold(step.held)
		fs := detect()
		if len(fs) != 1 {
			t.Fatalf("%d held: want one finding, got %v", step.held, fs)
		}
		f := fs[0]
		if f.Severity != step.want || f.Evidence["connections"] != step.held+1 || f.Evidence["available_connections"] != 17 ||
			!strings.Contains(f.Evidence["clients"].(string), fmt.Sprintf("worker (advisor on %s): %d", c.Database(), step.held)) {
			t.Errorf("%d held: %s %s %v", step.held, f.Severity, f.Title, f.Evidence)
		}
	}
}

func TestHealthReplicationFixture(t *testing.T) {
	healthSkipShort(t)
	t.Parallel() // a scratch cluster of its own (or a database of its own): it mostly waits for servers
	c := stacktest.Cluster(t, "max_slot_wal_keep_size = 160MB\n")
	dsn := c.DSN(c.Database())
	r := stacktest.Replica(t, c, "fixture_replica")
	rdsn := r.DSN(c.Database())
	healthExec(t, dsn, `CREATE TABLE events (id bigserial PRIMARY KEY, payload text)`)
	if fs := healthDetect(t, dsn, "db.replication", nil); len(fs) != 0 {
		t.Fatalf("a replica that keeps up: %v", fs)
	}

	// A slot nobody consumes, retaining WAL: 16 MB a switch.
	healthExec(t, dsn, `SELECT pg_create_physical_replication_slot('abandoned', true)`)
	switches := func(n int) {
		t.Helper()
		for range n {
			healthExec(t, dsn, `INSERT INTO events (payload) VALUES ('x')`, `SELECT pg_switch_wal()`)
		}
	}
	switches(8)
	f := healthOne(t, healthDetect(t, dsn, "db.replication", nil), "replication slot abandoned")
	if b, _ := f.Evidence["retained_bytes"].(int64); f.Severity != Warning || b < 100<<20 || f.Evidence["lost"] != false {
		t.Errorf("retaining: %s %s %v", f.Severity, f.Title, f.Evidence)
	}
	// Past max_slot_wal_keep_size the next checkpoint invalidates it.
	switches(5)
	healthExec(t, dsn, `CHECKPOINT`)
	f = healthOne(t, healthDetect(t, dsn, "db.replication", nil), "replication slot abandoned")
	if f.Severity != Critical || (f.Evidence["wal_status"] != "lost" && f.Evidence["wal_status"] != "unreserved") {
		t.Errorf("past max_slot_wal_keep_size: %s %s %v", f.Severity, f.Title, f.Evidence)
	}
	healthExec(t, dsn, `SELECT pg_drop_replication_slot('abandoned')`)

	// The replica stops replaying; what the primary writes waits. On the
	// standby, the time since the last replayed commit grows past 5 s.
	healthExec(t, rdsn, `SELECT pg_wal_replay_pause()`)
	healthExec(t, dsn, `INSERT INTO events (payload) VALUES ('late')`)
	time.Sleep(6 * time.Second)
	healthExec(t, dsn, `INSERT INTO events (payload) VALUES ('later')`)
	time.Sleep(500 * time.Millisecond)
	f = healthOne(t, healthDetect(t, rdsn, "db.replication", nil), "standby "+c.Database())
	if s, _ := f.Evidence["lag_seconds"].(float64); f.Severity != Warning || s < 5 || f.Evidence["replay_paused"] != true ||
		!strings.Contains(f.Fix.Summary, "pg_wal_replay_resume()") {
		t.Errorf("standby: %s %s %v %q", f.Severity, f.Title, f.Evidence, f.Fix.Summary)
	}
	healthExec(t, rdsn, `SELECT pg_wal_replay_resume()`)
}

// TestHealthNoFalsePositives runs the six rules with their built-in params
// on healthy databases: pgbench's TPC-B tables after a short run on the
// shared stack, and a scratch primary with a replica that keeps up.
func TestHealthNoFalsePositives(t *testing.T) {
	healthSkipShort(t)
	t.Parallel() // a scratch cluster of its own (or a database of its own): it mostly waits for servers
	ids := []string{dbSequenceExhaustion.ID, dbXIDWraparound.ID, dbInvalidIndex.ID, dbXminHorizon.ID,
		dbConnections.ID, dbReplication.ID}
	check := func(label, dsn string) {
		t.Helper()
		w := healthWindow(t, dsn, postgres.Options{})
		for _, id := range ids {
			for _, f := range dbDetect(t, w, dbRule(t, id, nil)) {
				t.Errorf("%s: false positive %s %s: %s %v", label, f.Rule, f.Severity, f.Title, f.Evidence)
			}
		}
	}
	stacktest.Start(t)
	dsn := stacktest.NewDatabase(t, "rules_health_pgbench")
	bin, err := stack.FindPostgres("")
	if err != nil {
		t.Fatal(err)
	}
	pgbench := filepath.Join(bin.Bin, "pgbench")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for _, args := range [][]string{{"-i", "-q", "-s", "1", dsn}, {"-T", "3", "-c", "4", "-j", "2", dsn}} {
		if out, err := exec.CommandContext(ctx, pgbench, args...).CombinedOutput(); err != nil {
			t.Fatalf("pgbench %v: %v\n%s", args[0], err, out)
		}
	}
	healthExec(t, dsn, `CREATE TABLE audit (id serial PRIMARY KEY, at timestamptz DEFAULT now())`,
		`INSERT INTO audit DEFAULT VALUES`)
	check("pgbench", dsn)

	c := stacktest.Cluster(t, "")
	stacktest.Replica(t, c, "healthy_replica")
	check("primary with a replica", c.DSN(c.Database()))
}
