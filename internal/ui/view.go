package ui

// The screen: the tabs and status line around the active pane, laid out to
// the terminal's size.

import (
	"fmt"
	"strings"

	"github.com/charmbracelet/x/ansi"

	"github.com/pgadvisor/advisor/internal/probe"
	"github.com/pgadvisor/advisor/internal/probe/source"
)

// chrome returns the lines above and below the pane.
func (m *Model) chrome() (top, bottom []string) {
	top = []string{m.tabs()}
	if f, ok := m.panes[m.active].(filterable); ok && (m.filtering || f.Filter() != "") {
		line := "/" + f.Filter()
		if m.filtering {
			line += "█  (enter: keep, esc: clear)"
		}
		bottom = append(bottom, fit(m.st.Message.Render(line), m.width))
	}
	bottom = append(bottom, m.statusLine())
	m.help.Width = m.width
	_, filter := m.panes[m.active].(filterable)
	hk := helpKeys{km: m.km, pane: m.panes[m.active].Keys(), filter: filter, paused: m.paused}
	var helpView string
	if m.help.ShowAll {
		helpView = fullHelp(m.help, hk.FullHelp(), m.width)
	} else {
		keys, always := hk.shortKeys()
		helpView = shortHelp(m.help, keys, always, m.width)
	}
	for _, l := range strings.Split(helpView, "\n") {
		bottom = append(bottom, fit(l, m.width))
	}
	return top, bottom
}

func (m *Model) layout() {
	top, bottom := m.chrome()
	h := max(m.height-len(top)-len(bottom), 1)
	for _, p := range m.panes {
		p.SetSize(m.width, h)
	}
}

// View renders the screen: exactly the terminal's height.
func (m *Model) View() string {
	if m.quitting || m.opts.Headless {
		return ""
	}
	top, bottom := m.chrome()
	h := max(m.height-len(top)-len(bottom), 1)
	lines := append([]string{}, top...)
	lines = append(lines, block(m.panes[m.active].View(), m.width, h))
	lines = append(lines, bottom...)
	return strings.Join(lines, "\n")
}

func (m *Model) tabs() string {
	labels := make([]string, len(m.panes))
	width := 0
	for i, p := range m.panes {
		label := fmt.Sprintf("%d %s", i+1, p.Title())
		if i == m.active {
			label = "[" + label + "]"
		}
		width += ansi.StringWidth(label)
		labels[i] = label
	}
	sep := "  "
	if width+2*(len(labels)-1)+len("advisor ") > m.width {
		sep = " "
	}
	for i, l := range labels {
		if i == m.active {
			labels[i] = m.st.ActiveTab.Render(l)
		} else {
			labels[i] = m.st.Tab.Render(l)
		}
	}
	line := strings.Join(labels, sep)
	if name := "advisor "; width+len(sep)*(len(labels)-1)+len(name) <= m.width {
		line = m.st.Section.Render(name) + line
	}
	if src := "   " + m.opts.Sources; m.opts.Sources != "" && ansi.StringWidth(line+src) <= m.width {
		line += m.st.Dim.Render(src)
	}
	return fit(line, m.width)
}

// statusLine shows each source's state, then the last message or when the
// data was read.
func (m *Model) statusLine() string {
	var parts []string
	w := m.data.Window
	for _, name := range probe.SourceNames {
		var st source.Status
		if w != nil {
			st = w.Status(name)
		} else if prev := m.session.Prev(); prev != nil {
			st = prev.Status[name]
		}
		parts = append(parts, name+" "+m.stateWord(st))
	}
	line := strings.Join(parts, "  ")
	if m.paused {
		line = m.st.Paused.Render("PAUSED") + "  " + line
	}
	right := m.message
	if right != "" && m.opts.Now().Sub(m.messageAt) > messageTTL && !m.polling && !m.profiling {
		right = ""
	}
	if right == "" {
		switch {
		case w != nil && w.Cumulative:
			right = "totals since reset; rates from the next window · " + m.data.At.Format("15:04:05")
		case w != nil:
			right = fmt.Sprintf("window %.1fs · %s", w.Seconds, m.data.At.Format("15:04:05"))
		case m.opts.Prober != nil:
			right = "waiting for the first reading…"
		}
		if m.paused && m.heldReadings > 0 {
			right += " · " + plural(m.heldReadings, "new reading", "new readings") + " held"
		}
	}
	if m.profiling && !strings.HasPrefix(right, "taking") {
		right = "profiling… · " + right
	}
	if right != "" {
		line += "  │ " + m.st.Message.Render(right)
	}
	return fit(m.st.Status.Render(line), m.width)
}

func (m *Model) stateWord(st source.Status) string {
	switch {
	case st.State == "":
		return m.st.Dim.Render("…")
	case st.Ok():
		return m.st.OK.Render("ok")
	case strings.HasPrefix(st.Detail, "not configured"), strings.HasPrefix(st.Detail, "not applicable"):
		return m.st.Dim.Render("off")
	case st.State == source.Error:
		return m.st.Lost.Render("ERROR")
	}
	return m.st.Lost.Render("LOST")
}
