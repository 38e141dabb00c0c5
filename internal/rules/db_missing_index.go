package rules

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/pgadvisor/advisor/internal/probe/postgres"
	"github.com/pgadvisor/advisor/internal/sqltext"
)

// dbMissingIndex flags statements whose plans scan a table sequentially (or
// sort under a limit) where a B-tree index would serve them: dexter's
// candidates from each plan's filters and sort keys, verified with a
// hypothetical index (hypopg) when the database has it, with the
// planner's cost before and after and the CREATE INDEX CONCURRENTLY to run.
//
// It also looks past the planner's traps, where the generic plan's estimate
// is cheap and the statement is not (dbTraps): an index scan in the ORDER
// BY's order that filters under a LIMIT, a function or a cast on the
// filtered column, an OR across columns. A suggestion states its basis: the
// planner's cost cut (cost), the measured blocks read per row returned when
// the planner would use the index but its estimate hides the waste
// (measured_reads), or nothing verified without hypopg (unverified, at
// info).
var dbMissingIndex = Def[dbMissingIndexParams]{ID: "db.missing-index", Check: checkDBMissingIndex}

type dbMissingIndexParams struct {
	MinCalls        int     `param:"min_calls"`
	MinTotalTimeMS  float64 `param:"min_total_time_ms"`
	MinCostCut      float64 `param:"min_cost_cut"`
	MaxStatements   int     `param:"max_statements"`
	MaxHypothetical int     `param:"max_hypothetical"`
	// A statement's measured cost contradicts a cheap estimate when it
	// reads at least MinBlocksPerCall shared blocks per call and
	// MinBlocksPerRow per row it returns.
	MinBlocksPerCall float64 `param:"min_blocks_per_call"`
	MinBlocksPerRow  float64 `param:"min_blocks_per_row"`
}

func checkDBMissingIndex(ctx context.Context, in *Input, p dbMissingIndexParams) ([]Finding, error) {
	pg := dbPG(in)
	if pg == nil || in.Explainer == nil {
		return nil, nil
	}
	minCalls, minTotal, minCut := int64(p.MinCalls), p.MinTotalTimeMS, p.MinCostCut
	maxStatements, budget := p.MaxStatements, p.MaxHypothetical
	var cands []*postgres.StatementDelta
	for _, d := range dbVisible(pg) {
		if d.Calls < minCalls || d.TotalTime < minTotal || sqltext.ReadsCatalog(d.Statement.Query) ||
			sqltext.CheckQuery(d.Statement.Query) != nil {
			continue
		}
		cands = append(cands, d)
	}
	// Rows come sorted by total time: the top ones are worth the EXPLAINs.
	if len(cands) > maxStatements {
		cands = cands[:maxStatements]
	}
	var out []Finding
	bySubject := map[string]int{}
	var errs []error
	for _, d := range cands {
		if err := ctx.Err(); err != nil {
			return out, err
		}
		plan, err := in.Explainer.Explain(ctx, d.Statement.Query)
		if err != nil {
			var skip *postgres.SkipError
			if !errors.As(err, &skip) {
				errs = append(errs, fmt.Errorf("explain queryid %d: %w", d.Statement.QueryID, err))
			}
			continue
		}
		m := dbMeasure(d, p)
		cands := dbIndexCandidates(plan, pg.Tables)
		cands = append(cands, dbTraps(plan, pg.Tables, pg.Indexes, m.contradicted)...)
		for _, c := range cands {
			if dbCoveredBy(c, pg.Indexes) != nil {
				continue
			}
			if budget <= 0 {
				break
			}
			budget--
			f, ok, err := dbTryIndex(ctx, in, d, plan, c, minCut, m)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			if !ok {
				continue
			}
			if i, dup := bySubject[f.Subject]; dup {
				// Another statement the same index serves.
				out[i].Impact += f.Impact
				continue
			}
			bySubject[f.Subject] = len(out)
			out = append(out, f)
			break // the best candidate of this statement
		}
	}
	return dbMergePrefixes(out), errors.Join(errs...)
}

// dbIndexCandidate is one B-tree index to try on a table.
type dbIndexCandidate struct {
	table   *postgres.TableDelta
	columns []string // with " DESC" where the sort needs it; "(expr)" for an expression
	// trap names the planner trap the candidate answers (dbTrap*), "" for
	// a sequential scan or a sort under a limit.
	trap string
	// code is advice for the statement's code, where changing it is the
	// better fix (a cast on the column).
	code string
}

func (c dbIndexCandidate) names() []string {
	out := make([]string, len(c.columns))
	for i, col := range c.columns {
		out[i] = strings.TrimSuffix(col, " DESC")
	}
	return out
}

// dbMeasured is what pg_stat_statements measured of a statement, against
// which a plan's estimate is judged.
type dbMeasured struct {
	blocksPerCall, rowsPerCall, blocksPerRow float64
	// contradicted is set when the statement reads many blocks per call
	// and per row returned: an estimate that calls it cheap is wrong.
	contradicted bool
}

