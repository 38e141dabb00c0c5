package report

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/pgadvisor/advisor/internal/probe/postgres"
	"github.com/pgadvisor/advisor/internal/probe/source"
	"github.com/pgadvisor/advisor/internal/sqltext"
)

// MaxStatements is how many statements a report lists at most: the top of
// the window by share of database time.
const MaxStatements = 10

// MinStatementShare is the share of the window's database time below which
// a statement is not listed: a statement under 1% is not where the time
// goes, and its figures rest on a few calls.
const MinStatementShare = 0.01

// maxQueryRunes is how long a statement's text is in the report, in
// characters: the normalized text on one line, shortened.
const maxQueryRunes = 160

// Statements is the report's "statements" object: the window's top
// statements by share of PostgreSQL's execution time. It is built with
// StatementsOf from the window's statements, the same rows (and the same
// calls, times and shares) the db rules read; a report has it whenever
// pg_stat_statements was read, with or without request metrics, which is
// why it is not part of figures.
type Statements struct {
	// Seconds are the seconds the statements' figures cover: the window,
	// or the time since pg_stat_statements was reset.
	Seconds float64 `json:"seconds"`
	// Cumulative is set when the figures count since the statistics' last
	// reset rather than over a window.
	Cumulative bool `json:"cumulative,omitempty"`
	// TotalMS is the execution time of the window's top-level statements,
	// in milliseconds: what Share divides.
	TotalMS float64 `json:"total_ms"`
	// Count is how many top-level statements ran in the window, of those
	// whose text this role can read (one per queryid).
	Count int `json:"count"`
	// Top are at most MaxStatements statements with at least
	// MinStatementShare of TotalMS, by share, largest first.
	Top []StatementFigures `json:"top"`
	// Notes say what the list cannot show.
	Notes []string `json:"notes,omitempty"`
}

// StatementFigures are one statement's figures over the window. Rows of
// pg_stat_statements with the same queryid (one per role) are one
// statement.
type StatementFigures struct {
	// QueryID is pg_stat_statements' queryid, as a decimal string: a signed
	// 64-bit value that JSON numbers cannot hold exactly.
	QueryID string `json:"queryid"`
	// QueryHash is the first 16 hex digits of the SHA-256 of the whole
	// normalized text on one line (passwords removed): the key statements are matched by
	// across servers, whose queryids differ (they hash table OIDs).
	QueryHash string `json:"query_hash"`
	// Query is the normalized text ($1 for constants) on one line,
	// shortened to 160 characters.
	Query       string  `json:"query"`
	Calls       int64   `json:"calls"`
	CallsPerS   float64 `json:"calls_per_s"`
	MeanMS      float64 `json:"mean_ms"`
	RowsPerCall float64 `json:"rows_per_call"`
	// Share is the statement's share of TotalMS, 0..1.
	Share float64 `json:"share"`
}

