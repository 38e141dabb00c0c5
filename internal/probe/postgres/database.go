// pg_stat_database: the current database's counters.

package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/pgadvisor/advisor/internal/probe/source"
)

// Database is pg_stat_database for the current database.
type Database struct {
	Status source.Status
	Stats  DatabaseStats
}

// DatabaseStats is one row of pg_stat_database. Times are in milliseconds.
type DatabaseStats struct {
	Name              string
	NumBackends       int
	XactCommit        int64
	XactRollback      int64
	BlksRead          int64
	BlksHit           int64
	TupReturned       int64
	TupFetched        int64
	TupInserted       int64
	TupUpdated        int64
	TupDeleted        int64
	TempFiles         int64
	TempBytes         int64
	Deadlocks         int64
	BlkReadTime       float64
	BlkWriteTime      float64
	HasSessions       bool // the session counters exist (14+)
	Sessions          int64
	SessionTime       float64
	ActiveTime        float64
	IdleInXactTime    float64
	SessionsAbandoned int64
	SessionsFatal     int64
	SessionsKilled    int64
	StatsReset        time.Time // zero if never reset
	// Conflicts counts the queries a standby cancelled for recovery
	// conflicts (0 on a primary).
	Conflicts int64
	// HasChecksums: data checksums are on (12+), so ChecksumFailures
	// counts the pages whose checksum failed, the last at
	// ChecksumLastFailure.
	HasChecksums        bool
	ChecksumFailures    int64
	ChecksumLastFailure time.Time
}

func (p *Probe) collectDatabase(ctx context.Context, v int) Database {
	var out Database
	out.Status = p.collect(ctx, "database", func(ctx context.Context, c *pgxpool.Conn) error {
		d := &out.Stats
		var reset, lastFailure *time.Time
		err := c.QueryRow(ctx, probeTag+databaseSQL(v)).Scan(&d.Name, &d.NumBackends, &d.XactCommit, &d.XactRollback,
			&d.BlksRead, &d.BlksHit, &d.TupReturned, &d.TupFetched, &d.TupInserted, &d.TupUpdated, &d.TupDeleted,
			&d.TempFiles, &d.TempBytes, &d.Deadlocks, &d.BlkReadTime, &d.BlkWriteTime,
			&d.HasSessions, &d.Sessions, &d.SessionTime, &d.ActiveTime, &d.IdleInXactTime,
			&d.SessionsAbandoned, &d.SessionsFatal, &d.SessionsKilled, &reset,
			&d.Conflicts, &d.HasChecksums, &d.ChecksumFailures, &lastFailure)
		d.StatsReset = deref(reset)
		d.ChecksumLastFailure = deref(lastFailure)
		return err
	})
	return out
}
