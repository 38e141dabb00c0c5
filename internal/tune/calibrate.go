package tune

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/pgadvisor/advisor/internal/rules"
	"github.com/pgadvisor/advisor/sampleapp"
)

// Impact calibration: does Finding.Impact rank fixes by what they gain?
// Calibrate takes the findings of one measurement of the service in its
// starting state (the naive profile) as the prediction, then measures each
// fix alone from that state against an adjacent measurement of the state
// itself. SpearmanRho compares the two rankings; FirstKeptShare says, of a
// whole tuning run, how much of the gain the first fixes reached.

// CalibrationConfig configures Calibrate.
type CalibrationConfig struct {
	Measurer Measurer
	Knobs    Knobs
	// Settle, when set, runs before every measurement, with the knobs
	// already set for it: it waits for the background work a previous
	// measurement left (order follow-up jobs) so that no measurement pays
	// for another's.
	Settle func(ctx context.Context) error
	// Undetected also measures the fixes of the knobs away from their
	// tuned value that no finding pointed at: a seeded problem the
	// prediction missed counts as impact 0 in SpearmanAll, and the set of
	// fixes measured stays the same whatever the rules find.
	Undetected bool
	// Pairs is how many times each fix is measured next to the starting
	// state, alternating which goes first (default 1): its gain is the
	// median over the pairs. Below a few percent, a single pair's gain is
	// within what two measurements of the same state differ by.
	Pairs int
	// Log, when set, receives a line per measurement.
	Log func(format string, args ...any)
}

// Pair is one measurement of a fix next to one of the starting state.
type Pair struct {
	// Naive is the starting state measured next to Fixed, just before it
	// when NaiveFirst, else just after.
	Naive, Fixed Metrics
	NaiveFirst   bool
}

// Gain is RPS(fix) / RPS(naive) of the pair.
func (p Pair) Gain() float64 {
	if p.Naive.RPS <= 0 {
		return math.NaN()
	}
	return p.Fixed.RPS / p.Naive.RPS
}

// FixGain is one fix measured alone from the starting state, in one or
// more pairs (CalibrationConfig.Pairs).
type FixGain struct {
	// Finding is the finding of the baseline that predicts the fix: of
	// those whose fix sets this knob, the one with the largest impact. It
	// is the zero Finding (impact 0) for a knob no finding pointed at.
	Finding rules.Finding
	Action  Action
	// From is the knob's value in the starting state, set back after the
	// fix was measured.
	From string
	// Pairs are the fix's measurements next to the starting state, in
	// the order taken (CalibrationConfig.Pairs of them).
	Pairs []Pair
}

// Detected says whether a finding of the baseline pointed at the fix.
func (g FixGain) Detected() bool { return g.Finding.Rule != "" }

// Gain is the fix's throughput against the adjacent measurement of the
// starting state, RPS(fix) / RPS(naive): the median over its pairs (the
// geometric mean of the middle two for an even number).
func (g FixGain) Gain() float64 {
	gains := make([]float64, 0, len(g.Pairs))
	for _, p := range g.Pairs {
		gains = append(gains, p.Gain())
	}
	return medianRatio(gains)
}

// medianRatio is the median of positive ratios, the geometric mean of the
// middle two for an even number; NaN when one is NaN or there are none.
func medianRatio(xs []float64) float64 {
	if len(xs) == 0 || slices.ContainsFunc(xs, math.IsNaN) {
		return math.NaN()
	}
	xs = slices.Clone(xs)
	slices.Sort(xs)
	n := len(xs)
	if n%2 == 1 {
		return xs[n/2]
	}
	return math.Sqrt(xs[n/2-1] * xs[n/2])
}

// LogGain is the natural logarithm of Gain: gains compose by adding.
func (g FixGain) LogGain() float64 { return math.Log(g.Gain()) }

// P95Ratio is how many times shorter p95 got, p95(naive) / p95(fix): the
// median over the pairs, as Gain.
func (g FixGain) P95Ratio() float64 {
	var ratios []float64
	for _, p := range g.Pairs {
		if p.Fixed.P95 <= 0 {
			return math.NaN()
		}
		ratios = append(ratios, float64(p.Naive.P95)/float64(p.Fixed.P95))
	}
	return medianRatio(ratios)
}

