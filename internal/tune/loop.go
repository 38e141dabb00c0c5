// Package tune is advisor's guided tuning of the bundled sample service: it
// measures a load step, ranks what the rules found, applies the top fix by
// setting the sampleapp knob the finding's rule maps to, measures again,
// keeps the fix or reverts it when things got worse, and repeats until no
// finding at or above the threshold remains.
//
// The loop (Run) takes small interfaces: a Measurer that runs one load step
// and returns its figures and findings, a Knobs that reads and sets knobs,
// and a Decider that says whether to apply a proposed fix. Live, AppKnobs and
// AdminKnobs are the real ones; Auto and the terminal UI are the deciders.
package tune

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/pgadvisor/advisor/internal/rules"
	"github.com/pgadvisor/advisor/sampleapp"
)

// Metrics are the figures of one load step.
type Metrics struct {
	// Requests and Errors the load generator counted; RPS over the step.
	Requests, Errors int64
	RPS              float64
	// Latency percentiles the load generator measured.
	P50, P95, P99 time.Duration
	// QueriesPerRequest is the service's DB queries (its own counter,
	// sampleapp_db_queries_total, hops included) per API request over the
	// report window; HopsPerRequest the calls its internal services
	// received per API request. Has* say whether the target exposed them.
	QueriesPerRequest, HopsPerRequest float64
	HasQueries, HasHops               bool
}

// ErrorRate is Errors per request.
func (m Metrics) ErrorRate() float64 {
	if m.Requests == 0 {
		return 0
	}
	return float64(m.Errors) / float64(m.Requests)
}

// Measurement is what one load step gave: its figures and the findings of
// the report window taken inside it.
type Measurement struct {
	Metrics  Metrics
	Findings []rules.Finding
	// Warnings are the rule errors of the window (a detector that failed);
	// they do not stop the loop.
	Warnings []error
}

// Measurer runs one load step (the same load every time) and returns what it
// measured.
type Measurer interface {
	Measure(ctx context.Context) (*Measurement, error)
}

// Knobs reads and sets sampleapp's knobs.
type Knobs interface {
	Settings(ctx context.Context) (sampleapp.Settings, error)
	SetKnob(ctx context.Context, name, value string) error
}

// Decision is the answer to a proposed fix.
type Decision int

// Decisions.
const (
	// Apply the fix and measure.
	Apply Decision = iota
	// Skip this fix and propose the next one.
	Skip
	// Quit stops the loop.
	Quit
)

// Proposal is the fix the loop would apply next.
type Proposal struct {
	// Step is the number the step will have.
	Step    int
	Finding rules.Finding
	Action  Action
	// Current is the knob's value now.
	Current string
	// Ranked are the findings at or above the threshold of the state the
	// fix applies to, ranked; Finding is one of them.
	Ranked []rules.Finding
}

// Decider says whether to apply a proposed fix.
type Decider interface {
	Decide(ctx context.Context, p Proposal) (Decision, error)
}

// Auto applies every proposed fix (advisor tune --auto).
type Auto struct{}

// Decide returns Apply.
func (Auto) Decide(context.Context, Proposal) (Decision, error) { return Apply, nil }

// Noise says how far a step's figures must move against the last kept step
// before a fix counts as having made things worse. Measurements on a shared
// machine move by several percent from one step to the next with nothing
// changed; p95 moves more than RPS.
type Noise struct {
	// RPS: a fix is reverted when RPS fell by more than this fraction while
	// p95 did not fall by more than the P95 fraction (less throughput for a
	// shorter tail is a trade, kept and shown).
	RPS float64
	// P95: ... or when p95 rose by more than this fraction while RPS did not
	// rise by more than the RPS fraction (more throughput for a longer tail
	// is a trade too).
	P95 float64
	// ErrorRate: ... or when the share of failed requests rose by more than
	// this (absolute, 0.01 = one point).
	ErrorRate float64
}

// DefaultNoise is the noise band of advisor tune: 10% RPS, 25% p95, one
// point of error rate.
var DefaultNoise = Noise{RPS: 0.10, P95: 0.25, ErrorRate: 0.01}

