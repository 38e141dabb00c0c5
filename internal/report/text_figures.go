package report

import (
	"bytes"
	"fmt"
	"strings"

	"github.com/charmbracelet/x/ansi"

	"github.com/pgadvisor/advisor/internal/rules"
)

// figures writes the "Where the time goes" section: the service's line,
// its time per request by part, the top routes, the Go handlers and the
// notes, every line within width.
func (p *Text) figures(b *bytes.Buffer, f *Figures, st textStyles, width int) {
	head := "Where the time goes"
	if m := methodText(f); m != "" {
		if len(head)+2+ansi.StringWidth(m) <= width {
			head = st.heading(head) + "  " + st.faint(m)
		} else {
			head = st.heading(head) + "\n" + st.faint(ansi.Truncate("  "+m, width, "…"))
		}
	} else {
		head = st.heading(head)
	}
	b.WriteString(head + "\n")

	const label = "  per request  "
	writeItemLines(b, st.faint("  service      "), len(label), "", serviceItems(&f.Service), width)
	if len(f.Service.Time) > 0 {
		writeItemLines(b, st.faint(label), len(label), "", partItems(f.Service.Time), width)
	}
	if items := perRequestItems(&f.Service.Rates); len(items) > 0 {
		writeItemLines(b, st.faint("  sources/req  "), len(label), "", items, width)
	}
	if f.Host != nil {
		writeLabeled(b, "  ", "host         ", sanitize(HostText(f.Host)), width, st)
	}
	if f.KernelQueue != nil {
		writeLabeled(b, "  ", "kernel queue ", sanitize(KernelQueueText(f.KernelQueue, f.Service.MeanMS)), width, st)
	}
	p.routes(b, f, st, width)
	for i, h := range f.Handlers {
		if i == maxHandlers {
			fmt.Fprintf(b, "  %s\n", st.faint(fmt.Sprintf("and %d more handlers", len(f.Handlers)-maxHandlers)))
			break
		}
		name := sanitize(shortHandler(h.Handler)) + " " + shareText(h.Share) + " of samples:"
		writeItemLines(b, st.faint("  handler      "), len(label), name, handlerItems(h.Time), width)
	}
	for _, n := range f.Notes {
		writeLabeled(b, "  ", "note: ", sanitize(n), width, st)
	}
}

// routes writes the table of the top routes: rate, p50, p95, in flight and
// share of the service's time, with a route's parts under it when they are
// told apart. Narrow widths drop the p50, then the in-flight column.
func (p *Text) routes(b *bytes.Buffer, f *Figures, st textStyles, width int) {
	if len(f.Routes) == 0 {
		return
	}
	type col struct {
		title string
		width int
		cell  func(r *RouteFigures) string
	}
	cols := []col{
		{"RATE", 7, func(r *RouteFigures) string { return rateText(r.RPS) }},
		{"P50", 7, func(r *RouteFigures) string { return optPercentile(r.P50MS, r.LatencyBucketsMS) }},
		{"P95", 7, func(r *RouteFigures) string { return optPercentile(r.P95MS, r.LatencyBucketsMS) }},
		{"IN FLIGHT", 9, func(r *RouteFigures) string { return inFlightText(r.InFlight) }},
		{"SHARE", 5, func(r *RouteFigures) string { return routeShare(r) }},
	}
	shown := f.Routes[:min(len(f.Routes), maxRoutes)]
	nameW := len("ROUTE")
	for i := range shown {
		nameW = max(nameW, ansi.StringWidth(routeName(shown[i].Method, shown[i].Route)))
	}
	fixed := func() int {
		n := 2
		for _, c := range cols {
			n += 2 + c.width
		}
		return n
	}
	const minName = 16
	for _, drop := range []string{"P50", "IN FLIGHT"} {
		if width-fixed() >= minName {
			break
		}
		for i, c := range cols {
			if c.title == drop {
				cols = append(cols[:i], cols[i+1:]...)
				break
			}
		}
	}
	nameW = max(min(nameW, width-fixed()), 5)

	var hb strings.Builder
	hb.WriteString("  " + fmt.Sprintf("%-*s", nameW, "ROUTE"))
	for _, c := range cols {
		fmt.Fprintf(&hb, "  %*s", c.width, c.title)
	}
	b.WriteString(st.faint(hb.String()) + "\n")
	for i := range shown {
		r := &shown[i]
		name := routeName(r.Method, r.Route)
		if ansi.StringWidth(name) > nameW {
			name = ansi.Truncate(name, nameW, "…")
		}
		var lb strings.Builder
		lb.WriteString("  " + name + strings.Repeat(" ", nameW-ansi.StringWidth(name)))
		for _, c := range cols {
			fmt.Fprintf(&lb, "  %*s", c.width, c.cell(r))
		}
		b.WriteString(lb.String() + "\n")
		if len(r.Time) > 0 && len(f.Routes) > 1 {
			writeItemLines(b, "    ", 4, "", partItems(r.Time), width)
		}
	}
	if rest := f.Routes[len(shown):]; len(rest) > 0 {
		var share float64
		for _, r := range rest {
			share += r.Share
		}
		fmt.Fprintf(b, "  %s\n", st.faint(fmt.Sprintf("and %d more routes, %s of the time", len(rest), shareText(share))))
	}
}

// writeItemLines writes prefix, then head and the items separated by " · ",
// breaking lines between items only (an item wider than a line is
// wrapped); continuation lines are indented by indent columns.
func writeItemLines(b *bytes.Buffer, prefix string, indent int, head string, items []string, width int) {
	avail := width - indent
	var lines []string
	line := head
	const sep = " · "
	for i, it := range items {
		join := sep
		if i == 0 {
			join = " "
		}
		switch {
		case line == "":
			line = it
		case ansi.StringWidth(line+join+it) <= avail:
			line += join + it
		default:
			lines = append(lines, line)
			line = it
		}
	}
	if line != "" {
		lines = append(lines, line)
	}
	var out []string
	for _, l := range lines {
		if ansi.StringWidth(l) > avail {
			out = append(out, Wrap(l, avail)...)
		} else {
			out = append(out, l)
		}
	}
	if len(out) == 0 {
		out = []string{""}
	}
	b.WriteString(prefix + out[0] + "\n")
	for _, l := range out[1:] {
		b.WriteString(strings.Repeat(" ", indent) + l + "\n")
	}
}

// writeSaving writes what a finding's fix saves, and on what basis.
func writeSaving(b *bytes.Buffer, indent string, s *rules.Saving, width int, st textStyles) {
	text := savingText(s)
	if text == "" {
		return
	}
	if basis := strings.TrimSpace(sanitize(s.Basis)); basis != "" {
		text += ": " + basis
	}
	for _, l := range Wrap(text, width-len(indent)) {
		b.WriteString(indent + l + "\n")
	}
}
