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

	"github.com/jackc/pgx/v5"

	"github.com/pgadvisor/advisor/internal/load"
	"github.com/pgadvisor/advisor/internal/stack/stacktest"
	"github.com/pgadvisor/advisor/internal/ui"
	"github.com/pgadvisor/advisor/sampleapp"
	"github.com/pgadvisor/advisor/sampleapp/sampletest"
)

// BenchmarkAttachOverhead measures what advisor attach costs the service it
// watches: the tuned sampleapp (a process of its own) under the sample load,
// with and without `advisor attach --headless` (the built binary, a process
// of its own as in production) at its default settings polling it, its
// PostgreSQL and its Redis, in adjacent runs on the same machine, the order
// alternating from pair to pair.
//
// attach has two phases: over its first 20 s it reads every source every
// half second (so that the first findings come within seconds), then every
// interval. They are measured apart:
//   - the steady state (ratio; the target is at least 0.98): one attach,
//     started and left past its first seconds, is stopped (SIGSTOP: it
//     polls nothing, its connections stay open and idle) and continued
//     (SIGCONT) from run to run, so that the runs of a pair are short and
//     adjacent: on a shared machine whose throughput drifts by a fifth
//     from one 10 s run to the next, the drift between two runs 30 s apart
//     (a fresh attach for each pair) hid a cost of a few percent;
//   - the first seconds (ratio_first): a fresh attach for each pair, a run
//     over its first seconds against an adjacent run without it.
//
// Each reports the median throughput with and without and the median of the
// pairs' ratios, which cancels the machine's drift. Without load it reports
// the CPU that attach's polling adds to the service, PostgreSQL and Redis
// processes, and its own, in each phase.
//
// ADVISOR_OVERHEAD_PAIRS sets the number of steady-state pairs (default 16;
// the first seconds get a quarter as many, at least 2);
// ADVISOR_ATTACH_ARGS adds flags to every attach (such as "--sample-every 0",
// attach without its fast first seconds and the goroutine dumps between
// readings, to compare).
//
//	go test -run '^$' -bench 'AttachOverhead$' -benchtime 1x -timeout 30m ./cmd/advisor/
func BenchmarkAttachOverhead(b *testing.B) {
	const (
		runLength   = 5 * time.Second
		connections = 16
		// settle is the pause before each run: attach's first snapshot,
		// and idle time for PostgreSQL either way.
		settle = time.Second
		// steadyAt is when the steady-state run starts, from attach's
		// start: past its fast first seconds and one reading more.
		steadyAt = ui.DefaultSampleFor + ui.DefaultInterval
	)
	pairs := overheadPairs(b)
	info := stacktest.Start(b)
	dsn := sampletest.Database(b, "attach_overhead", sampleapp.TestSize)
	ctx := context.Background()
	settleDatabase(ctx, b, dsn)
	// No job workers: the orders' follow-up work (PDFs) left by one run
	// would take CPU from the next.
	svc := sampletest.StartProcess(ctx, b, dsn, info.RedisAddr, "--profile", "tuned", "--cache-namespace", "overhead", "--workers", "-1")
	base := svc.Base
	advisorBin := buildAdvisor(ctx, b)
	mix, vars, header := sampleapp.LoadMix(sampleapp.TestSize)
	extra := strings.Fields(os.Getenv("ADVISOR_ATTACH_ARGS"))
	startAttach := func(d time.Duration, stderr *strings.Builder) *exec.Cmd {
		attach := exec.CommandContext(ctx, advisorBin, append([]string{"attach", "--headless", "--duration", d.String(),
			"--target", base, "--pg", dsn, "--redis", info.RedisAddr}, extra...)...)
		attach.Stderr = stderr
		if err := attach.Start(); err != nil {
			b.Fatal(err)
		}
		return attach
	}
	// loadRun runs the load; it returns the throughput and the CPU the
	// service, PostgreSQL and Redis spent per request (ms), which the
	// machine's drift moves far less than the throughput.
	loadRun := func() loadStat {
		time.Sleep(settle)
		before := targetCPU(b, svc.PID)
		res, err := load.Run(ctx, load.Config{BaseURL: base, Mix: mix, Vars: vars, Header: header,
			Connections: connections, Duration: runLength})
		if err != nil {
			b.Fatal(err)
		}
		if res.Errors > 0 {
			b.Fatalf("%d errors: %v", res.Errors, res.ErrorsByKind)
		}
		requests := float64(max(res.Requests, 1))
		return loadStat{rps: res.RPS, requests: requests, cpuMS: (targetCPU(b, svc.PID) - before) * 1000 / requests}
	}
	// firstSeconds runs the load over a fresh attach's first seconds.
	firstSeconds := func() loadStat {
		var stderr strings.Builder
		attach := startAttach(settle+runLength+2*time.Second, &stderr)
		st := loadRun()
		if err := attach.Wait(); err != nil {
			b.Errorf("attach: %v: %s", err, stderr.String())
		}
		return st
	}
	b.ResetTimer()

	// What attach's polling alone costs the target, without load: the CPU
	// time of the service's process and of the PostgreSQL and Redis server
	// processes over a stretch with attach polling, in each phase, against
	// the same stretch without, alternating, and attach's own CPU time.
	const idle = 15 * time.Second
	var idleFirst, idleSteady, attachFirst, attachSteady, attachRSS []float64
	perSecond := func(cpu float64) float64 { return cpu / idle.Seconds() * 1000 }
	for range 3 {
		before := targetCPU(b, svc.PID)
		time.Sleep(idle)
		without := targetCPU(b, svc.PID) - before

		var stderr strings.Builder
		start := time.Now()
		before = targetCPU(b, svc.PID)
		attach := startAttach(steadyAt+idle, &stderr)
		time.Sleep(idle)
		first, attachCPU := targetCPU(b, svc.PID)-before, procCPU(b, attach.Process.Pid)
		time.Sleep(time.Until(start.Add(steadyAt)))
		before, attachBefore := targetCPU(b, svc.PID), procCPU(b, attach.Process.Pid)
		time.Sleep(idle - 500*time.Millisecond) // attach stops at steadyAt+idle
		steady, attachAfter := targetCPU(b, svc.PID)-before, procCPU(b, attach.Process.Pid)
		if err := attach.Wait(); err != nil {
			b.Fatalf("attach: %v: %s", err, stderr.String())
		}
		idleFirst = append(idleFirst, perSecond(first-without))
		idleSteady = append(idleSteady, perSecond(steady-without))
		attachFirst = append(attachFirst, perSecond(attachCPU))
		attachSteady = append(attachSteady, (attachAfter-attachBefore)/(idle-500*time.Millisecond).Seconds()*1000)
		if ru, ok := attach.ProcessState.SysUsage().(*syscall.Rusage); ok {
			attachRSS = append(attachRSS, float64(ru.Maxrss)/1024) // KiB on Linux
		}
	}
	b.Logf("idle, first %s: target CPU added by attach, ms per s %.1f; attach's own CPU, ms per s %.1f", ui.DefaultSampleFor, idleFirst, attachFirst)
	b.Logf("idle, steady state: target CPU added by attach, ms per s %.1f; attach's own CPU, ms per s %.1f", idleSteady, attachSteady)
	b.ReportMetric(median(idleSteady), "idle_target_cpu_ms/s")
	b.ReportMetric(median(attachSteady), "attach_cpu_ms/s")
	b.ReportMetric(median(idleFirst), "idle_target_cpu_first_ms/s")
	b.ReportMetric(median(attachFirst), "attach_cpu_first_ms/s")
	b.ReportMetric(median(attachRSS), "attach_maxrss_MB")

	// Warm the service's caches and pools before measuring under load
	// (after the idle measurements: the orders it inserts wake autovacuum).
	loadRun()
	// inTurn runs a pair, the run without attach first in even pairs, so
	// that drift hits both alike.
	inTurn := func(p int, without, with func() loadStat) (wo, w loadStat) {
		if p%2 == 0 {
			wo = without()
			return wo, with()
		}
		w = with()
		return without(), w
	}
	var without, withFirst, withSteady, ratios, ratiosFirst, attachLoaded, costRatios []float64
	for i := 0; i < b.N; i++ {
		// The first seconds: a fresh attach for each pair.
		for p := range max(2, pairs/4) {
			wo, first := inTurn(p, loadRun, firstSeconds)
			withFirst, ratiosFirst = append(withFirst, first.rps), append(ratiosFirst, first.rps/wo.rps)
		}

		// The steady state: one attach, stopped for the runs without it.
		var stderr strings.Builder
		start := time.Now()
		attach := startAttach(steadyAt+time.Duration(pairs)*2*(settle+runLength+time.Second), &stderr)
		time.Sleep(time.Until(start.Add(steadyAt)))
		signal := func(sig syscall.Signal) {
			if err := attach.Process.Signal(sig); err != nil {
				b.Fatalf("attach: %s: %v", sig, err)
			}
		}
		var running time.Duration
		withAttach := func() loadStat {
			t, cpu := time.Now(), procCPU(b, attach.Process.Pid)
			signal(syscall.SIGCONT)
			st := loadRun()
			d := time.Since(t)
			running += d
			used := procCPU(b, attach.Process.Pid) - cpu
			attachLoaded = append(attachLoaded, used/d.Seconds()*1000)
			st.attachMS = used * 1000 / st.requests
			return st
		}
		withoutAttach := func() loadStat {
			signal(syscall.SIGSTOP)
			return loadRun()
		}
		for p := range pairs {
			wo, with := inTurn(p, withoutAttach, withAttach)
			without, withSteady, ratios = append(without, wo.rps), append(withSteady, with.rps), append(ratios, with.rps/wo.rps)
			// What a request costs the machine with attach (the target's
			// CPU and attach's own) against without: on a host whose CPUs
			// are the bottleneck, throughput falls by this factor's inverse.
			if wo.cpuMS > 0 {
				costRatios = append(costRatios, (with.cpuMS+with.attachMS)/wo.cpuMS)
			}
		}
		signal(syscall.SIGCONT)
		if err := attach.Process.Signal(os.Interrupt); err != nil {
			b.Fatalf("attach: %v", err)
		}
		if err := attach.Wait(); err != nil {
			b.Errorf("attach: %v: %s", err, stderr.String())
		}
		// It analysed as often while running as it does unstopped.
		if n := len(headlessLine.FindAllString(stderr.String(), -1)); n < int((steadyAt+running)/(4*time.Second)) {
			b.Errorf("attach analysed %d times in %s running:\n%s", n, (steadyAt + running).Round(time.Second), stderr.String())
		}
	}
	b.StopTimer()
	b.Logf("RPS without attach               %.0f", without)
	b.Logf("RPS with attach, steady state    %.0f", withSteady)
	b.Logf("RPS with attach, first seconds   %.0f", withFirst)
	b.Logf("pair ratios, steady state        %.3f", ratios)
	b.Logf("pair ratios, first seconds       %.3f", ratiosFirst)
	b.Logf("attach's own CPU under load, steady state, ms per s %.1f", attachLoaded)
	b.Logf("CPU per request with / without, steady state %.3f", costRatios)
	b.ReportMetric(median(without), "rps_without")
	b.ReportMetric(median(withSteady), "rps_with")
	b.ReportMetric(median(withSteady)/median(without), "ratio_of_medians")
	b.ReportMetric(median(attachLoaded), "attach_cpu_load_ms/s")
	b.ReportMetric(median(ratios), "ratio")
	b.ReportMetric(median(costRatios), "cpu_cost_ratio")
	b.ReportMetric(median(ratiosFirst), "ratio_first")
	b.ReportMetric(float64(len(ratios)), "pairs")
	b.ReportMetric(float64(len(ratiosFirst)), "pairs_first")
}

