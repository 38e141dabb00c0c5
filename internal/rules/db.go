package rules

import (
	"context"
	"errors"
	"fmt"
	"math"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/pgadvisor/advisor/internal/probe/postgres"
	"github.com/pgadvisor/advisor/internal/probe/pprof"
	"github.com/pgadvisor/advisor/internal/probe/source"
)

// dbDetectors returns the detectors of the database rules.
var dbRules = legacyRules(map[string]func(ctx context.Context, in *Input, r *Rule) ([]Finding, error){
	"db.missing-index":       dbMissingIndex,
	"db.n-plus-one":          dbNPlusOne,
	"db.overfetch":           dbOverfetch,
	"db.slow-query":          dbSlowQuery,
	"db.cache-candidate":     dbCacheCandidate,
	"db.unused-index":        dbUnusedIndex,
	"db.duplicate-index":     dbDuplicateIndex,
	"db.blocked-queries":     dbBlockedQueries,
	"db.idle-in-transaction": dbIdleInTransaction,
	"db.long-running":        dbLongRunning,
	"db.low-cache-hit":       dbLowCacheHit,
})

// dbPG returns the window's PostgreSQL part, or nil.
func dbPG(in *Input) *postgres.Window {
	if in == nil || in.Window == nil {
		return nil
	}
	return in.Window.Postgres
}

// dbCur returns the later snapshot of the PostgreSQL window, or nil.
func dbCur(in *Input) *postgres.Snapshot {
	pg := dbPG(in)
	if pg == nil {
		return nil
	}
	return pg.Cur
}

func dbQueryID(id int64) string { return strconv.FormatInt(id, 10) }

// dbSubject is the subject of a finding about one statement.
func dbSubject(d *postgres.StatementDelta) string { return "queryid " + dbQueryID(d.Statement.QueryID) }

// dbVisible are the statements whose text advisor can read.
func dbVisible(pg *postgres.Window) []*postgres.StatementDelta {
	var out []*postgres.StatementDelta
	for i := range pg.Statements.Rows {
		d := &pg.Statements.Rows[i]
		if d.Statement.Hidden || d.Calls <= 0 || strings.TrimSpace(d.Statement.Query) == "" {
			continue
		}
		out = append(out, d)
	}
	return out
}

// dbReadOnly reports whether a statement only reads: one SELECT (or WITH,
// VALUES, TABLE) without writes, row locks or sequence calls.
func dbReadOnly(query string) bool {
	if postgres.CheckExplainable(query) != nil {
		return false
	}
	return !dbLockingRe.MatchString(query)
}

var dbLockingRe = regexp.MustCompile(`(?i)\bFOR\s+(UPDATE|SHARE|NO\s+KEY\s+UPDATE|KEY\s+SHARE)\b|\bnextval\s*\(|\bsetval\s*\(|\bpg_advisory`)

// dbCatalogRe recognises statements over the system catalogs and the
// statistics views (monitoring tools, advisor's own probe).
var dbCatalogRe = regexp.MustCompile(`(?i)\bpg_(catalog|stat|statio|class|index|namespace|attribute|settings|locks|database|extension|prepared|roles|proc|type|tables|indexes)`)

// dbWordRe finds identifiers in a statement text.
var dbWordRe = regexp.MustCompile(`"[^"]+"|[A-Za-z_][A-Za-z0-9_$]*`)

// dbTables returns the user tables a statement names, in the order of the
// text, once each. Names are matched on the table name (schema-qualified
// names match too).
func dbTables(query string, tables []postgres.TableDelta) []*postgres.TableDelta {
	byName := map[string][]int{}
	for i, t := range tables {
		n := strings.ToLower(t.Name)
		byName[n] = append(byName[n], i)
	}
	seen := map[uint32]bool{}
	var out []*postgres.TableDelta
	for _, w := range dbWordRe.FindAllString(query, -1) {
		var name string
		if strings.HasPrefix(w, `"`) {
			name = strings.Trim(w, `"`)
		} else {
			name = strings.ToLower(w)
		}
		for _, i := range byName[name] {
			if !seen[tables[i].RelID] {
				seen[tables[i].RelID] = true
				out = append(out, &tables[i])
			}
		}
	}
	return out
}

// dbFindTable returns the table a plan node names (plans without VERBOSE
// give no schema: public wins over other schemas).
func dbFindTable(tables []postgres.TableDelta, schema, name string) *postgres.TableDelta {
	var found *postgres.TableDelta
	for i := range tables {
		t := &tables[i]
		if t.Name != name || (schema != "" && t.Schema != schema) {
			continue
		}
		if found == nil || t.Schema == "public" {
			found = t
		}
	}
	return found
}

