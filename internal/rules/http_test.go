package rules

import (
	"strconv"
	"strings"
	"testing"
)

func TestHTTPSaturationFixture(t *testing.T) {
	fs := appRunRule(t, appFixture(t, "limit"), "http.saturation", nil)
	if len(fs) != 1 {
		t.Fatalf("%d findings, want 1", len(fs))
	}
	f := fs[0]
	want := appCaptureFile + ":" + strconv.Itoa(appCaptureLine(t, "func limit(", "sem <- struct{}{}"))
	if f.Evidence["queue"] != "limit" || f.Location != want || f.Evidence["limit_site"] != "main.run.limit.func13" {
		t.Errorf("%s at %s %v, want the semaphore at %s", f.Title, f.Location, f.Evidence, want)
	}
	if q := f.Evidence["queue_share"].(float64); q < 0.6 {
		t.Errorf("queue share %v: 12 of 16 requests wait for the semaphore", q)
	}
	if !strings.Contains(f.Title, "at a concurrency limit") {
		t.Errorf("title %q", f.Title)
	}
	// Waiting on I/O or a lock is not queueing at a limit; a CPU-bound
	// service with a few runnable goroutines is not saturated either.
	for _, mode := range []string{"blocking", "lock", "inline", "hops", "tuned"} {
		if fs := appRunRule(t, appFixture(t, mode), "http.saturation", nil); len(fs) != 0 {
			t.Errorf("%s: %v", mode, fs[0].Evidence)
		}
	}
	// Runnable goroutines: the machine the tuned capture ran on was busy on
	// every core, its load generator and databases included, while the
	// service used 0.32 of its GOMAXPROCS 2. At a lower queue threshold its
	// runnable goroutines are still the host's queue, not the service's...
	fs = appRunRule(t, appFixture(t, "tuned"), "http.saturation", map[string]any{"min_queue_share": 0.2})
	if len(fs) != 0 {
		t.Errorf("a process at 16%% of its GOMAXPROCS: %v", fs[0].Evidence)
	}
	// ...and they are the service's once its CPU share counts as busy.
	fs = appRunRule(t, appFixture(t, "tuned"), "http.saturation", map[string]any{"min_queue_share": 0.2, "min_process_cpu_share": 0.1})
	if len(fs) != 1 || fs[0].Evidence["queue"] != "cpu" {
		t.Fatalf("CPU queueing: %v", fs)
	}
	if s := fs[0].Evidence["process_cpu_share"]; s != 0.161 {
		t.Errorf("process CPU share %v, want 0.161 (0.321 cores of 2)", s)
	}
}
