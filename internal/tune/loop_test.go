package tune

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/pgadvisor/advisor/internal/rules"
	"github.com/pgadvisor/advisor/sampleapp"
)

// problem is one scripted antipattern of fakeService: while its knob is
// away from fixed, the service shows finding; setting it to fixed
// multiplies RPS by gain.
type problem struct {
	knob, fixed string
	finding     rules.Finding
	gain        float64
	// needs, when set ("knob=value"), is a setting without which the fix
	// multiplies RPS by gainWithout instead.
	needs       string
	gainWithout float64
}

// fakeService scripts the measurements the loop sees: the figures and the
// findings follow the knobs the loop sets. It tests the loop (ranking,
// applying, reverting, stopping), not a detector.
type fakeService struct {
	settings sampleapp.Settings
	problems []problem
	// extra findings shown whatever the knobs (e.g. without a mapping).
	extra    []rules.Finding
	sets     []string
	measures int
	failSet  string
	// glitch lists the measurements (counted from 1) that come out at a fifth of
	// the RPS, as an unlucky one on a busy machine does.
	glitch map[int]bool
}

func newFake(t *testing.T, problems ...problem) *fakeService {
	t.Helper()
	s, err := sampleapp.ProfileSettings(sampleapp.ProfileNaive)
	if err != nil {
		t.Fatal(err)
	}
	return &fakeService{settings: s, problems: problems}
}

func (s *fakeService) Settings(context.Context) (sampleapp.Settings, error) {
	return s.settings.Clone(), nil
}

func (s *fakeService) SetKnob(_ context.Context, name, value string) error {
	if err := sampleapp.ValidateKnob(name, value); err != nil {
		return err
	}
	if name+"="+value == s.failSet {
		return errors.New("scripted failure")
	}
	s.sets = append(s.sets, name+"="+value)
	s.settings[name] = value
	return nil
}

func (s *fakeService) Measure(ctx context.Context) (*Measurement, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.measures++
	rps := 100.0
	var fs []rules.Finding
	for _, p := range s.problems {
		if s.settings[p.knob] == p.fixed {
			if k, v, _ := strings.Cut(p.needs, "="); p.needs != "" && s.settings[k] != v {
				rps *= p.gainWithout
			} else {
				rps *= p.gain
			}
			continue
		}
		fs = append(fs, p.finding)
	}
	fs = append(fs, s.extra...)
	if s.glitch[s.measures] {
		rps /= 5
	}
	// Closed loop on 64 connections: latency follows throughput.
	mean := time.Duration(64 / rps * float64(time.Second))
	return &Measurement{
		Metrics: Metrics{Requests: int64(rps * 15), RPS: rps, P50: mean, P95: 2 * mean, P99: 3 * mean,
			QueriesPerRequest: 10, HasQueries: true, HopsPerRequest: 2, HasHops: true},
		Findings: fs,
	}, nil
}

func finding(rule, subject string, sev rules.Severity, impact float64) rules.Finding {
	return rules.Finding{Rule: rule, Subject: subject, Severity: sev, Impact: impact, Title: rule + " on " + subject,
		Evidence: map[string]any{}, Fix: rules.Fix{Summary: "fix it"}}
}

var (
	hopsProblem = problem{knob: "hops", fixed: "inproc", gain: 2,
		finding: finding("app.internal-hops", "GET /users/{id} -> users", rules.Warning, 0.4)}
	poolProblem = problem{knob: "pool", fixed: "sized", gain: 3,
		finding: finding("pool.no-pooling", "sampleapp", rules.Warning, 0.6)}
	indexProblem = problem{knob: "index", fixed: "present", gain: 1.5,
		finding: rules.Finding{Rule: "db.missing-index", Subject: "events (user_id, created_at DESC)", Severity: rules.Warning, Impact: 0.2,
			Evidence: map[string]any{"table": "events", "columns": []any{"user_id", "created_at DESC"}},
			Fix:      rules.Fix{SQL: "CREATE INDEX CONCURRENTLY ON events (user_id, created_at DESC);"}}}
	// lockProblem's fix makes things worse in this script.
	lockProblem = problem{knob: "lock", fixed: "none", gain: 0.6,
		finding: finding("app.lock-contention", "sampleapp.(*App).recordAudit", rules.Warning, 0.5)}
)

