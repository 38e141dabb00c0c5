package report

import (
	"bytes"
	"fmt"
	"strings"

	"github.com/charmbracelet/x/ansi"
)

// statements writes the "Top statements" section: a table of the window's
// top statements (share of database time, calls/s, mean, rows per call,
// queryid), each with its text on a line of its own, cut to the width.
func (p *Text) statements(b *bytes.Buffer, s *Statements, st textStyles, width int) {
	head := "Top statements"
	if m := sanitize(statementsHead(s)); len(head)+2+ansi.StringWidth(m) <= width {
		head = st.heading(head) + "  " + st.faint(m)
	} else {
		head = st.heading(head) + "\n" + st.faint(ansi.Truncate("  "+m, width, "…"))
	}
	b.WriteString(head + "\n")
	if len(s.Top) == 0 {
		fmt.Fprintf(b, "  %s\n", st.faint(fmt.Sprintf("no statement had %s of the database time or more", shareText(MinStatementShare))))
	}
	type col struct {
		title string
		width int
		cell  func(s *StatementFigures) string
	}
	cols := []col{
		{"SHARE", 5, func(s *StatementFigures) string { return shareText(s.Share) }},
		{"CALLS/S", 8, func(s *StatementFigures) string { return callsText(s.CallsPerS) }},
		{"MEAN", 8, func(s *StatementFigures) string { return meanText(s.MeanMS) }},
		{"ROWS/CALL", 9, func(s *StatementFigures) string { return rowsText(s.RowsPerCall) }},
	}
	if len(s.Top) > 0 {
		var hb strings.Builder
		hb.WriteString(" ")
		for _, c := range cols {
			fmt.Fprintf(&hb, " %*s ", c.width, c.title)
		}
		hb.WriteString(" QUERYID, then the statement")
		b.WriteString(st.faint(ansi.Truncate(hb.String(), width, "…")) + "\n")
	}
	for i := range s.Top {
		t := &s.Top[i]
		var lb strings.Builder
		lb.WriteString(" ")
		for _, c := range cols {
			fmt.Fprintf(&lb, " %*s ", c.width, c.cell(t))
		}
		query := sanitize(t.Query)
		// A narrow width has the queryid before the text.
		if lb.Len()+1+len(t.QueryID) <= width {
			lb.WriteString(" " + t.QueryID)
		} else {
			query = "queryid " + t.QueryID + ": " + query
		}
		b.WriteString(lb.String() + "\n")
		b.WriteString("      " + ansi.Truncate(query, max(width-6, 8), "…") + "\n")
	}
	for _, n := range s.Notes {
		writeLabeled(b, "  ", "note: ", sanitize(n), width, st)
	}
}

// markdownStatements writes the "Top statements" section: one table of the
// window's top statements.
func markdownStatements(b *bytes.Buffer, s *Statements) {
	b.WriteString("\n## Top statements\n\n")
	head := statementsHead(s)
	fmt.Fprintf(b, "%s (pg_stat_statements).\n", inline(strings.ToUpper(head[:1])+head[1:]))
	if len(s.Top) == 0 {
		fmt.Fprintf(b, "\nNo statement had %s of the database time or more.\n", shareText(MinStatementShare))
	} else {
		b.WriteString("\n| Statement | queryid | Calls/s | Mean | Rows/call | Share of DB time |\n| --- | --- | ---: | ---: | ---: | ---: |\n")
		for i := range s.Top {
			t := &s.Top[i]
			fmt.Fprintf(b, "| %s | %s | %s | %s | %s | %s |\n", codeCell(t.Query), cell(t.QueryID), callsText(t.CallsPerS),
				meanText(t.MeanMS), rowsText(t.RowsPerCall), shareText(t.Share))
		}
	}
	if len(s.Notes) > 0 {
		b.WriteString("\n")
		for _, n := range s.Notes {
			fmt.Fprintf(b, "- Note: %s\n", inline(n))
		}
	}
}

// comparisonStatements writes the top statements of a comparison: each
// statement's text, then its figures before, after and their change, in
// the columns of the routes' table; a statement of one side has its
// figures on one line.
func (p *Text) comparisonStatements(b *bytes.Buffer, c *Comparison, st textStyles, width int) {
	if len(c.Statements) == 0 {
		return
	}
	const labelW, valW = 20, 10
	changeW := max(width-2-4-labelW-2*(valW+2)-2, 8)
	fmt.Fprintf(b, "%s\n", st.faint(fmt.Sprintf("  %-*s  %*s  %*s  %s", 2+labelW, "STATEMENT, FIGURE", valW, "BEFORE", valW, "AFTER", "CHANGE")))
	for i := range c.Statements {
		sc := &c.Statements[i]
		tag := statementName(sc)
		name := "queryid " + sc.QueryID + tag + ": "
		q := sanitize(sc.Query)
		line := name + q
		if ansi.StringWidth(line) > width-2 {
			line = ansi.Truncate(line, width-2, "…")
		}
		b.WriteString("  " + line + "\n")
		if sc.Only != "" {
			// One side's figures on one line: the other side has none.
			var items []string
			for j := range sc.Metrics {
				mc := &sc.Metrics[j]
				m := stmtMetricOf(mc.Metric)
				v := mc.After
				if sc.Only == "before" {
					v = mc.Before
				}
				items = append(items, m.label+" "+metricValueText(m, v))
			}
			writeItemLines(b, "    ", 4, sc.Only+":", items, width)
			continue
		}
		for j := range sc.Metrics {
			mc := &sc.Metrics[j]
			m := stmtMetricOf(mc.Metric)
			fmt.Fprintf(b, "    %-*s  %*s  %*s  %s\n", labelW, m.label, valW, metricValueText(m, mc.Before),
				valW, metricValueText(m, mc.After), ansi.Truncate(changeText(m, mc), changeW, "…"))
		}
	}
}

// markdownComparisonStatements writes the top statements of a comparison
// as one table.
func markdownComparisonStatements(b *bytes.Buffer, c *Comparison) {
	if len(c.Statements) == 0 {
		return
	}
	b.WriteString("\n| Statement | Figure | Before | After | Change |\n| --- | --- | ---: | ---: | ---: |\n")
	for i := range c.Statements {
		sc := &c.Statements[i]
		name := codeCell(shortenRunes(sc.Query, 80)) + " " + cell("queryid "+sc.QueryID+statementName(sc))
		for j := range sc.Metrics {
			mc := &sc.Metrics[j]
			m := stmtMetricOf(mc.Metric)
			fmt.Fprintf(b, "| %s | %s | %s | %s | %s |\n", name, cell(m.label), metricValueText(m, mc.Before),
				metricValueText(m, mc.After), cell(changeText(m, mc)))
			name = ""
		}
	}
}
