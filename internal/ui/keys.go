package ui

import (
	"slices"
	"strconv"
	"strings"

	"github.com/charmbracelet/bubbles/help"
	"github.com/charmbracelet/bubbles/key"
	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/x/ansi"
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
	Pause, Save           key.Binding
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
		Pause:    key.NewBinding(key.WithKeys(" "), key.WithHelp("space", "pause")),
		Save:     key.NewBinding(key.WithKeys("w"), key.WithHelp("w", "save profiles")),
		Help:     key.NewBinding(key.WithKeys("?"), key.WithHelp("?", "help")),
		Quit:     key.NewBinding(key.WithKeys("q", "ctrl+c"), key.WithHelp("q", "quit")),
	}
}

// helpKeys is the help.KeyMap of one pane: the pane's own bindings between
// the navigation and the global ones.
type helpKeys struct {
	km   KeyMap
	pane []key.Binding
	// filter is set when the pane takes the / filter.
	filter bool
	// paused turns the pause key's help into "resume".
	paused bool
}

func (h helpKeys) pause() key.Binding {
	if h.paused {
		return withHelp(h.km.Pause, "space", "resume")
	}
	return h.km.Pause
}

// ShortHelp lists the keys of the one-line help, by priority: the panes,
// the pane's own keys, the global ones, then ? and q.
func (h helpKeys) ShortHelp() []key.Binding {
	keys, always := h.shortKeys()
	return append(keys, always...)
}

// shortKeys are the keys of the one-line help that may be left out when
// the line is too narrow, by priority, and those always shown: ? and q,
// and while paused the key that resumes.
func (h helpKeys) shortKeys() (keys, always []key.Binding) {
	keys = []key.Binding{h.km.Panes}
	keys = append(keys, h.pane...)
	if h.filter {
		keys = append(keys, h.km.Filter)
	}
	if h.paused {
		always = append(always, h.pause())
	} else {
		keys = append(keys, h.pause())
	}
	keys = append(keys, h.km.Profile, h.km.Save, h.km.Export)
	return keys, append(always, h.km.Help, h.km.Quit)
}

func (h helpKeys) FullHelp() [][]key.Binding {
	pane := append([]key.Binding{}, h.pane...)
	if h.filter {
		pane = append(pane, h.km.Filter)
	}
	// The actions, less those the pane lists already (y on Findings).
	var actions []key.Binding
	for _, b := range []key.Binding{h.pause(), h.km.Refresh, h.km.Profile, h.km.Save, h.km.Export, h.km.Copy} {
		if !slices.ContainsFunc(pane, func(p key.Binding) bool { return p.Help().Key == b.Help().Key }) {
			actions = append(actions, b)
		}
	}
	return [][]key.Binding{
		{h.km.Next, h.km.Prev, h.km.Jump, h.km.Help, h.km.Quit},
		{h.km.Up, h.km.Down, h.km.PageUp, h.km.PageDown, h.km.Top, h.km.Bottom},
		pane,
		actions,
	}
}

// shortHelp renders the one-line help in width cells: as many of keys as
// fit, in their order (a key too wide is passed over for a later one that
// fits), then always, which are never dropped.
func shortHelp(h help.Model, keys, always []key.Binding, width int) string {
	h.Width = 0 // no truncation: the keys are chosen to fit
	budget := width - ansi.StringWidth(h.ShortHelpView(always)) - ansi.StringWidth(h.ShortSeparator)
	var kept []key.Binding
	for _, b := range keys {
		try := append(kept[:len(kept):len(kept)], b)
		if ansi.StringWidth(h.ShortHelpView(try)) <= budget {
			kept = try
		}
	}
	return h.ShortHelpView(append(kept, always...))
}

// fullHelp renders the columns of the full help side by side, starting a
// new row of columns below when the next one would not fit in width.
func fullHelp(h help.Model, groups [][]key.Binding, width int) string {
	h.Width = 0 // bubbles' help drops the columns that do not fit
	var rows []string
	var cur [][]key.Binding
	for _, g := range groups {
		if len(g) == 0 {
			continue
		}
		try := append(cur[:len(cur):len(cur)], g)
		if len(cur) > 0 && lipgloss.Width(h.FullHelpView(try)) > width {
			rows = append(rows, h.FullHelpView(cur))
			try = [][]key.Binding{g}
		}
		cur = try
	}
	return strings.Join(append(rows, h.FullHelpView(cur)), "\n")
}

func itoa(n int) string { return strconv.Itoa(n) }