func stepFixes(r *Result) []string {
	var out []string
	for _, s := range r.Steps[1:] {
		out = append(out, fmt.Sprintf("%s:%s", s.Fix.Action, s.Outcome))
	}
	return out
}

func TestRunAppliesFixesByImpactUntilClean(t *testing.T) {
	svc := newFake(t, hopsProblem, poolProblem, indexProblem)
	res, err := Run(context.Background(), Config{Measurer: svc, Knobs: svc})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"pool=sized:kept", "hops=inproc:kept", "index=present:kept"}
	if got := stepFixes(res); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("steps %v, want %v (largest impact first)", got, want)
	}
	if strings.Join(svc.sets, " ") != "pool=sized hops=inproc index=present" {
		t.Errorf("knobs set: %v", svc.sets)
	}
	if svc.measures != 4 {
		t.Errorf("%d measurements, want 4 (baseline + one per fix)", svc.measures)
	}
	if !strings.Contains(res.Stop, "no finding at warning or above") || len(res.Remaining) != 0 {
		t.Errorf("stop %q, remaining %v", res.Stop, res.Remaining)
	}
	if got := res.Last().Metrics.RPS / res.First().Metrics.RPS; got < 8.9 || got > 9.1 {
		t.Errorf("RPS ratio %.2f, want 9", got)
	}
	if len(res.Applied()) != 3 {
		t.Errorf("applied %v", res.Applied())
	}
}

func TestRunRevertsAFixThatMakesThingsWorse(t *testing.T) {
	svc := newFake(t, lockProblem, hopsProblem)
	res, err := Run(context.Background(), Config{Measurer: svc, Knobs: svc})
	if err != nil {
		t.Fatal(err)
	}
	// The lock fix is tried again once another fix was kept, and reverted
	// again; then it is not proposed any more.
	want := "lock=none:reverted hops=inproc:kept lock=none:reverted"
	if got := strings.Join(stepFixes(res), " "); got != want {
		t.Fatalf("steps %s, want %s", got, want)
	}
	if svc.settings["lock"] != "global" {
		t.Errorf("lock is %q after the revert, want global", svc.settings["lock"])
	}
	if strings.Join(svc.sets, " ") != "lock=none lock=global hops=inproc lock=none lock=global" {
		t.Errorf("knobs set: %v", svc.sets)
	}
	if got := res.Skipped[len(res.Skipped)-1].Reason; !strings.Contains(got, "each of the 2 times") {
		t.Errorf("last skip reason %q", got)
	}
	rev := res.Steps[1]
	if !strings.Contains(rev.Verdict, "RPS fell 40%") || !strings.Contains(rev.Verdict, "measured twice") || rev.Remeasured == nil {
		t.Errorf("verdict %q", rev.Verdict)
	}
	// The lock finding remains and is not proposed again.
	if len(res.Remaining) != 1 || res.Remaining[0].Rule != "app.lock-contention" {
		t.Errorf("remaining %v", res.Remaining)
	}
	if !strings.Contains(res.Stop, "none with a fix tune can apply") {
		t.Errorf("stop %q", res.Stop)
	}
	// The state the run ended in is the last kept step, not the reverted one.
	if res.Last().N != 2 || res.Last().Metrics.RPS != 200 {
		t.Errorf("last kept step %+v", res.Last())
	}
	// The hops step is compared against the baseline (the state after the
	// revert), not against the reverted step.
	if res.Steps[2].Outcome != Kept {
		t.Errorf("hops step %s", res.Steps[2].Outcome)
	}
}

func TestRunRetriesARevertedFixAfterAnotherWasKept(t *testing.T) {
	lock := lockProblem
	lock.finding.Impact = 0.7
	lock.gain, lock.needs, lock.gainWithout = 2, "pool=sized", 0.6
	svc := newFake(t, lock, poolProblem)
	res, err := Run(context.Background(), Config{Measurer: svc, Knobs: svc})
	if err != nil {
		t.Fatal(err)
	}
	want := "lock=none:reverted pool=sized:kept lock=none:kept"
	if got := strings.Join(stepFixes(res), " "); got != want {
		t.Fatalf("steps %s, want %s", got, want)
	}
	if res.Last().Metrics.RPS != 600 || len(res.Remaining) != 0 {
		t.Errorf("last %+v, remaining %v", res.Last().Metrics, res.Remaining)
	}
}

