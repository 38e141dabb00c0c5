package rules

import (
	"context"
	"fmt"
	"math"
	"testing"

	"github.com/pgadvisor/advisor/internal/probe"
)

func TestWilsonLower(t *testing.T) {
	for _, c := range []struct{ k, n, want float64 }{
		{0, 10, 0},
		{5, 5, 0.566},
		{20, 20, 0.839},
		{10, 20, 0.299},
		{2, 20, 0.028},
		{3, 0, 0},
	} {
		if got := wilsonLower(c.k, c.n); math.Abs(got-c.want) > 0.001 {
			t.Errorf("wilsonLower(%g, %g) = %.4f, want %.3f", c.k, c.n, got, c.want)
		}
	}
}

func TestConfidenceLevels(t *testing.T) {
	for _, c := range []struct {
		n, sure float64
		want    Level
	}{
		{0, 100, Low}, {20, 100, Low}, {25, 100, Medium}, {64, 100, High}, {84, 100, High}, {1000, 100, High},
	} {
		if got := countConfidence(c.n, c.sure, "calls"); got.Level != c.want {
			t.Errorf("%g of %g: %v, want %s", c.n, c.sure, got, c.want)
		}
	}
}

// TestRunSetsConfidence: every finding leaves Run with a confidence, the
// detector's or one from its evidence.
func TestRunSetsConfidence(t *testing.T) {
	set := testRules(t)
	own := ConfidenceOf(0.9, "own")
	reg := Registry{
		"db.slow-query": testDetector(func(_ context.Context, in *Input, r *Rule) ([]Finding, error) {
			return []Finding{
				{Subject: "few", Evidence: map[string]any{"query": "q", "mean_ms": 1.0, "calls": int64(9)}},
				{Subject: "many", Evidence: map[string]any{"query": "q", "mean_ms": 1.0, "calls": int64(400)}},
				{Subject: "samples", Evidence: map[string]any{"query": "q", "mean_ms": 1.0, "samples": 5.0}},
				{Subject: "verified", Evidence: map[string]any{"query": "q", "mean_ms": 1.0, "calls": int64(5), "verified": true}},
				{Subject: "unverified", Evidence: map[string]any{"query": "q", "mean_ms": 1.0, "calls": int64(500), "verified": false}},
				{Subject: "measured", Evidence: map[string]any{"query": "q", "mean_ms": 1.0, "calls": int64(25), "verified": false, "basis": "measured_reads"}},
				{Subject: "window", Evidence: map[string]any{"query": "q", "mean_ms": 1.0}},
				{Subject: "own", Evidence: map[string]any{"query": "q", "mean_ms": 1.0}, Confidence: own},
			}, nil
		}),
	}
	fs, errs := Run(context.Background(), &Input{Window: &probe.Window{Seconds: 2.5}, Patterns: set.Patterns}, set.Rules, reg)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	want := map[string]Confidence{
		"few":        {Score: 0.3, Level: Low, Basis: "9 calls"},
		"many":       {Score: 1, Level: High, Basis: "400 calls"},
		"samples":    {Score: 0.5, Level: Medium, Basis: "5 samples"},
		"verified":   {Score: 1, Level: High, Basis: "verified with hypopg"},
		"unverified": {Score: 0.3, Level: Low, Basis: "not verified (no hypopg)"},
		"measured":   {Score: 0.5, Level: Medium, Basis: "25 calls"},
		"window":     {Score: 0.5, Level: Medium, Basis: "2.5 s of window"},
		"own":        *own,
	}
	for _, f := range fs {
		if f.Confidence == nil {
			t.Errorf("%s: no confidence", f.Subject)
			continue
		}
		if *f.Confidence != want[f.Subject] {
			t.Errorf("%s: confidence %+v, want %+v", f.Subject, *f.Confidence, want[f.Subject])
		}
	}
}

func TestParseConfidence(t *testing.T) {
	for in, want := range map[string]float64{"low": 0, "Medium": MediumScore, "high": HighScore, "0.7": 0.7, "1": 1} {
		got, err := ParseConfidence(in)
		if err != nil || got != want {
			t.Errorf("ParseConfidence(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "sure", "1.5", "-0.1", "NaN"} {
		if _, err := ParseConfidence(in); err == nil {
			t.Errorf("ParseConfidence(%q): no error", in)
		}
	}
}

func TestConfident(t *testing.T) {
	fs := []Finding{
		{Subject: "low", Confidence: ConfidenceOf(0.3, "")},
		{Subject: "medium", Confidence: ConfidenceOf(0.6, "")},
		{Subject: "high", Confidence: ConfidenceOf(0.95, "")},
		{Subject: "none"},
	}
	var got []string
	for _, f := range Confident(fs, MediumScore) {
		got = append(got, f.Subject)
	}
	if want := "[medium high none]"; fmt.Sprint(got) != want {
		t.Errorf("Confident(medium) kept %v, want %s", got, want)
	}
	if len(Confident(fs, 0)) != 4 {
		t.Error("Confident(0) drops findings")
	}
}