// Worse reports whether after is worse than before beyond the noise, and
// why.
func (n Noise) Worse(before, after Metrics) (bool, string) {
	rpsDown := before.RPS > 0 && after.RPS < before.RPS*(1-n.RPS)
	rpsUp := after.RPS > before.RPS*(1+n.RPS)
	p95Up := before.P95 > 0 && float64(after.P95) > float64(before.P95)*(1+n.P95)
	p95Down := before.P95 > 0 && float64(after.P95) < float64(before.P95)*(1-n.P95)
	switch {
	case after.ErrorRate()-before.ErrorRate() > n.ErrorRate:
		return true, fmt.Sprintf("errors rose from %.1f%% to %.1f%% of requests", 100*before.ErrorRate(), 100*after.ErrorRate())
	case rpsDown && !p95Down:
		return true, fmt.Sprintf("RPS fell %.0f%% (%.1f -> %.1f) with no gain in p95, beyond the %.0f%% noise band",
			100*(1-after.RPS/before.RPS), before.RPS, after.RPS, 100*n.RPS)
	case p95Up && !rpsUp:
		return true, fmt.Sprintf("p95 rose %.0f%% (%s -> %s) with no gain in RPS, beyond the %.0f%% noise band",
			100*(float64(after.P95)/float64(before.P95)-1), fmtDur(before.P95), fmtDur(after.P95), 100*n.P95)
	}
	return false, ""
}

// Outcome of a step.
type Outcome string

// Outcomes.
const (
	// Baseline is the first step: nothing applied.
	Baseline Outcome = "baseline"
	// Kept: the fix did not make things worse.
	Kept Outcome = "kept"
	// Reverted: the fix made things worse and was undone.
	Reverted Outcome = "reverted"
)

// Applied is a fix the loop applied.
type Applied struct {
	Finding rules.Finding
	Action  Action
	// From is the knob's value before.
	From string
	// Why says why this finding was chosen.
	Why string
}

// Step is one measured load step.
type Step struct {
	N int
	// Fix is nil for the baseline.
	Fix     *Applied
	Metrics Metrics
	// Findings at or above the threshold, ranked; All holds every finding
	// of the step's window, whatever its severity.
	Findings []rules.Finding
	All      []rules.Finding
	Outcome  Outcome
	// Verdict explains the outcome (why a fix was reverted).
	Verdict string
	// Remeasured holds the first measurement of the step when it looked
	// worse and the step was measured again; Metrics is the second.
	Remeasured *Metrics
	Warnings   []error
}

// Skipped is a finding shown and not applied.
type Skipped struct {
	Step    int
	Finding rules.Finding
	Reason  string
}

// Result is what a tuning run did.
type Result struct {
	Steps   []Step
	Skipped []Skipped
	// Remaining are the findings at or above the threshold in the state the
	// run ended in.
	Remaining []rules.Finding
	// Stop says why the loop ended.
	Stop string
}

// First is the baseline step (nil before it was measured).
func (r *Result) First() *Step {
	if r == nil || len(r.Steps) == 0 {
		return nil
	}
	return &r.Steps[0]
}

// Last is the last kept step: the state the run ended in.
func (r *Result) Last() *Step {
	if r == nil {
		return nil
	}
	for i := len(r.Steps) - 1; i >= 0; i-- {
		if r.Steps[i].Outcome != Reverted {
			return &r.Steps[i]
		}
	}
	return nil
}

// Applied lists the fixes kept, in order.
func (r *Result) Applied() []Applied {
	var out []Applied
	for _, s := range r.Steps {
		if s.Fix != nil && s.Outcome == Kept {
			out = append(out, *s.Fix)
		}
	}
	return out
}

// EventKind says what happened.
type EventKind int

// Event kinds.
const (
	// Measuring: a load step started (Step is its number).
	Measuring EventKind = iota
	// Measured: a step is done (Result holds it as the last step).
	Measured
	// Proposing: a fix is proposed (Proposal).
	Proposing
	// SkippedFinding: a finding was shown and not applied (Result's last
	// Skipped).
	SkippedFinding
	// Stopped: the loop ended (Result.Stop).
	Stopped
)

// Event reports progress to a UI. Result is the run so far: read it in the
// callback, do not keep it.
type Event struct {
	Kind EventKind
	Step int
	// Again is set on Measuring when a step that looked worse is measured
	// a second time.
	Again    bool
	Proposal *Proposal
	Result   *Result
}

// Config configures Run.
type Config struct {
	Measurer Measurer
	Knobs    Knobs
	// Decider; nil means Auto.
	Decider Decider
	// MaxSteps bounds the fixes tried, reverted ones included (default
	// DefaultMaxSteps).
	MaxSteps int
	// MinSeverity: findings below it are not acted on (default Warning).
	MinSeverity rules.Severity
	// Noise; zero means DefaultNoise.
	Noise Noise
	// Events, when set, is called from Run's goroutine; it must not block
	// for long.
	Events func(Event)
}

