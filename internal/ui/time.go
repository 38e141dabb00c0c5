package ui

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/x/ansi"

	"github.com/pgadvisor/advisor/internal/report"
	"github.com/pgadvisor/advisor/internal/rules"
)

// timePane shows where the requests' time goes (the window's
// rules.TimeSplit): the service's rate, latency and requests in flight, a
// bar per part of its time per request, the routes by share of the
// service's time and, on Go, the handlers' parts.
type timePane struct {
	sh            *shared
	data          *Data
	routes        *table
	handlers      *table
	onHandlers    bool
	width, height int
}

func newTimePane(sh *shared) *timePane {
	p := &timePane{sh: sh, data: &Data{}}
	p.routes = newTable(sh.st, "no request in this window",
		column{Title: "ROUTE", Width: 20, Flex: true},
		column{Title: "RATE", Width: 7, Right: true},
		column{Title: "P95", Width: 7, Right: true},
		column{Title: "IN FLIGHT", Width: 9, Right: true},
		column{Title: "SHARE", Width: 5, Right: true},
		column{Title: "", Width: 10},
	)
	p.handlers = newTable(sh.st, "",
		column{Title: "HANDLER", Width: 30, Flex: true},
		column{Title: "SHARE", Width: 5, Right: true},
		column{Title: "PARTS (SHARE OF ITS SAMPLES)", Width: 20, Flex: true},
	)
	p.handlers.focused = false
	return p
}

func (p *timePane) Title() string { return "Time" }

// switchHandlers moves the cursor between the routes and the handlers.
var switchHandlers = key.NewBinding(key.WithKeys("h"), key.WithHelp("h", "routes/handlers"))

func (p *timePane) Keys() []key.Binding {
	if p.data.Split != nil && len(p.data.Split.Handlers) > 0 {
		return []key.Binding{switchHandlers}
	}
	return nil
}

func (p *timePane) SetSize(width, height int) {
	p.width, p.height = width, height
	p.layout()
}

func (p *timePane) SetFilter(f string) {
	p.routes.setFilter(f)
	p.handlers.setFilter(f)
	p.layout()
}

func (p *timePane) Filter() string { return p.routes.filter }

func (p *timePane) SetData(d *Data) {
	p.data = d
	var rrows, hrows []row
	if ts := d.Split; ts != nil {
		for _, r := range ts.Routes {
			name := r.Route
			if r.Method != "" {
				name = r.Method + " " + r.Route
			}
			p95, inFlight, share, bar := "-", "-", "-", ""
			if r.HasLatency {
				if r.P95MS > 0 {
					p95 = report.PercentileText(r.P95MS, r.BoundsMS)
				}
				inFlight, share = num(r.InFlight), pctWhole(r.Share)
				bar = p.sh.st.Chart.Render(hbar(r.Share, 1, 10))
			}
			rrows = append(rrows, row{Key: name, Cells: []string{name, num(r.RPS) + "/s", p95, inFlight, share, bar},
				Filter: name})
		}
		for _, h := range ts.Handlers {
			var parts []string
			for _, pt := range sortedParts(h.Parts) {
				parts = append(parts, pt.Name+" "+pctWhole(pt.Share))
			}
			hrows = append(hrows, row{Key: h.Route, Cells: []string{shortFunc(h.Route), pctWhole(h.Share), strings.Join(parts, " · ")},
				Filter: h.Route + " " + strings.Join(parts, " ")})
		}
	}
	p.routes.setRows(rrows)
	p.handlers.setRows(hrows)
	if len(hrows) == 0 && p.onHandlers {
		p.focusHandlers(false)
	}
	p.layout()
}

func (p *timePane) focusHandlers(on bool) {
	p.onHandlers = on
	p.routes.focused, p.handlers.focused = !on, on
}

func (p *timePane) Update(msg tea.Msg) tea.Cmd {
	km, ok := msg.(tea.KeyMsg)
	if !ok {
		return nil
	}
	if key.Matches(km, switchHandlers) {
		if p.handlers.len() > 0 || p.onHandlers {
			p.focusHandlers(!p.onHandlers)
		}
		return nil
	}
	if p.onHandlers {
		navigate(p.handlers, km, p.sh.km)
	} else {
		navigate(p.routes, km, p.sh.km)
	}
	return nil
}

