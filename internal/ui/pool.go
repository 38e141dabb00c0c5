package ui

import (
	"fmt"
	"slices"
	"strings"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"

	"github.com/pgadvisor/advisor/internal/probe/fleet"
	"github.com/pgadvisor/advisor/internal/probe/metrics"
	"github.com/pgadvisor/advisor/internal/probe/postgres"
)

// poolPane shows the application's connection pools (from its metrics) and
// the database's sessions by state (pg_stat_activity).
type poolPane struct {
	sh    *shared
	data  *Data
	pools *table
	// instances are a fleet's, read through Prometheus; shown only then.
	instances     *table
	fleet         bool
	activity      *table
	width, height int
}

func newPoolPane(sh *shared) *poolPane {
	p := &poolPane{sh: sh, data: &Data{}}
	p.pools = newTable(sh.st, "no pool metrics: the service exposes no pgxpool / database/sql / go-redis pool collector",
		column{Title: "POOL", Width: 22, Flex: true},
		column{Title: "MAX", Width: 5, Right: true},
		column{Title: "IN USE", Width: 6, Right: true},
		column{Title: "IDLE", Width: 5, Right: true},
		column{Title: "USED", Width: 6, Right: true},
		column{Title: "WAITS/S", Width: 8, Right: true},
		column{Title: "MEAN WAIT", Width: 9, Right: true},
		column{Title: "NEW/S", Width: 6, Right: true},
	)
	p.pools.focused = false
	p.instances = newTable(sh.st, "no instance: the selector matches no series",
		column{Title: "INSTANCE", Width: 21, Flex: true},
		column{Title: "STATE", Width: 5},
		column{Title: "REQ/S", Width: 7, Right: true},
		column{Title: "P95", Width: 8, Right: true},
		column{Title: "CPU", Width: 5, Right: true},
		column{Title: "POOL", Width: 7, Right: true},
		column{Title: "VERSION", Width: 10},
	)
	p.instances.focused = false
	p.activity = newTable(sh.st, "no client session",
		column{Title: "DATABASE", Width: 12},
		column{Title: "APPLICATION", Width: 10, Flex: true},
		column{Title: "STATE", Width: 19},
		column{Title: "WAIT", Width: 14},
		column{Title: "COUNT", Width: 5, Right: true},
		column{Title: "OLDEST", Width: 7, Right: true},
	)
	return p
}

func (p *poolPane) Title() string { return "Pools" }

func (p *poolPane) SetSize(width, height int) {
	p.width, p.height = width, height
	p.layout()
}

// layout shares the pane's height between its tables: a fleet's instances
// take their share from the sessions'.
func (p *poolPane) layout() {
	width, height := p.width, p.height
	if !p.fleet {
		ph := min(max((height-5)/3, 3), 8)
		p.pools.setSize(width, ph)
		p.activity.setSize(width, max(height-5-ph, 2))
		return
	}
	ph := min(max((height-7)/4, 2), 6)
	ih := min(max((height-7)/2, 3), 12)
	p.pools.setSize(width, ph)
	p.instances.setSize(width, ih)
	p.activity.setSize(width, max(height-7-ph-ih, 2))
}