// dbIdent quotes an SQL identifier only when it needs it.
func dbIdent(s string) string {
	if dbPlainIdentRe.MatchString(s) && !dbReserved[strings.ToLower(s)] {
		return s
	}
	return `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
}

var dbPlainIdentRe = regexp.MustCompile(`^[a-z_][a-z0-9_$]*$`)

var dbReserved = map[string]bool{"user": true, "order": true, "group": true, "table": true, "select": true,
	"from": true, "where": true, "limit": true, "offset": true, "desc": true, "asc": true, "all": true,
	"end": true, "check": true, "default": true, "to": true}

// dbTableName is how findings name a table: schema-qualified outside
// public.
func dbTableName(schema, name string) string {
	if schema == "" || schema == "public" {
		return dbIdent(name)
	}
	return dbIdent(schema) + "." + dbIdent(name)
}

// dbRound keeps evidence readable.
func dbRound(v float64, digits int) float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return 0
	}
	p := math.Pow(10, float64(digits))
	return math.Round(v*p) / p
}

// dbOneLine collapses a statement's whitespace for evidence.
func dbOneLine(q string) string { return strings.Join(strings.Fields(q), " ") }

// ---------------------------------------------------------------- missing index

// dbIndexCandidate is one B-tree index to try on a table.
type dbIndexCandidate struct {
	table   *postgres.TableDelta
	columns []string // with " DESC" where the sort needs it
}

func (c dbIndexCandidate) names() []string {
	out := make([]string, len(c.columns))
	for i, col := range c.columns {
		out[i] = strings.TrimSuffix(col, " DESC")
	}
	return out
}

func (c dbIndexCandidate) sql(concurrently bool) string {
	cols := make([]string, len(c.columns))
	for i, col := range c.columns {
		name, desc := strings.CutSuffix(col, " DESC")
		cols[i] = dbIdent(name)
		if desc {
			cols[i] += " DESC"
		}
	}
	kw := "CREATE INDEX "
	if concurrently {
		kw = "CREATE INDEX CONCURRENTLY "
	}
	return kw + "ON " + dbTableName(c.table.Schema, c.table.Name) + " (" + strings.Join(cols, ", ") + ")"
}

func (c dbIndexCandidate) key() string {
	return c.table.Schema + "." + c.table.Name + "(" + strings.Join(c.columns, ",") + ")"
}

// dbCondRe parses one condition of a plan's filter: an optional alias, a
// column (possibly parenthesised and cast), an operator and the other side.
var dbCondRe = regexp.MustCompile(`^\(*(?:([A-Za-z_][A-Za-z0-9_]*|"[^"]+")\.)?([A-Za-z_][A-Za-z0-9_$]*|"[^"]+")\)*(?:::[A-Za-z ]+(?:\[\])?\)*)?\s*(=|<=|>=|<|>)\s*(.+)$`)

// dbSplitTop splits s at sep outside parentheses and quotes.
func dbSplitTop(s, sep string) []string {
	var out []string
	depth, start := 0, 0
	inQuote := false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\'':
			inQuote = !inQuote
		case inQuote:
		case c == '(':
			depth++
		case c == ')':
			depth--
		case depth == 0 && strings.HasPrefix(s[i:], sep):
			out = append(out, s[start:i])
			start = i + len(sep)
			i += len(sep) - 1
		}
	}
	return append(out, s[start:])
}

// dbStripParens removes the parentheses around a whole expression.
func dbStripParens(s string) string {
	s = strings.TrimSpace(s)
	for len(s) >= 2 && s[0] == '(' && s[len(s)-1] == ')' {
		depth := 0
		whole := true
		for i := 0; i < len(s); i++ {
			switch s[i] {
			case '(':
				depth++
			case ')':
				depth--
				if depth == 0 && i < len(s)-1 {
					whole = false
				}
			}
			if !whole {
				break
			}
		}
		if !whole {
			return s
		}
		s = strings.TrimSpace(s[1 : len(s)-1])
	}
	return s
}

// dbFilterColumns returns the equality and range columns of a scan's filter
// (conditions comparing a column with a parameter or constant, joined by
// AND). A filter with a top-level OR gives nothing: one B-tree cannot serve
// it.
func dbFilterColumns(filter string) (eq, rng []string) {
	f := dbStripParens(filter)
	if f == "" || len(dbSplitTop(f, " OR ")) > 1 {
		return nil, nil
	}
	for _, part := range dbSplitTop(f, " AND ") {
		m := dbCondRe.FindStringSubmatch(dbStripParens(part))
		if m == nil {
			continue
		}
		col, op, rhs := strings.Trim(m[2], `"`), m[3], strings.TrimSpace(m[4])
		if !dbConstantSide(rhs) {
			continue
		}
		if op == "=" {
			if !slices.Contains(eq, col) {
				eq = append(eq, col)
			}
		} else if !slices.Contains(rng, col) {
			rng = append(rng, col)
		}
	}
	// A column compared for equality needs no range.
	rng = slices.DeleteFunc(rng, func(c string) bool { return slices.Contains(eq, c) })
	return eq, rng
}