func TestRunMeasuresAgainBeforeReverting(t *testing.T) {
	svc := newFake(t, hopsProblem, poolProblem)
	svc.glitch = map[int]bool{2: true} // the first measurement after pool=sized
	res, err := Run(context.Background(), Config{Measurer: svc, Knobs: svc})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(stepFixes(res), " "); got != "pool=sized:kept hops=inproc:kept" {
		t.Fatalf("steps %s", got)
	}
	s := res.Steps[1]
	if s.Remeasured == nil || s.Remeasured.RPS != 60 || s.Metrics.RPS != 300 || !strings.Contains(s.Verdict, "a second one did not") {
		t.Errorf("step 1: remeasured %v, metrics %+v, verdict %q", s.Remeasured, s.Metrics, s.Verdict)
	}
	if svc.measures != 4 {
		t.Errorf("%d measurements, want 4 (baseline, pool twice, hops)", svc.measures)
	}
}

func TestRunSkipsFindingsWithoutAFix(t *testing.T) {
	svc := newFake(t, hopsProblem)
	svc.extra = []rules.Finding{
		finding("db.slow-query", "queryid 1", rules.Critical, 0.9),
		{Rule: "db.missing-index", Subject: "orders (customer_id)", Severity: rules.Warning, Impact: 0.8,
			Evidence: map[string]any{"table": "public.orders", "columns": []string{"customer_id"}}},
		finding("redis.evictions", "redis", rules.Info, 0.95),
	}
	var events []EventKind
	res, err := Run(context.Background(), Config{Measurer: svc, Knobs: svc, Events: func(e Event) { events = append(events, e.Kind) }})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(stepFixes(res), " "); got != "hops=inproc:kept" {
		t.Errorf("steps %s", got)
	}
	if len(res.Skipped) != 2 {
		t.Fatalf("skipped %+v, want the slow query and the index on orders, once each", res.Skipped)
	}
	if res.Skipped[0].Finding.Rule != "db.slow-query" || !strings.Contains(res.Skipped[0].Reason, "no sampleapp knob") {
		t.Errorf("first skipped %+v", res.Skipped[0])
	}
	if !strings.Contains(res.Skipped[1].Reason, "not the one sampleapp's index knob creates") {
		t.Errorf("second skipped %+v", res.Skipped[1])
	}
	for _, f := range res.Remaining {
		if f.Severity < rules.Warning {
			t.Errorf("info finding %s counted", f.Rule)
		}
	}
	if len(res.Remaining) != 2 || !strings.Contains(res.Stop, "2 finding(s) at warning or above remain") {
		t.Errorf("remaining %d, stop %q", len(res.Remaining), res.Stop)
	}
	if events[0] != Measuring || events[len(events)-1] != Stopped {
		t.Errorf("events %v", events)
	}
}

func TestRunInTunedStateAppliesNothing(t *testing.T) {
	svc := newFake(t, hopsProblem, poolProblem)
	svc.settings, _ = sampleapp.ProfileSettings(sampleapp.ProfileTuned)
	res, err := Run(context.Background(), Config{Measurer: svc, Knobs: svc})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Steps) != 1 || len(svc.sets) != 0 || svc.measures != 1 {
		t.Errorf("steps %d, knobs set %v, measures %d: want one measurement and nothing applied", len(res.Steps), svc.sets, svc.measures)
	}
	if !strings.Contains(res.Stop, "no finding") {
		t.Errorf("stop %q", res.Stop)
	}
}

