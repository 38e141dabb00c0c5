package rules

import (
	"context"
	"fmt"
	"math"
	"reflect"
	"runtime/debug"

	"github.com/pgadvisor/advisor/internal/probe"
	"github.com/pgadvisor/advisor/internal/probe/postgres"
	"github.com/pgadvisor/advisor/internal/probe/pprof"
)

// Input is what detectors analyse: one window, for one Run.
//
// The views of the window that several rules read (the request goroutines
// by handler, the database server's capacity) are methods of Input that
// compute them on first use and keep them for the rules after. Run calls
// the detectors one after the other on one goroutine, so an Input needs no
// lock, and it is not safe for concurrent use. The views are shared and
// read-only: a detector must not modify them. They are not recomputed
// when Window changes: a new window needs a new Input.
type Input struct {
	Window *probe.Window
	// Patterns is the compiled wait_patterns catalogue of the rule set.
	Patterns *Patterns
	// Explainer runs EXPLAIN and prices hypothetical indexes on the
	// PostgreSQL source; nil without one. It is the only I/O a rule may do.
	Explainer postgres.Explainer
	// Samples, when set, remembers how the goroutines of each dump were
	// classified for the next analysis, whose window holds most of the
	// same dumps (attach's). One analysis at a time uses it.
	Samples *SampleMemo

	// queueing are service.queueing's params in the rule set Analyse
	// runs, which the time split's note on a host short of CPU follows;
	// nil without the rule (hostWaitParams).
	queueing *serviceQueueingParams

	// views caches the views of the window; see the methods below.
	views struct {
		activity *[]postgres.ClientActivity
		app      *appView
		handlers *handlerDumps
		memo     *SampleMemo
		pool     *poolServer
		split    *TimeSplit
	}
}

// app returns the request goroutines of the window, classified by handler,
// wait class and call site (appObserve).
func (in *Input) app() *appView {
	if in.views.app == nil {
		in.views.app = appObserve(in)
	}
	return in.views.app
}

// activity returns the window's pg_stat_activity samples summarised per
// application and client address (probe.Window.ActivityByClient), once for
// the rules and the savings that read them.
func (in *Input) activity() []postgres.ClientActivity {
	if in.views.activity == nil {
		a := in.Window.ActivityByClient()
		in.views.activity = &a
	}
	return *in.views.activity
}

// appSampled is appSampleOf's answer for one goroutine.
type appSampled struct {
	s  appSample
	ok bool
}

// dump returns what the rules read from one of the window's dumps,
// computed once for the views that read it, and across analyses when the
// input has a SampleMemo.
func (in *Input) dump(d *pprof.GoroutineResult) *dumpFacts {
	if in.views.memo == nil {
		in.views.memo = in.Samples
		if in.views.memo == nil {
			in.views.memo = NewSampleMemo()
		}
		in.views.memo.next(in.Patterns)
	}
	return in.views.memo.of(d)
}

// handlers returns the handler goroutines of the window's dumps with their
// wait class (handlerDumpsOf), for the savings.
func (in *Input) handlers() handlerDumps {
	if in.views.handlers == nil {
		h := handlerDumpsOf(in)
		in.views.handlers = &h
	}
	return *in.views.handlers
}

// split returns where the requests' time goes over the window (splitOf).
func (in *Input) split() *TimeSplit {
	if in.views.split == nil {
		in.views.split = splitOf(in)
	}
	return in.views.split
}

// poolServer returns what the database tells about its capacity
// (poolServerOfWindow), without the reserved connections a rule assumes
// when the server does not say.
func (in *Input) poolServer() poolServer {
	if in.views.pool == nil {
		s := poolServerOfWindow(in)
		in.views.pool = &s
	}
	return *in.views.pool
}

// PanicError is the error Run returns for a detector that panicked.
type PanicError struct {
	Rule  string
	Value any
	// Stack is the detector goroutine's stack at the panic.
	Stack []byte
}

func (e *PanicError) Error() string {
	return fmt.Sprintf("rule %s: detector panicked: %v", e.Rule, e.Value)
}

// Run executes the detector of every enabled rule that has one, in the order
// of rules, and returns their findings sorted by severity then impact, with
// every error met on the way: a detector that fails or panics costs its
// rule's findings (those it returned before failing are kept), never the run.
// Run fills each finding's rule and severity from the rule, an empty title
// and fix summary from the rule's templates, and empty evidence with an
// empty map; it clamps impact to [0, 1].
func Run(ctx context.Context, in *Input, rules []*Rule, reg Registry) ([]Finding, []error) {
	if in == nil {
		in = &Input{}
	}
	var out []Finding
	var errs []error
	for _, r := range rules {
		d := reg[r.ID]
		if !r.Enabled || d == nil {
			continue
		}
		if err := ctx.Err(); err != nil {
			errs = append(errs, fmt.Errorf("rules: %w", err))
			break
		}
		fs, err := runDetector(ctx, d, in, r)
		if err != nil {
			errs = append(errs, err)
		}
		for i := range fs {
			if err := finish(&fs[i], r); err != nil {
				errs = append(errs, err)
			}
			if fs[i].Confidence == nil {
				fs[i].Confidence = defaultConfidence(in, &fs[i])
			}
			if fs[i].Saves == nil {
				fs[i].Saves = savingOf(in, &fs[i])
			}
			// A finding's impact is the share of request time its fix
			// would remove, where the split can say; a finding that costs
			// no request time ranks after those that do.
			switch s := fs[i].Saves; {
			case s == nil:
			case s.NotRequestTime:
				fs[i].Impact = 0
			default:
				fs[i].Impact = s.Share
			}
		}
		out = append(out, fs...)
	}
	compoundStatementFixes(in, out)
	SortFindings(out)
	return out, errs
}

