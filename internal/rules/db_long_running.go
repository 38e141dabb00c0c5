package rules

import (
	"context"
	"fmt"
	"regexp"
	"strings"

	"github.com/pgadvisor/advisor/internal/probe/source"
	"github.com/pgadvisor/advisor/internal/sqltext"
)

// dbLongRunning flags queries active for long, grouped by their text without
// literals.
var dbLongRunning = Def[dbLongRunningParams]{ID: "db.long-running", Check: checkDBLongRunning}

type dbLongRunningParams struct {
	MinDurationSeconds float64 `param:"min_duration_seconds"`
}

func checkDBLongRunning(ctx context.Context, in *Input, p dbLongRunningParams) ([]Finding, error) {
	cur := dbCur(in)
	if cur == nil || !cur.Activity.Status.Ok() {
		return nil, nil
	}
	minDur := p.MinDurationSeconds
	seen := map[string]int{}
	var out []Finding
	for _, s := range cur.Activity.Sessions {
		if s.State != "active" || s.QueryAge < minDur {
			continue
		}
		q := source.Redact(sqltext.OneLine(s.Query))
		subject := truncate(120, dbLiteralRe.ReplaceAllString(q, "?"))
		if i, ok := seen[subject]; ok {
			ev := out[i].Evidence
			ev["sessions"] = ev["sessions"].(int) + 1
			if s.QueryAge > ev["duration_seconds"].(float64) {
				ev["duration_seconds"] = dbRound(s.QueryAge, 1)
				ev["pid"] = s.PID
			}
			continue
		}
		seen[subject] = len(out)
		out = append(out, Finding{
			Subject: subject,
			Evidence: map[string]any{
				"query":            q,
				"duration_seconds": dbRound(s.QueryAge, 1),
				"state":            s.State,
				"application_name": dbApp(s.Application),
				"database":         s.Database,
				"wait_event":       strings.Trim(s.WaitEventType+":"+s.WaitEvent, ":"),
				"pid":              s.PID,
				"sessions":         1,
			},
			Fix: Fix{SQL: fmt.Sprintf("SELECT pg_cancel_backend(%d);  -- if it is a runaway\nALTER ROLE %s SET statement_timeout = '30s';",
				s.PID, sqltext.Ident(s.User))},
		})
	}
	return out, nil
}

// dbLiteralRe finds the literals of a query text, for a subject without
// numbers.
var dbLiteralRe = regexp.MustCompile(`'(?:[^']|'')*'|\b\d+(?:\.\d+)?\b`)
