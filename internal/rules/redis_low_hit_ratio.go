package rules

import "context"

// redisLowHitRatio flags a cache whose lookups mostly miss: keyspace hits
// over hits and misses below hit_ratio_below, at min_lookups_per_s or more.
var redisLowHitRatio = Def[redisLowHitRatioParams]{ID: "redis.low-hit-ratio", Check: checkRedisLowHitRatio}

type redisLowHitRatioParams struct {
	HitRatioBelow  float64 `param:"hit_ratio_below"`
	MinLookupsPerS float64 `param:"min_lookups_per_s"`
}

func checkRedisLowHitRatio(_ context.Context, in *Input, p redisLowHitRatioParams) ([]Finding, error) {
	w := redisWindow(in)
	if w == nil || w.HitRatio < 0 || w.Seconds <= 0 {
		return nil, nil
	}
	lookups := float64(w.Hits+w.Misses) / w.Seconds
	if lookups < p.MinLookupsPerS || w.HitRatio >= p.HitRatioBelow {
		return nil, nil
	}
	ev := map[string]any{
		"hit_ratio":          appRound(w.HitRatio),
		"hits_per_s":         appRound(float64(w.Hits) / w.Seconds),
		"misses_per_s":       appRound(float64(w.Misses) / w.Seconds),
		"evicted_keys_per_s": appRound(w.EvictedPerS),
		"expired_keys_per_s": appRound(w.ExpiredPerS),
	}
	return []Finding{{Subject: redisSubject, Evidence: ev, Impact: 1 - w.HitRatio}}, nil
}
