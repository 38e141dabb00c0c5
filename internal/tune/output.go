package tune

import (
	"fmt"
	"io"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"
	"time"
)

// RunInfo describes the run for the outputs.
type RunInfo struct {
	// Command reproduces the run.
	Command string
	// Target says what was tuned (e.g. "sampleapp started by tune, naive
	// profile, data set users=... events=...").
	Target      string
	Duration    time.Duration
	Connections int
	Started     time.Time
}

func fmtDur(d time.Duration) string {
	switch {
	case d <= 0:
		return "-"
	case d >= time.Second:
		return fmt.Sprintf("%.2fs", d.Seconds())
	case d >= 100*time.Millisecond:
		return fmt.Sprintf("%.0fms", float64(d)/float64(time.Millisecond))
	case d >= 10*time.Millisecond:
		return fmt.Sprintf("%.1fms", float64(d)/float64(time.Millisecond))
	}
	return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond))
}

func fmtPerReq(v float64, ok bool) string {
	if !ok {
		return "-"
	}
	return fmt.Sprintf("%.2f", v)
}

func fmtErrors(m Metrics) string {
	if m.Requests == 0 {
		return "0"
	}
	return fmt.Sprintf("%d (%.1f%%)", m.Errors, 100*m.ErrorRate())
}

// FixLabel is what the step table shows in its fix column.
func (s Step) FixLabel() string {
	if s.Fix == nil {
		return "(start)"
	}
	l := s.Fix.Finding.Rule + " -> " + s.Fix.Action.String()
	if s.Outcome == Reverted {
		l += " (reverted)"
	}
	return l
}

// stepRow is a step's cells in table order.
func stepRow(s Step) []string {
	m := s.Metrics
	return []string{fmt.Sprint(s.N), s.FixLabel(), fmt.Sprintf("%.1f", m.RPS), fmtDur(m.P50), fmtDur(m.P95), fmtDur(m.P99),
		fmtErrors(m), fmtPerReq(m.QueriesPerRequest, m.HasQueries), fmtPerReq(m.HopsPerRequest, m.HasHops)}
}

var stepHeader = []string{"step", "fix applied", "RPS", "p50", "p95", "p99", "errors", "DB queries/req", "hops/req"}

// WriteSteps prints the step table.
func WriteSteps(w io.Writer, steps []Step) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(stepHeader, "\t"))
	for _, s := range steps {
		fmt.Fprintln(tw, strings.Join(stepRow(s), "\t"))
	}
	return tw.Flush()
}

// comparison is one line of the before/after table.
type comparison struct {
	name, before, after, change string
}

func ratio(before, after float64, lowerIsBetter bool) string {
	if before <= 0 || after <= 0 {
		return "-"
	}
	if lowerIsBetter {
		return fmt.Sprintf("÷%.1f", before/after)
	}
	return fmt.Sprintf("x%.1f", after/before)
}

func comparisons(before, after Metrics) []comparison {
	return []comparison{
		{"RPS", fmt.Sprintf("%.1f", before.RPS), fmt.Sprintf("%.1f", after.RPS), ratio(before.RPS, after.RPS, false)},
		{"p50 latency", fmtDur(before.P50), fmtDur(after.P50), ratio(float64(before.P50), float64(after.P50), true)},
		{"p95 latency", fmtDur(before.P95), fmtDur(after.P95), ratio(float64(before.P95), float64(after.P95), true)},
		{"p99 latency", fmtDur(before.P99), fmtDur(after.P99), ratio(float64(before.P99), float64(after.P99), true)},
		{"errors", fmtErrors(before), fmtErrors(after), ""},
		{"DB queries per request", fmtPerReq(before.QueriesPerRequest, before.HasQueries), fmtPerReq(after.QueriesPerRequest, after.HasQueries), ""},
		{"internal hops per request", fmtPerReq(before.HopsPerRequest, before.HasHops), fmtPerReq(after.HopsPerRequest, after.HasHops), ""},
	}
}

