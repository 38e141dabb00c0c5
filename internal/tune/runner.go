package tune

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/pgadvisor/advisor/internal/rules"
)

// runner is one run of the loop: the result so far, and what the loop
// remembers from one proposal to the next to choose the next fix. Run drives
// it; each method is one step of a turn.
type runner struct {
	cfg Config
	res *Result
	// kept is the index in res.Steps of the step whose state the service
	// is in: the last kept one, the baseline at first.
	kept int
	// keptFixes counts the fixes kept; tried the fixes applied, reverted
	// ones included.
	keptFixes, tried int
	// attempts counts, by knob, the times the knob was set to its fix.
	attempts map[string]int
	// reverted holds, by knob, when its fix was last reverted. A fix that
	// made things worse is proposed again only after another fix was kept
	// (the bottleneck may have moved: removing a lock helps only once
	// connections are pooled), and at most MaxAttempts times.
	reverted map[string]revert
	// declined holds the knobs the decider skipped.
	declined map[string]bool
	// shown holds the skipped findings already reported, by fingerprint
	// and reason.
	shown map[string]bool
}

// revert is when a fix was reverted: the step, and the fixes kept then.
type revert struct {
	step, keptFixes int
}

// newRunner checks cfg and fills in its defaults.
func newRunner(cfg Config) (*runner, error) {
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
	return &runner{cfg: cfg, res: &Result{}, attempts: map[string]int{}, reverted: map[string]revert{},
		declined: map[string]bool{}, shown: map[string]bool{}}, nil
}

// emit sends e, with a copy of the run so far, to cfg.Events: nothing the
// loop does afterwards changes what the callback was given.
func (r *runner) emit(e Event) {
	if r.cfg.Events == nil {
		return
	}
	e.Result = r.res.clone()
	if e.Proposal != nil {
		p := e.Proposal.clone()
		e.Proposal = &p
	}
	r.cfg.Events(e)
}

// stop ends the run for reason and reports it.
func (r *runner) stop(reason string) *Result {
	r.res.Stop = reason
	r.emit(Event{Kind: Stopped})
	return r.res
}

// base is the last kept step: the state the service is in, that the next
// fix applies to and is judged against.
func (r *runner) base() Step { return r.res.Steps[r.kept] }

// baseline measures step 0, the state the run starts from.
func (r *runner) baseline(ctx context.Context) error {
	r.emit(Event{Kind: Measuring, Step: 0})
	m, err := r.cfg.Measurer.Measure(ctx)
	if err != nil {
		r.res.Stop = "the first measurement failed"
		return fmt.Errorf("measure step 0: %w", err)
	}
	r.keep(r.newStep(0, nil, m, Baseline))
	r.emit(Event{Kind: Measured, Step: 0})
	return nil
}

// finished says why the run ends before another proposal: no finding at
// the threshold remains, or MaxSteps fixes were tried. It is "" otherwise.
func (r *runner) finished() string {
	if len(r.base().Findings) == 0 {
		return fmt.Sprintf("no finding at %s or above remains", r.cfg.MinSeverity)
	}
	if r.tried >= r.cfg.MaxSteps {
		return fmt.Sprintf("--max-steps (%d) reached", r.cfg.MaxSteps)
	}
	return ""
}

// nothingToApply is the stop reason when propose found nothing.
func (r *runner) nothingToApply() string {
	return fmt.Sprintf("%d finding(s) at %s or above remain, none with a fix tune can apply", len(r.base().Findings), r.cfg.MinSeverity)
}

// propose returns the fix to try next: for the first finding of the last
// kept step, in rank order, whose rule maps to a knob tune may set now, the
// knob setting that applies its fix. The findings passed over are recorded
// as skipped. ok is false when no finding is left to act on.
func (r *runner) propose(ctx context.Context) (p Proposal, ok bool, err error) {
	settings, err := r.cfg.Knobs.Settings(ctx)
	if err != nil {
		r.res.Stop = "the knobs could not be read"
		return Proposal{}, false, fmt.Errorf("read knobs: %w", err)
	}
	ranked := r.base().Findings
	for _, f := range ranked {
		a, reason, ok := ActionFor(f)
		if ok {
			reason = r.blocked(f, a, settings[a.Knob])
			ok = reason == ""
		}
		if !ok {
			r.skip(f, reason)
			continue
		}
		return Proposal{Step: len(r.res.Steps), Finding: f, Action: a, Current: settings[a.Knob], Ranked: slices.Clone(ranked)}, true, nil
	}
	return Proposal{}, false, nil
}

// blocked says why a, the fix of f, is not to be applied now (the knob is
// current already, the decider declined it, or it made things worse too
// often or since the last kept fix), or "" when it may be.
func (r *runner) blocked(f rules.Finding, a Action, current string) string {
	n, rev := r.attempts[a.Knob], r.reverted[a.Knob]
	switch {
	case current == a.Value:
		return fmt.Sprintf("%s is already set: the fix tune knows for %s does not apply here", a, f.Rule)
	case r.declined[a.Knob]:
		return declined
	case n >= MaxAttempts:
		return fmt.Sprintf("%s made things worse each of the %d times it was tried", a, n)
	case n > 0 && rev.keptFixes == r.keptFixes:
		return fmt.Sprintf("%s made things worse at step %d; it is tried again once another fix has been kept", a, rev.step)
	}
	return ""
}

