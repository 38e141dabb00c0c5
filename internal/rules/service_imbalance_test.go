package rules

import (
	"strings"
	"testing"
	"time"

	"github.com/pgadvisor/advisor/internal/probe"
	"github.com/pgadvisor/advisor/internal/probe/fleet"
	"github.com/pgadvisor/advisor/internal/probe/metrics"
)

// fleetWindow is a window whose metrics came through Prometheus, with
// these instances.
func fleetWindow(instances ...fleet.Instance) *probe.Window {
	w := svcWindow{lang: "go", rps: 100, meanS: 0.02, cpu: 1, maxConnections: "100",
		sessions: []int{10, 10}, active: []int{1, 1}}.window()
	w.Fleet = &fleet.Fleet{Prometheus: "http://prom:9090", Selector: `job="api"`, Range: 10 * time.Second, Instances: instances}
	return w
}

func inst(name string, rps, p95ms float64, version string) fleet.Instance {
	return fleet.Instance{Name: name, Up: true, RPS: rps, P95Seconds: p95ms / 1000, HasP95: true,
		CPUCores: rps / 100, HasCPU: true, PoolMax: 10, PoolInUse: 2, HasPool: true, Version: version}
}

func TestServiceImbalance(t *testing.T) {
	t.Run("busy and slow, a different version", func(t *testing.T) {
		w := fleetWindow(inst("a:8080", 20, 22, "1.4.0"), inst("b:8080", 80, 480, "1.5.0"), inst("c:8080", 21, 25, "1.4.0"))
		fs := appRunRule(t, &Input{Window: w}, "service.imbalance", nil)
		if len(fs) != 1 {
			t.Fatalf("%d findings, want 1: %+v", len(fs), fs)
		}
		f := fs[0]
		t.Logf("%s\n%s", f.Title, f.Fix.Summary)
		if f.Subject != "instance b:8080" || f.Evidence["kind"] != "rate and latency" {
			t.Errorf("subject %q, evidence %v", f.Subject, f.Evidence)
		}
		for _, s := range []string{"b:8080", "80 req/s", "median of 20.5"} {
			if !strings.Contains(f.Title, s) {
				t.Errorf("title %q lacks %q", f.Title, s)
			}
		}
		for _, s := range []string{"a different version (1.5.0, the others run 1.4.0)", "sticky sessions", "noisy neighbour"} {
			if !strings.Contains(f.Fix.Summary, s) {
				t.Errorf("fix lacks %q", s)
			}
		}
	})
	t.Run("slow only", func(t *testing.T) {
		w := fleetWindow(inst("a", 20, 22, ""), inst("b", 20, 30, ""), inst("c", 21, 120, ""))
		fs := appRunRule(t, &Input{Window: w}, "service.imbalance", nil)
		if len(fs) != 1 || fs[0].Subject != "instance c" || fs[0].Evidence["kind"] != "latency" {
			t.Fatalf("findings %+v", fs)
		}
		if c := fs[0].Evidence["causes"].(string); strings.Contains(c, "sticky") || !strings.Contains(c, "noisy neighbour") {
			t.Errorf("a slow instance at the same rate: causes %q", c)
		}
	})
	t.Run("gone instances are not compared", func(t *testing.T) {
		gone := inst("d", 0, 0, "")
		gone.Gone, gone.Up = true, false
		w := fleetWindow(inst("a", 20, 22, ""), inst("b", 22, 24, ""), gone)
		if fs := appRunRule(t, &Input{Window: w}, "service.imbalance", nil); len(fs) != 0 {
			t.Errorf("findings %+v", fs)
		}
	})
}

func TestServiceImbalanceNoFalsePositive(t *testing.T) {
	for name, w := range map[string]*probe.Window{
		"even fleet":       fleetWindow(inst("a", 20, 22, "1"), inst("b", 26, 30, "1"), inst("c", 18, 25, "1")),
		"one instance":     fleetWindow(inst("a", 200, 900, "1")),
		"quiet":            fleetWindow(inst("a", 0.1, 5, ""), inst("b", 0.9, 15, ""), inst("c", 0.2, 4, "")),
		"not a fleet":      svcWindow{lang: "go", rps: 100, meanS: 0.02, cpu: 1}.window(),
		"fast outlier p95": fleetWindow(inst("a", 20, 2, ""), inst("b", 20, 2, ""), inst("c", 20, 9, "")),
	} {
		if fs := appRunRule(t, &Input{Window: w}, "service.imbalance", nil); len(fs) != 0 {
			t.Errorf("%s: %+v", name, fs)
		}
	}
}

func TestPoolBudgetFleet(t *testing.T) {
	// Sessions are low now, but 10 instances x 10 connections exceed the
	// 97 PostgreSQL allows.
	var instances []fleet.Instance
	for i := range 10 {
		instances = append(instances, inst(string(rune('a'+i)), 10, 20, ""))
	}
	w := fleetWindow(instances...)
	fs := appRunRule(t, &Input{Window: w}, "pool.budget", nil)
	if len(fs) != 1 {
		t.Fatalf("%d findings, want 1", len(fs))
	}
	f := fs[0]
	t.Logf("%s\n%s", f.Title, f.Fix.Summary)
	if f.Evidence["fleet_pool_max"] != 100 || f.Evidence["instances"] != 10 {
		t.Errorf("evidence %v", f.Evidence)
	}
	if !strings.Contains(f.Title, "10 instances x 10 pool connections (100)") {
		t.Errorf("title %q", f.Title)
	}
	// Five instances fit.
	w = fleetWindow(instances[:5]...)
	if fs := appRunRule(t, &Input{Window: w}, "pool.budget", nil); len(fs) != 0 {
		t.Errorf("50 of 97: %+v", fs)
	}
}

// TestInternalHopsAcrossAFleet: each instance of a fleet calling itself by
// address is a host of its own in the summed metrics, each with a third of
// the hops; merged, they are one internal hop per request.
func TestInternalHopsAcrossAFleet(t *testing.T) {
	hosts := []string{"10.0.0.1:8080", "10.0.0.2:8080", "10.0.0.3:8080"}
	var instances []fleet.Instance
	m := &metrics.Window{Seconds: 10, RPS: 30, Requests: 300,
		Routes: []metrics.RouteRate{{Route: "/feed", Method: "GET", Requests: 300, RPS: 30, HasLatency: true,
			Latency: metrics.Latency{Count: 300, Mean: 0.1}}}}
	for _, h := range hosts {
		instances = append(instances, inst(h, 10, 100, ""))
		m.Outbound = append(m.Outbound, metrics.OutboundRate{Host: h, Calls: 100, PerSec: 10, HasLatency: true,
			Latency: metrics.Latency{Count: 100, Mean: 0.03}})
	}
	w := &probe.Window{Seconds: 10, Metrics: m}
	// Without the fleet the hosts count together too (a third of a hop
	// each), named one by one.
	if fs := appRunRule(t, &Input{Window: w}, "app.internal-hops", nil); len(fs) != 1 || fs[0].Evidence["hosts"] != 3 {
		t.Fatalf("no fleet: a third of a hop per request to each of 3 hosts, want one finding naming them: %+v", fs)
	}
	w.Fleet = &fleet.Fleet{Range: 10 * time.Second, Instances: instances}
	fs := appRunRule(t, &Input{Window: w}, "app.internal-hops", nil)
	if len(fs) != 1 || fs[0].Evidence["host"] != "the fleet's own instances" || fs[0].Evidence["hops_per_request"] != 1.0 {
		t.Fatalf("findings %+v", fs)
	}
}
