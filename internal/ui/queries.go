package ui

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"

	"github.com/pgadvisor/advisor/internal/probe/postgres"
	"github.com/pgadvisor/advisor/internal/probe/source"
)

// planMsg is the plan of one statement, routed to the queries pane.
type planMsg struct {
	key  string
	plan *postgres.Plan
	err  error
}

// Sort orders of the queries pane.
var querySorts = []string{"share", "calls/s", "mean", "rows/call"}

// queriesPane is pg_stat_statements over the window, sortable, with the
// generic plan of the selected statement.
type queriesPane struct {
	sh            *shared
	data          *Data
	list          *table
	sortBy        int
	width, height int
	rows          []*postgres.StatementDelta
	// oneLine caches the statements' texts on one line.
	oneLine map[string]string

	// The plan panel: the statement it is for, and its state.
	planKey   string
	planQuery string
	plan      *postgres.Plan
	planErr   error
	planning  bool
}

func newQueriesPane(sh *shared) *queriesPane {
	p := &queriesPane{sh: sh, data: &Data{}, oneLine: map[string]string{}}
	p.list = newTable(sh.st, "no statement ran in this window",
		column{Title: "CALLS/S", Width: 8, Right: true},
		column{Title: "MEAN MS", Width: 8, Right: true},
		column{Title: "SHARE", Width: 6, Right: true},
		column{Title: "ROWS/CALL", Width: 9, Right: true},
		column{Title: "QUERY", Width: 20, Flex: true},
	)
	return p
}

func (p *queriesPane) Title() string { return "Queries" }

func (p *queriesPane) SetSize(width, height int) {
	p.width, p.height = width, height
	p.list.setSize(width, p.listHeight())
}

func (p *queriesPane) listHeight() int {
	h := p.height - 1
	if p.planKey != "" {
		h = max(h-p.planHeight(), 3)
	}
	return h
}

func (p *queriesPane) planHeight() int { return max(p.height*2/5, 6) }

func (p *queriesPane) SetData(d *Data) {
	p.data = d
	p.rows = p.rows[:0]
	if w := d.Window; w != nil && w.Postgres != nil {
		rows := w.Postgres.Statements.Rows
		for i := range rows {
			if rows[i].Calls > 0 {
				p.rows = append(p.rows, &rows[i])
			}
		}
	}
	p.sortRows()
}

// text is the statement on one line, cached across windows.
func (p *queriesPane) text(q string) string {
	if t, ok := p.oneLine[q]; ok {
		return t
	}
	if len(p.oneLine) > 50_000 {
		clear(p.oneLine)
	}
	t := oneLine(q)
	p.oneLine[q] = t
	return t
}

func (p *queriesPane) sortRows() {
	val := func(s *postgres.StatementDelta) float64 {
		switch querySorts[p.sortBy] {
		case "calls/s":
			return s.CallsPerS
		case "mean":
			return s.MeanTime
		case "rows/call":
			return rowsPerCall(s)
		}
		return s.TotalTime
	}
	vals := make(map[*postgres.StatementDelta]float64, len(p.rows))
	for _, s := range p.rows {
		vals[s] = val(s)
	}
	slices.SortStableFunc(p.rows, func(a, b *postgres.StatementDelta) int {
		va, vb := vals[a], vals[b]
		switch {
		case va > vb:
			return -1
		case va < vb:
			return 1
		}
		return strings.Compare(a.Statement.Query, b.Statement.Query)
	})
	rows := make([]row, len(p.rows))
	for i, s := range p.rows {
		rows[i] = row{Key: statementKey(s), Cells: []string{
			num(s.CallsPerS), num(s.MeanTime), pct(s.Share), num(rowsPerCall(s)), p.text(s.Statement.Query)},
			Filter: s.Statement.Query}
	}
	p.list.setRows(rows)
}

func statementKey(s *postgres.StatementDelta) string {
	return strconv.FormatInt(s.Key.QueryID, 10) + "/" + strconv.FormatUint(uint64(s.Key.UserID), 10) + "/" +
		strconv.FormatUint(uint64(s.Key.DBID), 10) + "/" + strconv.FormatBool(s.Key.TopLevel)
}

func rowsPerCall(s *postgres.StatementDelta) float64 {
	if s.Calls == 0 {
		return 0
	}
	return float64(s.Rows) / float64(s.Calls)
}

func (p *queriesPane) SetFilter(f string) { p.list.setFilter(f) }
func (p *queriesPane) Filter() string     { return p.list.filter }

func (p *queriesPane) Keys() []key.Binding {
	km := p.sh.km
	keys := []key.Binding{withHelp(km.Enter, "enter", "plan"), withHelp(km.Sort, "s", "sort: "+querySorts[p.sortBy])}
	if p.planKey != "" {
		keys = append(keys, withHelp(km.Back, "esc", "close plan"))
	}
	return keys
}