// median is the median of xs, the mean of the middle two for an even
// number; 0 for none.
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	xs = slices.Clone(xs)
	slices.Sort(xs)
	n := len(xs)
	if n%2 == 1 {
		return xs[n/2]
	}
	return (xs[n/2-1] + xs[n/2]) / 2
}

// medianMetrics are the median RPS and p95 of ms, for the table.
func medianMetrics(ms []Metrics) Metrics {
	rps, p95 := make([]float64, len(ms)), make([]float64, len(ms))
	for i, m := range ms {
		rps[i], p95[i] = m.RPS, float64(m.P95)
	}
	return Metrics{RPS: median(rps), P95: time.Duration(median(p95))}
}

// Calibration is what Calibrate measured.
type Calibration struct {
	// Baseline is the first measurement of the starting state; its
	// findings (All, ranked) are the prediction.
	Baseline Metrics
	All      []rules.Finding
	// Fixes holds the fixes measured, one per knob, in knob order
	// (sampleapp.Knobs), not in the predicted order: the machine's drift
	// over the run must not line up with the prediction. Detected tells
	// those a finding pointed at from the others.
	Fixes []FixGain
	// Undetected lists the knobs away from their tuned value that no
	// finding of the baseline maps to: seeded problems the prediction
	// missed (measured only with CalibrationConfig.Undetected).
	Undetected []Action
}

// Detected returns the fixes some finding of the baseline pointed at.
func (c *Calibration) Detected() []FixGain {
	var out []FixGain
	for _, g := range c.Fixes {
		if g.Detected() {
			out = append(out, g)
		}
	}
	return out
}

// impactsAndLogGains returns the predicted impact and the measured log gain
// of each of fixes.
func impactsAndLogGains(fixes []FixGain) (impacts, logGains []float64) {
	impacts, logGains = make([]float64, len(fixes)), make([]float64, len(fixes))
	for i, g := range fixes {
		impacts[i], logGains[i] = g.Finding.Impact, g.LogGain()
	}
	return impacts, logGains
}

// Spearman is the rank correlation between the predicted impacts and the
// measured log gains of the fixes a finding pointed at.
func (c *Calibration) Spearman() (float64, error) {
	return SpearmanRho(impactsAndLogGains(c.Detected()))
}

// SpearmanAll is the rank correlation over every fix measured, a knob no
// finding pointed at counting as impact 0.
func (c *Calibration) SpearmanAll() (float64, error) {
	return SpearmanRho(impactsAndLogGains(c.Fixes))
}

// Noise of the measurements: how much two measurements of the starting
// state, one just after the other, differ. A fix that changes nothing gains
// that much or loses it in its pairs, and in the naive sample service six of
// the nine fixes a finding points at gain nothing while every request opens
// a connection: their gains over ten runs (2026-12-04 to 12-06) spread
// around x1.0 (GOMAXPROCS x0.92 to x1.15, the index x0.91 to x1.18), and
// their order, drawn anew in every run, weighs on the rank correlation as
// much as the prediction does. With the three largest gains ranked right
// and six that are none in a random order, the rank correlation over nine
// averages 0.71 and reaches 0.8 in 28% of runs.

// noiseZ is how many standard errors of the run's noise a fix's median
// gain must stand from none to count as measured (two: about 95% of the
// fixes that change nothing stay within it).
const noiseZ = 2

// Naives are the measurements of the starting state in the order taken:
// the baseline, then each pair's.
func (c *Calibration) Naives() []Metrics {
	out := []Metrics{c.Baseline}
	for _, g := range c.Fixes {
		for _, p := range g.Pairs {
			out = append(out, p.Naive)
		}
	}
	return out
}

// NoiseSigma is the standard deviation of the log ratio of two measurements
// of the starting state taken one after the other (at most two
// measurements apart): 1.4826 x the median |log| of the consecutive naive
// measurements' ratios, the normal's sigma from its median absolute
// deviation about 0, which one glitch does not move. It also measures what
// one pair's log gain varies by when the fix changes nothing. NaN with
// fewer than three naive measurements or a naive RPS of 0.
func (c *Calibration) NoiseSigma() float64 {
	naives := c.Naives()
	if len(naives) < 3 {
		return math.NaN()
	}
	var logs []float64
	for i := 1; i < len(naives); i++ {
		a, b := naives[i-1].RPS, naives[i].RPS
		if a <= 0 || b <= 0 {
			return math.NaN()
		}
		logs = append(logs, math.Abs(math.Log(b/a)))
	}
	return 1.4826 * median(logs)
}

