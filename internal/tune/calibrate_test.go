package tune

import (
	"context"
	"errors"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/pgadvisor/advisor/internal/rules"
	"github.com/pgadvisor/advisor/sampleapp"
)

func TestSpearmanRho(t *testing.T) {
	cases := []struct {
		name string
		x, y []float64
		want float64
	}{
		{"same order", []float64{1, 2, 3, 4}, []float64{10, 20, 30, 40}, 1},
		{"reversed", []float64{1, 2, 3, 4}, []float64{4, 3, 2, 1}, -1},
		// Ranks only: any monotone transform of a series leaves rho alone.
		{"monotone, not linear", []float64{0.1, 0.5, 0.9, 1}, []float64{math.Exp(1), math.Exp(5), math.Exp(9), math.Exp(10)}, 1},
		// One swap among four: 1 - 6*2/(4*(16-1)).
		{"one swap", []float64{1, 2, 3, 4}, []float64{1, 2, 4, 3}, 0.8},
		// IQ against hours of television a week (the textbook example):
		// -29/165.
		{"no ties, textbook", []float64{106, 100, 86, 101, 99, 103, 97, 113, 112, 110},
			[]float64{7, 27, 2, 50, 28, 29, 20, 12, 6, 17}, -29.0 / 165},
		// Ties take the mean of their ranks: x ranks 1, 2.5, 2.5, 4; the
		// Pearson correlation of the ranks is 4.5 / sqrt(4.5 * 5).
		{"ties", []float64{1, 2, 2, 3}, []float64{1, 3, 2, 4}, 4.5 / math.Sqrt(4.5*5)},
		{"tied the same way in both", []float64{0.5, 0.5, 0.2}, []float64{3, 3, 1}, 1},
	}
	for _, c := range cases {
		got, err := SpearmanRho(c.x, c.y)
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if math.Abs(got-c.want) > 1e-12 {
			t.Errorf("%s: rho %v, want %v", c.name, got, c.want)
		}
		if back, _ := SpearmanRho(c.y, c.x); math.Abs(back-got) > 1e-12 {
			t.Errorf("%s: not symmetric: %v and %v", c.name, got, back)
		}
	}
}

func TestSpearmanRhoUndefined(t *testing.T) {
	cases := []struct {
		name string
		x, y []float64
		want string
	}{
		{"lengths", []float64{1, 2, 3}, []float64{1, 2}, "3 values against 2"},
		{"one pair", []float64{1}, []float64{2}, "need at least 2"},
		{"none", nil, nil, "need at least 2"},
		{"constant", []float64{1, 1, 1}, []float64{1, 2, 3}, "the same"},
		{"NaN", []float64{1, math.NaN(), 3}, []float64{1, 2, 3}, "NaN"},
	}
	for _, c := range cases {
		got, err := SpearmanRho(c.x, c.y)
		if err == nil || !strings.Contains(err.Error(), c.want) || !math.IsNaN(got) {
			t.Errorf("%s: %v, %v; want NaN and an error saying %q", c.name, got, err, c.want)
		}
	}
}

func TestAverageRanks(t *testing.T) {
	got := averageRanks([]float64{30, 10, 20, 10, 30, 30})
	want := []float64{5, 1.5, 3, 1.5, 5, 5}
	if !slices.Equal(got, want) {
		t.Errorf("ranks %v, want %v", got, want)
	}
	if got := descendingRanks([]float64{0.9, 0.1, 0.9}); !slices.Equal(got, []float64{1.5, 3, 1.5}) {
		t.Errorf("descending ranks %v", got)
	}
}

// run builds a tuning result from its steps' RPS: a negative value is a
// reverted fix.
func run(rps ...float64) *Result {
	res := &Result{}
	for i, v := range rps {
		s := Step{N: i, Metrics: Metrics{RPS: math.Abs(v)}, Outcome: Kept}
		if i == 0 {
			s.Outcome = Baseline
		} else {
			s.Fix = &Applied{Action: Action{Knob: "k", Value: "v"}}
		}
		if v < 0 {
			s.Outcome = Reverted
		}
		res.Steps = append(res.Steps, s)
	}
	return res
}

