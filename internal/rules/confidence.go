package rules

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Level is a confidence in words: low, medium or high.
type Level string

// The levels of confidence, lowest first.
const (
	Low    Level = "low"
	Medium Level = "medium"
	High   Level = "high"
)

// Levels are the confidence levels, lowest first.
var Levels = []Level{Low, Medium, High}

// The scores at which a confidence becomes medium and high.
const (
	MediumScore = 0.5
	HighScore   = 0.8
)

// LevelOf is the level of a score in [0, 1].
func LevelOf(score float64) Level {
	switch {
	case score >= HighScore:
		return High
	case score >= MediumScore:
		return Medium
	}
	return Low
}

// Score is the lowest score of a level.
func (l Level) Score() float64 {
	switch l {
	case High:
		return HighScore
	case Medium:
		return MediumScore
	}
	return 0
}

// Confidence says how sure a finding is, from the amount of evidence it
// rests on: the calls of a statement, the goroutine or profile samples of a
// handler, the seconds of the window; a finding a measurement verified
// (an index hypopg priced) is sure.
type Confidence struct {
	// Score is in [0, 1]; Level is its word (LevelOf).
	Score float64 `json:"score"`
	Level Level   `json:"level"`
	// Basis says what the confidence rests on: "84 calls", "12 of 20
	// samples", "verified with hypopg".
	Basis string `json:"basis"`
}

// String is "high (0.92: 84 calls)".
func (c Confidence) String() string {
	if c.Basis == "" {
		return fmt.Sprintf("%s (%.2f)", c.Level, c.Score)
	}
	return fmt.Sprintf("%s (%.2f: %s)", c.Level, c.Score, c.Basis)
}

// ConfidenceOf is the confidence of a score, clamped to [0, 1] and rounded
// to two digits, with its basis.
func ConfidenceOf(score float64, basis string) *Confidence {
	switch {
	case math.IsNaN(score) || score < 0:
		score = 0
	case score > 1:
		score = 1
	}
	score = math.Round(score*100) / 100
	return &Confidence{Score: score, Level: LevelOf(score), Basis: basis}
}

// countScore is the confidence of a mean or a share over n events when sure
// events make it sure: the relative standard error of a mean over n events
// falls as 1/sqrt(n), so the score is the precision reached over the
// precision at sure events, sqrt(n/sure), at most 1. A quarter of sure
// events is medium (0.5); two thirds of them high (0.8).
func countScore(n, sure float64) float64 {
	if sure <= 0 {
		return 1
	}
	if n <= 0 {
		return 0
	}
	return min(1, math.Sqrt(n/sure))
}

// countConfidence is the confidence of a finding resting on n events of a
// kind ("calls", "samples").
func countConfidence(n, sure float64, unit string) *Confidence {
	return ConfidenceOf(countScore(n, sure), strconv.FormatFloat(math.Round(n), 'f', -1, 64)+" "+unit)
}

// The amounts of evidence at which a finding is sure, where its detector
// does not say: the calls of a statement (the former count floor of the
// statement rules, where a mean's relative error is a tenth of the
// spread), the goroutine or profile samples of a handler, and the seconds
// of a window of rates and gauges.
const (
	sureCalls   = 100
	sureSamples = 20
	sureSeconds = 10
)

// wilsonZ is the normal quantile of the Wilson bounds and of meanLower:
// 95% two-sided.
const wilsonZ = 1.96

// wilsonLower is the lower bound of the Wilson score interval of a share of
// k out of n samples: the share the samples support with 95% confidence.
// A few samples all in one class support a large share (5 of 5: 0.57), so
// a rule can fire on the first dumps when the evidence is one-sided, and
// needs more samples the nearer the share is to its bar.
func wilsonLower(k, n float64) float64 {
	if n <= 0 || k <= 0 {
		return 0
	}
	k = min(k, n)
	p := k / n
	z2 := wilsonZ * wilsonZ
	centre := p + z2/(2*n)
	spread := wilsonZ * math.Sqrt(p*(1-p)/n+z2/(4*n*n))
	return max(0, (centre-spread)/(1+z2/n))
}

