package ui

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/charmbracelet/x/ansi"

	"github.com/pgadvisor/advisor/internal/probe"
)

// helpLine is the last line of the screen, the short help, styles stripped.
func helpLine(t *testing.T, m *Model) string {
	t.Helper()
	_, bottom := m.chrome()
	return ansi.Strip(bottom[len(bottom)-1])
}

// TestHelpBarKeepsHelpAndQuit: at every width from 80 columns, on every
// pane and view, paused or not, the short help fits and ends with ? and q;
// the keys it leaves out are the pane's and the actions', last first.
func TestHelpBarKeepsHelpAndQuit(t *testing.T) {
	views := []struct {
		name string
		keys []string
	}{
		{"overview", []string{"1"}}, {"findings", []string{"2"}}, {"finding-detail", []string{"2", "enter"}},
		{"queries", []string{"3"}}, {"queries-plan", []string{"3", "enter"}}, {"tables", []string{"4"}},
		{"pools", []string{"5"}}, {"redis", []string{"6"}}, {"runtime", []string{"7"}},
		{"time", []string{"8"}}, {"time-handlers", []string{"8", "h"}},
	}
	for _, paused := range []bool{false, true} {
		for _, v := range views {
			m := fixtureModel(t, 80, 24)
			for _, k := range v.keys {
				feed(m, keyMsg(k))
			}
			if paused {
				feed(m, keyMsg("space"))
			}
			tail := "? help • q quit"
			if paused {
				tail = "space resume • " + tail
			}
			var widest string
			for width := 80; width <= 220; width++ {
				m.Update(sizeMsg(width, 24))
				line := helpLine(t, m)
				if !strings.HasSuffix(line, tail) || !strings.HasPrefix(line, "tab/1-8 pane • ") {
					t.Fatalf("%s (paused %v) at %d columns: %q", v.name, paused, width, line)
				}
				if w := ansi.StringWidth(line); w > width {
					t.Fatalf("%s at %d columns: the help is %d cells wide: %q", v.name, width, w, line)
				}
				widest = line
			}
			// Wide enough, nothing is left out.
			for _, want := range []string{"p CPU profile", "w save profiles", "e export report"} {
				if !strings.Contains(widest, want) {
					t.Errorf("%s (paused %v) at 220 columns: no %q in %q", v.name, paused, want, widest)
				}
			}
			if !paused && !strings.Contains(widest, "space pause") {
				t.Errorf("%s at 220 columns: no pause key in %q", v.name, widest)
			}
		}
	}
}

// TestFullHelpFits: the full help of every pane shows every key, in more
// rows of columns when the terminal is narrow.
func TestFullHelpFits(t *testing.T) {
	for _, pane := range []string{"1", "2", "3", "4", "5", "6", "7", "8"} {
		for _, width := range []int{80, 100, 160} {
			m := fixtureModel(t, width, 40)
			feed(m, keyMsg(pane))
			feed(m, keyMsg("?"))
			s := screen(t, m, width, 40)
			for _, want := range []string{"previous pane", "page down", "space pause", "r     refresh", "CPU profile",
				"save profiles", "export report", "copy fix"} {
				if !strings.Contains(s, want) {
					t.Errorf("pane %s at %d columns: full help without %q:\n%s", pane, width, want, s)
				}
			}
			if n := strings.Count(s, "copy fix"); n != 1 {
				t.Errorf("pane %s: \"copy fix\" %d times in the full help", pane, n)
			}
		}
	}
}