// dbConstantSide reports whether the other side of a condition is a
// parameter, a constant or ANY(parameter), not another column.
func dbConstantSide(rhs string) bool {
	r := strings.TrimLeft(rhs, "( ")
	switch {
	case r == "":
		return false
	case r[0] == '$', r[0] == '\'', r[0] == '-', r[0] >= '0' && r[0] <= '9':
		return true
	case strings.HasPrefix(strings.ToUpper(r), "ANY "), strings.HasPrefix(strings.ToUpper(r), "ANY("):
		inner := strings.TrimLeft(r[3:], "( ")
		return inner != "" && (inner[0] == '$' || inner[0] == '\'')
	case strings.HasPrefix(strings.ToLower(r), "now()"), strings.HasPrefix(strings.ToUpper(r), "CURRENT_"):
		return true
	}
	return false
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
		qual, col, ok := strings.Cut(k, ".")
		if !ok {
			if !single {
				return nil
			}
			col, qual = k, ""
		} else if qual != scan.Alias && qual != scan.RelationName {
			return nil
		}
		col = strings.Trim(col, `"`)
		if !dbPlainIdentRe.MatchString(col) {
			return nil
		}
		if desc {
			col += " DESC"
		}
		out = append(out, col)
	}
	return out
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
			eq, rng = dbFilterColumns(n.Filter)
		} else {
			// An index scan under a sort feeding a limit: an index on its
			// conditions and the sort keys would return the rows in order.
			if len(sortCols) == 0 {
				return true
			}
			var conds []string
			for _, c := range []string{n.IndexCond, n.RecheckCond, n.Filter} {
				if c != "" {
					conds = append(conds, "("+dbStripParens(c)+")")
				}
			}
			eq, rng = dbFilterColumns(strings.Join(conds, " AND "))
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

func dbMissingIndex(ctx context.Context, in *Input, r *Rule) ([]Finding, error) {
	pg := dbPG(in)
	if pg == nil || in.Explainer == nil {
		return nil, nil
	}
	minCalls, minTotal, minCut := int64(r.Int("min_calls")), r.Float("min_total_time_ms"), r.Float("min_cost_cut")
	maxStatements, budget := r.Int("max_statements"), r.Int("max_hypothetical")
	var cands []*postgres.StatementDelta
	for _, d := range dbVisible(pg) {
		if d.Calls < minCalls || d.TotalTime < minTotal || dbCatalogRe.MatchString(d.Statement.Query) ||
			postgres.CheckExplainable(d.Statement.Query) != nil {
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
		for _, c := range dbIndexCandidates(plan, pg.Tables) {
			if dbCoveredBy(c, pg.Indexes) != nil {
				continue
			}
			if budget <= 0 {
				break
			}
			budget--
			f, ok, err := dbTryIndex(ctx, in, d, plan, c, minCut)
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
	minCut float64) (Finding, bool, error) {
	verified := true
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
		if !res.Used || before <= 0 || 1-after/before < minCut {
			return Finding{}, false, nil
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
	table := dbTableName(c.table.Schema, c.table.Name)
	confidence := "high: verified with a hypothetical index (hypopg)"
	impact := d.Share * cut
	if !verified {
		confidence = "low: hypopg is not installed, the cost cut is not verified (" + missing.Error() + ")"
		impact = d.Share * 0.5
	}
	f := Finding{
		Subject: table + " (" + strings.Join(c.columns, ", ") + ")",
		Evidence: map[string]any{
			"table":                 table,
			"columns":               c.columns,
			"query":                 dbOneLine(d.Statement.Query),
			"queryid":               dbQueryID(d.Statement.QueryID),
			"calls":                 d.Calls,
			"mean_ms":               dbRound(d.MeanTime, 3),
			"total_time_ms":         dbRound(d.TotalTime, 1),
			"total_share":           dbRound(d.Share, 3),
			"rows_scanned_per_call": dbRound(scanned, 1),
			"cost_before":           dbRound(before, 2),
			"cost_after":            dbRound(after, 2),
			"cost_cut":              dbRound(cut, 3),
			"verified":              verified,
			"confidence":            confidence,
		},
		Fix:    Fix{SQL: c.sql(true) + ";\nANALYZE " + table + ";"},
		Impact: impact,
	}
	return f, true, nil
}

// ---------------------------------------------------------------- N+1

// dbLookupRe recognises a lookup by key: WHERE col = $n (possibly among
// other conditions), no aggregate over many rows.
var dbLookupRe = regexp.MustCompile(`(?is)\bWHERE\b.*?(?:[A-Za-z_][A-Za-z0-9_."]*)\s*=\s*\$\d+`)

// dbNPlusOneMaxGroup bounds the lookups of one parent that are summed: a
// parent row may point at one of a few tables (a feed event at a product
// or a user).
const dbNPlusOneMaxGroup = 3

// dbNPlusOneCands bounds the statements the pairing looks at, by calls.
const dbNPlusOneCands = 40

// dbPairing is a parent statement and the lookups run once per its rows.
type dbPairing struct {
	parent    *postgres.StatementDelta
	lookups   []*postgres.StatementDelta
	closeness float64 // |sum of lookup calls - parent rows| / parent rows
}

// dbPairLookups finds, for each lookup, the parent whose rows its calls
// follow: a multi-row read returning at least minReps rows per call, and a
// group of at most dbNPlusOneMaxGroup lookups, each run at least once per
// parent call and never more often than the parent's rows, whose calls sum
// to the parent's rows within tol and to at least minReps per parent call.
// The closest pairing wins.
func dbPairLookups(stmts, lookups []*postgres.StatementDelta, tables []postgres.TableDelta, cur *postgres.Snapshot,
	minReps, tol float64) map[*postgres.StatementDelta]dbPairing {
	out := map[*postgres.StatementDelta]dbPairing{}
	for _, a := range stmts {
		if a.Rows <= 0 || float64(a.Rows)/float64(a.Calls) < minReps || !dbReadOnly(a.Statement.Query) {
			continue
		}
		rows := float64(a.Rows)
		var kids []*postgres.StatementDelta
		for _, b := range lookups {
			if b != a && b.Calls >= a.Calls && float64(b.Calls) <= rows*(1+tol) {
				kids = append(kids, b)
			}
		}
		best := dbPairing{closeness: math.Inf(1)}
		var try func(start int, group []*postgres.StatementDelta, sum float64)
		try = func(start int, group []*postgres.StatementDelta, sum float64) {
			if len(group) > 0 && slices.ContainsFunc(group, func(b *postgres.StatementDelta) bool { return dbRelated(a, b, tables, cur) }) {
				c := math.Abs(sum-rows) / rows
				if c <= tol && sum/float64(a.Calls) >= minReps && c < best.closeness {
					best = dbPairing{parent: a, lookups: slices.Clone(group), closeness: c}
				}
			}
			if len(group) == dbNPlusOneMaxGroup {
				return
			}
			for i := start; i < len(kids); i++ {
				if s := sum + float64(kids[i].Calls); s <= rows*(1+tol) {
					try(i+1, append(group, kids[i]), s)
				}
			}
		}
		try(0, nil, 0)
		for _, b := range best.lookups {
			if cur, ok := out[b]; !ok || best.closeness < cur.closeness {
				out[b] = best
			}
		}
	}
	return out
}

// dbRelated reports whether lookup b's key refers to parent a's rows, by the
// usual naming of foreign keys: a returns a column naming b's table,
// <table>_id (the parent carries the key, as events.product_id for
// products), or b's key column names a's table (order_items.order_id for
// orders), or is a column a returns.
func dbRelated(a, b *postgres.StatementDelta, tables []postgres.TableDelta, cur *postgres.Snapshot) bool {
	m := dbKeyRe.FindStringSubmatch(b.Statement.Query)
	if m == nil {
		return false
	}
	key := strings.ToLower(m[2])
	words := dbSelectedColumns(a.Statement.Query, tables, cur)
	// A column the parent pins with col = $n has one value in all its
	// rows: one lookup would do, it is no per-row key.
	for _, pm := range dbKeyRe.FindAllStringSubmatch(a.Statement.Query, -1) {
		delete(words, strings.ToLower(pm[2]))
	}
	if key != "id" && words[key] {
		return true
	}
	for _, t := range dbTables(b.Statement.Query, tables) {
		for _, n := range dbSingulars(t.Name) {
			if words[n+"_id"] {
				return true
			}
		}
	}
	for _, t := range dbTables(a.Statement.Query, tables) {
		for _, n := range dbSingulars(t.Name) {
			if key == n+"_id" {
				return true
			}
		}
	}
	return false
}

// dbSelectedColumns are the names of the columns a statement returns: the
// words of its select list, and for * or t.* the columns pg_stats knows of
// the tables.
func dbSelectedColumns(query string, tables []postgres.TableDelta, cur *postgres.Snapshot) map[string]bool {
	out := map[string]bool{}
	items, from, ok := dbSelectList(query)
	if !ok {
		return out
	}
	aliases := dbAliases(from, tables)
	for _, it := range items {
		qual, col, dotted := strings.Cut(it, ".")
		switch {
		case it == "*":
			for _, t := range aliases {
				for c := range dbColumnWidths(cur, t) {
					out[strings.ToLower(c)] = true
				}
			}
		case dotted && col == "*":
			if t := aliases[strings.Trim(qual, `"`)]; t != nil {
				for c := range dbColumnWidths(cur, t) {
					out[strings.ToLower(c)] = true
				}
			}
		default:
			for _, w := range dbWordRe.FindAllString(strings.ToLower(it), -1) {
				out[strings.Trim(w, `"`)] = true
			}
		}
	}
	return out
}

// dbSingulars are a table name and its English singular forms.
func dbSingulars(name string) []string {
	n := strings.ToLower(name)
	out := []string{n}
	switch {
	case strings.HasSuffix(n, "ies"):
		out = append(out, strings.TrimSuffix(n, "ies")+"y")
	case strings.HasSuffix(n, "ses"), strings.HasSuffix(n, "xes"):
		out = append(out, strings.TrimSuffix(n, "es"))
	}
	if strings.HasSuffix(n, "s") {
		out = append(out, strings.TrimSuffix(n, "s"))
	}
	return out
}

func dbNPlusOne(ctx context.Context, in *Input, r *Rule) ([]Finding, error) {
	pg := dbPG(in)
	if pg == nil {
		return nil, nil
	}
	minReps, minTotal := r.Float("min_repetitions"), r.Float("min_total_time_ms")
	maxRows, tol := r.Float("max_rows_per_call"), r.Float("calls_to_rows_tolerance")
	rtt := r.Float("round_trip_ms")
	// Statements come sorted by total time; the pairing looks at the most
	// called ones.
	stmts := dbVisible(pg)
	sort.SliceStable(stmts, func(i, j int) bool { return stmts[i].Calls > stmts[j].Calls })
	if len(stmts) > dbNPlusOneCands {
		stmts = stmts[:dbNPlusOneCands]
	}
	var lookups []*postgres.StatementDelta
	for _, b := range stmts {
		if float64(b.Rows)/float64(b.Calls) <= maxRows && dbReadOnly(b.Statement.Query) &&
			dbLookupRe.MatchString(b.Statement.Query) && !dbCatalogRe.MatchString(b.Statement.Query) {
			lookups = append(lookups, b)
		}
	}
	pairs := dbPairLookups(stmts, lookups, pg.Tables, pg.Cur, minReps, tol)
	requests, rps := 0.0, 0.0
	if m := in.Window.Metrics; m != nil && m.Requests > 0 {
		requests, rps = m.Requests, m.RPS
	}
	loc := dbIssuerLocation(in)
	var out []Finding
	for _, b := range lookups {
		pair, paired := pairs[b]
		perRequest := 0.0
		if requests > 0 && rps > 0 {
			perRequest = b.CallsPerS / rps
		}
		var reps, groupTime float64
		var per string
		switch {
		case paired:
			reps, per = float64(b.Calls)/float64(pair.parent.Calls), "call of the parent statement"
			for _, l := range pair.lookups {
				groupTime += l.TotalTime + float64(l.Calls)*rtt
			}
		case perRequest >= minReps:
			reps, per, groupTime = perRequest, "request", b.TotalTime+float64(b.Calls)*rtt
		default:
			continue
		}
		// As Sentry's detector: the repeated statements must cost enough,
		// round trips included.
		if groupTime < minTotal {
			continue
		}
		rowsPerCall := float64(b.Rows) / float64(b.Calls)
		ev := map[string]any{
			"query":          dbOneLine(b.Statement.Query),
			"queryid":        dbQueryID(b.Statement.QueryID),
			"parent_query":   "",
			"parent_queryid": "",
			"repetitions":    dbRound(reps, 1),
			"per":            per,
			"calls":          b.Calls,
			"calls_per_s":    dbRound(b.CallsPerS, 1),
			"rows_per_call":  dbRound(rowsPerCall, 2),
			"mean_ms":        dbRound(b.MeanTime, 3),
			"total_time_ms":  dbRound(b.TotalTime, 1),
			"total_share":    dbRound(b.Share, 3),
			// What the repeated statements cost the service, with a round
			// trip per call.
			"estimated_time_ms": dbRound(groupTime, 1),
		}
		if perRequest > 0 {
			ev["calls_per_request"] = dbRound(perRequest, 2)
		}
		if paired {
			a := pair.parent
			ev["parent_query"] = dbOneLine(a.Statement.Query)
			ev["parent_queryid"] = dbQueryID(a.Statement.QueryID)
			ev["parent_calls"] = a.Calls
			ev["parent_rows"] = a.Rows
			var sum int64
			var others []string
			for _, l := range pair.lookups {
				sum += l.Calls
				if l != b {
					others = append(others, dbQueryID(l.Statement.QueryID))
				}
			}
			ev["calls_to_parent_rows"] = dbRound(float64(sum)/float64(a.Rows), 2)
			if len(others) > 0 {
				ev["sibling_queryids"] = others
			}
		}
		f := Finding{
			Subject:  dbSubject(b),
			Evidence: ev,
			Fix:      Fix{Code: dbBatchSketch(b.Statement.Query)},
			// The round trips cost more than the statement's own time;
			// its share of database time is the lower bound.
			Impact: b.Share,
		}
		if loc.site != "" {
			f.Location = loc.site
			ev["issued_by"] = loc.function
		}
		out = append(out, f)
	}
	return out, nil
}

// dbKeyRe finds the key condition of a lookup: col = $n.
var dbKeyRe = regexp.MustCompile(`(?i)([A-Za-z_][A-Za-z0-9_]*\.)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*\$(\d+)`)

// dbBatchSketch is the batched form of a lookup by key, in Go with pgx.
func dbBatchSketch(query string) string {
	q := dbOneLine(query)
	m := dbKeyRe.FindStringSubmatchIndex(q)
	if m == nil {
		return ""
	}
	col := q[m[4]:m[5]]
	qual := ""
	if m[2] >= 0 {
		qual = q[m[2]:m[3]]
	}
	batched := q[:m[0]] + qual + col + " = ANY($" + q[m[6]:m[7]] + ")" + q[m[1]:]
	// The batched rows need their key to be grouped by it.
	if sel, rest, ok := strings.Cut(batched, " FROM "); ok && !strings.Contains(sel, "*") &&
		!strings.Contains(" "+strings.ToLower(sel)+",", " "+strings.ToLower(qual+col)+",") {
		batched = sel + ", " + qual + col + " FROM " + rest
	}
	return fmt.Sprintf(`// One query for all the parent rows instead of one per row:
keys := make([]int64, 0, len(parents))
for _, p := range parents {
	keys = append(keys, p.%s)
}
rows, err := pool.Query(ctx, %s, keys)
// ... scan the rows and group them by %s in a map, then attach them to
// their parents in memory.`, dbGoName(col), strconv.Quote(batched), col)
}

// dbGoName turns a column name into a Go field name (user_id -> UserID).
func dbGoName(col string) string {
	parts := strings.Split(col, "_")
	for i, p := range parts {
		switch {
		case p == "id":
			parts[i] = "ID"
		case p != "":
			parts[i] = strings.ToUpper(p[:1]) + p[1:]
		}
	}
	return strings.Join(parts, "")
}

// ---------------------------------------------------------------- overfetch

// dbSelectList returns the select list of a statement's first SELECT and
// the text after its FROM.
func dbSelectList(query string) (items []string, from string, ok bool) {
	q := dbOneLine(query)
	up := strings.ToUpper(q)
	i := strings.Index(up, "SELECT ")
	if i < 0 {
		return nil, "", false
	}
	body := q[i+len("SELECT "):]
	parts := dbSplitTop(body, " FROM ")
	if len(parts) < 2 {
		parts = dbSplitTop(body, " from ")
	}
	if len(parts) < 2 {
		return nil, "", false
	}
	sel := strings.TrimSpace(parts[0])
	if strings.HasPrefix(strings.ToUpper(sel), "DISTINCT ") {
		sel = sel[len("DISTINCT "):]
	}
	for _, it := range dbSplitTop(sel, ",") {
		items = append(items, strings.TrimSpace(it))
	}
	return items, strings.Join(parts[1:], " FROM "), true
}

// dbAliases maps the aliases and names of the FROM clause's tables to them.
func dbAliases(from string, tables []postgres.TableDelta) map[string]*postgres.TableDelta {
	out := map[string]*postgres.TableDelta{}
	words := dbWordRe.FindAllString(from, -1)
	for i, w := range words {
		t := dbFindTable(tables, "", strings.Trim(strings.ToLower(w), `"`))
		if t == nil {
			continue
		}
		out[t.Name] = t
		j := i + 1
		if j < len(words) && strings.EqualFold(words[j], "AS") {
			j++
		}
		if j < len(words) && !dbSQLKeyword[strings.ToUpper(words[j])] {
			out[strings.Trim(words[j], `"`)] = t
		}
	}
	return out
}

var dbSQLKeyword = map[string]bool{"WHERE": true, "JOIN": true, "LEFT": true, "RIGHT": true, "INNER": true,
	"FULL": true, "CROSS": true, "ON": true, "ORDER": true, "GROUP": true, "LIMIT": true, "USING": true,
	"NATURAL": true, "LATERAL": true, "HAVING": true, "UNION": true, "OFFSET": true, "FOR": true, "WINDOW": true}

// dbColumnWidths are pg_stats' average widths of a table's columns.
func dbColumnWidths(cur *postgres.Snapshot, t *postgres.TableDelta) map[string]int32 {
	out := map[string]int32{}
	if cur == nil {
		return out
	}
	for _, c := range cur.ColumnStats.Rows {
		if c.Schema == t.Schema && c.Table == t.Name {
			out[c.Column] = c.AvgWidth
		}
	}
	return out
}

// toastPointerWidth is pg_stats.avg_width of a column whose values are all
// stored out of line: the TOAST pointer's size.
const toastPointerWidth = 18

func dbOverfetch(ctx context.Context, in *Input, r *Rule) ([]Finding, error) {
	pg := dbPG(in)
	cur := dbCur(in)
	if pg == nil || cur == nil {
		return nil, nil
	}
	minCalls, minRow, minWide := int64(r.Int("min_calls")), r.Float("min_avg_row_bytes"), r.Float("min_wide_column_bytes")
	var out []Finding
	for _, d := range dbVisible(pg) {
		q := d.Statement.Query
		if d.Calls < minCalls || !dbReadOnly(q) || dbCatalogRe.MatchString(q) {
			continue
		}
		items, from, ok := dbSelectList(q)
		if !ok {
			continue
		}
		aliases := dbAliases(from, pg.Tables)
		type fetched struct {
			star bool
			cols []string
		}
		per := map[*postgres.TableDelta]*fetched{}
		var order []*postgres.TableDelta
		get := func(t *postgres.TableDelta) *fetched {
			if per[t] == nil {
				per[t] = &fetched{}
				order = append(order, t)
			}
			return per[t]
		}
		for _, it := range items {
			qual, col, dotted := strings.Cut(it, ".")
			if strings.TrimSpace(it) == "" || (dotted && strings.TrimSpace(col) == "") {
				continue
			}
			switch {
			case it == "*":
				// Every column of every table of the FROM clause.
				for _, w := range dbWordRe.FindAllString(from, -1) {
					if t := dbFindTable(pg.Tables, "", strings.ToLower(w)); t != nil {
						get(t).star = true
					}
				}
			case dotted && col == "*":
				if t := aliases[strings.Trim(qual, `"`)]; t != nil {
					get(t).star = true
				}
			default:
				name := strings.Trim(strings.Fields(it + " ")[0], `"`)
				var t *postgres.TableDelta
				if dotted {
					t = aliases[strings.Trim(qual, `"`)]
					name = strings.Trim(strings.Fields(col + " ")[0], `"`)
				} else if len(aliases) > 0 {
					for _, tt := range aliases {
						if _, has := dbColumnWidths(cur, tt)[name]; has {
							t = tt
							break
						}
					}
				}
				if t != nil {
					f := get(t)
					f.cols = append(f.cols, name)
				}
			}
		}
		for _, t := range order {
			f := per[t]
			widths := dbColumnWidths(cur, t)
			if len(widths) == 0 {
				continue
			}
			// Out-of-line (TOAST) bytes per row: the table's size beyond
			// what its rows' inline widths and headers take.
			var inline float64
			for _, w := range widths {
				inline += float64(w)
			}
			toastPerRow := 0.0
			if lt := t.Table.LiveTup; lt > 0 {
				toastPerRow = max(0, float64(t.Table.TableBytes)/float64(lt)-inline-28)
			}
			var toasted []string
			for c, w := range widths {
				if w == toastPointerWidth {
					toasted = append(toasted, c)
				}
			}
			colWidth := func(c string) float64 {
				w := float64(widths[c])
				if slices.Contains(toasted, c) && len(toasted) > 0 {
					w += toastPerRow / float64(len(toasted))
				}
				return w
			}
			cols := f.cols
			if f.star {
				cols = nil
				for c := range widths {
					cols = append(cols, c)
				}
			}
			sort.Strings(cols)
			var rowBytes float64
			var wide []string
			for _, c := range slices.Compact(cols) {
				w := colWidth(c)
				rowBytes += w
				if w >= minWide {
					wide = append(wide, c)
				}
			}
			if rowBytes < minRow || (!f.star && len(wide) == 0) {
				continue
			}
			table := dbTableName(t.Schema, t.Name)
			out = append(out, Finding{
				Subject: dbSubject(d) + " " + table,
				Evidence: map[string]any{
					"query":         dbOneLine(q),
					"queryid":       dbQueryID(d.Statement.QueryID),
					"table":         table,
					"calls":         d.Calls,
					"calls_per_s":   dbRound(d.CallsPerS, 1),
					"mean_ms":       dbRound(d.MeanTime, 3),
					"rows_per_call": dbRound(float64(d.Rows)/float64(d.Calls), 2),
					"avg_row_bytes": math.Round(rowBytes),
					"wide_columns":  wide,
					"select_star":   f.star,
					"total_share":   dbRound(d.Share, 3),
				},
				Impact: d.Share,
			})
		}
	}
	return out, nil
}

// ---------------------------------------------------------------- slow query

func dbSlowQuery(ctx context.Context, in *Input, r *Rule) ([]Finding, error) {
	pg := dbPG(in)
	if pg == nil {
		return nil, nil
	}
	minMean, minCalls := r.Float("min_mean_ms"), int64(r.Int("min_calls"))
	// A statement that takes most of the database's time is slow only if
	// its calls are not fast ones: then it is N+1 or cache material.
	minShare, minShareMean := r.Float("min_total_share"), r.Float("min_mean_ms")/4
	var out []Finding
	for _, d := range dbVisible(pg) {
		if d.Calls < minCalls || dbCatalogRe.MatchString(d.Statement.Query) {
			continue
		}
		slow := d.MeanTime >= minMean
		heavy := d.Share >= minShare && d.MeanTime >= minShareMean
		if !slow && !heavy {
			continue
		}
		out = append(out, Finding{
			Subject: dbSubject(d),
			Evidence: map[string]any{
				"query":         dbOneLine(d.Statement.Query),
				"queryid":       dbQueryID(d.Statement.QueryID),
				"calls":         d.Calls,
				"mean_ms":       dbRound(d.MeanTime, 3),
				"total_time_ms": dbRound(d.TotalTime, 1),
				"total_share":   dbRound(d.Share, 3),
				"rows_per_call": dbRound(float64(d.Rows)/float64(d.Calls), 2),
			},
			Impact: d.Share,
		})
	}
	return out, nil
}

// ---------------------------------------------------------------- cache candidate

func dbCacheCandidate(ctx context.Context, in *Input, r *Rule) ([]Finding, error) {
	pg := dbPG(in)
	if pg == nil {
		return nil, nil
	}
	minRate, maxWrites, minShare := r.Float("min_calls_per_s"), r.Float("max_table_writes_per_s"), r.Float("min_total_share")
	var out []Finding
	for _, d := range dbVisible(pg) {
		q := d.Statement.Query
		if d.CallsPerS < minRate || d.Share < minShare || !dbReadOnly(q) || dbCatalogRe.MatchString(q) {
			continue
		}
		_, from, ok := dbSelectList(q)
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
			names[i] = dbTableName(t.Schema, t.Name)
		}
		if writes > maxWrites {
			continue
		}
		out = append(out, Finding{
			Subject: dbSubject(d),
			Evidence: map[string]any{
				"query":              dbOneLine(q),
				"queryid":            dbQueryID(d.Statement.QueryID),
				"table":              strings.Join(names, ", "),
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

// ---------------------------------------------------------------- indexes

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

func dbUnusedIndex(ctx context.Context, in *Input, r *Rule) ([]Finding, error) {
	cur := dbCur(in)
	if cur == nil || !cur.Indexes.Status.Ok() {
		return nil, nil
	}
	maxScans, minBytes := int64(r.Int("max_scans")), r.Float("min_size_mb")*1024*1024
	var out []Finding
	for _, ix := range cur.Indexes.Rows {
		if ix.Unique || ix.Primary || !ix.Valid || ix.Scan > maxScans || float64(ix.Bytes) < minBytes {
			continue
		}
		name := dbTableName(ix.Schema, ix.Name)
		table := dbTableName(ix.Schema, ix.Table)
		out = append(out, Finding{
			Subject: name,
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

// dbIndexKeys returns the key list of an index definition as written by
// pg_get_indexdef (with DESC, opclasses, collations), or nil.
func dbIndexKeys(def string) []string {
	i := strings.Index(def, " USING ")
	if i < 0 {
		return nil
	}
	rest := def[i+len(" USING "):]
	open := strings.IndexByte(rest, '(')
	if open < 0 {
		return nil
	}
	depth := 0
	for j := open; j < len(rest); j++ {
		switch rest[j] {
		case '(':
			depth++
		case ')':
			depth--
			if depth == 0 {
				var keys []string
				for _, k := range dbSplitTop(rest[open+1:j], ",") {
					keys = append(keys, strings.TrimSpace(k))
				}
				return keys
			}
		}
	}
	return nil
}

func dbDuplicateIndex(ctx context.Context, in *Input, r *Rule) ([]Finding, error) {
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
		ak := dbIndexKeys(a.Definition)
		if len(ak) == 0 {
			continue
		}
		for j := range rows {
			b := &rows[j]
			if i == j || b.TableRelID != a.TableRelID || b.Method != a.Method || !b.Valid || b.Partial {
				continue
			}
			bk := dbIndexKeys(b.Definition)
			if len(bk) < len(ak) || !slices.Equal(bk[:len(ak)], ak) {
				continue
			}
			// Two identical indexes: report the later name only once.
			if len(bk) == len(ak) && !b.Unique && a.Name < b.Name {
				continue
			}
			name, by := dbTableName(a.Schema, a.Name), dbTableName(b.Schema, b.Name)
			out = append(out, Finding{
				Subject: name,
				Evidence: map[string]any{
					"index":            name,
					"index_columns":    ak,
					"covered_by":       by,
					"covering_columns": bk,
					"table":            dbTableName(a.Schema, a.Table),
					"size_bytes":       a.Bytes,
				},
				Fix: Fix{SQL: "DROP INDEX CONCURRENTLY " + name + ";"},
			})
			break
		}
	}
	return out, nil
}

// ---------------------------------------------------------------- activity

func dbBlockedQueries(ctx context.Context, in *Input, r *Rule) ([]Finding, error) {
	cur := dbCur(in)
	if cur == nil || !cur.Blocked.Status.Ok() {
		return nil, nil
	}
	minWait := r.Float("min_wait_seconds")
	type group struct {
		first  postgres.BlockedQuery
		wait   float64
		pids   map[int32]bool
		target string
	}
	groups := map[string]*group{}
	var order []string
	for _, b := range cur.Blocked.Rows {
		if b.WaitSeconds < minWait {
			continue
		}
		target := b.Relation
		if target == "" {
			target = b.LockType
		}
		key := target + "\x00" + b.Mode
		g := groups[key]
		if g == nil {
			g = &group{first: b, pids: map[int32]bool{}, target: target}
			groups[key] = g
			order = append(order, key)
		}
		g.pids[b.PID] = true
		if b.WaitSeconds > g.wait {
			g.wait = b.WaitSeconds
			g.first = b
		}
	}
	var out []Finding
	for _, k := range order {
		g := groups[k]
		b := g.first
		out = append(out, Finding{
			Subject: g.target + " " + b.Mode,
			Evidence: map[string]any{
				"relation":             g.target,
				"lock_mode":            b.Mode,
				"lock_type":            b.LockType,
				"wait_seconds":         dbRound(g.wait, 1),
				"blocked_sessions":     len(g.pids),
				"query":                source.Redact(dbOneLine(b.Query)),
				"blocking_pid":         b.BlockingPID,
				"blocking_query":       source.Redact(dbOneLine(b.BlockingQuery)),
				"blocking_application": dbApp(b.BlockingApplication),
				"blocking_state":       b.BlockingState,
				"blocking_xact_s":      dbRound(b.BlockingXactAge, 1),
			},
			Fix: Fix{Config: map[string]string{"lock_timeout": "5s", "statement_timeout": "30s"}},
		})
	}
	return out, nil
}

func dbApp(name string) string {
	if name == "" {
		return "(no application_name)"
	}
	return name
}

func dbIdleInTransaction(ctx context.Context, in *Input, r *Rule) ([]Finding, error) {
	cur := dbCur(in)
	if cur == nil || !cur.Activity.Status.Ok() {
		return nil, nil
	}
	minIdle := r.Float("min_idle_seconds")
	type group struct {
		worst postgres.Session
		n     int
	}
	groups := map[string]*group{}
	var order []string
	for _, s := range cur.Activity.Sessions {
		if !strings.HasPrefix(s.State, "idle in transaction") || s.StateAge < minIdle {
			continue
		}
		key := s.Database + "\x00" + s.Application
		g := groups[key]
		if g == nil {
			g = &group{worst: s}
			groups[key] = g
			order = append(order, key)
		}
		g.n++
		if s.StateAge > g.worst.StateAge {
			g.worst = s
		}
	}
	var out []Finding
	for _, k := range order {
		g := groups[k]
		s := g.worst
		out = append(out, Finding{
			Subject: dbApp(s.Application) + " on " + s.Database,
			Evidence: map[string]any{
				"application_name": dbApp(s.Application),
				"database":         s.Database,
				"user":             s.User,
				"idle_seconds":     dbRound(s.StateAge, 1),
				"xact_seconds":     dbRound(s.XactAge, 1),
				"last_query":       source.Redact(dbOneLine(s.Query)),
				"sessions":         g.n,
				"pid":              s.PID,
			},
			Fix: Fix{Config: map[string]string{"idle_in_transaction_session_timeout": "60s"},
				SQL: fmt.Sprintf("ALTER ROLE %s SET idle_in_transaction_session_timeout = '60s';", dbIdent(s.User))},
		})
	}
	return out, nil
}

// dbLiteralRe finds the literals of a query text, for a subject without
// numbers.
var dbLiteralRe = regexp.MustCompile(`'(?:[^']|'')*'|\b\d+(?:\.\d+)?\b`)

func dbLongRunning(ctx context.Context, in *Input, r *Rule) ([]Finding, error) {
	cur := dbCur(in)
	if cur == nil || !cur.Activity.Status.Ok() {
		return nil, nil
	}
	minDur := r.Float("min_duration_seconds")
	seen := map[string]int{}
	var out []Finding
	for _, s := range cur.Activity.Sessions {
		if s.State != "active" || s.QueryAge < minDur {
			continue
		}
		q := source.Redact(dbOneLine(s.Query))
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
				s.PID, dbIdent(s.User))},
		})
	}
	return out, nil
}

func dbLowCacheHit(ctx context.Context, in *Input, r *Rule) ([]Finding, error) {
	pg := dbPG(in)
	if pg == nil || pg.Cur == nil {
		return nil, nil
	}
	below, minRate := r.Float("hit_ratio_below"), r.Float("min_block_reads_per_s")
	sb, _ := pg.Cur.Server.Settings.Bytes("shared_buffers")
	type scope struct {
		name      string
		hit, read int64
		seconds   float64
	}
	var heapHit, heapRead int64
	for _, t := range pg.Tables {
		heapHit += t.HeapHit
		heapRead += t.HeapRead
	}
	scopes := []scope{{"tables", heapHit, heapRead, pg.Seconds}}
	if pg.Database.Seconds > 0 {
		scopes = append(scopes, scope{"database " + pg.Cur.Server.Database, pg.Database.BlksHit, pg.Database.BlksRead, pg.Database.Seconds})
	}
	var out []Finding
	for _, s := range scopes {
		total := s.hit + s.read
		if total <= 0 || s.seconds <= 0 || float64(total)/s.seconds < minRate {
			continue
		}
		ratio := float64(s.hit) / float64(total)
		if ratio >= below {
			continue
		}
		out = append(out, Finding{
			Subject: s.name,
			Evidence: map[string]any{
				"scope":                s.name,
				"hit_ratio":            dbRound(ratio, 4),
				"blks_hit_per_s":       dbRound(float64(s.hit)/s.seconds, 1),
				"blks_read_per_s":      dbRound(float64(s.read)/s.seconds, 1),
				"shared_buffers_bytes": sb,
			},
			Impact: 1 - ratio,
		})
	}
	return out, nil
}

// ---------------------------------------------------------------- stacks

// dbIssuer is the call site that issues the most statements in the
// window's stacks.
type dbIssuer struct {
	site, function string
	share          float64
}

// dbDriverRe recognises the frames of PostgreSQL drivers: a query is issued
// by the first frame beneath them.
var dbDriverRe = regexp.MustCompile(`^(github\.com/jackc/pgx/v[0-9]+|github\.com/jackc/pgconn|github\.com/jackc/puddle|github\.com/lib/pq|database/sql)[./]`)

// dbQueryEntryRe recognises the driver functions that run a query.
var dbQueryEntryRe = regexp.MustCompile(`\.(Query|QueryRow|QueryContext|QueryRowContext|Exec|ExecContext|SendBatch)$`)

// dbIssuerLocation finds, in the CPU and wall-clock profiles and the
// goroutine dumps, the frame right beneath the driver's Query call (the
// service's function that issues statements), and returns the function seen
// most often, when it holds at least a third of those stacks, with its most
// frequent call site.
func dbIssuerLocation(in *Input) dbIssuer {
	w := in.Window
	byFunc := map[string]float64{}
	bySite := map[string]float64{}
	siteFunc := map[string]string{}
	var total float64
	add := func(frames []dbFrame, weight float64) {
		// frames: leaf first. The outermost driver frame that runs a query;
		// its caller is the issuer.
		issuer := -1
		for i := range frames {
			if dbDriverRe.MatchString(frames[i].fn) && dbQueryEntryRe.MatchString(frames[i].fn) {
				issuer = i + 1
			}
		}
		if issuer < 0 || issuer >= len(frames) {
			return
		}
		f := frames[issuer]
		if dbDriverRe.MatchString(f.fn) || f.fn == "" {
			return
		}
		site := dbLocation(f)
		byFunc[f.fn] += weight
		bySite[site] += weight
		siteFunc[site] = f.fn
		total += weight
	}
	if w.Profiles != nil {
		for _, pr := range []*pprof.ProfileResult{w.Profiles.Fgprof, w.Profiles.CPU} {
			if pr == nil || pr.Profile == nil {
				continue
			}
			// Each profile weighs as much as one goroutine dump.
			var sum int64
			for _, s := range pr.Profile.Sample {
				if len(s.Value) > 0 {
					sum += s.Value[len(s.Value)-1]
				}
			}
			if sum <= 0 {
				continue
			}
			for _, s := range pr.Profile.Sample {
				var frames []dbFrame
				for _, loc := range s.Location {
					for _, ln := range loc.Line {
						if ln.Function != nil {
							frames = append(frames, dbFrame{fn: ln.Function.Name, file: ln.Function.Filename, line: ln.Line})
						}
					}
				}
				var v int64
				if len(s.Value) > 0 {
					v = s.Value[len(s.Value)-1]
				}
				add(frames, 100*float64(v)/float64(sum))
			}
		}
	}
	for _, g := range w.Goroutines {
		if g == nil {
			continue
		}
		for _, gr := range g.Goroutines {
			frames := make([]dbFrame, len(gr.Frames))
			for i, f := range gr.Frames {
				frames[i] = dbFrame{fn: f.Func, file: f.File, line: int64(f.Line)}
			}
			add(frames, 1)
		}
	}
	var best dbIssuer
	for fn, n := range byFunc {
		if n > best.share || (n == best.share && fn < best.function) {
			best = dbIssuer{function: fn, share: n}
		}
	}
	if total <= 0 || best.share/total < 1.0/3 {
		return dbIssuer{}
	}
	best.share /= total
	top := 0.0
	for site, n := range bySite {
		if siteFunc[site] == best.function && (n > top || (n == top && site < best.site)) {
			best.site, top = site, n
		}
	}
	return best
}

// dbFrame is one stack frame, from a profile or a goroutine dump.
type dbFrame struct {
	fn, file string
	line     int64
}

// dbLocation is a frame's file:line as the binary records it (an absolute
// build path, or a module path with -trimpath): the report's SARIF printer
// maps it to the repository, the other printers show it as it is.
func dbLocation(f dbFrame) string {
	if f.file == "" {
		return f.fn
	}
	return fmt.Sprintf("%s:%d", f.file, f.line)
}
