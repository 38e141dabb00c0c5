package ui

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"

	"github.com/pgadvisor/advisor/internal/probe/postgres"
)

// tablesPane lists the user tables and their indexes over the window, the
// tables by sequential reads, the indexes by scans.
type tablesPane struct {
	sh            *shared
	data          *Data
	tables        *table
	indexes       *table
	onIndexes     bool
	width, height int
}

func newTablesPane(sh *shared) *tablesPane {
	p := &tablesPane{sh: sh, data: &Data{}}
	p.tables = newTable(sh.st, "no user table read",
		column{Title: "TABLE", Width: 18, Flex: true},
		column{Title: "SEQ/S", Width: 6, Right: true},
		column{Title: "SEQ ROWS/S", Width: 10, Right: true},
		column{Title: "IDX/S", Width: 7, Right: true},
		column{Title: "WRITES/S", Width: 8, Right: true},
		column{Title: "LIVE ROWS", Width: 9, Right: true},
		column{Title: "SIZE", Width: 9, Right: true},
	)
	p.indexes = newTable(sh.st, "no index read",
		column{Title: "INDEX", Width: 24, Flex: true},
		column{Title: "TABLE", Width: 12},
		column{Title: "SCANS/S", Width: 7, Right: true},
		column{Title: "SCANS", Width: 8, Right: true},
		column{Title: "SIZE", Width: 9, Right: true},
		column{Title: "KIND", Width: 8},
	)
	p.indexes.focused = false
	return p
}

func (p *tablesPane) Title() string { return "Tables" }

func (p *tablesPane) SetSize(width, height int) {
	p.width, p.height = width, height
	th := (height - 2) / 2
	p.tables.setSize(width, th)
	p.indexes.setSize(width, height-2-th)
}

func (p *tablesPane) SetData(d *Data) {
	p.data = d
	var trows, irows []row
	if w := d.Window; w != nil && w.Postgres != nil {
		ts := slices.Clone(w.Postgres.Tables)
		slices.SortStableFunc(ts, func(a, b postgres.TableDelta) int {
			if c := cmpDesc(a.SeqTupPerS, b.SeqTupPerS); c != 0 {
				return c
			}
			if c := cmpDesc(a.IdxScanPerS, b.IdxScanPerS); c != 0 {
				return c
			}
			return strings.Compare(a.Name, b.Name)
		})
		for _, t := range ts {
			name := t.Name
			if t.Schema != "public" && t.Schema != "" {
				name = t.Schema + "." + t.Name
			}
			trows = append(trows, row{Key: strconv.FormatUint(uint64(t.RelID), 10), Cells: []string{
				name, num(t.SeqScanPerS), num(t.SeqTupPerS), num(t.IdxScanPerS), num(t.WritesPerS),
				num(float64(t.Table.LiveTup)), bytesText(float64(t.Table.TotalBytes))}})
		}
		is := slices.Clone(w.Postgres.Indexes)
		slices.SortStableFunc(is, func(a, b postgres.IndexDelta) int {
			if c := cmpDesc(a.ScanPerS, b.ScanPerS); c != 0 {
				return c
			}
			return strings.Compare(a.Index.Name, b.Index.Name)
		})
		for _, ix := range is {
			kind := ix.Index.Method
			switch {
			case !ix.Index.Valid:
				kind = "INVALID"
			case ix.Index.Primary:
				kind = "primary"
			case ix.Index.Unique:
				kind = "unique"
			}
			irows = append(irows, row{Key: strconv.FormatUint(uint64(ix.RelID), 10), Cells: []string{
				ix.Index.Name, ix.Index.Table, num(ix.ScanPerS), num(float64(ix.Index.Scan)),
				bytesText(float64(ix.Index.Bytes)), kind},
				Filter: ix.Index.Name + " " + ix.Index.Table + " " + ix.Index.Definition})
		}
	}
	p.tables.setRows(trows)
	p.indexes.setRows(irows)
}

func cmpDesc(a, b float64) int {
	switch {
	case a > b:
		return -1
	case a < b:
		return 1
	}
	return 0
}

func (p *tablesPane) SetFilter(f string) { p.tables.setFilter(f); p.indexes.setFilter(f) }
func (p *tablesPane) Filter() string     { return p.tables.filter }

var switchList = key.NewBinding(key.WithKeys("i"), key.WithHelp("i", "tables/indexes"))

func (p *tablesPane) Keys() []key.Binding { return []key.Binding{switchList} }

func (p *tablesPane) Update(msg tea.Msg) tea.Cmd {
	km, ok := msg.(tea.KeyMsg)
	if !ok {
		return nil
	}
	if key.Matches(km, switchList) {
		p.onIndexes = !p.onIndexes
		p.tables.focused, p.indexes.focused = !p.onIndexes, p.onIndexes
		return nil
	}
	if p.onIndexes {
		navigate(p.indexes, km, p.sh.km)
	} else {
		navigate(p.tables, km, p.sh.km)
	}
	return nil
}

func (p *tablesPane) View() string {
	st := p.sh.st
	w := p.data.Window
	if w == nil || w.Postgres == nil {
		msg := "waiting for PostgreSQL…"
		if w != nil {
			msg = "PostgreSQL not read: " + w.Status("postgres").Detail
		}
		return block(st.Dim.Render(msg), p.width, p.height)
	}
	th := fmt.Sprintf("Tables %s  ", p.tables.position())
	ih := fmt.Sprintf("Indexes %s  ", p.indexes.position())
	return block(st.Section.Render(th)+st.Dim.Render("by rows read sequentially per second")+"\n"+p.tables.view()+"\n"+
		st.Section.Render(ih)+st.Dim.Render("scans in the window and since the statistics were reset")+"\n"+p.indexes.view(), p.width, p.height)
}