func TestRunSkipsAKnobAlreadyAtItsFix(t *testing.T) {
	svc := newFake(t, hopsProblem)
	// pool.undersized fires although the pool is sized: tune's fix for it
	// is the setting the service already has, so it is not applied.
	svc.settings["pool"] = "sized"
	svc.extra = []rules.Finding{finding("pool.undersized", "pgxpool", rules.Warning, 0.7)}
	res, err := Run(context.Background(), Config{Measurer: svc, Knobs: svc})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(stepFixes(res), " "); got != "hops=inproc:kept" {
		t.Errorf("steps %s", got)
	}
	if len(res.Skipped) != 1 || !strings.Contains(res.Skipped[0].Reason, "pool=sized is already set") {
		t.Errorf("skipped %+v", res.Skipped)
	}
}

func TestRunStopsAtMaxSteps(t *testing.T) {
	svc := newFake(t, hopsProblem, poolProblem, indexProblem)
	res, err := Run(context.Background(), Config{Measurer: svc, Knobs: svc, MaxSteps: 2})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Steps) != 3 || !strings.Contains(res.Stop, "--max-steps (2)") || len(res.Remaining) != 1 {
		t.Errorf("steps %d, stop %q, remaining %d", len(res.Steps), res.Stop, len(res.Remaining))
	}
}

// script answers proposals in order.
type script []Decision

func (s *script) Decide(context.Context, Proposal) (Decision, error) {
	d := (*s)[0]
	*s = (*s)[1:]
	return d, nil
}

func TestRunFollowsTheDecider(t *testing.T) {
	svc := newFake(t, hopsProblem, poolProblem, indexProblem)
	d := script{Skip, Apply, Quit}
	res, err := Run(context.Background(), Config{Measurer: svc, Knobs: svc, Decider: &d})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(stepFixes(res), " "); got != "hops=inproc:kept" {
		t.Errorf("steps %s (pool declined, hops applied, then quit)", got)
	}
	if len(res.Skipped) != 1 || res.Skipped[0].Reason != "declined" || res.Skipped[0].Finding.Rule != "pool.no-pooling" {
		t.Errorf("skipped %+v", res.Skipped)
	}
	if !strings.Contains(res.Stop, "asked to stop") {
		t.Errorf("stop %q", res.Stop)
	}
}

func TestRunReportsAFailedFix(t *testing.T) {
	svc := newFake(t, hopsProblem)
	svc.failSet = "hops=inproc"
	res, err := Run(context.Background(), Config{Measurer: svc, Knobs: svc})
	if err == nil || !strings.Contains(err.Error(), "apply hops=inproc") {
		t.Fatalf("err %v", err)
	}
	if len(res.Steps) != 1 {
		t.Errorf("steps %d", len(res.Steps))
	}
}

func TestRunCancelled(t *testing.T) {
	svc := newFake(t, hopsProblem)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Run(ctx, Config{Measurer: svc, Knobs: svc}); !errors.Is(err, context.Canceled) {
		t.Errorf("err %v", err)
	}
}

func TestNoiseWorse(t *testing.T) {
	base := Metrics{Requests: 1000, RPS: 100, P95: 100 * time.Millisecond}
	cases := []struct {
		name  string
		after Metrics
		worse bool
		why   string
	}{
		{"same", base, false, ""},
		{"RPS within noise", Metrics{Requests: 1000, RPS: 92, P95: 110 * time.Millisecond}, false, ""},
		{"RPS down", Metrics{Requests: 1000, RPS: 85, P95: 100 * time.Millisecond}, true, "RPS fell 15%"},
		{"RPS down, p95 much shorter: a trade", Metrics{Requests: 1000, RPS: 85, P95: 40 * time.Millisecond}, false, ""},
		{"both worse", Metrics{Requests: 1000, RPS: 50, P95: 300 * time.Millisecond}, true, "RPS fell 50%"},
		{"p95 up, no gain", Metrics{Requests: 1000, RPS: 105, P95: 130 * time.Millisecond}, true, "p95 rose 30%"},
		{"p95 up with more RPS: a trade", Metrics{Requests: 1000, RPS: 150, P95: 130 * time.Millisecond}, false, ""},
		{"errors up", Metrics{Requests: 1000, Errors: 30, RPS: 100, P95: 100 * time.Millisecond}, true, "errors rose"},
		{"better", Metrics{Requests: 1000, RPS: 300, P95: 30 * time.Millisecond}, false, ""},
	}
	for _, c := range cases {
		worse, why := DefaultNoise.Worse(base, c.after)
		if worse != c.worse || !strings.Contains(why, c.why) {
			t.Errorf("%s: worse %v (%q), want %v (%q)", c.name, worse, why, c.worse, c.why)
		}
	}
}

