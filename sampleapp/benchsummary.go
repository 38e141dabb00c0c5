package sampleapp

import (
	"time"
)

// Spread is a figure over rounds: its median, minimum and maximum.
type Spread struct {
	Median float64 `json:"median"`
	Min    float64 `json:"min"`
	Max    float64 `json:"max"`
}

func (s spread) export() Spread { return Spread{Median: s.median, Min: s.min, Max: s.max} }

// BenchSide is one profile's figures over the rounds.
type BenchSide struct {
	RPS                   Spread `json:"rps"`
	P95ms                 Spread `json:"p95_ms"`
	P99ms                 Spread `json:"p99_ms"`
	QueriesPerRequest     Spread `json:"queries_per_request"`
	FeedQueriesPerRequest Spread `json:"queries_per_feed_request"`
	HopsPerRequest        Spread `json:"hops_per_request"`
	// Completed is the number of API requests each run completed.
	Completed Spread `json:"completed_requests"`
	// Capped is the number of runs the cap ended before their minimum
	// number of requests.
	Capped int `json:"capped_runs"`
}

// FeedSummary is the tuned feed endpoint against the bare handler.
type FeedSummary struct {
	Pairs int `json:"pairs"`
	// TurnsPerSide and TurnSeconds say how the two sides of each pair took
	// turns: that many turns each, of that many seconds.
	TurnsPerSide int     `json:"turns_per_side"`
	TurnSeconds  float64 `json:"turn_s"`
	FeedRPS      Spread  `json:"feed_rps"`
	BareRPS      Spread  `json:"bare_rps"`
	// Ratio is feed/bare over the pairs' ratios.
	Ratio Spread `json:"ratio"`
	// FeedQueries is the DB queries per feed request of the feed runs
	// (cache misses make them), PrimeSeconds the time each took to prime
	// the cache (FeedCache).
	FeedQueries  Spread `json:"queries_per_feed_request"`
	PrimeSeconds Spread `json:"prime_s"`
}

// BenchSummary is the machine-readable outcome of Bench (sampleapp bench
// --json): every figure the text summary prints, as a median with its
// minimum and maximum over the rounds.
type BenchSummary struct {
	Rounds int       `json:"rounds"`
	Naive  BenchSide `json:"naive"`
	Tuned  BenchSide `json:"tuned"`
	// The naive -> tuned ratios, each taken within a round's adjacent pair:
	// RPS tuned/naive (x), p95 and p99 naive/tuned (÷).
	RPSRatio Spread `json:"rps_ratio"`
	P95Ratio Spread `json:"p95_ratio"`
	P99Ratio Spread `json:"p99_ratio"`
	// FeedBare is nil when no pair ran.
	FeedBare *FeedSummary `json:"feed_bare,omitempty"`
}

// Summary gives the report's figures over its rounds.
func (rep *BenchReport) Summary() BenchSummary {
	rps := func(r BenchRun) float64 { return r.Result.RPS }
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	p95 := func(r BenchRun) float64 { return ms(r.Result.Latency.P95) }
	p99 := func(r BenchRun) float64 { return ms(r.Result.Latency.P99) }
	side := func(runs []BenchRun) BenchSide {
		s := BenchSide{
			RPS:                   spreadOf(of(runs, rps)).export(),
			P95ms:                 spreadOf(of(runs, p95)).export(),
			P99ms:                 spreadOf(of(runs, p99)).export(),
			QueriesPerRequest:     spreadOf(of(runs, func(r BenchRun) float64 { return r.QueriesPerRequest })).export(),
			FeedQueriesPerRequest: spreadOf(of(runs, func(r BenchRun) float64 { return r.FeedQueries })).export(),
			HopsPerRequest:        spreadOf(of(runs, func(r BenchRun) float64 { return r.HopsPerRequest })).export(),
			Completed:             spreadOf(of(runs, func(r BenchRun) float64 { return r.Completed })).export(),
		}
		for _, r := range runs {
			if r.Result.Capped {
				s.Capped++
			}
		}
		return s
	}
	sum := BenchSummary{
		Rounds:   min(len(rep.Naive), len(rep.Tuned)),
		Naive:    side(rep.Naive),
		Tuned:    side(rep.Tuned),
		RPSRatio: spreadOf(ratios(rep.Tuned, rep.Naive, rps)).export(),
		P95Ratio: spreadOf(ratios(rep.Naive, rep.Tuned, p95)).export(),
		P99Ratio: spreadOf(ratios(rep.Naive, rep.Tuned, p99)).export(),
	}
	if len(rep.Pairs) > 0 {
		s := feedSeriesOf(rep.Pairs)
		sum.FeedBare = &FeedSummary{Pairs: len(rep.Pairs), TurnsPerSide: len(rep.Pairs[0].FeedTurns),
			TurnSeconds: rep.Pairs[0].Turn.Seconds(), FeedRPS: spreadOf(s.feed).export(),
			BareRPS: spreadOf(s.bare).export(), Ratio: spreadOf(s.ratio).export(),
			FeedQueries: spreadOf(s.queries).export(), PrimeSeconds: spreadOf(s.prime).export()}
	}
	return sum
}