// NoiseBand is the log gain within which a fix measured in pairs pairs is
// not told from none: noiseZ standard errors of the median of that many
// pair gains (sigma for one pair, about 1.25 sigma / sqrt(pairs) for
// more, the median's large-sample error); NaN when the noise is unknown.
func (c *Calibration) NoiseBand(pairs int) float64 {
	se := c.NoiseSigma()
	if pairs > 1 {
		se *= min(1, math.Sqrt(math.Pi/2/float64(pairs)))
	}
	return noiseZ * se
}

// Resolved says whether g's gain stands out of the run's noise (NoiseBand);
// with the noise unknown, every gain but none does.
func (c *Calibration) Resolved(g FixGain) bool {
	band := c.NoiseBand(len(g.Pairs))
	if math.IsNaN(band) {
		band = 0
	}
	return math.Abs(g.LogGain()) > band
}

// SpearmanResolved is Spearman over the fixes a finding pointed at, with
// the gains within the run's noise (Resolved) taken as none, tied: their
// order is the noise's, not the fixes'.
func (c *Calibration) SpearmanResolved() (float64, error) {
	fixes := c.Detected()
	impacts, logGains := impactsAndLogGains(fixes)
	for i, g := range fixes {
		if !c.Resolved(g) {
			logGains[i] = 0
		}
	}
	return SpearmanRho(impacts, logGains)
}

// PairAgreement is how well the measurement ranks the fixes a finding
// pointed at by itself: for every two pair numbers i < j, the rank
// correlation of the fixes' gains in their pair i with those in their pair
// j, and the mean of those. It tells a prediction that misses a gain the
// measurement repeats (the pairs agree, the prediction does not) from a
// prediction that meets noise (the pairs disagree among themselves too).
// It fails with fewer than two pairs per fix, or fixes measured in
// different numbers of pairs.
func (c *Calibration) PairAgreement() (rhos []float64, mean float64, err error) {
	fixes := c.Detected()
	if len(fixes) == 0 {
		return nil, math.NaN(), errors.New("pair agreement: no fix a finding pointed at")
	}
	n := len(fixes[0].Pairs)
	for _, g := range fixes {
		if len(g.Pairs) != n {
			return nil, math.NaN(), fmt.Errorf("pair agreement: fixes measured in %d and %d pairs", n, len(g.Pairs))
		}
	}
	if n < 2 {
		return nil, math.NaN(), fmt.Errorf("pair agreement: %d pair(s) per fix, need at least 2", n)
	}
	gainsOf := func(k int) []float64 {
		out := make([]float64, len(fixes))
		for i, g := range fixes {
			out[i] = math.Log(g.Pairs[k].Gain())
		}
		return out
	}
	var sum float64
	for i := 0; i < n; i++ {
		for j := i + 1; j < n; j++ {
			rho, err := SpearmanRho(gainsOf(i), gainsOf(j))
			if err != nil {
				return nil, math.NaN(), fmt.Errorf("pair agreement of pairs %d and %d: %w", i+1, j+1, err)
			}
			rhos = append(rhos, rho)
			sum += rho
		}
	}
	return rhos, sum / float64(len(rhos)), nil
}

