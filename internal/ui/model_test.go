package ui

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/x/ansi"
	"github.com/charmbracelet/x/exp/teatest"
	"github.com/muesli/termenv"

	"github.com/pgadvisor/advisor/internal/probe"
	"github.com/pgadvisor/advisor/internal/probe/metrics"
	"github.com/pgadvisor/advisor/internal/probe/postgres"
	"github.com/pgadvisor/advisor/internal/probe/pprof"
	"github.com/pgadvisor/advisor/internal/probe/redis"
	"github.com/pgadvisor/advisor/internal/probe/source"
	"github.com/pgadvisor/advisor/internal/rules"
)

// waitScreen waits until what the program writes from now on, styles
// stripped, holds every string of want.
func waitScreen(t *testing.T, tm *teatest.TestModel, want ...string) {
	t.Helper()
	teatest.WaitFor(t, tm.Output(), func(b []byte) bool {
		out := ansi.Strip(string(b))
		for _, w := range want {
			if !strings.Contains(out, w) {
				return false
			}
		}
		return true
	}, teatest.WithDuration(5*time.Second), teatest.WithCheckInterval(20*time.Millisecond))
}

func TestNavigation(t *testing.T) {
	m := fixtureModel(t, 80, 24)
	tm := teatest.NewTestModel(t, m, teatest.WithInitialTermSize(80, 24))
	waitScreen(t, tm, "[1 Overview]")

	tm.Send(keyMsg("tab"))
	waitScreen(t, tm, "[2 Findings]", "4 findings · sorted by severity")

	tm.Send(keyMsg("s"))
	waitScreen(t, tm, "sorted by impact")

	tm.Send(keyMsg("enter"))
	waitScreen(t, tm, "Evidence")
	tm.Send(keyMsg("esc"))
	waitScreen(t, tm, "4 findings · sorted by impact")

	tm.Send(keyMsg("3"))
	waitScreen(t, tm, "[3 Queries]")
	tm.Send(keyMsg("/"))
	tm.Type("orders")
	waitScreen(t, tm, "/orders█", "1/1")
	tm.Send(keyMsg("enter"))

	tm.Send(keyMsg("7"))
	waitScreen(t, tm, "[7 Runtime]")
	tm.Send(keyMsg("shift+tab"))
	waitScreen(t, tm, "[6 Redis]")

	tm.Send(keyMsg("?"))
	waitScreen(t, tm, "previous pane")

	tm.Send(keyMsg("q"))
	tm.WaitFinished(t, teatest.WithFinalTimeout(5*time.Second))
	final := tm.FinalModel(t).(*Model)
	if final.Active() != 5 {
		t.Errorf("active pane %d, want 5 (Redis)", final.Active())
	}
	if f := final.queries.Filter(); f != "orders" {
		t.Errorf("queries filter %q, want orders", f)
	}
	if !final.findings.byImpact {
		t.Error("findings are not sorted by impact after s")
	}
}

func TestFilterEscClears(t *testing.T) {
	m := fixtureModel(t, 80, 24)
	for _, k := range []string{"2", "/", "p", "o", "o", "l"} {
		m.Update(keyMsg(k))
	}
	if got := m.findings.list.len(); got != 1 {
		t.Fatalf("filter /pool keeps %d findings, want 1", got)
	}
	if s := screen(t, m, 80, 24); !strings.Contains(s, "pool.undersized") || strings.Contains(s, "db.missing-index") {
		t.Errorf("filtered list:\n%s", s)
	}
	m.Update(keyMsg("esc"))
	if got := m.findings.list.len(); got != 4 || m.findings.Filter() != "" {
		t.Errorf("after esc: %d findings, filter %q", got, m.findings.Filter())
	}
	// q while typing a filter is text, not quit.
	m.Update(keyMsg("/"))
	if _, cmd := m.Update(keyMsg("q")); cmd != nil {
		t.Error("q in the filter line returned a command")
	}
	if m.findings.Filter() != "q" {
		t.Errorf("filter %q, want q", m.findings.Filter())
	}
}

