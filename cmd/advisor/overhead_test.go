package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pgadvisor/advisor/internal/load"
	"github.com/pgadvisor/advisor/internal/stack/stacktest"
	"github.com/pgadvisor/advisor/sampleapp"
)

// BenchmarkAttachOverhead measures what advisor attach costs the service it
// watches: the tuned sampleapp (a process of its own) under the sample load,
// with and without `advisor attach --headless` (the built binary, a process
// of its own as in production) at its default interval polling it, its
// PostgreSQL and its Redis, in adjacent runs on the same machine, the order
// alternating from pair to pair. It reports the median throughput of each,
// the ratio of those medians and the median of the pairs' ratios, which
// cancels the machine's drift (the target is at least 0.98).
// ADVISOR_OVERHEAD_PAIRS sets the number of pairs (default 8);
// ADVISOR_ATTACH_ARGS adds flags to every attach (such as "--sample-every 0",
// attach without its fast first seconds, to compare).
//
//	go test -run '^$' -bench AttachOverhead -benchtime 1x ./cmd/advisor/
func BenchmarkAttachOverhead(b *testing.B) {
	const (
		runLength   = 10 * time.Second
		connections = 16
	)
	pairs := 8
	if v := os.Getenv("ADVISOR_OVERHEAD_PAIRS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			b.Fatalf("ADVISOR_OVERHEAD_PAIRS=%q: want a positive number", v)
		}
		pairs = n
	}
	info := stacktest.Start(b)
	dsn := stacktest.NewDatabase(b, "attach_overhead")
	ctx := context.Background()
	if _, err := sampleapp.Seed(ctx, dsn, sampleapp.TestSize, true); err != nil {
		b.Fatal(err)
	}
	// No job workers: the orders' follow-up work (PDFs) left by one run
	// would take CPU from the next.
	svc := startSampleapp(ctx, b, dsn, info.RedisAddr, "--profile", "tuned", "--cache-namespace", "overhead", "--workers", "-1")
	base := svc.base
	advisorBin := buildAdvisor(ctx, b)
	mix, vars, header := sampleapp.LoadMix(sampleapp.TestSize)
	extra := strings.Fields(os.Getenv("ADVISOR_ATTACH_ARGS"))
	measure := func(withAttach bool) float64 {
		var attach *exec.Cmd
		var attachErr strings.Builder
		if withAttach {
			attach = exec.CommandContext(ctx, advisorBin, append([]string{"attach", "--headless", "--duration", (runLength + 2*time.Second).String(),
				"--target", base, "--pg", dsn, "--redis", info.RedisAddr}, extra...)...)
			attach.Stderr = &attachErr
			if err := attach.Start(); err != nil {
				b.Fatal(err)
			}
		}
		// The same pause before both: attach's first snapshot, and idle
		// time for PostgreSQL either way.
		time.Sleep(time.Second)
		res, err := load.Run(ctx, load.Config{BaseURL: base, Mix: mix, Vars: vars, Header: header,
			Connections: connections, Duration: runLength})
		if attach != nil {
			if err := attach.Wait(); err != nil {
				b.Errorf("attach: %v: %s", err, attachErr.String())
			}
			if n := len(headlessLine.FindAllString(attachErr.String(), -1)); n < int(runLength/(4*time.Second)) {
				b.Errorf("attach analysed %d times in %s:\n%s", n, runLength, attachErr.String())
			}
		}
		if err != nil {
			b.Fatal(err)
		}
		if res.Errors > 0 {
			b.Fatalf("%d errors: %v", res.Errors, res.ErrorsByKind)
		}
		return res.RPS
	}
	// Warm the service's caches and pools before measuring.
	measure(false)
	b.ResetTimer()

	// What attach's polling alone costs the target, without load: the CPU
	// time of the service's process and of the PostgreSQL and Redis server
	// processes over a stretch with attach polling, against the same
	// stretch without, alternating, and attach's own CPU time.
	const idle = 15 * time.Second
	var idleCost, attachCPU, attachRSS []float64
	idleRun := func(withAttach bool) float64 {
		before := targetCPU(b, svc.pid)
		if !withAttach {
			time.Sleep(idle)
			return targetCPU(b, svc.pid) - before
		}
		attach := exec.CommandContext(ctx, advisorBin, append([]string{"attach", "--headless", "--duration", idle.String(),
			"--target", base, "--pg", dsn, "--redis", info.RedisAddr}, extra...)...)
		if out, err := attach.CombinedOutput(); err != nil {
			b.Fatalf("attach: %v: %s", err, out)
		}
		st := attach.ProcessState
		attachCPU = append(attachCPU, (st.UserTime()+st.SystemTime()).Seconds()/idle.Seconds()*1000)
		if ru, ok := st.SysUsage().(*syscall.Rusage); ok {
			attachRSS = append(attachRSS, float64(ru.Maxrss)/1024) // KiB on Linux
		}
		return targetCPU(b, svc.pid) - before
	}
	for range 3 {
		without := idleRun(false)
		with := idleRun(true)
		idleCost = append(idleCost, (with-without)/idle.Seconds()*1000)
	}
	b.Logf("idle: target CPU added by attach, ms per s %.1f; attach's own CPU, ms per s %.1f", idleCost, attachCPU)
	b.ReportMetric(median(idleCost), "idle_target_cpu_ms/s")
	b.ReportMetric(median(attachCPU), "attach_cpu_ms/s")
	b.ReportMetric(median(attachRSS), "attach_maxrss_MB")

	var without, with, ratios []float64
	for i := 0; i < b.N; i++ {
		for p := 0; p < pairs; p++ {
			var wo, w float64
			// Alternate which goes first, so drift hits both alike.
			if p%2 == 0 {
				wo = measure(false)
				w = measure(true)
			} else {
				w = measure(true)
				wo = measure(false)
			}
			without, with, ratios = append(without, wo), append(with, w), append(ratios, w/wo)
		}
	}
	b.StopTimer()
	b.Logf("RPS without attach %.0f", without)
	b.Logf("RPS with attach    %.0f", with)
	b.Logf("pair ratios        %.3f", ratios)
	b.ReportMetric(median(without), "rps_without")
	b.ReportMetric(median(with), "rps_with")
	b.ReportMetric(median(with)/median(without), "ratio_of_medians")
	b.ReportMetric(median(ratios), "ratio")
	b.ReportMetric(float64(len(ratios)), "pairs")
}

