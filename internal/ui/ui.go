// Package ui is advisor's live terminal UI (advisor attach): a bubbletea
// program with one pane per view of the service (overview, findings,
// queries, tables and indexes, pools and connections, Redis, Go runtime,
// where the requests' time goes).
//
// Data flows one way. Every interval a command takes a probe.Snapshot and
// sends it back as a message; the model feeds it to its probe.Session, which
// builds the windows that end at it, and runs the rules on the analysis
// window in another command; the window and its findings go to every pane. Update never does I/O: every
// probe, EXPLAIN, profile, export and clipboard write runs as a tea.Cmd whose
// result comes back as a message to the pane that asked for it. With no
// Prober the model polls nothing and shows what it is sent (AnalysisMsg,
// ProfileMsg): the tests drive it that way.
//
// Pausing (space) freezes what the panes show: the model goes on polling
// and feeding its session and sparklines' history, but holds the readings
// (the latest analysis window, the sparklines' new points) until it resumes.
package ui

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/charmbracelet/bubbles/help"
	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"

	"github.com/pgadvisor/advisor/internal/probe"
	"github.com/pgadvisor/advisor/internal/probe/postgres"
	"github.com/pgadvisor/advisor/internal/probe/pprof"
	"github.com/pgadvisor/advisor/internal/probe/source"
	"github.com/pgadvisor/advisor/internal/rules"
)

// Prober reads the sources; *probe.Probes implements it.
type Prober interface {
	Snapshot(ctx context.Context) *probe.Snapshot
	Profiles(ctx context.Context, cpuSeconds int) *pprof.Snapshot
	Explainer() postgres.Explainer
	Config() probe.Config
}

var _ Prober = (*probe.Probes)(nil)

// Defaults of Options.
const (
	DefaultInterval       = 2 * time.Second
	DefaultProfileSeconds = 5
	// DefaultHistory is how many windows the sparklines keep.
	DefaultHistory = 150
	// DefaultAnalysisSpan is how far back the analysed window reaches.
	DefaultAnalysisSpan = 30 * time.Second
	// DefaultSampleEvery and DefaultSampleFor: attach reads the sources
	// every half second over its first twenty seconds, the time in which
	// its first findings should be on screen: the app rules count
	// goroutine samples, one dump a reading, and a handler a tenth of the
	// requests gives its few samples four times as fast as at the interval.
	DefaultSampleEvery = 500 * time.Millisecond
	DefaultSampleFor   = 20 * time.Second
	// ProfileTTL is how long an on-demand profile is handed to the rules
	// with each window after it was taken.
	ProfileTTL = 60 * time.Second
)

// Options configure the model.
type Options struct {
	// Context bounds every command the model runs; cancel it to stop them.
	Context context.Context
	// Prober is polled every Interval; nil polls nothing.
	Prober   Prober
	Interval time.Duration
	// Initial is a snapshot already taken (advisor attach takes one to
	// check that a source answers); the first window starts from it.
	Initial *probe.Snapshot
	// ProfileSeconds is the length of the CPU profile `p` takes.
	ProfileSeconds int
	// Rules and Registry are what runs on each window.
	Rules    *rules.Set
	Registry rules.Registry
	// Explainer runs EXPLAIN for the rules and the Queries pane; nil takes
	// the Prober's.
	Explainer postgres.Explainer
	// ExportDir receives the reports `e` writes and the profiles `w` saves
	// (default: the current directory).
	ExportDir string
	// Clipboard receives the fix `y` copies; nil means no clipboard.
	Clipboard Clipboard
	// Sources describes what is attached to, for the title line.
	Sources string
	// History is how many windows the sparklines keep.
	History int
	// AnalysisSpan is how far back the window the rules and panes see
	// reaches (default DefaultAnalysisSpan): rates over one interval are
	// noisy, and findings gain confidence as the window grows.
	// The sparklines still move every interval.
	AnalysisSpan time.Duration
	// HoldReadings is how many consecutive analyses must agree before a
	// finding appears or leaves (hysteresis; advisor attach uses
	// DefaultHoldReadings); 0 or 1 shows each analysis as it is.
	HoldReadings int
	// SampleEvery, when set, is the time between two readings over the
	// first SampleFor of the session (default DefaultSampleFor), so that
	// the first analyses rest on many readings; Interval after that.
	SampleEvery time.Duration
	SampleFor   time.Duration
	// OnAnalysis, when set, is called with each analysis as the model takes
	// it in: a headless run (advisor attach --headless) logs it.
	OnAnalysis func(AnalysisMsg)
	// Headless draws nothing: View returns "" (a program without renderer
	// still asks for the view after every message, and drawing every pane
	// was a tenth of a headless attach's CPU time).
	Headless bool
	// Now is the clock (tests pin it).
	Now    func() time.Time
	Styles *Styles
}

