package report

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/charmbracelet/x/ansi"

	"github.com/pgadvisor/advisor/internal/probe/postgres"
	"github.com/pgadvisor/advisor/internal/probe/source"
)

// fixtureStatementRow is one pg_stat_statements row of the fixtures.
func fixtureStatementRow(user uint32, id int64, query string, calls int64, totalMS float64, rows int64) postgres.Statement {
	return postgres.Statement{UserID: user, User: fmt.Sprintf("role%d", user), DBID: 5, QueryID: id, TopLevel: true,
		Query: query, Calls: calls, TotalExecTime: totalMS, Rows: rows}
}

// fixtureStatementsWindow is a 10 s PostgreSQL window (postgres.Diff of two
// snapshots, as the probe makes it) of a feed with an N+1: its events
// query, run under two roles (one statement), the per-event product query,
// an update, a statement nested in a function (no share of its own), the
// statements of a role this one may not see, and a statement under 1%.
func fixtureStatementsWindow(rows ...postgres.Statement) *postgres.Window {
	ok := source.Status{State: source.OK}
	at := fixtureTime.Add(-10 * time.Second)
	server := postgres.Server{Status: ok, VersionNum: 150008, PostmasterAt: at.Add(-time.Hour)}
	if rows == nil {
		nested := fixtureStatementRow(10, 99, "SELECT 1 FROM stock WHERE product_id = $1", 500, 300, 500)
		nested.TopLevel = false
		hidden := postgres.Statement{UserID: 30, User: "etl", DBID: 5, TopLevel: true, Hidden: true, HiddenCount: 3,
			Calls: 50, TotalExecTime: 620, Rows: 50}
		rows = []postgres.Statement{
			fixtureStatementRow(10, 8142305511, "SELECT id, kind, created_at, product_id, actor_id FROM events\n\t\tWHERE user_id = $1 ORDER BY created_at DESC LIMIT $2",
				1840, 9200, 36800),
			fixtureStatementRow(20, 8142305511, "SELECT id, kind, created_at, product_id, actor_id FROM events\n\t\tWHERE user_id = $1 ORDER BY created_at DESC LIMIT $2",
				160, 800, 3200),
			fixtureStatementRow(10, -6914734823093498211, "SELECT name FROM products WHERE id = $1", 36800, 7360, 36800),
			fixtureStatementRow(10, 42, "UPDATE orders SET status = $1, updated_at = now() WHERE id = $2", 120, 2400, 120),
			nested, hidden,
			fixtureStatementRow(10, 7, "SELECT now()", 10, 5, 10),
		}
	}
	prev := &postgres.Snapshot{Status: ok, Time: at, Server: server, Statements: postgres.Statements{Status: ok}}
	cur := &postgres.Snapshot{Status: ok, Time: fixtureTime, Server: server, Statements: postgres.Statements{Status: ok, Rows: rows}}
	return postgres.Diff(prev, cur)
}

// fixtureStatementsReport is the split goldens' report with the top
// statements of fixtureStatementsWindow.
func fixtureStatementsReport() *Report {
	return fixtureSplitReport().WithStatements(fixtureStatementsWindow())
}

func TestStatementsOf(t *testing.T) {
	s := StatementsOf(fixtureStatementsWindow())
	if s == nil {
		t.Fatal("no statements")
	}
	// 9200+800+7360+2400+620+5 ms of top-level statements; the nested
	// statement's time is its caller's.
	if s.Seconds != 10 || s.Cumulative || s.TotalMS != 20385 || s.Count != 4 {
		t.Errorf("seconds %g cumulative %v total %g count %d", s.Seconds, s.Cumulative, s.TotalMS, s.Count)
	}
	var ids []string
	for _, st := range s.Top {
		ids = append(ids, st.QueryID)
	}
	// By share; the statement under 1% and the nested one are left out.
	if want := []string{"8142305511", "-6914734823093498211", "42"}; !slices.Equal(ids, want) {
		t.Fatalf("top %q, want %q", ids, want)
	}
	ev := s.Top[0]
	// The two roles' rows are one statement.
	want := StatementFigures{QueryID: "8142305511", QueryHash: ev.QueryHash,
		Query: "SELECT id, kind, created_at, product_id, actor_id FROM events WHERE user_id = $1 ORDER BY created_at DESC LIMIT $2",
		Calls: 2000, CallsPerS: 200, MeanMS: 5, RowsPerCall: 20, Share: 0.4906}
	if ev != want {
		t.Errorf("events statement\n got %+v\nwant %+v", ev, want)
	}
	if len(ev.QueryHash) != 16 || ev.QueryHash == s.Top[1].QueryHash {
		t.Errorf("query hashes %q %q", ev.QueryHash, s.Top[1].QueryHash)
	}
	if p := s.Top[1]; p.CallsPerS != 3680 || p.MeanMS != 0.2 || p.RowsPerCall != 1 {
		t.Errorf("products statement %+v", p)
	}
	if len(s.Notes) != 1 || !strings.Contains(s.Notes[0], "3 statement(s) of other roles, 3% of the database time") {
		t.Errorf("notes %q", s.Notes)
	}
}

// TestStatementsAbsent: without PostgreSQL, or without pg_stat_statements,
// a report has no statements (never zeros); with it and no statement over
// the floor, it has an empty top.
func TestStatementsAbsent(t *testing.T) {
	if s := StatementsOf(nil); s != nil {
		t.Errorf("no PostgreSQL: %+v", s)
	}
	w := fixtureStatementsWindow()
	w.Cur.Statements.Status = source.Status{State: source.Unavailable, Detail: "pg_stat_statements is not created"}
	if s := StatementsOf(w); s != nil {
		t.Errorf("no pg_stat_statements: %+v", s)
	}
	r := fixtureReport().WithStatements(nil)
	if data := printJSON(t, r); strings.Contains(string(data), `"statements"`) {
		t.Error("a report without PostgreSQL writes statements")
	}
	s := StatementsOf(fixtureStatementsWindow(fixtureStatementRow(10, 7, "SELECT now()", 0, 0, 0)))
	if s == nil || len(s.Top) != 0 || s.Count != 0 {
		t.Errorf("no statement in the window: %+v", s)
	}
}

