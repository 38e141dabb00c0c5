package ui

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/charmbracelet/bubbles/key"
	"github.com/charmbracelet/bubbles/viewport"
	tea "github.com/charmbracelet/bubbletea"

	"github.com/pgadvisor/advisor/internal/rules"
)

// findingsPane lists the findings, sortable by severity or impact; enter
// opens one with its evidence, fix and docs.
type findingsPane struct {
	sh        *shared
	data      *Data
	list      *table
	byImpact  bool
	detail    bool
	detailKey string
	// opened is the open finding as last found: a window without it keeps
	// it on screen, marked gone, until the reader goes back to the list.
	opened        rules.Finding
	vp            viewport.Model
	width, height int
	sorted        []rules.Finding
}

func newFindingsPane(sh *shared) *findingsPane {
	p := &findingsPane{sh: sh, data: &Data{}, vp: viewport.New(80, 20)}
	p.list = newTable(sh.st, "no findings in this window",
		column{Title: "SEV", Width: 4},
		column{Title: "IMPACT", Width: 6, Right: true},
		column{Title: "CONF", Width: 4},
		column{Title: "RULE", Width: 22},
		column{Title: "TITLE", Width: 20, Flex: true},
	)
	return p
}

func (p *findingsPane) Title() string { return "Findings" }

func (p *findingsPane) SetSize(width, height int) {
	p.width, p.height = width, height
	p.list.setSize(width, height-1)
	p.vp.Width, p.vp.Height = width, max(height-1, 1)
	if p.detail {
		p.renderDetail()
	}
}

func (p *findingsPane) SetData(d *Data) {
	p.data = d
	p.refresh()
}

func (p *findingsPane) refresh() {
	p.sorted = slices.Clone(p.data.Findings)
	if p.byImpact {
		slices.SortStableFunc(p.sorted, func(a, b rules.Finding) int {
			switch {
			case a.Impact > b.Impact:
				return -1
			case a.Impact < b.Impact:
				return 1
			}
			return int(b.Severity) - int(a.Severity)
		})
	} else {
		rules.SortFindings(p.sorted)
	}
	rows := make([]row, len(p.sorted))
	for i, f := range p.sorted {
		title := oneLine(f.Title)
		if p.data.Fading[f.Fingerprint()] {
			title = "(fading) " + title
		}
		rows[i] = row{Key: f.Fingerprint(), Cells: []string{
			p.sh.st.severity(f.Severity), pct(f.Impact), confCell(f.Confidence), f.Rule, title},
			Filter: f.Rule + " " + f.Severity.String() + " " + f.Title + " " + f.Subject}
	}
	p.list.setRows(rows)
	if p.detail {
		p.renderDetail()
	}
}

func (p *findingsPane) SetFilter(f string) { p.list.setFilter(f) }
func (p *findingsPane) Filter() string     { return p.list.filter }

func (p *findingsPane) Keys() []key.Binding {
	km := p.sh.km
	if p.detail {
		return []key.Binding{km.Back, km.Copy}
	}
	return []key.Binding{km.Enter, withHelp(km.Sort, "s", "sort: "+p.sortName()), km.Copy}
}

func withHelp(b key.Binding, k, desc string) key.Binding {
	b.SetHelp(k, desc)
	return b
}

func (p *findingsPane) sortName() string {
	if p.byImpact {
		return "impact"
	}
	return "severity"
}

// current is the finding under the cursor, or the one open in the detail.
func (p *findingsPane) current() (rules.Finding, bool) {
	if p.detail {
		if f, ok := p.find(p.detailKey); ok {
			p.opened = f
		}
		return p.opened, true
	}
	r, ok := p.list.selected()
	if !ok {
		return rules.Finding{}, false
	}
	return p.find(r.Key)
}

