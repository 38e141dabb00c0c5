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
