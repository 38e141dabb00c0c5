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
	sizes := [][2]int{{80, 24}, {160, 48}}
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
		{"full-help", []string{"?"}},
		{"filter", []string{"3", "/", "o", "r", "d", "e", "r"}},
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
