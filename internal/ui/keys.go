package ui

import (
	"strconv"

	"github.com/charmbracelet/bubbles/key"
)

// KeyMap holds the global key bindings.
type KeyMap struct {
	Next, Prev, Jump      key.Binding
	Panes                 key.Binding // tab and the numbers, as one line of the short help
	Up, Down, Top, Bottom key.Binding
	PageUp, PageDown      key.Binding
	Enter, Back           key.Binding
	Filter, Sort          key.Binding
	Profile, Refresh      key.Binding
	Export, Copy          key.Binding
	Help, Quit            key.Binding
}

// DefaultKeyMap returns the key bindings of the UI.
func DefaultKeyMap() KeyMap {
	return KeyMap{
		Next:     key.NewBinding(key.WithKeys("tab"), key.WithHelp("tab", "next pane")),
		Panes:    key.NewBinding(key.WithKeys("tab"), key.WithHelp("tab/1-8", "pane")),
		Prev:     key.NewBinding(key.WithKeys("shift+tab"), key.WithHelp("shift+tab", "previous pane")),
		Jump:     key.NewBinding(key.WithKeys("1", "2", "3", "4", "5", "6", "7", "8"), key.WithHelp("1-8", "pane")),
		Up:       key.NewBinding(key.WithKeys("up", "k"), key.WithHelp("↑/k", "up")),
		Down:     key.NewBinding(key.WithKeys("down", "j"), key.WithHelp("↓/j", "down")),
		Top:      key.NewBinding(key.WithKeys("home", "g"), key.WithHelp("g", "top")),
		Bottom:   key.NewBinding(key.WithKeys("end", "G"), key.WithHelp("G", "bottom")),
		PageUp:   key.NewBinding(key.WithKeys("pgup", "ctrl+u"), key.WithHelp("pgup", "page up")),
		PageDown: key.NewBinding(key.WithKeys("pgdown", "ctrl+d"), key.WithHelp("pgdn", "page down")),
		Enter:    key.NewBinding(key.WithKeys("enter"), key.WithHelp("enter", "open")),
		Back:     key.NewBinding(key.WithKeys("esc", "backspace"), key.WithHelp("esc", "back")),
		Filter:   key.NewBinding(key.WithKeys("/"), key.WithHelp("/", "filter")),
		Sort:     key.NewBinding(key.WithKeys("s"), key.WithHelp("s", "sort")),
		Profile:  key.NewBinding(key.WithKeys("p"), key.WithHelp("p", "CPU profile")),
		Refresh:  key.NewBinding(key.WithKeys("r"), key.WithHelp("r", "refresh")),
		Export:   key.NewBinding(key.WithKeys("e"), key.WithHelp("e", "export report")),
		Copy:     key.NewBinding(key.WithKeys("y"), key.WithHelp("y", "copy fix")),
		Help:     key.NewBinding(key.WithKeys("?"), key.WithHelp("?", "help")),
		Quit:     key.NewBinding(key.WithKeys("q", "ctrl+c"), key.WithHelp("q", "quit")),
	}
}

// helpKeys is the help.KeyMap of one pane: the pane's own bindings between
// the navigation and the global ones.
type helpKeys struct {
	km   KeyMap
	pane []key.Binding
}

func (h helpKeys) ShortHelp() []key.Binding {
	out := []key.Binding{h.km.Panes}
	out = append(out, h.pane...)
	return append(out, h.km.Filter, h.km.Profile, h.km.Export, h.km.Help, h.km.Quit)
}

func (h helpKeys) FullHelp() [][]key.Binding {
	return [][]key.Binding{
		{h.km.Next, h.km.Prev, h.km.Jump, h.km.Help, h.km.Quit},
		{h.km.Up, h.km.Down, h.km.PageUp, h.km.PageDown, h.km.Top, h.km.Bottom},
		append(append([]key.Binding{}, h.pane...), h.km.Filter),
		{h.km.Profile, h.km.Refresh, h.km.Export, h.km.Copy},
	}
}

func itoa(n int) string { return strconv.Itoa(n) }
