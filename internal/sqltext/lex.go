// Package sqltext reads PostgreSQL statement texts without a server: the
// words and statements of a text, the identifiers it names, whether it only
// reads, identifier quoting, and the small parsers that take apart a select
// list, a plan's filter or an index definition.
//
// It is plain text work, strings in and strings out: it knows nothing of the
// probes that read the texts nor of the rules that judge them. None of its
// functions panics, whatever the input.
package sqltext

import (
	"errors"
	"regexp"
	"strings"
)

// kind is the kind of a token.
type kind uint8

const (
	word      kind = iota // a keyword or an unquoted identifier, as written
	quoted                // a quoted identifier; text is its name ("" unescaped)
	literal               // a string: '...', E'...', $tag$...$tag$
	param                 // a parameter: $1, $2 ...
	semicolon             // ;
	other                 // any other byte: operators, punctuation, digits
)

// token is one token of a statement text.
type token struct {
	kind kind
	text string
}

var (
	errComment = errors.New("unterminated comment")
	errString  = errors.New("unterminated string")
	errQuoted  = errors.New("unterminated quoted identifier")
	errDollar  = errors.New("unterminated dollar-quoted string")
)

// lex calls emit for each token of q, skipping whitespace and comments (--
// to the end of the line, and /* */, which nest). It stops at the first
// unterminated comment, string or quoted identifier and returns an error
// saying which; the tokens before it were emitted. A '$' that starts neither
// a parameter nor a dollar quote is skipped.
func lex(q string, emit func(token)) error {
	for i := 0; i < len(q); {
		c := q[i]
		switch {
		case c == '-' && i+1 < len(q) && q[i+1] == '-':
			for i < len(q) && q[i] != '\n' {
				i++
			}
		case c == '/' && i+1 < len(q) && q[i+1] == '*':
			depth := 0
			for i < len(q) {
				if strings.HasPrefix(q[i:], "/*") {
					depth++
					i += 2
				} else if strings.HasPrefix(q[i:], "*/") {
					depth--
					i += 2
					if depth == 0 {
						break
					}
				} else {
					i++
				}
			}
			if depth != 0 {
				return errComment
			}
		case c == '\'':
			// Backslash escapes in E'...' (the prefix is the byte before).
			escapes := i > 0 && (q[i-1] == 'E' || q[i-1] == 'e')
			start := i
			i++
			for {
				if i >= len(q) {
					return errString
				}
				if escapes && q[i] == '\\' {
					i += 2
					continue
				}
				if q[i] == '\'' {
					if i+1 < len(q) && q[i+1] == '\'' {
						i += 2
						continue
					}
					i++
					break
				}
				i++
			}
			emit(token{literal, q[start:i]})
		case c == '"':
			var name strings.Builder
			j := i + 1
			for {
				end := strings.IndexByte(q[j:], '"')
				if end < 0 {
					return errQuoted
				}
				name.WriteString(q[j : j+end])
				j += end + 1
				if j < len(q) && q[j] == '"' {
					// "" is a quote inside the name.
					name.WriteByte('"')
					j++
					continue
				}
				break
			}
			emit(token{quoted, name.String()})
			i = j
		case c == '$':
			j := i + 1
			for j < len(q) && q[j] >= '0' && q[j] <= '9' {
				j++
			}
			if j > i+1 {
				emit(token{param, q[i:j]})
				i = j
				continue
			}
			// A dollar quote: $tag$ ... $tag$ (a tag has no '$').
			for j < len(q) && q[j] != '$' && isIdentByte(q[j]) {
				j++
			}
			if j < len(q) && q[j] == '$' {
				tag := q[i : j+1]
				end := strings.Index(q[j+1:], tag)
				if end < 0 {
					return errDollar
				}
				next := j + 1 + end + len(tag)
				emit(token{literal, q[i:next]})
				i = next
				continue
			}
			i++
		case c == ';':
			emit(token{semicolon, ";"})
			i++
		case isIdentStart(c):
			j := i
			for j < len(q) && isIdentByte(q[j]) {
				j++
			}
			// The prefix of a string (E'..', B'..', X'..') is not a word.
			if j < len(q) && q[j] == '\'' && j-i == 1 {
				i = j
				continue
			}
			emit(token{word, q[i:j]})
			i = j
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f':
			i++
		default:
			emit(token{other, q[i : i+1]})
			i++
		}
	}
	return nil
}