// meanLower is the lower bound of the 95% interval of a mean of n calls
// whose times spread by sd: the mean the calls support. A mean just over a
// bar with a wide spread (26 calls of 20.9 ms on a saturated host, a few
// of them queued behind others) does not clear it.
func meanLower(mean, sd float64, n int64) float64 {
	if n <= 0 {
		return 0
	}
	return mean - wilsonZ*sd/math.Sqrt(float64(n))
}

// shareSupported reports whether k of n samples support a share of at
// least bar: the lower bound of the share's 95% Wilson interval reaches
// bar, and the samples counted number at least least (the app rules'
// min_samples). The floor is the evidence a share's bound does not weigh:
// goroutine samples are instants, and one request caught in one or two
// dumps bounds its share above a low bar (1 of 1 supports 21%) while the
// next readings, which may not catch another, drop it. Three samples are
// the fewest whose count's Poisson 95% lower bound (0.62) makes a window of
// the same length more likely than not to see the work again.
func shareSupported(k, n, bar, least float64) bool {
	return k > 0 && k >= least && wilsonLower(k, n) >= bar
}

// defaultConfidence is a finding's confidence when its detector gave none,
// from its evidence: verified (hypopg), then calls, then samples, else the
// window's length (cumulative statistics are sure).
func defaultConfidence(in *Input, f *Finding) *Confidence {
	switch v := f.Evidence["verified"].(type) {
	case bool:
		if v {
			return ConfidenceOf(1, "verified with hypopg")
		}
		// db.missing-index's measured_reads basis: hypopg priced the
		// index, its cut was small, the statement's reads contradict the
		// estimate; those reads are counted per call below.
		if f.Evidence["basis"] != "measured_reads" {
			return ConfidenceOf(0.3, "not verified (no hypopg)")
		}
	}
	if n, ok := evidenceNumber(f.Evidence["calls"]); ok {
		return countConfidence(n, sureCalls, "calls")
	}
	if n, ok := evidenceNumber(f.Evidence["samples"]); ok {
		return countConfidence(n, sureSamples, "samples")
	}
	if in == nil || in.Window == nil {
		return ConfidenceOf(1, "")
	}
	if in.Window.Cumulative {
		return ConfidenceOf(1, "cumulative statistics")
	}
	s := in.Window.Seconds
	return ConfidenceOf(countScore(s, sureSeconds), strconv.FormatFloat(math.Round(s*10)/10, 'f', -1, 64)+" s of window")
}

// evidenceNumber reads a count from evidence: an integer or a float.
func evidenceNumber(v any) (float64, bool) {
	switch n := v.(type) {
	case int:
		return float64(n), true
	case int64:
		return float64(n), true
	case float64:
		return n, true
	}
	return 0, false
}

// evidenceAmount reads a non-negative finite number from evidence under
// key: 0 when absent, negative or not finite.
func evidenceAmount(ev map[string]any, key string) float64 {
	v, ok := evidenceFinite(ev, key)
	if !ok || v < 0 {
		return 0
	}
	return v
}

// evidenceFinite reads a finite number from evidence under key.
func evidenceFinite(ev map[string]any, key string) (float64, bool) {
	v, ok := evidenceNumber(ev[key])
	return v, ok && !math.IsNaN(v) && !math.IsInf(v, 0)
}

// ParseConfidence reads a minimum confidence: a level (low, medium, high)
// or a score in [0, 1].
func ParseConfidence(s string) (float64, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	for _, l := range Levels {
		if t == string(l) {
			return l.Score(), nil
		}
	}
	v, err := strconv.ParseFloat(t, 64)
	if err != nil || math.IsNaN(v) || v < 0 || v > 1 {
		return 0, fmt.Errorf("confidence %q: want low, medium, high or a number from 0 to 1", s)
	}
	return v, nil
}

// Confident keeps the findings whose confidence is at least least; a
// finding without a confidence is kept.
func Confident(fs []Finding, least float64) []Finding {
	if least <= 0 {
		return fs
	}
	var out []Finding
	for _, f := range fs {
		if f.Confidence == nil || f.Confidence.Score >= least {
			out = append(out, f)
		}
	}
	return out
}
