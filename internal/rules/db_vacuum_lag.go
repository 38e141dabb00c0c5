package rules

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/pgadvisor/advisor/internal/probe/postgres"
	"github.com/pgadvisor/advisor/internal/sqltext"
)

// dbVacuumLag flags tables whose dead tuples vacuum does not remove: with
// autovacuum turned off for the table (or the server), or with far more
// dead tuples than the threshold at which autovacuum should have run.
// Tables whose statistics lag far behind their changes are flagged at info.
var dbVacuumLag = Def[dbVacuumLagParams]{ID: "db.vacuum-lag", Check: checkDBVacuumLag}

type dbVacuumLagParams struct {
	MinDeadTuples      int     `param:"min_dead_tuples"`
	OverThreshold      float64 `param:"over_threshold"`
	MinDeadShare       float64 `param:"min_dead_share"`
	MaxVacuumAgeHours  float64 `param:"max_vacuum_age_hours"`
	MaxAnalyzeAgeHours float64 `param:"max_analyze_age_hours"`
}

func checkDBVacuumLag(_ context.Context, in *Input, p dbVacuumLagParams) ([]Finding, error) {
	cur := dbCur(in)
	if cur == nil || !cur.Maintenance.Status.Ok() {
		return nil, nil
	}
	m := &cur.Maintenance
	setting := func(name string, def float64) float64 {
		if s, ok := m.Setting(name); ok {
			if f, ok := s.Float(); ok {
				return f
			}
		}
		return def
	}
	serverOn := true
	if s, ok := m.Setting("autovacuum"); ok && s.Value == "off" {
		serverOn = false
	}
	maxWorkers := int(setting("autovacuum_max_workers", 3))
	now := cur.Time
	var out []Finding
	for _, t := range m.Tables {
		table := sqltext.TableName(t.Schema, t.Name)
		if t.DeadTup < int64(p.MinDeadTuples) && t.ModSinceAnalyze < int64(p.MinDeadTuples) {
			continue
		}
		vacThreshold := dbTableOption(t, "autovacuum_vacuum_threshold", setting("autovacuum_vacuum_threshold", 50)) +
			dbTableOption(t, "autovacuum_vacuum_scale_factor", setting("autovacuum_vacuum_scale_factor", 0.2))*t.RelTuples
		anaThreshold := dbTableOption(t, "autovacuum_analyze_threshold", setting("autovacuum_analyze_threshold", 50)) +
			dbTableOption(t, "autovacuum_analyze_scale_factor", setting("autovacuum_analyze_scale_factor", 0.1))*t.RelTuples
		deadShare := 0.0
		if n := t.LiveTup + t.DeadTup; n > 0 {
			deadShare = float64(t.DeadTup) / float64(n)
		}
		vacAge, anaAge := dbAgeHours(now, t.LastVacuumed()), dbAgeHours(now, t.LastAnalyzed())
		var reasons []string
		sev := Warning
		manyDead := t.DeadTup >= int64(p.MinDeadTuples) && deadShare >= p.MinDeadShare
		switch {
		case !t.AutovacuumEnabled() && t.DeadTup >= int64(p.MinDeadTuples):
			reasons = append(reasons, "autovacuum is disabled for the table (autovacuum_enabled = false)")
		case !serverOn && t.DeadTup >= int64(p.MinDeadTuples):
			reasons = append(reasons, "autovacuum is off on the server")
		case t.DeadTup >= int64(p.MinDeadTuples) && float64(t.DeadTup) >= p.OverThreshold*vacThreshold:
			reasons = append(reasons, fmt.Sprintf("%s dead tuples, %.1fx the %s at which autovacuum starts",
				strconv.FormatInt(t.DeadTup, 10), float64(t.DeadTup)/math.Max(vacThreshold, 1), strconv.FormatFloat(math.Round(vacThreshold), 'f', 0, 64)))
		case manyDead && (vacAge < 0 || vacAge >= p.MaxVacuumAgeHours):
			reasons = append(reasons, fmt.Sprintf("%.0f%% of its rows are dead; %s", deadShare*100, dbLastText("vacuumed", vacAge)))
		}
		if t.ModSinceAnalyze >= int64(p.MinDeadTuples) && float64(t.ModSinceAnalyze) >= p.OverThreshold*anaThreshold &&
			(anaAge < 0 || anaAge >= p.MaxAnalyzeAgeHours) {
			reasons = append(reasons, fmt.Sprintf("%d rows changed since the last analyze (%s): the planner's statistics are stale",
				t.ModSinceAnalyze, dbLastText("analysed", anaAge)))
			if len(reasons) == 1 {
				sev = Info
			}
		}
		if len(reasons) == 0 {
			continue
		}
		busy := m.AutovacuumWorkers
		if busy >= maxWorkers && t.AutovacuumEnabled() && serverOn {
			reasons = append(reasons, fmt.Sprintf("all %d autovacuum workers are busy", maxWorkers))
		}
		sql := "VACUUM (ANALYZE) " + table + ";"
		if !t.AutovacuumEnabled() {
			sql = "ALTER TABLE " + table + " RESET (autovacuum_enabled);\n" + sql
		}
		out = append(out, Finding{
			Severity:   sev,
			Subject:    table,
			Confidence: ConfidenceOf(1, "the tables' vacuum statistics"),
			Evidence: map[string]any{
				"table":                     table,
				"reasons":                   reasons,
				"dead_tuples":               t.DeadTup,
				"live_tuples":               t.LiveTup,
				"dead_share":                dbRound(deadShare, 3),
				"vacuum_threshold_tuples":   int64(math.Round(vacThreshold)),
				"mod_since_analyze":         t.ModSinceAnalyze,
				"analyze_threshold_tuples":  int64(math.Round(anaThreshold)),
				"autovacuum_enabled":        t.AutovacuumEnabled() && serverOn,
				"last_vacuum_age_hours":     dbRound(vacAge, 1),
				"last_analyze_age_hours":    dbRound(anaAge, 1),
				"autovacuum_workers_busy":   busy,
				"autovacuum_max_workers":    maxWorkers,
				"table_bytes":               t.Pages() * m.BlockSize,
				"vacuum_threshold_formula":  "autovacuum_vacuum_threshold + autovacuum_vacuum_scale_factor x reltuples",
				"analyze_threshold_formula": "autovacuum_analyze_threshold + autovacuum_analyze_scale_factor x reltuples",
			},
			Fix:    Fix{SQL: sql},
			Impact: math.Min(deadShare, 1),
		})
	}
	return out, nil
}

// dbTableOption is a table's storage parameter as a number, or def.
func dbTableOption(t postgres.TableMaintenance, name string, def float64) float64 {
	if v, ok := t.Options[name]; ok {
		if f, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err == nil {
			return f
		}
	}
	return def
}

// dbAgeHours is the time from at to now in hours; -1 when at is zero
// (never).
func dbAgeHours(now, at time.Time) float64 {
	if at.IsZero() {
		return -1
	}
	return math.Max(now.Sub(at).Hours(), 0)
}

// dbLastText says when something was last done, from its age in hours
// (negative: never).
func dbLastText(done string, hours float64) string {
	switch {
	case hours < 0:
		return "never " + done
	case hours < 1:
		return fmt.Sprintf("last %s %.0f minutes ago", done, hours*60)
	case hours < 48:
		return fmt.Sprintf("last %s %.0f hours ago", done, hours)
	}
	return fmt.Sprintf("last %s %.0f days ago", done, hours/24)
}
