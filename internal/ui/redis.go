package ui

import (
	"fmt"
	"slices"
	"strings"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"

	"github.com/pgadvisor/advisor/internal/probe/redis"
)

// redisPane shows Redis over the window: throughput, hit ratio, evictions,
// memory, CPU, the commands by calls and the new slow log entries.
type redisPane struct {
	sh            *shared
	data          *Data
	commands      *table
	width, height int
}

func newRedisPane(sh *shared) *redisPane {
	p := &redisPane{sh: sh, data: &Data{}}
	p.commands = newTable(sh.st, "no command in this window",
		column{Title: "COMMAND", Width: 16, Flex: true},
		column{Title: "CALLS/S", Width: 8, Right: true},
		column{Title: "µS/CALL", Width: 8, Right: true},
		column{Title: "FAILED", Width: 7, Right: true},
		column{Title: "REJECTED", Width: 8, Right: true},
	)
	return p
}

func (p *redisPane) Title() string { return "Redis" }

func (p *redisPane) SetSize(width, height int) {
	p.width, p.height = width, height
	p.commands.setSize(width, max(height-8, 2))
}

func (p *redisPane) SetData(d *Data) {
	p.data = d
	var rows []row
	if w := d.Window; w != nil && w.Redis != nil {
		cmds := slices.Clone(w.Redis.PerCommand)
		slices.SortStableFunc(cmds, func(a, b redis.CommandDelta) int {
			if c := cmpDesc(a.CallsPerS, b.CallsPerS); c != 0 {
				return c
			}
			return strings.Compare(a.Name, b.Name)
		})
		for _, c := range cmds {
			if c.Calls == 0 {
				continue
			}
			rows = append(rows, row{Key: c.Name, Cells: []string{c.Name, num(c.CallsPerS), num(c.UsecPerCall),
				fmt.Sprint(c.Failed), fmt.Sprint(c.Rejected)}})
		}
	}
	p.commands.setRows(rows)
}

func (p *redisPane) SetFilter(f string) { p.commands.setFilter(f) }
func (p *redisPane) Filter() string     { return p.commands.filter }
func (p *redisPane) Keys() []key.Binding {
	return nil
}

func (p *redisPane) Update(msg tea.Msg) tea.Cmd {
	if km, ok := msg.(tea.KeyMsg); ok {
		navigate(p.commands, km, p.sh.km)
	}
	return nil
}

func (p *redisPane) View() string {
	st := p.sh.st
	w := p.data.Window
	if w == nil || w.Redis == nil {
		msg := "waiting for Redis…"
		if w != nil {
			msg = "Redis not read: " + w.Status("redis").Detail
		}
		return block(st.Dim.Render(msg), p.width, p.height)
	}
	r := w.Redis
	hit := "- (no lookups)"
	if r.HitRatio >= 0 {
		hit = pct(r.HitRatio)
	}
	mem := bytesText(float64(r.UsedMemory)) + " used, no maxmemory"
	if r.MaxMemory > 0 {
		mem = fmt.Sprintf("%s of %s (%s)", bytesText(float64(r.UsedMemory)), bytesText(float64(r.MaxMemory)), pct(r.MemoryRatio))
	}
	var b strings.Builder
	version, clients, policy := "", int64(0), ""
	if r.Cur != nil {
		version, clients, policy = r.Cur.Version, r.Cur.ConnectedClients, r.Cur.Config.MaxMemoryPolicy
	}
	b.WriteString(st.Section.Render("Redis "+version) + "\n")
	fmt.Fprintf(&b, "  ops %s/s · hit ratio %s · evicted %s/s · expired %s/s · CPU %s cores\n",
		num(r.OpsPerS), hit, num(r.EvictedPerS), num(r.ExpiredPerS), num(r.CPUCores))
	fmt.Fprintf(&b, "  memory %s · fragmentation %s · policy %s\n", mem, num(r.Fragmentation), orDash(policy))
	fmt.Fprintf(&b, "  clients %d · new connections %s/s · rejected %d", clients, num(r.ConnectionsPerS), r.RejectedConnections)
	if r.Reset != "" {
		b.WriteString(" · " + r.Reset)
	}
	b.WriteString("\n" + p.commands.view() + "\n")
	b.WriteString(st.Section.Render("Slow log") + " " + st.Dim.Render("(entries added in the window)") + "\n")
	if len(r.NewSlow) == 0 {
		b.WriteString(st.Dim.Render("  none") + "\n")
	}
	for i, e := range r.NewSlow {
		if i == 2 {
			break
		}
		fmt.Fprintf(&b, "  %s  %s\n", e.Duration, strings.Join(e.Args, " "))
	}
	return block(b.String(), p.width, p.height)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