func TestNoColor(t *testing.T) {
	lipgloss.SetColorProfile(termenv.Ascii)
	defer lipgloss.SetColorProfile(termenv.TrueColor)
	m := fixtureModel(t, 80, 24)
	for _, k := range []string{"1", "2", "3", "4", "5", "6", "7", "8"} {
		m.Update(keyMsg(k))
		if v := m.View(); strings.Contains(v, "\x1b") {
			t.Fatalf("pane %s: escape sequence without colour:\n%q", k, v)
		}
	}
	// Without colour the severity and the selection still read.
	m.Update(keyMsg("2"))
	v := m.View()
	for _, want := range []string{"> CRIT", "[2 Findings]"} {
		if !strings.Contains(v, want) {
			t.Errorf("no %q without colour:\n%s", want, v)
		}
	}
}

func TestResize(t *testing.T) {
	m := fixtureModel(t, 160, 48)
	for _, size := range [][2]int{{80, 24}, {100, 30}, {60, 15}, {200, 60}, {80, 24}} {
		m.Update(sizeMsg(size[0], size[1]))
		for _, k := range []string{"1", "2", "3", "4", "5", "6", "7", "8"} {
			m.Update(keyMsg(k))
			screen(t, m, size[0], size[1])
		}
	}
	// Opening the detail and the plan, then shrinking, still fits.
	m.Update(keyMsg("2"))
	m.Update(keyMsg("enter"))
	m.Update(sizeMsg(80, 24))
	screen(t, m, 80, 24)
}

func TestCopyFix(t *testing.T) {
	m := fixtureModel(t, 80, 24)
	clip := m.opts.Clipboard.(*fakeClipboard)
	m.Update(keyMsg("2"))
	_, cmd := m.Update(keyMsg("y"))
	msg := cmd()
	m.Update(msg)
	if len(clip.got) != 1 || !strings.HasPrefix(clip.got[0], "CREATE INDEX CONCURRENTLY events_user_id_created_at_idx") {
		t.Fatalf("copied %q", clip.got)
	}
	if !strings.Contains(screen(t, m, 80, 24), "fix copied to the test clipboard") {
		t.Error("status line does not say where the fix went")
	}
	// Config fixes copy as key = value lines.
	m.Update(keyMsg("j"))
	_, cmd = m.Update(keyMsg("y"))
	cmd()
	if got := clip.got[len(clip.got)-1]; got != "pool_max_conns = 8" {
		t.Errorf("copied %q", got)
	}

	// Without any clipboard, the status line says so.
	none := &systemClipboard{getenv: func(string) string { return "" }, lookPath: func(string) (string, error) { return "", os.ErrNotExist }}
	m.findings.sh.clipboard = none
	_, cmd = m.Update(keyMsg("y"))
	m.Update(cmd())
	if s := screen(t, m, 160, 24); !strings.Contains(s, "no clipboard") {
		t.Errorf("no clipboard not reported:\n%s", s)
	}
}

func TestOSC52(t *testing.T) {
	var out strings.Builder
	env := map[string]string{"TERM": "xterm-256color"}
	c := &systemClipboard{term: &out, isTerminal: true, getenv: func(k string) string { return env[k] },
		lookPath: func(string) (string, error) { return "", os.ErrNotExist }}
	where, err := c.Copy("SELECT 1")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(where, "OSC 52") || out.String() != "\x1b]52;c;U0VMRUNUIDE=\x07" {
		t.Errorf("where %q, wrote %q", where, out.String())
	}
}