// Messages. Those the poller produces are exported so that a headless
// driver or a test can send the same.
type (
	// AnalysisMsg is a window and what the rules found in it.
	AnalysisMsg struct {
		Window   *probe.Window
		Findings []rules.Finding
		// Split is where the requests' time went in Window, taken from the
		// rules' input (rules.Split); nil when not computed.
		Split  *rules.TimeSplit
		Errors []error
		At     time.Time
		// Sampled is set when the poller already put the interval's numbers
		// in the sparklines; otherwise (a headless driver, a test) Window
		// goes there.
		Sampled bool
		// Fading holds the fingerprints of the findings shown from earlier
		// analyses that this one lacks (Options.HoldReadings); the model
		// fills it, with Findings as shown, before OnAnalysis.
		Fading map[string]bool
		// steadied is set once the hold took the analysis in, so that one
		// held while paused is not counted twice on resume.
		steadied bool
	}
	// ProfileMsg is the result of an on-demand profile.
	ProfileMsg struct {
		Profile *pprof.Snapshot
		Seconds int
		At      time.Time
	}
	// StatusMsg is a line for the status bar.
	StatusMsg string

	snapshotMsg   struct{ snap *probe.Snapshot }
	tickMsg       struct{ seq int }
	sampleTickMsg struct{ seq int }
	goroutinesMsg struct{ dump *pprof.GoroutineResult }
)

// Pane is one view of the UI. Panes are pointers updated in place by the
// root model, which routes them the messages addressed to them.
type Pane interface {
	// Title names the pane in the tab line.
	Title() string
	SetSize(width, height int)
	// SetData gives the pane the latest window and findings.
	SetData(d *Data)
	// Update handles a key or a message routed to the pane.
	Update(msg tea.Msg) tea.Cmd
	// View renders exactly the size set.
	View() string
	// Keys are the pane's own bindings, for the help.
	Keys() []key.Binding
}

// filterable panes take the `/` filter.
type filterable interface {
	SetFilter(f string)
	Filter() string
}

// Model is the root model: the tab line, the active pane, the status line
// and the help.
type Model struct {
	opts   Options
	ctx    context.Context
	st     *Styles
	km     KeyMap
	help   help.Model
	panes  []Pane
	active int

	width, height int

	filtering bool
	data      *Data

	// session keeps the snapshots and builds the windows.
	session *probe.Session
	// history is the sparklines' history, fed every interval; the panes
	// see it through data, except while paused.
	history   *History
	polling   bool
	tickSeq   int
	analysing bool
	pending   *probe.Window
	profiling bool
	profile   *ProfileMsg
	// saved is what the save key wrote of profile.
	saved     *profilesSavedMsg
	message   string
	messageAt time.Time
	quitting  bool

	// paused freezes data: readings go on, held until the next space.
	paused bool
	// held is the latest analysis taken in while paused; heldReadings
	// counts the readings since the pause.
	held         *AnalysisMsg
	heldReadings int

	// steady applies Options.HoldReadings to the analyses; start is when
	// the model was made, for Options.SampleFor.
	steady *hold
	start  time.Time
	// dumps are the goroutine dumps sampled since the last reading, for
	// the next one's windows; sampleSeq numbers the chains of samples (one
	// per reading) and sampling is set while a dump is taken.
	dumps     []*pprof.GoroutineResult
	sampleSeq int
	sampling  bool
	// samples remembers the dumps' goroutines classified by the analysis
	// before: the next window holds most of the same dumps.
	samples *rules.SampleMemo

	overview *overviewPane
	findings *findingsPane
	queries  *queriesPane
	runtime  *runtimePane
}

