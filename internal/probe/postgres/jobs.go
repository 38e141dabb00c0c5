// river_job: the job queue of river (riverqueue.com), which keeps its jobs
// in the application's own database.

package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/pgadvisor/advisor/internal/probe/source"
)

// Jobs is river's queues, read from the river_job table. A database
// without river has Present false and an ok status.
type Jobs struct {
	Status  source.Status
	Present bool
	// Table is the river_job table as found on the search path.
	Table  string
	Queues []JobQueue
}

// JobQueue is one river queue at one instant.
type JobQueue struct {
	Name string
	// Available jobs are ready to run and wait for a worker; Running are
	// being worked; Scheduled are due later (scheduled or retryable).
	Available, Running, Scheduled int64
	// Finished counts the completed, cancelled and discarded jobs river
	// still keeps (it deletes them after a retention period).
	Finished int64
	// OldestAvailable is the scheduled_at of the oldest available job: the
	// time it became ready; zero when none is available.
	OldestAvailable time.Time
	// MaxID is the highest job id of the queue, for the arrival rate.
	MaxID int64
}

// jobsSQL reads every queue of river_job by state. river's own index on
// (state, queue, priority, scheduled_at, id) serves the available jobs.
const jobsSQL = `SELECT queue,
  count(*) FILTER (WHERE state = 'available'),
  count(*) FILTER (WHERE state = 'running'),
  count(*) FILTER (WHERE state IN ('scheduled', 'retryable')),
  count(*) FILTER (WHERE state IN ('completed', 'cancelled', 'discarded')),
  min(scheduled_at) FILTER (WHERE state = 'available'),
  coalesce(max(id), 0)
FROM %s GROUP BY queue ORDER BY queue`

func (p *Probe) collectJobs(ctx context.Context) Jobs {
	var out Jobs
	out.Status = p.collect(ctx, "river_job", func(ctx context.Context, c *pgxpool.Conn) error {
		var table *string
		var readable bool
		err := c.QueryRow(ctx, probeTag+`SELECT to_regclass('river_job')::text,
  coalesce(has_table_privilege(to_regclass('river_job'), 'SELECT'), false)`).Scan(&table, &readable)
		if err != nil || table == nil {
			return err
		}
		out.Present, out.Table = true, *table
		if !readable {
			return &partStatus{source.Status{State: source.Unavailable,
				Detail: fmt.Sprintf("river's %s is not readable by this role: GRANT SELECT ON %s to read its queues", *table, *table)}}
		}
		rows, err := c.Query(ctx, probeTag+fmt.Sprintf(jobsSQL, *table))
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var q JobQueue
			var oldest *time.Time
			if err := rows.Scan(&q.Name, &q.Available, &q.Running, &q.Scheduled, &q.Finished, &oldest, &q.MaxID); err != nil {
				return err
			}
			q.OldestAvailable = deref(oldest)
			out.Queues = append(out.Queues, q)
		}
		return rows.Err()
	})
	return out
}

// JobQueueDelta is one river queue over a window.
type JobQueueDelta struct {
	JobQueue
	// Before is the number available at the window's start; -1 when the
	// queue was not read then.
	Before int64
	// GrowthPerS is the change of Available per second; ArrivalsPerS the
	// jobs inserted per second (from the ids), CompletionsPerS the jobs
	// finished per second. All 0 without an earlier reading.
	GrowthPerS, ArrivalsPerS, CompletionsPerS float64
	// OldestAge is how long the oldest available job has been ready.
	OldestAge time.Duration
}

// diffJobs pairs the river queues of two snapshots; prev may be nil.
func diffJobs(prev, cur *Snapshot) []JobQueueDelta {
	if cur == nil || !cur.Jobs.Status.Ok() {
		return nil
	}
	var out []JobQueueDelta
	for _, q := range cur.Jobs.Queues {
		d := JobQueueDelta{JobQueue: q, Before: -1}
		if !q.OldestAvailable.IsZero() {
			d.OldestAge = max(cur.Time.Sub(q.OldestAvailable), 0)
		}
		if prev != nil && prev.Jobs.Status.Ok() {
			secs := cur.Time.Sub(prev.Time).Seconds()
			for _, o := range prev.Jobs.Queues {
				if o.Name != q.Name || secs <= 0 {
					continue
				}
				d.Before = o.Available
				d.GrowthPerS = float64(q.Available-o.Available) / secs
				d.ArrivalsPerS = float64(max(q.MaxID-o.MaxID, 0)) / secs
				d.CompletionsPerS = float64(max(q.Finished-o.Finished, 0)) / secs
			}
		}
		out = append(out, d)
	}
	return out
}
