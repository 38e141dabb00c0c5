package rules

import (
	"regexp"
	"slices"
	"strings"

	"github.com/pgadvisor/advisor/internal/probe/postgres"
	"github.com/pgadvisor/advisor/internal/sqltext"
)

// The planner traps db.missing-index looks past: plans whose estimate is
// cheap, or whose filter no plain column index can serve.
const (
	// dbTrapOrderLimit: WHERE a = $1 ORDER BY b LIMIT n over an index on b
	// alone. The plan walks b's index in order and filters, its cost scaled
	// down by the LIMIT as if matching rows were spread evenly; when they
	// are not, it reads most of the index for a handful of rows.
	dbTrapOrderLimit = "order_by_limit"
	// dbTrapFilteredScan: an index scan that throws away most of what it
	// reads, on a statement whose measured reads contradict its estimate.
	dbTrapFilteredScan = "filtered_index_scan"
	// dbTrapFunction: lower(email) = $1; an index on email cannot serve it.
	dbTrapFunction = "function_on_column"
	// dbTrapCast: (code)::numeric = $1, a parameter of another type than
	// the column's casts the column, and its index cannot serve it.
	dbTrapCast = "implicit_cast"
	// dbTrapOr: a = $1 OR b = $2; each column needs an index of its own for
	// a BitmapOr.
	dbTrapOr = "or_across_columns"
)

// dbPassThrough are the plan nodes between a Limit and a scan that keep the
// scan's order and its rows' count.
var dbPassThrough = map[string]bool{"Gather Merge": true, "Subquery Scan": true, "Result": true}

// dbTraps builds the candidate indexes of the planner traps of a plan.
// contradicted says the statement's measured reads contradict a cheap
// estimate: index scans that filter are then candidates even without a
// LIMIT above them.
func dbTraps(plan *postgres.Plan, tables []postgres.TableDelta, indexes []postgres.IndexDelta, contradicted bool) []dbIndexCandidate {
	var out []dbIndexCandidate
	seen := map[string]bool{}
	add := func(c dbIndexCandidate) {
		if len(c.columns) == 0 || len(c.columns) > 4 || seen[c.key()] {
			return
		}
		seen[c.key()] = true
		out = append(out, c)
	}
	plan.Walk(func(n *postgres.Node, anc []*postgres.Node) bool {
		if n.RelationName == "" || n.Filter == "" {
			return true
		}
		t := dbFindTable(tables, n.Schema, n.RelationName)
		if t == nil {
			return true
		}
		switch n.NodeType {
		case "Index Scan", "Index Only Scan":
			underLimit := dbUnderLimit(anc)
			if !underLimit && !contradicted {
				break
			}
			eq, rng := sqltext.FilterColumns("(" + sqltext.StripParens(n.Filter) + ")" + dbAnd(n.IndexCond))
			if len(eq) == 0 {
				break
			}
			cols := slices.Clone(eq)
			trap := dbTrapFilteredScan
			if underLimit {
				trap = dbTrapOrderLimit
				for _, k := range dbScanOrder(n, t, indexes) {
					if !slices.Contains(cols, strings.TrimSuffix(k, " DESC")) {
						cols = append(cols, k)
					}
				}
			} else if len(rng) > 0 {
				cols = append(cols, rng[0])
			}
			add(dbIndexCandidate{table: t, columns: cols, trap: trap})
		}
		if n.NodeType == "Seq Scan" || contradicted {
			for _, c := range dbExpressionCandidates(n, t) {
				add(c)
			}
			for _, c := range dbOrCandidates(n, t) {
				add(c)
			}
		}
		return true
	})
	return out
}

// dbAnd is " AND (cond)" for a non-empty condition.
func dbAnd(cond string) string {
	if cond == "" {
		return ""
	}
	return " AND (" + sqltext.StripParens(cond) + ")"
}

// dbUnderLimit reports whether the nearest ancestors lead to a Limit
// through nodes that keep the order.
func dbUnderLimit(anc []*postgres.Node) bool {
	for i := len(anc) - 1; i >= 0; i-- {
		switch {
		case anc[i].NodeType == "Limit":
			return true
		case dbPassThrough[anc[i].NodeType]:
			continue
		}
		return false
	}
	return false
}

