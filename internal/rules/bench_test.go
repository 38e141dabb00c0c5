package rules

import (
	"context"
	"testing"
)

func BenchmarkLoadBuiltin(b *testing.B) {
	for b.Loop() {
		if _, err := Load(builtinSource()); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAnalyseAppWindow is one analysis of what attach holds in its
// window under load: the inline capture's goroutine dumps repeated to 60
// (30 s of dumps every 500 ms) with its profiles and metrics, every
// built-in rule and the time split, as attach runs them every interval
// (the rule set, its wait-pattern catalogue included, is loaded once).
func BenchmarkAnalyseAppWindow(b *testing.B) {
	in := appFixture(b, "inline")
	dumps := in.Window.Goroutines
	for len(in.Window.Goroutines) < 60 {
		in.Window.Goroutines = append(in.Window.Goroutines, dumps...)
	}
	in.Window.Goroutines = in.Window.Goroutines[:60]
	set := loadBuiltin(b)
	reg := Builtin()
	for b.Loop() {
		fresh := &Input{Window: in.Window}
		Analyse(context.Background(), fresh, set, reg)
	}
}

// BenchmarkAnalyseSlidingWindow is attach's analysis in its steady state:
// each window holds 60 dumps (30 s, one every 500 ms), each dump read once
// (a value of its own), and the next window 4 dumps later (one interval),
// analysed with a SampleMemo kept from one analysis to the next as attach
// does (memo), and without (fresh: every goroutine classified at every
// analysis, as before the memo).
//
//	go test -run '^$' -bench AnalyseSlidingWindow -count 6 ./internal/rules/
func BenchmarkAnalyseSlidingWindow(b *testing.B) {
	in := appFixture(b, "inline")
	set, reg := loadBuiltin(b), Builtin()
	const span, step = 60, 4
	dumps := distinctDumps(in, 4*span)
	for _, withMemo := range []bool{true, false} {
		name := "fresh"
		if withMemo {
			name = "memo"
		}
		b.Run(name, func(b *testing.B) {
			memo := NewSampleMemo()
			start := 0
			for b.Loop() {
				if start+span > len(dumps) {
					start = 0
				}
				fresh := &Input{Window: windowOf(in, dumps[start:start+span])}
				if withMemo {
					fresh.Samples = memo
				}
				Analyse(context.Background(), fresh, set, reg)
				start += step
			}
		})
	}
}