// New returns the model.
func New(opts Options) *Model {
	if opts.Context == nil {
		opts.Context = context.Background()
	}
	if opts.Interval <= 0 {
		opts.Interval = DefaultInterval
	}
	if opts.ProfileSeconds <= 0 {
		opts.ProfileSeconds = DefaultProfileSeconds
	}
	if opts.History <= 0 {
		opts.History = DefaultHistory
	}
	if opts.AnalysisSpan <= 0 {
		opts.AnalysisSpan = DefaultAnalysisSpan
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Styles == nil {
		opts.Styles = DefaultStyles()
	}
	if opts.SampleFor <= 0 {
		opts.SampleFor = DefaultSampleFor
	}
	if opts.ExportDir == "" {
		opts.ExportDir = "."
	}
	sess := probe.SessionOptions{AnalysisSpan: opts.AnalysisSpan}
	if opts.Prober != nil {
		sess.InternalHosts = opts.Prober.Config().Sources.InternalHosts
		if opts.Explainer == nil {
			opts.Explainer = opts.Prober.Explainer()
		}
	}
	m := &Model{opts: opts, ctx: opts.Context, st: opts.Styles, km: DefaultKeyMap(), help: help.New(),
		width: 80, height: 24, session: probe.NewSession(sess)}
	m.history = NewHistory(opts.History)
	m.steady = newHold(opts.HoldReadings)
	m.samples = rules.NewSampleMemo()
	m.start = opts.Now()
	m.data = &Data{History: m.history, Rules: opts.Rules}
	sh := &shared{st: m.st, km: m.km, ctx: m.ctx, clipboard: opts.Clipboard, now: opts.Now, explainer: opts.Explainer}
	m.overview = newOverviewPane(sh)
	m.findings = newFindingsPane(sh)
	m.queries = newQueriesPane(sh)
	m.runtime = newRuntimePane(sh, opts.ProfileSeconds)
	m.panes = []Pane{m.overview, m.findings, m.queries, newTablesPane(sh), newPoolPane(sh), newRedisPane(sh), m.runtime, newTimePane(sh)}
	for _, p := range m.panes {
		p.SetData(m.data)
	}
	m.layout()
	return m
}

// shared is what every pane reads besides its data.
type shared struct {
	st        *Styles
	km        KeyMap
	ctx       context.Context
	clipboard Clipboard
	now       func() time.Time
	// explainer runs EXPLAIN on the PostgreSQL source; nil without one.
	explainer postgres.Explainer
}

// Init starts polling.
func (m *Model) Init() tea.Cmd {
	if m.opts.Prober == nil {
		return nil
	}
	m.polling = true
	m.say("reading the sources…")
	if first := m.opts.Initial; first != nil {
		return func() tea.Msg { return snapshotMsg{snap: first} }
	}
	return m.snapshotCmd()
}

// Active returns the index of the active pane.
func (m *Model) Active() int { return m.active }

// Data returns what the panes show.
func (m *Model) Data() *Data { return m.data }

func (m *Model) snapshotCmd() tea.Cmd {
	p, ctx := m.opts.Prober, m.ctx
	return func() tea.Msg { return snapshotMsg{snap: p.Snapshot(ctx)} }
}

// tick waits an interval. Unlike tea.Tick, whose goroutine outlives the
// program by up to an interval, it ends when the model's context does.
func (m *Model) tick() tea.Cmd {
	m.tickSeq++
	seq, ctx, d := m.tickSeq, m.ctx, m.nextReading()
	return func() tea.Msg {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
			return tickMsg{seq: seq}
		case <-ctx.Done():
			return nil
		}
	}
}

