package sqltext

import (
	"slices"
	"strings"
	"testing"
)

func TestScan(t *testing.T) {
	toks, err := Scan(`SELECT "where", a.b -- FROM x
		/* WHERE /* nested */ y */ FROM t WHERE s = 'it''s; DROP' AND d = $$ ; $$ AND e = E'\'; x' AND p = $12;`)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"SELECT", "A", "B", "FROM", "T", "WHERE", "S", "AND", "D", "AND", "E", "AND", "P"}; !slices.Equal(toks.Words, want) {
		t.Errorf("words %v, want %v", toks.Words, want)
	}
	if toks.Statements != 1 {
		t.Errorf("statements %d", toks.Statements)
	}
	for q, want := range map[string]int{"": 0, ";": 0, " ; ;": 0, "SELECT 1": 1, "SELECT 1;": 1, "SELECT 1;;SELECT 2": 2, "a; b; c": 3} {
		toks, err := Scan(q)
		if err != nil || toks.Statements != want {
			t.Errorf("Scan(%q): %d statements, %v; want %d", q, toks.Statements, err, want)
		}
	}
	for _, q := range []string{"SELECT 'a", `SELECT "a`, "SELECT /* a", "SELECT $x$ a", `SELECT E'\'`, `SELECT "a""`} {
		if _, err := Scan(q); err == nil || !strings.HasPrefix(err.Error(), "unterminated") {
			t.Errorf("Scan(%q) = %v, want unterminated", q, err)
		}
	}
}

func TestCheckQuery(t *testing.T) {
	for _, q := range []string{
		"SELECT 1",
		"select * from events where user_id = $1 and kind = $2;",
		"  -- leading comment\n/* block /* nested */ */ SELECT 'a;b' || $1 FROM t",
		"WITH x AS (SELECT 1) SELECT * FROM x",
		"SELECT $$ DELETE ; $$, $tag$ INSERT $tag$",
		`SELECT "update", "into" FROM t`,
		"SELECT E'it\\'s; DELETE'",
		"VALUES (1), (2)",
		"TABLE users",
		"SELECT * FROM t FOR UPDATE",
	} {
		if err := CheckQuery(q); err != nil {
			t.Errorf("CheckQuery(%q) = %v", q, err)
		}
	}
	for q, want := range map[string]string{
		"":                          "empty",
		"-- nothing":                "empty",
		"INSERT INTO t VALUES ($1)": "INSERT is not a query",
		"UPDATE t SET a = 1":        "not a query",
		"CREATE INDEX ON t (a)":     "not a query",
		"EXPLAIN ANALYZE SELECT 1":  "not a query",
		"SELECT 1; DELETE FROM t":   "more than one",
		"WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d": "WITH holds DELETE",
		"SELECT * INTO new_table FROM t":                        "SELECT INTO",
		"SELECT 1 /* open":                                      "unterminated comment",
		"SET search_path = x":                                   "not a query",
	} {
		if err := CheckQuery(q); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("CheckQuery(%q) = %v, want %q", q, err, want)
		}
	}
}

func TestReadOnly(t *testing.T) {
	for q, want := range map[string]bool{
		"SELECT * FROM t WHERE id = $1":                 true,
		"WITH x AS (SELECT 1) SELECT * FROM x":          true,
		"SELECT * FROM t FOR UPDATE":                    false,
		"SELECT * FROM t FOR NO KEY UPDATE SKIP LOCKED": false,
		"SELECT * FROM t for share":                     false,
		"SELECT nextval('s')":                           false,
		"SELECT pg_advisory_lock($1)":                   false,
		"UPDATE t SET a = 1":                            false,
		"SELECT 1; SELECT 2":                            false,
	} {
		if got := ReadOnly(q); got != want {
			t.Errorf("ReadOnly(%q) = %v", q, got)
		}
	}
}

func TestReadsCatalog(t *testing.T) {
	for q, want := range map[string]bool{
		"SELECT * FROM pg_stat_statements":           true,
		"SELECT relname FROM pg_catalog.pg_class":    true,
		"SELECT * FROM PG_LOCKS":                     true,
		"SELECT * FROM events WHERE kind = 'pg_xyz'": false,
		"SELECT * FROM mypg_stat":                    false,
	} {
		if got := ReadsCatalog(q); got != want {
			t.Errorf("ReadsCatalog(%q) = %v", q, got)
		}
	}
}

func TestOneLine(t *testing.T) {
	if got := OneLine("  SELECT a,\n\tb\r\n  FROM t  "); got != "SELECT a, b FROM t" {
		t.Errorf("OneLine = %q", got)
	}
}

