package rules

import (
	"context"
	"strings"

	"github.com/pgadvisor/advisor/internal/sqltext"
)

// dbInvalidIndex flags an index left invalid, most often by a CREATE
// INDEX CONCURRENTLY or REINDEX CONCURRENTLY that failed: the planner
// never uses it, yet every write still maintains it and a unique one
// still rejects duplicates.
var dbInvalidIndex = Def[dbInvalidIndexParams]{ID: "db.invalid-index", Check: checkDBInvalidIndex}

type dbInvalidIndexParams struct {
	CriticalSizeBytes int `param:"critical_size_bytes"`
}

func checkDBInvalidIndex(_ context.Context, in *Input, p dbInvalidIndexParams) ([]Finding, error) {
	h := dbHealth(in)
	if h == nil {
		return nil, nil
	}
	var out []Finding
	for _, ix := range h.InvalidIndexes {
		name := sqltext.TableName(ix.Schema, ix.Name)
		sql := "DROP INDEX CONCURRENTLY " + name + ";"
		// A leftover of REINDEX CONCURRENTLY is only dropped; any other
		// is built again, concurrently.
		if !strings.Contains(ix.Name, "_ccnew") && !strings.Contains(ix.Name, "_ccold") {
			if def, ok := strings.CutPrefix(ix.Definition, "CREATE "); ok {
				def = strings.Replace(def, "INDEX ", "INDEX CONCURRENTLY ", 1)
				sql += "\nCREATE " + def + ";"
			}
		}
		out = append(out, Finding{
			Subject:    name,
			Confidence: ConfidenceOf(1, "the catalog's index state"),
			Severity:   dbEscalate(p.CriticalSizeBytes > 0 && ix.SizeBytes >= int64(p.CriticalSizeBytes)),
			Evidence: map[string]any{
				"index":      name,
				"table":      sqltext.TableName(ix.TableSchema, ix.Table),
				"unique":     ix.Unique,
				"ready":      ix.Ready,
				"size_bytes": ix.SizeBytes,
				"definition": ix.Definition,
			},
			Fix:   Fix{SQL: sql},
			Saves: dbRisk("an invalid index costs writes and disk, not read time"),
		})
	}
	return out, nil
}
