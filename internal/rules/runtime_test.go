package rules

import (
	"strings"
	"testing"
)

func TestRuntimeGOMAXPROCSFixture(t *testing.T) {
	in := appFixture(t, "gomaxprocs")
	fs := appRunRule(t, in, "runtime.gomaxprocs", map[string]any{"usable_cpus": 2})
	if len(fs) != 1 {
		t.Fatalf("%d findings, want 1", len(fs))
	}
	f := fs[0]
	if f.Evidence["gomaxprocs"] != 1.0 || f.Evidence["usable_cpus"] != 2.0 || f.Title != "GOMAXPROCS is 1 where the process may use 2 CPUs" {
		t.Errorf("%s %v", f.Title, f.Evidence)
	}
	// The capture ran on a machine shared with other work: the process got
	// less than its one P could use, and goroutines queued for it.
	if r := f.Evidence["runnable_goroutines"].(float64); r < 1 {
		t.Errorf("runnable goroutines %v: 16 connections share one P", r)
	}
	// The fix removes the queueing for a CPU: a share of the CPU part of
	// the requests' time, which ranks the finding.
	if f.Fix.Config["GOMAXPROCS"] == "" || f.Saves == nil || f.Impact != f.Saves.Share || f.Impact < 0.1 {
		t.Errorf("fix %v impact %v saves %+v", f.Fix, f.Impact, f.Saves)
	}

	// The CPU count unknown: only when busy at GOMAXPROCS cores as well.
	if fs := appRunRule(t, in, "runtime.gomaxprocs", nil); len(fs) != 0 && *in.Window.Metrics.Process.CPUCores < 0.8 {
		t.Errorf("unknown CPUs, not busy: %v", fs)
	}
	busy := 0.97
	in.Window.Metrics.Process.CPUCores = &busy
	fs = appRunRule(t, in, "runtime.gomaxprocs", nil)
	if len(fs) != 1 || !strings.Contains(fs[0].Title, "usable CPUs unknown") || !strings.Contains(fs[0].Fix.Summary, "could not tell") {
		t.Fatalf("unknown CPUs: %v", fs)
	}

	// GOMAXPROCS at the usable CPUs is fine, however busy.
	if fs := appRunRule(t, appFixture(t, "tuned"), "runtime.gomaxprocs", map[string]any{"usable_cpus": 2}); len(fs) != 0 {
		t.Errorf("tuned: %v", fs)
	}
	// Above the CPU quota.
	fs = appRunRule(t, appFixture(t, "tuned"), "runtime.gomaxprocs", map[string]any{"usable_cpus": 1})
	if len(fs) != 1 || fs[0].Evidence["gomaxprocs"] != 2.0 {
		t.Errorf("GOMAXPROCS 2 over 1 CPU: %v", fs)
	}
	// Idle: a GOMAXPROCS below the CPUs that costs nothing is not flagged.
	if fs := appRunRule(t, appFixture(t, "lock"), "runtime.gomaxprocs", map[string]any{"usable_cpus": 8}); len(fs) != 0 {
		t.Errorf("lock (mostly waiting): %v", fs)
	}
}

// TestRuntimeGOMAXPROCSAttachWindow: attach's readings carry no profiles
// (p takes one on demand), so the profiles' target cannot say the service
// runs on advisor's host; the window's ServiceCPUs (its metrics served on
// loopback) does, and the rule finds GOMAXPROCS 1 from the first readings.
func TestRuntimeGOMAXPROCSAttachWindow(t *testing.T) {
	in := appFixture(t, "gomaxprocs")
	in.Window.Profiles = nil
	if fs := appRunRule(t, in, "runtime.gomaxprocs", nil); len(fs) != 0 && *in.Window.Metrics.Process.CPUCores < 0.8 {
		t.Fatalf("no profiles, no service host: the CPUs are unknown and the process not busy: %v", fs)
	}
	in = appFixture(t, "gomaxprocs")
	in.Window.Profiles = nil
	in.Window.ServiceCPUs = 2
	fs := appRunRule(t, in, "runtime.gomaxprocs", nil)
	if len(fs) != 1 || fs[0].Evidence["usable_cpus"] != 2.0 || !strings.HasPrefix(fs[0].Evidence["usable_cpus_source"].(string), "host CPUs") {
		t.Fatalf("attach's window with the service on this host: %v", fs)
	}
	tuned := appFixture(t, "tuned")
	tuned.Window.Profiles = nil
	tuned.Window.ServiceCPUs = 2
	if fs := appRunRule(t, tuned, "runtime.gomaxprocs", nil); len(fs) != 0 {
		t.Errorf("tuned, GOMAXPROCS at the host's 2 CPUs: %v", fs)
	}
}

func TestRuntimeLoopback(t *testing.T) {
	for target, want := range map[string]bool{
		"http://127.0.0.1:8080": true, "http://localhost:6060/debug/pprof": true, "http://[::1]:80": true,
		"https://api.example.com": false, "http://10.0.0.5:8080": false, "": false,
	} {
		if got := runtimeLoopback(target); got != want {
			t.Errorf("%q: %v", target, got)
		}
	}
}

func TestRuntimeGCPressureFixture(t *testing.T) {
	fs := appRunRule(t, appFixture(t, "gc"), "runtime.gc-pressure", nil)
	if len(fs) != 1 {
		t.Fatalf("%d findings, want 1", len(fs))
	}
	f := fs[0]
	if f.Evidence["gogc_percent"] != 5.0 || f.Evidence["gc_cpu_share"].(float64) < 0.1 {
		t.Errorf("%v", f.Evidence)
	}
	if f.Fix.Config["GOGC"] != "200" || !strings.Contains(f.Fix.Config["GOMEMLIMIT"], "MiB") || !strings.Contains(f.Fix.Summary, "now 5") {
		t.Errorf("fix %+v", f.Fix)
	}
	for _, mode := range []string{"tuned", "blocking", "lock"} {
		if fs := appRunRule(t, appFixture(t, mode), "runtime.gc-pressure", nil); len(fs) != 0 {
			t.Errorf("%s: %v", mode, fs[0].Evidence)
		}
	}
}