func TestIdentifiers(t *testing.T) {
	q := `SELECT "Events".id, U.Name, "a""b" FROM "Events" JOIN users u ON u.id = e.user_id -- orders
		WHERE kind = 'products' AND x = $1 /* invoices */ AND y = $t$tags$t$`
	want := []string{"select", "Events", "id", "u", "name", `a"b`, "from", "Events", "join", "users", "u", "on",
		"u", "id", "e", "user_id", "where", "kind", "and", "x", "and", "y"}
	if got := Identifiers(q); !slices.Equal(got, want) {
		t.Errorf("Identifiers:\n got %q\nwant %q", got, want)
	}
	// An unterminated string ends the scan; what came before is kept.
	if got := Identifiers("SELECT a FROM t WHERE b = 'x"); !slices.Equal(got, []string{"select", "a", "from", "t", "where", "b"}) {
		t.Errorf("unterminated: %q", got)
	}
}

func TestMentions(t *testing.T) {
	names := []string{"big", "events", "users", "Orders", "events"}
	for q, want := range map[string][]int{
		`SELECT * FROM "events" e JOIN users u ON u.id = e.user_id`: {1, 4, 2},
		"SELECT * FROM public.USERS WHERE id = $1":                  {2},
		`SELECT * FROM orders JOIN "Orders" USING (id)`:             {3},
		"SELECT 'big' FROM other -- events":                         nil,
		"":                                                          nil,
	} {
		if got := Mentions(q, names); !slices.Equal(got, want) {
			t.Errorf("Mentions(%q) = %v, want %v", q, got, want)
		}
	}
}

func TestIdent(t *testing.T) {
	for in, want := range map[string]string{
		"users":      "users",
		"user_id2":   "user_id2",
		"a$b":        "a$b",
		"_x":         "_x",
		"user":       `"user"`,
		"order":      `"order"`,
		"left":       `"left"`,
		"Users":      `"Users"`,
		"2fa":        `"2fa"`,
		"$x":         `"$x"`,
		"with space": `"with space"`,
		`a"b`:        `"a""b"`,
		"été":        `"été"`,
		"":           `""`,
	} {
		if got := Ident(in); got != want {
			t.Errorf("Ident(%q) = %s, want %s", in, got, want)
		}
	}
	if got := QuoteIdent("users"); got != `"users"` {
		t.Errorf("QuoteIdent = %s", got)
	}
	for _, tc := range [][3]string{
		{"", "events", "events"},
		{"public", "events", "events"},
		{"app", "events", "app.events"},
		{"App", "order", `"App"."order"`},
	} {
		if got := TableName(tc[0], tc[1]); got != tc[2] {
			t.Errorf("TableName(%q, %q) = %s, want %s", tc[0], tc[1], got, tc[2])
		}
	}
}