func TestRank(t *testing.T) {
	fs := []rules.Finding{
		finding("a", "x", rules.Info, 0.9),
		finding("b", "x", rules.Warning, 0.2),
		finding("c", "x", rules.Critical, 0.1),
		finding("d", "x", rules.Warning, 0.5),
		finding("e", "x", rules.Critical, 0.5),
	}
	var got []string
	for _, f := range Rank(fs, rules.Warning) {
		got = append(got, f.Rule)
	}
	if strings.Join(got, "") != "edbc" {
		t.Errorf("rank %v, want e d b c (impact first, then severity; info dropped)", got)
	}
}

func TestActionFor(t *testing.T) {
	cases := []struct {
		f    rules.Finding
		want string
	}{
		{finding("db.n-plus-one", "queryid 1", rules.Warning, 0), "nplusone=batched"},
		{finding("runtime.gomaxprocs", "GOMAXPROCS", rules.Warning, 0), "gomaxprocs=default"},
		{finding("pool.oversized", "pgxpool", rules.Warning, 0), "pool=sized"},
		{finding("app.inline-work", "github.com/pgadvisor/advisor/sampleapp.(*App).postOrder -> smtp", rules.Warning, 0), "inline=queued"},
		{finding("app.inline-work", "github.com/pgadvisor/advisor/sampleapp.(*App).recordAudit -> hashing", rules.Warning, 0), ""},
		{finding("db.cache-candidate", "queryid 2", rules.Info, 0), "cache=redis"},
		{finding("db.overfetch", "queryid 3", rules.Info, 0), "overfetch=columns"},
		{finding("app.lock-contention", "audit", rules.Warning, 0), "lock=none"},
		{indexProblem.finding, "index=present"},
		{rules.Finding{Rule: "db.missing-index", Subject: "events (user_id)"}, "index=present"},
		{rules.Finding{Rule: "db.missing-index", Fix: rules.Fix{SQL: `CREATE INDEX CONCURRENTLY ON public."events" USING btree ("user_id", created_at DESC);`}}, "index=present"},
		{rules.Finding{Rule: "db.missing-index", Subject: "events (kind)"}, ""},
		{rules.Finding{Rule: "db.missing-index", Subject: "order_items (order_id)"}, ""},
		{rules.Finding{Rule: "db.missing-index"}, ""},
		{rules.Finding{Rule: "redis.round-trips", Subject: "redis"}, "ratelimit=batched"},
		{rules.Finding{Rule: "queue.backlog", Subject: "river default", Evidence: map[string]any{"system": "river", "queue": "default"}}, "jobworkers=sized"},
		{rules.Finding{Rule: "queue.backlog", Subject: "celery celery", Evidence: map[string]any{"system": "celery", "queue": "celery"}}, ""},
		{finding("db.slow-query", "q", rules.Warning, 0), ""},
		{finding("app.blocking-io", "q", rules.Warning, 0), ""},
	}
	for _, c := range cases {
		a, reason, ok := ActionFor(c.f)
		got := ""
		if ok {
			got = a.String()
		} else if reason == "" {
			t.Errorf("%s %s: no action and no reason", c.f.Rule, c.f.Subject)
		}
		if got != c.want {
			t.Errorf("%s %q: %q, want %q", c.f.Rule, c.f.Subject, got, c.want)
		}
		if ok {
			if err := sampleapp.ValidateKnob(a.Knob, a.Value); err != nil {
				t.Error(err)
			}
		}
	}
}

// Every mapped knob value must be the knob's tuned value: tune moves the
// service towards the tuned profile only.
func TestActionsAreTunedValues(t *testing.T) {
	for rule, a := range actions {
		k, ok := sampleapp.LookupKnob(a.Knob)
		if !ok || k.Tuned != a.Value {
			t.Errorf("%s -> %s: not the knob's tuned value", rule, a)
		}
	}
}
