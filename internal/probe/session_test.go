package probe

import (
	"slices"
	"testing"
	"time"

	"github.com/pgadvisor/advisor/internal/probe/metrics"
	"github.com/pgadvisor/advisor/internal/probe/postgres"
	"github.com/pgadvisor/advisor/internal/probe/pprof"
	"github.com/pgadvisor/advisor/internal/probe/redis"
	"github.com/pgadvisor/advisor/internal/probe/source"
)

var sessionT0 = time.Date(2026, 3, 14, 9, 30, 0, 0, time.UTC)

// at is the time s seconds into the session.
func at(s int) time.Time { return sessionT0.Add(time.Duration(s) * time.Second) }

// redisAt is a snapshot at second s of a Redis up for 1000+s seconds that
// runs 100 commands a second; the other sources are not configured.
func redisAt(s int) *Snapshot {
	off := source.Status{State: source.Unavailable, Detail: "not configured: x"}
	return &Snapshot{Time: at(s),
		Status: map[string]source.Status{Pprof: off, Metrics: off, Postgres: off, Redis: {State: source.OK}},
		Redis: &redis.Snapshot{Status: source.Status{State: source.OK}, Time: at(s), Info: &redis.Info{}, RunID: "a",
			UptimeSeconds: 1000 + int64(s), TotalCommands: 100_000 + 100*int64(s)}}
}

// TestSessionAnalysisSpan follows the bases over a 6 s span with snapshots
// a second apart: a base every third of the span, none older than the span,
// and each analysis window starting at the oldest base within it.
func TestSessionAnalysisSpan(t *testing.T) {
	s := NewSession(SessionOptions{AnalysisSpan: 6 * time.Second, InternalHosts: []string{"billing"}})
	first := s.Add(redisAt(0), Extra{})
	if !first.Analysis.Cumulative || !first.Interval.Cumulative {
		t.Fatalf("first windows not cumulative: %+v, %+v", first.Analysis, first.Interval)
	}
	// The analysis window's start at seconds 1..10.
	wantStart := []int{0, 0, 0, 0, 0, 0, 2, 2, 4, 4}
	wantBases := [][]int{{0}, {0, 2}, {0, 2}, {0, 2, 4}, {0, 2, 4}, {0, 2, 4, 6}, {2, 4, 6}, {2, 4, 6, 8}, {4, 6, 8}, {4, 6, 8, 10}}
	for i := 1; i <= 10; i++ {
		step := s.Add(redisAt(i), Extra{})
		a, iv := step.Analysis, step.Interval
		if a.Cumulative || !a.Start.Equal(at(wantStart[i-1])) || !a.End.Equal(at(i)) {
			t.Errorf("second %d: analysis window %s..%s (cumulative %v), want from second %d",
				i, a.Start.Format(time.TimeOnly), a.End.Format(time.TimeOnly), a.Cumulative, wantStart[i-1])
		}
		if !iv.Start.Equal(at(i-1)) || iv.Seconds != 1 {
			t.Errorf("second %d: interval window from %s, %.1f s", i, iv.Start.Format(time.TimeOnly), iv.Seconds)
		}
		if a.Redis == nil || a.Redis.OpsPerS != 100 || iv.Redis == nil || iv.Redis.OpsPerS != 100 {
			t.Errorf("second %d: ops/s %+v, %+v", i, a.Redis, iv.Redis)
		}
		if !slices.Equal(a.InternalHosts, []string{"billing"}) || !slices.Equal(iv.InternalHosts, []string{"billing"}) {
			t.Errorf("second %d: internal hosts %v, %v", i, a.InternalHosts, iv.InternalHosts)
		}
		var bases []int
		for _, b := range s.bases {
			bases = append(bases, int(b.Time.Sub(sessionT0)/time.Second))
		}
		if !slices.Equal(bases, wantBases[i-1]) {
			t.Errorf("second %d: bases at %v, want %v", i, bases, wantBases[i-1])
		}
	}
	if s.Prev() == nil || !s.Prev().Time.Equal(at(10)) {
		t.Errorf("previous snapshot %+v", s.Prev())
	}

	// After a gap longer than the span, no base is within it: the window
	// starts at the previous snapshot, and the old bases are forgotten.
	step := s.Add(redisAt(100), Extra{})
	if !step.Analysis.Start.Equal(at(10)) || step.Analysis.Seconds != 90 {
		t.Errorf("after the gap: analysis window from %s, %.0f s", step.Analysis.Start.Format(time.TimeOnly), step.Analysis.Seconds)
	}
	if len(s.bases) != 1 || s.bases[0].Time != at(100) {
		t.Errorf("bases after the gap: %d, want only the last snapshot", len(s.bases))
	}
}

