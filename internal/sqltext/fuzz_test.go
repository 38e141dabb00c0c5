package sqltext

import (
	"slices"
	"strings"
	"testing"
)

// FuzzIdent: quoting round-trips. Whatever the name, the identifier Ident
// and QuoteIdent write scans back to it, and so does a qualified TableName.
func FuzzIdent(f *testing.F) {
	for _, s := range [][2]string{{"", "users"}, {"public", "user"}, {"App", `a"b`}, {"x", ""}, {"s", "été"}, {"e", "'"}, {"$1", "--"}} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, schema, name string) {
		for _, q := range []string{Ident(name), QuoteIdent(name)} {
			if got := Identifiers(q); !slices.Equal(got, []string{name}) {
				t.Fatalf("Identifiers(%q) = %q, want [%q]", q, got, name)
			}
			if toks, err := Scan(q); err != nil || toks.Statements != 1 {
				t.Fatalf("Scan(%q) = %+v, %v", q, toks, err)
			}
			if got, ok := Unquote(q); name != "" && (!ok || got != name) {
				t.Fatalf("Unquote(%q) = %q, %v; want %q", q, got, ok, name)
			}
		}
		want := []string{schema, name}
		if schema == "" || schema == "public" {
			want = want[1:]
		}
		if q := TableName(schema, name); !slices.Equal(Identifiers(q), want) {
			t.Fatalf("Identifiers(TableName(%q, %q)) = %q", schema, name, Identifiers(q))
		}
	})
}

// FuzzIdentifiers: scanning any text for identifiers does not panic, and
// each identifier found is mentioned by the text.
func FuzzIdentifiers(f *testing.F) {
	for _, q := range []string{`SELECT "Events".id FROM "Events" e WHERE e.x = 'a''b' -- c`, `"a""b" /* /* */`, "$1$x$", `E'\`, "\xff\xfe", "U&\"d\\0061\""} {
		f.Add(q)
	}
	f.Fuzz(func(t *testing.T, q string) {
		ids := Identifiers(q)
		got := Mentions(q, ids)
		slices.Sort(got)
		for i := range ids {
			if i >= len(got) || got[i] != i {
				t.Fatalf("Mentions(%q, %q) = %v: every identifier is mentioned", q, ids, got)
			}
		}
		if len(got) != len(ids) {
			t.Fatalf("Mentions(%q, %q) = %v", q, ids, got)
		}
	})
}

// FuzzCheckQuery: whatever CheckQuery accepts is one statement starting
// with a query keyword, and a read-only statement is such a query.
func FuzzCheckQuery(f *testing.F) {
	for _, q := range []string{"SELECT 1", "WITH a AS (DELETE FROM t) SELECT 1", "SELECT $$x$$; DROP TABLE t", "SELECT E'\\''", `"`, "SELECT * FROM t FOR UPDATE"} {
		f.Add(q)
	}
	f.Fuzz(func(t *testing.T, q string) {
		ro := ReadOnly(q)
		if CheckQuery(q) != nil {
			if ro {
				t.Fatalf("ReadOnly(%q) but CheckQuery rejects it", q)
			}
			return
		}
		toks, err := Scan(q)
		if err != nil || toks.Statements != 1 {
			t.Fatalf("accepted %q: %d statements, %v", q, toks.Statements, err)
		}
		switch toks.Words[0] {
		case "SELECT", "WITH", "VALUES", "TABLE":
		default:
			t.Fatalf("accepted %q starting with %s", q, toks.Words[0])
		}
	})
}

// FuzzSplitTop: the parts join back into the text.
func FuzzSplitTop(f *testing.F) {
	for _, s := range [][2]string{{"a, f(b, c), 'd,e'", ","}, {"(a = 1) AND (b)", " AND "}, {`"a AND b" AND c`, " AND "}, {"x", ""}, {"aaa", "aa"}} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, s, sep string) {
		parts := SplitTop(s, sep)
		if len(parts) == 0 || strings.Join(parts, sep) != s {
			t.Fatalf("SplitTop(%q, %q) = %q does not join back", s, sep, parts)
		}
	})
}

// FuzzClauses: the clause parsers take any text without panicking, and
// give what they promise.
func FuzzClauses(f *testing.F) {
	for _, s := range []string{
		"((user_id = $1) AND (created_at > $2))", "((status)::text = 'open'::text)", "(x = ANY ($1)) OR (y)",
		"SELECT DISTINCT a, b FROM t WHERE c = $1", "SELECT (", "SELECT ,, FROM",
		"CREATE INDEX i ON t USING btree (a, lower((b)::text) DESC)", "x USING (", `"a""b"`, " id ",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		eq, rng := FilterColumns(s)
		for _, c := range rng {
			if slices.Contains(eq, c) {
				t.Fatalf("FilterColumns(%q): %q both equality and range", s, c)
			}
		}
		if p := StripParens(s); !strings.Contains(s, p) {
			t.Fatalf("StripParens(%q) = %q, not a part of it", s, p)
		}
		_, _, _ = SelectList(s)
		_ = IndexKeys(s)
		if name, ok := Unquote(s); ok && s == strings.TrimSpace(s) {
			if got := Identifiers(s); !slices.Equal(got, []string{name}) {
				t.Fatalf("Unquote(%q) = %q, Identifiers = %q", s, name, got)
			}
		}
	})
}
