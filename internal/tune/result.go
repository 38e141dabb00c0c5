package tune

import (
	"slices"

	"github.com/pgadvisor/advisor/internal/rules"
)

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

// clone returns a copy of s that shares no slice or pointer with it (the
// findings' evidence maps excepted: nothing writes to them).
func (s Step) clone() Step {
	if s.Fix != nil {
		fix := *s.Fix
		s.Fix = &fix
	}
	if s.Remeasured != nil {
		m := *s.Remeasured
		s.Remeasured = &m
	}
	s.Findings = slices.Clone(s.Findings)
	s.All = slices.Clone(s.All)
	s.Warnings = slices.Clone(s.Warnings)
	return s
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

// clone returns a copy of r that shares no slice or pointer with it.
func (r *Result) clone() *Result {
	c := &Result{Skipped: slices.Clone(r.Skipped), Remaining: slices.Clone(r.Remaining), Stop: r.Stop}
	if r.Steps != nil {
		c.Steps = make([]Step, len(r.Steps))
		for i, s := range r.Steps {
			c.Steps[i] = s.clone()
		}
	}
	return c
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

// Event reports progress to a UI. Proposal and Result are copies made when
// the event was sent: the loop never changes them afterwards, so an event
// may be kept, or handed to another goroutine, as it is.
type Event struct {
	Kind EventKind
	Step int
	// Again is set on Measuring when a step that looked worse is measured
	// a second time.
	Again    bool
	Proposal *Proposal
	// Result is the run up to this event.
	Result *Result
}
