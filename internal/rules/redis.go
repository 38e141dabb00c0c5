package rules

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/pgadvisor/advisor/internal/probe/redis"
)

// redisDetectors are the detectors of the Redis rules, read from INFO,
// SLOWLOG and CONFIG GET over the window.
var redisRules = legacyRules(map[string]func(ctx context.Context, in *Input, r *Rule) ([]Finding, error){
	"redis.low-hit-ratio":        redisLowHitRatio,
	"redis.evictions":            redisEvictions,
	"redis.slow-commands":        redisSlowCommands,
	"redis.cpu-saturation":       redisCPUSaturation,
	"redis.rejected-connections": redisRejectedConnections,
	"redis.memory-unbounded":     redisMemoryUnbounded,
})

// redisSubject is the subject of the findings about the server: one Redis
// per window.
const redisSubject = "redis"

// redisWindow returns the Redis window, nil when Redis was not read.
func redisWindow(in *Input) *redis.Window {
	if in.Window == nil || in.Window.Redis == nil || in.Window.Redis.Cur == nil || in.Window.Redis.Cur.Info == nil {
		return nil
	}
	return in.Window.Redis
}

// redisPolicy is maxmemory-policy from CONFIG GET, or INFO memory.
func redisPolicy(w *redis.Window) string {
	if w.Cur.Config.Status.Ok() && w.Cur.Config.MaxMemoryPolicy != "" {
		return w.Cur.Config.MaxMemoryPolicy
	}
	if p := w.Cur.Info.String("maxmemory_policy"); p != "" {
		return p
	}
	return "unknown"
}

func redisLowHitRatio(_ context.Context, in *Input, r *Rule) ([]Finding, error) {
	w := redisWindow(in)
	if w == nil || w.HitRatio < 0 || w.Seconds <= 0 {
		return nil, nil
	}
	lookups := float64(w.Hits+w.Misses) / w.Seconds
	if lookups < r.Float("min_lookups_per_s") || w.HitRatio >= r.Float("hit_ratio_below") {
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

func redisEvictions(_ context.Context, in *Input, r *Rule) ([]Finding, error) {
	w := redisWindow(in)
	if w == nil || w.EvictedPerS < r.Float("min_evictions_per_s") {
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

func redisSlowCommands(_ context.Context, in *Input, r *Rule) ([]Finding, error) {
	w := redisWindow(in)
	if w == nil || len(w.NewSlow) == 0 {
		return nil, nil
	}
	minUs := r.Float("min_duration_us")
	minEntries := r.Float("min_entries")
	linear := r.List("linear_commands")
	type group struct {
		count      float64
		total, max float64 // microseconds
		example    string
	}
	groups := map[string]*group{}
	for _, e := range w.NewSlow {
		us := float64(e.Duration.Microseconds())
		if us < minUs || len(e.Args) == 0 {
			continue
		}
		cmd := strings.ToUpper(e.Args[0])
		g := groups[cmd]
		if g == nil {
			g = &group{example: strings.Join(e.Args, " ")}
			groups[cmd] = g
		}
		g.count++
		g.total += us
		g.max = math.Max(g.max, us)
	}
	names := make([]string, 0, len(groups))
	for name := range groups {
		names = append(names, name)
	}
	slices.Sort(names)
	var out []Finding
	for _, name := range names {
		g := groups[name]
		if g.count < minEntries {
			continue
		}
		isLinear := slices.ContainsFunc(linear, func(c string) bool { return strings.EqualFold(c, name) })
		ev := map[string]any{
			"command": name,
			"count":   g.count,
			"max_ms":  appRound(g.max / 1000),
			"mean_ms": appRound(g.total / g.count / 1000),
			"linear":  isLinear,
			"example": g.example,
		}
		impact := 0.0
		if w.Seconds > 0 {
			// Redis runs one command at a time: the slow time is time every
			// other client waited.
			impact = math.Min(g.total/1e6/w.Seconds, 1)
		}
		f := Finding{Subject: name, Evidence: ev, Impact: impact}
		if name == "KEYS" {
			f.Fix.Code = "iter := rdb.Scan(ctx, 0, pattern, 1000).Iterator() // instead of KEYS pattern\nfor iter.Next(ctx) { use(iter.Val()) }"
		}
		out = append(out, f)
	}
	return out, nil
}

func redisCPUSaturation(_ context.Context, in *Input, r *Rule) ([]Finding, error) {
	w := redisWindow(in)
	if w == nil || w.Seconds <= 0 || w.CPUCores < r.Float("max_cpu_share") {
		return nil, nil
	}
	ev := map[string]any{
		"cpu_share":  appRound(w.CPUCores),
		"ops_per_s":  appRound(w.OpsPerS),
		"io_threads": w.Cur.Info.Int("io_threads_active"),
	}
	return []Finding{{Subject: redisSubject, Evidence: ev, Impact: math.Min(w.CPUCores, 1)}}, nil
}

func redisRejectedConnections(_ context.Context, in *Input, r *Rule) ([]Finding, error) {
	w := redisWindow(in)
	if w == nil || float64(w.RejectedConnections) < r.Float("min_rejected") {
		return nil, nil
	}
	ev := map[string]any{
		"rejected_connections": w.RejectedConnections,
		"connected_clients":    w.Cur.ConnectedClients,
		"maxclients":           w.Cur.Info.Int("maxclients"),
	}
	impact := 0.0
	if w.Connections > 0 {
		impact = math.Min(float64(w.RejectedConnections)/float64(w.Connections), 1)
	}
	return []Finding{{Subject: redisSubject, Evidence: ev, Impact: impact}}, nil
}

func redisMemoryUnbounded(_ context.Context, in *Input, r *Rule) ([]Finding, error) {
	w := redisWindow(in)
	if w == nil || float64(w.UsedMemory) < r.Float("min_used_memory_mb")*(1<<20) {
		return nil, nil
	}
	policy := redisPolicy(w)
	var problem string
	switch {
	case w.MaxMemory == 0:
		problem = "has no maxmemory and grows until the machine runs out of memory"
	case slices.Contains(r.List("refusing_policies"), policy):
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
	return []Finding{{Subject: redisSubject, Evidence: ev,
		Fix: Fix{Config: map[string]string{"maxmemory": limit, "maxmemory-policy": "allkeys-lru"}}}}, nil
}
