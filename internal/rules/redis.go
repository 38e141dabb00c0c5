package rules

import (
	"fmt"

	"github.com/pgadvisor/advisor/internal/probe/redis"
)

// redisRules are the detectors of the Redis rules, read from INFO, SLOWLOG
// and CONFIG GET over the window.
var redisRules = []Detector{
	redisLowHitRatio,
	redisEvictions,
	redisSlowCommands,
	redisCPUSaturation,
	redisRejectedConnections,
	redisMemoryUnbounded,
	redisDangerousCommands,
	redisRoundTrips,
	redisFragmentation,
	redisPersistence,
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

// redisSince says what the counters since the server started cover, for
// evidence read from them: "since start, 2 h ago". Redis does not date a
// CONFIG RESETSTAT, so that caveat is spelled out.
func redisSince(w *redis.Window) string {
	return "since start or last CONFIG RESETSTAT, up " + humanSeconds(float64(w.Lifetime.UptimeSeconds))
}

// humanSeconds is a duration in the largest unit that keeps it readable:
// "45 s", "12 min", "2 h", "3 d".
func humanSeconds(s float64) string {
	switch {
	case s < 120:
		return fmt.Sprintf("%.0f s", s)
	case s < 2*3600:
		return fmt.Sprintf("%.0f min", s/60)
	case s < 2*86400:
		return fmt.Sprintf("%.0f h", s/3600)
	}
	return fmt.Sprintf("%.0f d", s/86400)
}
