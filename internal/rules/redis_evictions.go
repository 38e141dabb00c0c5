package rules

import (
	"context"
	"fmt"
	"math"
)

// redisEvictions flags keys evicted because maxmemory is reached, at
// min_evictions_per_s or more.
var redisEvictions = Def[redisEvictionsParams]{ID: "redis.evictions", Check: checkRedisEvictions}

type redisEvictionsParams struct {
	MinEvictionsPerS float64 `param:"min_evictions_per_s"`
}

func checkRedisEvictions(_ context.Context, in *Input, p redisEvictionsParams) ([]Finding, error) {
	w := redisWindow(in)
	if w == nil || w.EvictedPerS < p.MinEvictionsPerS {
		return nil, nil
	}
	ev := map[string]any{
		"evicted_keys_per_s": appRound(w.EvictedPerS),
		"evicted_keys":       w.Evicted,
		"maxmemory_bytes":    w.MaxMemory,
		"used_memory_bytes":  w.UsedMemory,
		"maxmemory_policy":   redisPolicy(w),
	}
	impact := 0.0
	if lookups := float64(w.Hits + w.Misses); lookups > 0 {
		impact = math.Min(float64(w.Evicted)/lookups, 1)
	}
	suggest := max(2*w.MaxMemory, 64<<20)
	return []Finding{{Subject: redisSubject, Evidence: ev, Impact: impact,
		Fix: Fix{Config: map[string]string{"maxmemory": fmt.Sprintf("%dmb", suggest>>20)}}}}, nil
}