// TestStatementsTop: at most MaxStatements, largest share first.
func TestStatementsTop(t *testing.T) {
	var rows []postgres.Statement
	for i := range 15 {
		rows = append(rows, fixtureStatementRow(10, int64(i+1), fmt.Sprintf("SELECT %d FROM t WHERE id = $1", i+1), 100, float64(100+i), 100))
	}
	s := StatementsOf(fixtureStatementsWindow(rows...))
	if len(s.Top) != MaxStatements || s.Count != 15 || s.Top[0].QueryID != "15" || s.Top[9].QueryID != "6" {
		t.Errorf("count %d, top %+v", s.Count, s.Top)
	}
	for v, want := range map[float64]string{0.003: "<0.01 ms", 0: "0.00 ms", 0.2: "0.20 ms", 12.5: "12 ms"} {
		if got := meanText(v); got != want {
			t.Errorf("meanText(%g) = %q, want %q", v, got, want)
		}
	}
	long := strings.Repeat("SELECT a, b, c FROM t ", 20)
	s = StatementsOf(fixtureStatementsWindow(fixtureStatementRow(10, 1, long, 1, 1, 1)))
	if q := s.Top[0].Query; len([]rune(q)) != maxQueryRunes || !strings.HasSuffix(q, "…") {
		t.Errorf("long text shortened to %q", q)
	}
}

func TestGoldenStatements(t *testing.T) {
	checkFormatGoldens(t, "statements", fixtureStatementsReport(), fixtureOptions(), Formats...)
}

// TestStatementsJSON: the statements validate against the schema and
// decode back into the same report.
func TestStatementsJSON(t *testing.T) {
	sch := compileSchema(t, "report.schema.json")
	r := fixtureStatementsReport()
	before, after := fixtureComparedPair()
	for name, r := range map[string]*Report{"statements": r, "compare": after.Compare(before, DefaultThresholds())} {
		data := printJSON(t, r)
		if err := validate(sch, data); err != nil {
			t.Errorf("%s: %v", name, err)
		}
		var got Report
		if err := json.Unmarshal(data, &got); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got.Statements.Top, r.Statements.Top) {
			t.Errorf("%s: decoded statements differ:\n got %+v\nwant %+v", name, got.Statements, r.Statements)
		}
	}
}

// TestStatementsFitWidth: the statements sections, alone and compared,
// fit every width (texts are cut, never wrapped); compared, those the
// routes' comparison table fits (60 columns and more).
func TestStatementsFitWidth(t *testing.T) {
	before, after := fixtureComparedPair()
	r := after.Compare(before, DefaultThresholds())
	for _, width := range []int{50, 60, 80, 100} {
		var b bytes.Buffer
		p := &Text{}
		st := newTextStyles(nil, false)
		p.statements(&b, r.Statements, st, width)
		if width >= 60 {
			p.comparisonStatements(&b, r.Comparison, st, width)
		}
		for i, line := range strings.Split(b.String(), "\n") {
			if w := ansi.StringWidth(line); w > width {
				t.Errorf("width %d: line %d is %d columns: %q", width, i+1, w, line)
			}
		}
	}
}

// TestStatementsSchemaCatchesDrift: the schema rejects a renamed or
// retyped statement field.
func TestStatementsSchemaCatchesDrift(t *testing.T) {
	sch := compileSchema(t, "report.schema.json")
	before, after := fixtureComparedPair()
	valid := printJSON(t, after.Compare(before, DefaultThresholds()))
	for _, m := range []struct{ old, new string }{
		{`"calls_per_s": 200`, `"calls_per_s": "200"`},
		{`"queryid": "42"`, `"queryid": 42`},
		{`"rows_per_call": 20`, `"rows": 20`},
		{`"matched_by": "query"`, `"matched_by": "text"`},
		{`"metric": "mean_ms"`, `"metric": "p95_ms"`},
	} {
		if !strings.Contains(string(valid), m.old) {
			t.Errorf("the fixture's JSON does not contain %s", m.old)
			continue
		}
		if err := validate(sch, []byte(strings.Replace(string(valid), m.old, m.new, 1))); err == nil {
			t.Errorf("the schema accepts %s", m.new)
		}
	}
}

// TestStatementsRedactPasswords: a role's password, which
// pg_stat_statements keeps verbatim in utility statements before
// PostgreSQL 16, is not in the report.
func TestStatementsRedactPasswords(t *testing.T) {
	s := StatementsOf(fixtureStatementsWindow(
		fixtureStatementRow(10, 1, "ALTER ROLE app WITH LOGIN PASSWORD 's3cr''et'", 1, 50, 0),
		fixtureStatementRow(10, 2, "CREATE USER etl ENCRYPTED password E'hunter\\'2'", 1, 40, 0),
		fixtureStatementRow(10, 3, "SELECT dblink_connect('host=db password=swordfish')", 1, 30, 0)))
	data, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{"s3cr", "hunter", "swordfish"} {
		if strings.Contains(string(data), secret) {
			t.Errorf("the statements hold the password %q: %s", secret, data)
		}
	}
	if q := s.Top[0].Query; q != "ALTER ROLE app WITH LOGIN PASSWORD 'xxxxx'" {
		t.Errorf("redacted text %q", q)
	}
}
