package rules

import (
	"context"
	"fmt"
	"math"
)

// redisEvictions flags keys evicted because maxmemory is reached: at
// min_evictions_per_s or more over the window, or, when the window saw too
// few, min_lifetime_evictions or more since the server started while it is
// still near maxmemory (a standing state a short window misses).
var redisEvictions = Def[redisEvictionsParams]{ID: "redis.evictions", Check: checkRedisEvictions}

type redisEvictionsParams struct {
	MinEvictionsPerS     float64 `param:"min_evictions_per_s"`
	MinLifetimeEvictions float64 `param:"min_lifetime_evictions"`
	MinMemoryRatio       float64 `param:"min_memory_ratio"`
}

func checkRedisEvictions(_ context.Context, in *Input, p redisEvictionsParams) ([]Finding, error) {
	w := redisWindow(in)
	if w == nil {
		return nil, nil
	}
	life := w.Lifetime
	inWindow := w.EvictedPerS >= p.MinEvictionsPerS
	standing := float64(life.Evicted) >= p.MinLifetimeEvictions &&
		w.MemoryRatio >= p.MinMemoryRatio
	if !inWindow && !standing {
		return nil, nil
	}
	ev := map[string]any{
		"evicted_keys_per_s":    appRound(w.EvictedPerS),
		"evicted_keys":          w.Evicted,
		"evicted_keys_lifetime": life.Evicted,
		"lifetime":              redisSince(w),
		"in_window":             inWindow,
		"maxmemory_bytes":       w.MaxMemory,
		"used_memory_bytes":     w.UsedMemory,
		"maxmemory_policy":      redisPolicy(w),
	}
	impact := 0.0
	switch {
	case inWindow:
		if lookups := float64(w.Hits + w.Misses); lookups > 0 {
			impact = math.Min(float64(w.Evicted)/lookups, 1)
		}
	default:
		// Standing, not seen happening: ranked below what the window shows.
		if lookups := float64(life.Hits + life.Misses); lookups > 0 {
			impact = math.Min(float64(life.Evicted)/lookups, 1) / 2
		}
	}
	suggest := max(2*w.MaxMemory, 64<<20)
	return []Finding{{Subject: redisSubject, Evidence: ev, Impact: impact,
		Fix: Fix{Config: map[string]string{"maxmemory": fmt.Sprintf("%dmb", suggest>>20)}}}}, nil
}
