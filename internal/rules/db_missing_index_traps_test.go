package rules

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pgadvisor/advisor/internal/probe"
	"github.com/pgadvisor/advisor/internal/probe/postgres"
)

// TestMissingIndexTraps builds the planner traps of issue 15 on the private
// stack and checks that db.missing-index suggests the index each needs,
// verified with hypopg: the ORDER BY ... LIMIT trap of the issue (an index
// on loaned_at alone, a member whose loans are all old), a function on the
// column, a cast on the column, an OR across columns. A key lookup through
// its primary key is the statement that must not be flagged.
func TestMissingIndexTraps(t *testing.T) {
	if testing.Short() {
		t.Skip("needs the private stack")
	}
	t.Parallel() // servers or a database of its own, and no load whose rate it measures
	ctx, dsn, conn := maintDatabase(t, "rules_db_traps", 3*time.Minute)
	maintExec(t, conn,
		`CREATE TABLE members (id int PRIMARY KEY, email text NOT NULL, code int NOT NULL, name text NOT NULL)`,
		`INSERT INTO members SELECT i, 'M' || i || '@Example.com', i, 'name ' || i FROM generate_series(1, 20000) i`,
		`CREATE INDEX members_email ON members (email)`,
		`CREATE INDEX members_code ON members (code)`,
		`CREATE TABLE loans (id bigserial PRIMARY KEY, member_id int NOT NULL, book_id int NOT NULL,
		                     loaned_at timestamptz NOT NULL, note text)`,
		// Members 1 to 100 borrowed only at the start: their loans sit at
		// the old end of loaned_at, which a backward scan reaches last.
		`INSERT INTO loans (member_id, book_id, loaned_at, note)
		 SELECT CASE WHEN i <= 2000 THEN 1 + i % 100 ELSE 101 + i % 1900 END, i % 5000,
		        timestamptz '2020-01-01' + i * interval '1 minute', repeat('x', 40)
		 FROM generate_series(1, 300000) i`,
		`CREATE INDEX loans_loaned_at ON loans (loaned_at)`,
		`ANALYZE members`, `ANALYZE loans`,
	)
	pg, window := maintWindow(ctx, t, dsn, conn)
	query := func(sql string, args ...any) {
		t.Helper()
		rows, err := conn.Query(ctx, sql, args...)
		if err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	for i := 0; i < 12; i++ {
		query("SELECT id, book_id, loaned_at FROM loans WHERE member_id = $1 ORDER BY loaned_at DESC LIMIT 20", 1+i%100)
	}
	for i := 0; i < 40; i++ {
		query("SELECT id, name FROM members WHERE lower(email) = $1", "m5@example.com")
		query("SELECT id, name FROM members WHERE code = $1::numeric", i)
		query("SELECT id FROM members WHERE email = $1 OR name = $2", "M7@Example.com", "name 9")
		query("SELECT name FROM members WHERE id = $1", i+1)
	}
	w := window()
	rule := dbRule(t, "db.missing-index", map[string]any{"min_calls": 10, "min_total_time_ms": 1.0})
	fs := dbDetectIn(t, &Input{Window: w, Explainer: pg}, rule)

	find := func(subject string) *Finding {
		for i := range fs {
			if fs[i].Subject == subject {
				return &fs[i]
			}
		}
		return nil
	}
	cases := []struct {
		name, subject, trap string
	}{
		{"order-by-limit", "loans (member_id, loaned_at DESC)", dbTrapOrderLimit},
		{"function", "members ((lower(email)))", dbTrapFunction},
		{"cast", "members (((code)::numeric))", dbTrapCast},
		{"or", "members (name)", dbTrapOr},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := find(c.subject)
			if f == nil {
				var got []string
				for _, g := range fs {
					got = append(got, g.Subject)
				}
				t.Fatalf("no suggestion %q; got %v", c.subject, got)
			}
			if f.Evidence["trap"] != c.trap || f.Evidence["basis"] != "cost" || f.Evidence["verified"] != true || f.Severity != Warning {
				t.Errorf("%v: trap %v, basis %v, verified %v", f.Severity, f.Evidence["trap"], f.Evidence["basis"], f.Evidence["verified"])
			}
			if !strings.HasPrefix(f.Fix.SQL, "CREATE INDEX CONCURRENTLY ON ") {
				t.Errorf("fix SQL %q", f.Fix.SQL)
			}
		})
	}
	t.Run("order-by-limit measured", func(t *testing.T) {
		f := find("loans (member_id, loaned_at DESC)")
		if f == nil {
			t.Skip("no finding")
		}
		// 20 rows for thousands of blocks: the measured cost contradicts
		// the LIMIT-scaled estimate.
		if f.Evidence["estimate_contradicted"] != true || f.Evidence["blocks_per_row"].(float64) < 50 {
			t.Errorf("measured evidence %v", f.Evidence)
		}
	})
	t.Run("cast advice", func(t *testing.T) {
		if f := find("members (((code)::numeric))"); f != nil && !strings.Contains(f.Fix.Code, "the column's type") {
			t.Errorf("fix code %q", f.Fix.Code)
		}
	})
	t.Run("no false positive", func(t *testing.T) {
		for _, f := range fs {
			if strings.Contains(f.Evidence["query"].(string), "WHERE id = $1") {
				t.Errorf("key lookup flagged: %s", f.Title)
			}
		}
	})
}