// TestSessionNoSpan: without an analysis span each analysis window starts
// at the previous snapshot, as Probes.Observe's does.
func TestSessionNoSpan(t *testing.T) {
	s := NewSession(SessionOptions{})
	s.Keep(redisAt(0))
	for i := 1; i <= 3; i++ {
		step := s.Add(redisAt(i), Extra{})
		if !step.Analysis.Start.Equal(at(i-1)) || step.Analysis.Seconds != 1 {
			t.Errorf("second %d: analysis window from %s, %.1f s", i, step.Analysis.Start.Format(time.TimeOnly), step.Analysis.Seconds)
		}
		if step.Analysis == step.Interval || &step.Analysis.Sources == &step.Interval.Sources {
			t.Errorf("second %d: the two windows are one", i)
		}
	}
	if len(s.bases) != 1 {
		t.Errorf("%d bases kept without a span", len(s.bases))
	}
}

// TestSessionProfileSeconds: the contention profiles cover the window, or
// for a cumulative window the service's uptime as its metrics tell it (the
// profiles count from the process's start), not the longest source's length.
func TestSessionProfileSeconds(t *testing.T) {
	started := float64(at(0).Add(-time.Hour).UnixNano()) / 1e9
	snap := redisAt(0)
	snap.Redis.UptimeSeconds = 7200
	snap.Status[Metrics] = source.Status{State: source.OK}
	snap.Metrics = &metrics.Snapshot{Time: at(0), Status: source.Status{State: source.OK},
		Process: metrics.Process{StartTimeSeconds: &started}}
	s := NewSession(SessionOptions{AnalysisSpan: 30 * time.Second})
	step := s.Add(snap, Extra{})
	for _, w := range []*Window{step.Analysis, step.Interval} {
		if !w.Cumulative || w.Seconds != 7200 {
			t.Fatalf("cumulative window of %.0f s (cumulative %v), want Redis's 7200 s", w.Seconds, w.Cumulative)
		}
		if w.ProfileSeconds != 3600 {
			t.Errorf("cumulative window: profiles cover %.0f s, want the metrics' 3600 s", w.ProfileSeconds)
		}
	}

	// Without a known process start, a cumulative window's profiles cover
	// an unknown time.
	s = NewSession(SessionOptions{})
	if w := s.Add(redisAt(0), Extra{}).Analysis; w.ProfileSeconds != 0 {
		t.Errorf("cumulative window without metrics: profiles cover %.0f s, want 0 (unknown)", w.ProfileSeconds)
	}

	step = s.Add(redisAt(5), Extra{})
	for _, w := range []*Window{step.Analysis, step.Interval} {
		if w.Seconds != 5 || w.ProfileSeconds != 5 {
			t.Errorf("window of %.0f s: profiles cover %.0f s", w.Seconds, w.ProfileSeconds)
		}
	}
}

// TestSessionPprofStatus: profiles read inside the window show the target
// answering when the snapshots' goroutine dumps did not; a profile taken
// before the window does not.
func TestSessionPprofStatus(t *testing.T) {
	failed := source.Status{State: source.Unavailable, Detail: "goroutine dump: timeout"}
	snap := func(s int) *Snapshot {
		sn := redisAt(s)
		sn.Status[Pprof] = failed
		return sn
	}
	profile := func(s int) *pprof.Snapshot {
		return &pprof.Snapshot{Time: at(s), Status: source.Status{State: source.OK}}
	}
	s := NewSession(SessionOptions{AnalysisSpan: 30 * time.Second})
	s.Keep(snap(10))
	step := s.Add(snap(20), Extra{Profiles: profile(11)})
	if st := step.Analysis.Status(Pprof); !st.Ok() {
		t.Errorf("pprof with profiles read inside the window: %+v", st)
	}
	if step.Analysis.Profiles == nil {
		t.Error("the analysis window lost its profiles")
	}
	if st := step.Interval.Status(Pprof); st != failed || step.Interval.Profiles != nil {
		t.Errorf("the interval window took the analysis window's profiles: %+v", st)
	}

	step = s.Add(snap(30), Extra{Profiles: profile(5)})
	if st := step.Analysis.Status(Pprof); st != failed {
		t.Errorf("pprof with a profile older than the window: %+v", st)
	}
	failedProfile := profile(25)
	failedProfile.Status = source.Status{State: source.Error, Detail: "500"}
	step = s.Add(snap(40), Extra{Profiles: failedProfile})
	if st := step.Analysis.Status(Pprof); st != failed {
		t.Errorf("pprof with a failed profile: %+v", st)
	}
}

