package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgadvisor/advisor/internal/stack/stacktest"
	"github.com/pgadvisor/advisor/sampleapp"
)

// riverJobs migrates river into a database of its own and fills river_job
// with finished jobs, as a busy service's table is (river keeps them a
// day), and a few pending ones.
func riverJobs(t testing.TB, name string, finished int) (string, *pgx.Conn) {
	t.Helper()
	stacktest.Start(t)
	dsn := stacktest.NewDatabase(t, name)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := sampleapp.Migrate(ctx, dsn); err != nil {
		t.Fatal(err)
	}
	conn := adminConn(t, dsn)
	for _, sql := range []string{
		fmt.Sprintf(`INSERT INTO river_job (kind, args, max_attempts, queue, state, attempt, scheduled_at, created_at, finalized_at)
		SELECT 'order_fulfilment', '{}', 10, 'default', 'completed', 1, now() - interval '1 hour', now() - interval '1 hour', now() - interval '59 minutes'
		FROM generate_series(1, %d)`, finished),
		insertJobs("default", 5),
		insertJobs("mail", 3),
		"ANALYZE river_job",
	} {
		if _, err := conn.Exec(ctx, sql); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	return dsn, conn
}

// insertJobs is the SQL that queues n available jobs.
func insertJobs(queue string, n int) string {
	return fmt.Sprintf(`INSERT INTO river_job (kind, args, max_attempts, queue, state, scheduled_at, created_at)
	SELECT 'order_fulfilment', '{}', 10, '%s', 'available', now(), now() FROM generate_series(1, %d)`, queue, n)
}

// finishJobs is the SQL that completes the n oldest available jobs of a
// queue.
func finishJobs(queue string, n int) string {
	return fmt.Sprintf(`UPDATE river_job SET state = 'completed', finalized_at = now()
	WHERE id IN (SELECT id FROM river_job WHERE queue = '%s' AND state = 'available' ORDER BY id LIMIT %d)`, queue, n)
}

// TestJobsArrivalsAndCompletions: the pending jobs by queue, and between
// two readings the jobs that arrived and those that left each queue,
// counted without reading the finished jobs.
func TestJobsArrivalsAndCompletions(t *testing.T) {
	if testing.Short() {
		t.Skip("PostgreSQL")
	}
	dsn, conn := riverJobs(t, "probe_river_jobs", 20000)
	ctx := context.Background()
	p := openProbe(t, dsn, Options{})
	first := p.collectJobs(ctx)
	if !first.Status.Ok() || !first.Present {
		t.Fatalf("first reading: %+v", first)
	}
	queues := func(j Jobs) string {
		var parts []string
		for _, q := range j.Queues {
			parts = append(parts, fmt.Sprintf("%s available=%d running=%d scheduled=%d arrived=%d", q.Name, q.Available, q.Running, q.Scheduled, q.Arrived))
		}
		return strings.Join(parts, "; ")
	}
	if got, want := queues(first), "default available=5 running=0 scheduled=0 arrived=0; mail available=3 running=0 scheduled=0 arrived=0"; got != want {
		t.Errorf("first reading:\n got %s\nwant %s", got, want)
	}
	// Between the readings: 2 jobs into default and 4 into mail, 3 of
	// default's finished, and a queue whose only job arrived and finished.
	for _, sql := range []string{
		insertJobs("default", 2),
		insertJobs("mail", 4),
		insertJobs("quick", 1),
		finishJobs("default", 3),
		finishJobs("quick", 1),
	} {
		if _, err := conn.Exec(ctx, sql); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	second := p.collectJobs(ctx)
	if got, want := queues(second), "default available=4 running=0 scheduled=0 arrived=2; mail available=7 running=0 scheduled=0 arrived=4; quick available=0 running=0 scheduled=0 arrived=1"; got != want {
		t.Errorf("second reading:\n got %s\nwant %s", got, want)
	}
	at := time.Now()
	deltas := diffJobs(&Snapshot{Time: at, Jobs: first}, &Snapshot{Time: at.Add(2 * time.Second), Jobs: second})
	want := map[string][3]float64{ // arrivals, completions, growth per second
		"default": {1, 1.5, -0.5},
		"mail":    {2, 0, 2},
		"quick":   {0.5, 0.5, 0},
	}
	for _, d := range deltas {
		w, ok := want[d.Name]
		if !ok {
			t.Errorf("unexpected queue %q", d.Name)
			continue
		}
		if got := [3]float64{d.ArrivalsPerS, d.CompletionsPerS, d.GrowthPerS}; got != w {
			t.Errorf("%s: arrivals, completions, growth per second %v, want %v", d.Name, got, w)
		}
		delete(want, d.Name)
	}
	if len(want) > 0 {
		t.Errorf("queues missing from the window: %v", want)
	}
	// Neither statement reads the finished jobs: no sequential scan of
	// river_job, whose rows are nearly all finished.
	for _, sql := range []string{
		fmt.Sprintf(jobsPendingSQL, "river_job"),
		strings.Replace(fmt.Sprintf(jobsArrivedSQL, "river_job"), "$1", fmt.Sprint(p.jobs.lastID-5), 1),
	} {
		var plan []byte
		if err := conn.QueryRow(ctx, "EXPLAIN (FORMAT JSON) "+sql).Scan(&plan); err != nil {
			t.Fatal(err)
		}
		var v any
		if err := json.Unmarshal(plan, &v); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(plan), `"Seq Scan"`) {
			t.Errorf("%s\nscans river_job sequentially: %s", sql, plan)
		}
	}
}

// TestJobsOneSnapshot: jobs committed while a reading is under way are
// either in its arrivals and its pending counts or in neither. Read in two
// snapshots, the jobs inserted between the two reads at the window's start
// were pending there and arrivals at its end: a queue without workers
// showed completions.
func TestJobsOneSnapshot(t *testing.T) {
	if testing.Short() {
		t.Skip("PostgreSQL")
	}
	dsn, conn := riverJobs(t, "probe_river_snapshot", 100)
	ctx := context.Background()
	p := openProbe(t, dsn, Options{})
	testHookBetweenJobReads = func() {
		if _, err := conn.Exec(ctx, insertJobs("default", 50)); err != nil {
			t.Error(err)
		}
	}
	first := p.collectJobs(ctx)
	testHookBetweenJobReads = nil
	if _, err := conn.Exec(ctx, insertJobs("default", 20)); err != nil {
		t.Fatal(err)
	}
	second := p.collectJobs(ctx)
	if !first.Status.Ok() || !second.Status.Ok() {
		t.Fatalf("readings: %+v, %+v", first.Status, second.Status)
	}
	at := time.Now()
	for _, d := range diffJobs(&Snapshot{Time: at, Jobs: first}, &Snapshot{Time: at.Add(time.Second), Jobs: second}) {
		if d.Name != "default" {
			continue
		}
		// Nothing finished: every job that arrived is pending.
		if d.CompletionsPerS != 0 || d.ArrivalsPerS != 70 || d.GrowthPerS != 70 {
			t.Errorf("no worker: arrivals %g, completions %g, growth %g a second; want 70, 0, 70", d.ArrivalsPerS, d.CompletionsPerS, d.GrowthPerS)
		}
		return
	}
	t.Error("no default queue in the window")
}

// jobsAllRowsSQL is how river_job was read until 2026-12-04: every row,
// finished ones included, at every reading.
const jobsAllRowsSQL = `SELECT queue,
  count(*) FILTER (WHERE state = 'available'),
  count(*) FILTER (WHERE state = 'running'),
  count(*) FILTER (WHERE state IN ('scheduled', 'retryable')),
  count(*) FILTER (WHERE state IN ('completed', 'cancelled', 'discarded')),
  min(scheduled_at) FILTER (WHERE state = 'available'),
  coalesce(max(id), 0)
FROM river_job GROUP BY queue ORDER BY queue`

// BenchmarkJobs is one reading of river's queues on a river_job of 200,000
// finished jobs (a day of a service finishing 2-3 jobs a second; river
// keeps them 24 h) and 8 pending: the probe's (pending) against the
// statement it replaced (all-rows), with 20 jobs arriving and 20 finishing
// between two readings.
//
//	go test -run '^$' -bench Jobs -count 6 ./internal/probe/postgres/
func BenchmarkJobs(b *testing.B) {
	dsn, conn := riverJobs(b, "probe_river_jobs_bench", 200000)
	ctx := context.Background()
	p := openProbe(b, dsn, Options{})
	p.collectJobs(ctx)
	arrive := func(b *testing.B) {
		b.StopTimer()
		for _, sql := range []string{insertJobs("default", 20), finishJobs("default", 20)} {
			if _, err := conn.Exec(ctx, sql); err != nil {
				b.Fatal(err)
			}
		}
		b.StartTimer()
	}
	b.Run("pending", func(b *testing.B) {
		for b.Loop() {
			arrive(b)
			if j := p.collectJobs(ctx); !j.Status.Ok() {
				b.Fatal(j.Status)
			}
		}
	})
	b.Run("all-rows", func(b *testing.B) {
		for b.Loop() {
			arrive(b)
			rows, err := conn.Query(ctx, jobsAllRowsSQL)
			if err != nil {
				b.Fatal(err)
			}
			rows.Close()
		}
	})
}