func TestFirstKeptShare(t *testing.T) {
	cases := []struct {
		name string
		res  *Result
		want float64
	}{
		// Fourth kept fix at 1600 of 100 -> 3200: log 16 / log 32.
		{"a reverted fix does not count", run(100, 200, -50, 400, 800, 1600, 3200), 0.8},
		{"the fourth is the last", run(100, 200, 400, 800, 1600), 1},
		{"fewer than four kept", run(100, 1000, -10, 2000), 1},
		// A late fix that made things a little worse and was kept (within
		// the noise) leaves more than all of the gain after four.
		{"beyond the end", run(100, 200, 400, 800, 1600, 1500), math.Log(16) / math.Log(15)},
		// The last kept step is the run's end, even when later steps were
		// reverted.
		{"reverted at the end", run(100, 1000, 10000, 100000, 1000000, 10000000, -5), 4.0 / 5},
	}
	for _, c := range cases {
		got, err := FirstKeptShare(c.res, FirstFixes)
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if math.Abs(got-c.want) > 1e-12 {
			t.Errorf("%s: share %v, want %v", c.name, got, c.want)
		}
	}
	// A step measured twice counts with its second measurement.
	res := run(100, 200, 400, 800, 1600, 3200)
	res.Steps[4].Remeasured = &Metrics{RPS: 50}
	if got, _ := FirstKeptShare(res, FirstFixes); math.Abs(got-0.8) > 1e-12 {
		t.Errorf("remeasured step: share %v, want 0.8", got)
	}
	for name, res := range map[string]*Result{"no steps": {}, "no gain": run(100, 90), "baseline only": run(100), "nil": nil} {
		if got, err := FirstKeptShare(res, FirstFixes); err == nil || !math.IsNaN(got) {
			t.Errorf("%s: %v, %v; want NaN and an error", name, got, err)
		}
	}
}

func TestBestKeptShare(t *testing.T) {
	// Kept gains x2, x2, x1.5, x1.1, x8, x1.25 (the reverted step left
	// out): the largest four, x8 x2 x2 x1.5, against all six.
	res := run(100, 200, -50, 400, 600, 660, 5280, 6600)
	want := math.Log(8*2*2*1.5) / math.Log(66)
	got, err := BestKeptShare(res, FirstFixes)
	if err != nil || math.Abs(got-want) > 1e-12 {
		t.Errorf("best share %v, %v; want %v", got, err, want)
	}
	// The run took x2, x2, x1.5, x1.1 first: less than the best order.
	first, _ := FirstKeptShare(res, FirstFixes)
	if !(first < got) {
		t.Errorf("first four %v, best four %v", first, got)
	}
	// Fewer kept fixes than n: all of the gain.
	if got, _ := BestKeptShare(run(100, 1000, -10, 2000), FirstFixes); math.Abs(got-1) > 1e-12 {
		t.Errorf("two kept fixes: %v", got)
	}
	for name, res := range map[string]*Result{"no steps": {}, "no gain": run(100, 90), "nil": nil} {
		if got, err := BestKeptShare(res, FirstFixes); err == nil || !math.IsNaN(got) {
			t.Errorf("%s: %v, %v; want NaN and an error", name, got, err)
		}
	}
}

// failingMeasurer fails its nth measurement (counted from 1).
type failingMeasurer struct {
	*fakeService
	n int
}

func (m failingMeasurer) Measure(ctx context.Context) (*Measurement, error) {
	if m.measures+1 == m.n {
		m.measures++
		return nil, errors.New("scripted measurement failure")
	}
	return m.fakeService.Measure(ctx)
}