// overheadPairs is ADVISOR_OVERHEAD_PAIRS, the pairs of runs an overhead
// benchmark measures, 16 without it.
func overheadPairs(b *testing.B) int {
	v := os.Getenv("ADVISOR_OVERHEAD_PAIRS")
	if v == "" {
		return 16
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		b.Fatalf("ADVISOR_OVERHEAD_PAIRS=%q: want a positive number", v)
	}
	return n
}

// settleDatabase vacuums and checkpoints freshly copied data, so that
// autovacuum and the checkpointer do not work through it while an
// overhead benchmark measures.
func settleDatabase(ctx context.Context, b *testing.B, dsn string) {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close(ctx)
	for _, sql := range []string{"VACUUM (ANALYZE)", "CHECKPOINT"} {
		if _, err := conn.Exec(ctx, sql); err != nil {
			b.Fatalf("%s: %v", sql, err)
		}
	}
}

// loadStat is one load run of BenchmarkAttachOverhead: its throughput, the
// requests it completed, the CPU time per request (ms) of the service,
// PostgreSQL and Redis, and attach's own per request in a run with it.
type loadStat struct {
	rps, requests, cpuMS, attachMS float64
}

// procStat is one /proc/PID/stat line: the process's pid and command, and
// its CPU time in seconds, its own (utime, stime: fields 14 and 15) and
// with that of the children it reaped (cutime, cstime: 16 and 17).
type procStat struct {
	pid               int
	comm              string
	own, withChildren float64
}