func dbMeasure(d *postgres.StatementDelta, p dbMissingIndexParams) dbMeasured {
	var m dbMeasured
	if d.Calls <= 0 {
		return m
	}
	m.blocksPerCall = float64(d.SharedHit+d.SharedRead) / float64(d.Calls)
	m.rowsPerCall = float64(d.Rows) / float64(d.Calls)
	m.blocksPerRow = m.blocksPerCall / max(m.rowsPerCall, 1)
	m.contradicted = m.blocksPerCall >= p.MinBlocksPerCall && m.blocksPerRow >= p.MinBlocksPerRow
	return m
}

func (c dbIndexCandidate) sql(concurrently bool) string {
	cols := make([]string, len(c.columns))
	for i, col := range c.columns {
		name, desc := strings.CutSuffix(col, " DESC")
		cols[i] = sqltext.Ident(name)
		if strings.HasPrefix(name, "(") {
			cols[i] = name // an expression, parenthesised
		}
		if desc {
			cols[i] += " DESC"
		}
	}
	kw := "CREATE INDEX "
	if concurrently {
		kw = "CREATE INDEX CONCURRENTLY "
	}
	return kw + "ON " + sqltext.TableName(c.table.Schema, c.table.Name) + " (" + strings.Join(cols, ", ") + ")"
}

func (c dbIndexCandidate) key() string {
	return c.table.Schema + "." + c.table.Name + "(" + strings.Join(c.columns, ",") + ")"
}

// dbScanTypes are the plan nodes that read a table.
var dbScanTypes = map[string]bool{"Seq Scan": true, "Index Scan": true, "Index Only Scan": true, "Bitmap Heap Scan": true}

// dbIndexCandidates builds the candidate indexes of a plan, dexter's way:
// for each sequential scan of a user table with a filter, and each scan of
// a user table under a sort feeding a limit, the equality columns (of the
// filter and index conditions), then one range column, then (when there is
// no range) the sort keys in their direction; the equality columns alone
// are a second candidate.
func dbIndexCandidates(plan *postgres.Plan, tables []postgres.TableDelta) []dbIndexCandidate {
	single := len(plan.Relations()) == 1
	sorts := plan.SortsUnderLimit()
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
		if !dbScanTypes[n.NodeType] || n.RelationName == "" {
			return true
		}
		t := dbFindTable(tables, n.Schema, n.RelationName)
		if t == nil {
			return true
		}
		var sortCols []string
		for _, s := range sorts {
			if slices.Contains(anc, s) {
				sortCols = dbSortColumns(s.SortKey, n, single)
				break
			}
		}
		var eq, rng []string
		if n.NodeType == "Seq Scan" {
			eq, rng = sqltext.FilterColumns(n.Filter)
		} else {
			// An index scan under a sort feeding a limit: an index on its
			// conditions and the sort keys would return the rows in order.
			if len(sortCols) == 0 {
				return true
			}
			var conds []string
			for _, c := range []string{n.IndexCond, n.RecheckCond, n.Filter} {
				if c != "" {
					conds = append(conds, "("+sqltext.StripParens(c)+")")
				}
			}
			eq, rng = sqltext.FilterColumns(strings.Join(conds, " AND "))
		}
		if len(eq) == 0 && len(rng) == 0 && len(sortCols) == 0 {
			return true
		}
		cols := slices.Clone(eq)
		if len(rng) > 0 {
			cols = append(cols, rng[0])
		} else {
			for _, c := range sortCols {
				if !slices.Contains(cols, strings.TrimSuffix(c, " DESC")) {
					cols = append(cols, c)
				}
			}
		}
		add(dbIndexCandidate{table: t, columns: cols})
		if len(eq) > 0 && len(eq) < len(cols) {
			add(dbIndexCandidate{table: t, columns: eq})
		}
		return true
	})
	return out
}

// dbSortColumns returns the sort keys that are columns of the relation a
// scan reads, with DESC kept; nil when a key is another relation's or an
// expression.
func dbSortColumns(keys []string, scan *postgres.Node, single bool) []string {
	var out []string
	for _, k := range keys {
		k = strings.TrimSpace(k)
		desc := false
		if s, ok := strings.CutSuffix(k, " DESC"); ok {
			k, desc = s, true
		}
		k = strings.TrimSuffix(k, " NULLS FIRST")
		k = strings.TrimSuffix(k, " NULLS LAST")
		qual, col, dotted := strings.Cut(k, ".")
		if !dotted {
			if !single {
				return nil
			}
			col = k
		} else if q, _ := sqltext.Unquote(qual); q != scan.Alias && q != scan.RelationName {
			return nil
		}
		col, ok := sqltext.Unquote(col)
		if !ok {
			return nil
		}
		if desc {
			col += " DESC"
		}
		out = append(out, col)
	}
	return out
}