func (p *poolPane) SetData(d *Data) {
	p.data = d
	var prow, arow []row
	if w := d.Window; w != nil && w.Metrics != nil {
		for _, pl := range w.Metrics.Pools {
			name := pl.Kind
			if pl.ID != "" && pl.ID != pl.Kind {
				name += " " + pl.ID
			}
			used := "-"
			if pl.HasUtilisation {
				used = pct(pl.Utilisation)
			}
			prow = append(prow, row{Key: pl.Kind + "/" + pl.ID, Cells: []string{name, gauge(pl, metrics.PoolMax),
				gauge(pl, metrics.PoolInUse), gauge(pl, metrics.PoolIdle), used, num(pl.WaitsPerSec),
				num(pl.MeanWaitSeconds*1000) + " ms", num(pl.Rates[metrics.PoolNewConns])}})
		}
	}
	if w := d.Window; w != nil && w.Postgres != nil && w.Postgres.Cur != nil {
		gs := slices.Clone(w.Postgres.Cur.Activity.Groups)
		slices.SortStableFunc(gs, func(a, b postgres.ActivityGroup) int {
			if a.Count != b.Count {
				return b.Count - a.Count
			}
			return strings.Compare(a.State+a.Application, b.State+b.Application)
		})
		for _, g := range gs {
			wait := ""
			if g.WaitEventType != "" {
				wait = g.WaitEventType + ":" + g.WaitEvent
			}
			oldest := "-"
			if g.OldestXactAge > 0 {
				oldest = num(g.OldestXactAge) + " s"
			}
			arow = append(arow, row{Key: strings.Join([]string{g.Database, g.User, g.Application, g.State, wait}, "/"),
				Cells: []string{g.Database, g.Application, g.State, wait, fmt.Sprint(g.Count), oldest}})
		}
	}
	var irow []row
	hasFleet := d.Window != nil && d.Window.Fleet != nil
	if hasFleet {
		ins := slices.Clone(d.Window.Fleet.Instances)
		slices.SortStableFunc(ins, func(a, b fleet.Instance) int {
			switch {
			case a.RPS > b.RPS:
				return -1
			case a.RPS < b.RPS:
				return 1
			}
			return strings.Compare(a.Name, b.Name)
		})
		for _, in := range ins {
			state := "up"
			switch {
			case in.Gone:
				state = "gone"
			case !in.Up:
				state = "down"
			}
			p95, cpu, pool, version := "-", "-", "-", in.Version
			if in.HasP95 {
				p95 = num(in.P95Seconds*1000) + " ms"
			}
			if in.HasCPU {
				cpu = num(in.CPUCores)
			}
			if in.HasPool {
				pool = num(in.PoolInUse) + "/" + num(in.PoolMax)
			}
			if version == "" {
				version = "-"
			}
			irow = append(irow, row{Key: in.Name, Cells: []string{in.Name, state, num(in.RPS), p95, cpu, pool, version}})
		}
	}
	if hasFleet != p.fleet {
		p.fleet = hasFleet
		p.layout()
	}
	p.pools.setRows(prow)
	p.instances.setRows(irow)
	p.activity.setRows(arow)
}

func gauge(pl metrics.PoolRate, name string) string {
	v, ok := pl.Gauges[name]
	if !ok {
		return "-"
	}
	return num(v)
}

func (p *poolPane) SetFilter(f string) {
	p.activity.setFilter(f)
	p.pools.setFilter(f)
	p.instances.setFilter(f)
}
func (p *poolPane) Filter() string { return p.activity.filter }
func (p *poolPane) Keys() []key.Binding {
	return nil
}

func (p *poolPane) Update(msg tea.Msg) tea.Cmd {
	if km, ok := msg.(tea.KeyMsg); ok {
		navigate(p.activity, km, p.sh.km)
	}
	return nil
}

func (p *poolPane) View() string {
	st := p.sh.st
	w := p.data.Window
	var b strings.Builder
	b.WriteString(st.Section.Render("Application pools") + " " + st.Dim.Render("(from the service's metrics)") + "\n")
	b.WriteString(p.pools.view() + "\n")
	if p.fleet && w != nil && w.Fleet != nil {
		f := w.Fleet
		b.WriteString(st.Section.Render("Instances") + " " + st.Dim.Render(fmt.Sprintf("(%d through prometheus, last %s)", f.Live(), f.Range)) + "\n")
		b.WriteString(p.instances.view() + "\n")
	}
	summary := "PostgreSQL not read"
	if w != nil && w.Postgres != nil && w.Postgres.Cur != nil {
		cur := w.Postgres.Cur
		states := map[string]int{}
		for _, g := range cur.Activity.Groups {
			states[g.State] += g.Count
		}
		names := make([]string, 0, len(states))
		for s := range states {
			names = append(names, s)
		}
		slices.Sort(names)
		var parts []string
		for _, s := range names {
			parts = append(parts, fmt.Sprintf("%s %d", s, states[s]))
		}
		maxConns := "?"
		if v, ok := cur.Server.Settings.Int("max_connections"); ok {
			maxConns = fmt.Sprint(v)
		}
		summary = fmt.Sprintf("%d sessions of max_connections %s · new sessions %s/s\nby state: %s",
			cur.Activity.Total, maxConns, num(w.Postgres.Database.SessionsPerS), strings.Join(parts, ", "))
	} else if w != nil {
		summary = "PostgreSQL not read: " + w.Status("postgres").Detail + "\n"
	} else {
		summary += "\n"
	}
	b.WriteString(st.Section.Render("Database sessions") + " " + st.Dim.Render("(pg_stat_activity, all databases)") + "\n")
	b.WriteString(summary + "\n")
	b.WriteString(p.activity.view())
	return block(b.String(), p.width, p.height)
}
