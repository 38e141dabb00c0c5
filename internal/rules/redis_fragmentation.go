package rules

import (
	"context"
	"math"
	"strings"
)

// redisFragmentation flags memory Redis holds beyond its data: a
// fragmentation ratio (RSS / used) of min_ratio, or an allocator
// fragmentation of min_allocator_ratio (the part active defragmentation
// gives back), each with at least min_bytes wasted; and a ratio below 1,
// part of Redis swapped out, with min_swapped_bytes not in RAM. It reads
// the server's state now: no window needed.
var redisFragmentation = Def[redisFragmentationParams]{ID: "redis.fragmentation", Check: checkRedisFragmentation}

type redisFragmentationParams struct {
	MinRatio          float64 `param:"min_ratio"`
	MinAllocatorRatio float64 `param:"min_allocator_ratio"`
	MinBytes          int     `param:"min_bytes"`
	MinSwappedBytes   int     `param:"min_swapped_bytes"`
}

func checkRedisFragmentation(_ context.Context, in *Input, p redisFragmentationParams) ([]Finding, error) {
	w := redisWindow(in)
	if w == nil {
		return nil, nil
	}
	m := w.Cur.Info.Memory()
	if m.Used <= 0 || m.RSS <= 0 {
		return nil, nil
	}
	cfg := w.Cur.Config
	defrag := "unknown"
	if cfg.Status.Ok() && cfg.ActiveDefrag != "" {
		defrag = cfg.ActiveDefrag
	}
	ev := map[string]any{
		"fragmentation_ratio":   appRound(m.Ratio),
		"fragmentation_bytes":   m.Bytes,
		"allocator_frag_ratio":  appRound(m.AllocatorRatio),
		"allocator_frag_bytes":  m.AllocatorBytes,
		"used_memory_bytes":     m.Used,
		"rss_bytes":             m.RSS,
		"peak_bytes":            m.Peak,
		"allocator":             m.Allocator,
		"activedefrag":          defrag,
		"active_defrag_running": m.DefragRunning,
		"state":                 "now, up " + humanSeconds(float64(w.Lifetime.UptimeSeconds)),
		"swapped_bytes":         int64(0),
	}
	conf := ConfidenceOf(1, "the server's memory state")

	// RSS below what Redis allocated: the rest is in swap.
	if swapped := m.Used - m.RSS; m.Ratio > 0 && m.Ratio < 1 && swapped >= int64(p.MinSwappedBytes) {
		ev["kind"] = "swap"
		ev["remedy"] = "memory"
		ev["swapped_bytes"] = swapped
		return []Finding{{Subject: redisSubject + " swap", Evidence: ev, Severity: Critical, Confidence: conf,
			Impact: math.Min(float64(swapped)/float64(m.Used), 1),
			Fix:    Fix{Config: map[string]string{"maxmemory": "below the host's free memory"}}}}, nil
	}

	total := m.Ratio >= p.MinRatio && m.Bytes >= int64(p.MinBytes)
	alloc := m.AllocatorRatio >= p.MinAllocatorRatio && m.AllocatorBytes >= int64(p.MinBytes)
	if !total && !alloc {
		return nil, nil
	}
	ev["kind"] = "fragmentation"
	jemalloc := strings.HasPrefix(m.Allocator, "jemalloc")
	var fix Fix
	switch {
	case alloc && jemalloc && defrag == "yes":
		// Already on: it runs, or its own thresholds are above these.
		ev["remedy"] = "defrag-on"
	case alloc && jemalloc:
		ev["remedy"] = "activedefrag"
		fix.Config = map[string]string{"activedefrag": "yes"}
	case alloc:
		// libc or tcmalloc: no active defragmentation.
		ev["remedy"] = "restart"
	case jemalloc:
		// Pages the allocator keeps, not partly used ones: MEMORY PURGE
		// gives them back.
		ev["remedy"] = "purge"
	default:
		ev["remedy"] = "restart"
	}
	return []Finding{{Subject: redisSubject + " memory", Evidence: ev, Confidence: conf, Fix: fix,
		Impact: math.Min(float64(max(m.Bytes, m.AllocatorBytes))/float64(m.RSS), 1),
		Saves:  &Saving{NotRequestTime: true, Basis: "memory the host gives Redis for nothing: a risk of swap or the OOM killer, not request time"}}}, nil
}
