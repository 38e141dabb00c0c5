package report

import (
	"bytes"
	"fmt"
	"strings"

	"github.com/charmbracelet/x/ansi"

	"github.com/pgadvisor/advisor/internal/rules"
)

// comparedHead says what the report is compared with.
func comparedHead(c *Comparison) string {
	window := fmt.Sprintf("window %gs", c.Before.WindowSeconds)
	if c.Before.WindowSeconds == 0 {
		window = "cumulative"
	}
	return fmt.Sprintf("the report of %s (%s)", c.Before.GeneratedAt.Format("2006-01-02T15:04:05Z07:00"), window)
}

// perRequestItems are the service's (or a route's) per-request figures:
// "16 queries", "4.2 ms PostgreSQL", ...
func perRequestItems(r *Rates) []string {
	var items []string
	count := func(v float64, one, many string) string {
		n := strings.TrimSuffix(fmt.Sprintf("%.1f", v), ".0")
		if n == "1" {
			return n + " " + one
		}
		return n + " " + many
	}
	if v := r.DBQueriesPerRequest; v != nil {
		items = append(items, count(*v, "query", "queries"))
	}
	if v := r.DBMSPerRequest; v != nil {
		items = append(items, MSText(*v)+" PostgreSQL")
	}
	if v := r.RedisCallsPerRequest; v != nil {
		items = append(items, count(*v, "Redis call", "Redis calls"))
	}
	if v := r.OutboundCallsPerRequest; v != nil {
		items = append(items, count(*v, "outbound call", "outbound calls"))
	}
	if v := r.CPUMSPerRequest; v != nil {
		items = append(items, MSText(*v)+" CPU")
	}
	return items
}

// comparison writes the "Compared with" section: for the service and each
// route, every figure before, after and its change, regressions marked;
// then the findings that appeared and disappeared, and the regressions.
func (p *Text) comparison(b *bytes.Buffer, c *Comparison, st textStyles, width int) {
	head := "Compared with " + comparedHead(c)
	b.WriteString(st.heading(ansi.Truncate(head, width, "…")) + "\n")
	const labelW, valW = 20, 10
	changeW := max(width-2-4-labelW-2*(valW+2)-2, 8)
	rows, more := comparedRoutes(c)
	if len(rows) > 0 {
		fmt.Fprintf(b, "%s\n", st.faint(fmt.Sprintf("  %-*s  %*s  %*s  %s", 2+labelW, "ROUTE, FIGURE", valW, "BEFORE", valW, "AFTER", "CHANGE")))
	}
	for _, rc := range rows {
		name := scopeName(rc.Route, rc.Method)
		switch rc.Only {
		case "before":
			name += " (only before)"
		case "after":
			name += " (only after)"
		}
		b.WriteString("  " + ansi.Truncate(name, width-2, "…") + "\n")
		if rc.NotCompared != "" {
			writeLabeled(b, "    ", "not compared: ", sanitize(rc.NotCompared), width, st)
		}
		for i := range rc.Metrics {
			mc := &rc.Metrics[i]
			m, _ := metricOf(mc.Metric)
			change := changeText(m, mc)
			if mc.Regressed {
				change += " REGRESSION"
			} else if mc.NotGated != "" {
				change += notGatedText(mc)
			}
			line := fmt.Sprintf("    %-*s  %*s  %*s  %s", labelW, m.label, valW, metricValueText(m, mc.Before),
				valW, metricValueText(m, mc.After), ansi.Truncate(change, changeW+len(" REGRESSION"), "…"))
			if mc.Regressed {
				line = styleOf(st.severity, rules.Critical)(line)
			}
			b.WriteString(line + "\n")
		}
	}
	if more > 0 {
		fmt.Fprintf(b, "  %s\n", st.faint(fmt.Sprintf("and %d more routes (the JSON report lists them)", more)))
	}
	p.comparisonStatements(b, c, st, width)
	for _, n := range c.Notes {
		writeLabeled(b, "  ", "note: ", sanitize(n), width, st)
	}
	findingRefs := func(label, mark string, refs []FindingRef) {
		fmt.Fprintf(b, "  %s %d\n", label, len(refs))
		for _, f := range refs {
			for i, l := range Wrap(fmt.Sprintf("%s %s %s: %s", f.Severity, f.Rule, f.Subject, f.Title), width-6) {
				prefix := "    " + mark + " "
				if i > 0 {
					prefix = "      "
				}
				b.WriteString(prefix + sanitize(l) + "\n")
			}
		}
	}
	findingRefs("findings appeared:", "+", c.Appeared)
	findingRefs("findings disappeared:", "-", c.Disappeared)
	if len(c.Regressions) == 0 {
		b.WriteString("  regressions: none beyond the thresholds\n")
		return
	}
	fmt.Fprintf(b, "  %s\n", st.heading(fmt.Sprintf("regressions: %d", len(c.Regressions))))
	for _, g := range sortedRegressions(c) {
		for i, l := range Wrap(regressionText(&g), width-6) {
			prefix := "    ! "
			if i > 0 {
				prefix = "      "
			}
			b.WriteString(prefix + sanitize(l) + "\n")
		}
	}
}

