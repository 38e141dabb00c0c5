package postgres

import (
	"context"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/pgadvisor/advisor/internal/probe/probetest"
)

var (
	benchOnce sync.Once
	benchDSN  string
)

// benchStatements fills a database of its own with 2,046 distinct
// statements (probetest.FillStatements).
func benchStatements(b *testing.B) string {
	b.Helper()
	dsn := newPlainDatabase(b, "probe_pg_bench")
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE EXTENSION IF NOT EXISTS pg_stat_statements"); err != nil {
		b.Fatal(err)
	}
	if err := probetest.FillStatements(ctx, dsn); err != nil {
		b.Fatal(err)
	}
	return dsn
}

// BenchmarkSnapshot is one full probe round (Snapshot and Diff with the
// previous one) against a database with 2,000+ statements in
// pg_stat_statements.
func BenchmarkSnapshot(b *testing.B) {
	// The benchmark function runs once per b.N tried: fill the database once.
	benchOnce.Do(func() { benchDSN = benchStatements(b) })
	if benchDSN == "" {
		b.Fatal("benchmark database not set up")
	}
	dsn := benchDSN
	p, err := Open(context.Background(), dsn, Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	ctx := context.Background()
	prev := p.Snapshot(ctx)
	if !prev.Status.Ok() || len(prev.Statements.Rows) < 2000 {
		b.Fatalf("snapshot: %+v, %d statements", prev.Status, len(prev.Statements.Rows))
	}
	server0, stmts0 := probeServerMS(b, dsn)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		cur := p.Snapshot(ctx)
		if !cur.Status.Ok() {
			b.Fatal(cur.Status.Detail)
		}
		_ = Diff(prev, cur)
		prev = cur
	}
	b.StopTimer()
	server, stmts := probeServerMS(b, dsn)
	b.ReportMetric((server-server0)/float64(b.N), "server-ms/op")
	// The read of pg_stat_statements costs in proportion to its entries
	// and its query-text file, which grows between resets: the rest is
	// what the other collectors cost.
	b.ReportMetric((server-server0-(stmts-stmts0))/float64(b.N), "others-server-ms/op")
	b.ReportMetric(float64(len(prev.Statements.Rows)), "statements")
}

// probeServerMS is the server's time (planning and execution, from
// pg_stat_statements) spent so far on the probe's own statements in the
// database dsn names, in all and in those reading pg_stat_statements: the
// cost a snapshot puts on the server, which the client's ns/op (network,
// decoding, Diff) does not separate.
func probeServerMS(b *testing.B, dsn string) (all, statements float64) {
	b.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close(ctx)
	err = conn.QueryRow(ctx, `SELECT coalesce(sum(total_exec_time + total_plan_time), 0)::float8,
       coalesce(sum(total_exec_time + total_plan_time) FILTER (WHERE query ~ 'pg_stat_statements"?\('), 0)::float8
FROM pg_stat_statements
WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) AND query LIKE $1`,
		probeTag+"%").Scan(&all, &statements)
	if err != nil {
		b.Fatal(err)
	}
	return all, statements
}
