// river_job: the job queue of river (riverqueue.com), which keeps its jobs
// in the application's own database.

package postgres

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
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
	// OldestAvailable is the scheduled_at of the oldest available job: the
	// time it became ready; zero when none is available.
	OldestAvailable time.Time
	// Arrived counts the jobs inserted into the queue since the probe's
	// first reading: a running count, for the arrival rate between two
	// readings of the same probe.
	Arrived int64
}

// Pending is the number of jobs not finished: available, running and
// scheduled.
func (q JobQueue) Pending() int64 { return q.Available + q.Running + q.Scheduled }

// jobsPendingSQL reads the jobs not finished of every queue by state. Only
// those: river keeps its finished jobs for a day by default, millions on a
// busy service, and river's index on (state, queue, priority, scheduled_at,
// id) serves these states without reading them.
const jobsPendingSQL = `SELECT queue,
  count(*) FILTER (WHERE state = 'available'),
  count(*) FILTER (WHERE state = 'running'),
  count(*) FILTER (WHERE state IN ('scheduled', 'retryable')),
  min(scheduled_at) FILTER (WHERE state = 'available')
FROM %s WHERE state IN ('available', 'running', 'scheduled', 'retryable')
GROUP BY queue ORDER BY queue`

// jobsArrivedSQL counts the jobs inserted since the highest id the probe
// has seen, by queue, through the primary key: the rows of the last
// interval only.
const jobsArrivedSQL = `SELECT queue, count(*), max(id) FROM %s WHERE id > $1 GROUP BY queue`

// jobsMaxIDSQL starts the count at the probe's first reading.
const jobsMaxIDSQL = `SELECT coalesce(max(id), 0) FROM %s`

// testHookBetweenJobReads, set by a test, runs between the reading of the
// arrivals and that of the pending jobs.
var testHookBetweenJobReads func()

// jobArrivals is what the probe remembers between readings to count the
// jobs inserted: the highest id seen and the running count by queue. A job
// whose id was taken before a reading and committed after it is not
// counted.
type jobArrivals struct {
	mu      sync.Mutex
	table   string
	started bool
	lastID  int64
	arrived map[string]int64
}

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
		a := &p.jobs
		a.mu.Lock()
		defer a.mu.Unlock()
		// The arrivals and the pending counts from one snapshot: read in
		// two, a job committed between them is pending and not yet
		// arrived, and the window's completions (the arrivals less the
		// pending jobs' growth) move by the jobs committed in that gap at
		// either end (a queue without workers under 512 arrivals a
		// second showed 10 completions a second on a saturated host).
		tx, err := c.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
		if err != nil {
			return err
		}
		defer func() { _ = tx.Rollback(context.Background()) }()
		if a.table != *table {
			a.table, a.started, a.lastID, a.arrived = *table, false, 0, map[string]int64{}
		}
		if !a.started {
			if err := tx.QueryRow(ctx, probeTag+fmt.Sprintf(jobsMaxIDSQL, *table)).Scan(&a.lastID); err != nil {
				return err
			}
			a.started = true
		} else if err := a.read(ctx, tx, *table); err != nil {
			return err
		}
		if testHookBetweenJobReads != nil {
			testHookBetweenJobReads()
		}
		queues, err := readPending(ctx, tx, *table)
		if err != nil {
			return err
		}
		// Queues with nothing pending still have their arrivals.
		for name := range a.arrived {
			if !slices.ContainsFunc(queues, func(q JobQueue) bool { return q.Name == name }) {
				queues = append(queues, JobQueue{Name: name})
			}
		}
		for i := range queues {
			queues[i].Arrived = a.arrived[queues[i].Name]
		}
		slices.SortFunc(queues, func(x, y JobQueue) int { return strings.Compare(x.Name, y.Name) })
		out.Queues = queues
		return nil
	})
	return out
}

// read adds the jobs inserted since the last reading to the counts.
func (a *jobArrivals) read(ctx context.Context, c pgx.Tx, table string) error {
	rows, err := c.Query(ctx, probeTag+fmt.Sprintf(jobsArrivedSQL, table), a.lastID)
	if err != nil {
		return err
	}
	defer rows.Close()
	counts, last := map[string]int64{}, a.lastID
	for rows.Next() {
		var name string
		var n, maxID int64
		if err := rows.Scan(&name, &n, &maxID); err != nil {
			return err
		}
		counts[name] += n
		last = max(last, maxID)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	for name, n := range counts {
		a.arrived[name] += n
	}
	a.lastID = last
	return nil
}

// readPending reads the queues' jobs not finished.
func readPending(ctx context.Context, c pgx.Tx, table string) ([]JobQueue, error) {
	rows, err := c.Query(ctx, probeTag+fmt.Sprintf(jobsPendingSQL, table))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []JobQueue
	for rows.Next() {
		var q JobQueue
		var oldest *time.Time
		if err := rows.Scan(&q.Name, &q.Available, &q.Running, &q.Scheduled, &oldest); err != nil {
			return nil, err
		}
		q.OldestAvailable = deref(oldest)
		out = append(out, q)
	}
	return out, rows.Err()
}

// JobQueueDelta is one river queue over a window.
type JobQueueDelta struct {
	JobQueue
	// Before is the number available at the window's start; -1 when the
	// queue was not read then.
	Before int64
	// GrowthPerS is the change of Available per second; ArrivalsPerS the
	// jobs inserted per second; CompletionsPerS the jobs that left the
	// queue per second (finished, or deleted before they ran): the
	// arrivals less the growth of the pending jobs. All 0 without an
	// earlier reading.
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
		if prev != nil && prev.Jobs.Status.Ok() && prev.Jobs.Present {
			secs := cur.Time.Sub(prev.Time).Seconds()
			// A queue the earlier reading does not list had nothing pending
			// and nothing arrived then: it lists every other.
			o := JobQueue{Name: q.Name}
			if i := slices.IndexFunc(prev.Jobs.Queues, func(o JobQueue) bool { return o.Name == q.Name }); i >= 0 {
				o = prev.Jobs.Queues[i]
			}
			if secs > 0 {
				arrived := max(q.Arrived-o.Arrived, 0)
				d.Before = o.Available
				d.GrowthPerS = float64(q.Available-o.Available) / secs
				d.ArrivalsPerS = float64(arrived) / secs
				d.CompletionsPerS = float64(max(arrived-(q.Pending()-o.Pending()), 0)) / secs
			}
		}
		out = append(out, d)
	}
	return out
}