func TestExport(t *testing.T) {
	dir := t.TempDir()
	m := fixtureModel(t, 80, 24)
	m.opts.ExportDir = dir
	_, cmd := m.Update(keyMsg("e"))
	m.Update(cmd())
	if s := screen(t, m, 200, 24); !strings.Contains(s, "report written to") {
		t.Fatalf("status line:\n%s", s)
	}
	data, err := os.ReadFile(filepath.Join(dir, "advisor-report-20260314-093000.000.json"))
	if err != nil {
		t.Fatal(err)
	}
	var rep struct {
		Schema   string
		Findings []struct{ Rule string }
		Summary  struct{ Critical, Warning, Info int }
		Figures  *struct {
			Method  string
			Service struct{ Time []struct{ Part string } }
			Routes  []struct{ Route string }
		}
	}
	if err := json.Unmarshal(data, &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Schema != "advisor.report/v1" || len(rep.Findings) != 4 || rep.Summary.Critical != 1 || rep.Findings[0].Rule != "db.missing-index" {
		t.Errorf("exported report: %+v", rep)
	}
	if f := rep.Figures; f == nil || f.Method != "goroutine dumps" || len(f.Routes) != 3 || len(f.Service.Time) != 5 {
		t.Errorf("exported figures: %+v", f)
	}
	md, err := os.ReadFile(filepath.Join(dir, "advisor-report-20260314-093000.000.md"))
	if err != nil || !strings.Contains(string(md), "db.missing-index") {
		t.Errorf("markdown report: %v\n%s", err, md)
	}
}

// fakeProber serves snapshots in turn (repeating the last) and explains
// every statement with the same plan.
type fakeProber struct {
	mu    sync.Mutex
	snaps []*probe.Snapshot
	next  int
	cfg   probe.Config
}

func (f *fakeProber) Snapshot(context.Context) *probe.Snapshot {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := f.snaps[min(f.next, len(f.snaps)-1)]
	f.next++
	return s
}

func (f *fakeProber) Profiles(context.Context, int) *pprof.Snapshot { return fixtureProfile().Profile }
func (f *fakeProber) Explainer() postgres.Explainer                 { return fixtureExplainer{} }
func (f *fakeProber) Config() probe.Config                          { return f.cfg }

// feed sends msg and, in turn, the messages of the commands it returns,
// except the ticks (the test sends those itself).
func feed(m *Model, msg tea.Msg) {
	_, cmd := m.Update(msg)
	for _, out := range run(cmd) {
		feed(m, out)
	}
}

func run(cmd tea.Cmd) []tea.Msg {
	if cmd == nil {
		return nil
	}
	switch msg := cmd().(type) {
	case tea.BatchMsg:
		var out []tea.Msg
		for _, c := range msg {
			out = append(out, run(c)...)
		}
		return out
	case tickMsg:
		return nil
	case nil:
		return nil
	default:
		return []tea.Msg{msg}
	}
}

func redisSnap(at time.Time, runID string, uptime, commands, hits, misses int64) *probe.Snapshot {
	off := func(how string) source.Status {
		return source.Status{State: source.Unavailable, Detail: "not configured: " + how}
	}
	return &probe.Snapshot{Time: at, Status: map[string]source.Status{
		probe.Pprof: off("pass --target"), probe.Metrics: off("pass --target"), probe.Postgres: off("pass --pg"),
		probe.Redis: {State: source.OK, Version: "7.0.15"}},
		Redis: &redis.Snapshot{Status: source.Status{State: source.OK}, Time: at, Info: &redis.Info{}, RunID: runID,
			UptimeSeconds: uptime, TotalCommands: commands, KeyspaceHits: hits, KeyspaceMisses: misses, Version: "7.0.15"}}
}

// TestLostSource follows a Redis that goes away and comes back restarted:
// the UI says it is lost, keeps running, and never shows a negative rate.
func TestLostSource(t *testing.T) {
	t0 := fixtureStart
	lost := &probe.Snapshot{Time: t0.Add(4 * time.Second), Status: map[string]source.Status{
		probe.Redis: {State: source.Unavailable, Detail: "dial tcp 127.0.0.1:26499: connect: connection refused"}},
		Redis: &redis.Snapshot{Status: source.Status{State: source.Unavailable, Detail: "dial tcp 127.0.0.1:26499: connect: connection refused"}}}
	for _, name := range []string{probe.Pprof, probe.Metrics, probe.Postgres} {
		lost.Status[name] = source.Status{State: source.Unavailable, Detail: "not configured: x"}
	}
	fp := &fakeProber{snaps: []*probe.Snapshot{
		redisSnap(t0, "a", 100, 1000, 10, 10),
		redisSnap(t0.Add(2*time.Second), "a", 102, 1200, 60, 10),
		lost,
		redisSnap(t0.Add(6*time.Second), "b", 1, 50, 0, 5),
		redisSnap(t0.Add(8*time.Second), "b", 3, 250, 30, 5),
	}}
	set, err := rules.Default("")
	if err != nil {
		t.Fatal(err)
	}
	// A detector that reports the hit ratio of every window it sees.
	reg := rules.NewRegistry(rules.Def[struct{}]{ID: "redis.low-hit-ratio", Check: func(_ context.Context, in *rules.Input, _ struct{}) ([]rules.Finding, error) {
		if in.Window.Redis == nil || in.Window.Redis.HitRatio < 0 {
			return nil, nil
		}
		return []rules.Finding{{Subject: "redis", Title: "hit ratio seen", Evidence: map[string]any{"hit_ratio": in.Window.Redis.HitRatio}}}, nil
	}})
	// An analysis span shorter than the snapshots' spacing: each window runs
	// from the previous snapshot, as this test's arithmetic assumes.
	m := New(Options{Prober: fp, Rules: set, Registry: reg, Interval: time.Millisecond, AnalysisSpan: time.Millisecond})
	m.Update(sizeMsg(120, 30))
	feed(m, snapshotMsg{snap: m.opts.Prober.Snapshot(context.Background())}) // what Init's command does

	step := func() string {
		t.Helper()
		feed(m, tickMsg{seq: m.tickSeq})
		return screen(t, m, 120, 30)
	}
	if s := step(); !strings.Contains(s, "redis ok") || !strings.Contains(s, "hit ratio seen") {
		t.Fatalf("second window:\n%s", s)
	}
	if v, _ := m.Data().History.Last(SeriesRedisOps); v != 100 {
		t.Errorf("ops %v, want 100/s", v)
	}
	s := step()
	if !strings.Contains(s, "redis LOST") || !strings.Contains(s, "connection refused") {
		t.Fatalf("lost Redis not shown:\n%s", s)
	}
	if len(m.Data().Findings) != 0 {
		t.Errorf("findings from a lost source: %+v", m.Data().Findings)
	}
	m.Update(keyMsg("6"))
	if s := screen(t, m, 120, 30); !strings.Contains(s, "Redis not read: dial tcp") {
		t.Errorf("redis pane:\n%s", s)
	}
	m.Update(keyMsg("1"))
	// Back, restarted: its counters went down; the window counts from the
	// restart, and the sparkline skips it.
	if s := step(); !strings.Contains(s, "redis ok") {
		t.Fatalf("Redis back not shown:\n%s", s)
	}
	if w := m.Data().Window.Redis; w == nil || w.OpsPerS < 0 || !w.Cumulative {
		t.Errorf("window after the restart: %+v", w)
	}
	step()
	if w := m.Data().Window.Redis; w == nil || w.OpsPerS != 100 || w.Cumulative {
		t.Errorf("window after reconnecting: %+v", w)
	}
	for _, v := range m.Data().History.Values(SeriesRedisOps) {
		if v < 0 {
			t.Errorf("negative ops in the history: %v", m.Data().History.Values(SeriesRedisOps))
		}
	}
	if got := len(m.Data().History.Values(SeriesRedisOps)); got != 2 {
		t.Errorf("history holds %d Redis points, want 2 (the cumulative windows are left out)", got)
	}
}

// TestProfileAndRefresh checks that p and r run as commands whose results
// come back to the runtime pane and the status line.
func TestProfileAndRefresh(t *testing.T) {
	fp := &fakeProber{snaps: []*probe.Snapshot{redisSnap(fixtureStart, "a", 10, 10, 0, 0), redisSnap(fixtureStart.Add(2*time.Second), "a", 12, 30, 0, 0)}}
	m := New(Options{Prober: fp, Interval: time.Hour, Now: func() time.Time { return fixtureStart }})
	m.Update(sizeMsg(100, 30))
	if cmd := m.Init(); cmd == nil {
		t.Fatal("Init does not poll")
	}
	_, cmd := m.Update(keyMsg("p"))
	if cmd == nil {
		t.Fatal("p returned no command")
	}
	if _, again := m.Update(keyMsg("p")); again != nil {
		t.Error("a second p while profiling started another profile")
	}
	m.Update(cmd())
	m.Update(keyMsg("7"))
	if s := screen(t, m, 100, 30); !strings.Contains(s, "runtime.scanobject") || !strings.Contains(s, "412 samples") {
		t.Errorf("runtime pane after p:\n%s", s)
	}
	m.polling = false
	_, cmd = m.Update(keyMsg("r"))
	if cmd == nil {
		t.Fatal("r returned no command")
	}
	if _, ok := cmd().(snapshotMsg); !ok {
		t.Error("r does not take a snapshot")
	}
}

// TestBeforeData renders every pane before any window, with and without a
// prober, at the smallest size.
func TestBeforeData(t *testing.T) {
	for _, prober := range []Prober{nil, &fakeProber{snaps: []*probe.Snapshot{redisSnap(fixtureStart, "a", 1, 1, 0, 0)}}} {
		m := New(Options{Prober: prober})
		m.Update(sizeMsg(80, 24))
		for _, k := range []string{"1", "2", "enter", "3", "enter", "4", "5", "6", "7", "8", "h", "?"} {
			m.Update(keyMsg(k))
			s := screen(t, m, 80, 24)
			if k == "1" && !strings.Contains(s, "waiting for the first window") {
				t.Errorf("overview before data:\n%s", s)
			}
		}
	}
}

// TestKeysTogether: keys read from the terminal in one go arrive as one
// message; each is taken in turn.
func TestKeysTogether(t *testing.T) {
	m := fixtureModel(t, 80, 24)
	m.Update(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune("3s")})
	if m.Active() != 2 || querySorts[m.queries.sortBy] != "calls/s" {
		t.Errorf("after \"3s\": pane %d, sort %s", m.Active(), querySorts[m.queries.sortBy])
	}
}