// StatementsOf returns the top statements of a PostgreSQL window, or nil
// when PostgreSQL was not probed or pg_stat_statements could not be read:
// the report then has no statements, never zeros.
func StatementsOf(pg *postgres.Window) *Statements {
	if pg == nil || pg.Cur == nil || !pg.Cur.Statements.Status.Ok() || pg.Statements.Seconds <= 0 {
		return nil
	}
	st := &Statements{Seconds: round(pg.Statements.Seconds, 3), Cumulative: pg.Cumulative,
		TotalMS: round(pg.Statements.TotalTime, 3), Top: []StatementFigures{}}
	type stmt struct {
		id          int64
		query       string
		calls, rows int64
		time, perS  float64
		share       float64
	}
	byID := map[int64]*stmt{}
	var order []*stmt
	var hiddenShare float64
	var hidden int
	for i := range pg.Statements.Rows {
		d := &pg.Statements.Rows[i]
		// Nested statements (pg_stat_statements.track = all) hold time
		// their caller's already counts: they have no share.
		if !d.Key.TopLevel || d.Calls <= 0 {
			continue
		}
		if d.Statement.Hidden || strings.TrimSpace(d.Statement.Query) == "" {
			hiddenShare += d.Share
			hidden += max(d.Statement.HiddenCount, 1)
			continue
		}
		s := byID[d.Statement.QueryID]
		if s == nil {
			s = &stmt{id: d.Statement.QueryID, query: d.Statement.Query}
			byID[s.id] = s
			order = append(order, s)
		}
		s.calls += d.Calls
		s.rows += d.Rows
		s.time += d.TotalTime
		s.perS += d.CallsPerS
		s.share += d.Share
	}
	st.Count = len(order)
	slices.SortStableFunc(order, func(a, b *stmt) int { return cmp.Or(cmp.Compare(b.time, a.time), cmp.Compare(a.id, b.id)) })
	for _, s := range order {
		if len(st.Top) == MaxStatements || s.share < MinStatementShare {
			break
		}
		text := redactSQL(sqltext.OneLine(s.query))
		sum := sha256.Sum256([]byte(text))
		st.Top = append(st.Top, StatementFigures{
			QueryID:     strconv.FormatInt(s.id, 10),
			QueryHash:   hex.EncodeToString(sum[:8]),
			Query:       shortenRunes(text, maxQueryRunes),
			Calls:       s.calls,
			CallsPerS:   round(s.perS, 3),
			MeanMS:      round(s.time/float64(s.calls), 3),
			RowsPerCall: round(float64(s.rows)/float64(s.calls), 3),
			Share:       round(s.share, 4),
		})
	}
	if hiddenShare >= MinStatementShare {
		st.Notes = append(st.Notes, fmt.Sprintf("%d statement(s) of other roles, %s of the database time, are hidden from this role: "+
			"grant it pg_read_all_stats to list them", hidden, shareText(hiddenShare)))
	}
	if pg.Cumulative {
		st.Notes = append(st.Notes, "counted since pg_stat_statements was last reset, not over a window: calls/s are over that time")
	}
	return st
}

// WithStatements sets the report's top statements from the window's
// PostgreSQL part (StatementsOf) and returns the report.
func (r *Report) WithStatements(pg *postgres.Window) *Report {
	r.Statements = StatementsOf(pg)
	return r
}

// sqlPassword is a password literal of CREATE/ALTER ROLE or USER, which
// pg_stat_statements keeps verbatim before PostgreSQL 16 (it normalizes the
// constants of plannable statements only).
var sqlPassword = regexp.MustCompile(`(?i)(\bpassword\s+)('(?:[^']|'')*'|E'(?:[^'\\]|\\.|'')*')`)

// redactSQL removes passwords from a statement's text: the literal of a
// PASSWORD clause, and those of DSNs and URLs (source.Redact).
func redactSQL(text string) string {
	return source.Redact(sqlPassword.ReplaceAllString(text, "${1}'xxxxx'"))
}

// shortenRunes cuts s to at most n characters, the last one an ellipsis.
func shortenRunes(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return strings.TrimRight(string(r[:n-1]), " ") + "…"
}

// Formatting of statements for people.

// callsText formats calls per second.
func callsText(v float64) string { return rateText(v) }

// meanText formats a statement's mean time: as MSText, and "<0.01 ms" for
// a statement faster than MSText shows (an index lookup in cache).
func meanText(ms float64) string {
	if ms > 0 && ms < 0.005 {
		return "<0.01 ms"
	}
	return MSText(ms)
}

// rowsText formats rows per call: "1", "20", "0.5", "12.3".
func rowsText(v float64) string {
	switch {
	case v >= 100:
		return strconv.FormatFloat(round(v, 0), 'f', -1, 64)
	case v >= 10:
		return strconv.FormatFloat(round(v, 1), 'f', -1, 64)
	}
	return strconv.FormatFloat(round(v, 2), 'f', -1, 64)
}

// statementsHead says what the list of top statements holds: "3 of 12
// statements, 91% of 4.2 s of database time".
func statementsHead(s *Statements) string {
	var shown float64
	for _, t := range s.Top {
		shown += t.Share
	}
	head := fmt.Sprintf("%d of %d statements, %s of %s of database time", len(s.Top), s.Count, shareText(shown), MSText(s.TotalMS))
	if s.Cumulative {
		head += ", since the statistics' reset"
	} else {
		head += fmt.Sprintf(" over %gs", s.Seconds)
	}
	return head
}