// Analysis is what the rules make of one window: the findings, the errors
// met on the way and where the requests' time goes.
type Analysis struct {
	Findings []Finding
	Errors   []error
	Split    *TimeSplit
}

// Analyse runs the rules of set on in (Run) and takes the time split from
// the same input, so that both read the same views of the window. report,
// demo and attach all analyse through it: over the same window they give
// the same findings. A nil set gives the split alone.
func Analyse(ctx context.Context, in *Input, set *Set, reg Registry) Analysis {
	if in == nil {
		in = &Input{}
	}
	var a Analysis
	if set != nil {
		in.Patterns = set.Patterns
		in.queueing = queueingParamsOf(set)
		a.Findings, a.Errors = Run(ctx, in, set.Rules, reg)
	}
	a.Split = Split(in)
	return a
}

// queueingParamsOf decodes service.queueing's params in set, as its
// detector does; nil when the set has no such rule or they do not decode
// (the rule then fails with the error).
func queueingParamsOf(set *Set) *serviceQueueingParams {
	r := set.Rule(serviceQueueing.ID)
	if r == nil {
		return nil
	}
	var p serviceQueueingParams
	if errs := decodeParams(r.Params, reflect.ValueOf(&p).Elem(), false); len(errs) > 0 {
		return nil
	}
	return &p
}

// hostWaitParams are the params of service.queueing the time split's note
// on a host short of CPU follows: the rule set's, or the built-in
// defaults without one.
func (in *Input) hostWaitParams() serviceQueueingParams {
	if in.queueing != nil {
		return *in.queueing
	}
	return serviceQueueingParams{MaxHostBusyShare: cpuBoundFrom, MaxCPUPressure: cpuPressureFrom, MinKernelQueued: kernelQueuedFrom, MinWaitShare: waitShareFrom}
}

func runDetector(ctx context.Context, d Detector, in *Input, r *Rule) (fs []Finding, err error) {
	defer func() {
		if p := recover(); p != nil {
			fs = nil
			err = &PanicError{Rule: r.ID, Value: p, Stack: debug.Stack()}
		}
	}()
	fs, err = d.run(ctx, in, r)
	if err != nil {
		err = fmt.Errorf("rule %s: %w", r.ID, err)
	}
	return fs, err
}

// severityOf is a finding's severity. A detector may set it from its own
// thresholds, above its rule's severity (a critical_* threshold crossed) or
// below it (a setting untuned rather than dangerous, an unverified
// suggestion); otherwise it is the rule's. A rules file that moves the rule's
// severity moves every finding of the rule by as many steps, within info to
// critical: a team that lowers db.settings to warning sees fsync=off as a
// warning and an untuned setting as info.
func severityOf(set Severity, r *Rule) Severity {
	if !set.Valid() {
		return r.Severity
	}
	base := r.base
	if !base.Valid() {
		base = r.Severity
	}
	return min(max(set+r.Severity-base, Info), Critical)
}

// finish completes a detector's finding from its rule. A template that fails
// leaves a plain title or summary and returns the error.
func finish(f *Finding, r *Rule) error {
	f.Rule = r.ID
	f.Severity = severityOf(f.Severity, r)
	if f.Evidence == nil {
		f.Evidence = map[string]any{}
	}
	switch {
	case math.IsNaN(f.Impact) || f.Impact < 0:
		f.Impact = 0
	case f.Impact > 1:
		f.Impact = 1
	}
	var errs []error
	if f.Title == "" {
		t, err := r.RenderTitle(f)
		if err != nil {
			errs = append(errs, fmt.Errorf("rule %s: title: %w", r.ID, err))
			t = r.Docs.Summary
			if f.Subject != "" {
				t += ": " + f.Subject
			}
		}
		f.Title = t
	}
	if f.Fix.Summary == "" {
		s, err := r.RenderFix(f)
		if err != nil {
			errs = append(errs, fmt.Errorf("rule %s: fix: %w", r.ID, err))
			s = r.Docs.Fix
		}
		f.Fix.Summary = s
	}
	switch len(errs) {
	case 0:
		return nil
	case 1:
		return errs[0]
	}
	return fmt.Errorf("%w; %w", errs[0], errs[1])
}
