package probe

import (
	"math"
	"os"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/pgadvisor/advisor/internal/probe/metrics"
)

// TestCPUPressure reads /proc/pressure/cpu as a Linux 6 kernel wrote it
// (a shared 2-core machine under load), and the share of a window during
// which some task waited for a CPU.
func TestCPUPressure(t *testing.T) {
	b, err := os.ReadFile("testdata/proc-pressure-cpu.txt")
	if err != nil {
		t.Fatal(err)
	}
	total, ok := parseCPUPressure(string(b))
	if !ok || total != 7320810320 {
		t.Fatalf("some total %d, %v; want 7320810320 (the \"some\" line, not \"full\")", total, ok)
	}
	if _, ok := parseCPUPressure("cpu  1 2 3\n"); ok {
		t.Error("a text without a some line parsed")
	}
	t0 := time.Unix(1000, 0)
	prev := &hostCPUTimes{at: t0, stalledUS: total, hasPressure: true}
	cur := &hostCPUTimes{at: t0.Add(4 * time.Second), stalledUS: total + 1_000_000, hasPressure: true}
	if p := hostCPUPressure(prev, cur); p == nil || *p != 0.25 {
		t.Errorf("1 s stalled of 4: %v, want 0.25", p)
	}
	for name, c := range map[string]*hostCPUTimes{
		"no pressure information": {at: cur.at, stalledUS: cur.stalledUS},
		"same instant":            {at: t0, stalledUS: cur.stalledUS, hasPressure: true},
		"counter went back":       {at: cur.at, stalledUS: 5, hasPressure: true},
	} {
		if p := hostCPUPressure(prev, c); p != nil {
			t.Errorf("%s: %v, want unknown", name, *p)
		}
	}
}

// TestOwnTicks reads a process's CPU ticks from a /proc/<pid>/stat line as
// Linux 6 wrote it, for a program whose name holds spaces and parentheses
// (yes, copied as "a (b) c", after 0.8 s: 25 user and 29 system ticks), and
// advisor's share of the host's CPUs between two readings.
func TestOwnTicks(t *testing.T) {
	b, err := os.ReadFile("testdata/proc-pid-stat.txt")
	if err != nil {
		t.Fatal(err)
	}
	if n, ok := parseOwnTicks(string(b)); !ok || n != 54 {
		t.Errorf("ticks %d, %v; want 25 + 29", n, ok)
	}
	for _, bad := range []string{"", "12 (x) S 1 2", "12 no parentheses S 1 2 3 4 5 6 7 8 9 10 11 12 13"} {
		if _, ok := parseOwnTicks(bad); ok {
			t.Errorf("%q parsed", bad)
		}
	}
	// 2 CPUs, 400 ticks of them between the readings, 50 of advisor's.
	prev := &hostCPUTimes{total: 1000, own: 100, hasOwn: true}
	cur := &hostCPUTimes{total: 1400, own: 150, hasOwn: true}
	if c := ownCores(prev, cur, 2); c != 0.25 {
		t.Errorf("own cores %v, want 0.25", c)
	}
	if c := ownCores(prev, &hostCPUTimes{total: 1400}, 2); c != 0 {
		t.Errorf("without the second reading: %v", c)
	}
	if n, ok := parseOwnTicks(mustRead(t, "/proc/self/stat")); !ok || n == 0 {
		t.Errorf("this process's ticks: %d, %v", n, ok)
	}
}

// TestServedByAdvisor: this process's start time is the one Prometheus's
// process collector exports, so that a service served from advisor's own
// process (a test's sampleapp) is told from one in a process of its own.
func TestServedByAdvisor(t *testing.T) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var start float64
	for _, f := range fams {
		if f.GetName() == "process_start_time_seconds" {
			start = f.GetMetric()[0].GetGauge().GetValue()
		}
	}
	own, ok := ownStartTime()
	if !ok || start == 0 || math.Abs(own-start) > 0.01 {
		t.Fatalf("own start %v (%v), the collector's %v", own, ok, start)
	}
	m := &metrics.Snapshot{Process: metrics.Process{StartTimeSeconds: &start}}
	if !servedByAdvisor(m) {
		t.Error("a service with advisor's start time is not served by advisor")
	}
	other := start - 3600
	if servedByAdvisor(&metrics.Snapshot{Process: metrics.Process{StartTimeSeconds: &other}}) || servedByAdvisor(&metrics.Snapshot{}) || servedByAdvisor(nil) {
		t.Error("another process, or one without a start time, is served by advisor")
	}
}

func mustRead(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestProcsRunning reads procs_running from /proc/stat as a Linux 6
// kernel wrote it (a 2-core machine with four busy loops and the reader:
// 5), less the reader itself; and the host's cpu line beside it.
func TestProcsRunning(t *testing.T) {
	b, err := os.ReadFile("testdata/proc-stat.txt")
	if err != nil {
		t.Fatal(err)
	}
	if n, ok := parseProcsRunning(string(b)); !ok || n != 4 {
		t.Errorf("procs_running less the reader: %d, %v; want 4", n, ok)
	}
	for name, text := range map[string]string{
		"no line":     "cpu  1 2 3 4\nprocs_blocked 0\n",
		"not a count": "procs_running x\n",
		"zero":        "procs_running 0\n",
	} {
		if n, ok := parseProcsRunning(text); ok {
			t.Errorf("%s: %d read", name, n)
		}
	}
}

// TestSessionHostRunnable: a window's run queue is the mean of the
// readings from its start to its end, the snapshots' and those taken
// between them; the interval window has those since the previous
// snapshot. A service on another host has none.
func TestSessionHostRunnable(t *testing.T) {
	snap := func(s, tasks int) *Snapshot {
		sn := redisAt(s)
		sn.ServiceCPUs = 2
		sn.hostCPU = &hostCPUTimes{at: at(s), runnable: tasks, hasRunnable: true}
		return sn
	}
	s := NewSession(SessionOptions{AnalysisSpan: 10 * time.Second})
	s.Keep(snap(0, 2))
	between := []RunnableReading{{Time: at(1), Tasks: 8}, {Time: at(2), Tasks: 10}, {Time: at(3), Tasks: 6}}
	step := s.Add(snap(4, 4), Extra{Runnable: between})
	// 2, 8, 10, 6, 4.
	if w := step.Analysis; w.HostRunnable != 6 || w.HostRunnableReadings != 5 {
		t.Errorf("analysis window: %.2f tasks over %d readings, want 6 over 5", w.HostRunnable, w.HostRunnableReadings)
	}
	step = s.Add(snap(6, 9), Extra{})
	// The analysis window from second 0 (2, 8, 10, 6, 4, 9); the interval
	// from second 4 (4, 9).
	if w := step.Analysis; w.HostRunnable != 39.0/6 || w.HostRunnableReadings != 6 {
		t.Errorf("analysis window: %.2f tasks over %d readings, want 6.5 over 6", w.HostRunnable, w.HostRunnableReadings)
	}
	if w := step.Interval; w.HostRunnable != 6.5 || w.HostRunnableReadings != 2 {
		t.Errorf("interval window: %.2f tasks over %d readings, want 6.5 over 2", w.HostRunnable, w.HostRunnableReadings)
	}
	remote := NewSession(SessionOptions{})
	remote.Keep(redisAt(0))
	if w := remote.Add(redisAt(2), Extra{Runnable: between}).Analysis; w.HostRunnable != 0 || w.HostRunnableReadings != 0 {
		t.Errorf("service on another host: %.2f tasks over %d readings", w.HostRunnable, w.HostRunnableReadings)
	}
}
