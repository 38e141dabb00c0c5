// pg_stat_statements: the statements with the most total time, their
// counters and texts.

package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/pgadvisor/advisor/internal/probe/source"
)

// Statements is pg_stat_statements for the current database.
type Statements struct {
	Status source.Status
	// Schema and ExtVersion of the extension in this database.
	Schema     string
	ExtVersion string
	// Dealloc and StatsReset come from pg_stat_statements_info (14+):
	// entries evicted for lack of room, and when all were last reset
	// (zero when unknown).
	Dealloc    int64
	StatsReset time.Time
	// Hidden is how many rows of other roles had their query text and
	// queryid hidden (the role is not a member of pg_read_all_stats).
	Hidden int
	// TextsRead is how many query texts this snapshot read: those of the
	// statements the probe had not seen before.
	TextsRead int
	Rows      []Statement
}

// StatementKey identifies a statement across snapshots.
type StatementKey struct {
	UserID   uint32
	DBID     uint32
	QueryID  int64
	TopLevel bool
}

// Statement is one row of pg_stat_statements. Times are in milliseconds.
type Statement struct {
	UserID  uint32
	User    string
	DBID    uint32
	QueryID int64
	// TopLevel is false for statements run inside functions (14+ with
	// pg_stat_statements.track = all); always true before 14.
	TopLevel bool
	Query    string
	// Hidden rows stand for all the rows of one role whose text and queryid
	// this role may not see, summed; HiddenCount is how many.
	Hidden      bool
	HiddenCount int

	Calls             int64
	TotalExecTime     float64
	MeanExecTime      float64
	MinExecTime       float64
	MaxExecTime       float64
	StddevExecTime    float64
	TotalPlanTime     float64
	Plans             int64
	Rows              int64
	SharedBlksHit     int64
	SharedBlksRead    int64
	SharedBlksDirtied int64
	SharedBlksWritten int64
	LocalBlksHit      int64
	LocalBlksRead     int64
	TempBlksRead      int64
	TempBlksWritten   int64
	// BlkReadTime and BlkWriteTime are blk_read_time / blk_write_time
	// (shared_blk_read_time / shared_blk_write_time from 17).
	BlkReadTime  float64
	BlkWriteTime float64
	WALBytes     float64
	// StatsSince is when this entry started counting (17+), else zero.
	StatsSince time.Time
}

// Key of the statement.
func (s Statement) Key() StatementKey {
	return StatementKey{UserID: s.UserID, DBID: s.DBID, QueryID: s.QueryID, TopLevel: s.TopLevel}
}