// Calibrate measures the service in the state it is in (the baseline, whose
// findings predict), then, for each knob that a finding of the baseline
// maps to (and, with cfg.Undetected, each other knob away from its tuned
// value), applies that fix alone, measures it next to a measurement of the
// starting state (alternating which goes first, so that drift hits both
// alike) and sets the knob back. It returns what it measured so far with
// any error; the knobs are back in their starting state unless setting one
// back failed.
func Calibrate(ctx context.Context, cfg CalibrationConfig) (*Calibration, error) {
	if cfg.Measurer == nil || cfg.Knobs == nil {
		return nil, errors.New("calibrate: a measurer and knobs are required")
	}
	logf := cfg.Log
	if logf == nil {
		logf = func(string, ...any) {}
	}
	start, err := cfg.Knobs.Settings(ctx)
	if err != nil {
		return nil, fmt.Errorf("read knobs: %w", err)
	}
	measure := func(what string) (Metrics, *Measurement, error) {
		if cfg.Settle != nil {
			if err := cfg.Settle(ctx); err != nil {
				return Metrics{}, nil, fmt.Errorf("settle before measuring %s: %w", what, err)
			}
		}
		m, err := cfg.Measurer.Measure(ctx)
		if err != nil {
			return Metrics{}, nil, fmt.Errorf("measure %s: %w", what, err)
		}
		logf("%-34s %9.1f RPS  p95 %8s  %d findings", what, m.Metrics.RPS, fmtDur(m.Metrics.P95), len(m.Findings))
		return m.Metrics, m, nil
	}

	base, bm, err := measure("baseline")
	if err != nil {
		return nil, err
	}
	c := &Calibration{Baseline: base, All: Rank(bm.Findings, rules.Info)}
	c.Fixes, c.Undetected = predictedFixes(c.All, start, cfg.Undetected)
	// The prediction and what it rests on, for a run whose ranking needs
	// explaining.
	logFindings(logf, "  predicted", c.All)

	pairs := max(1, cfg.Pairs)
	for i := range c.Fixes {
		g := &c.Fixes[i]
		label := g.Action.String()
		for n := range pairs {
			what := label
			if pairs > 1 {
				what = fmt.Sprintf("%s (pair %d of %d)", label, n+1, pairs)
			}
			// The order alternates from fix to fix and from pair to pair:
			// naive, fix | fix, naive | naive, fix ...
			p := Pair{NaiveFirst: (i+n)%2 == 0}
			if p.NaiveFirst {
				if p.Naive, _, err = measure("naive next to " + what); err != nil {
					return c, err
				}
			}
			if err := cfg.Knobs.SetKnob(ctx, g.Action.Knob, g.Action.Value); err != nil {
				return c, fmt.Errorf("apply %s: %w", g.Action, err)
			}
			p.Fixed, _, err = measure(what)
			// Back to the starting state whatever the measurement gave.
			if rerr := cfg.Knobs.SetKnob(context.WithoutCancel(ctx), g.Action.Knob, g.From); rerr != nil {
				return c, errors.Join(err, fmt.Errorf("set %s back to %s: %w", g.Action.Knob, g.From, rerr))
			}
			if err != nil {
				return c, err
			}
			if !p.NaiveFirst {
				if p.Naive, _, err = measure("naive next to " + what); err != nil {
					return c, err
				}
			}
			g.Pairs = append(g.Pairs, p)
		}
		if pairs > 1 {
			logf("%-34s x%.2f RPS against the adjacent naive measurement (the median of %s)", label, g.Gain(), fmtPairGains(*g))
		} else {
			logf("%-34s x%.2f RPS against the adjacent naive measurement", label, g.Gain())
		}
	}
	return c, nil
}

// fmtPairGains lists a fix's pair gains, in the order measured.
func fmtPairGains(g FixGain) string {
	var out []string
	for _, p := range g.Pairs {
		out = append(out, fmt.Sprintf("x%.2f", p.Gain()))
	}
	return strings.Join(out, " ")
}

// predictedFixes picks, from the ranked findings of the starting state, one
// fix per knob: that of the finding with the largest impact among those
// whose rule maps to the knob (several rules map to the pool knob) and
// whose fix is not in place already. The fixes come in knob order. It also
// returns the knobs away from their tuned value that no finding maps to;
// with all, their fixes are in fixes too, without a finding.
func predictedFixes(ranked []rules.Finding, start sampleapp.Settings, all bool) (fixes []FixGain, undetected []Action) {
	byKnob := map[string]FixGain{}
	for _, f := range ranked {
		a, _, ok := ActionFor(f)
		if !ok || start[a.Knob] == a.Value {
			continue
		}
		if _, seen := byKnob[a.Knob]; !seen {
			byKnob[a.Knob] = FixGain{Finding: f, Action: a, From: start[a.Knob]}
		}
	}
	for _, k := range sampleapp.Knobs {
		if g, ok := byKnob[k.Name]; ok {
			fixes = append(fixes, g)
		} else if v, ok := start[k.Name]; ok && v != k.Tuned {
			a := Action{Knob: k.Name, Value: k.Tuned}
			undetected = append(undetected, a)
			if all {
				fixes = append(fixes, FixGain{Action: a, From: v})
			}
		}
	}
	return fixes, undetected
}

