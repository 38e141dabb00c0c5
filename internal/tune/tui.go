package tune

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
)

// UI is the interactive terminal program of advisor tune: it shows the step
// table, what the current step is doing and the proposed fix with its
// evidence, and asks y (apply), n (skip) or q (quit). It is the Decider and
// the Events sink of the loop it runs.
type UI struct {
	prog    *tea.Program
	answers chan Decision
}

// NewUI makes the program on in and out.
func NewUI(in io.Reader, out io.Writer, opts ...tea.ProgramOption) *UI {
	u := &UI{answers: make(chan Decision, 1)}
	opts = append([]tea.ProgramOption{tea.WithInput(in), tea.WithOutput(out)}, opts...)
	u.prog = tea.NewProgram(newModel(u.answers), opts...)
	return u
}

// Decide shows p, the proposal it is given, and waits for the person's
// answer to it. It needs no event: the Proposing event, when forwarded by
// Event first, shows the same proposal a moment earlier.
func (u *UI) Decide(ctx context.Context, p Proposal) (Decision, error) {
	u.prog.Send(askMsg{p})
	select {
	case d := <-u.answers:
		return d, nil
	case <-ctx.Done():
		return Quit, ctx.Err()
	}
}

// Event forwards the loop's progress to the program.
func (u *UI) Event(e Event) { u.prog.Send(snapshotMsg(e)) }

// Progress forwards a report window's progress to the program.
func (u *UI) Progress(elapsed, total time.Duration) {
	u.prog.Send(progressMsg{elapsed, total})
}

// Run runs the program while run (the loop, with u as its Decider and
// Events) runs in a goroutine; q or ctrl+c cancels run's context. It returns
// run's outcome when both are done.
func (u *UI) Run(ctx context.Context, run func(ctx context.Context) (*Result, error)) (*Result, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type outcome struct {
		res *Result
		err error
	}
	done := make(chan outcome, 1)
	go func() {
		res, err := run(ctx)
		done <- outcome{res, err}
		u.prog.Send(doneMsg{})
	}()
	m, perr := u.prog.Run()
	quit := false
	if fm, ok := m.(model); ok && fm.quit {
		quit = true
		cancel()
	}
	if perr != nil {
		cancel()
	}
	o := <-done
	if quit && errors.Is(o.err, context.Canceled) && ctx.Err() != nil && o.res != nil {
		// The person quit during a measurement: the run so far is the
		// result, not an error.
		o.err = nil
		o.res.Stop = "the person asked to stop"
	}
	if o.err == nil && perr != nil {
		o.err = fmt.Errorf("terminal UI: %w", perr)
	}
	return o.res, o.err
}

// stateMsg is a copy of the loop's state at an event.
type stateMsg struct {
	kind      EventKind
	step      int
	again     bool
	proposal  *Proposal
	steps     []Step
	skipped   []Skipped
	stop      string
	remaining int
}

// snapshotMsg is the program's message for an event. It shares the
// event's proposal and result: the loop sent copies, it never changes them.
func snapshotMsg(e Event) stateMsg {
	m := stateMsg{kind: e.Kind, step: e.Step, again: e.Again, proposal: e.Proposal}
	if e.Result != nil {
		m.steps = e.Result.Steps
		m.skipped = e.Result.Skipped
		m.stop = e.Result.Stop
		m.remaining = len(e.Result.Remaining)
	}
	return m
}

// askMsg is a proposal Decide waits for an answer to.
type askMsg struct{ p Proposal }

type progressMsg struct{ elapsed, total time.Duration }

type doneMsg struct{}

var (
	titleStyle  = lipgloss.NewStyle().Bold(true)
	dimStyle    = lipgloss.NewStyle().Faint(true)
	promptStyle = lipgloss.NewStyle().Bold(true).Foreground(lipgloss.Color("3"))
	fixStyle    = lipgloss.NewStyle().Foreground(lipgloss.Color("2"))
	badStyle    = lipgloss.NewStyle().Foreground(lipgloss.Color("1"))
)

// model is the bubbletea model of UI.
type model struct {
	answers  chan<- Decision
	state    stateMsg
	progress progressMsg
	pending  *Proposal
	// answered is the last proposal answered: a key can answer the
	// proposal of a Proposing event before Decide asks about it.
	answered *Proposal
	status   string
	quit     bool
	done     bool
	width    int
}

func newModel(answers chan<- Decision) model {
	return model{answers: answers, status: "starting", width: 100}
}

func (m model) Init() tea.Cmd { return nil }

