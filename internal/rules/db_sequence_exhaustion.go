package rules

import (
	"context"
	"strings"

	"github.com/pgadvisor/advisor/internal/probe/postgres"
	"github.com/pgadvisor/advisor/internal/sqltext"
)

// dbSequenceExhaustion flags a sequence that has used most of its range,
// the range being the narrower of the sequence's type and the type of the
// column it feeds (a serial integer column on a bigint sequence ends at
// 2^31-1 whatever the sequence allows).
var dbSequenceExhaustion = Def[dbSequenceExhaustionParams]{ID: "db.sequence-exhaustion", Check: checkDBSequenceExhaustion}

type dbSequenceExhaustionParams struct {
	MinUsedShare      float64 `param:"min_used_share"`
	CriticalUsedShare float64 `param:"critical_used_share"`
}

func checkDBSequenceExhaustion(_ context.Context, in *Input, p dbSequenceExhaustionParams) ([]Finding, error) {
	h := dbHealth(in)
	if h == nil {
		return nil, nil
	}
	var out []Finding
	seen := map[string]bool{}
	// Rows come nearest the end first: the first row of a sequence is its
	// narrowest column.
	for _, s := range h.Sequences {
		key := s.Schema + "." + s.Name
		if seen[key] || s.UsedShare < p.MinUsedShare {
			continue
		}
		// A cycling sequence wraps by design, unless a narrower column
		// ends it first.
		if s.Cycle && !s.LimitedByColumn {
			continue
		}
		seen[key] = true
		seq := sqltext.TableName(s.Schema, s.Name)
		limitedBy := "sequence"
		if s.LimitedByColumn {
			limitedBy = "column"
		}
		ev := map[string]any{
			"sequence":      seq,
			"sequence_type": s.Type,
			"table":         "",
			"column":        "",
			"column_type":   "",
			"last_value":    s.Last,
			"limit":         s.Limit,
			"limited_by":    limitedBy,
			"used_share":    dbRound(s.UsedShare, 4),
			"remaining":     s.Remaining,
		}
		if s.Table != "" {
			ev["table"] = sqltext.TableName(s.TableSchema, s.Table)
			ev["column"] = s.Column
			ev["column_type"] = s.ColumnType
		}
		out = append(out, Finding{
			Subject:    seq,
			Confidence: ConfidenceOf(1, "the sequences' state"),
			Severity:   dbEscalate(s.UsedShare >= p.CriticalUsedShare),
			Evidence:   ev,
			Fix:        Fix{SQL: dbSequenceFixSQL(s)},
			Saves:      dbRisk("a sequence near its end costs no request time until inserts fail"),
		})
	}
	return out, nil
}

// dbSequenceFixSQL widens what ends the range: the column to bigint (a
// table rewrite under an exclusive lock), the sequence to bigint.
func dbSequenceFixSQL(s postgres.Sequence) string {
	var stmts []string
	if s.Table != "" && (s.ColumnType == "smallint" || s.ColumnType == "integer") {
		stmts = append(stmts, "ALTER TABLE "+sqltext.TableName(s.TableSchema, s.Table)+
			" ALTER COLUMN "+sqltext.Ident(s.Column)+" TYPE bigint;")
	}
	if s.Type == "smallint" || s.Type == "integer" {
		stmts = append(stmts, "ALTER SEQUENCE "+sqltext.TableName(s.Schema, s.Name)+" AS bigint;")
	}
	return strings.Join(stmts, "\n")
}