func TestUnquote(t *testing.T) {
	for in, want := range map[string]string{
		"created_at":  "created_at",
		" CreatedAt":  "createdat",
		`"CreatedAt"`: "CreatedAt",
		`"a""b"`:      `a"b`,
		`"a b"`:       "a b",
		"x$1":         "x$1",
	} {
		if got, ok := Unquote(in); !ok || got != want {
			t.Errorf("Unquote(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
	for _, in := range []string{"", `""`, `"a`, `"a"b"`, "a.b", "lower(a)", "'a'", "1a", "$1", "a b", `"a" "b"`} {
		if got, ok := Unquote(in); ok {
			t.Errorf("Unquote(%q) = %q, want not an identifier", in, got)
		}
	}
}

func TestSplitTop(t *testing.T) {
	for _, tc := range []struct {
		s, sep string
		want   []string
	}{
		{"a, b, c", ",", []string{"a", " b", " c"}},
		{"f(a, b), 'x,y', \"p,q\", c", ",", []string{"f(a, b)", " 'x,y'", ` "p,q"`, " c"}},
		{"(a = 1) AND (b = 2 AND c = 3)", " AND ", []string{"(a = 1)", "(b = 2 AND c = 3)"}},
		{"abc", "", []string{"abc"}},
		{"", ",", []string{""}},
	} {
		got := SplitTop(tc.s, tc.sep)
		if !slices.Equal(got, tc.want) {
			t.Errorf("SplitTop(%q, %q) = %q, want %q", tc.s, tc.sep, got, tc.want)
		}
	}
}

func TestStripParens(t *testing.T) {
	for in, want := range map[string]string{
		"((a = 1))":         "a = 1",
		" ( a ) ":           "a",
		"(a) AND (b)":       "(a) AND (b)",
		"((a) AND (b))":     "(a) AND (b)",
		"()":                "",
		"a":                 "a",
		"(a))(b)":           "(a))(b)",
		"((status)::text)":  "(status)::text",
		"(x = ANY ($1))":    "x = ANY ($1)",
		"((a = 1) OR (b))":  "(a = 1) OR (b)",
		"(((a)))":           "a",
		"(a = '(')":         "a = '('",
		"(":                 "(",
		")(":                ")(",
		"(a) = (b)":         "(a) = (b)",
		"(lower(a) = $1)":   "lower(a) = $1",
		"((a) = (b))":       "(a) = (b)",
		"(((a) = (b)) AND)": "((a) = (b)) AND",
	} {
		if got := StripParens(in); got != want {
			t.Errorf("StripParens(%q) = %q, want %q", in, got, want)
		}
	}
}

// Filters and index conditions as EXPLAIN (GENERIC_PLAN) prints them on
// PostgreSQL 15.
func TestFilterColumns(t *testing.T) {
	for _, tc := range []struct {
		filter  string
		eq, rng []string
	}{
		{"(user_id = $1)", []string{"user_id"}, nil},
		{"((user_id = $1) AND (created_at > $2))", []string{"user_id"}, []string{"created_at"}},
		{"((status)::text = 'open'::text)", []string{"status"}, nil},
		{"((e.kind = $1) AND (e.user_id = ANY ($2)))", []string{"kind", "user_id"}, nil},
		{"((user_id = $1) OR (actor_id = $1))", nil, nil},
		{"(pad ~~ '%zzz%'::text)", nil, nil},
		{"(a.id = b.owner)", nil, nil},
		{"((created_at >= $1) AND (created_at < $2))", nil, []string{"created_at"}},
		{"((created_at > now()) AND (\"UserId\" = $1) AND (created_at = $2))", []string{"UserId", "created_at"}, nil},
		{"(deleted_at < CURRENT_TIMESTAMP)", nil, []string{"deleted_at"}},
		{"(n = -1)", []string{"n"}, nil},
		{"", nil, nil},
	} {
		eq, rng := FilterColumns(tc.filter)
		if !slices.Equal(eq, tc.eq) || !slices.Equal(rng, tc.rng) {
			t.Errorf("%s: eq %v rng %v, want %v %v", tc.filter, eq, rng, tc.eq, tc.rng)
		}
	}
}

func TestSelectList(t *testing.T) {
	for _, tc := range []struct {
		q     string
		items []string
		from  string
		ok    bool
	}{
		{"SELECT id, name FROM users WHERE id = $1", []string{"id", "name"}, "users WHERE id = $1", true},
		{"select distinct e.*, count(*) from events e\n  join users u on u.id = e.user_id", []string{"e.*", "count(*)"}, "events e join users u on u.id = e.user_id", true},
		{"SELECT (SELECT max(x) FROM t), y From u", []string{"(SELECT max(x) FROM t)", "y"}, "u", true},
		{"WITH x AS (SELECT 1) SELECT * FROM x", nil, "", false},
		{"SELECT 1", nil, "", false},
		{"UPDATE t SET a = 1", nil, "", false},
	} {
		items, from, ok := SelectList(tc.q)
		if ok != tc.ok || !slices.Equal(items, tc.items) || from != tc.from {
			t.Errorf("SelectList(%q) = %q, %q, %v; want %q, %q, %v", tc.q, items, from, ok, tc.items, tc.from, tc.ok)
		}
	}
}

func TestIndexKeys(t *testing.T) {
	for def, want := range map[string][]string{
		"CREATE INDEX i ON public.t USING btree (owner, kind)":                           {"owner", "kind"},
		"CREATE UNIQUE INDEX i ON t USING btree (lower((email)::text), created_at DESC)": {"lower((email)::text)", "created_at DESC"},
		`CREATE INDEX i ON t USING btree ("a,b", c) INCLUDE (d)`:                         {`"a,b"`, "c"},
		"CREATE INDEX i ON t USING gin (tags) WHERE (deleted IS NULL)":                   {"tags"},
		"CREATE INDEX i ON t (a)":                                                        nil,
		"CREATE INDEX i ON t USING btree (a":                                             nil,
	} {
		if got := IndexKeys(def); !slices.Equal(got, want) {
			t.Errorf("IndexKeys(%q) = %q, want %q", def, got, want)
		}
	}
}