// find returns the finding of the current window whose fingerprint is key.
func (p *findingsPane) find(key string) (rules.Finding, bool) {
	for _, f := range p.sorted {
		if f.Fingerprint() == key {
			return f, true
		}
	}
	return rules.Finding{}, false
}

func (p *findingsPane) Update(msg tea.Msg) tea.Cmd {
	km, ok := msg.(tea.KeyMsg)
	if !ok {
		return nil
	}
	k := p.sh.km
	if key.Matches(km, k.Copy) {
		f, ok := p.current()
		if !ok {
			return func() tea.Msg { return StatusMsg("no finding selected") }
		}
		return copyCmd(p.sh.clipboard, fixText(f))
	}
	if p.detail {
		switch {
		case key.Matches(km, k.Back):
			p.detail = false
		case key.Matches(km, k.Up):
			p.vp.ScrollUp(1)
		case key.Matches(km, k.Down):
			p.vp.ScrollDown(1)
		case key.Matches(km, k.PageUp):
			p.vp.PageUp()
		case key.Matches(km, k.PageDown):
			p.vp.PageDown()
		case key.Matches(km, k.Top):
			p.vp.GotoTop()
		case key.Matches(km, k.Bottom):
			p.vp.GotoBottom()
		}
		return nil
	}
	switch {
	case key.Matches(km, k.Enter):
		if f, ok := p.current(); ok {
			p.detail, p.detailKey, p.opened = true, f.Fingerprint(), f
			p.renderDetail()
			p.vp.GotoTop()
		}
	case key.Matches(km, k.Sort):
		p.byImpact = !p.byImpact
		p.refresh()
	default:
		navigate(p.list, km, k)
	}
	return nil
}

// navigate moves a table's cursor for the navigation keys.
func navigate(t *table, msg tea.KeyMsg, k KeyMap) bool {
	switch {
	case key.Matches(msg, k.Up):
		t.move(-1)
	case key.Matches(msg, k.Down):
		t.move(1)
	case key.Matches(msg, k.PageUp):
		t.move(-max(t.visible(), 1))
	case key.Matches(msg, k.PageDown):
		t.move(max(t.visible(), 1))
	case key.Matches(msg, k.Top):
		t.home()
	case key.Matches(msg, k.Bottom):
		t.end()
	default:
		return false
	}
	return true
}

func (p *findingsPane) View() string {
	st := p.sh.st
	if p.detail {
		f, _ := p.current()
		head := fmt.Sprintf("%s %s  %s", st.severity(f.Severity), f.Rule, st.Dim.Render(fmt.Sprintf("(%d%% scrolled, esc: back)", int(p.vp.ScrollPercent()*100))))
		return block(head+"\n"+p.vp.View(), p.width, p.height)
	}
	counts := fmt.Sprintf("%d findings · sorted by %s · %s", len(p.data.Findings), p.sortName(), p.list.position())
	if n := len(p.data.RuleErrors); n > 0 {
		counts += fmt.Sprintf(" · %d rule errors (first: %s)", n, oneLine(p.data.RuleErrors[0].Error()))
	}
	return block(st.Dim.Render(counts)+"\n"+p.list.view(), p.width, p.height)
}

