package ui

import (
	"github.com/charmbracelet/lipgloss"

	"github.com/pgadvisor/advisor/internal/rules"
)

// Styles are the lipgloss styles of the UI. Every distinction they draw is
// also written in text (severity labels, the ">" of the selected row, the
// brackets of the active tab), so that the UI reads the same under NO_COLOR,
// where lipgloss renders no style at all.
type Styles struct {
	Tab, ActiveTab  lipgloss.Style
	Header          lipgloss.Style
	Selected        lipgloss.Style
	Section         lipgloss.Style
	Dim             lipgloss.Style
	OK, Lost        lipgloss.Style
	Critical        lipgloss.Style
	Warning         lipgloss.Style
	Info            lipgloss.Style
	Chart           lipgloss.Style
	Status, Message lipgloss.Style
	// Paused marks the status line while the readings are frozen.
	Paused lipgloss.Style
}

// DefaultStyles returns the styles, rendered with lipgloss' default renderer
// (which honours NO_COLOR).
func DefaultStyles() *Styles {
	return &Styles{
		Tab:       lipgloss.NewStyle().Foreground(lipgloss.Color("245")),
		ActiveTab: lipgloss.NewStyle().Bold(true).Foreground(lipgloss.Color("212")),
		Header:    lipgloss.NewStyle().Bold(true).Foreground(lipgloss.Color("250")),
		Selected:  lipgloss.NewStyle().Reverse(true),
		Section:   lipgloss.NewStyle().Bold(true).Foreground(lipgloss.Color("111")),
		Dim:       lipgloss.NewStyle().Foreground(lipgloss.Color("243")),
		OK:        lipgloss.NewStyle().Foreground(lipgloss.Color("42")),
		Lost:      lipgloss.NewStyle().Bold(true).Foreground(lipgloss.Color("196")),
		Critical:  lipgloss.NewStyle().Bold(true).Foreground(lipgloss.Color("196")),
		Warning:   lipgloss.NewStyle().Foreground(lipgloss.Color("214")),
		Info:      lipgloss.NewStyle().Foreground(lipgloss.Color("75")),
		Chart:     lipgloss.NewStyle().Foreground(lipgloss.Color("79")),
		Status:    lipgloss.NewStyle().Foreground(lipgloss.Color("250")),
		Message:   lipgloss.NewStyle().Foreground(lipgloss.Color("229")),
		Paused:    lipgloss.NewStyle().Bold(true).Reverse(true),
	}
}

// severity renders a severity's four-letter label in its style.
func (s *Styles) severity(sev rules.Severity) string {
	switch sev {
	case rules.Critical:
		return s.Critical.Render("CRIT")
	case rules.Warning:
		return s.Warning.Render("WARN")
	case rules.Info:
		return s.Info.Render("INFO")
	}
	return "----"
}