func (p *Probe) collectStatements(ctx context.Context, srv Server) Statements {
	var out Statements
	out.Status = p.collect(ctx, "pg_stat_statements", func(ctx context.Context, c *pgxpool.Conn) error {
		// shared_preload_libraries is hidden from roles without
		// pg_read_all_settings; then the query below tells.
		if _, visible := srv.Settings["shared_preload_libraries"]; visible &&
			!contains(srv.Settings.List("shared_preload_libraries"), "pg_stat_statements") {
			return notLoaded
		}
		err := c.QueryRow(ctx, probeTag+extensionSQL, "pg_stat_statements").Scan(&out.Schema, &out.ExtVersion)
		if errors.Is(err, pgx.ErrNoRows) {
			return &partStatus{source.Status{State: source.Unavailable,
				Detail: fmt.Sprintf("pg_stat_statements is not created in database %q: CREATE EXTENSION pg_stat_statements", srv.Database)}}
		}
		if err != nil {
			return err
		}
		if srv.VersionNum >= pg14 {
			var reset *time.Time
			if err := c.QueryRow(ctx, probeTag+statementsInfoSQL(out.Schema)).Scan(&out.Dealloc, &reset); err != nil {
				return statementsError(err)
			}
			out.StatsReset = deref(reset)
		}
		// A margin for the probe's own statements, left out below.
		rows, err := c.Query(ctx, probeTag+statementsSQL(srv.VersionNum, out.Schema), p.opts.MaxStatements+ownStatementsMargin)
		if err != nil {
			return statementsError(err)
		}
		hidden := map[StatementKey]int{}
		var st Statement
		var queryID *int64
		var statsSince *time.Time
		_, err = pgx.ForEachRow(rows, []any{
			&st.UserID, &st.User, &st.DBID, &queryID, &st.TopLevel,
			&st.Calls, &st.TotalExecTime, &st.MeanExecTime, &st.MinExecTime, &st.MaxExecTime, &st.StddevExecTime,
			&st.TotalPlanTime, &st.Plans, &st.Rows,
			&st.SharedBlksHit, &st.SharedBlksRead, &st.SharedBlksDirtied, &st.SharedBlksWritten,
			&st.LocalBlksHit, &st.LocalBlksRead, &st.TempBlksRead, &st.TempBlksWritten,
			&st.BlkReadTime, &st.BlkWriteTime, &st.WALBytes, &statsSince,
		}, func() error {
			row := st
			row.StatsSince = deref(statsSince)
			if queryID == nil {
				// Another role's statement, hidden from this role: sum
				// them per role so the counters still add up.
				out.Hidden++
				row.Hidden, row.HiddenCount, row.Query = true, 1, "<insufficient privilege>"
				if i, ok := hidden[row.Key()]; ok {
					addStatement(&out.Rows[i], row)
					return nil
				}
				hidden[row.Key()] = len(out.Rows)
			} else {
				row.QueryID = *queryID
			}
			out.Rows = append(out.Rows, row)
			return nil
		})
		if err != nil {
			return err
		}
		read, err := p.texts.fill(ctx, c, statementTextsSQL(srv.VersionNum, out.Schema), out.Rows)
		out.TextsRead = read
		if err != nil {
			return statementsError(err)
		}
		// Leave out the probe's own statements.
		kept := out.Rows[:0]
		for _, r := range out.Rows {
			if !strings.HasPrefix(r.Query, probeTag) {
				kept = append(kept, r)
			}
		}
		out.Rows = kept
		if len(out.Rows) > p.opts.MaxStatements {
			out.Rows = out.Rows[:p.opts.MaxStatements]
		}
		for i := range out.Rows {
			if r := &out.Rows[i]; r.Hidden && r.Calls > 0 {
				r.MeanExecTime = r.TotalExecTime / float64(r.Calls)
			}
		}
		if out.Hidden > 0 {
			return &partStatus{source.Status{State: source.OK, Detail: fmt.Sprintf(
				"query texts of %d statements of other roles are hidden: GRANT pg_read_all_stats TO %s", out.Hidden, srv.User)}}
		}
		return nil
	})
	return out
}

var notLoaded = &partStatus{source.Status{State: source.Unavailable,
	Detail: "pg_stat_statements is not loaded: add it to shared_preload_libraries and restart"}}

// statementsError recognises the error of a pg_stat_statements that was
// created but not preloaded.
func statementsError(err error) error {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "55000" && strings.Contains(pgErr.Message, "shared_preload_libraries") {
		return notLoaded
	}
	return err
}

// addStatement adds the counters of b to a (hidden rows of one role).
func addStatement(a *Statement, b Statement) {
	a.HiddenCount += b.HiddenCount
	a.Calls += b.Calls
	a.TotalExecTime += b.TotalExecTime
	a.TotalPlanTime += b.TotalPlanTime
	a.Plans += b.Plans
	a.Rows += b.Rows
	a.SharedBlksHit += b.SharedBlksHit
	a.SharedBlksRead += b.SharedBlksRead
	a.SharedBlksDirtied += b.SharedBlksDirtied
	a.SharedBlksWritten += b.SharedBlksWritten
	a.LocalBlksHit += b.LocalBlksHit
	a.LocalBlksRead += b.LocalBlksRead
	a.TempBlksRead += b.TempBlksRead
	a.TempBlksWritten += b.TempBlksWritten
	a.BlkReadTime += b.BlkReadTime
	a.BlkWriteTime += b.BlkWriteTime
	a.WALBytes += b.WALBytes
	a.MaxExecTime = max(a.MaxExecTime, b.MaxExecTime)
	if b.MinExecTime < a.MinExecTime {
		a.MinExecTime = b.MinExecTime
	}
}
