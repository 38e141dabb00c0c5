package redis

import (
	"fmt"
	"sort"
	"time"
)

// Window is the change between two snapshots, or everything since the
// server started (Cumulative). A restart (run_id changed, uptime went down)
// or CONFIG RESETSTAT inside the window gives a fresh baseline: no rate is
// ever negative.
type Window struct {
	Start, End time.Time
	Seconds    float64
	Cumulative bool
	// Reset says why the counters count from a fresh baseline; "" if they
	// do not.
	Reset string

	Commands int64 // total_commands_processed
	OpsPerS  float64
	Hits     int64
	Misses   int64
	// HitRatio is hits / (hits + misses) over the window; -1 without
	// lookups.
	HitRatio    float64
	Evicted     int64
	EvictedPerS float64
	Expired     int64
	ExpiredPerS float64
	// RejectedConnections is the number refused for maxclients.
	RejectedConnections int64
	Connections         int64
	ConnectionsPerS     float64
	// CPUCores is the server's CPU time (sys + user) per second: 1.0 is
	// one core busy.
	CPUCores float64
	// Forks is total_forks over the window: RDB saves, AOF rewrites and
	// full resyncs that stopped the main thread for a fork.
	Forks int64

	PerCommand []CommandDelta
	// NewSlow are the slow log entries added in the window, newest first.
	NewSlow []SlowEntry

	UsedMemory int64
	MaxMemory  int64
	// MemoryRatio is used / max memory; -1 when there is no limit.
	MemoryRatio   float64
	Fragmentation float64

	// Lifetime are the counters since the server started (or since the
	// last CONFIG RESETSTAT, which Redis does not date): a state that
	// stands (evictions at maxmemory, refused connections) shows there
	// even when the window is too short to see it happen.
	Lifetime Lifetime

	// Queues are the job queues found at the window's end, with their
	// change over it.
	Queues []QueueDelta

	// Cur is the later snapshot.
	Cur *Snapshot
}

// Lifetime holds counters since the server started or its statistics were
// last reset.
type Lifetime struct {
	// UptimeSeconds is how long the server has run.
	UptimeSeconds       int64
	Evicted             int64
	RejectedConnections int64
	Connections         int64
	Hits, Misses        int64
	Forks               int64
	// Calls by command name in lower case, from commandstats.
	Calls map[string]int64
}

// CommandDelta is one command's change.
type CommandDelta struct {
	Name        string
	Calls       int64
	CallsPerS   float64
	Usec        int64
	UsecPerCall float64
	Failed      int64
	Rejected    int64
}

