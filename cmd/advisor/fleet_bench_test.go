package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pgadvisor/advisor/internal/probe/fleet/promtest"
)

// fleet100 serves 100 lightweight instances from this process, one of them
// given four times the load of the others, scraped every second by a real
// prometheus, and waits until each has a few seconds of samples.
func fleet100(b *testing.B) *promtest.Server {
	b.Helper()
	var addrs []string
	for i := range 100 {
		spec := promtest.Spec{RPS: 10, Latency: 20 * time.Millisecond, CPU: 0.1, PoolMax: 10, PoolInUse: 2, Version: "1.4.0"}
		if i == 37 {
			spec.RPS, spec.CPU = 40, 0.4
		}
		addrs = append(addrs, promtest.NewTarget(b, spec).Addr)
	}
	srv := promtest.Start(b, addrs)
	srv.WaitSamples(b, len(addrs), 5*time.Second)
	return srv
}

// BenchmarkReportFleet100 runs advisor report --prometheus --window 5s on a
// fleet of 100 instances and reports how long each run took past its
// window (median and max over the runs): the time the aggregate, the
// per-instance queries and the rules take.
//
//	go test ./cmd/advisor -run '^$' -bench ReportFleet100 -benchtime 5x
func BenchmarkReportFleet100(b *testing.B) {
	srv := fleet100(b)
	const window = 5 * time.Second
	var past []float64
	for b.Loop() {
		start := time.Now()
		var out, stderr bytes.Buffer
		code := run(context.Background(), []string{"report", "--no-config", "--prometheus", srv.URL, "--selector", `job="svc"`,
			"--window", window.String(), "--profile-seconds", "0", "--format", "json", "--fail-on", "never"}, &out, &stderr)
		took := time.Since(start)
		var rep struct {
			Sources map[string]struct{ Instances int }
		}
		if err := json.Unmarshal(out.Bytes(), &rep); code != 0 || err != nil || rep.Sources["metrics"].Instances != 100 {
			b.Fatalf("exit %d (%v): %s\n%s", code, err, stderr.String(), out.String())
		}
		past = append(past, (took - window).Seconds())
	}
	slices.Sort(past)
	b.ReportMetric(past[len(past)/2], "s_past_window_median")
	b.ReportMetric(past[len(past)-1], "s_past_window_max")
	b.ReportMetric(0, "ns/op")
}

// BenchmarkAttachFleet100RSS runs advisor attach --headless on the fleet of
// 100 instances, as a process of its own, for ADVISOR_BENCH_ATTACH (default
// 1m; the figure is 10m) and samples its resident memory every 5 s:
// it reports the RSS at the end and the largest.
//
//	ADVISOR_BENCH_ATTACH=10m go test ./cmd/advisor -run '^$' -bench AttachFleet100RSS -benchtime 1x -timeout 20m
func BenchmarkAttachFleet100RSS(b *testing.B) {
	d := time.Minute
	if v := os.Getenv("ADVISOR_BENCH_ATTACH"); v != "" {
		var err error
		if d, err = time.ParseDuration(v); err != nil {
			b.Fatalf("ADVISOR_BENCH_ATTACH: %v", err)
		}
	}
	ctx := context.Background()
	bin := buildAdvisor(ctx, b)
	srv := fleet100(b)
	for b.Loop() {
		exportDir := b.TempDir()
		cmd := exec.Command(bin, "attach", "--headless", "--no-config", "--duration", d.String(), "--export-dir", exportDir,
			"--prometheus", srv.URL, "--selector", `job="svc"`)
		var stderr strings.Builder
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		var last, peak float64
		tick := time.NewTicker(5 * time.Second)
	wait:
		for {
			select {
			case err := <-done:
				if err != nil {
					b.Fatalf("attach: %v\n%s", err, stderr.String())
				}
				break wait
			case <-tick.C:
				if mb, ok := rssMB(cmd.Process.Pid); ok {
					last, peak = mb, max(peak, mb)
				}
			}
		}
		tick.Stop()
		// The last analysis read the whole fleet.
		reports, _ := filepath.Glob(filepath.Join(exportDir, "*.json"))
		if len(reports) == 0 {
			b.Fatalf("no report exported: %s", stderr.String())
		}
		data, err := os.ReadFile(reports[len(reports)-1])
		if err != nil {
			b.Fatal(err)
		}
		var rep struct {
			Sources map[string]struct{ Instances int }
		}
		if err := json.Unmarshal(data, &rep); err != nil || rep.Sources["metrics"].Instances != 100 {
			b.Fatalf("the last analysis saw %d instances (%v): %s", rep.Sources["metrics"].Instances, err, data[:min(len(data), 600)])
		}
		lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
		b.Logf("attach for %s: RSS %.1f MB at the end, %.1f MB at most; last line: %s", d, last, peak, lines[len(lines)-1])
		b.ReportMetric(last, "rss_end_MB")
		b.ReportMetric(peak, "rss_max_MB")
		b.ReportMetric(0, "ns/op")
	}
}

// rssMB is a process's VmRSS from /proc.
func rssMB(pid int) (float64, bool) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, false
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
			return kb / 1024, err == nil
		}
	}
	return 0, false
}
