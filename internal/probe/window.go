// Package probe reads the sources advisor analyses (pprof, Prometheus
// metrics, PostgreSQL, Redis) into a Snapshot, and turns two snapshots into a
// Window of rates and deltas. Each source has a package of its own beneath
// this one; this package runs them together and composes their results.
package probe

import "time"

// Window is what the rules analyse: the change between two snapshots, or the
// cumulative statistics since their last reset when Cumulative is set.
type Window struct {
	Start, End time.Time
	// Seconds is the length of the window (for a cumulative window: the time
	// since the statistics were reset, as well as the sources tell it).
	Seconds    float64
	Cumulative bool
}
