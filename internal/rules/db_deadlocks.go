package rules

import (
	"context"
	"math"
	"time"

	"github.com/pgadvisor/advisor/internal/probe/postgres"
)

// dbDeadlocks flags transactions PostgreSQL aborted to break a deadlock:
// min_deadlocks or more over the window, or, when the window saw fewer,
// min_lifetime_per_day on average since the database's statistics were
// reset (or the server started), a standing pattern a short window misses.
var dbDeadlocks = Def[dbDeadlocksParams]{ID: "db.deadlocks", Check: checkDBDeadlocks}

type dbDeadlocksParams struct {
	MinDeadlocks      int     `param:"min_deadlocks"`
	MinLifetimePerDay float64 `param:"min_lifetime_per_day"`
}

func checkDBDeadlocks(_ context.Context, in *Input, p dbDeadlocksParams) ([]Finding, error) {
	pg := dbPG(in)
	if pg == nil || pg.Cur == nil || !pg.Cur.Database.Status.Ok() {
		return nil, nil
	}
	cur := pg.Cur
	d := pg.Database
	life := cur.Database.Stats.Deadlocks
	since, ageS := dbStatsAge(cur)
	days := max(ageS/86400, 1)
	perDay := float64(life) / days
	inWindow := d.Deadlocks >= int64(max(p.MinDeadlocks, 1))
	if !inWindow && (life == 0 || perDay < p.MinLifetimePerDay) {
		return nil, nil
	}
	name := cur.Server.Database
	ev := map[string]any{
		"database":           name,
		"deadlocks":          d.Deadlocks,
		"window_s":           dbRound(d.Seconds, 1),
		"commits":            d.Commits,
		"deadlocks_lifetime": life,
		"deadlocks_per_day":  dbRound(perDay, 2),
		"lifetime":           since,
		"in_window":          inWindow,
		"cumulative":         pg.Cumulative,
	}
	// Each deadlock is a transaction that failed: its share of the
	// window's (or, standing, the lifetime's, ranked lower) transactions.
	impact := 0.0
	switch {
	case inWindow && d.Commits+d.Rollbacks > 0:
		impact = math.Min(float64(d.Deadlocks)/float64(d.Commits+d.Rollbacks), 1)
	case !inWindow:
		if xacts := cur.Database.Stats.XactCommit + cur.Database.Stats.XactRollback; xacts > 0 {
			impact = math.Min(float64(life)/float64(xacts), 1) / 2
		}
	}
	basis := "deadlocks in the window"
	if !inWindow || pg.Cumulative {
		basis = "cumulative statistics"
	}
	return []Finding{{
		Subject:    "database " + name,
		Evidence:   ev,
		Impact:     impact,
		Confidence: ConfidenceOf(1, basis),
		Fix:        Fix{Config: map[string]string{"log_lock_waits": "on (with deadlock_timeout, logs the waits before a deadlock)"}},
	}}, nil
}

// dbStatsAge says since when pg_stat_database counts, for evidence read
// from its counters: "since stats reset, 2 h ago", or since the server's
// start when they were never reset; and that age in seconds.
func dbStatsAge(cur *postgres.Snapshot) (string, float64) {
	at, what := cur.Database.Stats.StatsReset, "since stats reset, "
	if at.IsZero() || at.Before(cur.Server.PostmasterAt) {
		at, what = cur.Server.PostmasterAt, "since server start, "
	}
	if at.IsZero() {
		return "since stats reset, time unknown", 0
	}
	now := cur.Time
	if now.IsZero() {
		now = time.Now()
	}
	age := max(now.Sub(at).Seconds(), 0)
	return what + humanSeconds(age) + " ago", age
}