func (m model) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		m.width = msg.Width
	case stateMsg:
		m.state = msg
		switch msg.kind {
		case Measuring:
			m.pending = nil
			m.progress = progressMsg{}
			m.status = fmt.Sprintf("measuring step %d", msg.step)
			if msg.again {
				m.status += " again: it looked worse than the last kept step"
			}
		case Measured:
			m.status = fmt.Sprintf("step %d measured", msg.step)
		case Proposing:
			m.pending = msg.proposal
			m.status = fmt.Sprintf("fix proposed for step %d", msg.step)
		case Stopped:
			m.pending = nil
			m.status = "stopped: " + msg.stop
		}
	case askMsg:
		if m.answered == nil || !sameProposal(*m.answered, msg.p) {
			p := msg.p
			m.pending = &p
			m.status = fmt.Sprintf("fix proposed for step %d", p.Step)
		}
	case progressMsg:
		m.progress = msg
	case doneMsg:
		m.done = true
		return m, tea.Quit
	case tea.KeyMsg:
		switch msg.String() {
		case "ctrl+c":
			m.quit = true
			return m, tea.Quit
		case "q":
			if m.pending != nil {
				m.answered = m.pending
				m.answer(Quit)
				m.status = "quitting"
				return m, nil
			}
			m.quit = true
			return m, tea.Quit
		case "y", "enter":
			if m.pending != nil {
				m.answered = m.pending
				m.answer(Apply)
				m.status = "applying " + m.pending.Action.String()
				m.pending = nil
			}
		case "n":
			if m.pending != nil {
				m.answered = m.pending
				m.answer(Skip)
				m.status = "skipped " + m.pending.Action.String()
				m.pending = nil
			}
		}
	}
	return m, nil
}

// answer hands the decision to the waiting Decide; the channel holds one.
func (m *model) answer(d Decision) {
	select {
	case m.answers <- d:
	default:
	}
}

func (m model) View() string {
	var b strings.Builder
	b.WriteString(titleStyle.Render("advisor tune") + dimStyle.Render("  y apply · n skip · q quit") + "\n\n")
	if len(m.state.steps) > 0 {
		_ = WriteSteps(&b, m.state.steps)
		last := m.state.steps[len(m.state.steps)-1]
		if last.Outcome == Reverted {
			b.WriteString(badStyle.Render(fmt.Sprintf("step %d made things worse (%s): reverted", last.N, last.Verdict)) + "\n")
		}
		b.WriteString("\n")
	}
	status := m.status
	if m.progress.total > 0 && m.pending == nil && !m.done {
		status += fmt.Sprintf(" · report window %s of %s", m.progress.elapsed.Round(time.Second), m.progress.total)
	}
	b.WriteString(dimStyle.Render(status) + "\n")
	if p := m.pending; p != nil {
		b.WriteString("\n" + renderProposal(p, m.width))
		b.WriteString("\n" + promptStyle.Render(fmt.Sprintf("apply %s? [y/n/q]", p.Action)) + "\n")
	}
	if n := len(m.state.skipped); n > 0 {
		s := m.state.skipped[n-1]
		b.WriteString(dimStyle.Render(fmt.Sprintf("\nnot applied: %s %s: %s", s.Finding.Rule, s.Finding.Subject, s.Reason)) + "\n")
	}
	return b.String()
}

// renderProposal shows the finding with its evidence and fix.
func renderProposal(p *Proposal, width int) string {
	f := p.Finding
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s  (impact %.0f%%, ranked %d of %d)\n", titleStyle.Render(f.Severity.String()), titleStyle.Render(f.Title),
		100*f.Impact, rankOf(p), len(p.Ranked))
	fmt.Fprintf(&b, "  rule %s · subject %s\n", f.Rule, f.Subject)
	if f.Location != "" {
		fmt.Fprintf(&b, "  at %s\n", f.Location)
	}
	keys := make([]string, 0, len(f.Evidence))
	for k := range f.Evidence {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		line := fmt.Sprintf("  %s: %v", k, f.Evidence[k])
		if width > 10 && len(line) > width-2 {
			line = line[:width-3] + "…"
		}
		b.WriteString(dimStyle.Render(line) + "\n")
	}
	wrap := lipgloss.NewStyle().Width(max(width-2, 20)).PaddingLeft(2)
	b.WriteString(wrap.Render("fix: "+strings.TrimSpace(f.Fix.Summary)) + "\n")
	if f.Fix.SQL != "" {
		b.WriteString(wrap.Render("sql: "+strings.TrimSpace(f.Fix.SQL)) + "\n")
	}
	b.WriteString(fixStyle.Render(fmt.Sprintf("  on sampleapp: set %s (now %s)", p.Action, p.Current)) + "\n")
	return b.String()
}

// sameProposal reports whether a and b propose the same fix for the same
// finding at the same step: no two proposals of a run do.
func sameProposal(a, b Proposal) bool {
	return a.Step == b.Step && a.Action == b.Action && a.Current == b.Current && a.Finding.Fingerprint() == b.Finding.Fingerprint()
}

func rankOf(p *Proposal) int {
	for i, f := range p.Ranked {
		if f.Fingerprint() == p.Finding.Fingerprint() {
			return i + 1
		}
	}
	return 0
}

// Compile-time check: UI decides.
var _ Decider = (*UI)(nil)