// dbCoveredBy returns an existing valid B-tree index of the table whose
// leading key columns are the candidate's columns, or nil.
func dbCoveredBy(c dbIndexCandidate, indexes []postgres.IndexDelta) *postgres.Index {
	want := c.names()
	for i := range indexes {
		ix := &indexes[i].Index
		if ix.TableRelID != c.table.RelID || !ix.Valid || ix.Partial || ix.Method != "btree" {
			continue
		}
		if len(ix.KeyColumns) >= len(want) && slices.Equal(ix.KeyColumns[:len(want)], want) {
			return ix
		}
	}
	return nil
}

// dbMergePrefixes folds a suggested index whose columns lead another
// suggestion on the same table into the longer one, which serves both.
func dbMergePrefixes(fs []Finding) []Finding {
	names := func(f Finding) []string {
		cols, _ := f.Evidence["columns"].([]string)
		out := make([]string, len(cols))
		for i, c := range cols {
			out[i] = strings.TrimSuffix(c, " DESC")
		}
		return out
	}
	merged := make([]bool, len(fs))
	for i, f := range fs {
		for j, g := range fs {
			a, b := names(f), names(g)
			if i != j && f.Evidence["table"] == g.Evidence["table"] && len(a) < len(b) && slices.Equal(b[:len(a)], a) {
				merged[i] = true
				fs[j].Impact += f.Impact
				also, _ := g.Evidence["also_serves_queryids"].([]string)
				g.Evidence["also_serves_queryids"] = append(also, f.Evidence["queryid"].(string))
				break
			}
		}
	}
	var out []Finding
	for i, f := range fs {
		if !merged[i] {
			out = append(out, f)
		}
	}
	return out
}

// dbTryIndex verifies one candidate with a hypothetical index. Without
// hypopg it returns the candidate unverified.
func dbTryIndex(ctx context.Context, in *Input, d *postgres.StatementDelta, plan *postgres.Plan, c dbIndexCandidate,
	minCut float64, m dbMeasured) (Finding, bool, error) {
	verified := true
	basis := "cost"
	before, after := plan.TotalCost(), 0.0
	res, err := in.Explainer.HypotheticalCost(ctx, d.Statement.Query, c.sql(false))
	var missing *postgres.HypoPGMissingError
	var skip *postgres.SkipError
	switch {
	case errors.As(err, &missing):
		verified = false
	case errors.As(err, &skip):
		return Finding{}, false, nil
	case err != nil:
		return Finding{}, false, fmt.Errorf("hypothetical index on %s: %w", c.table.Name, err)
	default:
		before, after = res.Before, res.After
		if !res.Used || before <= 0 {
			return Finding{}, false, nil
		}
		if 1-after/before < minCut {
			// The planner would use the index but prices the plan without
			// it cheap already: only measured reads can say it is not.
			if !m.contradicted || c.trap == "" {
				return Finding{}, false, nil
			}
			basis = "measured_reads"
		}
	}
	cut := 0.0
	if verified && before > 0 {
		cut = 1 - after/before
	}
	scanned := 0.0
	if c.table.SeqScan > 0 {
		scanned = float64(c.table.SeqTupRead) / float64(c.table.SeqScan)
	}
	table := sqltext.TableName(c.table.Schema, c.table.Name)
	confidence := "high: verified with a hypothetical index (hypopg)"
	impact := d.Share * cut
	sev := Severity(0) // the rule's
	switch {
	case !verified:
		basis = "unverified"
		confidence = "low: hypopg is not installed, the cost cut is not verified (" + missing.Error() + ")"
		impact = d.Share * 0.5
		sev = Info
	case basis == "measured_reads":
		confidence = fmt.Sprintf("medium: the planner would use the index, and the statement reads %.0f blocks per row it returns, which its cheap estimate hides", m.blocksPerRow)
		impact = d.Share * 0.5
	}
	f := Finding{
		Severity: sev,
		Subject:  table + " (" + strings.Join(c.columns, ", ") + ")",
		Evidence: map[string]any{
			"table":                 table,
			"columns":               c.columns,
			"query":                 sqltext.OneLine(d.Statement.Query),
			"queryid":               dbQueryID(d.Statement.QueryID),
			"calls":                 d.Calls,
			"mean_ms":               dbRound(d.MeanTime, 3),
			"total_time_ms":         dbRound(d.TotalTime, 1),
			"total_share":           dbRound(d.Share, 3),
			"rows_scanned_per_call": dbRound(scanned, 1),
			"cost_before":           dbRound(before, 2),
			"cost_after":            dbRound(after, 2),
			"cost_cut":              dbRound(cut, 3),
			"verified":              verified && basis == "cost",
			"basis":                 basis,
			"trap":                  c.trap,
			"confidence":            confidence,
			"blocks_per_call":       dbRound(m.blocksPerCall, 1),
			"rows_per_call":         dbRound(m.rowsPerCall, 1),
			"blocks_per_row":        dbRound(m.blocksPerRow, 1),
			"estimate_contradicted": m.contradicted,
		},
		Fix:    Fix{SQL: c.sql(true) + ";\nANALYZE " + table + ";", Code: c.code},
		Impact: impact,
	}
	return f, true, nil
}
