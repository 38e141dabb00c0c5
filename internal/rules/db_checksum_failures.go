package rules

import (
	"context"
	"time"
)

// dbChecksumFailures flags data pages whose checksum failed: corruption
// PostgreSQL found reading them, in the window or since the database's
// statistics were reset. A corrupt page stays corrupt: the count since
// the reset is as much a finding as the window's.
var dbChecksumFailures = Def[dbChecksumFailuresParams]{ID: "db.checksum-failures", Check: checkDBChecksumFailures}

type dbChecksumFailuresParams struct {
	MinFailures int `param:"min_failures"`
}

func checkDBChecksumFailures(_ context.Context, in *Input, p dbChecksumFailuresParams) ([]Finding, error) {
	pg := dbPG(in)
	if pg == nil || pg.Cur == nil || !pg.Cur.Database.Status.Ok() || !pg.Cur.Database.Stats.HasChecksums {
		return nil, nil
	}
	st := pg.Cur.Database.Stats
	least := int64(max(p.MinFailures, 1))
	inWindow := pg.Database.ChecksumFailures >= least
	if !inWindow && st.ChecksumFailures < least {
		return nil, nil
	}
	since, _ := dbStatsAge(pg.Cur)
	last := "unknown"
	if !st.ChecksumLastFailure.IsZero() {
		last = st.ChecksumLastFailure.UTC().Format(time.RFC3339)
	}
	name := pg.Cur.Server.Database
	return []Finding{{
		Subject:    "database " + name,
		Confidence: ConfidenceOf(1, "the server's checksum counters"),
		Impact:     1,
		Saves:      dbRisk("corrupt data costs no request time until a query reads it and fails"),
		Evidence: map[string]any{
			"database":                   name,
			"checksum_failures":          pg.Database.ChecksumFailures,
			"checksum_failures_lifetime": st.ChecksumFailures,
			"last_failure":               last,
			"lifetime":                   since,
			"in_window":                  inWindow,
		},
		Fix: Fix{SQL: "-- which relations are damaged (contrib amcheck; pg_amcheck runs it on every relation):\nCREATE EXTENSION IF NOT EXISTS amcheck;\n-- then, per index: SELECT bt_index_check('index_name'::regclass, true);"},
	}}, nil
}
