package postgres

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/pgadvisor/advisor/internal/sqltext"
)

// Explainer is what the rules use to look at plans: the generic plan of a
// statement text from pg_stat_statements, and the planner's cost with a
// hypothetical index. *Probe implements it. Both methods only plan, never
// execute, and both return a *SkipError for a statement that cannot be
// explained: the rule then skips that statement, nothing else.
type Explainer interface {
	// Explain returns the generic plan of a parameterised statement
	// ($1, $2 ...).
	Explain(ctx context.Context, query string) (*Plan, error)
	// HypotheticalCost plans query without and with the index that
	// createIndex (a CREATE INDEX statement) describes, without creating it.
	HypotheticalCost(ctx context.Context, query, createIndex string) (HypoResult, error)
}

var _ Explainer = (*Probe)(nil)

// HypoResult is the planner's view of a candidate index.
type HypoResult struct {
	// Before and After are the plan's total costs without and with the
	// index.
	Before, After float64
	// Used is whether the plan with the index scans it.
	Used bool
	// IndexName is the name hypopg gave the hypothetical index.
	IndexName             string
	BeforePlan, AfterPlan *Plan
}

// SkipError says why a statement was not explained. It is not a failure of
// the probe.
type SkipError struct {
	Reason string
}

func (e *SkipError) Error() string { return "skipped: " + e.Reason }

func skip(format string, args ...any) error { return &SkipError{Reason: fmt.Sprintf(format, args...)} }

// HypoPGMissingError says that hypopg is not installed in the database.
// advisor never creates it: CREATE EXTENSION is a write, for the DBA to run.
type HypoPGMissingError struct {
	Database   string
	VersionNum int
}

func (e *HypoPGMissingError) Error() string {
	pkg := "postgresql-N-hypopg"
	if e.VersionNum > 0 {
		pkg = fmt.Sprintf("postgresql-%d-hypopg", e.VersionNum/10000)
	}
	return fmt.Sprintf("hypopg is not installed in database %q: CREATE EXTENSION hypopg (package %s)", e.Database, pkg)
}

// CheckExplainable says whether query may be explained: one SELECT, VALUES,
// TABLE, or WITH whose parts do not write; SELECT INTO (it creates a table)
// and anything else return a *SkipError (sqltext.CheckQuery says why).
func CheckExplainable(query string) error {
	if err := sqltext.CheckQuery(query); err != nil {
		return skip("%v", err)
	}
	return nil
}

// Explain returns the generic plan of query, a statement text as
// pg_stat_statements shows it. On 16+ it runs EXPLAIN (GENERIC_PLAN, FORMAT
// JSON); before, PREPARE, SET LOCAL plan_cache_mode = force_generic_plan and
// EXPLAIN (FORMAT JSON) EXECUTE with NULL for every parameter. Either way
// inside a read-only transaction that is rolled back. A statement that cannot
// be explained gives a *SkipError.
func (p *Probe) Explain(ctx context.Context, query string) (*Plan, error) {
	if err := CheckExplainable(query); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, p.opts.CollectorTimeout)
	defer cancel()
	c, err := p.pool.Acquire(ctx)
	if err != nil {
		return nil, p.wrap("explain", err)
	}
	defer c.Release()
	v, err := serverVersion(ctx, c)
	if err != nil {
		return nil, p.wrap("explain", err)
	}
	return p.explainOn(ctx, c, v, query)
}

// serverVersion is server_version_num (not reported in the startup
// parameters, unlike server_version).
func serverVersion(ctx context.Context, c *pgxpool.Conn) (int, error) {
	var v int
	err := c.QueryRow(ctx, probeTag+"SELECT current_setting('server_version_num')::int").Scan(&v)
	return v, err
}

// explainStmtName is the prepared statement of the pre-16 path.
const explainStmtName = "advisor_explain"

// explainOn explains query on c. The caller checked it with
// CheckExplainable.
func (p *Probe) explainOn(ctx context.Context, c *pgxpool.Conn, version int, query string) (*Plan, error) {
	pg := c.Conn().PgConn()
	body := strings.TrimRight(strings.TrimSpace(query), "; \t\r\n")
	if _, err := pg.Exec(ctx, probeTag+"BEGIN READ ONLY").ReadAll(); err != nil {
		return nil, p.wrap("explain", err)
	}
	prepared := ""
	defer func() {
		// Rolled back on every path, even when ctx is done; prepared
		// statements outlive the transaction and are deallocated.
		rctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_, _ = pg.Exec(rctx, probeTag+"ROLLBACK").ReadAll()
		if prepared != "" {
			if _, err := pg.Exec(rctx, probeTag+"DEALLOCATE "+prepared).ReadAll(); err != nil {
				// The name is reused: a session that kept it must go.
				_ = c.Conn().Close(rctx)
			}
		}
	}()
	var sql string
	if version >= pg16 {
		sql = "EXPLAIN (GENERIC_PLAN, FORMAT JSON) " + body
	} else {
		// One name for every statement: pg_stat_statements keeps a
		// utility statement's text as it is, so a new name per EXPLAIN
		// would add an entry each time.
		name := explainStmtName
		if _, err := pg.Exec(ctx, probeTag+"SET LOCAL plan_cache_mode = force_generic_plan").ReadAll(); err != nil {
			return nil, p.wrap("explain", err)
		}
		if _, err := pg.Exec(ctx, probeTag+"PREPARE "+name+" AS "+body).ReadAll(); err != nil {
			return nil, p.explainError(err)
		}
		prepared = name
		rr := pg.ExecParams(ctx, "SELECT cardinality(parameter_types) FROM pg_prepared_statements WHERE name = $1",
			[][]byte{[]byte(name)}, nil, nil, nil).Read()
		if rr.Err != nil {
			return nil, p.wrap("explain", rr.Err)
		}
		n := 0
		if len(rr.Rows) == 1 && len(rr.Rows[0]) == 1 && rr.Rows[0][0] != nil {
			n, _ = strconv.Atoi(string(rr.Rows[0][0]))
		}
		args := ""
		if n > 0 {
			args = "(" + strings.TrimSuffix(strings.Repeat("NULL, ", n), ", ") + ")"
		}
		sql = "EXPLAIN (FORMAT JSON) EXECUTE " + name + args
	}
	results, err := pg.Exec(ctx, probeTag+sql).ReadAll()
	if err != nil {
		return nil, p.explainError(err)
	}
	if len(results) != 1 || len(results[0].Rows) != 1 || len(results[0].Rows[0]) != 1 {
		return nil, &Error{msg: "explain: unexpected result shape"}
	}
	plan, err := ParsePlan(results[0].Rows[0][0])
	if err != nil {
		return nil, &Error{msg: "explain: " + err.Error(), err: err}
	}
	plan.Generic = true
	plan.Query = query
	return plan, nil
}

