package rules

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strings"
)

// redisRoundTrips flags the Redis N+1: min_commands_per_request or more
// Redis commands per request of the service (commandstats' calls over the
// window against the request rate of its metrics), each a network round
// trip when sent one by one. Commands of operators and monitoring
// (ignored_commands) do not count, nor, for each script call (EVAL,
// EVALSHA, FCALL), one of the commands it ran, which commandstats counts
// too.
var redisRoundTrips = Def[redisRoundTripsParams]{ID: "redis.round-trips", Check: checkRedisRoundTrips}

type redisRoundTripsParams struct {
	MinCommandsPerRequest float64  `param:"min_commands_per_request"`
	MinRequestsPerS       float64  `param:"min_requests_per_s"`
	IgnoredCommands       []string `param:"ignored_commands"`
}

func checkRedisRoundTrips(_ context.Context, in *Input, p redisRoundTripsParams) ([]Finding, error) {
	w := redisWindow(in)
	m := in.Window.Metrics
	if w == nil || m == nil || w.Seconds <= 0 || m.RPS < p.MinRequestsPerS {
		return nil, nil
	}
	type cmd struct {
		name       string
		perRequest float64
	}
	var cmds []cmd
	total, scripts := 0.0, 0.0
	for _, d := range w.PerCommand {
		base, _, _ := strings.Cut(d.Name, "|")
		if d.Calls <= 0 || slices.ContainsFunc(p.IgnoredCommands, func(c string) bool { return strings.EqualFold(c, base) }) {
			continue
		}
		per := d.CallsPerS / m.RPS
		total += per
		if base == "eval" || base == "evalsha" || base == "eval_ro" || base == "evalsha_ro" || base == "fcall" || base == "fcall_ro" {
			scripts += per
		}
		cmds = append(cmds, cmd{strings.ToUpper(d.Name), per})
	}
	// commandstats counts the commands a script runs as well: take one
	// per script call off, the least a script runs.
	total = math.Max(total-scripts, 0)
	if total < p.MinCommandsPerRequest {
		return nil, nil
	}
	slices.SortFunc(cmds, func(a, b cmd) int {
		if a.perRequest != b.perRequest {
			if a.perRequest > b.perRequest {
				return -1
			}
			return 1
		}
		return strings.Compare(a.name, b.name)
	})
	var parts []string
	for i, c := range cmds {
		if i == 6 || c.perRequest < 0.05 {
			break
		}
		parts = append(parts, fmt.Sprintf("%s %.2g", c.name, c.perRequest))
	}
	// One command repeated is batched by its multi-key form; several
	// different ones by a pipeline or, when each depends on the one
	// before (read, then increment, then expire), a Lua script.
	top := cmds[0]
	batch := map[string]string{"GET": "MGET", "SET": "MSET", "HGET": "HMGET", "HSET": "HSET with several fields",
		"EXISTS": "EXISTS with several keys", "DEL": "DEL (or UNLINK) with several keys", "SISMEMBER": "SMISMEMBER"}
	how := "a pipeline (one round trip for the lot), or one Lua script (EVALSHA) when each command needs the answer of the one before, as a rate limiter's GET, INCR and EXPIRE do"
	multi := ""
	if b, ok := batch[top.name]; ok && top.perRequest >= p.MinCommandsPerRequest {
		multi = b
		how = fmt.Sprintf("%s instead of %.2g %s per request, or a pipeline", b, top.perRequest, top.name)
	}
	ev := map[string]any{
		"commands_per_request": appRound(total),
		"requests_per_s":       appRound(m.RPS),
		"redis_ops_per_s":      appRound(w.OpsPerS),
		"commands":             strings.Join(parts, ", "),
		"top_command":          top.name,
		"multi_key_form":       multi,
		"how":                  how,
	}
	impact := math.Min((total-1)/total, 1) * 0.5
	code := `pipe := rdb.Pipeline() // one round trip for the lot
a := pipe.Get(ctx, k1)
b := pipe.Incr(ctx, k2)
_, err := pipe.Exec(ctx)`
	if multi == "" {
		code = `var limit = redis.NewScript(` + "`" + `local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return n` + "`" + `)
n, err := limit.Run(ctx, rdb, []string{key}, windowMs).Int64() // EVALSHA: one round trip`
	}
	return []Finding{{Subject: redisSubject, Evidence: ev, Impact: impact, Fix: Fix{Code: code}}}, nil
}