func TestCalibrate(t *testing.T) {
	pool := poolProblem
	// A second rule on the pool knob, with less impact: the pool fix is
	// measured once, predicted by the larger impact.
	undersized := problem{knob: "pool", fixed: "sized", gain: 1,
		finding: finding("pool.undersized", "sampleapp", rules.Warning, 0.1)}
	svc := newFake(t, hopsProblem, pool, undersized, indexProblem, lockProblem)
	svc.extra = []rules.Finding{finding("db.slow-query", "SELECT 1", rules.Warning, 0.9)}
	settles := 0
	var lines []string
	c, err := Calibrate(context.Background(), CalibrationConfig{Measurer: svc, Knobs: svc,
		Settle: func(context.Context) error { settles++; return nil },
		Log:    func(format string, args ...any) { lines = append(lines, fmt.Sprintf(format, args...)) }})
	if err != nil {
		t.Fatal(err)
	}
	var fixes []string
	for _, g := range c.Fixes {
		fixes = append(fixes, g.Finding.Rule+":"+g.Action.String())
	}
	// Knob order, not impact order; one entry for the pool knob.
	want := []string{"app.internal-hops:hops=inproc", "pool.no-pooling:pool=sized", "db.missing-index:index=present", "app.lock-contention:lock=none"}
	if !slices.Equal(fixes, want) {
		t.Fatalf("fixes %v, want %v", fixes, want)
	}
	// Each fix alone from the naive state, then set back; the naive
	// measurement before the fix, then after it, in turn.
	wantSets := "hops=inproc hops=http pool=sized pool=per-request index=present index=absent lock=none lock=global"
	if got := strings.Join(svc.sets, " "); got != wantSets {
		t.Errorf("knobs set: %s, want %s", got, wantSets)
	}
	naive, _ := sampleapp.ProfileSettings(sampleapp.ProfileNaive)
	if svc.settings.String() != naive.String() {
		t.Errorf("knobs after: %s, want the naive profile", svc.settings)
	}
	if svc.measures != 9 || settles != 9 {
		t.Errorf("%d measurements and %d settles, want 9 each: the baseline and two per fix", svc.measures, settles)
	}
	for i, g := range c.Fixes {
		if len(g.Pairs) != 1 {
			t.Fatalf("fix %d: %d pairs, want 1", i, len(g.Pairs))
		}
		if g.Pairs[0].NaiveFirst != (i%2 == 0) {
			t.Errorf("fix %d: naive first %v", i, g.Pairs[0].NaiveFirst)
		}
		if g.Pairs[0].Naive.RPS != 100 || g.From != naive[g.Action.Knob] {
			t.Errorf("%s: naive RPS %v from %q", g.Action, g.Pairs[0].Naive.RPS, g.From)
		}
	}
	gains := []float64{2, 3, 1.5, 0.6}
	for i, g := range c.Fixes {
		if math.Abs(g.Gain()-gains[i]) > 1e-9 || math.Abs(g.LogGain()-math.Log(gains[i])) > 1e-9 {
			t.Errorf("%s: gain %v (log %v), want %v", g.Action, g.Gain(), g.LogGain(), gains[i])
		}
	}
	// Impacts 0.4, 0.6, 0.2, 0.5 (ranks 3, 1, 4, 2) against gains 2, 3,
	// 1.5, 0.6 (ranks 2, 1, 3, 4): 1 - 6*(1+0+1+4)/(4*(16-1)).
	if rho, err := c.Spearman(); err != nil || math.Abs(rho-0.4) > 1e-12 {
		t.Errorf("rho %v (%v), want 0.4", rho, err)
	}
	var undetected []string
	for _, a := range c.Undetected {
		undetected = append(undetected, a.String())
	}
	if got := strings.Join(undetected, " "); got != "nplusone=batched overfetch=columns cache=redis inline=queued gomaxprocs=default ratelimit=batched jobworkers=sized" {
		t.Errorf("undetected %s", got)
	}
	if len(lines) == 0 {
		t.Error("nothing logged")
	}
	// Every finding of the baseline is logged with its prediction.
	predicted := 0
	for _, l := range lines {
		if strings.Contains(l, "predicted") {
			predicted++
		}
	}
	if predicted != len(c.All) || predicted == 0 {
		t.Errorf("%d predictions logged, want one per finding of the baseline (%d)", predicted, len(c.All))
	}

	var out strings.Builder
	if err := WriteCalibration(&out, c); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"pool.no-pooling", "pool=sized", "60%", "x3.00  +1.10", "over the 4 fixes a finding pointed at: 0.40 (target >= 0.80)",
		"not measured): nplusone=batched", "baseline: 100.0 RPS"} {
		if !strings.Contains(out.String(), s) {
			t.Errorf("table lacks %q:\n%s", s, out.String())
		}
	}
}