// logFindings logs each finding, after prefix, with its impact and the
// basis of its saving.
func logFindings(logf func(string, ...any), prefix string, fs []rules.Finding) {
	for _, f := range fs {
		basis := "no estimate"
		if f.Saves != nil {
			basis = f.Saves.Basis
		}
		logf("%s %5.1f%% %s %s: %s", prefix, 100*f.Impact, f.Rule, f.Subject, basis)
	}
}

// runLogGain returns a run's first and last kept steps and its log-RPS
// gain, or an error saying, for what, why there is no gain to share.
func runLogGain(res *Result, what string) (first, last *Step, total float64, err error) {
	first, last = res.First(), res.Last()
	if first == nil || last == nil || first.Metrics.RPS <= 0 {
		return nil, nil, 0, fmt.Errorf("%s: the run has no measured first step", what)
	}
	total = math.Log(last.Metrics.RPS / first.Metrics.RPS)
	if !(total > 0) {
		return nil, nil, 0, fmt.Errorf("%s: the run gained nothing (RPS %.1f -> %.1f)", what, first.Metrics.RPS, last.Metrics.RPS)
	}
	return first, last, total, nil
}

// FirstKeptShare is the share of a tuning run's log-RPS gain reached once
// its first n fixes were kept: log(RPS after the nth kept fix / RPS of the
// first step) / log(RPS of the last kept step / RPS of the first step). A
// run that kept fewer than n fixes reached all of its gain: 1. It fails
// when the run has no baseline or gained nothing (no gain to share).
func FirstKeptShare(res *Result, n int) (float64, error) {
	first, last, total, err := runLogGain(res, "first-kept share")
	if err != nil {
		return math.NaN(), err
	}
	after, kept := last, 0
	for i := range res.Steps {
		s := &res.Steps[i]
		if s.Fix != nil && s.Outcome == Kept {
			if kept++; kept == n {
				after = s
				break
			}
		}
	}
	return math.Log(after.Metrics.RPS/first.Metrics.RPS) / total, nil
}

// BestKeptShare is the share of a tuning run's log-RPS gain its n largest
// kept steps reach together, each step's gain being its RPS over the kept
// step before it: what FirstKeptShare would have been had the run taken
// those n first with the gains it measured. Gains depend on the order (a
// lock costs nothing while every request opens a connection), so it is a
// yardstick for the target, not a bound. It fails as FirstKeptShare does.
func BestKeptShare(res *Result, n int) (float64, error) {
	first, _, total, err := runLogGain(res, "best-kept share")
	if err != nil {
		return math.NaN(), err
	}
	var gains []float64
	prev := first.Metrics.RPS
	for i := range res.Steps {
		s := &res.Steps[i]
		if s.Fix == nil || s.Outcome != Kept || s.Metrics.RPS <= 0 {
			continue
		}
		gains = append(gains, math.Log(s.Metrics.RPS/prev))
		prev = s.Metrics.RPS
	}
	slices.SortFunc(gains, func(a, b float64) int { return cmp.Compare(b, a) })
	sum := 0.0
	for _, g := range gains[:min(n, len(gains))] {
		sum += g
	}
	return sum / total, nil
}

// Targets of the calibration (issue 14): the rank correlation of predicted
// impact and measured log gain, and the share of a run's log-RPS gain that
// its first FirstFixes kept fixes reach.
const (
	SpearmanTarget   = 0.8
	FirstFixes       = 4
	FirstFixesTarget = 0.85
)