// WriteBeforeAfter prints the first step against the last kept one.
func WriteBeforeAfter(w io.Writer, r *Result) error {
	first, last := r.First(), r.Last()
	if first == nil || last == nil {
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "\tbefore (step %d)\tafter (step %d)\tchange\n", first.N, last.N)
	for _, c := range comparisons(first.Metrics, last.Metrics) {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", c.name, c.before, c.after, c.change)
	}
	return tw.Flush()
}

// WriteText prints the whole run for a terminal: the step table, the fixes
// in the order applied with why, what was skipped, the before/after table
// and a chart of RPS and p95 per step.
func WriteText(w io.Writer, r *Result) error {
	fmt.Fprintln(w, "Steps")
	if err := WriteSteps(w, r.Steps); err != nil {
		return err
	}
	writeNarrative(w, r, textNarrative)
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Before / after")
	if err := WriteBeforeAfter(w, r); err != nil {
		return err
	}
	if len(r.Steps) > 1 {
		fmt.Fprintln(w)
		fmt.Fprint(w, Chart(r.Steps, 60, 8))
	}
	return nil
}

// narrativeStyle is how writeNarrative marks up its parts: plain text for a
// terminal, or Markdown.
type narrativeStyle struct {
	// heading turns a section's title into its line(s).
	heading func(title string) string
	// item and sub start a list item and an item nested under it.
	item, sub string
	// code quotes ids (rules, subjects, actions); text renders free text
	// from findings on one line.
	code, text func(string) string
}

// textNarrative is the terminal's style: indented lines under plain titles.
var textNarrative = narrativeStyle{
	heading: func(title string) string { return title },
	item:    "  ",
	sub:     "      ",
	code:    func(s string) string { return s },
	text:    oneLine,
}

// markdownNarrative is Markdown's: a level-2 heading per section, each fix a
// list item with its finding, evidence and fix as nested items.
var markdownNarrative = narrativeStyle{
	heading: func(title string) string { return "## " + title + "\n" },
	item:    "- ",
	sub:     "  - ",
	code:    func(s string) string { return "`" + s + "`" },
	text:    func(s string) string { return mdText.Replace(oneLine(s)) },
}

// writeNarrative lists the fixes, the skipped findings, what remains and why
// the run stopped.
func writeNarrative(w io.Writer, r *Result, st narrativeStyle) {
	section := func(title string) {
		fmt.Fprintln(w)
		fmt.Fprintln(w, st.heading(title))
	}
	section("Fixes, in the order tune chose them")
	if len(r.Steps) <= 1 {
		fmt.Fprintln(w, st.item+"none")
	}
	for _, s := range r.Steps[min(1, len(r.Steps)):] {
		f := s.Fix
		fmt.Fprintf(w, "%sstep %d: %s on %s -> %s: %s; %s\n", st.item, s.N, st.code(f.Finding.Rule), st.code(f.Finding.Subject),
			st.code(f.Action.String()), st.text(f.Why), st.text(outcomeText(s)))
		if title := st.text(f.Finding.Title); title != "" {
			fmt.Fprintf(w, "%sfinding: %s\n", st.sub, title)
		}
		if ev := evidenceLine(f.Finding.Evidence); ev != "" {
			fmt.Fprintf(w, "%sevidence: %s\n", st.sub, st.code(ev))
		}
		fix := st.text(f.Finding.Fix.Summary)
		if sql := oneLine(f.Finding.Fix.SQL); fix == "" && sql != "" {
			fix = st.code(sql)
		}
		if fix != "" {
			fmt.Fprintf(w, "%sfix: %s\n", st.sub, fix)
		}
	}
	if len(r.Skipped) > 0 {
		section("Findings shown and not applied")
		for _, s := range r.Skipped {
			fmt.Fprintf(w, "%sbefore step %d: %s %s on %s: %s\n", st.item, s.Step, s.Finding.Severity, st.code(s.Finding.Rule),
				st.code(s.Finding.Subject), st.text(s.Reason))
		}
	}
	if len(r.Remaining) > 0 {
		section("Findings remaining at the end")
		for _, f := range r.Remaining {
			fmt.Fprintf(w, "%s%s %s (impact %.0f%%): %s\n", st.item, f.Severity, st.code(f.Rule), 100*f.Impact, st.text(f.Title))
		}
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "Stopped: %s.\n", st.text(r.Stop))
}

