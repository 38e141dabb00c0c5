package rules

import (
	"context"
	"fmt"
	"math"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/pgadvisor/advisor/internal/probe/postgres"
	"github.com/pgadvisor/advisor/internal/probe/pprof"
	"github.com/pgadvisor/advisor/internal/sqltext"
)

// dbNPlusOne flags a lookup by key run once per row of another statement
// (its calls follow the parent's rows), or many times per request: the N+1
// pattern, with the batched statement (= ANY($1)) as the fix and, from the
// profiles and goroutine dumps, the call site that issues it.
var dbNPlusOne = Def[dbNPlusOneParams]{ID: "db.n-plus-one", Check: checkDBNPlusOne}

type dbNPlusOneParams struct {
	MinRepetitions       float64 `param:"min_repetitions"`
	MinTotalTimeMS       float64 `param:"min_total_time_ms"`
	MaxRowsPerCall       float64 `param:"max_rows_per_call"`
	CallsToRowsTolerance float64 `param:"calls_to_rows_tolerance"`
	RoundTripMS          float64 `param:"round_trip_ms"`
}

func checkDBNPlusOne(ctx context.Context, in *Input, p dbNPlusOneParams) ([]Finding, error) {
	pg := dbPG(in)
	if pg == nil {
		return nil, nil
	}
	minReps, minTotal := p.MinRepetitions, p.MinTotalTimeMS
	maxRows, tol := p.MaxRowsPerCall, p.CallsToRowsTolerance
	rtt := p.RoundTripMS
	// Statements come sorted by total time; the pairing looks at the most
	// called ones.
	stmts := dbVisible(pg)
	sort.SliceStable(stmts, func(i, j int) bool { return stmts[i].Calls > stmts[j].Calls })
	if len(stmts) > dbNPlusOneCands {
		stmts = stmts[:dbNPlusOneCands]
	}
	// A lookup fetches one row by key, or a collection (dbCollection). A
	// collection counts only once per row of a parent it refers to
	// (dbPairLookups); its calls per request alone do not tell it from a
	// page read a few times.
	var lookups []*postgres.StatementDelta
	for _, b := range stmts {
		if sqltext.ReadOnly(b.Statement.Query) && dbLookupRe.MatchString(b.Statement.Query) && !sqltext.ReadsCatalog(b.Statement.Query) {
			lookups = append(lookups, b)
		}
	}
	pairs := dbPairLookups(stmts, lookups, pg.Tables, pg.Cur, minReps, maxRows, tol)
	requests, rps := 0.0, 0.0
	if m := in.Window.Metrics; m != nil && m.Requests > 0 {
		requests, rps = m.Requests, m.RPS
	}
	var out []Finding
	for _, b := range lookups {
		pair, paired := pairs[b]
		perRequest := 0.0
		if requests > 0 && rps > 0 {
			perRequest = b.CallsPerS / rps
		}
		// What batching removes: each lookup of the group (the statement
		// and its siblings on the same parent rows) becomes one query per
		// parent call, or per request; the time, the calls per second and
		// the share of the database's time of the statements batched away.
		var reps, groupTime, awayPerS, awayShare float64
		var per string
		switch {
		case paired:
			reps, per = float64(b.Calls)/float64(pair.parent.Calls), "call of the parent statement"
			for _, l := range pair.lookups {
				groupTime += l.TotalTime + float64(l.Calls)*rtt
				kept := math.Min(1, float64(pair.parent.Calls)/float64(l.Calls))
				awayPerS += l.CallsPerS * (1 - kept)
				awayShare += l.Share * (1 - kept)
			}
		case perRequest >= minReps && !dbCollection(b, maxRows):
			reps, per, groupTime = perRequest, "request", b.TotalTime+float64(b.Calls)*rtt
			awayPerS, awayShare = b.CallsPerS*(1-1/reps), b.Share*(1-1/reps)
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
			"query":          sqltext.OneLine(b.Statement.Query),
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
			// The statements the batching removes, siblings included.
			"batched_away_per_s": dbRound(awayPerS, 1),
			"batched_away_share": dbRound(awayShare, 4),
		}
		if perRequest > 0 {
			ev["calls_per_request"] = dbRound(perRequest, 2)
		}
		if paired {
			a := pair.parent
			ev["parent_query"] = sqltext.OneLine(a.Statement.Query)
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
		// The fix in the service's language where it is unmistakable.
		orm, lang := dbORMOf(b.Statement.Query, in), serviceLanguage(in)
		ev["orm"], ev["runtime"] = orm, lang
		f := Finding{
			Subject:  dbSubject(b),
			Evidence: ev,
			Fix:      Fix{Code: dbBatchCode(orm, lang, b.Statement.Query)},
			// The round trips cost more than the statement's own time;
			// its share of database time is the lower bound.
			Impact: b.Share,
		}
		out = append(out, f)
	}
	// The stacks tell which function issues the most statements, not
	// which statement: with the lookups of one group (one parent's
	// siblings, or one statement) it is theirs; with two groups it may be
	// either's, and no location beats a wrong one.
	if len(out) == 0 || !dbOneGroup(out) {
		return out, nil
	}
	if loc := dbIssuerLocation(in); loc.site != "" {
		for i := range out {
			out[i].Location = loc.site
			out[i].Evidence["issued_by"] = loc.function
		}
	}
	return out, nil
}

// dbOneGroup reports whether the N+1 findings are of one group: lookups
// of the same parent statement, or one lookup. The sample service's order
// lines, batched per order list, were once reported as issued by its
// feed's function, which issued most of the window's statements.
func dbOneGroup(fs []Finding) bool {
	group := func(f Finding) string {
		if p, _ := f.Evidence["parent_queryid"].(string); p != "" {
			return "parent " + p
		}
		q, _ := f.Evidence["queryid"].(string)
		return "statement " + q
	}
	for _, f := range fs[min(1, len(fs)):] {
		if group(f) != group(fs[0]) {
			return false
		}
	}
	return true
}

// dbLookupRe recognises a lookup by key: WHERE col = $n or $n = col
// (possibly among other conditions), no aggregate over many rows.
// SQLAlchemy's lazy load of a collection writes the parameter first:
// WHERE $1 = comments.post_id.
var dbLookupRe = regexp.MustCompile(`(?is)\bWHERE\b.*?(?:(?:[A-Za-z_][A-Za-z0-9_."]*)\s*=\s*\$\d+|\$\d+\s*=\s*[A-Za-z_])`)

// dbCollection reports whether lookup b fetches a collection, more than
// maxRows rows a call: the rows of one parent, as an ORM's lazy load of a
// one-to-many relationship does (the items of each order).
func dbCollection(b *postgres.StatementDelta, maxRows float64) bool {
	return float64(b.Rows)/float64(b.Calls) > maxRows
}

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
//
// A group needs an anchor: a lookup keyed by what the parent returns
// (dbRelated) and itself run at least minReps times per parent call. The
// others complete the count, as the feed's user lookups keyed by its
// events' actor_id do beside its product lookups. Counts alone pair by
// chance in a short window: with a session opened per request, the sample
// service's order lines (6 calls, 42 rows) matched its orders lookup by
// order_id (6 calls, once per order list) plus its users' profile lookup
// (36 calls, once per request), and the profile lookup was reported as an
// N+1. A collection lookup (several rows per call) joins a group only as an
// anchor: keyed by the parent's rows and run minReps times per parent call.
func dbPairLookups(stmts, lookups []*postgres.StatementDelta, tables []postgres.TableDelta, cur *postgres.Snapshot,
	minReps, maxRows, tol float64) map[*postgres.StatementDelta]dbPairing {
	out := map[*postgres.StatementDelta]dbPairing{}
	for _, a := range stmts {
		if a.Rows <= 0 || float64(a.Rows)/float64(a.Calls) < minReps || !sqltext.ReadOnly(a.Statement.Query) {
			continue
		}
		rows := float64(a.Rows)
		var kids []*postgres.StatementDelta
		// The anchors among them, decided once per parent: dbRelated reads
		// both statements' SQL, and the search below meets each lookup in
		// many groups.
		anchors := map[*postgres.StatementDelta]bool{}
		for _, b := range lookups {
			if b != a && b.Calls >= a.Calls && float64(b.Calls) <= rows*(1+tol) {
				anchor := float64(b.Calls) >= minReps*float64(a.Calls) && dbRelated(a, b, tables, cur)
				if !anchor && dbCollection(b, maxRows) {
					continue
				}
				kids = append(kids, b)
				anchors[b] = anchor
			}
		}
		best := dbPairing{closeness: math.Inf(1)}
		var try func(start int, group []*postgres.StatementDelta, sum float64)
		try = func(start int, group []*postgres.StatementDelta, sum float64) {
			if slices.ContainsFunc(group, func(b *postgres.StatementDelta) bool { return anchors[b] }) {
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
	keys := dbKeys(b.Statement.Query)
	if len(keys) == 0 {
		return false
	}
	key := strings.ToLower(keys[0].col)
	words := dbSelectedColumns(a.Statement.Query, tables, cur)
	// A column the parent pins with col = $n has one value in all its
	// rows: one lookup would do, it is no per-row key.
	for _, pk := range dbKeys(a.Statement.Query) {
		delete(words, strings.ToLower(pk.col))
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
	items, from, ok := sqltext.SelectList(query)
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
			if t := dbAlias(aliases, qual); t != nil {
				for c := range dbColumnWidths(cur, t) {
					out[strings.ToLower(c)] = true
				}
			}
		default:
			for _, w := range sqltext.Identifiers(it) {
				out[strings.ToLower(w)] = true
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

// dbKeyRe finds the key conditions of a lookup: col = $n, or $n = col as
// SQLAlchemy writes its lazy loads of collections.
var dbKeyRe = regexp.MustCompile(`(?i)([A-Za-z_][A-Za-z0-9_]*\.)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*\$(\d+)|\$(\d+)\s*=\s*([A-Za-z_][A-Za-z0-9_]*\.)?([A-Za-z_][A-Za-z0-9_]*)`)

// dbKey is one key condition of a statement: the column (and its
// qualifier, "t." or "") compared with parameter $param, at q[start:end].
type dbKey struct {
	qual, col, param string
	start, end       int
}

// batched is q with the condition compared with ANY($param) instead.
func (k dbKey) batched(q string) string {
	return q[:k.start] + k.qual + k.col + " = ANY($" + k.param + ")" + q[k.end:]
}

// dbKeys are q's key conditions, in order. $n = f(...) is no key: a
// function call (ANY, lower) is not a column.
func dbKeys(q string) []dbKey {
	var out []dbKey
	for _, m := range dbKeyRe.FindAllStringSubmatchIndex(q, -1) {
		part := func(i int) string {
			if m[2*i] < 0 {
				return ""
			}
			return q[m[2*i]:m[2*i+1]]
		}
		k := dbKey{qual: part(1), col: part(2), param: part(3), start: m[0], end: m[1]}
		if k.col == "" {
			k.param, k.qual, k.col = part(4), part(5), part(6)
			if rest := strings.TrimLeft(q[m[1]:], " \t\n"); strings.HasPrefix(rest, "(") {
				continue
			}
		}
		out = append(out, k)
	}
	return out
}

// dbBatchSketch is the batched form of a lookup by key, in Go with pgx.
func dbBatchSketch(query string) string {
	q := sqltext.OneLine(query)
	keys := dbKeys(q)
	if len(keys) == 0 {
		return ""
	}
	k := keys[0]
	col, qual := k.col, k.qual
	batched := k.batched(q)
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

// dbIssuer is the call site that issues the most statements in the
// window's stacks.
type dbIssuer struct {
	site, function string
	share          float64
}

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
	isDriver := remembered(dbDriverRe.MatchString)
	isQuery := remembered(func(fn string) bool { return isDriver(fn) && dbQueryEntryRe.MatchString(fn) })
	add := func(frames []dbFrame, weight float64) {
		// frames: leaf first. The outermost driver frame that runs a query;
		// its caller is the issuer.
		issuer := -1
		for i := range frames {
			if isQuery(frames[i].fn) {
				issuer = i + 1
			}
		}
		if issuer < 0 || issuer >= len(frames) {
			return
		}
		f := frames[issuer]
		if isDriver(f.fn) || f.fn == "" {
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

// dbSQLAlchemyRe recognises SQLAlchemy's ORM statements: every column
// labelled table_column (users.id AS users_id).
var dbSQLAlchemyRe = regexp.MustCompile(`\b(\w+)\.(\w+) AS (\w+)`)

// dbFromRe finds the table a lookup reads.
var dbFromRe = regexp.MustCompile(`(?i)\bFROM\s+(?:\w+\.)?(\w+)`)

// dbORMOf names the ORM that wrote a statement when its SQL says so
// unmistakably: "sqlalchemy" for SQLAlchemy's table_column aliases on a
// service that is not known to run another language; "" otherwise.
func dbORMOf(query string, in *Input) string {
	if l := serviceLanguage(in); l != "" && l != "python" {
		return ""
	}
	ms := dbSQLAlchemyRe.FindAllStringSubmatch(query, -1)
	if len(ms) == 0 {
		return ""
	}
	for _, m := range ms {
		if m[3] != m[1]+"_"+m[2] {
			return ""
		}
	}
	return "sqlalchemy"
}

// dbBatchCode is the batched fix as code in the service's language: an
// eager load for SQLAlchemy, one = ANY($1) query for node-postgres, Go
// (pgx) otherwise.
func dbBatchCode(orm, lang, query string) string {
	switch {
	case orm == "sqlalchemy":
		table := "children"
		if m := dbFromRe.FindStringSubmatch(query); m != nil {
			table = m[1]
		}
		return fmt.Sprintf(`# Load the related %s rows with the parents instead of lazily, one
# query per row: selectinload for collections, joinedload for many-to-one.
from sqlalchemy.orm import joinedload, selectinload

stmt = select(Parent).options(selectinload(Parent.%s))  # or joinedload(...)
parents = session.execute(stmt).scalars().all()
# or, with Query: session.query(Parent).options(selectinload(Parent.%s))
# or on the relationship: relationship(..., lazy="selectin")`, table, table, table)
	case lang == "node":
		q := sqltext.OneLine(query)
		col, batched := "id", q
		if keys := dbKeys(q); len(keys) > 0 {
			k := keys[0]
			k.param = "1"
			col, batched = k.col, k.batched(q)
		}
		return fmt.Sprintf(`// One query for all the parent rows instead of an await per row:
const keys = parents.map((p) => p.%s);
const { rows } = await pool.query(%s, [keys]);
// ... group the rows by %s in a Map, then attach them to their parents.`, col, strconv.Quote(batched), col)
	}
	return dbBatchSketch(query)
}