// renderDetail fills the viewport with the open finding.
func (p *findingsPane) renderDetail() {
	f, ok := p.current()
	if !ok {
		p.detail = false
		return
	}
	st := p.sh.st
	w := max(p.width-2, 20)
	var b strings.Builder
	line := func(s string) { b.WriteString(s + "\n") }
	para := func(text string, indent string) {
		for _, l := range wrapText(text, w-len(indent)) {
			line(indent + l)
		}
	}
	para(f.Title, "")
	if _, found := p.find(p.detailKey); !found {
		line(st.Dim.Render("no longer found in the current window: shown as last found"))
	}
	line("")
	line(fmt.Sprintf("severity %s · impact %s · subject %s", f.Severity, pct(f.Impact), f.Subject))
	if f.Location != "" {
		line("location " + f.Location)
	}
	if f.Confidence != nil {
		para("confidence "+f.Confidence.String(), "")
	}
	if p.data.Fading[f.Fingerprint()] {
		line(st.Dim.Render("missing from the latest readings: kept until enough readings in a row miss it"))
	}
	if s := savingLine(f.Saves); s != "" {
		para(s, "")
	}
	line("")
	line(st.Section.Render("Evidence"))
	keys := make([]string, 0, len(f.Evidence))
	kw := 0
	for k := range f.Evidence {
		keys = append(keys, k)
		kw = max(kw, len(k))
	}
	slices.Sort(keys)
	for _, k := range keys {
		line(fmt.Sprintf("  %-*s  %s", kw, k, evidenceValue(f.Evidence[k])))
	}
	line("")
	line(st.Section.Render("Fix"))
	para(f.Fix.Summary, "  ")
	if f.Fix.SQL != "" {
		line("")
		for _, l := range strings.Split(strings.TrimRight(f.Fix.SQL, "\n"), "\n") {
			line("    " + l)
		}
	}
	if len(f.Fix.Config) > 0 {
		line("")
		cfg := make([]string, 0, len(f.Fix.Config))
		for k := range f.Fix.Config {
			cfg = append(cfg, k)
		}
		slices.Sort(cfg)
		for _, k := range cfg {
			line(fmt.Sprintf("    %s = %s", k, f.Fix.Config[k]))
		}
	}
	if f.Fix.Code != "" {
		line("")
		for _, l := range strings.Split(strings.TrimRight(f.Fix.Code, "\n"), "\n") {
			line("    " + l)
		}
	}
	if p.data.Rules != nil {
		if r := p.data.Rules.Rule(f.Rule); r != nil {
			d := r.Docs
			for _, sec := range []struct{ title, text string }{{"Why it matters", d.Why}, {"How it is detected", d.Detection}, {"How to fix it", d.Fix}} {
				if strings.TrimSpace(sec.text) == "" {
					continue
				}
				line("")
				line(st.Section.Render(sec.title))
				para(sec.text, "  ")
			}
			for _, l := range d.Links {
				line("  " + l)
			}
		}
	}
	p.vp.SetContent(strings.TrimRight(b.String(), "\n"))
}

// evidenceValue formats one evidence value.
func evidenceValue(v any) string {
	switch x := v.(type) {
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case float32:
		return strconv.FormatFloat(float64(x), 'f', -1, 32)
	case []string:
		return strings.Join(x, ", ")
	case []any:
		parts := make([]string, len(x))
		for i, e := range x {
			parts[i] = evidenceValue(e)
		}
		return strings.Join(parts, ", ")
	case string:
		return oneLine(x)
	}
	return oneLine(fmt.Sprint(v))
}

// fixText is what `y` copies: the SQL, the configuration or the code of the
// fix, else its summary.
func fixText(f rules.Finding) string {
	var parts []string
	if f.Fix.SQL != "" {
		parts = append(parts, strings.TrimSpace(f.Fix.SQL))
	}
	if len(f.Fix.Config) > 0 {
		keys := make([]string, 0, len(f.Fix.Config))
		for k := range f.Fix.Config {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		var cfg []string
		for _, k := range keys {
			cfg = append(cfg, k+" = "+f.Fix.Config[k])
		}
		parts = append(parts, strings.Join(cfg, "\n"))
	}
	if f.Fix.Code != "" {
		parts = append(parts, strings.TrimSpace(f.Fix.Code))
	}
	if len(parts) == 0 {
		return f.Fix.Summary
	}
	return strings.Join(parts, "\n\n")
}

// confCell is a confidence in the list's CONF column: its level, "-"
// without one.
func confCell(c *rules.Confidence) string {
	if c == nil {
		return "-"
	}
	if c.Level == rules.Medium {
		return "med"
	}
	return string(c.Level)
}
