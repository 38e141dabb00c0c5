package rules

import (
	"context"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgadvisor/advisor/internal/config"
	"github.com/pgadvisor/advisor/internal/probe"
	"github.com/pgadvisor/advisor/internal/probe/postgres"
	"github.com/pgadvisor/advisor/internal/probe/source"
	"github.com/pgadvisor/advisor/internal/stack/stacktest"
)

// maintRules are the maintenance rules of issue 15 (part 2), from the
// built-in rules.yaml, with params overridden by name ("rule/param").
func maintRules(t testing.TB, overrides map[string]any) ([]*Rule, Registry) {
	t.Helper()
	set := loadBuiltin(t)
	var out []*Rule
	for _, d := range []Detector{dbVacuumLag, dbTableBloat, dbTempFiles, dbSettings} {
		r := set.Rule(d.RuleID()).clone()
		for i, p := range r.Params {
			if v, ok := overrides[r.ID+"/"+p.Name]; ok {
				r.Params[i].Value = v
			}
		}
		out = append(out, r)
	}
	return out, NewRegistry(dbVacuumLag, dbTableBloat, dbTempFiles, dbSettings)
}

func maintRun(t testing.TB, w *probe.Window, overrides map[string]any) []Finding {
	t.Helper()
	rs, reg := maintRules(t, overrides)
	fs, errs := Run(context.Background(), &Input{Window: w}, rs, reg)
	for _, err := range errs {
		t.Errorf("run: %v", err)
	}
	for _, f := range fs {
		t.Logf("%s %s [%s] %s", f.Severity, f.Rule, f.Subject, f.Title)
	}
	return fs
}

// maintDatabase creates a fresh database named name on the private stack
// and connects to it; the context ends after timeout, and the connection
// closes with the test.
func maintDatabase(t testing.TB, name string, timeout time.Duration) (ctx context.Context, dsn string, conn *pgx.Conn) {
	t.Helper()
	dsn = stacktest.NewDatabase(t, name)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	t.Cleanup(cancel)
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return ctx, dsn, conn
}

// maintWindow opens the PostgreSQL probe on dsn and takes a window's first
// snapshot; the function it returns flushes conn's statistics, takes the
// last one and returns the window between them. The probe closes with the
// test.
func maintWindow(ctx context.Context, t testing.TB, dsn string, conn *pgx.Conn) (*postgres.Probe, func() *probe.Window) {
	t.Helper()
	pg, err := postgres.Open(ctx, dsn, postgres.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pg.Close)
	snapshot := func() *probe.Snapshot {
		s := &probe.Snapshot{Postgres: pg.Snapshot(ctx)}
		s.Time = s.Postgres.Time
		s.Status = map[string]source.Status{probe.Postgres: s.Postgres.Status}
		return s
	}
	first := snapshot()
	return pg, func() *probe.Window {
		t.Helper()
		maintFlush(t, conn)
		return probe.NewWindow(first, snapshot())
	}
}

