package rules

import (
	"context"
	"fmt"
	"strings"

	"github.com/pgadvisor/advisor/internal/sqltext"
)

// dbXIDWraparound flags a database whose oldest unfrozen transaction ID
// (or multixact ID) has used much of the 2^31 PostgreSQL can tell apart:
// past it the server stops assigning IDs and only a VACUUM in single-user
// mode brings it back.
var dbXIDWraparound = Def[dbXIDWraparoundParams]{ID: "db.xid-wraparound", Check: checkDBXIDWraparound}

type dbXIDWraparoundParams struct {
	MinAgeShare      float64 `param:"min_age_share"`
	CriticalAgeShare float64 `param:"critical_age_share"`
	MaxTablesListed  int     `param:"max_tables_listed"`
}

func checkDBXIDWraparound(_ context.Context, in *Input, p dbXIDWraparoundParams) ([]Finding, error) {
	h := dbHealth(in)
	if h == nil {
		return nil, nil
	}
	current := dbCur(in).Server.Database
	var out []Finding
	for _, d := range h.Databases {
		xidShare := float64(d.XIDAge) / dbXIDSpace
		mxidShare := float64(d.MXIDAge) / dbXIDSpace
		share := max(xidShare, mxidShare)
		if share < p.MinAgeShare {
			continue
		}
		which := "transaction ID"
		if mxidShare > xidShare {
			which = "multixact ID"
		}
		ev := map[string]any{
			"database":                  d.Name,
			"xid_age":                   d.XIDAge,
			"mxid_age":                  d.MXIDAge,
			"age_share":                 dbRound(share, 4),
			"oldest":                    which,
			"ids_left":                  int64(dbXIDSpace) - max(d.XIDAge, d.MXIDAge),
			"autovacuum_freeze_max_age": h.FreezeMaxAge,
			"vacuum_failsafe_age":       h.FailsafeAge,
			"allows_connections":        d.AllowConn,
			"current_database":          d.Name == current,
			"oldest_tables":             "",
		}
		var fix string
		if d.Name == current {
			var tables, stmts []string
			for i, t := range h.FreezeTables {
				if i == p.MaxTablesListed {
					break
				}
				name := sqltext.TableName(t.Schema, t.Name)
				tables = append(tables, fmt.Sprintf("%s (age %d)", name, max(t.XIDAge, t.MXIDAge)))
				stmts = append(stmts, "VACUUM (FREEZE, VERBOSE) "+name+";")
			}
			ev["oldest_tables"] = strings.Join(tables, ", ")
			fix = strings.Join(stmts, "\n")
		}
		out = append(out, Finding{
			Subject:    "database " + d.Name,
			Confidence: ConfidenceOf(1, "the databases' transaction ID age"),
			Severity:   dbEscalate(share >= p.CriticalAgeShare),
			Evidence:   ev,
			Fix:        Fix{SQL: fix},
			Saves:      dbRisk("transaction ID age costs no request time until the server stops writes"),
		})
	}
	return out, nil
}