// dbScanOrder is the order an index scan returns its rows in: the index's
// key columns, in the scan's direction; nil when a key is an expression.
func dbScanOrder(n *postgres.Node, t *postgres.TableDelta, indexes []postgres.IndexDelta) []string {
	for i := range indexes {
		ix := &indexes[i].Index
		if ix.TableRelID != t.RelID || ix.Name != n.IndexName {
			continue
		}
		var out []string
		for j, k := range sqltext.IndexKeys(ix.Definition) {
			if j >= len(ix.KeyColumns) || ix.KeyColumns[j] == "" {
				return nil
			}
			desc := strings.Contains(strings.ToUpper(k), " DESC")
			if n.ScanDirection == "Backward" {
				desc = !desc
			}
			col := ix.KeyColumns[j]
			if desc {
				col += " DESC"
			}
			out = append(out, col)
		}
		return out
	}
	return nil
}

// dbComparison splits one condition of a filter into its left side, for an
// operator B-tree serves, and its right side.
var dbComparison = regexp.MustCompile(`^(.+?)\s+(=|<=|>=|<|>)\s+(.+)$`)

// dbCastOnColumn matches a column under a cast: (code)::numeric, code::text.
var dbCastOnColumn = regexp.MustCompile(`^\(?([A-Za-z_][A-Za-z0-9_]*|"[^"]+")\)?::[A-Za-z ]+(?:\[\])?$`)

// dbFunctionCall matches a function applied to its arguments: lower(email).
var dbFunctionCall = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_.]*\(.+\)$`)

// dbExpressionCandidates are expression indexes for the conditions of a
// scan's filter that compare a function of a column or a cast column with
// a parameter or a constant.
func dbExpressionCandidates(n *postgres.Node, t *postgres.TableDelta) []dbIndexCandidate {
	f := sqltext.StripParens(n.Filter)
	if len(sqltext.SplitTop(f, " OR ")) > 1 {
		return nil
	}
	var out []dbIndexCandidate
	for _, part := range sqltext.SplitTop(f, " AND ") {
		m := dbComparison.FindStringSubmatch(sqltext.StripParens(part))
		if m == nil || !dbConstantSide(m[3]) {
			continue
		}
		lhs := dbUnqualify(sqltext.StripParens(m[1]), n)
		switch {
		case dbCastOnColumn.MatchString(lhs):
			col := dbCastOnColumn.FindStringSubmatch(lhs)[1]
			out = append(out, dbIndexCandidate{table: t, columns: []string{"(" + lhs + ")"}, trap: dbTrapCast,
				code: "The filter casts the column (" + lhs + "): the value compared with " + col +
					" has another type than the column, so no index on " + col + " can serve it. Better than the " +
					"expression index: pass the parameter with the column's own type (from the driver, or $n::<the " +
					"column's type> in the statement)."})
		case dbFunctionCall.MatchString(lhs):
			out = append(out, dbIndexCandidate{table: t, columns: []string{"(" + lhs + ")"}, trap: dbTrapFunction})
		}
	}
	return out
}

// dbOrCandidates are the indexes each arm of a filter's top-level OR needs
// for a BitmapOr: the arms whose column has an index already do not
// count, the candidate of an arm without one is tried.
func dbOrCandidates(n *postgres.Node, t *postgres.TableDelta) []dbIndexCandidate {
	arms := sqltext.SplitTop(sqltext.StripParens(n.Filter), " OR ")
	if len(arms) < 2 {
		return nil
	}
	var out []dbIndexCandidate
	for _, arm := range arms {
		eq, rng := sqltext.FilterColumns(arm)
		cols := eq
		if len(cols) == 0 && len(rng) > 0 {
			cols = rng[:1]
		}
		if len(cols) > 0 {
			out = append(out, dbIndexCandidate{table: t, columns: slices.Clone(cols), trap: dbTrapOr})
		}
	}
	return out
}

// dbUnqualify removes the scan's alias (or relation name) qualifying the
// columns of an expression, which an index definition cannot carry.
func dbUnqualify(expr string, n *postgres.Node) string {
	for _, q := range []string{n.Alias, n.RelationName} {
		if q != "" {
			expr = strings.ReplaceAll(expr, q+".", "")
		}
	}
	return expr
}

// dbConstantSide reports whether the other side of a condition is a
// parameter or a constant (possibly cast), not a column.
func dbConstantSide(rhs string) bool {
	r := strings.TrimLeft(strings.TrimSpace(rhs), "( ")
	if r == "" {
		return false
	}
	switch c := r[0]; {
	case c == '$', c == '\'', c == '-', c >= '0' && c <= '9':
		return true
	}
	return false
}
