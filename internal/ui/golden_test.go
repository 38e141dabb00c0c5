package ui

import (
	"fmt"
	"strings"
	"testing"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/x/ansi"
	"github.com/charmbracelet/x/exp/golden"
	"github.com/muesli/termenv"
	"go.uber.org/goleak"

	"github.com/pgadvisor/advisor/internal/rules"
)

func TestMain(m *testing.M) {
	// Pin the colour profile: the goldens are compared with the styles
	// stripped, but the styles must be rendered the same on every machine.
	lipgloss.SetColorProfile(termenv.TrueColor)
	goleak.VerifyTestMain(m,
		// teatest.NewTestModel waits for a SIGINT on a channel of its own, which nothing else can close.
		goleak.IgnoreTopFunction("github.com/charmbracelet/x/exp/teatest.NewTestModel.func2"))
}

func sizeMsg(w, h int) tea.WindowSizeMsg { return tea.WindowSizeMsg{Width: w, Height: h} }

func keyMsg(s string) tea.KeyMsg {
	switch s {
	case "enter":
		return tea.KeyMsg{Type: tea.KeyEnter}
	case "esc":
		return tea.KeyMsg{Type: tea.KeyEsc}
	case "tab":
		return tea.KeyMsg{Type: tea.KeyTab}
	case "shift+tab":
		return tea.KeyMsg{Type: tea.KeyShiftTab}
	case "down":
		return tea.KeyMsg{Type: tea.KeyDown}
	case "backspace":
		return tea.KeyMsg{Type: tea.KeyBackspace}
	case "space":
		// As bubbletea reads the space bar.
		return tea.KeyMsg{Type: tea.KeySpace, Runes: []rune{' '}}
	}
	return tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune(s)}
}

// screen renders the model as a terminal shows it: styles stripped, and
// checked to fit the terminal.
func screen(t testing.TB, m *Model, width, height int) string {
	t.Helper()
	out := ansi.Strip(m.View())
	lines := strings.Split(out, "\n")
	if len(lines) != height {
		t.Errorf("view has %d lines, want %d", len(lines), height)
	}
	for i, l := range lines {
		if w := ansi.StringWidth(l); w > width {
			t.Errorf("line %d is %d cells wide, more than %d: %q", i+1, w, width, l)
		}
	}
	return out
}

func TestGoldenPanes(t *testing.T) {
	sizes := [][2]int{{80, 24}, {100, 30}, {160, 48}}
	cases := []struct {
		name string
		keys []string
	}{
		{"overview", []string{"1"}},
		{"findings", []string{"2"}},
		{"finding-detail", []string{"2", "enter"}},
		{"queries", []string{"3"}},
		{"queries-plan", []string{"3", "enter"}},
		{"queries-by-calls", []string{"3", "s"}},
		{"tables", []string{"4"}},
		{"pools", []string{"5"}},
		{"redis", []string{"6"}},
		{"runtime", []string{"7"}},
		{"time", []string{"8"}},
		{"time-handlers", []string{"8", "h", "down"}},
		{"full-help", []string{"?"}},
		{"full-help-findings", []string{"2", "?"}},
		{"filter", []string{"3", "/", "o", "r", "d", "e", "r"}},
		{"paused", []string{"2", "space"}},
	}
	for _, size := range sizes {
		for _, c := range cases {
			t.Run(fmt.Sprintf("%s-%dx%d", c.name, size[0], size[1]), func(t *testing.T) {
				m := fixtureModel(t, size[0], size[1])
				for _, k := range c.keys {
					feed(m, keyMsg(k))
				}
				golden.RequireEqual(t, screen(t, m, size[0], size[1]))
			})
		}
	}
}

// TestGoldenTime renders the Time pane alone at 100 and 80 columns: for a
// Go service (goroutine dumps, handlers) and for a service split from its
// metrics and database (one route, an in-flight gauge, a note).
func TestGoldenTime(t *testing.T) {
	for _, tc := range []struct {
		name  string
		split func() *rules.TimeSplit
	}{
		{"go", func() *rules.TimeSplit { return fixtureSplit(fixtureWindow(39)) }},
		{"python", fixturePythonSplit},
		{"no-metrics", func() *rules.TimeSplit {
			return &rules.TimeSplit{Notes: []string{"no request metrics: the split needs the service's HTTP request counters and latency histograms"}}
		}},
	} {
		for _, size := range [][2]int{{100, 30}, {80, 20}} {
			t.Run(fmt.Sprintf("%s-%dx%d", tc.name, size[0], size[1]), func(t *testing.T) {
				p := newTimePane(&shared{st: DefaultStyles(), km: DefaultKeyMap()})
				p.SetSize(size[0], size[1])
				p.SetData(&Data{Window: fixtureWindow(39), Split: tc.split()})
				out := ansi.Strip(p.View())
				lines := strings.Split(out, "\n")
				if len(lines) != size[1] {
					t.Errorf("%d lines, want %d", len(lines), size[1])
				}
				for i, l := range lines {
					if w := ansi.StringWidth(l); w > size[0] {
						t.Errorf("line %d is %d cells wide: %q", i+1, w, l)
					}
				}
				golden.RequireEqual(t, out)
			})
		}
	}
}

// fixturePythonSplit is the split of a Python service from its metrics and
// its database.
func fixturePythonSplit() *rules.TimeSplit {
	route := rules.Span{Route: "/items/{item_id}", Method: "GET", RPS: 18.4, HasLatency: true, MeanMS: 1650, P50MS: 1400, P95MS: 1900,
		InFlight: 18.4 * 1.65, InFlightFrom: "rate x latency", Share: 1}
	svc := route
	svc.Route, svc.Method = "", ""
	svc.InFlight, svc.InFlightFrom = 30.2, "gauge"
	svc.Parts = []rules.Part{
		{Name: rules.PartDB, MSPerRequest: 42.3, Share: 42.3 / 1650, From: "pg_stat_statements"},
		{Name: rules.PartOther, MSPerRequest: 1650 - 42.3, Share: (1650 - 42.3) / 1650, From: "the rest"},
	}
	route.Parts = svc.Parts
	return &rules.TimeSplit{Runtime: "python", Method: "metrics and database", Service: svc, Routes: []rules.Span{route},
		Host:   &rules.HostCPU{Cores: 2, BusyCores: 0.4, BusyShare: 0.2, MSPerRequest: 400 / 18.4},
		Kernel: &rules.KernelQueue{Queued: 1.2, WaitMS: 1.2 / 18.4 * 1000, Readings: 40},
		Notes:  []string{"no process CPU metric (process_cpu_seconds_total): CPU time is counted in other"}}
}