func TestProfileWithoutTarget(t *testing.T) {
	m := fixtureModel(t, 100, 30)
	m.Update(ProfileMsg{Seconds: 5, At: fixtureStart})
	m.Update(keyMsg("7"))
	s := screen(t, m, 100, 30)
	if strings.Count(s, "no pprof target to profile") != 2 {
		t.Errorf("a profile without target is not explained in the pane and the status line:\n%s", s)
	}
}

// TestProfileReachesRules: after p, the windows handed to the rules carry
// the profile (for ProfileTTL), so that the profile-based rules run.
func TestProfileReachesRules(t *testing.T) {
	t0 := time.Now()
	fp := &fakeProber{snaps: []*probe.Snapshot{redisSnap(t0, "a", 10, 10, 0, 0), redisSnap(t0.Add(2*time.Second), "a", 12, 30, 0, 0),
		redisSnap(t0.Add(4*time.Second), "a", 14, 50, 0, 0)}}
	set, err := rules.Default("")
	if err != nil {
		t.Fatal(err)
	}
	reg := rules.NewRegistry(rules.Def[struct{}]{ID: "app.blocking-io", Check: func(_ context.Context, in *rules.Input, _ struct{}) ([]rules.Finding, error) {
		if in.Window.Profiles == nil {
			return nil, nil
		}
		return []rules.Finding{{Subject: "handler", Title: "profile seen", Evidence: map[string]any{"samples": in.Window.Profiles.CPU.Samples}}}, nil
	}})
	m := New(Options{Prober: fp, Rules: set, Registry: reg, Interval: time.Millisecond})
	m.Update(sizeMsg(100, 30))
	feed(m, snapshotMsg{snap: fp.Snapshot(context.Background())})
	feed(m, tickMsg{seq: m.tickSeq})
	if len(m.Data().Findings) != 0 {
		t.Fatalf("findings before any profile: %+v", m.Data().Findings)
	}
	feed(m, keyMsg("p"))
	feed(m, tickMsg{seq: m.tickSeq})
	if f := m.Data().Findings; len(f) != 1 || f[0].Title != "profile seen" {
		t.Errorf("findings after p: %+v", f)
	}
}