// TestSessionSourceReadAtEndOnly: a source down at the window's start and
// read at its end is ok over the window, with its part cumulative.
func TestSessionSourceReadAtEndOnly(t *testing.T) {
	down := source.Status{State: source.Unavailable, Detail: "connection refused"}
	start := redisAt(0)
	start.Status[Redis] = down
	start.Redis = &redis.Snapshot{Status: down}
	s := NewSession(SessionOptions{AnalysisSpan: 30 * time.Second})
	s.Keep(start)
	step := s.Add(redisAt(5), Extra{})
	for _, w := range []*Window{step.Analysis, step.Interval} {
		if st := w.Status(Redis); !st.Ok() {
			t.Errorf("redis read at the end: %+v", st)
		}
		if w.Cumulative || w.Seconds != 5 {
			t.Errorf("window: cumulative %v, %.0f s", w.Cumulative, w.Seconds)
		}
		if w.Redis == nil || !w.Redis.Cumulative {
			t.Errorf("redis part not cumulative: %+v", w.Redis)
		}
	}
	// Read at the start, down at the end: down over the window.
	end := redisAt(10)
	end.Status[Redis] = down
	end.Redis = &redis.Snapshot{Status: down}
	step = s.Add(end, Extra{})
	if st := step.Analysis.Status(Redis); st != down || step.Analysis.Redis != nil {
		t.Errorf("redis down at the end: %+v, %+v", st, step.Analysis.Redis)
	}
}

// TestSessionGoroutineSamples: dumps sampled inside the window go between
// those of its two snapshots.
func TestSessionGoroutineSamples(t *testing.T) {
	dump := func() *pprof.GoroutineResult {
		return &pprof.GoroutineResult{Status: source.Status{State: source.OK}}
	}
	first, last := redisAt(0), redisAt(4)
	first.Goroutines, last.Goroutines = dump(), dump()
	samples := []*pprof.GoroutineResult{dump(), dump()}
	s := NewSession(SessionOptions{})
	s.Keep(first)
	step := s.Add(last, Extra{Goroutines: samples})
	want := []*pprof.GoroutineResult{first.Goroutines, samples[0], samples[1], last.Goroutines}
	if !slices.Equal(step.Analysis.Goroutines, want) {
		t.Errorf("analysis window's dumps out of order: %d dumps", len(step.Analysis.Goroutines))
	}
	if got := step.Interval.Goroutines; !slices.Equal(got, []*pprof.GoroutineResult{first.Goroutines, last.Goroutines}) {
		t.Errorf("interval window's dumps: %d", len(got))
	}
}

// TestSessionKeepsEveryDump: an analysis window holds the goroutine dump of
// every snapshot fed within its span, oldest first, not only those of its
// two ends; dumps older than the span are forgotten.
func TestSessionKeepsEveryDump(t *testing.T) {
	s := NewSession(SessionOptions{AnalysisSpan: 6 * time.Second})
	var dumps []*pprof.GoroutineResult
	var last Step
	for sec := range 10 {
		snap := redisAt(sec)
		snap.Goroutines = &pprof.GoroutineResult{Status: source.Status{State: source.OK}}
		dumps = append(dumps, snap.Goroutines)
		last = s.Add(snap, Extra{})
	}
	// At second 9 the oldest base within 6 s is at second 4 (bases every
	// 2 s: 0, 2, 4, 6, 8).
	if want := dumps[4:]; !slices.Equal(last.Analysis.Goroutines, want) {
		t.Errorf("analysis window holds %d dumps, want the %d of seconds 4 to 9", len(last.Analysis.Goroutines), len(want))
	}
	if len(s.dumps) > 7 {
		t.Errorf("session keeps %d dumps over a 6 s span of 1 s readings", len(s.dumps))
	}
}

// TestSessionKeepsSampledDumps: dumps sampled between two readings (attach
// takes them after its first seconds) count in every later analysis window
// of the span, in order, as the readings' own do; a window that starts at
// the reading after them leaves them out.
func TestSessionKeepsSampledDumps(t *testing.T) {
	ok := func() *pprof.GoroutineResult { return &pprof.GoroutineResult{Status: source.Status{State: source.OK}} }
	s := NewSession(SessionOptions{AnalysisSpan: 6 * time.Second})
	var want []*pprof.GoroutineResult
	var last Step
	for sec := range 5 {
		snap := redisAt(sec)
		snap.Goroutines = ok()
		var extra Extra
		if sec > 0 {
			extra.Goroutines = []*pprof.GoroutineResult{ok(), ok()}
		}
		want = append(want, extra.Goroutines...)
		want = append(want, snap.Goroutines)
		last = s.Add(snap, extra)
	}
	// At second 4 the window starts at second 0's base: every dump.
	if !slices.Equal(last.Analysis.Goroutines, want) {
		t.Errorf("analysis window holds %d dumps, want %d", len(last.Analysis.Goroutines), len(want))
	}
	// Later, from the base at second 2: its dump and what came after it.
	for sec := 5; sec < 9; sec++ {
		snap := redisAt(sec)
		snap.Goroutines = ok()
		extra := Extra{Goroutines: []*pprof.GoroutineResult{ok()}}
		want = append(want, extra.Goroutines...)
		want = append(want, snap.Goroutines)
		last = s.Add(snap, extra)
	}
	if !last.Analysis.Start.Equal(at(2)) {
		t.Fatalf("window starts at %v", last.Analysis.Start)
	}
	// From second 2's dump (index 6 of want: 1, then 3 for second 1, then
	// second 2's two samples), without the samples taken before it.
	if got := last.Analysis.Goroutines; !slices.Equal(got, want[6:]) {
		t.Errorf("analysis window from second 2 holds %d dumps, want %d", len(got), len(want[6:]))
	}
}