// skip records f as shown and not applied for reason, and reports it; a
// finding skipped again for the same reason is not recorded twice.
func (r *runner) skip(f rules.Finding, reason string) {
	key := f.Fingerprint() + reason
	if r.shown[key] {
		return
	}
	r.shown[key] = true
	n := len(r.res.Steps)
	r.res.Skipped = append(r.res.Skipped, Skipped{Step: n, Finding: f, Reason: reason})
	r.emit(Event{Kind: SkippedFinding, Step: n})
}

// decline records that the decider skipped p: its knob is not proposed
// again.
func (r *runner) decline(p Proposal) {
	r.declined[p.Action.Knob] = true
	r.skip(p.Finding, declined)
}

// apply sets p's knob to its fix and measures the new state. The step it
// returns is not recorded yet: judge keeps or reverts it.
func (r *runner) apply(ctx context.Context, p Proposal) (Step, error) {
	r.attempts[p.Action.Knob]++
	r.tried++
	if err := r.cfg.Knobs.SetKnob(ctx, p.Action.Knob, p.Action.Value); err != nil {
		r.res.Stop = "a fix could not be applied"
		return Step{}, fmt.Errorf("apply %s: %w", p.Action, err)
	}
	r.emit(Event{Kind: Measuring, Step: p.Step})
	m, err := r.cfg.Measurer.Measure(ctx)
	if err != nil {
		r.res.Stop = "a measurement failed"
		return Step{}, fmt.Errorf("measure step %d: %w", p.Step, err)
	}
	fix := &Applied{Finding: p.Finding, Action: p.Action, From: p.Current, Why: why(p)}
	return r.newStep(p.Step, fix, m, Kept), nil
}

// judge keeps step, measured after p was applied, or reverts p when the
// step is worse than the last kept one beyond the noise. One measurement
// can be unlucky on a shared machine: a step that looks worse is measured
// again, and p is reverted only when the second measurement is worse too.
// judge records the step and reports it.
func (r *runner) judge(ctx context.Context, p Proposal, step Step) error {
	base := r.base().Metrics
	worse, verdict := r.cfg.Noise.Worse(base, step.Metrics)
	if worse {
		again, err := r.measureAgain(ctx, step)
		if err != nil {
			return err
		}
		if still, verdict2 := r.cfg.Noise.Worse(base, again.Metrics); still {
			verdict = verdict2 + "; measured twice"
		} else {
			worse = false
			again.Verdict = "a first measurement looked worse (" + verdict + "); a second one did not"
		}
		step = again
	}
	if worse && doesDroppedWork(p) {
		// The requests were faster because work was not done: the fix
		// stays, and the table counts its cost.
		step.Verdict = "RPS fell (" + verdict + "): kept, the queued work was not being done before it and the figures before it counted that"
		worse = false
	}
	if worse {
		if err := r.revert(ctx, p, step, verdict); err != nil {
			return err
		}
	} else {
		r.keep(step)
	}
	r.emit(Event{Kind: Measured, Step: step.N})
	return nil
}

// doesDroppedWork reports whether p's fix makes the service do work it was
// leaving undone: a job queue that only grows (no worker, or too few) holds
// e-mails, invoices and webhooks nobody gets. Taking those jobs costs the
// requests CPU; reverting such a fix because RPS fell would trade the work
// for a figure, and the before/after table would credit work never done.
func doesDroppedWork(p Proposal) bool {
	return p.Finding.Rule == "queue.backlog"
}

// measureAgain measures the state of step a second time and returns the
// step with that measurement, the first one kept as Remeasured. When the
// measurement fails, step is recorded as it is.
func (r *runner) measureAgain(ctx context.Context, step Step) (Step, error) {
	r.emit(Event{Kind: Measuring, Step: step.N, Again: true})
	m, err := r.cfg.Measurer.Measure(ctx)
	if err != nil {
		r.res.Steps = append(r.res.Steps, step)
		r.res.Stop = "a measurement failed"
		return Step{}, fmt.Errorf("measure step %d again: %w", step.N, err)
	}
	first := step.Metrics
	again := r.newStep(step.N, step.Fix, m, Kept)
	again.Remeasured = &first
	return again, nil
}

// keep records step as the state the service is in.
func (r *runner) keep(step Step) {
	r.res.Steps = append(r.res.Steps, step)
	r.kept = len(r.res.Steps) - 1
	r.res.Remaining = step.Findings
	if step.Fix != nil {
		r.keptFixes++
	}
}

// revert sets p's knob back to the value it had and records step as
// reverted, for verdict.
func (r *runner) revert(ctx context.Context, p Proposal, step Step, verdict string) error {
	step.Outcome, step.Verdict = Reverted, verdict
	r.res.Steps = append(r.res.Steps, step)
	if err := r.cfg.Knobs.SetKnob(ctx, p.Action.Knob, p.Current); err != nil {
		r.res.Stop = "a fix that made things worse could not be reverted"
		return fmt.Errorf("revert %s to %s: %w", p.Action, p.Current, err)
	}
	r.reverted[p.Action.Knob] = revert{step: step.N, keptFixes: r.keptFixes}
	return nil
}

// newStep makes step n from its measurement: the findings at the threshold
// and all of them, ranked.
func (r *runner) newStep(n int, fix *Applied, m *Measurement, o Outcome) Step {
	return Step{N: n, Fix: fix, Metrics: m.Metrics, Findings: Rank(m.Findings, r.cfg.MinSeverity), All: Rank(m.Findings, rules.Info),
		Outcome: o, Warnings: m.Warnings}
}

// why explains the choice of a proposal.
func why(p Proposal) string {
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
