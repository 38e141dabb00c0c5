package rules

import "testing"

func BenchmarkLoadBuiltin(b *testing.B) {
	for b.Loop() {
		if _, err := Load(builtinSource()); err != nil {
			b.Fatal(err)
		}
	}
}