// Run measures the baseline, then applies the top fix, measures again and
// keeps or reverts it, until no finding at or above cfg.MinSeverity remains,
// none of those left has a fix to apply, cfg.MaxSteps fixes were tried, or
// the decider quits. It returns what it did so far with any error.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	if cfg.Measurer == nil || cfg.Knobs == nil {
		return nil, errors.New("tune: a measurer and knobs are required")
	}
	if cfg.Decider == nil {
		cfg.Decider = Auto{}
	}
	if cfg.MaxSteps <= 0 {
		cfg.MaxSteps = DefaultMaxSteps
	}
	if cfg.MinSeverity == 0 {
		cfg.MinSeverity = rules.Warning
	}
	if cfg.Noise == (Noise{}) {
		cfg.Noise = DefaultNoise
	}
	emit := func(e Event) {
		if cfg.Events != nil {
			cfg.Events(e)
		}
	}
	res := &Result{}
	stop := func(reason string) (*Result, error) {
		res.Stop = reason
		emit(Event{Kind: Stopped, Result: res})
		return res, nil
	}

	emit(Event{Kind: Measuring, Step: 0, Result: res})
	m, err := cfg.Measurer.Measure(ctx)
	if err != nil {
		res.Stop = "the first measurement failed"
		return res, fmt.Errorf("measure step 0: %w", err)
	}
	res.Steps = append(res.Steps, newStep(0, nil, m, cfg.MinSeverity, Baseline, ""))
	emit(Event{Kind: Measured, Step: 0, Result: res})
	kept := 0 // index of the step whose state the service is in
	// A fix that made things worse is proposed again only after another
	// fix was kept (the bottleneck may have moved: removing a lock helps
	// only once connections are pooled), and at most MaxAttempts times.
	attempts := map[string]int{}
	revertedAt := map[string]int{} // knob -> keptFixes when it was reverted
	revertedStep := map[string]int{}
	declinedKnobs := map[string]bool{}
	keptFixes := 0
	shown := map[string]bool{}
	tried := 0

	for {
		base := &res.Steps[kept]
		res.Remaining = base.Findings
		if len(base.Findings) == 0 {
			return stop(fmt.Sprintf("no finding at %s or above remains", cfg.MinSeverity))
		}
		if tried >= cfg.MaxSteps {
			return stop(fmt.Sprintf("--max-steps (%d) reached", cfg.MaxSteps))
		}
		settings, err := cfg.Knobs.Settings(ctx)
		if err != nil {
			res.Stop = "the knobs could not be read"
			return res, fmt.Errorf("read knobs: %w", err)
		}
		var prop *Proposal
		for _, f := range base.Findings {
			a, reason, ok := ActionFor(f)
			switch {
			case !ok:
			case settings[a.Knob] == a.Value:
				ok, reason = false, fmt.Sprintf("%s is already set: the fix tune knows for %s does not apply here", a, f.Rule)
			case declinedKnobs[a.Knob]:
				ok, reason = false, declined
			case attempts[a.Knob] >= MaxAttempts:
				ok, reason = false, fmt.Sprintf("%s made things worse each of the %d times it was tried", a, attempts[a.Knob])
			case attempts[a.Knob] > 0 && revertedAt[a.Knob] == keptFixes:
				ok, reason = false, fmt.Sprintf("%s made things worse at step %d; it is tried again once another fix has been kept", a, revertedStep[a.Knob])
			}
			if !ok {
				if key := f.Fingerprint() + reason; !shown[key] {
					shown[key] = true
					res.Skipped = append(res.Skipped, Skipped{Step: len(res.Steps), Finding: f, Reason: reason})
					emit(Event{Kind: SkippedFinding, Step: len(res.Steps), Result: res})
				}
				continue
			}
			prop = &Proposal{Step: len(res.Steps), Finding: f, Action: a, Current: settings[a.Knob], Ranked: base.Findings}
			break
		}
		if prop == nil {
			return stop(fmt.Sprintf("%d finding(s) at %s or above remain, none with a fix tune can apply", len(base.Findings), cfg.MinSeverity))
		}
		emit(Event{Kind: Proposing, Step: prop.Step, Proposal: prop, Result: res})
		d, err := cfg.Decider.Decide(ctx, *prop)
		if err != nil {
			res.Stop = "interrupted"
			return res, err
		}
		switch d {
		case Quit:
			return stop("the person asked to stop")
		case Skip:
			declinedKnobs[prop.Action.Knob] = true
			shown[prop.Finding.Fingerprint()+declined] = true
			res.Skipped = append(res.Skipped, Skipped{Step: prop.Step, Finding: prop.Finding, Reason: declined})
			emit(Event{Kind: SkippedFinding, Step: prop.Step, Result: res})
			continue
		}

		attempts[prop.Action.Knob]++
		tried++
		fix := &Applied{Finding: prop.Finding, Action: prop.Action, From: prop.Current, Why: why(prop)}
		if err := cfg.Knobs.SetKnob(ctx, prop.Action.Knob, prop.Action.Value); err != nil {
			res.Stop = "a fix could not be applied"
			return res, fmt.Errorf("apply %s: %w", prop.Action, err)
		}
		emit(Event{Kind: Measuring, Step: prop.Step, Result: res})
		m, err := cfg.Measurer.Measure(ctx)
		if err != nil {
			res.Stop = "a measurement failed"
			return res, fmt.Errorf("measure step %d: %w", prop.Step, err)
		}
		step := newStep(prop.Step, fix, m, cfg.MinSeverity, Kept, "")
		worse, verdict := cfg.Noise.Worse(base.Metrics, step.Metrics)
		if worse {
			// One measurement can be unlucky on a shared machine: measure
			// the same state again, and revert only if it is worse again.
			emit(Event{Kind: Measuring, Step: prop.Step, Again: true, Result: res})
			m2, err := cfg.Measurer.Measure(ctx)
			if err != nil {
				res.Steps = append(res.Steps, step)
				res.Stop = "a measurement failed"
				return res, fmt.Errorf("measure step %d again: %w", prop.Step, err)
			}
			first := step.Metrics
			step = newStep(prop.Step, fix, m2, cfg.MinSeverity, Kept, "")
			step.Remeasured = &first
			if again, verdict2 := cfg.Noise.Worse(base.Metrics, step.Metrics); again {
				verdict = verdict2 + "; measured twice"
			} else {
				worse = false
				step.Verdict = "a first measurement looked worse (" + verdict + "); a second one did not"
			}
		}
		if worse {
			step.Outcome, step.Verdict = Reverted, verdict
			if err := cfg.Knobs.SetKnob(ctx, prop.Action.Knob, prop.Current); err != nil {
				res.Steps = append(res.Steps, step)
				res.Stop = "a fix that made things worse could not be reverted"
				return res, fmt.Errorf("revert %s to %s: %w", prop.Action, prop.Current, err)
			}
			revertedAt[prop.Action.Knob], revertedStep[prop.Action.Knob] = keptFixes, step.N
			res.Steps = append(res.Steps, step)
		} else {
			res.Steps = append(res.Steps, step)
			kept = len(res.Steps) - 1
			keptFixes++
		}
		emit(Event{Kind: Measured, Step: step.N, Result: res})
	}
}

