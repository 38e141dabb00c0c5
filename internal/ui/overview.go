package ui

import (
	"fmt"
	"strings"
	"time"

	"github.com/NimbleMarkets/ntcharts/sparkline"
	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"

	"github.com/pgadvisor/advisor/internal/probe"
	"github.com/pgadvisor/advisor/internal/probe/source"
	"github.com/pgadvisor/advisor/internal/rules"
)

// overviewPane shows the health of each source, the findings by severity,
// the top three fixes, where the requests' time goes in one line, and
// sparklines of the service over the last minutes.
type overviewPane struct {
	sh            *shared
	data          *Data
	width, height int
	// charts caches the rendered sparklines (drawing them styles every
	// cell): they change only with the data or the size.
	charts    []string
	chartsKey [4]int
}

func newOverviewPane(sh *shared) *overviewPane { return &overviewPane{sh: sh, data: &Data{}} }

func (p *overviewPane) Title() string             { return "Overview" }
func (p *overviewPane) SetSize(width, height int) { p.width, p.height = width, height }
func (p *overviewPane) SetData(d *Data)           { p.data, p.charts = d, nil }
func (p *overviewPane) Update(tea.Msg) tea.Cmd    { return nil }
func (p *overviewPane) Keys() []key.Binding       { return nil }

func (p *overviewPane) View() string {
	st := p.sh.st
	var lines []string
	w := p.data.Window
	lines = append(lines, st.Section.Render("Sources"))
	for _, name := range probe.SourceNames {
		var s source.Status
		if w != nil {
			s = w.Status(name)
		}
		lines = append(lines, p.sourceLine(name, s))
	}

	// Findings by severity and the top fixes.
	counts := map[rules.Severity]int{}
	for _, f := range p.data.Findings {
		counts[f.Severity]++
	}
	lines = append(lines, "", st.Section.Render("Findings")+fmt.Sprintf("  %s %d   %s %d   %s %d",
		st.severity(rules.Critical), counts[rules.Critical], st.severity(rules.Warning), counts[rules.Warning],
		st.severity(rules.Info), counts[rules.Info]))
	switch {
	case w == nil:
		lines = append(lines, st.Dim.Render("  waiting for the first window…"))
	case len(p.data.Findings) == 0:
		lines = append(lines, st.Dim.Render("  nothing found in this window"))
	}
	for i, f := range p.data.Findings {
		if i == 3 {
			break
		}
		lines = append(lines, fmt.Sprintf("  %d. %s %s", i+1, st.severity(f.Severity), oneLine(f.Title)))
		lines = append(lines, "       "+st.Dim.Render("fix: ")+oneLine(f.Fix.Summary))
	}

	// Where the time goes, in one line (the Time pane has the rest).
	lines = append(lines, "", timeLine(st, p.data))

	// Sparklines: a label column, then the plot; the blank line above them
	// goes when the pane is too short for every series.
	if len(lines)+2+len(SeriesNames) <= p.height {
		lines = append(lines, "")
	}
	lines = append(lines, st.Section.Render(fmt.Sprintf("Last %s", historySpan(p.data))))
	remaining := p.height - len(lines)
	chartH := min(max(remaining/len(SeriesNames), 1), 4)
	const labelW = 32
	chartW := max(p.width-labelW-2, 8)
	key := [4]int{p.data.History.Windows, chartW, chartH, len(p.data.Findings)}
	if p.charts == nil || key != p.chartsKey {
		p.charts = p.charts[:0]
		for _, name := range SeriesNames {
			p.charts = append(p.charts, p.chart(name, labelW, chartW, chartH)...)
		}
		p.chartsKey = key
	}
	lines = append(lines, p.charts...)
	return block(strings.Join(lines, "\n"), p.width, p.height)
}

func (p *overviewPane) sourceLine(name string, s source.Status) string {
	st := p.sh.st
	state := "…"
	detail := ""
	switch {
	case s.State == "":
	case s.Ok():
		state = st.OK.Render("ok")
		if s.Version != "" {
			detail = s.Version
		}
		if s.Took > 0 {
			detail = strings.TrimSpace(detail + fmt.Sprintf("  read in %s", s.Took.Round(time.Millisecond)))
		}
		if s.Detail != "" {
			detail = strings.TrimSpace(detail + "  " + s.Detail)
		}
	case strings.HasPrefix(s.Detail, "not configured"), strings.HasPrefix(s.Detail, "not applicable"):
		state = st.Dim.Render("off")
		detail = s.Detail
	case s.State == source.Error:
		state = st.Lost.Render("ERROR")
		detail = s.Detail
	default:
		state = st.Lost.Render("LOST")
		detail = s.Detail + "  (retrying every interval)"
	}
	return fmt.Sprintf("  %-9s %s  %s", name, pad(state, 5), st.Dim.Render(oneLine(source.Redact(detail))))
}

// chart renders one series: its name and latest value, then a sparkline of
// its history (height lines).
func (p *overviewPane) chart(name string, labelW, chartW, height int) []string {
	st := p.sh.st
	values := p.data.History.Values(name)
	label := fmt.Sprintf("  %-16s", name)
	if v, ok := p.data.History.Last(name); ok {
		label += fmt.Sprintf("%7s %s", num(v), seriesUnits[name])
	} else {
		label += "      - " + seriesUnits[name]
	}
	label = pad(label, labelW)
	if len(values) == 0 {
		out := []string{label + st.Dim.Render("no data yet")}
		for i := 1; i < height; i++ {
			out = append(out, "")
		}
		return out
	}
	if len(values) > chartW {
		values = values[len(values)-chartW:]
	}
	sl := sparkline.New(chartW, height, sparkline.WithStyle(st.Chart))
	sl.PushAll(values)
	sl.Draw()
	plot := strings.Split(sl.View(), "\n")
	top := 0.0
	for _, v := range values {
		top = max(top, v)
	}
	out := make([]string, height)
	for i := range out {
		prefix := strings.Repeat(" ", labelW)
		switch {
		case i == height-1:
			prefix = label
		case i == 0:
			prefix = padLeft(st.Dim.Render("max "+num(top))+" ", labelW)
		}
		l := ""
		if i < len(plot) {
			l = plot[i]
		}
		if top == 0 && i == height-1 {
			// All zero: a flat line rather than nothing.
			l = strings.Repeat(" ", chartW-len(values)) + st.Chart.Render(strings.Repeat("▁", len(values)))
		}
		out[i] = prefix + "│" + l
	}
	return out
}

func historySpan(d *Data) string {
	if d.History == nil || d.History.Windows == 0 {
		return "minutes"
	}
	n := d.History.Windows
	if n > d.History.Cap {
		n = d.History.Cap
	}
	return fmt.Sprintf("%d windows", n)
}
