// Package tune is advisor's guided tuning of the bundled sample service: it
// measures a load step, ranks what the rules found, applies the top fix by
// setting the sampleapp knob the finding's rule maps to, measures again,
// keeps the fix or reverts it when things got worse, and repeats until no
// finding at or above the threshold remains.
//
// The loop (Run) takes small interfaces: a Measurer that runs one load step
// and returns its figures and findings, a Knobs that reads and sets knobs,
// and a Decider that says whether to apply a proposed fix. Live and
// AdminKnobs are the real ones; Auto and the terminal UI are the deciders.
package tune

import (
	"cmp"
	"context"
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

// clone returns a copy of p that shares no slice with it.
func (p Proposal) clone() Proposal {
	p.Ranked = slices.Clone(p.Ranked)
	return p
}

// Decider says whether to apply a proposed fix. Decide answers about p, the
// proposal it is given, and nothing else: the loop applies exactly p on
// Apply. p is the decider's own copy.
type Decider interface {
	Decide(ctx context.Context, p Proposal) (Decision, error)
}

// Auto applies every proposed fix (advisor tune --auto).
type Auto struct{}

// Decide returns Apply.
func (Auto) Decide(context.Context, Proposal) (Decision, error) { return Apply, nil }

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
	// for long. The event is a copy: it may be kept.
	Events func(Event)
}

// Run measures the baseline, then applies the top fix, measures again and
// keeps or reverts it, until no finding at or above cfg.MinSeverity remains,
// none of those left has a fix to apply, cfg.MaxSteps fixes were tried, or
// the decider quits. It returns what it did so far with any error.
//
// Each turn of the loop is three steps of a runner: propose (the next fix,
// from the last kept step's findings), apply (set the knob, measure) and
// judge (keep the fix or revert it, from the measurements).
func Run(ctx context.Context, cfg Config) (*Result, error) {
	r, err := newRunner(cfg)
	if err != nil {
		return nil, err
	}
	if err := r.baseline(ctx); err != nil {
		return r.res, err
	}
	for {
		if reason := r.finished(); reason != "" {
			return r.stop(reason), nil
		}
		p, ok, err := r.propose(ctx)
		if err != nil {
			return r.res, err
		}
		if !ok {
			return r.stop(r.nothingToApply()), nil
		}
		r.emit(Event{Kind: Proposing, Step: p.Step, Proposal: &p})
		d, err := r.cfg.Decider.Decide(ctx, p.clone())
		if err != nil {
			r.res.Stop = "interrupted"
			return r.res, err
		}
		switch d {
		case Quit:
			return r.stop("the person asked to stop"), nil
		case Skip:
			r.decline(p)
			continue
		}
		step, err := r.apply(ctx, p)
		if err != nil {
			return r.res, err
		}
		if err := r.judge(ctx, p, step); err != nil {
			return r.res, err
		}
	}
}

// DefaultMaxSteps is enough to try every knob of sampleapp twice.
const DefaultMaxSteps = 20

// MaxAttempts is how many times a fix that made things worse is tried.
const MaxAttempts = 2

// declined is the reason shown for a fix the person declined.
const declined = "declined"

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