func outcomeText(s Step) string {
	if s.Outcome == Reverted {
		return "made things worse (" + s.Verdict + "): reverted"
	}
	if s.Verdict != "" {
		return "kept: " + s.Verdict
	}
	return "kept"
}

// SVGPath is the chart file written next to a Markdown file.
func SVGPath(markdownPath string) string {
	ext := filepath.Ext(markdownPath)
	return strings.TrimSuffix(markdownPath, ext) + ".svg"
}

func mdEscape(s string) string {
	return strings.NewReplacer("|", `\|`, "\n", " ").Replace(s)
}

// WriteMarkdown writes the run as Markdown; svgName, when not empty, is the
// chart's file name relative to the Markdown file.
func WriteMarkdown(w io.Writer, info RunInfo, r *Result, svgName string) error {
	fmt.Fprintln(w, "# advisor tune")
	fmt.Fprintln(w)
	if info.Target != "" {
		fmt.Fprintf(w, "Target: %s.  \n", info.Target)
	}
	fmt.Fprintf(w, "Each step: %s of the same load mix on %d connections, a report window inside it.", info.Duration, info.Connections)
	if !info.Started.IsZero() {
		fmt.Fprintf(w, " Run started %s.", info.Started.UTC().Format(time.RFC3339))
	}
	fmt.Fprintln(w)
	if info.Command != "" {
		fmt.Fprintf(w, "\n```sh\n%s\n```\n", info.Command)
	}
	fmt.Fprintln(w, "\n## Steps")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| "+strings.Join(stepHeader, " | ")+" |")
	fmt.Fprintln(w, "|"+strings.Repeat(" --- |", len(stepHeader)))
	for _, s := range r.Steps {
		cells := stepRow(s)
		for i := range cells {
			cells[i] = mdEscape(cells[i])
		}
		fmt.Fprintln(w, "| "+strings.Join(cells, " | ")+" |")
	}
	if first, last := r.First(), r.Last(); first != nil && last != nil {
		fmt.Fprintln(w, "\n## Before / after")
		fmt.Fprintln(w)
		fmt.Fprintf(w, "| | before (step %d) | after (step %d) | change |\n| --- | --- | --- | --- |\n", first.N, last.N)
		for _, c := range comparisons(first.Metrics, last.Metrics) {
			fmt.Fprintf(w, "| %s | %s | %s | %s |\n", c.name, c.before, c.after, c.change)
		}
	}
	if svgName != "" {
		fmt.Fprintf(w, "\n![RPS and p95 per step](%s)\n", svgName)
	}
	writeNarrative(w, r, markdownNarrative)
	writeStepFindings(w, r)
	return nil
}

// writeStepFindings lists every finding of every step, whatever its
// severity: what each decision was made from.
func writeStepFindings(w io.Writer, r *Result) {
	fmt.Fprintln(w, "\n## Findings of each step")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| step | severity | rule | impact | subject | title |")
	fmt.Fprintln(w, "| --- | --- | --- | --- | --- | --- |")
	for _, s := range r.Steps {
		if len(s.All) == 0 {
			fmt.Fprintf(w, "| %d | | none | | | |\n", s.N)
		}
		for _, f := range s.All {
			fmt.Fprintf(w, "| %d | %s | `%s` | %.0f%% | %s | %s |\n", s.N, f.Severity, f.Rule, 100*f.Impact, mdText.Replace(mdEscape(f.Subject)), mdText.Replace(mdEscape(f.Title)))
		}
	}
}

// mdText escapes the characters Markdown would read as emphasis or HTML.
var mdText = strings.NewReplacer("*", `\*`, "_", `\_`, "<", `\<`, "`", "'")

// oneLine joins a text's lines.
func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// evidenceLine renders evidence as key=value pairs in key order, long values
// cut.
func evidenceLine(ev map[string]any) string {
	keys := make([]string, 0, len(ev))
	for k := range ev {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		v := strings.ReplaceAll(oneLine(fmt.Sprint(ev[k])), "`", "'")
		if r := []rune(v); len(r) > 60 {
			v = string(r[:59]) + "…"
		}
		parts = append(parts, k+"="+v)
	}
	return strings.Join(parts, ", ")
}
