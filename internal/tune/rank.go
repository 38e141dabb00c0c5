package tune

import (
	"errors"
	"fmt"
	"math"
	"slices"
)

// Rank statistics of the calibration: how well one ranking of the fixes
// agrees with another.

// SpearmanRho is Spearman's rank correlation of x and y: the Pearson
// correlation of their ranks, tied values taking the mean of the ranks
// they span. It fails when the series differ in length, hold fewer than two
// values, hold a NaN, or one of them is constant (no ranking to compare).
func SpearmanRho(x, y []float64) (float64, error) {
	if len(x) != len(y) {
		return math.NaN(), fmt.Errorf("spearman: %d values against %d", len(x), len(y))
	}
	if len(x) < 2 {
		return math.NaN(), fmt.Errorf("spearman: %d pair(s), need at least 2", len(x))
	}
	if slices.ContainsFunc(x, math.IsNaN) || slices.ContainsFunc(y, math.IsNaN) {
		return math.NaN(), errors.New("spearman: a value is NaN")
	}
	rx, ry := averageRanks(x), averageRanks(y)
	n := float64(len(x))
	mean := (n + 1) / 2 // the mean rank, ties or not
	var sxy, sxx, syy float64
	for i := range rx {
		dx, dy := rx[i]-mean, ry[i]-mean
		sxy += dx * dy
		sxx += dx * dx
		syy += dy * dy
	}
	if sxx == 0 || syy == 0 {
		return math.NaN(), errors.New("spearman: every value of a series is the same")
	}
	return sxy / math.Sqrt(sxx*syy), nil
}

// averageRanks returns the rank of each value of xs, 1 for the smallest;
// equal values share the mean of the ranks they span.
func averageRanks(xs []float64) []float64 {
	idx := make([]int, len(xs))
	for i := range idx {
		idx[i] = i
	}
	slices.SortStableFunc(idx, func(a, b int) int {
		switch {
		case xs[a] < xs[b]:
			return -1
		case xs[a] > xs[b]:
			return 1
		}
		return 0
	})
	ranks := make([]float64, len(xs))
	for i := 0; i < len(idx); {
		j := i
		for j+1 < len(idx) && xs[idx[j+1]] == xs[idx[i]] {
			j++
		}
		r := float64(i+j)/2 + 1 // positions i..j hold ranks i+1..j+1
		for k := i; k <= j; k++ {
			ranks[idx[k]] = r
		}
		i = j + 1
	}
	return ranks
}

// descendingRanks returns the rank of each value of xs, 1 for the largest,
// ties sharing the mean rank: the order a ranking by impact shows.
func descendingRanks(xs []float64) []float64 {
	neg := make([]float64, len(xs))
	for i, v := range xs {
		neg[i] = -v
	}
	return averageRanks(neg)
}