// analyseCmd runs the rules on a window (rules may call the Explainer) and
// takes the time split from the same input.
func (m *Model) analyseCmd(w *probe.Window) tea.Cmd {
	m.analysing = true
	ctx, set, reg, ex, now, samples := m.ctx, m.opts.Rules, m.opts.Registry, m.opts.Explainer, m.opts.Now, m.samples
	return func() tea.Msg {
		a := rules.Analyse(ctx, &rules.Input{Window: w, Explainer: ex, Samples: samples}, set, reg)
		return AnalysisMsg{Window: w, At: now(), Sampled: true, Findings: a.Findings, Errors: a.Errors, Split: a.Split}
	}
}

func (m *Model) profileCmd() tea.Cmd {
	m.profiling = true
	p, ctx, secs, now := m.opts.Prober, m.ctx, m.opts.ProfileSeconds, m.opts.Now
	return func() tea.Msg {
		return ProfileMsg{Profile: p.Profiles(ctx, secs), Seconds: secs, At: now()}
	}
}

// Update handles a message.
func (m *Model) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		m.width, m.height = msg.Width, msg.Height
		m.layout()
		return m, nil
	case tea.KeyMsg:
		return m, m.key(msg)
	case tickMsg:
		if msg.seq != m.tickSeq || m.polling || m.opts.Prober == nil {
			return m, nil
		}
		m.polling = true
		return m, m.snapshotCmd()
	case snapshotMsg:
		return m, m.snapshot(msg.snap)
	case sampleTickMsg:
		return m, m.sampleDue(msg)
	case goroutinesMsg:
		return m, m.sampled(msg)
	case AnalysisMsg:
		return m, m.analysis(msg)
	case ProfileMsg:
		m.profiling = false
		m.profile, m.saved = &msg, nil
		switch {
		case msg.Profile == nil:
			m.say("no pprof target to profile: pass --target or --pprof")
		case !msg.Profile.Status.Ok():
			m.say("profile failed: " + source.Redact(msg.Profile.Status.Detail))
		default:
			m.say(fmt.Sprintf("CPU profile of %ds taken at %s: see the Runtime pane", msg.Seconds, msg.At.Format("15:04:05")))
		}
		return m, m.runtime.Update(msg)
	case profilesSavedMsg:
		return m, m.profilesSaved(msg)
	case planMsg:
		return m, m.queries.Update(msg)
	case StatusMsg:
		m.say(string(msg))
		return m, nil
	}
	return m, nil
}

// say sets the status line's message; it shows for messageTTL.
func (m *Model) say(msg string) {
	m.message, m.messageAt = msg, m.opts.Now()
}

// messageTTL is how long a message stays in the status line.
const messageTTL = 15 * time.Second

// snapshot feeds the session this snapshot and hands the analysis window it
// ends to the rules (one run at a time: the latest window waits).
func (m *Model) snapshot(cur *probe.Snapshot) tea.Cmd {
	m.polling = false
	if m.message == "reading the sources…" || m.message == "refreshing…" {
		m.message = ""
	}
	// The dumps sampled since the last reading go into its windows.
	extra := probe.Extra{Goroutines: m.dumps}
	m.dumps = nil
	if p := m.profile; p != nil && p.Profile != nil && cur.Time.Sub(p.At) < ProfileTTL {
		extra.Profiles = p.Profile
	}
	// The interval window feeds the sparklines; the analysis window, over
	// up to AnalysisSpan, the rules and the panes.
	step := m.session.Add(cur, extra)
	m.history.Add(step.Interval)
	w := step.Analysis
	cmds := []tea.Cmd{m.tick()}
	m.sampleSeq++
	if c := m.sampleTick(); c != nil {
		cmds = append(cmds, c)
	}
	if m.paused {
		// Held: analysed when the UI resumes, if still the latest.
		m.heldReadings++
		m.pending = w
	} else if m.analysing {
		m.pending = w
	} else {
		cmds = append(cmds, m.analyseCmd(w))
	}
	return tea.Batch(cmds...)
}