// trapExplainer plans the ORDER BY ... LIMIT trap and prices a
// hypothetical index as the planner would when its estimate is already
// low: used, but a cut below min_cost_cut.
type trapExplainer struct {
	before, after float64
	missing       bool
}

const trapPlan = `[{"Plan": {"Node Type": "Limit", "Total Cost": 1623.87, "Plan Rows": 20, "Plans": [
 {"Node Type": "Index Scan", "Scan Direction": "Backward", "Index Name": "loans_loaned_at", "Relation Name": "loans",
  "Alias": "loans", "Total Cost": 12257.42, "Plan Rows": 151, "Filter": "(member_id = $1)"}]}}]`

func (e trapExplainer) Explain(context.Context, string) (*postgres.Plan, error) {
	return postgres.ParsePlan([]byte(trapPlan))
}

func (e trapExplainer) HypotheticalCost(_ context.Context, _, createIndex string) (postgres.HypoResult, error) {
	if e.missing {
		return postgres.HypoResult{}, &postgres.HypoPGMissingError{Database: "lib", VersionNum: 150000}
	}
	if !strings.Contains(createIndex, "(member_id, loaned_at DESC)") {
		return postgres.HypoResult{Before: e.before, After: e.before, Used: false}, nil
	}
	return postgres.HypoResult{Before: e.before, After: e.after, Used: true}, nil
}

// trapWindow is a window with the trap's statement: rows returned per call
// and shared blocks per call as given.
func trapWindow(blocksPerCall, rowsPerCall int64) *probe.Window {
	const calls = 200
	loans := postgres.Table{RelID: 1, Schema: "public", Name: "loans"}
	ix := postgres.Index{TableRelID: 1, RelID: 2, Schema: "public", Table: "loans", Name: "loans_loaned_at", Valid: true,
		Method: "btree", KeyColumns: []string{"loaned_at"}, Definition: "CREATE INDEX loans_loaned_at ON public.loans USING btree (loaned_at)"}
	st := postgres.Statement{QueryID: 42, TopLevel: true, Calls: calls,
		Query: "SELECT id, book_id, loaned_at FROM loans WHERE member_id = $1 ORDER BY loaned_at DESC LIMIT 20"}
	pw := &postgres.Window{Seconds: 10,
		Statements: postgres.StatementsWindow{Seconds: 10, TotalTime: calls * 167, Rows: []postgres.StatementDelta{{
			Key: st.Key(), Statement: st, Calls: calls, TotalTime: calls * 167, MeanTime: 167, Rows: calls * rowsPerCall,
			SharedHit: calls * blocksPerCall, CallsPerS: 20, Share: 1}}},
		Tables:  []postgres.TableDelta{{RelID: 1, Schema: "public", Name: "loans", Table: loans}},
		Indexes: []postgres.IndexDelta{{RelID: 2, Index: ix}},
	}
	pw.Cur = &postgres.Snapshot{}
	return &probe.Window{Seconds: 10, Postgres: pw}
}

// TestMissingIndexTrapBasis checks the basis of a trap's suggestion: the
// planner's cost cut when it is large; the measured reads when the planner
// would use the index but its estimate was already low; unverified, at
// info, without hypopg; nothing when neither the cost nor the reads say
// so.
func TestMissingIndexTrapBasis(t *testing.T) {
	rule := dbRule(t, "db.missing-index", map[string]any{"min_calls": 10, "min_total_time_ms": 1.0})
	run := func(ex postgres.Explainer, w *probe.Window) []Finding {
		t.Helper()
		return dbDetectIn(t, &Input{Window: w, Explainer: ex}, rule)
	}
	for _, c := range []struct {
		name          string
		ex            trapExplainer
		blocks, rows  int64
		basis         string
		sev           Severity
		titleContains string
	}{
		{"cost", trapExplainer{before: 1623.87, after: 79.31}, 5345, 20, "cost", Warning, "would cut the plan cost by 95"},
		{"measured", trapExplainer{before: 1623.87, after: 1000}, 5345, 20, "measured_reads", Warning, "blocks per row it returns (measured"},
		{"unverified", trapExplainer{missing: true}, 5345, 20, "unverified", Info, "unverified"},
		{"cheap for real", trapExplainer{before: 1623.87, after: 1000}, 30, 20, "", 0, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			fs := run(c.ex, trapWindow(c.blocks, c.rows))
			if c.basis == "" {
				if len(fs) != 0 {
					t.Fatalf("no contradiction and a small cost cut: %v", fs)
				}
				return
			}
			if len(fs) != 1 {
				t.Fatalf("want one finding: %v", fs)
			}
			f := fs[0]
			cols, _ := f.Evidence["columns"].([]string)
			if !slices.Equal(cols, []string{"member_id", "loaned_at DESC"}) || f.Evidence["trap"] != dbTrapOrderLimit {
				t.Errorf("columns %v, trap %v", cols, f.Evidence["trap"])
			}
			if f.Evidence["basis"] != c.basis || f.Severity != c.sev || f.Evidence["verified"] != (c.basis == "cost") {
				t.Errorf("basis %v severity %v verified %v", f.Evidence["basis"], f.Severity, f.Evidence["verified"])
			}
			if !strings.Contains(f.Title, c.titleContains) {
				t.Errorf("title %q", f.Title)
			}
			if _, err := json.Marshal(f); err != nil {
				t.Error(err)
			}
		})
	}
}
