package rules

import (
	"context"
	"math"
)

// redisCPUSaturation flags a Redis whose main thread uses max_cpu_share of
// a core or more.
var redisCPUSaturation = Def[redisCPUSaturationParams]{ID: "redis.cpu-saturation", Check: checkRedisCPUSaturation}

type redisCPUSaturationParams struct {
	MaxCPUShare float64 `param:"max_cpu_share"`
}

func checkRedisCPUSaturation(_ context.Context, in *Input, p redisCPUSaturationParams) ([]Finding, error) {
	w := redisWindow(in)
	if w == nil || w.Seconds <= 0 || w.CPUCores < p.MaxCPUShare {
		return nil, nil
	}
	ev := map[string]any{
		"cpu_share":  appRound(w.CPUCores),
		"ops_per_s":  appRound(w.OpsPerS),
		"io_threads": w.Cur.Info.Int("io_threads_active"),
	}
	return []Finding{{Subject: redisSubject, Evidence: ev, Impact: math.Min(w.CPUCores, 1)}}, nil
}
