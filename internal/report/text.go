package report

import (
	"bytes"
	"fmt"
	"io"
	"strings"

	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/x/ansi"
	"github.com/muesli/termenv"

	"github.com/pgadvisor/advisor/internal/rules"
)

// DefaultWidth is the text format's default line width.
const DefaultWidth = 80

// Text prints a report for a terminal: the sources' statuses, where the
// requests' time goes (when the report has figures), then the findings
// grouped by severity, each with what its fix saves (when known), aligned
// evidence, its fix (SQL, configuration and code indented, never wrapped, so
// they can be copied), then a summary line. Prose wraps at Width.
type Text struct {
	// Color turns on ANSI styles (lipgloss, 16-colour profile).
	Color bool
	// Width is the line width; 0 means DefaultWidth.
	Width int
}

// textStyles styles the parts of the text format; every style is the
// identity when colour is off.
type textStyles struct {
	heading, rule, faint, known, code func(string) string
	severity                          map[rules.Severity]func(string) string
	status                            map[Status]func(string) string
}

func plain(s string) string { return s }

func newTextStyles(w io.Writer, color bool) textStyles {
	if !color {
		return textStyles{
			heading: plain, rule: plain, faint: plain, known: plain, code: plain,
			severity: map[rules.Severity]func(string) string{},
			status:   map[Status]func(string) string{},
		}
	}
	re := lipgloss.NewRenderer(w)
	re.SetColorProfile(termenv.ANSI)
	render := func(s lipgloss.Style) func(string) string {
		return func(text string) string { return s.Render(text) }
	}
	return textStyles{
		heading: render(re.NewStyle().Bold(true)),
		rule:    render(re.NewStyle().Bold(true).Foreground(lipgloss.Color("6"))),
		faint:   render(re.NewStyle().Faint(true)),
		known:   render(re.NewStyle().Foreground(lipgloss.Color("5"))),
		code:    render(re.NewStyle().Foreground(lipgloss.Color("2"))),
		severity: map[rules.Severity]func(string) string{
			rules.Critical: render(re.NewStyle().Bold(true).Foreground(lipgloss.Color("1"))),
			rules.Warning:  render(re.NewStyle().Bold(true).Foreground(lipgloss.Color("3"))),
			rules.Info:     render(re.NewStyle().Bold(true).Foreground(lipgloss.Color("4"))),
		},
		status: map[Status]func(string) string{
			StatusOK:          render(re.NewStyle().Foreground(lipgloss.Color("2"))),
			StatusUnavailable: render(re.NewStyle().Foreground(lipgloss.Color("3"))),
			StatusError:       render(re.NewStyle().Foreground(lipgloss.Color("1"))),
		},
	}
}

func styleOf[K comparable](m map[K]func(string) string, k K) func(string) string {
	if f, ok := m[k]; ok {
		return f
	}
	return plain
}

// Print writes the report.
func (p *Text) Print(w io.Writer, r *Report) error {
	width := p.Width
	if width <= 0 {
		width = DefaultWidth
	}
	st := newTextStyles(w, p.Color)
	var b bytes.Buffer

	window := fmt.Sprintf("window %gs", r.WindowSeconds)
	if r.WindowSeconds == 0 {
		window = "cumulative since the last statistics reset"
	}
	fmt.Fprintf(&b, "%s  %s  %s\n\n", st.heading("advisor report"),
		r.GeneratedAt.Format("2006-01-02T15:04:05Z07:00"), window)

	p.sources(&b, r, st, width)
	if r.Figures != nil {
		b.WriteString("\n")
		p.figures(&b, r.Figures, st, width)
	}
	if r.Statements != nil {
		b.WriteString("\n")
		p.statements(&b, r.Statements, st, width)
	}
	if r.Comparison != nil {
		b.WriteString("\n")
		p.comparison(&b, r.Comparison, st, width)
	}

	for _, sev := range rules.Severities {
		var group []*Finding
		for i := range r.Findings {
			if r.Findings[i].Severity == sev {
				group = append(group, &r.Findings[i])
			}
		}
		if len(group) == 0 {
			continue
		}
		head := fmt.Sprintf("%s (%d)", strings.ToUpper(sev.String()), len(group))
		fmt.Fprintf(&b, "\n%s\n", styleOf(st.severity, sev)(head))
		for _, f := range group {
			b.WriteString("\n")
			p.finding(&b, r, f, st, width)
		}
	}

	b.WriteString("\n")
	for _, l := range Wrap("Summary: "+summaryLine(r), width) {
		b.WriteString(st.heading(l))
		b.WriteString("\n")
	}
	return flush(w, &b, FormatText)
}

// sources writes the sources' table: name, status, and the detail wrapped
// in the last column.
func (p *Text) sources(b *bytes.Buffer, r *Report, st textStyles, width int) {
	b.WriteString(st.heading("Sources"))
	b.WriteString("\n")
	names := r.sourceOrder()
	nameW := 0
	for _, n := range names {
		nameW = max(nameW, len(n))
	}
	const statusW = len("unavailable")
	indent := 2 + nameW + 2 + statusW + 2
	for _, name := range names {
		s := r.Sources[name]
		detail := sanitize(s.Detail)
		switch version := sanitize(s.Version); {
		case version != "" && detail != "":
			detail = "version " + version + "; " + detail
		case version != "":
			detail = "version " + version
		}
		lines := Wrap(detail, width-indent)
		status := fmt.Sprintf("%-*s", statusW, sanitize(string(s.Status)))
		line := fmt.Sprintf("  %-*s  %s  %s", nameW, name, styleOf(st.status, s.Status)(status), lines[0])
		b.WriteString(strings.TrimRight(line, " "))
		b.WriteString("\n")
		for _, l := range lines[1:] {
			fmt.Fprintf(b, "%s%s\n", strings.Repeat(" ", indent), l)
		}
	}
}