// head returns the lines above the tables: the title, the service's line,
// a bar per part (or why there are none) and the notes.
func (p *timePane) head() (top, notes []string) {
	st := p.sh.st
	ts := p.data.Split
	title := st.Section.Render("Where the time goes")
	switch {
	case ts == nil && p.data.Window == nil:
		return []string{title, st.Dim.Render("  waiting for the first window…")}, nil
	case ts == nil:
		return []string{title, st.Dim.Render("  no time split for this window")}, nil
	}
	var how []string
	if ts.Method != "" {
		how = append(how, "measured from "+ts.Method)
	}
	if ts.Runtime != "" {
		how = append(how, "runtime "+ts.Runtime)
	}
	if len(how) > 0 {
		title += "  " + st.Dim.Render(strings.Join(how, " · "))
	}
	top = append(top, title)
	if h := report.HostFiguresOf(ts.Host); h != nil {
		notes = append(notes, st.Dim.Render("  host: "+report.HostText(h)))
	}
	if k := report.KernelQueueFiguresOf(ts.Kernel); k != nil {
		var mean *float64
		if ts.Service.HasLatency {
			mean = &ts.Service.MeanMS
		}
		notes = append(notes, st.Dim.Render("  kernel queue: "+report.KernelQueueShort(k, mean)))
	}
	for _, n := range ts.Notes {
		notes = append(notes, st.Dim.Render("  note: "+oneLine(n)))
	}
	s := ts.Service
	if s.RPS <= 0 && len(ts.Routes) == 0 {
		return top, notes
	}
	// The service's line, shorter when the pane is narrow: without the
	// mean (the bars add up to it), then without how in-flight was measured.
	rate := num(s.RPS) + " req/s"
	var pcts, mean, inFlight, from string
	if s.HasLatency {
		if s.P50MS > 0 || s.P95MS > 0 {
			pcts = " · p50 " + report.PercentileText(s.P50MS, s.BoundsMS) + " · p95 " + report.PercentileText(s.P95MS, s.BoundsMS)
		}
		mean = " · mean " + report.MSText(s.MeanMS)
	}
	if s.InFlightFrom != "" && (s.HasLatency || s.InFlightFrom == "gauge") {
		inFlight, from = " · "+num(s.InFlight)+" in flight", " ("+s.InFlightFrom+")"
	}
	head := st.Header.Render("Service") + "  "
	line := head + rate + pcts + mean + inFlight + st.Dim.Render(from)
	for _, l := range []string{rate + pcts + inFlight + from, rate + pcts + inFlight} {
		if ansi.StringWidth(line) <= p.width {
			break
		}
		line = head + l
	}
	top = append(top, line)
	if len(s.Parts) == 0 {
		return top, notes
	}
	// A bar per part, the largest first and the time advisor cannot see
	// last, scaled to the mean latency.
	parts := sortedParts(s.Parts)
	nameW := 0
	for _, pt := range parts {
		nameW = max(nameW, len(pt.Name))
	}
	const figW = 8 + 1 + 4 + 2 // "12.3 ms" "100%" and spaces
	barW := max(p.width-2-nameW-2-figW, 4)
	for _, pt := range parts {
		style := st.Chart
		if pt.Name == rules.PartOther {
			style = st.Dim
		}
		top = append(top, fmt.Sprintf("  %-*s  %8s %4s  %s", nameW, pt.Name, report.MSText(pt.MSPerRequest), pctWhole(pt.Share),
			style.Render(hbar(pt.Share, 1, barW))))
	}
	return top, notes
}

// layout sizes the tables to what the head and the notes leave: the routes
// above, the handlers (Go) below, each no taller than its rows.
func (p *timePane) layout() {
	top, notes := p.head()
	avail := p.height - len(top) - len(notes) - 1 // the routes' title
	rNeed := max(p.routes.len(), 1) + 1
	if p.handlers.len() == 0 {
		p.routes.setSize(p.width, max(min(rNeed, avail), 2))
		p.handlers.setSize(p.width, 0)
		return
	}
	avail-- // the handlers' title
	hNeed := p.handlers.len() + 1
	rh, hh := rNeed, hNeed
	if rNeed+hNeed > avail {
		rh = max(min(rNeed, max(avail-hNeed, avail/2)), 2)
		hh = max(avail-rh, 2)
	}
	p.routes.setSize(p.width, rh)
	p.handlers.setSize(p.width, hh)
}