func isIdentStart(c byte) bool {
	return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c >= 0x80
}

func isIdentByte(c byte) bool { return isIdentStart(c) || (c >= '0' && c <= '9') || c == '$' }

// Tokens is what Scan keeps of a statement text.
type Tokens struct {
	// Words are the keywords and unquoted identifiers, in upper case, in
	// the order of the text; words inside comments, strings and quoted
	// identifiers are not words.
	Words []string
	// Statements counts the non-empty statements, separated by ';'.
	Statements int
}

// Scan splits a statement text into words outside comments, strings and
// quoted identifiers, and counts its statements. It fails on an
// unterminated comment, string or quoted identifier.
func Scan(q string) (Tokens, error) {
	var t Tokens
	inStatement := false
	err := lex(q, func(tok token) {
		switch tok.kind {
		case semicolon:
			if inStatement {
				t.Statements++
				inStatement = false
			}
		case word:
			t.Words = append(t.Words, strings.ToUpper(tok.text))
			inStatement = true
		default:
			inStatement = true
		}
	})
	if err != nil {
		return Tokens{}, err
	}
	if inStatement {
		t.Statements++
	}
	return t, nil
}

// CheckQuery returns nil for a text that is one query that writes nothing:
// one SELECT, VALUES, TABLE, or WITH whose parts do not write. Otherwise it
// returns why not: a text that does not scan, no statement, more than one,
// another statement, a WITH holding INSERT, UPDATE, DELETE or MERGE,
// SELECT INTO (it creates a table), or ANALYZE. Row locks (FOR UPDATE) and
// function calls are not looked at: see ReadOnly.
func CheckQuery(q string) error {
	toks, err := Scan(q)
	if err != nil {
		return err
	}
	if len(toks.Words) == 0 {
		return errors.New("empty statement")
	}
	if toks.Statements > 1 {
		return errors.New("more than one statement")
	}
	first := toks.Words[0]
	switch first {
	case "SELECT", "VALUES", "TABLE", "WITH":
	default:
		return errors.New(first + " is not a query (only SELECT and WITH without writes are explained)")
	}
	for _, w := range toks.Words {
		switch w {
		case "INSERT", "UPDATE", "DELETE", "MERGE":
			if first == "WITH" {
				return errors.New("WITH holds " + w)
			}
		case "INTO":
			return errors.New("SELECT INTO creates a table")
		case "ANALYZE", "ANALYSE":
			return errors.New("holds ANALYZE")
		}
	}
	return nil
}

// ReadOnly reports whether a statement only reads: CheckQuery accepts it
// and it takes no row locks (FOR UPDATE, FOR SHARE ...), calls no sequence
// function (nextval, setval) and takes no advisory lock.
func ReadOnly(q string) bool { return CheckQuery(q) == nil && !Locking(q) }

var lockingRe = regexp.MustCompile(`(?i)\bFOR\s+(UPDATE|SHARE|NO\s+KEY\s+UPDATE|KEY\s+SHARE)\b|\bnextval\s*\(|\bsetval\s*\(|\bpg_advisory`)

// Locking reports whether a statement text takes row locks (FOR UPDATE,
// FOR NO KEY UPDATE, FOR SHARE, FOR KEY SHARE), calls nextval or setval, or
// takes an advisory lock. It looks at the whole text, comments and strings
// included: a false positive only makes a statement look less read-only.
func Locking(q string) bool { return lockingRe.MatchString(q) }

var catalogRe = regexp.MustCompile(`(?i)\bpg_(catalog|stat|statio|class|index|namespace|attribute|settings|locks|database|extension|prepared|roles|proc|type|tables|indexes)`)

// ReadsCatalog reports whether a statement text names the system catalogs
// or the statistics views (pg_catalog, pg_stat_*, pg_class, pg_locks ...):
// the statements of monitoring tools and of advisor's own probe.
func ReadsCatalog(q string) bool { return catalogRe.MatchString(q) }

// OneLine collapses the runs of white space of a statement text, line
// breaks included, into single spaces, and trims it: a statement on one
// line, for evidence and display.
func OneLine(q string) string { return strings.Join(strings.Fields(q), " ") }