// WriteCalibration prints the calibration table: per fix, the predicted
// impact and its rank, the adjacent measurements, the measured gain, its
// logarithm and its rank; then the rank correlation against its target,
// and the knobs and findings left out.
func WriteCalibration(w io.Writer, c *Calibration) error {
	// The ranks are those the rank correlation compares: among the fixes a
	// finding pointed at.
	impacts, logGains := impactsAndLogGains(c.Detected())
	pr, mr := descendingRanks(impacts), descendingRanks(logGains)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	paired := slices.ContainsFunc(c.Fixes, func(g FixGain) bool { return len(g.Pairs) > 1 })
	last := "first"
	if paired {
		last = "pair gains"
	}
	fmt.Fprintln(tw, strings.Join([]string{"rule", "fix", "impact", "rank", "naive RPS", "fix RPS", "gain", "log gain", "rank",
		"beyond noise", "naive p95", "fix p95", last}, "\t"))
	i := 0
	for _, g := range c.Fixes {
		first := "fix"
		if len(g.Pairs) > 0 && g.Pairs[0].NaiveFirst {
			first = "naive"
		}
		if paired {
			first = fmtPairGains(g)
		}
		var naives, fixeds []Metrics
		for _, p := range g.Pairs {
			naives, fixeds = append(naives, p.Naive), append(fixeds, p.Fixed)
		}
		naive, fixed := medianMetrics(naives), medianMetrics(fixeds)
		rule, impact, prank, mrank := "(no finding)", "-", "-", "-"
		if g.Detected() {
			rule, impact, prank, mrank = g.Finding.Rule, fmt.Sprintf("%.0f%%", 100*g.Finding.Impact), fmtRank(pr[i]), fmtRank(mr[i])
			i++
		}
		beyond := "no"
		if c.Resolved(g) {
			beyond = "yes"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%.1f\t%.1f\tx%.2f\t%+.2f\t%s\t%s\t%s\t%s\t%s\n",
			rule, g.Action, impact, prank, naive.RPS, fixed.RPS, g.Gain(), g.LogGain(),
			mrank, beyond, fmtDur(naive.P95), fmtDur(fixed.P95), first)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	detected := len(c.Detected())
	fmt.Fprintf(w, "\nrank correlation (Spearman) of predicted impact and measured log gain, over the %d fixes a finding pointed at: %s (target >= %.2f)\n",
		detected, fmtRho(c.Spearman()), SpearmanTarget)
	if sigma := c.NoiseSigma(); !math.IsNaN(sigma) && len(c.Fixes) > 0 {
		band := c.NoiseBand(len(c.Fixes[0].Pairs))
		fmt.Fprintf(w, "noise: two measurements of the naive state one after the other differ by %.1f%% (sigma of the log ratio, over its %d measurements); "+
			"a median gain within x%.2f..x%.2f is not told from none\n", 100*sigma, len(c.Naives()), math.Exp(-band), math.Exp(band))
		fmt.Fprintf(w, "rank correlation with the gains within the noise tied as none: %s\n", fmtRho(c.SpearmanResolved()))
	}
	if rhos, mean, err := c.PairAgreement(); err == nil {
		parts := make([]string, len(rhos))
		for i, r := range rhos {
			parts[i] = fmt.Sprintf("%.2f", r)
		}
		fmt.Fprintf(w, "the measurement against itself: the rank correlation of one pair's gains with another's, over the same %d fixes: %s (mean %.2f)\n",
			detected, strings.Join(parts, ", "), mean)
	}
	if len(c.Undetected) > 0 {
		names := make([]string, len(c.Undetected))
		for i, a := range c.Undetected {
			names[i] = a.String()
		}
		if detected < len(c.Fixes) {
			fmt.Fprintf(w, "over all %d fixes, those no finding pointed at as impact 0 (%s): %s\n", len(c.Fixes), strings.Join(names, ", "), fmtRho(c.SpearmanAll()))
		} else {
			fmt.Fprintf(w, "knobs away from their fix that no finding pointed at (not measured): %s\n", strings.Join(names, ", "))
		}
	}
	_, err := fmt.Fprintf(w, "baseline: %.1f RPS, p95 %s, %d findings\n", c.Baseline.RPS, fmtDur(c.Baseline.P95), len(c.All))
	return err
}

// fmtRho prints a rank correlation, or why it is undefined.
func fmtRho(rho float64, err error) string {
	if err != nil {
		return fmt.Sprintf("undefined (%v)", err)
	}
	return fmt.Sprintf("%.2f", rho)
}

// fmtRank prints a rank, with its half when tied.
func fmtRank(r float64) string {
	if r == math.Trunc(r) {
		return fmt.Sprintf("%.0f", r)
	}
	return fmt.Sprintf("%.1f", r)
}