func (p *timePane) View() string {
	st := p.sh.st
	top, notes := p.head()
	lines := top
	if ts := p.data.Split; ts != nil && (ts.Service.RPS > 0 || len(ts.Routes) > 0) {
		lines = append(lines, st.Section.Render("Routes")+"  "+
			st.Dim.Render("by share of the service's request time · "+where(p.routes, "routes")))
		lines = append(lines, p.routes.view())
		if p.handlers.len() > 0 {
			lines = append(lines, st.Section.Render("Go handlers")+"  "+
				st.Dim.Render("by share of the handlers' samples · "+where(p.handlers, "handlers")+" · h: switch"))
			lines = append(lines, p.handlers.view())
		}
	}
	lines = append(lines, notes...)
	return block(strings.Join(lines, "\n"), p.width, p.height)
}

// where is a table's cursor position when it has the focus, else how many
// rows it shows.
func where(t *table, rows string) string {
	if t.focused {
		return t.position()
	}
	return fmt.Sprintf("%d %s", t.len(), rows)
}

// sortedParts are the parts, largest first and other last.
func sortedParts(parts []rules.Part) []rules.Part {
	out := slices.Clone(parts)
	slices.SortStableFunc(out, func(a, b rules.Part) int {
		if (a.Name == rules.PartOther) != (b.Name == rules.PartOther) {
			if a.Name == rules.PartOther {
				return 1
			}
			return -1
		}
		return cmp.Compare(b.Share, a.Share)
	})
	return out
}

// hbar draws v of full as a horizontal bar of at most width cells, in
// eighths of a cell.
func hbar(v, full float64, width int) string {
	if full <= 0 || v <= 0 || math.IsNaN(v) || width <= 0 {
		return ""
	}
	eighths := int(math.Round(min(v/full, 1) * float64(width) * 8))
	if eighths == 0 {
		eighths = 1 // something rather than nothing
	}
	bar := strings.Repeat("█", eighths/8)
	if r := eighths % 8; r > 0 {
		bar += string([]rune("▏▎▍▌▋▊▉")[r-1])
	}
	return bar
}

// pctWhole formats a share in [0, 1] as a whole percentage, "<1%" for a
// share above zero that rounds to it.
func pctWhole(s float64) string {
	switch {
	case math.IsNaN(s):
		return "-"
	case s > 0 && s < 0.005:
		return "<1%"
	}
	return fmt.Sprintf("%.0f%%", s*100)
}

// timeLine is the overview's line: the mean request's time and its parts'
// shares, or why there are none.
func timeLine(st *Styles, d *Data) string {
	head := st.Section.Render("Time") + "  "
	ts := d.Split
	switch {
	case d.Window == nil:
		return head + st.Dim.Render("waiting for the first window…")
	case ts == nil:
		return head + st.Dim.Render("no time split for this window")
	case len(ts.Service.Parts) == 0:
		reason := "no request in this window"
		if len(ts.Notes) > 0 {
			reason = ts.Notes[0]
		}
		return head + st.Dim.Render(oneLine(reason))
	}
	var parts []string
	for _, pt := range sortedParts(ts.Service.Parts) {
		parts = append(parts, pt.Name+" "+pctWhole(pt.Share))
	}
	return head + report.MSText(ts.Service.MeanMS) + "/req: " + strings.Join(parts, " · ") + st.Dim.Render("  (8: Time)")
}

// savingLine says what a finding's fix saves and on what basis; "" when
// unknown.
func savingLine(s *rules.Saving) string {
	var text string
	switch {
	case s == nil:
		return ""
	case s.NotRequestTime:
		text = "no request time"
	default:
		text = fmt.Sprintf("saves ~%s/request (%s)", report.MSText(s.MSPerRequest), pctWhole(s.Share))
	}
	if b := oneLine(s.Basis); b != "" {
		text += ": " + b
	}
	return text
}
