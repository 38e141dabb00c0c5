package rules

import (
	"strings"
	"testing"
	"time"

	"github.com/pgadvisor/advisor/internal/probe"
	"github.com/pgadvisor/advisor/internal/probe/postgres"
	"github.com/pgadvisor/advisor/internal/probe/source"
)

// dbStateWindow is a 10 s window of a database whose statistics were reset
// age before its end, with prev's and cur's pg_stat_database rows.
func dbStateWindow(age time.Duration, prev, cur postgres.DatabaseStats) *probe.Window {
	end := time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)
	ok := source.Status{State: source.OK}
	mk := func(at time.Time, st postgres.DatabaseStats) *postgres.Snapshot {
		st.StatsReset = end.Add(-age)
		return &postgres.Snapshot{Time: at, Status: ok,
			Server:   postgres.Server{Status: ok, PostmasterAt: end.Add(-30 * 24 * time.Hour), VersionNum: 150000, Database: "shop"},
			Database: postgres.Database{Status: ok, Stats: st}}
	}
	return &probe.Window{Seconds: 10, Postgres: postgres.Diff(mk(end.Add(-10*time.Second), prev), mk(end, cur))}
}

// The counters since the last reset fire at one a day on average, over a
// day at least; the window's count fires from one.
func TestDBStateLifetimeFloors(t *testing.T) {
	type stats = postgres.DatabaseStats
	for _, c := range []struct {
		name     string
		id       string
		age      time.Duration
		prev     stats
		cur      stats
		want     bool
		inWindow bool
		title    string
	}{
		{"deadlock in the window", "db.deadlocks", 30 * 24 * time.Hour,
			stats{XactCommit: 100, Deadlocks: 2}, stats{XactCommit: 200, Deadlocks: 3}, true, true, "shop: 1 deadlock in 10 s"},
		{"37 in two days", "db.deadlocks", 48 * time.Hour,
			stats{XactCommit: 100, Deadlocks: 37}, stats{XactCommit: 200, Deadlocks: 37}, true, false,
			"shop: 37 deadlocks (since stats reset, 2 d ago, 18.5 a day)"},
		{"one in the hour since a reset", "db.deadlocks", time.Hour,
			stats{XactCommit: 100, Deadlocks: 1}, stats{XactCommit: 200, Deadlocks: 1}, true, false,
			"shop: 1 deadlock (since stats reset, 60 min ago, 1 a day)"},
		{"ten in a month: history", "db.deadlocks", 30 * 24 * time.Hour,
			stats{XactCommit: 100, Deadlocks: 10}, stats{XactCommit: 200, Deadlocks: 10}, false, false, ""},
		{"conflicts since a reset", "db.recovery-conflicts", 3 * 24 * time.Hour,
			stats{XactCommit: 100, Conflicts: 12}, stats{XactCommit: 100, Conflicts: 12}, true, false,
			"shop: the standby cancelled 12 queries (since stats reset, 3 d ago, 4 a day) for recovery conflicts"},
		{"a checksum failure a month ago", "db.checksum-failures", 30 * 24 * time.Hour,
			stats{HasChecksums: true, ChecksumFailures: 1}, stats{HasChecksums: true, ChecksumFailures: 1}, true, false, ""},
		{"checksums off", "db.checksum-failures", 30 * 24 * time.Hour, stats{}, stats{}, false, false, ""},
	} {
		fs := dbDetect(t, dbStateWindow(c.age, c.prev, c.cur), dbRule(t, c.id, nil))
		if (len(fs) == 1) != c.want || len(fs) > 1 {
			t.Errorf("%s: %d findings, want %v: %v", c.name, len(fs), c.want, fs)
			continue
		}
		if !c.want {
			continue
		}
		if fs[0].Evidence["in_window"] != c.inWindow {
			t.Errorf("%s: in_window %v", c.name, fs[0].Evidence["in_window"])
		}
		if c.title != "" && fs[0].Title != c.title {
			t.Errorf("%s: title %q\nwant %q", c.name, fs[0].Title, c.title)
		}
		if !c.inWindow && !strings.Contains(fs[0].Title, "since stats reset, ") {
			t.Errorf("%s: title %q not marked since the reset", c.name, fs[0].Title)
		}
	}
}