func (m *Model) analysis(msg AnalysisMsg) tea.Cmd {
	m.analysing = false
	if !msg.steadied {
		var start, end time.Time
		if w := msg.Window; w != nil {
			start, end = w.Start, w.End
		}
		msg.Findings, msg.Fading = m.steady.stepWindow(msg.Findings, start, end)
		msg.steadied = true
	}
	if !msg.Sampled {
		m.history.Add(msg.Window)
	}
	if m.paused {
		if !msg.Sampled {
			m.heldReadings++
		}
		m.held = &msg
		return nil
	}
	m.data = &Data{Window: msg.Window, Findings: msg.Findings, Fading: msg.Fading, Split: msg.Split, RuleErrors: msg.Errors,
		History: m.history, Rules: m.opts.Rules, At: msg.At}
	if m.opts.OnAnalysis != nil {
		m.opts.OnAnalysis(msg)
	}
	for _, p := range m.panes {
		p.SetData(m.data)
	}
	if m.pending != nil {
		w := m.pending
		m.pending = nil
		return m.analyseCmd(w)
	}
	return nil
}

// key handles a key press: the filter line first, then the global keys, then
// the active pane.
func (m *Model) key(msg tea.KeyMsg) tea.Cmd {
	if msg.String() == "ctrl+c" {
		m.quitting = true
		return tea.Quit
	}
	if m.filtering {
		m.filterKey(msg)
		return nil
	}
	if msg.Type == tea.KeyRunes && len(msg.Runes) > 1 && !msg.Paste {
		// Keys typed faster than the terminal is read arrive together:
		// take them one by one.
		var cmds []tea.Cmd
		for _, r := range msg.Runes {
			cmds = append(cmds, m.key(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune{r}, Alt: msg.Alt}))
		}
		return tea.Batch(cmds...)
	}
	pane := m.panes[m.active]
	switch {
	case key.Matches(msg, m.km.Quit):
		m.quitting = true
		return tea.Quit
	case key.Matches(msg, m.km.Help):
		m.help.ShowAll = !m.help.ShowAll
		m.layout()
		return nil
	case key.Matches(msg, m.km.Next):
		m.switchTo((m.active + 1) % len(m.panes))
		return nil
	case key.Matches(msg, m.km.Prev):
		m.switchTo((m.active + len(m.panes) - 1) % len(m.panes))
		return nil
	case key.Matches(msg, m.km.Jump):
		m.switchTo(int(msg.Runes[0] - '1'))
		return nil
	case key.Matches(msg, m.km.Filter):
		if _, ok := pane.(filterable); ok {
			m.filtering = true
			m.layout()
		}
		return nil
	case key.Matches(msg, m.km.Pause):
		return m.togglePause()
	case key.Matches(msg, m.km.Save):
		return m.saveProfiles()
	case key.Matches(msg, m.km.Refresh):
		if m.opts.Prober == nil {
			m.say("nothing to refresh: no source attached")
			return nil
		}
		if m.paused {
			m.say("paused: space resumes, then r reads the sources now")
			return nil
		}
		if m.polling {
			return nil
		}
		m.polling = true
		m.say("refreshing…")
		return m.snapshotCmd()
	case key.Matches(msg, m.km.Profile):
		switch {
		case m.opts.Prober == nil:
			m.say("no pprof target attached")
		case m.profiling:
			m.say("a profile is already running")
		default:
			m.say(fmt.Sprintf("taking a %ds CPU profile…", m.opts.ProfileSeconds))
			return m.profileCmd()
		}
		return nil
	case key.Matches(msg, m.km.Export):
		if m.data.Window == nil {
			m.say("nothing to export yet: no window analysed")
			return nil
		}
		m.say("exporting…")
		return exportCmd(m.opts.ExportDir, m.data, m.opts.Now())
	}
	return pane.Update(msg)
}

