package rules

import (
	"context"
	"fmt"
	"slices"
)

// redisMemoryUnbounded flags a Redis holding min_used_memory_mb or more
// with no maxmemory, or with a policy that refuses writes when full.
var redisMemoryUnbounded = Def[redisMemoryUnboundedParams]{ID: "redis.memory-unbounded", Check: checkRedisMemoryUnbounded}

type redisMemoryUnboundedParams struct {
	MinUsedMemoryMb  float64  `param:"min_used_memory_mb"`
	RefusingPolicies []string `param:"refusing_policies"`
}

func checkRedisMemoryUnbounded(_ context.Context, in *Input, p redisMemoryUnboundedParams) ([]Finding, error) {
	w := redisWindow(in)
	if w == nil || float64(w.UsedMemory) < p.MinUsedMemoryMb*(1<<20) {
		return nil, nil
	}
	policy := redisPolicy(w)
	var problem string
	switch {
	case w.MaxMemory == 0:
		problem = "has no maxmemory and grows until the machine runs out of memory"
	case slices.Contains(p.RefusingPolicies, policy):
		problem = fmt.Sprintf("refuses writes when full (maxmemory-policy %s)", policy)
	default:
		return nil, nil
	}
	ev := map[string]any{
		"problem":           problem,
		"maxmemory_bytes":   w.MaxMemory,
		"maxmemory_policy":  policy,
		"used_memory_bytes": w.UsedMemory,
	}
	total := w.Cur.Info.Int("total_system_memory")
	if total > 0 {
		ev["total_system_memory_bytes"] = total
	}
	limit := "1gb"
	if total > 0 {
		limit = fmt.Sprintf("%dmb", total/2>>20)
	} else if w.UsedMemory > 0 {
		limit = fmt.Sprintf("%dmb", max(2*w.UsedMemory, 64<<20)>>20)
	}
	return []Finding{{Subject: redisSubject, Evidence: ev, Confidence: ConfidenceOf(1, "the server's configuration"),
		Fix: Fix{Config: map[string]string{"maxmemory": limit, "maxmemory-policy": "allkeys-lru"}}}}, nil
}