// targetCPU is the CPU time, in seconds, used so far by the process pid and
// by every PostgreSQL and Redis server process on the machine, with the
// children they reaped (PostgreSQL backends that ended). Linux only.
func targetCPU(tb testing.TB, pid int) float64 {
	tb.Helper()
	dirs, err := filepath.Glob("/proc/[0-9]*/stat")
	if err != nil || len(dirs) == 0 {
		tb.Skipf("no /proc: %v", err)
	}
	const ticksPerSecond = 100 // USER_HZ on Linux
	var ticks int64
	for _, path := range dirs {
		data, err := os.ReadFile(path)
		if err != nil {
			continue // ended meanwhile
		}
		open, closing := bytes.IndexByte(data, '('), bytes.LastIndexByte(data, ')')
		if open < 0 || closing < open {
			continue
		}
		p, _ := strconv.Atoi(strings.TrimSpace(string(data[:open])))
		comm := string(data[open+1 : closing])
		if p != pid && comm != "postgres" && comm != "redis-server" {
			continue
		}
		// After "(comm) ": state is field 3; utime, stime, cutime, cstime
		// are fields 14 to 17.
		f := strings.Fields(string(data[closing+1:]))
		for _, i := range []int{14, 15, 16, 17} {
			n, _ := strconv.ParseInt(f[i-3], 10, 64)
			ticks += n
		}
	}
	return float64(ticks) / ticksPerSecond
}
