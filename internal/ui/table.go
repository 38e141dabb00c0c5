package ui

import (
	"strings"
)

// column of a table. The columns with Flex share the width left by the
// others (each at least Width).
type column struct {
	Title string
	Width int
	Right bool
	Flex  bool
}

// row of a table. Key identifies the row across updates so that the cursor
// stays on it; Filter is the text the filter matches (the cells when empty).
type row struct {
	Key    string
	Cells  []string
	Filter string
}

// table is a scrolling, filterable list with a cursor. It renders only the
// rows on screen, so its cost per frame does not grow with the rows.
type table struct {
	cols   []column
	rows   []row
	shown  []int // indices of the rows the filter keeps
	cursor int   // index into shown
	offset int   // first shown row on screen
	width  int
	height int // lines, header included
	filter string
	empty  string
	st     *Styles
	// focused draws the cursor; an unfocused table shows no selection.
	focused bool
}

func newTable(st *Styles, empty string, cols ...column) *table {
	return &table{cols: cols, st: st, empty: empty, focused: true}
}

// setRows replaces the rows, keeping the cursor on the row with the same key.
func (t *table) setRows(rows []row) {
	var key string
	if r, ok := t.selected(); ok {
		key = r.Key
	}
	t.rows = rows
	t.apply(key)
}

// setFilter keeps the rows whose text holds every word of f (case
// insensitive).
func (t *table) setFilter(f string) {
	var key string
	if r, ok := t.selected(); ok {
		key = r.Key
	}
	t.filter = f
	t.apply(key)
}

func (t *table) apply(key string) {
	words := strings.Fields(strings.ToLower(t.filter))
	t.shown = t.shown[:0]
	for i := range t.rows {
		if len(words) > 0 && !matchAll(&t.rows[i], words) {
			continue
		}
		t.shown = append(t.shown, i)
	}
	t.cursor = 0
	if key != "" {
		for i, ri := range t.shown {
			if t.rows[ri].Key == key {
				t.cursor = i
				break
			}
		}
	}
	t.clamp()
}

func matchAll(r *row, words []string) bool {
	text := r.Filter
	if text == "" {
		text = strings.Join(r.Cells, " ")
	}
	text = strings.ToLower(text)
	for _, w := range words {
		if !strings.Contains(text, w) {
			return false
		}
	}
	return true
}

func (t *table) setSize(width, height int) {
	t.width, t.height = width, height
	t.clamp()
}

// visible is the number of row lines on screen.
func (t *table) visible() int { return max(t.height-1, 0) }

func (t *table) clamp() {
	if t.cursor >= len(t.shown) {
		t.cursor = len(t.shown) - 1
	}
	if t.cursor < 0 {
		t.cursor = 0
	}
	v := t.visible()
	if t.cursor < t.offset {
		t.offset = t.cursor
	}
	if v > 0 && t.cursor >= t.offset+v {
		t.offset = t.cursor - v + 1
	}
	if maxOff := len(t.shown) - v; t.offset > maxOff {
		t.offset = max(maxOff, 0)
	}
}

// move moves the cursor by delta rows.
func (t *table) move(delta int) {
	t.cursor += delta
	t.clamp()
}

// home and end jump to the first and the last row.
func (t *table) home() { t.cursor = 0; t.clamp() }
func (t *table) end()  { t.cursor = len(t.shown) - 1; t.clamp() }

func (t *table) selected() (row, bool) {
	if t.cursor < 0 || t.cursor >= len(t.shown) {
		return row{}, false
	}
	return t.rows[t.shown[t.cursor]], true
}

// len is the number of rows the filter keeps.
func (t *table) len() int { return len(t.shown) }

// widths lays the columns out in the table's width (one space between).
func (t *table) widths() []int {
	ws := make([]int, len(t.cols))
	used := 0
	var flex []int
	for i, c := range t.cols {
		ws[i] = c.Width
		used += c.Width
		if c.Flex {
			flex = append(flex, i)
		}
	}
	used += len(t.cols) - 1 + 2 // separators, cursor mark
	if extra := t.width - used; len(flex) > 0 && extra > 0 {
		for n, i := range flex {
			share := extra / len(flex)
			if n == len(flex)-1 {
				share = extra - share*(len(flex)-1)
			}
			ws[i] += share
		}
	}
	return ws
}

// view renders the header and the rows on screen, exactly t.height lines.
func (t *table) view() string {
	if t.height <= 0 {
		return ""
	}
	ws := t.widths()
	var b strings.Builder
	cells := make([]string, len(t.cols))
	for i, c := range t.cols {
		cells[i] = align(c.Title, ws[i], c.Right)
	}
	b.WriteString(fit(t.st.Header.Render("  "+strings.Join(cells, " ")), t.width))
	lines := 1
	if len(t.shown) == 0 {
		msg := t.empty
		if t.filter != "" && len(t.rows) > 0 {
			msg = "no row matches the filter /" + t.filter
		}
		b.WriteString("\n" + fit("  "+t.st.Dim.Render(msg), t.width))
		lines++
	}
	end := min(t.offset+t.visible(), len(t.shown))
	for i := t.offset; i < end; i++ {
		r := &t.rows[t.shown[i]]
		for j := range t.cols {
			v := ""
			if j < len(r.Cells) {
				v = r.Cells[j]
			}
			cells[j] = align(v, ws[j], t.cols[j].Right)
		}
		line := strings.Join(cells, " ")
		if t.focused && i == t.cursor {
			line = t.st.Selected.Render(fit("> "+line, t.width))
		} else {
			line = "  " + line
		}
		b.WriteString("\n" + fit(line, t.width))
		lines++
	}
	for ; lines < t.height; lines++ {
		b.WriteString("\n")
	}
	return b.String()
}

func align(s string, w int, right bool) string {
	if right {
		return padLeft(s, w)
	}
	return pad(s, w)
}

// position says where the cursor is, e.g. "12/340".
func (t *table) position() string {
	if len(t.shown) == 0 {
		return "0/0"
	}
	return itoa(t.cursor+1) + "/" + itoa(len(t.shown))
}