// TestAnalysisSpan checks that the rules and panes see a window reaching
// back up to the analysis span, while the sparklines get every interval.
func TestAnalysisSpan(t *testing.T) {
	t0 := fixtureStart
	var snaps []*probe.Snapshot
	for i := int64(0); i <= 30; i++ {
		// 100 commands a second, readings 2 s apart.
		snaps = append(snaps, redisSnap(t0.Add(time.Duration(i)*2*time.Second), "a", 100+2*i, 1000+200*i, 10+2*i, 10))
	}
	fp := &fakeProber{snaps: snaps}
	set, err := rules.Default("")
	if err != nil {
		t.Fatal(err)
	}
	m := New(Options{Prober: fp, Rules: set, Registry: rules.Registry{}, Interval: time.Millisecond, AnalysisSpan: 30 * time.Second})
	m.Update(sizeMsg(120, 30))
	feed(m, snapshotMsg{snap: fp.Snapshot(context.Background())})
	for i := 0; i < 30; i++ {
		feed(m, tickMsg{seq: m.tickSeq})
		w := m.Data().Window
		if w == nil || w.Redis == nil {
			t.Fatalf("step %d: no window", i)
		}
		elapsed := w.End.Sub(t0)
		// The window reaches back as far as the span allows, in steps of
		// a third of it, and never further.
		if w.Seconds > 30 || (elapsed >= 30*time.Second && w.Seconds < 20) {
			t.Errorf("step %d (%s in): window of %.0f s", i, elapsed, w.Seconds)
		}
		if w.Redis.OpsPerS != 100 {
			t.Errorf("step %d: %v ops/s over the window, want 100", i, w.Redis.OpsPerS)
		}
	}
	pts := m.Data().History.Values(SeriesRedisOps)
	if len(pts) != 30 {
		t.Errorf("%d sparkline points, want one per interval (30)", len(pts))
	}
	for _, v := range pts {
		if v != 100 {
			t.Errorf("sparkline point %v, want 100", v)
		}
	}
}