func maintExec(t testing.TB, conn *pgx.Conn, stmts ...string) {
	t.Helper()
	for _, q := range stmts {
		if _, err := conn.Exec(context.Background(), q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
}

func maintFlush(t testing.TB, conn *pgx.Conn) {
	t.Helper()
	maintExec(t, conn, "SELECT pg_stat_force_next_flush()", "SELECT 1")
}

func maintFind(fs []Finding, rule, subjectPart string) *Finding {
	for i := range fs {
		if fs[i].Rule == rule && strings.Contains(fs[i].Subject, subjectPart) {
			return &fs[i]
		}
	}
	return nil
}

// TestMaintenanceFixtures builds each rule's case for real on the private
// stack, beside healthy tables that must not be flagged:
//   - db.vacuum-lag: 200k dead tuples from updates on a table with
//     autovacuum_enabled = false;
//   - db.table-bloat: a table with 90% of its rows deleted and vacuumed
//     (its pages stay), with min_bloat_bytes lowered to the fixture's size;
//   - db.temp-files: a sort of 200k rows under work_mem = 64kB;
//   - db.settings: enable_nestloop turned off for the database.
func TestMaintenanceFixtures(t *testing.T) {
	if testing.Short() {
		t.Skip("builds tables of 200k rows on the private stack")
	}
	t.Parallel() // a database of its own, and no load whose rate it measures
	ctx, dsn, conn := maintDatabase(t, "rules_db_maintenance", 3*time.Minute)
	maintExec(t, conn,
		`CREATE TABLE loans_novac (id int PRIMARY KEY, member_id int NOT NULL, note text) WITH (autovacuum_enabled = false)`,
		`INSERT INTO loans_novac SELECT i, i % 2000, 'n' || i FROM generate_series(1, 200000) i`,
		`ANALYZE loans_novac`,
		`UPDATE loans_novac SET note = note || '!'`,
		`CREATE TABLE holes (id int PRIMARY KEY, pad text) WITH (autovacuum_enabled = false)`,
		`INSERT INTO holes SELECT i, repeat('x', 200) FROM generate_series(1, 200000) i`,
		`DELETE FROM holes WHERE id % 10 <> 0`,
		// The delete's counts reach the statistics before the vacuum
		// that clears them.
		`SELECT pg_stat_force_next_flush()`, `SELECT 1`,
		`VACUUM ANALYZE holes`,
		`CREATE TABLE healthy (id int PRIMARY KEY, v int, pad text)`,
		`INSERT INTO healthy SELECT i, i % 97, repeat('y', 50) FROM generate_series(1, 200000) i`,
		`VACUUM ANALYZE healthy`,
		`ALTER DATABASE rules_db_maintenance SET enable_nestloop = off`,
	)
	maintFlush(t, conn)

	// Generous timeouts: the shared test machine may be very busy (loads of
	// 20 to 40 on its 2 cores were seen).
	probes, err := probe.Open(ctx, probe.Config{Sources: config.Sources{PG: dsn}, Timeout: time.Minute,
		Postgres: postgres.Options{StatementTimeout: 20 * time.Second, CollectorTimeout: 25 * time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	defer probes.Close()
	first := probes.Snapshot(ctx)

	// The spilling sort, on a session of its own with a tiny work_mem.
	sorter, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer sorter.Close(context.Background())
	maintExec(t, sorter, "SET work_mem = '64kB'")
	for i := 0; i < 5; i++ {
		rows, err := sorter.Query(ctx, "SELECT id, pad FROM healthy ORDER BY pad DESC, v, id")
		if err != nil {
			t.Fatal(err)
		}
		rows.Close()
		if rows.Err() != nil {
			t.Fatal(rows.Err())
		}
	}
	maintFlush(t, sorter)
	// A machine busy with other tests may let a collector time out: the
	// part then says so; read again.
	last := probes.Snapshot(ctx)
	for i := 0; i < 2 && (!last.Postgres.Maintenance.Status.Ok() || !last.Postgres.Statements.Status.Ok()); i++ {
		last = probes.Snapshot(ctx)
	}
	w := probe.NewWindow(first, last)
	if w.Postgres == nil || !w.Postgres.Cur.Maintenance.Status.Ok() {
		if w.Postgres != nil {
			c := w.Postgres.Cur
			t.Fatalf("maintenance not read: %v; tables %v; server %v", c.Maintenance.Status, c.Tables.Status, c.Server.Status)
		}
		t.Fatal("no PostgreSQL window")
	}
	fs := maintRun(t, w, map[string]any{"db.table-bloat/min_bloat_bytes": 10 << 20})

	t.Run("db.vacuum-lag", func(t *testing.T) {
		f := maintFind(fs, dbVacuumLag.ID, "loans_novac")
		if f == nil {
			t.Fatal("no db.vacuum-lag on loans_novac (autovacuum off, 200k dead tuples)")
		}
		if f.Severity != Warning || f.Evidence["autovacuum_enabled"] != false || f.Evidence["dead_tuples"].(int64) < 190000 {
			t.Errorf("finding %v %v", f.Severity, f.Evidence)
		}
		if !strings.Contains(f.Fix.SQL, "RESET (autovacuum_enabled)") || !strings.Contains(f.Fix.SQL, "VACUUM (ANALYZE) loans_novac") {
			t.Errorf("fix SQL %q", f.Fix.SQL)
		}
		if g := maintFind(fs, dbVacuumLag.ID, "healthy"); g != nil {
			t.Errorf("false positive on a vacuumed table: %s", g.Title)
		}
	})
	t.Run("db.table-bloat", func(t *testing.T) {
		f := maintFind(fs, dbTableBloat.ID, "holes")
		if f == nil {
			t.Fatal("no db.table-bloat on holes (90% of its rows deleted)")
		}
		if share, _ := f.Evidence["bloat_share"].(float64); share < 0.8 {
			t.Errorf("bloat share %v, want about 0.9", share)
		}
		for _, name := range []string{"healthy", "loans_novac"} {
			if g := maintFind(fs, dbTableBloat.ID, name); g != nil {
				t.Errorf("false positive on %s: %s", name, g.Title)
			}
		}
	})
	t.Run("db.temp-files", func(t *testing.T) {
		var f *Finding
		for i := range fs {
			if fs[i].Rule == dbTempFiles.ID && strings.Contains(fs[i].Evidence["query"].(string), "ORDER BY pad DESC") {
				f = &fs[i]
			}
		}
		if f == nil {
			t.Fatal("no db.temp-files on the sort under work_mem = 64kB")
		}
		if f.Evidence["calls"].(int64) != 5 || f.Evidence["temp_bytes_per_call"].(int64) < 1<<20 {
			t.Errorf("evidence %v", f.Evidence)
		}
		if !strings.Contains(f.Fix.SQL, "SET LOCAL work_mem = '") {
			t.Errorf("fix SQL %q", f.Fix.SQL)
		}
	})
	t.Run("db.settings", func(t *testing.T) {
		f := maintFind(fs, dbSettings.ID, "enable_nestloop")
		if f == nil {
			t.Fatal("no db.settings on enable_nestloop = off")
		}
		if f.Severity != Warning || f.Evidence["source"] != "database" {
			t.Errorf("%v %v", f.Severity, f.Evidence)
		}
		// The private stack keeps fsync and full_page_writes on.
		for _, g := range fs {
			if g.Rule == dbSettings.ID && g.Severity == Critical {
				t.Errorf("critical settings finding on the private stack: %s", g.Title)
			}
		}
	})
}

// TestDBSettingsDangerous: settings the private stack cannot run with (it
// keeps fsync on) give their findings from a snapshot made by hand:
// fsync and full_page_writes off are critical, autovacuum off a warning,
// shared_buffers at its default on a big host info; and the rule's
// severity is the ceiling.
func TestDBSettingsDangerous(t *testing.T) {
	setting := func(name, value, boot, unit string) postgres.SettingInfo {
		return postgres.SettingInfo{Name: name, Value: value, Boot: boot, Unit: unit, Source: "configuration file"}
	}
	cur := &postgres.Snapshot{Maintenance: postgres.Maintenance{
		Status:      source.Status{State: source.OK},
		MemoryBytes: 64 << 30,
		BlockSize:   8192,
		Settings: []postgres.SettingInfo{
			setting("fsync", "off", "on", ""),
			setting("full_page_writes", "off", "on", ""),
			setting("autovacuum", "off", "on", ""),
			setting("track_counts", "on", "on", ""),
			setting("shared_buffers", "16384", "16384", "8kB"),
			setting("work_mem", "4096", "4096", "kB"),
			setting("enable_seqscan", "on", "on", ""),
			setting("enable_partitionwise_join", "off", "off", ""),
		},
	}}
	w := &probe.Window{Postgres: &postgres.Window{Cur: cur}}
	fs := maintRun(t, w, nil)
	want := map[string]Severity{"setting fsync": Critical, "setting full_page_writes": Critical,
		"setting autovacuum": Warning, "setting shared_buffers": Info}
	got := map[string]Severity{}
	for _, f := range fs {
		if f.Rule == dbSettings.ID {
			got[f.Subject] = f.Severity
			// A setting is read, not sampled: sure whatever the window.
			if f.Confidence == nil || f.Confidence.Score != 1 {
				t.Errorf("%s: confidence %+v, want 1 (the server's settings)", f.Subject, f.Confidence)
			}
		}
	}
	if !maps.Equal(got, want) {
		t.Errorf("findings %v, want %v", got, want)
	}
	// A rules file that lowers the rule to warning caps fsync there.
	rs, reg := maintRules(t, nil)
	for _, r := range rs {
		if r.ID == dbSettings.ID {
			r.Severity = Warning
		}
	}
	fs, _ = Run(context.Background(), &Input{Window: w}, rs, reg)
	for _, f := range fs {
		if f.Severity > Warning {
			t.Errorf("above the rule's severity: %v %s", f.Severity, f.Title)
		}
	}
}
