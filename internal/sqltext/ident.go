package sqltext

import (
	"regexp"
	"strings"
)

// Identifiers returns the identifiers of a statement text in the order of
// the text, repeats included: unquoted words folded to lower case as
// PostgreSQL folds them (ASCII letters only), quoted identifiers as their
// name, with "" unescaped. Keywords are words too: callers match the
// identifiers against names they know. Comments, strings and parameters are
// skipped; the scan ends at an unterminated comment, string or quoted
// identifier.
func Identifiers(q string) []string {
	var out []string
	_ = lex(q, func(tok token) {
		switch tok.kind {
		case word:
			out = append(out, foldIdent(tok.text))
		case quoted:
			out = append(out, tok.text)
		}
	})
	return out
}

// Mentions returns the indexes of the names that a statement text names,
// in the order of their first mention, each once. An identifier names every
// entry of names equal to it regardless of case (two schemas may hold a
// table of the same name: both are returned), whether it is quoted or not,
// and whether or not it is schema-qualified.
func Mentions(q string, names []string) []int {
	byName := make(map[string][]int, len(names))
	for i, n := range names {
		k := strings.ToLower(n)
		byName[k] = append(byName[k], i)
	}
	seen := make(map[int]bool)
	var out []int
	for _, id := range Identifiers(q) {
		for _, i := range byName[strings.ToLower(id)] {
			if !seen[i] {
				seen[i] = true
				out = append(out, i)
			}
		}
	}
	return out
}

// Unquote returns the name that s, one identifier quoted or not, stands
// for: a quoted identifier's name with "" unescaped, an unquoted one folded
// to lower case. ok is false when s (trimmed of white space) is anything but
// one identifier: an expression, a qualified name, a string, a zero-length
// name, nothing.
func Unquote(s string) (name string, ok bool) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", false
	}
	if s[0] != '"' {
		if !isIdentStart(s[0]) {
			return "", false
		}
		for i := 1; i < len(s); i++ {
			if !isIdentByte(s[i]) {
				return "", false
			}
		}
		return foldIdent(s), true
	}
	if len(s) < 3 || s[len(s)-1] != '"' {
		return "", false
	}
	inner := s[1 : len(s)-1]
	var b strings.Builder
	for i := 0; i < len(inner); i++ {
		if inner[i] == '"' {
			if i+1 >= len(inner) || inner[i+1] != '"' {
				return "", false
			}
			i++
		}
		b.WriteByte(inner[i])
	}
	return b.String(), true
}

// foldIdent folds an unquoted identifier as PostgreSQL does in a UTF-8
// database: ASCII letters to lower case, other bytes as they are.
func foldIdent(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 'A' && c <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if b[j] >= 'A' && b[j] <= 'Z' {
					b[j] += 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}

// Ident returns an identifier as SQL text, quoted only when it needs it:
// when it is not all lower-case ASCII letters, digits, '_' and '$' (not
// starting with a digit or '$'), or it is a keyword PostgreSQL reserves.
// Identifiers(Ident(s)) is always []string{s}.
func Ident(s string) string {
	if plainIdentRe.MatchString(s) && !reserved[s] {
		return s
	}
	return QuoteIdent(s)
}

// QuoteIdent returns an identifier quoted, whatever it is: between double
// quotes, a double quote in it doubled.
func QuoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

// TableName is how advisor names a relation in text and in the SQL it
// suggests: its name, qualified with its schema outside public (and when
// the schema is unknown, ""), each part quoted as Ident quotes it.
func TableName(schema, name string) string {
	if schema == "" || schema == "public" {
		return Ident(name)
	}
	return Ident(schema) + "." + Ident(name)
}

var plainIdentRe = regexp.MustCompile(`^[a-z_][a-z0-9_$]*$`)

// reserved are PostgreSQL's reserved keywords and those that may name a
// function or a type but no column or table (the "reserved" and "reserved
// (can be function or type)" entries of the SQL Key Words appendix, 17).
var reserved = map[string]bool{}

func init() {
	for _, w := range strings.Fields(`
		all analyse analyze and any array as asc asymmetric both case cast check
		collate column constraint create current_catalog current_date current_role
		current_time current_timestamp current_user default deferrable desc distinct
		do else end except false fetch for foreign from grant group having in
		initially intersect into lateral leading limit localtime localtimestamp not
		null offset on only or order placing primary references returning select
		session_user some symmetric system_user table then to trailing true union
		unique user using variadic when where window with
		authorization binary collation concurrently cross current_schema freeze full
		ilike inner is isnull join left like natural notnull outer overlaps right
		similar tablesample verbose`) {
		reserved[w] = true
	}
}
