package rules

import (
	"context"

	"github.com/pgadvisor/advisor/internal/probe/postgres"
	"github.com/pgadvisor/advisor/internal/probe/source"
	"github.com/pgadvisor/advisor/internal/sqltext"
)

// dbBlockedQueries flags sessions waiting on a lock for long, grouped by the
// relation and lock mode, with the session that blocks them.
var dbBlockedQueries = Def[dbBlockedQueriesParams]{ID: "db.blocked-queries", Check: checkDBBlockedQueries}

type dbBlockedQueriesParams struct {
	MinWaitSeconds float64 `param:"min_wait_seconds"`
}

func checkDBBlockedQueries(ctx context.Context, in *Input, p dbBlockedQueriesParams) ([]Finding, error) {
	cur := dbCur(in)
	if cur == nil || !cur.Blocked.Status.Ok() {
		return nil, nil
	}
	minWait := p.MinWaitSeconds
	type group struct {
		first  postgres.BlockedQuery
		wait   float64
		pids   map[int32]bool
		target string
	}
	groups := map[string]*group{}
	var order []string
	for _, b := range cur.Blocked.Rows {
		if b.WaitSeconds < minWait {
			continue
		}
		target := b.Relation
		if target == "" {
			target = b.LockType
		}
		key := target + "\x00" + b.Mode
		g := groups[key]
		if g == nil {
			g = &group{first: b, pids: map[int32]bool{}, target: target}
			groups[key] = g
			order = append(order, key)
		}
		g.pids[b.PID] = true
		if b.WaitSeconds > g.wait {
			g.wait = b.WaitSeconds
			g.first = b
		}
	}
	var out []Finding
	for _, k := range order {
		g := groups[k]
		b := g.first
		out = append(out, Finding{
			Subject: g.target + " " + b.Mode,
			Evidence: map[string]any{
				"relation":             g.target,
				"lock_mode":            b.Mode,
				"lock_type":            b.LockType,
				"wait_seconds":         dbRound(g.wait, 1),
				"blocked_sessions":     len(g.pids),
				"query":                source.Redact(sqltext.OneLine(b.Query)),
				"blocking_pid":         b.BlockingPID,
				"blocking_query":       source.Redact(sqltext.OneLine(b.BlockingQuery)),
				"blocking_application": dbApp(b.BlockingApplication),
				"blocking_state":       b.BlockingState,
				"blocking_xact_s":      dbRound(b.BlockingXactAge, 1),
			},
			Fix: Fix{Config: map[string]string{"lock_timeout": "5s", "statement_timeout": "30s"}},
		})
	}
	return out, nil
}
