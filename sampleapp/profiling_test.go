package sampleapp

import "testing"

func TestProfilingRate(t *testing.T) {
	for _, tc := range []struct{ v, def, want int }{
		{0, BlockProfileRateNanos, BlockProfileRateNanos},
		{0, MutexProfileFraction, MutexProfileFraction},
		{-1, MutexProfileFraction, 0},
		{1, BlockProfileRateNanos, 1},
		{100, MutexProfileFraction, 100},
	} {
		if got := profilingRate(tc.v, tc.def); got != tc.want {
			t.Errorf("profilingRate(%d, %d) = %d, want %d", tc.v, tc.def, got, tc.want)
		}
	}
}
