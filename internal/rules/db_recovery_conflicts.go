package rules

import (
	"context"
	"math"
)

// dbRecoveryConflicts flags queries a standby cancelled because replaying
// the primary's WAL conflicted with them (a lock, a snapshot vacuum
// removed rows from, a dropped tablespace): min_conflicts or more over the
// window or, when the window saw fewer, min_lifetime_per_day on average
// since the statistics were reset. Only a standby counts them.
var dbRecoveryConflicts = Def[dbRecoveryConflictsParams]{ID: "db.recovery-conflicts", Check: checkDBRecoveryConflicts}

type dbRecoveryConflictsParams struct {
	MinConflicts      int     `param:"min_conflicts"`
	MinLifetimePerDay float64 `param:"min_lifetime_per_day"`
}

func checkDBRecoveryConflicts(_ context.Context, in *Input, p dbRecoveryConflictsParams) ([]Finding, error) {
	pg := dbPG(in)
	if pg == nil || pg.Cur == nil || !pg.Cur.Database.Status.Ok() {
		return nil, nil
	}
	cur := pg.Cur
	d := pg.Database
	life := cur.Database.Stats.Conflicts
	since, ageS := dbStatsAge(cur)
	perDay := float64(life) / max(ageS/86400, 1)
	inWindow := d.Conflicts >= int64(max(p.MinConflicts, 1))
	if !inWindow && (life == 0 || perDay < p.MinLifetimePerDay) {
		return nil, nil
	}
	name := cur.Server.Database
	impact := 0.0
	switch {
	case inWindow && d.Commits+d.Rollbacks > 0:
		impact = math.Min(float64(d.Conflicts)/float64(d.Commits+d.Rollbacks), 1)
	case !inWindow:
		if x := cur.Database.Stats.XactCommit + cur.Database.Stats.XactRollback; x > 0 {
			impact = math.Min(float64(life)/float64(x), 1) / 2
		}
	}
	return []Finding{{
		Subject:    "database " + name,
		Confidence: ConfidenceOf(1, "cumulative statistics"),
		Impact:     impact,
		Evidence: map[string]any{
			"database":           name,
			"conflicts":          d.Conflicts,
			"window_s":           dbRound(d.Seconds, 1),
			"conflicts_lifetime": life,
			"conflicts_per_day":  dbRound(perDay, 2),
			"lifetime":           since,
			"in_window":          inWindow,
			"cumulative":         pg.Cumulative,
			"in_recovery":        cur.Server.InRecovery,
		},
		Fix: Fix{Config: map[string]string{
			"hot_standby_feedback": "on (snapshot and vacuum conflicts; the primary keeps the rows the standby's queries read)",
		}},
	}}, nil
}
