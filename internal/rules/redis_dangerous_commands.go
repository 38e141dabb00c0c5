package rules

import (
	"context"
	"math"
	"slices"
	"strings"

	"github.com/pgadvisor/advisor/internal/probe/redis"
)

// redisDangerousCommands names the commands that stall Redis in
// production whatever they took this time: blocking (KEYS,
// FLUSHALL, ...) from INFO commandstats, in the window or since the
// server started; whole_collection (SMEMBERS, HGETALL, LRANGE
// 0 -1, ...) when SLOWLOG holds them, that is above the server's own
// slowlog-log-slower-than whatever it is, or when commandstats gives them
// min_usec_per_call or more.
var redisDangerousCommands = Def[redisDangerousCommandsParams]{ID: "redis.dangerous-commands", Check: checkRedisDangerousCommands}

type redisDangerousCommandsParams struct {
	BlockingCommands        []string `param:"blocking"`
	WholeCollectionCommands []string `param:"whole_collection"`
	MinUsecPerCall          float64  `param:"min_usec_per_call"`
}

// redisReplacements is the fix for each dangerous command.
var redisReplacements = map[string]string{
	"KEYS":     "SCAN with MATCH and COUNT, in steps (a set of the keys if they are listed often)",
	"FLUSHALL": "FLUSHALL ASYNC, and rename-command FLUSHALL in redis.conf so that no client runs it by mistake",
	"FLUSHDB":  "FLUSHDB ASYNC, or UNLINK of the keys concerned",
	"DEBUG":    "nothing in production: rename-command DEBUG \"\" (or enable-debug-command no, Redis 7)",
	"MONITOR":  "the SLOWLOG, LATENCY and commandstats, or MONITOR only briefly on a replica: each MONITOR client slows every command",
	"SAVE":     "BGSAVE, which forks instead of blocking",
	"SMEMBERS": "SSCAN in steps, or SCARD/SISMEMBER when the whole set is not needed",
	"HGETALL":  "HSCAN in steps, or HMGET of the fields needed",
	"HKEYS":    "HSCAN in steps",
	"HVALS":    "HSCAN in steps",
	"LRANGE":   "a bounded range (LRANGE key 0 99), not 0 -1",
	"ZRANGE":   "a bounded range or ZSCAN, not 0 -1",
	"SUNION":   "SSCAN the sets, or keep the union precomputed",
	"SINTER":   "SSCAN the smaller set and SISMEMBER the others",
	"SORT":     "a sorted set kept in order (ZADD), or SORT with LIMIT",
	"DEL":      "UNLINK, which frees a large key in the background",
}

func checkRedisDangerousCommands(_ context.Context, in *Input, p redisDangerousCommandsParams) ([]Finding, error) {
	w := redisWindow(in)
	if w == nil {
		return nil, nil
	}
	type use struct {
		calls, lifetime float64
		usecPerCall     float64
		slow            float64 // SLOWLOG entries
		slowMaxUs       float64
		example         string
		fromSlowlog     bool
	}
	found := map[string]*use{}
	get := func(name string) *use {
		u := found[name]
		if u == nil {
			u = &use{}
			found[name] = u
		}
		return u
	}
	has := func(list []string, name string) bool {
		return slices.ContainsFunc(list, func(c string) bool { return strings.EqualFold(c, name) })
	}
	window := map[string]redis.CommandDelta{}
	for _, d := range w.PerCommand {
		window[strings.ToUpper(d.Name)] = d
	}
	for name, calls := range w.Lifetime.Calls {
		up := strings.ToUpper(name)
		d := window[up]
		switch {
		case has(p.BlockingCommands, up) && calls > 0:
		case has(p.WholeCollectionCommands, up) && d.Calls > 0 && d.UsecPerCall >= p.MinUsecPerCall:
		default:
			continue
		}
		u := get(up)
		u.calls, u.lifetime, u.usecPerCall = float64(d.Calls), float64(calls), d.UsecPerCall
	}
	// Every entry SLOWLOG keeps took more than slowlog-log-slower-than.
	for _, e := range w.Cur.Slowlog.Entries {
		if len(e.Args) == 0 {
			continue
		}
		up := strings.ToUpper(e.Args[0])
		if !has(p.BlockingCommands, up) && !redisWholeRead(p.WholeCollectionCommands, e.Args) {
			continue
		}
		u := get(up)
		u.slow++
		u.fromSlowlog = true
		u.slowMaxUs = math.Max(u.slowMaxUs, float64(e.Duration.Microseconds()))
		if u.example == "" {
			u.example = strings.Join(e.Args, " ")
		}
		if lc, ok := w.Lifetime.Calls[strings.ToLower(up)]; ok && u.lifetime == 0 {
			u.lifetime = float64(lc)
			u.calls = float64(window[up].Calls)
			u.usecPerCall = window[up].UsecPerCall
		}
	}
	names := make([]string, 0, len(found))
	for n := range found {
		names = append(names, n)
	}
	slices.Sort(names)
	threshold := int64(-2) // unknown
	if w.Cur.Config.Status.Ok() {
		threshold = w.Cur.Config.SlowlogSlowerThan
	}
	var out []Finding
	for _, name := range names {
		u := found[name]
		repl := redisReplacements[name]
		if repl == "" {
			repl = "a bounded or incremental form of the command"
		}
		ev := map[string]any{
			"command":                name,
			"calls":                  u.calls,
			"calls_per_s":            0.0,
			"calls_lifetime":         u.lifetime,
			"lifetime":               redisSince(w),
			"in_window":              u.calls > 0,
			"usec_per_call":          appRound(u.usecPerCall),
			"slowlog_entries":        u.slow,
			"slowlog_max_ms":         appRound(u.slowMaxUs / 1000),
			"slowlog_slower_than_us": threshold,
			"example":                u.example,
			"replacement":            repl,
			"blocking":               has(p.BlockingCommands, name),
		}
		if w.Seconds > 0 {
			ev["calls_per_s"] = appRound(u.calls / w.Seconds)
		}
		impact := 0.0
		if w.Seconds > 0 && u.calls > 0 {
			// The time every other client waited behind it.
			impact = math.Min(u.calls*u.usecPerCall/1e6/w.Seconds, 1)
		}
		impact = math.Max(impact, 0.01)
		f := Finding{Subject: name, Evidence: ev, Impact: impact}
		switch name {
		case "KEYS":
			f.Fix.Code = "iter := rdb.Scan(ctx, 0, pattern, 1000).Iterator() // instead of KEYS pattern\nfor iter.Next(ctx) { use(iter.Val()) }"
		case "FLUSHALL", "FLUSHDB", "DEBUG", "MONITOR":
			f.Fix.Config = map[string]string{"rename-command " + name: `""`}
		}
		out = append(out, f)
	}
	return out, nil
}

// redisWholeRead says whether a SLOWLOG entry reads a whole collection: one
// of the commands, and for LRANGE and ZRANGE the range 0 -1.
func redisWholeRead(cmds []string, args []string) bool {
	name := strings.ToUpper(args[0])
	if !slices.ContainsFunc(cmds, func(c string) bool { return strings.EqualFold(c, name) }) {
		return false
	}
	if name == "LRANGE" || name == "ZRANGE" {
		return len(args) >= 4 && args[2] == "0" && args[3] == "-1"
	}
	return true
}
