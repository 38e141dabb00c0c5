package ui

import (
	"fmt"
	"slices"
	"strings"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"

	"github.com/pgadvisor/advisor/internal/probe/pprof"
	"github.com/pgadvisor/advisor/internal/probe/source"
)

// runtimePane shows the Go runtime: GOMAXPROCS, GC, the goroutines by state
// and by where they wait under the HTTP handlers, and the top functions of
// the last CPU profile (taken with p).
type runtimePane struct {
	sh      *shared
	data    *Data
	seconds int
	profile *ProfileMsg
	// saved is where the save key wrote profile, shown under it.
	saved         *profilesSavedMsg
	groups        *table
	funcs         *table
	onFuncs       bool
	width, height int
}

func newRuntimePane(sh *shared, seconds int) *runtimePane {
	p := &runtimePane{sh: sh, data: &Data{}, seconds: seconds}
	p.groups = newTable(sh.st, "no goroutine dump (needs the pprof target)",
		column{Title: "COUNT", Width: 5, Right: true},
		column{Title: "HANDLER", Width: 18, Flex: true},
		column{Title: "STATE", Width: 15},
		column{Title: "WAITS IN", Width: 18, Flex: true},
		column{Title: "CALLED FROM", Width: 16},
	)
	p.funcs = newTable(sh.st, "", column{Title: "FLAT", Width: 6, Right: true},
		column{Title: "CUM", Width: 6, Right: true},
		column{Title: "FUNCTION", Width: 30, Flex: true},
	)
	p.funcs.focused = false
	return p
}

func (p *runtimePane) Title() string { return "Runtime" }

func (p *runtimePane) SetSize(width, height int) {
	p.width, p.height = width, height
	p.resize()
}

// resize splits the height between the goroutines and the functions, less
// the lines saying where the profiles were saved.
func (p *runtimePane) resize() {
	rest := max(p.height-6, 4)
	p.groups.setSize(p.width, max(rest/2, 2))
	p.funcs.setSize(p.width, max(rest-rest/2-1-len(p.savedLines()), 2))
}

// savedLines say where the save key wrote the profiles: the command that
// opens each, then what was not saved.
func (p *runtimePane) savedLines() []string {
	s := p.saved
	if s == nil {
		return nil
	}
	if s.err != nil {
		return []string{"not saved: " + source.Redact(s.err.Error())}
	}
	var lines []string
	for _, path := range s.saved.Paths {
		lines = append(lines, "go tool pprof "+path)
	}
	for _, m := range s.saved.Missing {
		lines = append(lines, "not saved: "+source.Redact(m))
	}
	return lines
}

func (p *runtimePane) SetData(d *Data) {
	p.data = d
	var rows []row
	if g := latestDump(d); g != nil {
		// Goroutines under handlers first: they are the requests.
		groups := slices.Clone(g.Summary.Groups)
		slices.SortStableFunc(groups, func(a, b pprof.GoroutineGroup) int {
			if (a.Handler == "") != (b.Handler == "") {
				if a.Handler != "" {
					return -1
				}
				return 1
			}
			return b.Count - a.Count
		})
		for _, gr := range groups {
			handler := shortFunc(gr.Handler)
			if handler == "" {
				handler = "-"
			}
			rows = append(rows, row{Key: gr.Handler + "|" + gr.State + "|" + gr.WaitIn.Func + "|" + gr.CallSite.Location(),
				Cells:  []string{fmt.Sprint(gr.Count), handler, gr.State, shortFunc(gr.WaitIn.Func), shortLocation(gr.CallSite)},
				Filter: gr.Handler + " " + gr.State + " " + gr.WaitIn.Func + " " + gr.CallSite.Location()})
		}
	}
	p.groups.setRows(rows)
}

func latestDump(d *Data) *pprof.GoroutineResult {
	if d.Window == nil || len(d.Window.Goroutines) == 0 {
		return nil
	}
	return d.Window.Goroutines[len(d.Window.Goroutines)-1]
}

func (p *runtimePane) SetFilter(f string) { p.groups.setFilter(f); p.funcs.setFilter(f) }
func (p *runtimePane) Filter() string     { return p.groups.filter }

var switchFuncs = key.NewBinding(key.WithKeys("f"), key.WithHelp("f", "goroutines/functions"))

func (p *runtimePane) Keys() []key.Binding { return []key.Binding{switchFuncs} }

func (p *runtimePane) Update(msg tea.Msg) tea.Cmd {
	switch msg := msg.(type) {
	case profilesSavedMsg:
		if p.profile != nil && msg.profile == p.profile.Profile {
			p.saved = &msg
			p.resize()
		}
	case ProfileMsg:
		p.profile, p.saved = &msg, nil
		p.resize()
		var rows []row
		if msg.Profile != nil && msg.Profile.CPU != nil && msg.Profile.CPU.Status.Ok() {
			for _, f := range msg.Profile.CPU.Functions {
				rows = append(rows, row{Key: f.Func, Cells: []string{pct(f.FlatShare), pct(f.CumShare), f.Func}})
			}
		}
		p.funcs.setRows(rows)
	case tea.KeyMsg:
		if key.Matches(msg, switchFuncs) {
			p.onFuncs = !p.onFuncs
			p.groups.focused, p.funcs.focused = !p.onFuncs, p.onFuncs
			return nil
		}
		if p.onFuncs {
			navigate(p.funcs, msg, p.sh.km)
		} else {
			navigate(p.groups, msg, p.sh.km)
		}
	}
	return nil
}