// With Undetected, the knobs no finding pointed at are measured too, as
// impact 0 in SpearmanAll and outside Spearman.
func TestCalibrateUndetected(t *testing.T) {
	svc := newFake(t, hopsProblem, indexProblem,
		problem{knob: "cache", fixed: "redis", gain: 4}, // seeded, no finding
		problem{knob: "lock", fixed: "none", gain: 1.2}) // seeded, no finding
	c, err := Calibrate(context.Background(), CalibrationConfig{Measurer: svc, Knobs: svc, Undetected: true})
	if err != nil {
		t.Fatal(err)
	}
	var fixes []string
	for _, g := range c.Fixes {
		fixes = append(fixes, fmt.Sprintf("%s:%v", g.Action, g.Detected()))
	}
	want := "hops=inproc:true pool=sized:false nplusone=batched:false index=present:true overfetch=columns:false " +
		"cache=redis:false inline=queued:false lock=none:false gomaxprocs=default:false ratelimit=batched:false jobworkers=sized:false"
	if got := strings.Join(fixes, " "); got != want {
		t.Fatalf("fixes %s, want %s", got, want)
	}
	if svc.measures != 1+2*11 {
		t.Errorf("%d measurements, want 23", svc.measures)
	}
	// Detected: hops (impact 0.4, x2) above index (0.2, x1.5): rho 1.
	if rho, err := c.Spearman(); err != nil || rho != 1 {
		t.Errorf("rho %v (%v), want 1", rho, err)
	}
	// All: the cache (x4) and the lock (x1.2) are at impact 0 with seven
	// fixes that gain nothing; impact ranks 11, 10, then 5 for the nine
	// tied; gain ranks 10, 9, 11, 8, then 4 for the seven tied.
	x := []float64{0.4, 0, 0, 0.2, 0, 0, 0, 0, 0, 0, 0}
	y := []float64{math.Log(2), 0, 0, math.Log(1.5), 0, math.Log(4), 0, math.Log(1.2), 0, 0, 0}
	wantAll, _ := SpearmanRho(x, y)
	if rho, err := c.SpearmanAll(); err != nil || math.Abs(rho-wantAll) > 1e-12 || rho >= 1 {
		t.Errorf("rho over all %v (%v), want %v", rho, err, wantAll)
	}
	var out strings.Builder
	if err := WriteCalibration(&out, c); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{`\(no finding\) +cache=redis +- +- +100\.0 +400\.0 +x4\.00 +\+1\.39 +-`,
		"over the 2 fixes a finding pointed at: 1\\.00", "over all 11 fixes, those no finding pointed at as impact 0"} {
		if !regexp.MustCompile(s).MatchString(out.String()) {
			t.Errorf("table lacks %q:\n%s", s, out.String())
		}
	}
}

// A fix whose measurement fails is set back all the same.
func TestCalibrateSetsBackAfterAFailure(t *testing.T) {
	svc := newFake(t, hopsProblem, poolProblem)
	_, err := Calibrate(context.Background(), CalibrationConfig{Measurer: failingMeasurer{svc, 3}, Knobs: svc})
	if err == nil || !strings.Contains(err.Error(), "measure hops=inproc: scripted measurement failure") {
		t.Fatalf("error %v", err)
	}
	if got := strings.Join(svc.sets, " "); got != "hops=inproc hops=http" {
		t.Errorf("knobs set: %s", got)
	}
}

// From the tuned profile there is nothing to measure, and no rank
// correlation.
func TestCalibrateTuned(t *testing.T) {
	svc := newFake(t, hopsProblem)
	tuned, _ := sampleapp.ProfileSettings(sampleapp.ProfileTuned)
	svc.settings = tuned
	c, err := Calibrate(context.Background(), CalibrationConfig{Measurer: svc, Knobs: svc})
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Fixes) != 0 || len(c.Undetected) != 0 || svc.measures != 1 {
		t.Errorf("fixes %v, undetected %v, %d measurements", c.Fixes, c.Undetected, svc.measures)
	}
	if _, err := c.Spearman(); err == nil {
		t.Error("a rank correlation over no fixes")
	}
}