// DefaultMaxSteps is enough to try every knob of sampleapp twice.
const DefaultMaxSteps = 20

// MaxAttempts is how many times a fix that made things worse is tried.
const MaxAttempts = 2

// declined is the reason shown for a fix the person declined.
const declined = "declined"

// why explains the choice of a proposal.
func why(p *Proposal) string {
	rank := 0
	for i, f := range p.Ranked {
		if f.Fingerprint() == p.Finding.Fingerprint() {
			rank = i
			break
		}
	}
	s := fmt.Sprintf("%s, impact %.0f%%, ranked %d of %d by impact", p.Finding.Severity, 100*p.Finding.Impact, rank+1, len(p.Ranked))
	switch {
	case rank == 1:
		s += " (the finding above it has no fix tune can apply now)"
	case rank > 1:
		s += fmt.Sprintf(" (the %d above it have no fix tune can apply now)", rank)
	}
	return s
}

func newStep(n int, fix *Applied, m *Measurement, min rules.Severity, o Outcome, verdict string) Step {
	return Step{N: n, Fix: fix, Metrics: m.Metrics, Findings: Rank(m.Findings, min), All: Rank(m.Findings, rules.Info),
		Outcome: o, Verdict: verdict, Warnings: m.Warnings}
}

// Rank returns the findings at or above min, largest impact first (then more
// severe, then by rule and subject, so the order is stable).
func Rank(fs []rules.Finding, min rules.Severity) []rules.Finding {
	var out []rules.Finding
	for _, f := range fs {
		if f.Severity.AtLeast(min) {
			out = append(out, f)
		}
	}
	slices.SortStableFunc(out, func(a, b rules.Finding) int {
		if c := cmp.Compare(b.Impact, a.Impact); c != 0 {
			return c
		}
		if c := cmp.Compare(b.Severity, a.Severity); c != 0 {
			return c
		}
		if c := cmp.Compare(a.Rule, b.Rule); c != 0 {
			return c
		}
		return cmp.Compare(a.Subject, b.Subject)
	})
	return out
}