// finding writes one finding, its text sanitized.
func (p *Text) finding(b *bytes.Buffer, r *Report, f *Finding, st textStyles, width int) {
	const in1, in2 = "  ", "      "
	known := r.Known(f)
	c := *f
	f = &c
	f.Rule, f.Subject, f.Title, f.Location = sanitize(f.Rule), sanitize(f.Subject), sanitize(f.Title), sanitize(f.Location)
	f.Fix.Summary, f.Fix.SQL, f.Fix.Code = sanitize(f.Fix.Summary), sanitize(f.Fix.SQL), sanitize(f.Fix.Code)

	// The rule, the subject and the known mark on one line when they fit;
	// else the subject wraps on the lines below.
	tag := ""
	if known {
		tag = "  " + st.known("[known]")
	}
	oneLine := len(in1) + ansi.StringWidth(f.Rule+"  "+f.Subject+ansi.Strip(tag))
	switch {
	case f.Subject == "":
		b.WriteString(in1 + st.rule(f.Rule) + tag + "\n")
	case oneLine <= width:
		b.WriteString(in1 + st.rule(f.Rule) + "  " + f.Subject + tag + "\n")
	default:
		b.WriteString(in1 + st.rule(f.Rule) + tag + "\n")
		for _, l := range Wrap(f.Subject, width-len(in1)-2) {
			fmt.Fprintf(b, "%s  %s\n", in1, l)
		}
	}
	for _, l := range Wrap(f.Title, width-len(in1)-2) {
		fmt.Fprintf(b, "%s  %s\n", in1, l)
	}
	writeSaving(b, in1+"  ", f.Saves, width, st)
	if c := confidenceText(f.Confidence); c != "" {
		writeLabeled(b, in1+"  ", "confidence: ", c, width, st)
	}

	if ev := evidenceList(f.Evidence); len(ev) > 0 {
		fmt.Fprintf(b, "%s  %s\n", in1, st.faint("evidence"))
		writeKVs(b, ev, in2, width, st)
	}
	if f.Fix.Summary != "" {
		writeLabeled(b, in1+"  ", "fix: ", f.Fix.Summary, width, st)
	}
	if f.Fix.SQL != "" {
		fmt.Fprintf(b, "%s  %s\n", in1, st.faint("sql"))
		writeCode(b, f.Fix.SQL, in2, st)
	}
	if cfg := configList(f.Fix.Config); len(cfg) > 0 {
		fmt.Fprintf(b, "%s  %s\n", in1, st.faint("config"))
		writeKVs(b, cfg, in2, width, st)
	}
	if f.Fix.Code != "" {
		fmt.Fprintf(b, "%s  %s\n", in1, st.faint("code"))
		writeCode(b, f.Fix.Code, in2, st)
	}
	if f.Location != "" {
		writeLabeled(b, in1+"  ", "at: ", f.Location, width, st)
	}
}

// writeLabeled writes "label text", the text wrapped under itself.
func writeLabeled(b *bytes.Buffer, indent, label, text string, width int, st textStyles) {
	lines := Wrap(text, width-len(indent)-len(label))
	fmt.Fprintf(b, "%s%s%s\n", indent, st.faint(label), lines[0])
	for _, l := range lines[1:] {
		fmt.Fprintf(b, "%s%s%s\n", indent, strings.Repeat(" ", len(label)), l)
	}
}

// writeKVs writes aligned key: value lines, values wrapped under their
// column.
func writeKVs(b *bytes.Buffer, kvs []evidenceKV, indent string, width int, st textStyles) {
	kw := keyWidth(kvs) + 1 // the colon
	valueCol := len(indent) + kw + 1
	for _, kv := range kvs {
		lines := Wrap(kv.Value, width-valueCol)
		key := fmt.Sprintf("%-*s", kw, kv.Key+":")
		line := fmt.Sprintf("%s%s %s", indent, st.faint(key), lines[0])
		b.WriteString(strings.TrimRight(line, " "))
		b.WriteString("\n")
		for _, l := range lines[1:] {
			fmt.Fprintf(b, "%s%s\n", strings.Repeat(" ", valueCol), l)
		}
	}
}

// writeCode writes a block of code indented, line by line, unwrapped, tabs
// expanded to four spaces.
func writeCode(b *bytes.Buffer, code, indent string, st textStyles) {
	for _, l := range strings.Split(strings.TrimRight(code, "\n"), "\n") {
		if strings.TrimSpace(l) == "" {
			b.WriteString("\n")
			continue
		}
		l = strings.ReplaceAll(strings.TrimRight(l, " \t"), "\t", "    ")
		fmt.Fprintf(b, "%s%s\n", indent, st.code(l))
	}
}

// summaryLine says how many findings of each severity the report holds.
func summaryLine(r *Report) string {
	if len(r.Findings) == 0 {
		return "No findings."
	}
	s := fmt.Sprintf("%d critical, %d warning, %d info", r.Summary.Critical, r.Summary.Warning, r.Summary.Info)
	if k := r.KnownCount(); k > 0 {
		s += fmt.Sprintf(" (%d known from the baseline)", k)
	}
	return s + "."
}
