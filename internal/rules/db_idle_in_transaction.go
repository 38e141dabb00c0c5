package rules

import (
	"context"
	"fmt"
	"strings"

	"github.com/pgadvisor/advisor/internal/probe/postgres"
	"github.com/pgadvisor/advisor/internal/probe/source"
	"github.com/pgadvisor/advisor/internal/sqltext"
)

// dbIdleInTransaction flags sessions left idle inside a transaction, which
// hold their locks and snapshot, grouped by database and application.
var dbIdleInTransaction = Def[dbIdleInTransactionParams]{ID: "db.idle-in-transaction", Check: checkDBIdleInTransaction}

type dbIdleInTransactionParams struct {
	MinIdleSeconds float64 `param:"min_idle_seconds"`
}

func checkDBIdleInTransaction(ctx context.Context, in *Input, p dbIdleInTransactionParams) ([]Finding, error) {
	cur := dbCur(in)
	if cur == nil || !cur.Activity.Status.Ok() {
		return nil, nil
	}
	minIdle := p.MinIdleSeconds
	type group struct {
		worst postgres.Session
		n     int
	}
	groups := map[string]*group{}
	var order []string
	for _, s := range cur.Activity.Sessions {
		if !strings.HasPrefix(s.State, "idle in transaction") || s.StateAge < minIdle {
			continue
		}
		key := s.Database + "\x00" + s.Application
		g := groups[key]
		if g == nil {
			g = &group{worst: s}
			groups[key] = g
			order = append(order, key)
		}
		g.n++
		if s.StateAge > g.worst.StateAge {
			g.worst = s
		}
	}
	var out []Finding
	for _, k := range order {
		g := groups[k]
		s := g.worst
		out = append(out, Finding{
			Subject: dbApp(s.Application) + " on " + s.Database,
			Evidence: map[string]any{
				"application_name": dbApp(s.Application),
				"database":         s.Database,
				"user":             s.User,
				"idle_seconds":     dbRound(s.StateAge, 1),
				"xact_seconds":     dbRound(s.XactAge, 1),
				"last_query":       source.Redact(sqltext.OneLine(s.Query)),
				"sessions":         g.n,
				"pid":              s.PID,
			},
			Fix: Fix{Config: map[string]string{"idle_in_transaction_session_timeout": "60s"},
				SQL: fmt.Sprintf("ALTER ROLE %s SET idle_in_transaction_session_timeout = '60s';", sqltext.Ident(s.User))},
		})
	}
	return out, nil
}