func (p *queriesPane) Update(msg tea.Msg) tea.Cmd {
	switch msg := msg.(type) {
	case planMsg:
		if msg.key == p.planKey {
			p.planning = false
			p.plan, p.planErr = msg.plan, msg.err
		}
		return nil
	case tea.KeyMsg:
		k := p.sh.km
		switch {
		case key.Matches(msg, k.Sort):
			p.sortBy = (p.sortBy + 1) % len(querySorts)
			p.sortRows()
		case key.Matches(msg, k.Enter):
			return p.explain()
		case key.Matches(msg, k.Back):
			p.planKey = ""
			p.SetSize(p.width, p.height)
		default:
			navigate(p.list, msg, k)
		}
	}
	return nil
}

// explain asks for the generic plan of the selected statement.
func (p *queriesPane) explain() tea.Cmd {
	r, ok := p.list.selected()
	if !ok {
		return nil
	}
	var stmt *postgres.StatementDelta
	for _, s := range p.rows {
		if statementKey(s) == r.Key {
			stmt = s
		}
	}
	if stmt == nil {
		return nil
	}
	p.planKey, p.planQuery = r.Key, stmt.Statement.Query
	p.plan, p.planErr = nil, nil
	p.SetSize(p.width, p.height)
	ex := p.sh.explainer
	if ex == nil {
		p.planErr = errors.New("no PostgreSQL connection to explain with")
		return nil
	}
	p.planning = true
	ctx, k, q := p.sh.ctx, r.Key, stmt.Statement.Query
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		plan, err := ex.Explain(ctx, q)
		return planMsg{key: k, plan: plan, err: err}
	}
}

func (p *queriesPane) View() string {
	st := p.sh.st
	head := fmt.Sprintf("%d statements ran in the window · sorted by %s · %s", len(p.rows), querySorts[p.sortBy], p.list.position())
	if w := p.data.Window; w != nil && w.Postgres != nil {
		pg := w.Postgres
		head = fmt.Sprintf("%d statements ran · DB time %s ms/s · sorted by %s · %s", len(p.rows),
			num(safeDiv(pg.Statements.TotalTime, pg.Statements.Seconds)), querySorts[p.sortBy], p.list.position())
		if pg.Cumulative {
			head += " · totals since reset"
		}
	} else if w != nil {
		head = "PostgreSQL not read: " + source.Redact(w.Status("postgres").Detail)
	}
	out := st.Dim.Render(head) + "\n" + p.list.view()
	if p.planKey != "" {
		out += "\n" + p.planView(p.planHeight())
	}
	return block(out, p.width, p.height)
}

func (p *queriesPane) planView(height int) string {
	st := p.sh.st
	lines := []string{st.Section.Render("Plan") + " " + st.Dim.Render("(generic plan, not executed; esc closes)")}
	for _, l := range wrapText(oneLine(p.planQuery), p.width-2) {
		lines = append(lines, "  "+st.Dim.Render(l))
	}
	switch {
	case p.planning:
		lines = append(lines, "  explaining…")
	case p.planErr != nil:
		lines = append(lines, "  "+source.Redact(p.planErr.Error()))
	case p.plan != nil && p.plan.Root != nil:
		lines = append(lines, planLines(p.plan.Root, 1)...)
	}
	return block(strings.Join(lines, "\n"), p.width, height)
}

// planLines renders a plan tree as EXPLAIN's text format does, briefly.
func planLines(n *postgres.Node, depth int) []string {
	indent := strings.Repeat("  ", depth)
	if depth > 1 {
		indent = strings.Repeat("  ", depth-1) + "-> "
	}
	what := n.NodeType
	if n.Strategy != "" && n.NodeType == "Aggregate" {
		what = n.Strategy + " " + what
	}
	if n.JoinType != "" && strings.Contains(n.NodeType, "Join") || n.NodeType == "Nested Loop" && n.JoinType != "" {
		what += " (" + n.JoinType + ")"
	}
	if n.IndexName != "" {
		what += " using " + n.IndexName
	}
	if n.RelationName != "" {
		what += " on " + n.RelationName
	}
	out := []string{fmt.Sprintf("%s%s  (cost=%.2f..%.2f rows=%.0f width=%d)", indent, what, n.StartupCost, n.TotalCost, n.PlanRows, n.PlanWidth)}
	detail := strings.Repeat("  ", depth+1)
	for _, c := range []struct{ name, v string }{{"Index Cond", n.IndexCond}, {"Filter", n.Filter}, {"Hash Cond", n.HashCond},
		{"Merge Cond", n.MergeCond}, {"Join Filter", n.JoinFilter}, {"Recheck Cond", n.RecheckCond}} {
		if c.v != "" {
			out = append(out, detail+c.name+": "+c.v)
		}
	}
	if len(n.SortKey) > 0 {
		out = append(out, detail+"Sort Key: "+strings.Join(n.SortKey, ", "))
	}
	for _, c := range n.Children {
		out = append(out, planLines(c, depth+1)...)
	}
	return out
}

func safeDiv(a, b float64) float64 {
	if b <= 0 {
		return 0
	}
	return a / b
}