func parseProcStat(data []byte) (procStat, bool) {
	open, closing := bytes.IndexByte(data, '('), bytes.LastIndexByte(data, ')')
	if open < 0 || closing < open {
		return procStat{}, false
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(data[:open])))
	// After "(comm) " the state is field 3.
	f := strings.Fields(string(data[closing+1:]))
	if len(f) < 17-2 {
		return procStat{}, false
	}
	const ticksPerSecond = 100 // USER_HZ on Linux
	var ticks [4]int64
	for i := range ticks {
		ticks[i], _ = strconv.ParseInt(f[14+i-3], 10, 64)
	}
	own := float64(ticks[0]+ticks[1]) / ticksPerSecond
	return procStat{pid: pid, comm: string(data[open+1 : closing]), own: own,
		withChildren: own + float64(ticks[2]+ticks[3])/ticksPerSecond}, true
}

// procCPU is the CPU time, in seconds, used so far by the process pid.
// Linux only.
func procCPU(tb testing.TB, pid int) float64 {
	tb.Helper()
	data, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		tb.Skipf("no /proc: %v", err)
	}
	st, ok := parseProcStat(data)
	if !ok {
		tb.Fatalf("/proc/%d/stat: %q", pid, data)
	}
	return st.own
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
	var cpu float64
	for _, path := range dirs {
		data, err := os.ReadFile(path)
		if err != nil {
			continue // ended meanwhile
		}
		if st, ok := parseProcStat(data); ok && (st.pid == pid || st.comm == "postgres" || st.comm == "redis-server") {
			cpu += st.withChildren
		}
	}
	return cpu
}
