package rules

import (
	"context"
	"math"
	"strings"

	"github.com/pgadvisor/advisor/internal/sqltext"
)

// dbTableBloat flags tables whose pages hold far more space than their
// rows need, by the statistical estimate the probe makes from reltuples,
// pages and pg_stats' widths (no table is scanned).
var dbTableBloat = Def[dbTableBloatParams]{ID: "db.table-bloat", Check: checkDBTableBloat}

type dbTableBloatParams struct {
	MinBloatBytes int     `param:"min_bloat_bytes"`
	MinBloatShare float64 `param:"min_bloat_share"`
}

func checkDBTableBloat(_ context.Context, in *Input, p dbTableBloatParams) ([]Finding, error) {
	cur := dbCur(in)
	if cur == nil || !cur.Maintenance.Status.Ok() {
		return nil, nil
	}
	m := &cur.Maintenance
	var out []Finding
	for _, t := range m.Tables {
		table := sqltext.TableName(t.Schema, t.Name)
		pages := t.Pages()
		if !t.BloatEstimated || pages <= 0 || t.ExpectedPages >= pages {
			continue
		}
		bloatBytes := (pages - t.ExpectedPages) * m.BlockSize
		share := float64(pages-t.ExpectedPages) / float64(pages)
		if bloatBytes < int64(p.MinBloatBytes) || share < p.MinBloatShare {
			continue
		}
		out = append(out, Finding{
			Subject:    table,
			Confidence: ConfidenceOf(0.5, "an estimate from the planner's statistics (pgstattuple confirms it)"),
			Evidence: map[string]any{
				"table":          table,
				"table_bytes":    pages * m.BlockSize,
				"expected_bytes": t.ExpectedPages * m.BlockSize,
				"bloat_bytes":    bloatBytes,
				"bloat_share":    dbRound(share, 3),
				"fillfactor":     t.Fillfactor,
				"live_tuples":    int64(t.RelTuples),
				"dead_tuples":    t.DeadTup,
				"estimate":       "statistical (ioguix/pgsql-bloat-estimation): reltuples x average row width from pg_stats against the table's pages",
			},
			Fix: Fix{SQL: "-- confirm first (reads the whole table): SELECT * FROM pgstattuple('" + strings.ReplaceAll(table, "'", "''") + "');\n" +
				"-- online: pg_repack --table=" + table + "\n" +
				"-- or, with an ACCESS EXCLUSIVE lock for the rewrite:\nVACUUM (FULL, ANALYZE) " + table + ";"},
			Impact: math.Min(share, 1),
		})
	}
	return out, nil
}
