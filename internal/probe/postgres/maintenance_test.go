package postgres

import (
	"context"
	"testing"
	"time"

	"github.com/pgadvisor/advisor/internal/stack/stacktest"
)

func TestExpectedPages(t *testing.T) {
	// 100 000 rows of two int4 and a 20-byte text, no nulls: a 24-byte
	// header, 28 bytes of data padded to 32, a 4-byte line pointer: 60
	// bytes, 136 tuples in an 8 kB page.
	got := ExpectedPages(100000, 0, 23, 28, 100, 8192)
	if got < 730 || got > 740 {
		t.Errorf("ExpectedPages = %d, want about 736", got)
	}
	// A fillfactor of 50 doubles the pages.
	if half := ExpectedPages(100000, 0, 23, 28, 50, 8192); half < 2*got-2 || half > 2*got+2 {
		t.Errorf("fillfactor 50: %d pages, want about %d", half, 2*got)
	}
	if ExpectedPages(0, 0, 23, 28, 100, 8192) != 0 {
		t.Error("no rows, pages expected")
	}
}

func TestParseBool(t *testing.T) {
	for v, want := range map[string]bool{"false": false, "off": false, "0": false, "true": true, "on": true, "junk": true} {
		if got := parseBool(v, true); got != want {
			t.Errorf("parseBool(%q) = %v", v, got)
		}
	}
}

// TestMaintenanceRead reads a table left with autovacuum off and dead
// tuples, and a table whose deleted rows left most of its pages empty.
func TestMaintenanceRead(t *testing.T) {
	dsn := stacktest.NewDatabase(t, "probe_pg_maintenance")
	conn := adminConn(t, dsn)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, q := range []string{
		`CREATE TABLE novac (id int PRIMARY KEY, n int) WITH (autovacuum_enabled = false, fillfactor = 90)`,
		`INSERT INTO novac SELECT i, 0 FROM generate_series(1, 20000) i`,
		`ANALYZE novac`,
		`UPDATE novac SET n = 1`,
		`CREATE TABLE holes (id int PRIMARY KEY, pad text) WITH (autovacuum_enabled = false)`,
		`INSERT INTO holes SELECT i, repeat('x', 100) FROM generate_series(1, 20000) i`,
		`DELETE FROM holes WHERE id % 10 <> 0`,
		`VACUUM ANALYZE holes`,
	} {
		if _, err := conn.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	flushStats(t, conn)
	p := openProbe(t, dsn, Options{})
	s := p.Snapshot(ctx)
	requireOK(t, "maintenance", s.Maintenance.Status)
	if s.Maintenance.BlockSize != 8192 {
		t.Errorf("block size %d", s.Maintenance.BlockSize)
	}
	if f, ok := s.Maintenance.Setting("fsync"); !ok || f.Value != "on" || f.Boot != "on" {
		t.Errorf("fsync setting %+v (the private stack keeps fsync on)", f)
	}
	if _, ok := s.Maintenance.Setting("enable_seqscan"); !ok {
		t.Error("enable_seqscan not read")
	}
	byName := map[string]TableMaintenance{}
	for _, tm := range s.Maintenance.Tables {
		byName[tm.Name] = tm
	}
	novac, holes := byName["novac"], byName["holes"]
	if novac.AutovacuumEnabled() || novac.Fillfactor != 90 {
		t.Errorf("novac: autovacuum enabled %v, fillfactor %d; options %v", novac.AutovacuumEnabled(), novac.Fillfactor, novac.Options)
	}
	if novac.DeadTup < 19000 || novac.LastAnalyzed().IsZero() || !novac.LastVacuumed().IsZero() {
		t.Errorf("novac: %d dead tuples, analysed %v, vacuumed %v", novac.DeadTup, novac.LastAnalyzed(), novac.LastVacuumed())
	}
	if !holes.BloatEstimated {
		t.Fatalf("holes: %+v", holes)
	}
	// 2000 rows left on the pages of 20000: most of the table is free space.
	if holes.ExpectedPages*5 > holes.Pages() {
		t.Errorf("holes: %d pages expected of %d: the estimate sees no bloat", holes.ExpectedPages, holes.Pages())
	}
	t.Logf("holes: %d pages, %d expected; novac: %d dead, %d live", holes.Pages(), holes.ExpectedPages, novac.DeadTup, novac.LiveTup)
}

// BenchmarkMaintenance is the maintenance part of a snapshot alone (its
// three statements, the tables' one as it runs once a minute) on a
// database of 200 analysed tables of 6 columns.
func BenchmarkMaintenance(b *testing.B) {
	dsn := stacktest.NewDatabase(b, "probe_pg_bench_maintenance")
	conn := adminConn(b, dsn)
	ctx := context.Background()
	if _, err := conn.Exec(ctx, `DO $$ BEGIN
  FOR i IN 1..200 LOOP
    EXECUTE format('CREATE TABLE t%s (id int PRIMARY KEY, a int, b text, c timestamptz, d numeric, e bool)', i);
    EXECUTE format('INSERT INTO t%s SELECT g, g, ''x'' || g, now(), g, g %% 2 = 0 FROM generate_series(1, 200) g', i);
  END LOOP;
END $$`); err != nil {
		b.Fatal(err)
	}
	if _, err := conn.Exec(ctx, "ANALYZE"); err != nil {
		b.Fatal(err)
	}
	p := openProbe(b, dsn, Options{})
	b.ReportAllocs()
	b.ResetTimer()
	var m Maintenance
	for i := 0; i < b.N; i++ {
		p.maint.at = time.Time{} // every table read, as once a minute
		m = p.collectMaintenance(ctx)
		if !m.Status.Ok() {
			b.Fatal(m.Status.Detail)
		}
	}
	b.ReportMetric(float64(len(m.Tables)), "tables")
}
