package rules

import (
	"context"
	"fmt"

	"github.com/pgadvisor/advisor/internal/probe/postgres"
	"github.com/pgadvisor/advisor/internal/probe/source"
	"github.com/pgadvisor/advisor/internal/sqltext"
)

// dbXminHorizon flags what holds the xmin horizon back: a transaction open
// for long (running or idle), a prepared transaction never committed, a
// replication slot whose consumer is gone or slow, a standby's feedback.
// Vacuum cannot remove a row deleted after the horizon nor freeze one
// newer, so tables bloat and the transaction ID age grows.
var dbXminHorizon = Def[dbXminHorizonParams]{ID: "db.xmin-horizon", Check: checkDBXminHorizon}

type dbXminHorizonParams struct {
	MinAgeSeconds             float64 `param:"min_age_seconds"`
	CriticalAgeSeconds        float64 `param:"critical_age_seconds"`
	MinXIDAge                 int     `param:"min_xid_age"`
	CriticalFreezeMaxAgeShare float64 `param:"critical_freeze_max_age_share"`
}

func checkDBXminHorizon(_ context.Context, in *Input, p dbXminHorizonParams) ([]Finding, error) {
	h := dbHealth(in)
	if h == nil {
		return nil, nil
	}
	criticalXIDs := p.CriticalFreezeMaxAgeShare * float64(h.FreezeMaxAge)
	var out []Finding
	seen := map[string]bool{}
	for _, hd := range h.Holders {
		old := hd.XIDAge >= int64(p.MinXIDAge) || (hd.Seconds >= 0 && hd.Seconds >= p.MinAgeSeconds)
		critical := (h.FreezeMaxAge > 0 && float64(hd.XIDAge) >= criticalXIDs) ||
			(hd.Seconds >= 0 && hd.Seconds >= p.CriticalAgeSeconds)
		if !old && !critical {
			continue
		}
		subject, what, sql := dbHolderFix(hd)
		// Sessions of one application on one database are one subject:
		// the oldest (listed first) speaks for them.
		if seen[subject] {
			continue
		}
		seen[subject] = true
		out = append(out, Finding{
			Subject:    subject,
			Confidence: ConfidenceOf(1, "the server's transactions and slots"),
			Severity:   dbEscalate(critical),
			Evidence: map[string]any{
				"kind":                      hd.Kind,
				"holder":                    what,
				"name":                      hd.Name,
				"database":                  hd.Database,
				"user":                      hd.User,
				"application_name":          hd.Application,
				"state":                     hd.State,
				"backend_type":              hd.BackendType,
				"xid_age":                   hd.XIDAge,
				"age_seconds":               dbRound(hd.Seconds, 0),
				"catalog_only":              hd.CatalogOnly,
				"query":                     source.Redact(sqltext.OneLine(hd.Query)),
				"autovacuum_freeze_max_age": h.FreezeMaxAge,
			},
			Fix:   Fix{SQL: sql},
			Saves: dbRisk("a held xmin horizon costs bloat and transaction ID age, not request time now"),
		})
	}
	return out, nil
}

// dbHolderFix names a holder for the finding's subject and title, and the
// SQL that releases it.
func dbHolderFix(hd postgres.HorizonHolder) (subject, what, sql string) {
	switch hd.Kind {
	case postgres.HolderPrepared:
		gid := dbLiteral(hd.Name)
		return "prepared transaction " + hd.Name, "prepared transaction " + gid,
			fmt.Sprintf("ROLLBACK PREPARED %s;  -- or COMMIT PREPARED %s, connected to %s", gid, gid, hd.Database)
	case postgres.HolderSlot:
		kind := "replication slot"
		if hd.CatalogOnly {
			kind = "logical replication slot"
		}
		return "replication slot " + hd.Name, kind + " " + hd.Name,
			fmt.Sprintf("SELECT pg_drop_replication_slot(%s);  -- only if its consumer is gone for good", dbLiteral(hd.Name))
	}
	if hd.BackendType == "walsender" {
		return "standby feedback " + dbApp(hd.Application), "hot_standby_feedback of standby " + dbApp(hd.Application),
			"-- on the standby: end its long queries, or lower max_standby_streaming_delay"
	}
	state := hd.State
	if state == "" {
		state = hd.BackendType
	}
	return dbApp(hd.Application) + " on " + hd.Database,
		fmt.Sprintf("session %s of %s (%s)", hd.Name, dbApp(hd.Application), state),
		fmt.Sprintf("SELECT pg_terminate_backend(%s);", hd.Name)
}
