package report

import (
	"slices"
	"strings"
)

// The figures a statement comparison holds, by their names in the JSON
// report (fields of statements.top).
const (
	StatementCallsPerS   = "calls_per_s"
	StatementMeanMS      = "mean_ms"
	StatementRowsPerCall = "rows_per_call"
	StatementShare       = "share"
)

// How a statement of one report was matched with the other's.
const (
	MatchedByQueryID = "queryid"
	// MatchedByQuery: the queryids differ (two servers hash different
	// table OIDs) but the normalized texts are the same (query_hash).
	MatchedByQuery = "query"
)

// stmtMetric is one compared figure of a statement. Statements are shown
// before and after, never gated: what a statement costs the requests is
// gated on the routes (queries and PostgreSQL time per request, latency),
// a statement's identity across two servers is a match of texts, the list
// is a top that a statement can leave without changing, and calls/s follow
// the load (docs/ci.md).
type stmtMetric struct {
	metric
	get func(*StatementFigures) float64
}

var stmtMetrics = []stmtMetric{
	{metric{name: StatementCallsPerS, label: "calls/s", unit: "/s"}, func(s *StatementFigures) float64 { return s.CallsPerS }},
	{metric{name: StatementMeanMS, label: "mean", unit: "ms", text: meanText}, func(s *StatementFigures) float64 { return s.MeanMS }},
	{metric{name: StatementRowsPerCall, label: "rows/call", text: rowsText}, func(s *StatementFigures) float64 { return s.RowsPerCall }},
	{metric{name: StatementShare, label: "share of DB time", points: true}, func(s *StatementFigures) float64 { return s.Share }},
}

func stmtMetricOf(name string) metric {
	for _, m := range stmtMetrics {
		if m.name == name {
			return m.metric
		}
	}
	return metric{name: name, label: name}
}

// StatementComparison is one top statement before and after.
type StatementComparison struct {
	// QueryID is this report's queryid, or the earlier report's for a
	// statement only it lists.
	QueryID string `json:"queryid"`
	// BeforeQueryID is the earlier report's queryid when it differs
	// (MatchedBy "query").
	BeforeQueryID string `json:"before_queryid,omitempty"`
	QueryHash     string `json:"query_hash"`
	Query         string `json:"query"`
	// MatchedBy is "queryid" or "query" (the same normalized text under
	// another queryid); absent for a statement of one side only.
	MatchedBy string `json:"matched_by,omitempty"`
	// Only is "before" or "after" for a statement that is among the top
	// statements of one side only: it may still have run on the other,
	// under MinStatementShare or below the top MaxStatements.
	Only    string         `json:"only,omitempty"`
	Metrics []MetricChange `json:"metrics"`
}

// compareStatements compares the two reports' top statements: this
// report's in its order, then those only the earlier one lists. Statements
// are matched by queryid, then by normalized text.
func (c *Comparison) compareStatements(before, after *Report) {
	bs, as := before.Statements, after.Statements
	switch {
	case bs == nil && as == nil:
		return
	case bs == nil:
		c.Notes = append(c.Notes, "the earlier report has no statements (pg_stat_statements not read): statements are not compared")
		return
	case as == nil:
		c.Notes = append(c.Notes, "this report has no statements (pg_stat_statements not read): statements are not compared")
		return
	}
	c.Statements = []StatementComparison{}
	used := make([]bool, len(bs.Top))
	match := func(a *StatementFigures) (int, string) {
		if i := slices.IndexFunc(bs.Top, func(b StatementFigures) bool { return b.QueryID == a.QueryID }); i >= 0 && !used[i] {
			return i, MatchedByQueryID
		}
		for i := range bs.Top {
			if !used[i] && bs.Top[i].QueryHash == a.QueryHash && a.QueryHash != "" {
				return i, MatchedByQuery
			}
		}
		return -1, ""
	}
	byText := 0
	for i := range as.Top {
		a := &as.Top[i]
		sc := StatementComparison{QueryID: a.QueryID, QueryHash: a.QueryHash, Query: a.Query}
		var b *StatementFigures
		if j, how := match(a); j >= 0 {
			used[j], b, sc.MatchedBy = true, &bs.Top[j], how
			if how == MatchedByQuery {
				sc.BeforeQueryID = b.QueryID
				byText++
			}
		} else {
			sc.Only = "after"
		}
		sc.Metrics = statementChanges(b, a)
		c.Statements = append(c.Statements, sc)
	}
	for i := range bs.Top {
		if used[i] {
			continue
		}
		b := &bs.Top[i]
		c.Statements = append(c.Statements, StatementComparison{QueryID: b.QueryID, QueryHash: b.QueryHash, Query: b.Query,
			Only: "before", Metrics: statementChanges(b, nil)})
	}
	if byText > 0 {
		c.Notes = append(c.Notes, "statements whose queryid differs between the reports' servers are matched by their normalized text (matched_by query)")
	}
	if bs.Cumulative || as.Cumulative {
		c.Notes = append(c.Notes, "a side's statements count since pg_stat_statements' reset: their calls/s are not the load's")
	}
}

// statementChanges are a statement's figures before and after; a side
// that does not list it is absent.
func statementChanges(b, a *StatementFigures) []MetricChange {
	out := make([]MetricChange, 0, len(stmtMetrics))
	for _, m := range stmtMetrics {
		mc := MetricChange{Metric: m.name}
		if b != nil {
			v := m.get(b)
			mc.Before = &v
		}
		if a != nil {
			v := m.get(a)
			mc.After = &v
		}
		if mc.Before != nil && mc.After != nil {
			mc.setChange()
		}
		out = append(out, mc)
	}
	return out
}

// statementName is a compared statement as people read it: its text, then
// its side or how it was matched.
func statementName(sc *StatementComparison) string {
	var tags []string
	if sc.Only != "" {
		tags = append(tags, "only "+sc.Only)
	}
	if sc.MatchedBy == MatchedByQuery {
		tags = append(tags, "matched by text, queryid "+sc.BeforeQueryID+" before")
	}
	if len(tags) == 0 {
		return ""
	}
	return " (" + strings.Join(tags, "; ") + ")"
}