// withActivity adds to snap a PostgreSQL snapshot whose pg_stat_activity
// holds n active sessions of application "svc".
func withActivity(snap *Snapshot, n int) *Snapshot {
	ok := source.Status{State: source.OK}
	snap.Status[Postgres] = ok
	snap.Postgres = &postgres.Snapshot{Status: ok, Time: snap.Time, Server: postgres.Server{Status: ok},
		Activity: postgres.Activity{Status: ok, Total: n, Groups: []postgres.ActivityGroup{
			{Application: "svc", ClientAddr: "127.0.0.1", State: postgres.StateActive, Count: n}}}}
	return snap
}

// activitySeconds lists the seconds into the session of a window's
// activity readings.
func activitySeconds(w *Window) []int {
	var out []int
	for _, a := range w.Activity {
		out = append(out, int(a.Time.Sub(sessionT0)/time.Second))
	}
	return out
}

// TestSessionActivity: the analysis window holds the pg_stat_activity
// readings of every snapshot since its start, and those taken between
// snapshots; the interval window holds its two ends; readings older than
// the oldest base are forgotten.
func TestSessionActivity(t *testing.T) {
	s := NewSession(SessionOptions{AnalysisSpan: 6 * time.Second})
	first := s.Add(withActivity(redisAt(0), 0), Extra{})
	if got := activitySeconds(first.Analysis); !slices.Equal(got, []int{0}) {
		t.Errorf("cumulative window: readings at %v, want [0]", got)
	}
	wantStart := []int{0, 0, 0, 0, 0, 0, 2, 2, 4, 4}
	for i := 1; i <= 10; i++ {
		snap := withActivity(redisAt(i), i)
		if i == 5 {
			// Read at the end but not its activity: no reading of it.
			snap.Postgres.Activity = postgres.Activity{Status: source.Status{State: source.Error, Detail: "activity: timeout"}}
		}
		step := s.Add(snap, Extra{})
		var want []int
		for j := wantStart[i-1]; j <= i; j++ {
			if j != 5 {
				want = append(want, j)
			}
		}
		if got := activitySeconds(step.Analysis); !slices.Equal(got, want) {
			t.Errorf("second %d: analysis window's readings at %v, want %v", i, got, want)
		}
		want = []int{i - 1, i}
		switch i {
		case 5:
			want = []int{4}
		case 6:
			want = []int{6}
		}
		if got := activitySeconds(step.Interval); !slices.Equal(got, want) {
			t.Errorf("second %d: interval window's readings at %v, want %v", i, got, want)
		}
	}
	if got := s.activity[0].Time; !got.Equal(at(4)) {
		t.Errorf("oldest reading kept at %s, want the oldest base's (second 4)", got.Format(time.TimeOnly))
	}

	// Readings between snapshots go in the analysis window, in time order,
	// and stay for the next windows of the span; not in the interval's.
	between := []postgres.ActivitySample{{Time: at(11).Add(-time.Second / 2), Groups: []postgres.ActivityGroup{
		{Application: "svc", ClientAddr: "127.0.0.1", State: postgres.StateIdle, Count: 7}}}}
	step := s.Add(withActivity(redisAt(11), 1), Extra{Activity: between})
	a := step.Analysis.Activity
	// From second 6, the oldest base within the span.
	if len(a) != 7 || !a[5].Time.Equal(between[0].Time) || !a[6].Time.Equal(at(11)) {
		t.Errorf("analysis window's readings: %v", activitySeconds(step.Analysis))
	}
	if got := activitySeconds(step.Interval); !slices.Equal(got, []int{10, 11}) {
		t.Errorf("interval window's readings at %v", got)
	}
	step = s.Add(withActivity(redisAt(12), 1), Extra{})
	if n := len(step.Analysis.Activity); n != 8 {
		t.Errorf("next analysis window: %d readings (%v), want 8 with the one between snapshots", n, activitySeconds(step.Analysis))
	}
	by := step.Analysis.ActivityByClient()
	if len(by) != 1 || by[0].Samples != 8 || by[0].Seen != 8 || by[0].State(postgres.StateIdle).Max != 7 ||
		by[0].State(postgres.StateActive).Max != 10 {
		t.Errorf("summary of the analysis window: %+v", by)
	}
}