// explainError turns the server's refusal to plan a statement into a
// *SkipError; a broken connection or a timeout stays an error.
func (p *Probe) explainError(err error) error {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		return p.wrap("explain", err)
	}
	switch {
	case pgErr.Code == "42P18", pgErr.Code == "42P08":
		return skip("a parameter's type cannot be inferred: %s", p.redact(pgErr.Message))
	case pgErr.Code == "42501":
		return skip("permission denied: %s", p.redact(pgErr.Message))
	case strings.HasPrefix(pgErr.Code, "42"), strings.HasPrefix(pgErr.Code, "0A"), strings.HasPrefix(pgErr.Code, "22"),
		pgErr.Code == "25006":
		return skip("the server cannot plan it: %s (SQLSTATE %s)", p.redact(pgErr.Message), pgErr.Code)
	}
	return p.wrap("explain", err)
}

// HypotheticalCost plans query without and with the index createIndex
// describes, using hypopg on one connection: hypopg_create_index,
// EXPLAIN, hypopg_reset. Hypothetical indexes live in the session's memory
// only: nothing is written, and the read-only transaction the session runs
// in does not prevent them. Without hypopg in the database it returns a
// *HypoPGMissingError; advisor never creates the extension.
func (p *Probe) HypotheticalCost(ctx context.Context, query, createIndex string) (HypoResult, error) {
	var res HypoResult
	if err := CheckExplainable(query); err != nil {
		return res, err
	}
	def, err := checkCreateIndex(createIndex)
	if err != nil {
		return res, err
	}
	ctx, cancel := context.WithTimeout(ctx, 2*p.opts.CollectorTimeout)
	defer cancel()
	c, err := p.pool.Acquire(ctx)
	if err != nil {
		return res, p.wrap("hypothetical index", err)
	}
	defer c.Release()
	v, err := serverVersion(ctx, c)
	if err != nil {
		return res, p.wrap("hypothetical index", err)
	}
	var schema string
	err = c.QueryRow(ctx, probeTag+"SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = 'hypopg'").Scan(&schema)
	if err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return res, &HypoPGMissingError{Database: p.database, VersionNum: v}
		}
		return res, p.wrap("hypothetical index", err)
	}
	fn := func(name string) string { return sqltext.QuoteIdent(schema) + "." + name }

	res.BeforePlan, err = p.explainOn(ctx, c, v, query)
	if err != nil {
		return res, err
	}
	defer func() {
		// Drop the hypothetical indexes before the connection goes back to
		// the pool, even when ctx is done.
		rctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if _, err := c.Exec(rctx, probeTag+"SELECT "+fn("hypopg_reset()")); err != nil {
			// A session whose reset failed must not be reused.
			_ = c.Conn().Close(rctx)
		}
	}()
	if err := c.QueryRow(ctx, probeTag+"SELECT indexname FROM "+fn("hypopg_create_index($1)"), def).Scan(&res.IndexName); err != nil {
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) {
			return res, skip("hypopg cannot create the index: %s", p.redact(pgErr.Message))
		}
		return res, p.wrap("hypothetical index", err)
	}
	res.AfterPlan, err = p.explainOn(ctx, c, v, query)
	if err != nil {
		return res, err
	}
	res.Before, res.After = res.BeforePlan.TotalCost(), res.AfterPlan.TotalCost()
	res.Used = res.AfterPlan.UsesIndex(res.IndexName)
	return res, nil
}

// checkCreateIndex accepts one CREATE [UNIQUE] INDEX [CONCURRENTLY]
// statement and returns it without CONCURRENTLY, which hypopg rejects.
func checkCreateIndex(def string) (string, error) {
	toks, err := sqltext.Scan(def)
	if err != nil {
		return "", skip("index definition: %v", err)
	}
	w := toks.Words
	if toks.Statements != 1 || len(w) < 2 || w[0] != "CREATE" ||
		!(w[1] == "INDEX" || (len(w) > 2 && w[1] == "UNIQUE" && w[2] == "INDEX")) {
		return "", skip("not a single CREATE INDEX statement: %q", def)
	}
	def = strings.TrimRight(strings.TrimSpace(def), "; \t\r\n")
	if i := strings.Index(strings.ToUpper(def), " CONCURRENTLY "); i >= 0 {
		def = def[:i] + def[i+len(" CONCURRENTLY"):]
	}
	return def, nil
}
