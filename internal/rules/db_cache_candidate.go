package rules

import (
	"context"
	"strings"

	"github.com/pgadvisor/advisor/internal/sqltext"
)

// dbCacheCandidate flags hot read-only statements over tables that are
// rarely written: reads a cache-aside with a TTL would serve.
var dbCacheCandidate = Def[dbCacheCandidateParams]{ID: "db.cache-candidate", Check: checkDBCacheCandidate}

type dbCacheCandidateParams struct {
	MaxTableWritesPerS float64 `param:"max_table_writes_per_s"`
	MinTotalShare      float64 `param:"min_total_share"`
}

func checkDBCacheCandidate(ctx context.Context, in *Input, p dbCacheCandidateParams) ([]Finding, error) {
	pg := dbPG(in)
	if pg == nil {
		return nil, nil
	}
	// A statement qualifies by its share of the database's time, whatever
	// its rate: a short run makes few calls of the hottest read.
	maxWrites, minShare := p.MaxTableWritesPerS, p.MinTotalShare
	var out []Finding
	for _, d := range dbVisible(pg) {
		q := d.Statement.Query
		if d.Share < minShare || !sqltext.ReadOnly(q) || sqltext.ReadsCatalog(q) {
			continue
		}
		_, from, ok := sqltext.SelectList(q)
		if !ok {
			continue
		}
		tables := dbTables(from, pg.Tables)
		if len(tables) == 0 {
			continue
		}
		writes := 0.0
		names := make([]string, len(tables))
		for i, t := range tables {
			writes += t.WritesPerS
			names[i] = sqltext.TableName(t.Schema, t.Name)
		}
		if writes > maxWrites {
			continue
		}
		out = append(out, Finding{
			Subject: dbSubject(d),
			Evidence: map[string]any{
				"query":              sqltext.OneLine(q),
				"queryid":            dbQueryID(d.Statement.QueryID),
				"table":              strings.Join(names, ", "),
				"calls":              d.Calls,
				"calls_per_s":        dbRound(d.CallsPerS, 1),
				"mean_ms":            dbRound(d.MeanTime, 3),
				"table_writes_per_s": dbRound(writes, 2),
				"total_share":        dbRound(d.Share, 3),
			},
			Impact: d.Share,
		})
	}
	return out, nil
}