// TestAnalysedWindowProfileSeconds: the windows attach hands the rules are
// finished as advisor report's are: their contention profiles cover the
// window, or for the first (cumulative) window the service's uptime.
func TestAnalysedWindowProfileSeconds(t *testing.T) {
	t0 := fixtureStart
	snap := func(at time.Time) *probe.Snapshot {
		s := redisSnap(at, "a", 7200, 1000, 0, 0)
		fams, err := metrics.ParseBytes([]byte(fmt.Sprintf("process_start_time_seconds %d\nhttp_requests_total 5\n", t0.Add(-time.Hour).Unix())))
		if err != nil {
			t.Fatal(err)
		}
		s.Metrics = metrics.NewSnapshot(at, fams, metrics.DefaultNames())
		s.Status[probe.Metrics] = source.Status{State: source.OK}
		return s
	}
	fp := &fakeProber{snaps: []*probe.Snapshot{snap(t0), snap(t0.Add(2 * time.Second))}}
	var seen []*probe.Window
	reg := rules.NewRegistry(rules.Def[struct{}]{ID: "app.blocking-io", Check: func(_ context.Context, in *rules.Input, _ struct{}) ([]rules.Finding, error) {
		seen = append(seen, in.Window)
		return nil, nil
	}})
	set, err := rules.Default("")
	if err != nil {
		t.Fatal(err)
	}
	m := New(Options{Prober: fp, Rules: set, Registry: reg, Interval: time.Millisecond})
	feed(m, snapshotMsg{snap: fp.Snapshot(context.Background())})
	feed(m, tickMsg{seq: m.tickSeq})
	if len(seen) != 2 {
		t.Fatalf("%d windows analysed, want 2", len(seen))
	}
	if w := seen[0]; !w.Cumulative || w.ProfileSeconds != 3600 {
		t.Errorf("first window (cumulative %v, %.0f s): profiles cover %.0f s, want the service's uptime (3600 s)",
			w.Cumulative, w.Seconds, w.ProfileSeconds)
	}
	if w := seen[1]; w.Cumulative || w.Seconds != 2 || w.ProfileSeconds != 2 {
		t.Errorf("second window (cumulative %v, %.0f s): profiles cover %.0f s, want 2 s", w.Cumulative, w.Seconds, w.ProfileSeconds)
	}
	if m.Data().Window != seen[1] {
		t.Error("the panes do not show the analysed window")
	}
}