// TestPause: space freezes the panes on the readings they show; what comes
// meanwhile is held, counted on screen, and shown on the next space.
func TestPause(t *testing.T) {
	m := fixtureModel(t, 100, 30)
	feed(m, keyMsg("2"))
	before := screen(t, m, 100, 30)
	feed(m, keyMsg("space"))
	paused := screen(t, m, 100, 30)
	lines := strings.Split(paused, "\n")
	if status := lines[len(lines)-2]; !strings.HasPrefix(status, "PAUSED  pprof ok") {
		t.Errorf("no PAUSED marker on the status line: %q", status)
	}
	if help := lines[len(lines)-1]; !strings.Contains(help, "space resume") {
		t.Errorf("the help does not say how to resume: %q", help)
	}
	// The pane is the same as before the pause.
	if got, want := strings.Join(lines[:len(lines)-2], "\n"), strings.Join(strings.Split(before, "\n")[:len(lines)-2], "\n"); got != want {
		t.Errorf("pausing changed the pane:\n%s\nwas:\n%s", got, want)
	}

	// Two readings arrive: the second has no findings.
	for i := 40; i < 42; i++ {
		feed(m, AnalysisMsg{Window: fixtureWindow(i), At: fixtureStart.Add(time.Duration(i+1) * 2 * time.Second)})
	}
	m.message = ""
	held := screen(t, m, 100, 30)
	if !strings.Contains(held, "4 findings") || !strings.Contains(held, "db.missing-index") {
		t.Errorf("the paused pane lost its findings:\n%s", held)
	}
	if !strings.Contains(held, "09:31:20 · 2 new readings held") {
		t.Errorf("the status line does not count the held readings:\n%s", held)
	}
	if d := m.Data(); d.Window.End != fixtureWindow(39).End || d.History.Windows != 40 || len(d.Findings) != 4 {
		t.Errorf("paused data moved: %d windows in the history, %d findings", d.History.Windows, len(d.Findings))
	}
	if m.history.Windows != 42 {
		t.Errorf("the live history has %d windows, want 42: readings are held, not lost", m.history.Windows)
	}
	// The sparklines stay as they were.
	feed(m, keyMsg("1"))
	m.message = ""
	overview := screen(t, m, 100, 30)
	if !strings.Contains(overview, "Last 40 windows") {
		t.Errorf("the sparklines moved while paused:\n%s", overview)
	}

	feed(m, keyMsg("space"))
	resumed := screen(t, m, 100, 30)
	if strings.Contains(resumed, "PAUSED") || !strings.Contains(resumed, "resumed: 2 readings while paused") {
		t.Errorf("after space again:\n%s", resumed)
	}
	if !strings.Contains(resumed, "Last 42 windows") {
		t.Errorf("the held readings did not reach the sparklines:\n%s", resumed)
	}
	if d := m.Data(); len(d.Findings) != 0 || d.Window.End != fixtureWindow(41).End || d.History != m.history {
		t.Errorf("after resuming: %d findings, window ending %s", len(d.Findings), d.Window.End)
	}
}

// TestPauseWithProber: paused, the model still reads the sources at every
// interval but runs no analysis; on resume it analyses the latest window.
func TestPauseWithProber(t *testing.T) {
	var snaps []*probe.Snapshot
	for i := range int64(6) {
		snaps = append(snaps, redisSnap(fixtureStart.Add(time.Duration(i)*2*time.Second), "a", 100+2*i, 1000+200*i, 10, 10))
	}
	fp := &fakeProber{snaps: snaps}
	m := New(Options{Prober: fp, Interval: time.Millisecond, AnalysisSpan: time.Millisecond})
	m.Update(sizeMsg(100, 30))
	feed(m, snapshotMsg{snap: fp.Snapshot(context.Background())})
	feed(m, tickMsg{seq: m.tickSeq})
	shown := m.Data().Window
	if shown == nil {
		t.Fatal("no window before the pause")
	}
	feed(m, keyMsg("space"))
	for range 3 {
		feed(m, tickMsg{seq: m.tickSeq})
	}
	if fp.next != 5 {
		t.Errorf("%d snapshots taken, want 5: probing goes on while paused", fp.next)
	}
	if m.analysing || m.Data().Window != shown || m.heldReadings != 3 {
		t.Errorf("paused: analysing %v, window changed %v, %d readings held", m.analysing, m.Data().Window != shown, m.heldReadings)
	}
	if got := len(m.history.Values(SeriesRedisOps)); got != 4 {
		t.Errorf("the live history has %d points, want 4", got)
	}
	if got := len(m.Data().History.Values(SeriesRedisOps)); got != 1 {
		t.Errorf("the shown history has %d points, want 1 (frozen)", got)
	}
	// r does not read while paused; it says why.
	if _, cmd := m.Update(keyMsg("r")); cmd != nil || !strings.Contains(m.message, "paused: space resumes") {
		t.Errorf("r while paused: a command %v, message %q", cmd != nil, m.message)
	}
	feed(m, keyMsg("space"))
	if w := m.Data().Window; w == shown || w.End != snaps[4].Time {
		t.Errorf("after resuming, the window ends %s, want the latest reading's %s", w.End, snaps[4].Time)
	}
	if got := len(m.Data().History.Values(SeriesRedisOps)); got != 4 {
		t.Errorf("after resuming the sparkline has %d points, want 4", got)
	}
}

// TestSpaceInFilter: space while typing a filter is text, not pause.
func TestSpaceInFilter(t *testing.T) {
	m := fixtureModel(t, 80, 24)
	for _, k := range []string{"3", "/", "o", "space"} {
		feed(m, keyMsg(k))
	}
	if m.paused || m.queries.Filter() != "o " {
		t.Errorf("paused %v, filter %q", m.paused, m.queries.Filter())
	}
}
