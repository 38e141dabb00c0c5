package rules

import (
	"strings"
	"testing"
	"time"

	"github.com/pgadvisor/advisor/internal/probe"
	"github.com/pgadvisor/advisor/internal/probe/postgres"
)

func riverQueueInput(waiting, running int64, completionsPerS, growthPerS float64, oldest time.Duration) *Input {
	q := postgres.JobQueueDelta{
		JobQueue: postgres.JobQueue{Name: "default", Available: waiting, Running: running},
		Before:   waiting / 2, GrowthPerS: growthPerS, ArrivalsPerS: growthPerS + completionsPerS,
		CompletionsPerS: completionsPerS, OldestAge: oldest,
	}
	return &Input{Window: &probe.Window{Seconds: 10, Postgres: &postgres.Window{Jobs: []postgres.JobQueueDelta{q}}}}
}

// A burst the workers would clear in minutes is not yet a backlog; the same
// depth at a rate that takes an hour is, and so are old jobs.
func TestQueueBacklogDrainTime(t *testing.T) {
	// The tuned sample service under a test's order load: 2,203 waiting,
	// 10 at work finishing 13.5 a second (163 s to clear), the oldest 7.6 s.
	if fs := appRunRule(t, riverQueueInput(2203, 10, 13.5, 249, 7600*time.Millisecond), "queue.backlog", nil); len(fs) != 0 {
		t.Errorf("a burst cleared in 163 s: %v", fs)
	}
	// The same depth with workers finishing 0.5 a second: 73 minutes.
	fs := appRunRule(t, riverQueueInput(2203, 1, 0.5, 20, 7600*time.Millisecond), "queue.backlog", nil)
	if len(fs) != 1 || !strings.Contains(fs[0].Title, "2203 jobs waiting") || fs[0].Evidence["drain_s"] != 4406.0 {
		t.Fatalf("73 minutes to clear: %v", fs)
	}
	// Jobs a minute old, whatever the rate.
	fs = appRunRule(t, riverQueueInput(2203, 10, 13.5, 249, 90*time.Second), "queue.backlog", nil)
	if len(fs) != 1 || !strings.Contains(fs[0].Title, "the oldest has waited") {
		t.Fatalf("old jobs: %v", fs)
	}
	// No worker at all: growth says it.
	fs = appRunRule(t, riverQueueInput(300, 0, 0, 30, 5*time.Second), "queue.backlog", nil)
	if len(fs) != 1 || !strings.Contains(fs[0].Title, "growing") || fs[0].Evidence["no_worker"] != true {
		t.Fatalf("no worker: %v", fs)
	}
	if _, ok := fs[0].Evidence["drain_s"]; ok {
		t.Errorf("drain_s with nothing finishing: %v", fs[0].Evidence)
	}
	// No worker under 843 arrivals a second, of which the ids and the
	// pending count disagree on 0.77 a second: still no worker.
	fs = appRunRule(t, riverQueueInput(300, 0, 0.769, 842.8, 5*time.Second), "queue.backlog", nil)
	if len(fs) != 1 || !strings.Contains(fs[0].Title, "growing") || fs[0].Evidence["no_worker"] != true {
		t.Fatalf("no worker, completions within the arrivals' noise: %v", fs)
	}
	// A worker finishing 2% of the arrivals is one.
	fs = appRunRule(t, riverQueueInput(300, 0, 17, 826, 5*time.Second), "queue.backlog", nil)
	if len(fs) != 0 {
		t.Fatalf("a worker at 2%% of the arrivals: %v", fs)
	}
}
