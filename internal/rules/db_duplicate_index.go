package rules

import (
	"context"
	"slices"

	"github.com/pgadvisor/advisor/internal/sqltext"
)

// dbDuplicateIndex flags an index whose keys lead another index of the same
// table and method (pghero's check): the longer one serves its scans.
var dbDuplicateIndex = Def[dbDuplicateIndexParams]{ID: "db.duplicate-index", Check: checkDBDuplicateIndex}

// dbDuplicateIndexParams is empty: the rule has no params.
type dbDuplicateIndexParams struct{}

func checkDBDuplicateIndex(ctx context.Context, in *Input, p dbDuplicateIndexParams) ([]Finding, error) {
	cur := dbCur(in)
	if cur == nil || !cur.Indexes.Status.Ok() {
		return nil, nil
	}
	rows := cur.Indexes.Rows
	var out []Finding
	for i := range rows {
		a := &rows[i]
		if a.Unique || a.Primary || !a.Valid || a.Partial || len(a.IncludeCols) > 0 {
			continue
		}
		ak := sqltext.IndexKeys(a.Definition)
		if len(ak) == 0 {
			continue
		}
		for j := range rows {
			b := &rows[j]
			if i == j || b.TableRelID != a.TableRelID || b.Method != a.Method || !b.Valid || b.Partial {
				continue
			}
			bk := sqltext.IndexKeys(b.Definition)
			if len(bk) < len(ak) || !slices.Equal(bk[:len(ak)], ak) {
				continue
			}
			// Two identical indexes: report the later name only once.
			if len(bk) == len(ak) && !b.Unique && a.Name < b.Name {
				continue
			}
			name, by := sqltext.TableName(a.Schema, a.Name), sqltext.TableName(b.Schema, b.Name)
			out = append(out, Finding{
				Subject:    name,
				Confidence: ConfidenceOf(1, "the catalog's index definitions"),
				Evidence: map[string]any{
					"index":            name,
					"index_columns":    ak,
					"covered_by":       by,
					"covering_columns": bk,
					"table":            sqltext.TableName(a.Schema, a.Table),
					"size_bytes":       a.Bytes,
				},
				Fix: Fix{SQL: "DROP INDEX CONCURRENTLY " + name + ";"},
			})
			break
		}
	}
	return out, nil
}
