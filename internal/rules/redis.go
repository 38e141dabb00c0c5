package rules

import "github.com/pgadvisor/advisor/internal/probe/redis"

// redisRules are the detectors of the Redis rules, read from INFO, SLOWLOG
// and CONFIG GET over the window.
var redisRules = []Detector{
	redisLowHitRatio,
	redisEvictions,
	redisSlowCommands,
	redisCPUSaturation,
	redisRejectedConnections,
	redisMemoryUnbounded,
}

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
