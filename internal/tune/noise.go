package tune

import "fmt"

// Noise says how far a step's figures must move against the last kept step
// before a fix counts as having made things worse. Measurements on a shared
// machine move by several percent from one step to the next with nothing
// changed; p95 moves more than RPS.
type Noise struct {
	// RPS: a fix is reverted when RPS fell by more than this fraction while
	// p95 did not fall by more than the P95 fraction (less throughput for a
	// shorter tail is a trade, kept and shown).
	RPS float64
	// P95: ... or when p95 rose by more than this fraction while RPS did not
	// rise by more than the RPS fraction (more throughput for a longer tail
	// is a trade too).
	P95 float64
	// ErrorRate: ... or when the share of failed requests rose by more than
	// this (absolute, 0.01 = one point).
	ErrorRate float64
}

// DefaultNoise is the noise band of advisor tune: 10% RPS, 25% p95, one
// point of error rate.
var DefaultNoise = Noise{RPS: 0.10, P95: 0.25, ErrorRate: 0.01}

// Worse reports whether after is worse than before beyond the noise, and
// why.
func (n Noise) Worse(before, after Metrics) (bool, string) {
	rpsDown := before.RPS > 0 && after.RPS < before.RPS*(1-n.RPS)
	rpsUp := after.RPS > before.RPS*(1+n.RPS)
	p95Up := before.P95 > 0 && float64(after.P95) > float64(before.P95)*(1+n.P95)
	p95Down := before.P95 > 0 && float64(after.P95) < float64(before.P95)*(1-n.P95)
	switch {
	case after.ErrorRate()-before.ErrorRate() > n.ErrorRate:
		return true, fmt.Sprintf("errors rose from %.1f%% to %.1f%% of requests", 100*before.ErrorRate(), 100*after.ErrorRate())
	case rpsDown && !p95Down:
		return true, fmt.Sprintf("RPS fell %.0f%% (%.1f -> %.1f) with no gain in p95, beyond the %.0f%% noise band",
			100*(1-after.RPS/before.RPS), before.RPS, after.RPS, 100*n.RPS)
	case p95Up && !rpsUp:
		return true, fmt.Sprintf("p95 rose %.0f%% (%s -> %s) with no gain in RPS, beyond the %.0f%% noise band",
			100*(float64(after.P95)/float64(before.P95)-1), fmtDur(before.P95), fmtDur(after.P95), 100*n.P95)
	}
	return false, ""
}
