package sqltext

import (
	"regexp"
	"slices"
	"strings"
)

// SplitTop splits s at each sep that is outside parentheses, strings
// ('...') and quoted identifiers ("..."). Joining the parts with sep gives s
// back. An empty sep does not split.
func SplitTop(s, sep string) []string { return splitTop(s, sep, false) }

// splitTop is SplitTop, matching sep regardless of ASCII case with fold.
func splitTop(s, sep string, fold bool) []string {
	if sep == "" {
		return []string{s}
	}
	var out []string
	depth, start := 0, 0
	var quote byte
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '\'' || c == '"':
			quote = c
		case c == '(':
			depth++
		case c == ')':
			depth--
		case depth == 0 && hasPrefix(s[i:], sep, fold):
			out = append(out, s[start:i])
			start = i + len(sep)
			i += len(sep) - 1
		}
	}
	return append(out, s[start:])
}

func hasPrefix(s, prefix string, fold bool) bool {
	if fold {
		return len(s) >= len(prefix) && equalFoldASCII(s[:len(prefix)], prefix)
	}
	return strings.HasPrefix(s, prefix)
}

// equalFoldASCII reports whether a and b are equal but for the case of
// ASCII letters. Byte for byte: unlike strings.ToUpper, it never changes
// lengths, so indexes found with it index the text.
func equalFoldASCII(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'a' <= x && x <= 'z' {
			x -= 'a' - 'A'
		}
		if 'a' <= y && y <= 'z' {
			y -= 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// indexFoldASCII is strings.Index regardless of the case of ASCII letters.
func indexFoldASCII(s, sub string) int {
	for i := 0; i+len(sub) <= len(s); i++ {
		if equalFoldASCII(s[i:i+len(sub)], sub) {
			return i
		}
	}
	return -1
}

// StripParens removes the parentheses that enclose a whole expression, as
// many pairs as there are, and the white space around it.
func StripParens(s string) string {
	s = strings.TrimSpace(s)
	for len(s) >= 2 && s[0] == '(' && s[len(s)-1] == ')' {
		depth := 0
		for i := 0; i < len(s)-1; i++ {
			switch s[i] {
			case '(':
				depth++
			case ')':
				depth--
			}
			if depth <= 0 {
				// The first parenthesis closes before the end: "(a) AND (b)".
				return s
			}
		}
		s = strings.TrimSpace(s[1 : len(s)-1])
	}
	return s
}

// condRe parses one condition of a plan's filter: an optional qualifier,
// a column (possibly parenthesised and cast), an operator and the other
// side.
var condRe = regexp.MustCompile(`^\(*(?:([A-Za-z_][A-Za-z0-9_]*|"[^"]+")\.)?([A-Za-z_][A-Za-z0-9_$]*|"[^"]+")\)*(?:::[A-Za-z ]+(?:\[\])?\)*)?\s*(=|<=|>=|<|>)\s*(.+)$`)

// FilterColumns returns the columns a filter or index condition, as EXPLAIN
// prints it, compares for equality and for a range with a parameter or a
// constant, joined by AND: "((user_id = $1) AND (created_at > $2))" gives
// [user_id] and [created_at]. A column compared for equality is not listed
// as a range too. A filter with a top-level OR gives nothing: one B-tree
// cannot serve it. Conditions between two columns, and those on
// expressions, are left out.
func FilterColumns(filter string) (eq, rng []string) {
	f := StripParens(filter)
	if f == "" || len(SplitTop(f, " OR ")) > 1 {
		return nil, nil
	}
	for _, part := range SplitTop(f, " AND ") {
		m := condRe.FindStringSubmatch(StripParens(part))
		if m == nil {
			continue
		}
		col, ok := Unquote(m[2])
		op, rhs := m[3], strings.TrimSpace(m[4])
		if !ok || !constantSide(rhs) {
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
	rng = slices.DeleteFunc(rng, func(c string) bool { return slices.Contains(eq, c) })
	return eq, rng
}

// constantSide reports whether the other side of a condition is a
// parameter, a constant, now(), CURRENT_* or ANY(parameter or constant), not
// another column.
func constantSide(rhs string) bool {
	r := strings.TrimLeft(rhs, "( ")
	switch {
	case r == "":
		return false
	case r[0] == '$', r[0] == '\'', r[0] == '-', r[0] >= '0' && r[0] <= '9':
		return true
	case hasPrefix(r, "ANY ", true), hasPrefix(r, "ANY(", true):
		inner := strings.TrimLeft(r[3:], "( ")
		return inner != "" && (inner[0] == '$' || inner[0] == '\'')
	case hasPrefix(r, "NOW()", true), hasPrefix(r, "CURRENT_", true):
		return true
	}
	return false
}

// SelectList returns the items of the select list of a statement's first
// SELECT (DISTINCT left out) and the text after its FROM, on one line. ok is
// false when the statement has no SELECT ... FROM.
func SelectList(q string) (items []string, from string, ok bool) {
	q = OneLine(q)
	i := indexFoldASCII(q, "SELECT ")
	if i < 0 {
		return nil, "", false
	}
	parts := splitTop(q[i+len("SELECT "):], " FROM ", true)
	if len(parts) < 2 {
		return nil, "", false
	}
	sel := strings.TrimSpace(parts[0])
	if hasPrefix(sel, "DISTINCT ", true) {
		sel = sel[len("DISTINCT "):]
	}
	for _, it := range SplitTop(sel, ",") {
		items = append(items, strings.TrimSpace(it))
	}
	return items, strings.Join(parts[1:], " FROM "), true
}

// IndexKeys returns the key list of an index definition as pg_get_indexdef
// writes it ("CREATE INDEX i ON t USING btree (a, b DESC)" gives [a, b
// DESC]), each key with its direction, operator class and collation, or nil
// when the text is no such definition. INCLUDE columns are not keys.
func IndexKeys(def string) []string {
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
	var quote byte
	for j := open; j < len(rest); j++ {
		switch c := rest[j]; {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '\'' || c == '"':
			quote = c
		case c == '(':
			depth++
		case c == ')':
			depth--
			if depth == 0 {
				var keys []string
				for _, k := range SplitTop(rest[open+1:j], ",") {
					keys = append(keys, strings.TrimSpace(k))
				}
				return keys
			}
		}
	}
	return nil
}