func (p *runtimePane) View() string {
	st := p.sh.st
	var b strings.Builder
	w := p.data.Window
	b.WriteString(st.Section.Render("Go runtime") + " " + st.Dim.Render("(from the service's metrics)") + "\n")
	if w != nil && w.Metrics != nil {
		rt, pr := w.Metrics.Runtime, w.Metrics.Process
		gc := "-"
		if rt.GCCPUFraction != nil {
			gc = pct(*rt.GCCPUFraction)
		}
		sched := "-"
		if rt.HasSchedLatency {
			sched = num(rt.SchedLatency.P99*1000) + " ms"
		}
		fmt.Fprintf(&b, "  GOMAXPROCS %s · goroutines %s · threads %s · CPU %s cores · sched p99 %s\n",
			opt(rt.GOMAXPROCS, num), opt(rt.Goroutines, num), opt(rt.Threads, num), opt(pr.CPUCores, num), sched)
		fmt.Fprintf(&b, "  GC CPU %s · GC runs %s · mean pause %s ms · GOGC %s\n",
			gc, num(rt.GCRuns), num(rt.GCPauseMean*1000), opt(rt.GOGC, num))
		fmt.Fprintf(&b, "  heap %s · next GC at %s · GOMEMLIMIT %s\n",
			opt(rt.HeapAllocBytes, bytesText), opt(rt.NextGCBytes, bytesText), memLimit(rt.GOMEMLIMIT))
	} else {
		detail := "waiting for metrics…"
		if w != nil {
			detail = "metrics not read: " + source.Redact(w.Status("metrics").Detail)
		}
		b.WriteString("  " + st.Dim.Render(detail) + "\n\n\n")
	}
	states := "-"
	if g := latestDump(p.data); g != nil {
		names := make([]string, 0, len(g.Summary.ByState))
		for s := range g.Summary.ByState {
			names = append(names, s)
		}
		slices.SortFunc(names, func(a, c string) int {
			if d := g.Summary.ByState[c] - g.Summary.ByState[a]; d != 0 {
				return d
			}
			return strings.Compare(a, c)
		})
		var parts []string
		for _, s := range names {
			parts = append(parts, fmt.Sprintf("%s %d", s, g.Summary.ByState[s]))
		}
		states = fmt.Sprintf("%d goroutines, %d in handlers: %s", g.Summary.Total, g.Summary.InHandler, strings.Join(parts, ", "))
	}
	b.WriteString(st.Section.Render("Goroutines") + " " + st.Dim.Render(states) + "\n")
	b.WriteString(p.groups.view() + "\n")
	b.WriteString(st.Section.Render("CPU profile") + " " + st.Dim.Render(p.profileLine()) + "\n")
	for _, l := range p.savedLines() {
		b.WriteString("  " + st.Message.Render(l) + "\n")
	}
	if p.funcs.len() > 0 {
		b.WriteString(p.funcs.view())
	}
	return block(b.String(), p.width, p.height)
}

func (p *runtimePane) profileLine() string {
	switch {
	case p.profile == nil:
		return fmt.Sprintf("none yet: press p to take one (%d s)", p.seconds)
	case p.profile.Profile == nil:
		return "no pprof target to profile: pass --target or --pprof"
	case p.profile.Profile.CPU == nil || !p.profile.Profile.CPU.Status.Ok():
		detail := "no profile"
		if p.profile.Profile != nil && p.profile.Profile.CPU != nil {
			detail = p.profile.Profile.CPU.Status.Detail
		}
		return "failed: " + source.Redact(detail)
	}
	cpu := p.profile.Profile.CPU
	return fmt.Sprintf("%d s taken at %s, %d samples · top functions by flat time", p.profile.Seconds,
		p.profile.At.Format("15:04:05"), cpu.Samples)
}

// memLimit is GOMEMLIMIT, "off" at its default (math.MaxInt64).
func memLimit(v *float64) string {
	switch {
	case v == nil:
		return "-"
	case *v >= 1<<62:
		return "off"
	}
	return bytesText(*v)
}

func opt[T any](v *float64, f func(float64) T) string {
	if v == nil {
		return "-"
	}
	return fmt.Sprint(f(*v))
}

// shortFunc drops the package path of a function name:
// github.com/x/y/pkg.(*T).M becomes pkg.(*T).M.
func shortFunc(name string) string {
	if i := strings.LastIndex(name, "/"); i >= 0 {
		return name[i+1:]
	}
	return name
}

// shortLocation is the file's base name and line of a frame.
func shortLocation(f pprof.Frame) string {
	if f.IsZero() {
		return "-"
	}
	if f.File == "" {
		return shortFunc(f.Func)
	}
	file := f.File
	if i := strings.LastIndex(file, "/"); i >= 0 {
		file = file[i+1:]
	}
	return fmt.Sprintf("%s:%d", file, f.Line)
}
