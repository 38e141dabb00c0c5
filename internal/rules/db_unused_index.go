package rules

import (
	"context"

	"github.com/pgadvisor/advisor/internal/probe/postgres"
	"github.com/pgadvisor/advisor/internal/sqltext"
)

// dbUnusedIndex flags indexes that no scan used since the statistics were
// reset (pghero's check), but for unique and primary keys, which enforce
// constraints.
var dbUnusedIndex = Def[dbUnusedIndexParams]{ID: "db.unused-index", Check: checkDBUnusedIndex}

type dbUnusedIndexParams struct {
	MaxScans  int     `param:"max_scans"`
	MinSizeMB float64 `param:"min_size_mb"`
}

func checkDBUnusedIndex(ctx context.Context, in *Input, p dbUnusedIndexParams) ([]Finding, error) {
	cur := dbCur(in)
	if cur == nil || !cur.Indexes.Status.Ok() {
		return nil, nil
	}
	maxScans, minBytes := int64(p.MaxScans), p.MinSizeMB*1024*1024
	var out []Finding
	for _, ix := range cur.Indexes.Rows {
		if ix.Unique || ix.Primary || !ix.Valid || ix.Scan > maxScans || float64(ix.Bytes) < minBytes {
			continue
		}
		name := sqltext.TableName(ix.Schema, ix.Name)
		table := sqltext.TableName(ix.Schema, ix.Table)
		out = append(out, Finding{
			Subject:    name,
			Confidence: ConfidenceOf(1, "cumulative statistics"),
			Evidence: map[string]any{
				"index":       name,
				"table":       table,
				"definition":  ix.Definition,
				"size_bytes":  ix.Bytes,
				"scans":       ix.Scan,
				"stats_reset": dbStatsSince(cur),
			},
			Fix: Fix{SQL: "DROP INDEX CONCURRENTLY " + name + ";"},
		})
	}
	return out, nil
}

// dbStatsSince is when the index statistics started counting.
func dbStatsSince(cur *postgres.Snapshot) string {
	t := cur.Database.Stats.StatsReset
	if t.IsZero() {
		t = cur.Server.PostmasterAt
	}
	if t.IsZero() {
		return "unknown"
	}
	return t.UTC().Format("2006-01-02T15:04:05Z")
}