// TestOpenFindingKept: a finding open in the detail view stays on screen,
// marked gone, when the next window no longer has it; back on the list, the
// list is the new window's.
func TestOpenFindingKept(t *testing.T) {
	m := fixtureModel(t, 100, 30)
	m.Update(keyMsg("2"))
	m.Update(keyMsg("enter"))
	open := screen(t, m, 100, 30)
	if !strings.Contains(open, "Evidence") || strings.Contains(open, "no longer found") {
		t.Fatalf("detail not open:\n%s", open)
	}
	m.Update(AnalysisMsg{Window: fixtureWindow(40), At: fixtureStart.Add(82 * time.Second)})
	kept := screen(t, m, 100, 30)
	if !strings.Contains(kept, "Evidence") || !strings.Contains(kept, "no longer found in the current window") {
		t.Errorf("the open finding was not kept when the window lost it:\n%s", kept)
	}
	m.Update(keyMsg("esc"))
	if list := screen(t, m, 100, 30); !strings.Contains(list, "no findings in this window") {
		t.Errorf("back on the list:\n%s", list)
	}
}

// TestSplitFromRulesInput: the analysis takes the time split from the very
// input the rules ran on, so both read the same memoised views.
func TestSplitFromRulesInput(t *testing.T) {
	t0 := fixtureStart
	fp := &fakeProber{snaps: []*probe.Snapshot{redisSnap(t0, "a", 10, 10, 0, 0), redisSnap(t0.Add(2*time.Second), "a", 12, 30, 0, 0)}}
	set, err := rules.Default("")
	if err != nil {
		t.Fatal(err)
	}
	var seen *rules.TimeSplit
	reg := rules.NewRegistry(rules.Def[struct{}]{ID: "app.blocking-io", Check: func(_ context.Context, in *rules.Input, _ struct{}) ([]rules.Finding, error) {
		seen = rules.Split(in)
		return nil, nil
	}})
	m := New(Options{Prober: fp, Rules: set, Registry: reg, Interval: time.Millisecond})
	m.Update(sizeMsg(80, 24))
	feed(m, snapshotMsg{snap: fp.Snapshot(context.Background())})
	feed(m, tickMsg{seq: m.tickSeq})
	if got := m.Data().Split; got == nil || got != seen {
		t.Fatalf("split %p, the rules' %p", got, seen)
	}
	// Redis alone: no request metrics, so the Time pane says why.
	feed(m, keyMsg("8"))
	if s := screen(t, m, 80, 24); !strings.Contains(s, "no request metrics") {
		t.Errorf("Time pane without request metrics:\n%s", s)
	}
}

// TestHeadlessDrawsNothing: a headless model (attach --headless) takes its
// analyses as the terminal UI does, and its View, which bubbletea asks for
// after every message even without a renderer, is empty.
func TestHeadlessDrawsNothing(t *testing.T) {
	var got []AnalysisMsg
	m := New(Options{Rules: fixtureRules(), Headless: true, Now: func() time.Time { return fixtureStart },
		OnAnalysis: func(msg AnalysisMsg) { got = append(got, msg) }})
	m.Update(sizeMsg(120, 40))
	msg := AnalysisMsg{Window: fixtureWindow(1), Findings: fixtureFindings(), At: fixtureStart.Add(2 * time.Second)}
	m.Update(msg)
	if len(got) != 1 || len(got[0].Findings) != len(msg.Findings) {
		t.Fatalf("OnAnalysis got %d analyses, want the one sent with its %d findings", len(got), len(msg.Findings))
	}
	if v := m.View(); v != "" {
		t.Errorf("headless View() = %q, want nothing", v)
	}
	// The same model with a screen draws the analysis.
	drawn := New(Options{Rules: fixtureRules(), Now: func() time.Time { return fixtureStart }})
	drawn.Update(sizeMsg(120, 40))
	drawn.Update(msg)
	if drawn.View() == "" {
		t.Error("a model with a screen drew nothing")
	}
}
