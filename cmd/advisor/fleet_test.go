package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/pgadvisor/advisor/internal/probe/fleet/promtest"
)

// TestReportFleetThroughPrometheus runs advisor report against three
// instances scraped by a real prometheus, the second given most of the load
// and a slower build: the report counts the instances, reads the metrics
// via prometheus and names the imbalanced instance.
func TestReportFleetThroughPrometheus(t *testing.T) {
	t.Parallel() // synthetic targets and a Prometheus of its own
	specs := []promtest.Spec{
		{RPS: 20, Latency: 20 * time.Millisecond, CPU: 0.2, PoolMax: 10, PoolInUse: 2, Version: "1.4.0"},
		{RPS: 80, Latency: 300 * time.Millisecond, CPU: 0.9, PoolMax: 10, PoolInUse: 9, Version: "1.5.0"},
		{RPS: 20, Latency: 20 * time.Millisecond, CPU: 0.2, PoolMax: 10, PoolInUse: 2, Version: "1.4.0"},
	}
	var addrs []string
	for _, s := range specs {
		addrs = append(addrs, promtest.NewTarget(t, s).Addr)
	}
	srv := promtest.Start(t, addrs)
	srv.WaitSamples(t, 3, 5*time.Second)

	code, out, stderr := runCaptured(t, "report", "--no-config", "--prometheus", srv.URL, "--selector", `job="svc"`,
		"--window", "4s", "--profile-seconds", "0", "--format", "json", "--fail-on", "never")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var rep struct {
		Sources map[string]struct {
			Status    string `json:"status"`
			Detail    string `json:"detail"`
			Via       string `json:"via"`
			Instances int    `json:"instances"`
		} `json:"sources"`
		Findings []struct {
			Rule     string         `json:"rule"`
			Subject  string         `json:"subject"`
			Title    string         `json:"title"`
			Evidence map[string]any `json:"evidence"`
		} `json:"findings"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	m := rep.Sources["metrics"]
	if m.Status != "ok" || m.Via != "prometheus" || m.Instances != 3 {
		t.Errorf("sources.metrics = %+v", m)
	}
	// No pprof is served by these targets: the busiest instance was picked
	// and its pprof is a source line, not a crash.
	if p := rep.Sources["pprof"]; p.Status == "ok" {
		t.Errorf("pprof = %+v", p)
	}
	var found bool
	for _, f := range rep.Findings {
		if f.Rule != "service.imbalance" {
			continue
		}
		if f.Subject != "instance "+addrs[1] {
			t.Errorf("imbalance names %q, want %s: %s", f.Subject, addrs[1], f.Title)
			continue
		}
		found = true
		if !strings.Contains(f.Evidence["causes"].(string), "a different version (1.5.0") {
			t.Errorf("causes %v", f.Evidence["causes"])
		}
	}
	if !found {
		t.Errorf("no service.imbalance on %s: %s", addrs[1], out)
	}

	// The text report's sources line says how the metrics were read.
	code, out, stderr = runCaptured(t, "report", "--no-config", "--prometheus", srv.URL, "--selector", `job="svc"`,
		"--window", "2s", "--profile-seconds", "0", "--fail-on", "never")
	if code != 0 || !strings.Contains(out, "via prometheus "+srv.URL+", 3 instances") {
		t.Errorf("exit %d: %s\n%s", code, out, stderr)
	}
	t.Logf("%s", out)
}

func TestReportFleetFaults(t *testing.T) {
	t.Run("prometheus down", func(t *testing.T) {
		code, out, stderr := runCaptured(t, "report", "--no-config", "--prometheus", "http://127.0.0.1:1", "--selector", `job="svc"`,
			"--window", "1s", "--format", "json")
		if code != exitNoSource || !strings.Contains(out, "cannot reach http://127.0.0.1:1") {
			t.Errorf("exit %d, stdout %s, stderr %s", code, out, stderr)
		}
	})
	t.Run("selector without prometheus", func(t *testing.T) {
		code, _, stderr := runCaptured(t, "report", "--no-config", "--selector", `job="svc"`, "--pg", "postgres://x@127.0.0.1:1/x")
		if code != exitUsage || !strings.Contains(stderr, "--prometheus") {
			t.Errorf("exit %d, stderr %s", code, stderr)
		}
	})
	t.Run("prometheus without selector", func(t *testing.T) {
		code, _, stderr := runCaptured(t, "report", "--no-config", "--prometheus", "http://127.0.0.1:1")
		if code != exitUsage || !strings.Contains(stderr, "selector") {
			t.Errorf("exit %d, stderr %s", code, stderr)
		}
	})
}