// With Pairs, each fix is measured in that many pairs, the order
// alternating, and its gain is the median pair's: one unlucky measurement
// (a fifth of the RPS, as on a busy machine) no longer decides it.
func TestCalibratePairs(t *testing.T) {
	svc := newFake(t, hopsProblem, indexProblem)
	// Measurements: 1 the baseline; hops=inproc's pairs 2-3 (naive
	// first), 4-5 (fix first), 6-7; index=present's 8-9 (fix first),
	// 10-11, 12-13. The fourth is hops' fix, the tenth index's naive.
	svc.glitch = map[int]bool{4: true, 10: true}
	var lines []string
	c, err := Calibrate(context.Background(), CalibrationConfig{Measurer: svc, Knobs: svc, Pairs: 3,
		Log: func(format string, args ...any) { lines = append(lines, fmt.Sprintf(format, args...)) }})
	if err != nil {
		t.Fatal(err)
	}
	if svc.measures != 1+2*2*3 {
		t.Errorf("%d measurements, want 13: the baseline and three pairs per fix", svc.measures)
	}
	wantSets := "hops=inproc hops=http hops=inproc hops=http hops=inproc hops=http index=present index=absent index=present index=absent index=present index=absent"
	if got := strings.Join(svc.sets, " "); got != wantSets {
		t.Errorf("knobs set: %s", got)
	}
	want := []struct {
		gain       float64
		pairs      []float64
		naiveFirst []bool
	}{
		{2, []float64{2, 0.4, 2}, []bool{true, false, true}},
		{1.5, []float64{1.5, 7.5, 1.5}, []bool{false, true, false}},
	}
	for i, g := range c.Fixes {
		if math.Abs(g.Gain()-want[i].gain) > 1e-9 {
			t.Errorf("%s: gain %v, want %v", g.Action, g.Gain(), want[i].gain)
		}
		ps := g.Pairs
		if len(ps) != 3 {
			t.Fatalf("%s: %d pairs", g.Action, len(ps))
		}
		for n, p := range ps {
			if math.Abs(p.Gain()-want[i].pairs[n]) > 1e-9 || p.NaiveFirst != want[i].naiveFirst[n] {
				t.Errorf("%s pair %d: gain %v naive first %v, want %v %v", g.Action, n+1, p.Gain(), p.NaiveFirst, want[i].pairs[n], want[i].naiveFirst[n])
			}
		}
	}
	if !slices.ContainsFunc(lines, func(l string) bool {
		return strings.Contains(l, "x2.00 RPS against the adjacent naive measurement (the median of x2.00 x0.40 x2.00)")
	}) {
		t.Errorf("no line with hops' pairs:\n%s", strings.Join(lines, "\n"))
	}
	var out strings.Builder
	if err := WriteCalibration(&out, c); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"pair gains", "x1.50 x7.50 x1.50", `hops=inproc +40% +1 +100\.0 +200\.0 +x2\.00`} {
		if !regexp.MustCompile(s).MatchString(out.String()) {
			t.Errorf("table lacks %q:\n%s", s, out.String())
		}
	}
}

func TestMedianRatio(t *testing.T) {
	for _, c := range []struct {
		xs   []float64
		want float64
	}{
		{[]float64{2}, 2},
		{[]float64{3, 1, 2}, 2},
		{[]float64{1, 4}, 2}, // the geometric mean of the middle two
		{[]float64{0.5, 8, 2, 1}, math.Sqrt(2)},
	} {
		if got := medianRatio(c.xs); math.Abs(got-c.want) > 1e-12 {
			t.Errorf("medianRatio(%v) = %v, want %v", c.xs, got, c.want)
		}
	}
	for _, xs := range [][]float64{nil, {1, math.NaN()}} {
		if got := medianRatio(xs); !math.IsNaN(got) {
			t.Errorf("medianRatio(%v) = %v, want NaN", xs, got)
		}
	}
}

// The run's noise is the spread of consecutive naive measurements, and a
// fix whose median gain stays within it counts as none in
// SpearmanResolved: its rank is the noise's.
func TestCalibrationNoise(t *testing.T) {
	fix := func(rule string, impact, gain float64, naives ...float64) FixGain {
		g := FixGain{Finding: finding(rule, "s", rules.Warning, impact), Action: Action{Knob: rule, Value: "fixed"}}
		for _, n := range naives {
			g.Pairs = append(g.Pairs, Pair{Naive: Metrics{RPS: n}, Fixed: Metrics{RPS: n * gain}})
		}
		return g
	}
	c := &Calibration{Baseline: Metrics{RPS: 100}, Fixes: []FixGain{
		fix("a", 0.5, 3, 100, 110, 100),
		fix("b", 0.3, 1.1, 100, 90, 100),
		fix("c", 0.2, 1.5, 100, 110, 100),
		fix("d", 0.1, 1.2, 100, 90, 100),
	}}
	// 12 consecutive ratios: four of 1, four of 110/100 or back, four of
	// 90/100 or back; the median |log| is log(1.1).
	if got, want := c.NoiseSigma(), 1.4826*math.Log(1.1); math.Abs(got-want) > 1e-12 {
		t.Errorf("sigma %v, want %v", got, want)
	}
	band := 2 * 1.4826 * math.Log(1.1) * math.Sqrt(math.Pi/6)
	if got := c.NoiseBand(3); math.Abs(got-band) > 1e-12 {
		t.Errorf("band %v, want %v", got, band)
	}
	var resolved []bool
	for _, g := range c.Fixes {
		resolved = append(resolved, c.Resolved(g))
	}
	if !slices.Equal(resolved, []bool{true, false, true, false}) {
		t.Errorf("resolved %v, want x3 and x1.5 only (band x%.3f)", resolved, math.Exp(band))
	}
	plain, err := c.Spearman()
	if err != nil || math.Abs(plain-0.4) > 1e-12 {
		t.Errorf("plain rho %v (%v), want 0.4", plain, err)
	}
	want, _ := SpearmanRho([]float64{0.5, 0.3, 0.2, 0.1}, []float64{math.Log(3), 0, math.Log(1.5), 0})
	if got, err := c.SpearmanResolved(); err != nil || math.Abs(got-want) > 1e-12 || got <= plain {
		t.Errorf("resolved rho %v (%v), want %v", got, err, want)
	}
	var out strings.Builder
	if err := WriteCalibration(&out, c); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{`x1\.10 +\+0\.10 +4 +no`, `x3\.00 +\+1\.10 +1 +yes`, "differ by 14.1% \\(sigma of the log ratio, over its 13 measurements\\)",
		`within x0\.82\.\.x1\.23 is not told from none`, `tied as none: 0\.63`,
		`one pair's gains with another's, over the same 4 fixes: 1\.00, 1\.00, 1\.00 \(mean 1\.00\)`} {
		if !regexp.MustCompile(s).MatchString(out.String()) {
			t.Errorf("table lacks %q:\n%s", s, out.String())
		}
	}

	// Without repeated naive measurements there is no noise to tell: every
	// gain but none counts.
	one := &Calibration{Baseline: Metrics{RPS: 100}, Fixes: []FixGain{fix("a", 0.5, 1.01, 100)}}
	if !math.IsNaN(one.NoiseSigma()) || !one.Resolved(one.Fixes[0]) {
		t.Errorf("one pair: sigma %v, resolved %v", one.NoiseSigma(), one.Resolved(one.Fixes[0]))
	}
}

