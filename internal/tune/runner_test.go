package tune

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/pgadvisor/advisor/internal/rules"
)

// measuredRunner is a runner over svc that has measured its baseline.
func measuredRunner(t *testing.T, svc *fakeService) *runner {
	t.Helper()
	r, err := newRunner(Config{Measurer: svc, Knobs: svc})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.baseline(context.Background()); err != nil {
		t.Fatal(err)
	}
	return r
}

func TestRunnerProposeSkipsWhatItMayNotApply(t *testing.T) {
	svc := newFake(t, hopsProblem, poolProblem, lockProblem)
	svc.extra = []rules.Finding{finding("db.slow-query", "queryid 1", rules.Critical, 0.9)}
	r := measuredRunner(t, svc)
	r.declined["pool"] = true
	r.attempts["lock"], r.reverted["lock"] = 1, revert{step: 1, keptFixes: 0}

	for range 2 { // asking again proposes the same and skips nothing new
		p, ok, err := r.propose(context.Background())
		if err != nil || !ok {
			t.Fatalf("propose: %v, %v", ok, err)
		}
		if p.Step != 1 || p.Action.String() != "hops=inproc" || p.Current != "http" || len(p.Ranked) != 4 {
			t.Errorf("proposal %+v", p)
		}
		if got := why(p); !strings.Contains(got, "ranked 4 of 4") || !strings.Contains(got, "the 3 above it") {
			t.Errorf("why %q", got)
		}
	}
	var got []string
	for _, s := range r.res.Skipped {
		got = append(got, s.Finding.Rule+": "+s.Reason)
	}
	want := []string{
		"db.slow-query: no sampleapp knob applies the fix of db.slow-query",
		"pool.no-pooling: declined",
		"app.lock-contention: lock=none made things worse at step 1; it is tried again once another fix has been kept",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("skipped:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	// Nothing left to act on: no proposal, and the reason to stop.
	r.declined["hops"] = true
	if _, ok, err := r.propose(context.Background()); ok || err != nil {
		t.Errorf("propose with every fix blocked: %v, %v", ok, err)
	}
	if got := r.nothingToApply(); got != "4 finding(s) at warning or above remain, none with a fix tune can apply" {
		t.Errorf("stop reason %q", got)
	}
}

func TestRunnerBlocked(t *testing.T) {
	r := measuredRunner(t, newFake(t))
	f, a := lockProblem.finding, Action{"lock", "none"}
	cases := []struct {
		name     string
		prepare  func()
		current  string
		contains string
	}{
		{"may apply", func() {}, "global", ""},
		{"already set", func() {}, "none", "lock=none is already set"},
		{"declined", func() { r.declined["lock"] = true }, "global", "declined"},
		{"reverted, nothing kept since", func() { r.attempts["lock"], r.reverted["lock"] = 1, revert{2, 0} }, "global", "worse at step 2"},
		{"reverted, another fix kept since", func() { r.attempts["lock"], r.reverted["lock"], r.keptFixes = 1, revert{2, 0}, 1 }, "global", ""},
		{"tried too often", func() { r.attempts["lock"], r.keptFixes = MaxAttempts, 3 }, "global", "each of the 2 times"},
	}
	for _, c := range cases {
		r.attempts, r.reverted, r.declined, r.keptFixes = map[string]int{}, map[string]revert{}, map[string]bool{}, 0
		c.prepare()
		got := r.blocked(f, a, c.current)
		if (got == "") != (c.contains == "") || !strings.Contains(got, c.contains) {
			t.Errorf("%s: %q, want %q", c.name, got, c.contains)
		}
	}
}

// proposeApplyJudge takes r's first proposal, applies it and judges the
// step, and returns the proposal.
func proposeApplyJudge(ctx context.Context, t *testing.T, r *runner) Proposal {
	t.Helper()
	p, ok, err := r.propose(ctx)
	if err != nil || !ok {
		t.Fatalf("propose: %v, %v", ok, err)
	}
	step, err := r.apply(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.judge(ctx, p, step); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestRunnerApplyAndJudge(t *testing.T) {
	ctx := context.Background()
	t.Run("kept", func(t *testing.T) {
		svc := newFake(t, poolProblem)
		r := measuredRunner(t, svc)
		p, _, _ := r.propose(ctx)
		step, err := r.apply(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		if svc.settings["pool"] != "sized" || step.N != 1 || step.Metrics.RPS != 300 || step.Fix.From != "per-request" || len(r.res.Steps) != 1 {
			t.Fatalf("after apply: pool=%s, step %+v, %d steps recorded", svc.settings["pool"], step, len(r.res.Steps))
		}
		if err := r.judge(ctx, p, step); err != nil {
			t.Fatal(err)
		}
		if len(r.res.Steps) != 2 || r.kept != 1 || r.keptFixes != 1 || r.res.Steps[1].Outcome != Kept || len(r.res.Remaining) != 0 {
			t.Errorf("after judge: %d steps, kept %d, %d kept fixes, outcome %s, remaining %v",
				len(r.res.Steps), r.kept, r.keptFixes, r.res.Steps[1].Outcome, r.res.Remaining)
		}
		if reason := r.finished(); !strings.Contains(reason, "no finding") {
			t.Errorf("finished %q", reason)
		}
	})
	t.Run("reverted after two worse measurements", func(t *testing.T) {
		svc := newFake(t, lockProblem)
		r := measuredRunner(t, svc)
		proposeApplyJudge(ctx, t, r)
		s := r.res.Steps[1]
		if s.Outcome != Reverted || !strings.Contains(s.Verdict, "measured twice") || s.Remeasured == nil || svc.measures != 3 {
			t.Errorf("step %+v after %d measurements", s, svc.measures)
		}
		if svc.settings["lock"] != "global" || r.kept != 0 || r.reverted["lock"] != (revert{step: 1, keptFixes: 0}) {
			t.Errorf("lock=%s, kept %d, reverted %+v", svc.settings["lock"], r.kept, r.reverted["lock"])
		}
	})
	t.Run("a backlog's workers kept though RPS fell", func(t *testing.T) {
		// The naive service queues its follow-up work with no worker: the
		// requests are faster while the e-mails and invoices are never
		// done. Workers cost the requests CPU; they stay.
		backlog := problem{knob: "jobworkers", fixed: "sized", gain: 0.8,
			finding: rules.Finding{Rule: "queue.backlog", Subject: "river default", Severity: rules.Warning,
				Evidence: map[string]any{"system": "river", "queue": "default", "no_worker": true}, Fix: rules.Fix{Summary: "add workers"}}}
		svc := newFake(t, backlog)
		r := measuredRunner(t, svc)
		if p := proposeApplyJudge(ctx, t, r); p.Action.Knob != "jobworkers" {
			t.Fatalf("proposal %+v", p)
		}
		s := r.res.Steps[1]
		if s.Outcome != Kept || !strings.Contains(s.Verdict, "not being done") || svc.settings["jobworkers"] != "sized" || r.keptFixes != 1 {
			t.Errorf("step %+v, jobworkers=%s", s, svc.settings["jobworkers"])
		}
		if got := outcomeText(s); !strings.HasPrefix(got, "kept: RPS fell") {
			t.Errorf("outcome %q", got)
		}
	})
	t.Run("kept when the second measurement is not worse", func(t *testing.T) {
		svc := newFake(t, poolProblem)
		svc.glitch = map[int]bool{2: true}
		r := measuredRunner(t, svc)
		proposeApplyJudge(ctx, t, r)
		s := r.res.Steps[1]
		if s.Outcome != Kept || s.Remeasured == nil || s.Remeasured.RPS != 60 || s.Metrics.RPS != 300 || !strings.Contains(s.Verdict, "a second one did not") {
			t.Errorf("step %+v", s)
		}
	})
}

// eventState renders what an event shows: its proposal and the run as the
// Markdown report renders it, with the figures of each step.
func eventState(e Event) string {
	var b strings.Builder
	fmt.Fprintf(&b, "kind %d step %d again %v\n", e.Kind, e.Step, e.Again)
	if p := e.Proposal; p != nil {
		fmt.Fprintf(&b, "proposal %d: %s %s -> %s from %s, ranked", p.Step, p.Finding.Rule, p.Finding.Subject, p.Action, p.Current)
		for _, f := range p.Ranked {
			b.WriteString(" " + f.Rule)
		}
		b.WriteString("\n")
	}
	if r := e.Result; r != nil {
		_ = WriteMarkdown(&b, RunInfo{}, r, "")
		for _, s := range r.Steps {
			fmt.Fprintf(&b, "step %d: %+v, %d findings", s.N, s.Metrics, len(s.Findings))
			if s.Remeasured != nil {
				fmt.Fprintf(&b, ", first measured %+v", *s.Remeasured)
			}
			b.WriteString("\n")
		}
	}
	return b.String()
}

// Every event still shows, after the run, the state it was sent in.
func TestEventsKeepTheStateTheyWereSentIn(t *testing.T) {
	svc := newFake(t, lockProblem, hopsProblem, poolProblem, indexProblem)
	svc.extra = []rules.Finding{finding("db.slow-query", "queryid 7", rules.Warning, 0.1)}
	svc.glitch = map[int]bool{5: true} // the first measurement of step 3
	d := script{Apply, Apply, Skip, Apply, Apply}
	var events []Event
	var sent []string
	res, err := Run(context.Background(), Config{Measurer: svc, Knobs: svc, Decider: &d, Events: func(e Event) {
		events = append(events, e)
		sent = append(sent, eventState(e))
	}})
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[EventKind]int{}
	for i, e := range events {
		kinds[e.Kind]++
		if got := eventState(e); got != sent[i] {
			t.Errorf("event %d (kind %d, step %d) changed after it was sent:\nsent:\n%s\nnow:\n%s", i, e.Kind, e.Step, sent[i], got)
		}
		r := e.Result
		switch e.Kind {
		case Measuring:
			if n := len(r.Steps); n != e.Step {
				t.Errorf("event %d: measuring step %d with %d steps recorded", i, e.Step, n)
			}
		case Measured:
			if last := r.Steps[len(r.Steps)-1]; last.N != e.Step || len(r.Steps) != e.Step+1 {
				t.Errorf("event %d: measured step %d, last step %d of %d", i, e.Step, last.N, len(r.Steps))
			}
		case SkippedFinding:
			if last := r.Skipped[len(r.Skipped)-1]; last.Step != e.Step {
				t.Errorf("event %d: skipped before step %d, last skipped %+v", i, e.Step, last)
			}
		}
		if (e.Kind == Stopped) != (r.Stop != "") {
			t.Errorf("event %d (kind %d): stop %q", i, e.Kind, r.Stop)
		}
	}
	// The run went through every kind of event, a reverted step, one
	// measured twice and a declined fix.
	for k := Measuring; k <= Stopped; k++ {
		if kinds[k] == 0 {
			t.Errorf("no event of kind %d", k)
		}
	}
	if got := strings.Join(stepFixes(res), " "); got != "pool=sized:kept lock=none:reverted index=present:kept lock=none:reverted" {
		t.Errorf("steps %s", got)
	}
	if s := res.Steps[3]; s.Remeasured == nil || s.Outcome != Kept {
		t.Errorf("step 3: %s, remeasured %v; want kept after a second measurement", s.Outcome, s.Remeasured)
	}
}

// What a callback does to its event does not reach the run.
func TestEventCallbackCannotChangeTheRun(t *testing.T) {
	run := func(scribble bool) *Result {
		svc := newFake(t, lockProblem, hopsProblem, poolProblem)
		res, err := Run(context.Background(), Config{Measurer: svc, Knobs: svc, Events: func(e Event) {
			if !scribble {
				return
			}
			if e.Proposal != nil && len(e.Proposal.Ranked) > 0 {
				e.Proposal.Ranked[0].Rule = "scribbled"
			}
			for i := range e.Result.Steps {
				e.Result.Steps[i].Findings = nil
				if e.Result.Steps[i].Fix != nil {
					e.Result.Steps[i].Fix.Action.Value = "scribbled"
				}
			}
			e.Result.Skipped = nil
		}})
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	want, got := eventState(Event{Result: run(false)}), eventState(Event{Result: run(true)})
	if got != want {
		t.Errorf("a callback changed the run:\n%s\nwant:\n%s", got, want)
	}
}

// recorder answers Apply to every proposal and keeps what it was given,
// scribbling on its copy.
type recorder struct{ got []Proposal }

func (d *recorder) Decide(_ context.Context, p Proposal) (Decision, error) {
	d.got = append(d.got, p.clone())
	p.Ranked[0].Rule = "scribbled"
	return Apply, nil
}

// The loop asks about the fix it applies: the proposal Decide is given is
// the one the Proposing event shows and the one the next step applies.
func TestDecideIsGivenTheFixTheLoopApplies(t *testing.T) {
	svc := newFake(t, lockProblem, hopsProblem, poolProblem)
	var d recorder
	var proposed []Proposal
	res, err := Run(context.Background(), Config{Measurer: svc, Knobs: svc, Decider: &d, Events: func(e Event) {
		if e.Kind == Proposing {
			proposed = append(proposed, *e.Proposal)
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	if len(d.got) != len(res.Steps)-1 || len(proposed) != len(d.got) {
		t.Fatalf("%d proposals decided, %d proposed, %d fixes", len(d.got), len(proposed), len(res.Steps)-1)
	}
	for i, p := range d.got {
		if eventState(Event{Proposal: &p}) != eventState(Event{Proposal: &proposed[i]}) {
			t.Errorf("proposal %d: decided on %+v, proposed %+v", i, p, proposed[i])
		}
		s := res.Steps[i+1]
		if s.N != p.Step || s.Fix.Action != p.Action || s.Fix.From != p.Current || s.Fix.Finding.Fingerprint() != p.Finding.Fingerprint() {
			t.Errorf("step %d applied %+v, decided on %+v", s.N, *s.Fix, p)
		}
		if p.Ranked[0].Rule == "scribbled" || res.Steps[0].Findings[0].Rule == "scribbled" {
			t.Error("a decider's copy of the proposal is shared")
		}
	}
}