// togglePause freezes what the panes show, or resumes with the latest
// reading held while paused.
func (m *Model) togglePause() tea.Cmd {
	if !m.paused {
		m.paused, m.heldReadings = true, 0
		// The panes keep this data, and a copy of the sparklines' history
		// as it is now; the model goes on feeding the original.
		d := *m.data
		d.History = m.history.Clone()
		m.setData(&d)
		m.say("space resumes; the readings taken meanwhile are held")
		return nil
	}
	m.paused = false
	n := m.heldReadings
	m.heldReadings = 0
	m.say(fmt.Sprintf("resumed: %s while paused", plural(n, "reading", "readings")))
	if held := m.held; held != nil {
		// Its window is in the history already.
		m.held = nil
		held.Sampled = true
		return m.analysis(*held)
	}
	d := *m.data
	d.History = m.history
	m.setData(&d)
	if m.pending != nil && !m.analysing {
		w := m.pending
		m.pending = nil
		return m.analyseCmd(w)
	}
	return nil
}

func (m *Model) setData(d *Data) {
	m.data = d
	for _, p := range m.panes {
		p.SetData(d)
	}
}

// saveProfiles saves the CPU and goroutine profiles of the last profile
// round (p) into the export directory.
func (m *Model) saveProfiles() tea.Cmd {
	p := m.profile
	switch {
	case p == nil && m.profiling:
		m.say("a CPU profile is being taken: w saves it once it is shown")
	case p == nil && (m.opts.Prober == nil || m.opts.Prober.Config().Sources.PprofURL() == ""):
		m.say("nothing to save: no pprof target (a Go service serving net/http/pprof: pass --target or --pprof)")
	case p == nil:
		m.say("no CPU profile yet: p takes one, then w saves it")
	case m.saved != nil && m.saved.profile == p.Profile && m.saved.err == nil:
		m.say("already saved: " + strings.Join(m.saved.saved.Paths, " and "))
	default:
		m.say("saving the profiles…")
		return saveProfilesCmd(m.opts.ExportDir, p)
	}
	return nil
}

// profilesSaved says where the profiles went; the Runtime pane shows it
// under the profile.
func (m *Model) profilesSaved(msg profilesSavedMsg) tea.Cmd {
	if m.profile == nil || msg.profile != m.profile.Profile {
		return nil // a newer profile came meanwhile
	}
	m.saved = &msg
	switch {
	case msg.err != nil:
		m.say(source.Redact(msg.err.Error()))
	default:
		line := "saved (7 Runtime): " + strings.Join(msg.saved.Paths, " and ")
		if len(msg.saved.Missing) > 0 {
			line += "; " + strings.Join(msg.saved.Missing, "; ")
		}
		m.say(source.Redact(line))
	}
	return m.runtime.Update(msg)
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

func (m *Model) filterKey(msg tea.KeyMsg) {
	f := m.panes[m.active].(filterable)
	text := f.Filter()
	switch msg.Type {
	case tea.KeyEsc:
		text = ""
		m.filtering = false
	case tea.KeyEnter:
		m.filtering = false
	case tea.KeyBackspace:
		if r := []rune(text); len(r) > 0 {
			text = string(r[:len(r)-1])
		}
	case tea.KeySpace:
		text += " "
	case tea.KeyRunes:
		text += string(msg.Runes)
	}
	f.SetFilter(text)
	m.layout()
}

func (m *Model) switchTo(i int) {
	if i >= 0 && i < len(m.panes) {
		m.active = i
		m.layout()
	}
}