// TestPairAgreement: the pairs' gains ranked against each other, pair by
// pair, over the fixes a finding pointed at.
func TestPairAgreement(t *testing.T) {
	fix := func(rule string, impact float64, gains ...float64) FixGain {
		g := FixGain{Finding: finding(rule, "s", rules.Warning, impact), Action: Action{Knob: rule, Value: "fixed"}}
		for _, x := range gains {
			g.Pairs = append(g.Pairs, Pair{Naive: Metrics{RPS: 10}, Fixed: Metrics{RPS: 10 * x}})
		}
		return g
	}
	// Pairs 1 and 2 rank a, b, c, d alike; pair 3 swaps c and d; the
	// undetected fix, whose gains disagree, is left out.
	c := &Calibration{Fixes: []FixGain{
		fix("a", 0.5, 3, 2.8, 3.1),
		fix("b", 0.3, 1.5, 1.4, 1.6),
		fix("c", 0.2, 1.1, 1.05, 0.9),
		fix("d", 0.1, 0.9, 0.95, 1.2),
		{Action: Action{Knob: "u", Value: "fixed"}, Pairs: []Pair{{Naive: Metrics{RPS: 10}, Fixed: Metrics{RPS: 50}}, {Naive: Metrics{RPS: 10}, Fixed: Metrics{RPS: 1}}, {Naive: Metrics{RPS: 10}, Fixed: Metrics{RPS: 10}}}},
	}}
	rhos, mean, err := c.PairAgreement()
	if err != nil {
		t.Fatal(err)
	}
	// 1 against 2: identical ranks; 1 and 2 against 3: c and d swapped,
	// d² sum 2 over n=4, rho = 1 - 6*2/60 = 0.8.
	want := []float64{1, 0.8, 0.8}
	if len(rhos) != len(want) {
		t.Fatalf("rhos %v, want %v", rhos, want)
	}
	for i := range want {
		if math.Abs(rhos[i]-want[i]) > 1e-12 {
			t.Errorf("rhos %v, want %v", rhos, want)
		}
	}
	if math.Abs(mean-(2.6/3)) > 1e-12 {
		t.Errorf("mean %v, want %v", mean, 2.6/3)
	}

	one := &Calibration{Fixes: []FixGain{fix("a", 0.5, 3), fix("b", 0.3, 1.5)}}
	if _, _, err := one.PairAgreement(); err == nil {
		t.Error("one pair per fix: no error")
	}
	uneven := &Calibration{Fixes: []FixGain{fix("a", 0.5, 3, 2), fix("b", 0.3, 1.5)}}
	if _, _, err := uneven.PairAgreement(); err == nil {
		t.Error("uneven pairs: no error")
	}
	if _, _, err := (&Calibration{}).PairAgreement(); err == nil {
		t.Error("no fixes: no error")
	}
}
