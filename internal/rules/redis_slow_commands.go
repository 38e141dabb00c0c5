package rules

import (
	"context"
	"math"
	"slices"
	"strings"
)

// redisSlowCommands flags the commands of the new SLOWLOG entries that took
// min_duration_us or more, by command.
var redisSlowCommands = Def[redisSlowCommandsParams]{ID: "redis.slow-commands", Check: checkRedisSlowCommands}

type redisSlowCommandsParams struct {
	MinDurationUs float64 `param:"min_duration_us"`
	MinEntries    float64 `param:"min_entries"`
	// MinEntriesOther is the entries a command outside LinearCommands
	// needs: a GET or an INCR slow once is the server held up (descheduled
	// on a busy host, a fork for a snapshot), not the command.
	MinEntriesOther float64  `param:"min_entries_other"`
	LinearCommands  []string `param:"linear_commands"`
}

func checkRedisSlowCommands(_ context.Context, in *Input, p redisSlowCommandsParams) ([]Finding, error) {
	w := redisWindow(in)
	if w == nil || len(w.NewSlow) == 0 {
		return nil, nil
	}
	minUs := p.MinDurationUs
	minEntries := p.MinEntries
	linear := p.LinearCommands
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
		isLinear := slices.ContainsFunc(linear, func(c string) bool { return strings.EqualFold(c, name) })
		if g.count < minEntries || (!isLinear && g.count < p.MinEntriesOther) {
			continue
		}
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