// markdownComparison writes the "Compared with" section: one table of
// every route's figures before and after, the findings that appeared and
// disappeared, and the regressions.
func markdownComparison(b *bytes.Buffer, c *Comparison) {
	fmt.Fprintf(b, "\n## Compared with %s\n\n", inline(comparedHead(c)))
	if len(c.Regressions) > 0 {
		fmt.Fprintf(b, "**%d regression(s) beyond the thresholds:**\n\n", len(c.Regressions))
		for _, g := range sortedRegressions(c) {
			fmt.Fprintf(b, "- %s\n", inline(regressionText(&g)))
		}
		b.WriteString("\n")
	} else {
		b.WriteString("No regression beyond the thresholds.\n\n")
	}
	rows, more := comparedRoutes(c)
	if len(rows) > 0 {
		b.WriteString("| Route | Figure | Before | After | Change |\n| --- | --- | ---: | ---: | ---: |\n")
		for _, rc := range rows {
			name := codeCell(scopeName(rc.Route, rc.Method))
			if rc.Route == "" && rc.Method == "" {
				name = "service"
			}
			switch {
			case rc.Only != "":
				name += " (only " + rc.Only + ")"
			case rc.NotCompared != "":
				name += " (not compared: " + cell(rc.NotCompared) + ")"
			}
			for i := range rc.Metrics {
				mc := &rc.Metrics[i]
				m, _ := metricOf(mc.Metric)
				change := changeText(m, mc)
				if mc.Regressed {
					change = "**" + change + " regression**"
				} else if mc.NotGated != "" {
					change += notGatedText(mc)
				}
				fmt.Fprintf(b, "| %s | %s | %s | %s | %s |\n", name, cell(m.label), metricValueText(m, mc.Before),
					metricValueText(m, mc.After), cell(change))
				name = ""
			}
		}
		if more > 0 {
			fmt.Fprintf(b, "\nAnd %d more routes (the JSON report lists them).\n", more)
		}
	}
	markdownComparisonStatements(b, c)
	if len(c.Notes) > 0 {
		b.WriteString("\n")
		for _, n := range c.Notes {
			fmt.Fprintf(b, "- Note: %s\n", inline(n))
		}
	}
	refs := func(label string, list []FindingRef) {
		fmt.Fprintf(b, "\n**%s:** %d\n", label, len(list))
		if len(list) > 0 {
			b.WriteString("\n")
		}
		for _, f := range list {
			fmt.Fprintf(b, "- %s `%s` %s: %s\n", f.Severity, inline(f.Rule), inline(f.Subject), inline(f.Title))
		}
	}
	refs("Findings appeared", c.Appeared)
	refs("Findings disappeared", c.Disappeared)
}

// notGatedText says in a few words why a figure was not gated (in its
// histogram bucket, a cumulative rate, few requests above a percentile); the JSON's
// not_gated has the sentence.
func notGatedText(mc *MetricChange) string {
	switch {
	case strings.Contains(mc.NotGated, "bucket"):
		return " (in its bucket)"
	case strings.Contains(mc.NotGated, "cumulative"):
		return " (cumulative)"
	}
	return " (few requests)"
}
