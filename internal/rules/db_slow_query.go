package rules

import (
	"context"

	"github.com/pgadvisor/advisor/internal/sqltext"
)

// dbSlowQuery flags statements slow on average (pghero's mean time bar), or
// taking most of the database's time with calls that are not fast ones.
var dbSlowQuery = Def[dbSlowQueryParams]{ID: "db.slow-query", Check: checkDBSlowQuery}

type dbSlowQueryParams struct {
	MinMeanMS      float64 `param:"min_mean_ms"`
	MinCalls       int     `param:"min_calls"`
	MinTotalTimeMS float64 `param:"min_total_time_ms"`
	MinWeightShare float64 `param:"min_weight_share"`
	MinTotalShare  float64 `param:"min_total_share"`
}

func checkDBSlowQuery(ctx context.Context, in *Input, p dbSlowQueryParams) ([]Finding, error) {
	pg := dbPG(in)
	if pg == nil {
		return nil, nil
	}
	minMean, minCalls := p.MinMeanMS, int64(p.MinCalls)
	// A statement qualifies by its weight in the window, its total time or
	// its share of the database's time, not by a count of calls: a heavy
	// statement of a short CI run has few calls. The floor of calls keeps a
	// mean over too few calls out (at 25 its relative error is a fifth of
	// the spread of the calls' times).
	minTotal, minWeight := p.MinTotalTimeMS, p.MinWeightShare
	// A statement that takes most of the database's time is slow only if
	// its calls are not fast ones: then it is N+1 or cache material.
	minShare, minShareMean := p.MinTotalShare, p.MinMeanMS/4
	var out []Finding
	for _, d := range dbVisible(pg) {
		if d.Calls < minCalls || (d.TotalTime < minTotal && d.Share < minWeight) || sqltext.ReadsCatalog(d.Statement.Query) {
			continue
		}
		// The mean must clear its bar by more than its own noise: the
		// calls' spread over the window bounds it from below.
		low := meanLower(d.MeanTime, d.StddevTime, d.Calls)
		slow := low >= minMean
		heavy := d.Share >= minShare && low >= minShareMean
		if !slow && !heavy {
			continue
		}
		// Sessions the database started per call of the statement: near
		// one or more, most calls may run in a backend started for them,
		// whose first statements pay its catalog loads and first reads (on
		// the sample service with a session per request, the feed took
		// 19 ms in a new session and 3 ms in a used one, 2026-12-05).
		sessionsPerCall := 0.0
		if s := pg.Database.SessionsPerS; s > 0 && d.CallsPerS > 0 {
			sessionsPerCall = s / d.CallsPerS
		}
		out = append(out, Finding{
			Subject: dbSubject(d),
			Evidence: map[string]any{
				"query":             sqltext.OneLine(d.Statement.Query),
				"queryid":           dbQueryID(d.Statement.QueryID),
				"calls":             d.Calls,
				"mean_ms":           dbRound(d.MeanTime, 3),
				"stddev_ms":         dbRound(d.StddevTime, 3),
				"mean_low_ms":       dbRound(low, 3),
				"total_time_ms":     dbRound(d.TotalTime, 1),
				"total_share":       dbRound(d.Share, 3),
				"rows_per_call":     dbRound(float64(d.Rows)/float64(d.Calls), 2),
				"sessions_per_call": dbRound(sessionsPerCall, 2),
			},
			Impact: d.Share,
		})
	}
	return out, nil
}
