package report

import (
	"bytes"
	"fmt"
	"io"
	"strings"

	"github.com/pgadvisor/advisor/internal/rules"
)

// Markdown prints a report for a pull-request comment or a ticket
// (GitHub-flavoured Markdown): a title, the sources' table, where the
// requests' time goes (when the report has figures), a summary table, then
// one section per finding with what its fix saves, its evidence as a table,
// its fix, SQL in sql code blocks, code in go code blocks and configuration
// as a table.
type Markdown struct{}

// Print writes the report.
func (p *Markdown) Print(w io.Writer, r *Report) error {
	var b bytes.Buffer
	b.WriteString("# advisor report\n\n")
	if r.WindowSeconds == 0 {
		fmt.Fprintf(&b, "Generated %s from cumulative statistics since their last reset.\n\n",
			r.GeneratedAt.Format("2006-01-02T15:04:05Z07:00"))
	} else {
		fmt.Fprintf(&b, "Generated %s over a %g s window.\n\n",
			r.GeneratedAt.Format("2006-01-02T15:04:05Z07:00"), r.WindowSeconds)
	}

	b.WriteString("## Sources\n\n| Source | Status | Version | Detail |\n| --- | --- | --- | --- |\n")
	for _, name := range r.sourceOrder() {
		s := r.Sources[name]
		fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", cell(name), cell(string(s.Status)), cell(s.Version), cell(s.Detail))
	}
	if r.Figures != nil {
		markdownFigures(&b, r.Figures)
	}
	if r.Statements != nil {
		markdownStatements(&b, r.Statements)
	}
	if r.Comparison != nil {
		markdownComparison(&b, r.Comparison)
	}

	b.WriteString("\n## Summary\n\n")
	b.WriteString(summaryLine(r))
	b.WriteString("\n")
	if len(r.Findings) > 0 {
		// The Saves column only when a finding says what its fix saves.
		saves := false
		for i := range r.Findings {
			saves = saves || r.Findings[i].Saves != nil
		}
		if saves {
			b.WriteString("\n| # | Severity | Rule | Subject | Title | Confidence | Saves |\n| --- | --- | --- | --- | --- | --- | --- |\n")
		} else {
			b.WriteString("\n| # | Severity | Rule | Subject | Title | Confidence |\n| --- | --- | --- | --- | --- | --- |\n")
		}
		for i := range r.Findings {
			f := &r.Findings[i]
			sev := f.Severity.String()
			if r.Known(f) {
				sev += " (known)"
			}
			fmt.Fprintf(&b, "| %d | %s | %s | %s | %s | %s |", i+1, sev, codeCell(f.Rule), cell(f.Subject), cell(f.Title), cell(confidenceWord(f.Confidence)))
			if saves {
				fmt.Fprintf(&b, " %s |", cell(strings.TrimPrefix(savingText(f.Saves), "saves ")))
			}
			b.WriteString("\n")
		}
		b.WriteString("\n## Findings\n\n")
	}

	for i := range r.Findings {
		f := &r.Findings[i]
		fmt.Fprintf(&b, "### %d. %s: `%s`", i+1, f.Severity, f.Rule)
		if f.Subject != "" {
			fmt.Fprintf(&b, " on %s", codeSpan(f.Subject))
		}
		b.WriteString("\n\n")
		fmt.Fprintf(&b, "**%s**\n\n", inline(f.Title))
		if s := markdownSaving(f.Saves); s != "" {
			b.WriteString(s + "\n\n")
		}
		if c := confidenceText(f.Confidence); c != "" {
			fmt.Fprintf(&b, "Confidence: %s\n\n", inline(c))
		}
		if r.Known(f) {
			fmt.Fprintf(&b, "Known: the baseline holds this finding (fingerprint `%s`); it does not fail the run.\n\n", f.Fingerprint)
		}
		if ev := evidenceList(f.Evidence); len(ev) > 0 {
			b.WriteString("| Evidence | Value |\n| --- | --- |\n")
			for _, kv := range ev {
				fmt.Fprintf(&b, "| %s | %s |\n", cell(kv.Key), cell(kv.Value))
			}
			b.WriteString("\n")
		}
		if f.Fix.Summary != "" {
			fmt.Fprintf(&b, "**Fix:** %s\n\n", inline(f.Fix.Summary))
		}
		if f.Fix.SQL != "" {
			codeBlock(&b, "sql", f.Fix.SQL)
		}
		if cfg := configList(f.Fix.Config); len(cfg) > 0 {
			b.WriteString("| Setting | Value |\n| --- | --- |\n")
			for _, kv := range cfg {
				fmt.Fprintf(&b, "| %s | %s |\n", codeCell(kv.Key), codeCell(kv.Value))
			}
			b.WriteString("\n")
		}
		if f.Fix.Code != "" {
			codeBlock(&b, "go", f.Fix.Code)
		}
		if f.Location != "" {
			fmt.Fprintf(&b, "Location: `%s`\n\n", strings.ReplaceAll(f.Location, "`", "'"))
		}
	}
	out := bytes.TrimRight(b.Bytes(), "\n")
	b2 := bytes.NewBuffer(append(out, '\n'))
	return flush(w, b2, FormatMarkdown)
}

// inline makes text safe on one Markdown line: line breaks become spaces.
func inline(s string) string {
	return strings.Join(strings.Fields(sanitize(s)), " ")
}

// cell makes text safe in a table cell: pipes escaped, line breaks as <br>.
func cell(s string) string {
	if s == "" {
		return ""
	}
	s = sanitize(s)
	s = strings.ReplaceAll(s, `\`, `\\`)
	s = strings.ReplaceAll(s, "|", `\|`)
	s = strings.ReplaceAll(strings.TrimSpace(s), "\r\n", "\n")
	return strings.ReplaceAll(s, "\n", "<br>")
}

// codeSpan puts text on one line in an inline code span, its fence longer
// than any run of backticks in the text.
func codeSpan(s string) string {
	s = inline(s)
	if s == "" {
		return ""
	}
	fence := "`"
	for strings.Contains(s, fence) {
		fence += "`"
	}
	pad := ""
	if strings.HasPrefix(s, "`") || strings.HasSuffix(s, "`") {
		pad = " "
	}
	return fence + pad + s + pad + fence
}

// codeCell is a code span in a table cell, where a pipe ends the cell even
// inside the span unless escaped.
func codeCell(s string) string {
	return strings.ReplaceAll(codeSpan(s), "|", `\|`)
}

// codeBlock writes a fenced code block, the fence longer than any run of
// backticks in the code.
func codeBlock(b *bytes.Buffer, lang, code string) {
	fence := "```"
	for strings.Contains(code, fence) {
		fence += "`"
	}
	fmt.Fprintf(b, "%s%s\n%s\n%s\n\n", fence, lang, strings.TrimRight(sanitize(code), "\n"), fence)
}

// confidenceWord is a confidence's level and score, "high 0.92", for a
// table cell; "" without one.
func confidenceWord(c *rules.Confidence) string {
	if c == nil {
		return ""
	}
	return fmt.Sprintf("%s %.2f", c.Level, c.Score)
}