// Diff turns two snapshots into a Window; with prev nil (or unreadable), the
// counters since the server started. cur must not be nil.
func Diff(prev, cur *Snapshot) *Window {
	w := &Window{End: cur.Time, Cur: cur, HitRatio: -1, MemoryRatio: -1}
	if cur.Info == nil {
		return w
	}
	base := &Snapshot{Info: &Info{}}
	switch {
	case prev == nil || prev.Info == nil:
		w.Cumulative = true
		w.Seconds = float64(cur.UptimeSeconds)
		w.Start = cur.Time.Add(-time.Duration(cur.UptimeSeconds) * time.Second)
	case prev.RunID != cur.RunID || cur.UptimeSeconds < prev.UptimeSeconds:
		w.Reset = fmt.Sprintf("Redis restarted (run_id %s, up %ds)", cur.RunID, cur.UptimeSeconds)
		w.Start = prev.Time
		w.Seconds = min(cur.Time.Sub(prev.Time).Seconds(), float64(cur.UptimeSeconds))
		if cur.UptimeSeconds == 0 {
			w.Seconds = cur.Time.Sub(prev.Time).Seconds()
		}
	case cur.TotalCommands < prev.TotalCommands || cur.KeyspaceHits < prev.KeyspaceHits ||
		cur.KeyspaceMisses < prev.KeyspaceMisses || cur.TotalConnections < prev.TotalConnections:
		w.Reset = "statistics were reset (CONFIG RESETSTAT)"
		w.Start = prev.Time
		w.Seconds = cur.Time.Sub(prev.Time).Seconds()
	default:
		base = prev
		w.Start = prev.Time
		w.Seconds = cur.Time.Sub(prev.Time).Seconds()
	}

	w.Commands = nonNeg(cur.TotalCommands - base.TotalCommands)
	w.OpsPerS = rate(w.Commands, w.Seconds)
	w.Hits = nonNeg(cur.KeyspaceHits - base.KeyspaceHits)
	w.Misses = nonNeg(cur.KeyspaceMisses - base.KeyspaceMisses)
	if w.Hits+w.Misses > 0 {
		w.HitRatio = float64(w.Hits) / float64(w.Hits+w.Misses)
	}
	w.Evicted = nonNeg(cur.EvictedKeys - base.EvictedKeys)
	w.EvictedPerS = rate(w.Evicted, w.Seconds)
	w.Expired = nonNeg(cur.ExpiredKeys - base.ExpiredKeys)
	w.ExpiredPerS = rate(w.Expired, w.Seconds)
	w.RejectedConnections = nonNeg(cur.RejectedConnections - base.RejectedConnections)
	w.Connections = nonNeg(cur.TotalConnections - base.TotalConnections)
	w.ConnectionsPerS = rate(w.Connections, w.Seconds)
	w.Forks = nonNeg(cur.Info.Int("total_forks") - base.Info.Int("total_forks"))
	// CPU time is not reset by CONFIG RESETSTAT, only by a restart.
	cpuBase := base.UsedCPU
	if w.Reset != "" && prev != nil && prev.RunID == cur.RunID && cur.UptimeSeconds >= prev.UptimeSeconds {
		cpuBase = prev.UsedCPU
	}
	if w.Seconds > 0 {
		w.CPUCores = max(cur.UsedCPU-cpuBase, 0) / w.Seconds
	}

	for name, c := range cur.Info.Commands {
		b, ok := base.Info.Commands[name]
		if !ok || c.Calls < b.Calls || c.Usec < b.Usec {
			b = CommandStat{}
		}
		d := CommandDelta{Name: name, Calls: c.Calls - b.Calls, Usec: c.Usec - b.Usec,
			Failed: nonNeg(c.FailedCalls - b.FailedCalls), Rejected: nonNeg(c.RejectedCalls - b.RejectedCalls)}
		if d.Calls == 0 && d.Failed == 0 && d.Rejected == 0 {
			continue
		}
		d.CallsPerS = rate(d.Calls, w.Seconds)
		if d.Calls > 0 {
			d.UsecPerCall = float64(d.Usec) / float64(d.Calls)
		}
		w.PerCommand = append(w.PerCommand, d)
	}
	sort.Slice(w.PerCommand, func(i, j int) bool {
		if w.PerCommand[i].Usec != w.PerCommand[j].Usec {
			return w.PerCommand[i].Usec > w.PerCommand[j].Usec
		}
		return w.PerCommand[i].Name < w.PerCommand[j].Name
	})

	// Slow log ids only grow while the server runs.
	var lastID int64 = -1
	if prev != nil && prev.Info != nil && prev.RunID == cur.RunID {
		for _, e := range prev.Slowlog.Entries {
			lastID = max(lastID, e.ID)
		}
	}
	for _, e := range cur.Slowlog.Entries {
		if e.ID > lastID {
			w.NewSlow = append(w.NewSlow, e)
		}
	}

	w.UsedMemory = cur.UsedMemory
	w.MaxMemory = cur.MaxMemory
	if cur.Config.Status.Ok() && cur.Config.MaxMemory > 0 {
		w.MaxMemory = cur.Config.MaxMemory
	}
	if w.MaxMemory > 0 {
		w.MemoryRatio = float64(w.UsedMemory) / float64(w.MaxMemory)
	}
	w.Fragmentation = cur.Fragmentation

	w.Lifetime = Lifetime{UptimeSeconds: cur.UptimeSeconds, Evicted: cur.EvictedKeys,
		RejectedConnections: cur.RejectedConnections, Connections: cur.TotalConnections,
		Hits: cur.KeyspaceHits, Misses: cur.KeyspaceMisses, Forks: cur.Info.Int("total_forks"),
		Calls: map[string]int64{}}
	for name, c := range cur.Info.Commands {
		w.Lifetime.Calls[name] = c.Calls
	}
	qprev := prev
	if qprev != nil && (qprev.Info == nil || !qprev.Queues.Status.Ok()) {
		qprev = nil
	}
	w.Queues = diffQueues(qprev, cur, cur.Time.Sub(w.Start).Seconds())
	return w
}

func rate(n int64, seconds float64) float64 {
	if seconds <= 0 || n <= 0 {
		return 0
	}
	return float64(n) / seconds
}

func nonNeg(n int64) int64 { return max(n, 0) }
