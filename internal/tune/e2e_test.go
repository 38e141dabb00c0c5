package tune

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/pgadvisor/advisor/internal/config"
	"github.com/pgadvisor/advisor/internal/load"
	"github.com/pgadvisor/advisor/internal/probe"
	"github.com/pgadvisor/advisor/internal/rules"
	"github.com/pgadvisor/advisor/internal/scenario"
	"github.com/pgadvisor/advisor/internal/stack/stacktest"
	"github.com/pgadvisor/advisor/sampleapp"
)

// startScenario starts sampleapp on a database of its own on the test
// stack, with the small data set.
func startScenario(t testing.TB, db, profile string) *scenario.Scenario {
	t.Helper()
	return startScenarioSize(t, db, profile, sampleapp.TestSize, 2*time.Minute)
}

// startScenarioSize is startScenario with a data set of size, seeded within
// timeout.
func startScenarioSize(t testing.TB, db, profile string, size sampleapp.Size, timeout time.Duration) *scenario.Scenario {
	t.Helper()
	info := stacktest.Start(t)
	dsn := stacktest.NewDatabase(t, db)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	sc, err := scenario.Start(ctx, scenario.Options{DSN: dsn, RedisAddr: info.RedisAddr, Profile: profile, CacheNamespace: db, Size: size})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sc.Close() })
	return sc
}

// AppKnobs sets the knobs of a sampleapp running in the test's process
// (tune sets a service's knobs through its admin endpoint: AdminKnobs).
type AppKnobs struct{ App *sampleapp.App }

// Settings returns the knobs' values.
func (k AppKnobs) Settings(context.Context) (sampleapp.Settings, error) { return k.App.Settings(), nil }

// SetKnob changes one knob.
func (k AppKnobs) SetKnob(ctx context.Context, name, value string) error {
	return k.App.SetKnob(ctx, name, value)
}

// liveMeasurer measures sc with the real load generator, probes and rules.
func liveMeasurer(t testing.TB, sc *scenario.Scenario, connections int, duration time.Duration) *Live {
	t.Helper()
	return liveMeasurerOf(t, sc.Sources(), sc.LoadConfig(connections, duration), connections, duration)
}

// liveMeasurerOf measures the service of sources under the load lc, on
// connections connections for duration, with the probes and rules.
func liveMeasurerOf(t testing.TB, sources config.Sources, lc load.Config, connections int, duration time.Duration) *Live {
	t.Helper()
	lc.Connections, lc.Duration = connections, duration
	set, err := rules.Default("")
	if err != nil {
		t.Fatal(err)
	}
	return &Live{Load: lc, Probe: probe.Config{Sources: sources},
		Duration: duration, Warmup: time.Second, ProfileSeconds: 1, Rules: set, Registry: rules.Builtin()}
}

// Started in the tuned profile, tune finds nothing to fix: it measures
// once, applies nothing and says so.
func TestTunedProfileHasNothingToFix(t *testing.T) {
	if testing.Short() {
		t.Skip("needs the test stack and a few seconds of load")
	}
	sc := startScenario(t, "tune_tuned", sampleapp.ProfileTuned)
	before := sc.App.Settings()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	res, err := Run(ctx, Config{Measurer: liveMeasurer(t, sc, 16, 6*time.Second), Knobs: AppKnobs{App: sc.App}, MinSeverity: rules.Info})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range res.Steps[0].All {
		t.Logf("finding: %s %s %s (impact %.2f)", f.Severity, f.Rule, f.Subject, f.Impact)
	}
	if len(res.Steps) != 1 {
		t.Errorf("%d steps, want only the first: %s", len(res.Steps), strings.Join(stepFixes(res), " "))
	}
	if got := sc.App.Settings(); got.String() != before.String() {
		t.Errorf("knobs changed: %s -> %s", before, got)
	}
	if m := res.Steps[0].Metrics; m.RPS <= 0 || m.Requests == 0 || !m.HasQueries || !m.HasHops || m.HopsPerRequest != 0 {
		t.Errorf("first step's figures: %+v", m)
	}
	if res.Stop == "" {
		t.Error("no stop reason")
	}

	// The admin endpoint sets the same knobs (attached mode).
	admin := AdminKnobs{URL: sc.App.AdminURL}
	got, err := admin.Settings(ctx)
	if err != nil || got.String() != before.String() {
		t.Fatalf("admin settings %s (%v), want %s", got, err, before)
	}
	if err := admin.SetKnob(ctx, sampleapp.KnobCache, "none"); err != nil {
		t.Fatal(err)
	}
	if v := sc.App.Settings()[sampleapp.KnobCache]; v != "none" {
		t.Errorf("cache is %q after the admin endpoint set it to none", v)
	}
	if err := admin.SetKnob(ctx, sampleapp.KnobCache, "redis"); err != nil {
		t.Fatal(err)
	}
	if err := admin.SetKnob(ctx, sampleapp.KnobCache, "memcached"); err == nil || !strings.Contains(err.Error(), "status 400") {
		t.Errorf("bad value: %v", err)
	}
}

// In the naive profile, the first fix tune applies is one of the seeded
// problems, set in the service, and measured.
func TestNaiveProfileFirstFix(t *testing.T) {
	if testing.Short() {
		t.Skip("needs the test stack and a few seconds of load")
	}
	sc := startScenario(t, "tune_naive", sampleapp.ProfileNaive)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	res, err := Run(ctx, Config{Measurer: liveMeasurer(t, sc, 16, 5*time.Second), Knobs: AppKnobs{App: sc.App}, MaxSteps: 1, MinSeverity: rules.Info})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range res.Steps[0].All {
		t.Logf("finding: %s %s %s (impact %.2f)", f.Severity, f.Rule, f.Subject, f.Impact)
	}
	if len(res.Steps) != 2 {
		t.Fatalf("%d steps, want the first and one fix (stop: %s)", len(res.Steps), res.Stop)
	}
	fix := res.Steps[1].Fix
	naive, _ := sampleapp.ProfileSettings(sampleapp.ProfileNaive)
	if fix.From != naive[fix.Action.Knob] {
		t.Errorf("fix %s from %q, want from the naive value", fix.Action, fix.From)
	}
	want := fix.Action.Value
	if res.Steps[1].Outcome == Reverted {
		want = fix.From
	}
	if got := sc.App.Settings()[fix.Action.Knob]; got != want {
		t.Errorf("knob %s is %q after a %s step, want %q", fix.Action.Knob, got, res.Steps[1].Outcome, want)
	}
	m := res.Steps[0].Metrics
	if !m.HasQueries || m.QueriesPerRequest < 5 || m.HopsPerRequest < 1 {
		t.Errorf("naive first step: %.1f queries and %.1f hops per request, want many", m.QueriesPerRequest, m.HopsPerRequest)
	}
}
