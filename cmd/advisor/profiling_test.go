package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/pprof/profile"

	"github.com/pgadvisor/advisor/internal/load"
	"github.com/pgadvisor/advisor/internal/probe/metrics"
	"github.com/pgadvisor/advisor/internal/stack/stacktest"
	"github.com/pgadvisor/advisor/sampleapp"
	"github.com/pgadvisor/advisor/sampleapp/sampletest"
)

// profilingSetting is one pair of runtime profiling rates; 0 is off, as in
// runtime.SetBlockProfileRate and runtime.SetMutexProfileFraction.
type profilingSetting struct {
	name          string
	blockRate     int // nanoseconds
	mutexFraction int
}

// profilingSettings are the rates BenchmarkProfilingRates compares: off,
// the recommended rates (sampleapp's defaults), a block rate of 10 µs, and
// every event for contrast. (A mutex fraction of 100 against 10 made no
// difference that showed.)
var profilingSettings = []profilingSetting{
	{"off", 0, 0},
	{"b100000_m10", 100_000, 10},
	{"b10000_m10", 10_000, 10},
	{"every", 1, 1},
}

// BenchmarkProfilingRates measures what block and mutex profiling cost a
// service: the tuned sampleapp under the sample load, one process per
// setting of profilingSettings (the rates are process-wide, so the load
// generator runs here and each service in a process of its own), in rounds
// that rotate the order of the settings (A B C D, then B C D A, ...) so that
// drift and warm-up hit each alike. It does so for two workloads: the tuned
// profile, and the tuned profile with the lock knob at global, where every
// request waits on one mutex and the profiles record the most events. For
// each workload and setting it reports the median RPS and the ratio of
// medians against off, and the ratio of the median CPU time the service
// spent per request (process_cpu_seconds_total, which a busy machine
// disturbs less than throughput) against off; it logs the raw series, the
// per-round ratios and how many stacks the block and mutex profiles hold at
// the end.
//
// A default run takes about 2.5 minutes (8 rounds of 2 s per setting and
// workload: short runs make many pairs, which ride out a busy machine better
// than a few long ones); -benchtime Nx runs N times as many rounds, and
// ADVISOR_PROFILING_RUN (a duration) sets the length of each run.
//
//	go test -run '^$' -bench ProfilingRates -benchtime 1x ./cmd/advisor/
func BenchmarkProfilingRates(b *testing.B) {
	const (
		roundsPerN  = 8
		connections = 16
		warmup      = 2 * time.Second
	)
	runLength := 2 * time.Second
	if v := os.Getenv("ADVISOR_PROFILING_RUN"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			b.Fatalf("ADVISOR_PROFILING_RUN=%q: want a positive duration", v)
		}
		runLength = d
	}
	workloads := []struct {
		name  string
		flags []string
	}{
		{"tuned", nil},
		{"lock", []string{"--knob", sampleapp.KnobLock + "=global"}},
	}

	b.StopTimer()
	info := stacktest.Start(b)
	dsn := sampletest.Database(b, "profiling_rates", sampleapp.TestSize)
	ctx := context.Background()
	bin := buildSampleapp(ctx, b)
	mix, vars, header := sampleapp.LoadMix(sampleapp.TestSize)
	// measure returns the throughput of one run and the service's CPU time
	// per request in microseconds.
	measure := func(base string, d time.Duration) (rps, cpuMicros float64) {
		cpu0 := processCPU(b, base)
		res, err := load.Run(ctx, load.Config{BaseURL: base, Mix: mix, Vars: vars, Header: header,
			Connections: connections, Duration: d})
		if err != nil {
			b.Fatal(err)
		}
		if res.Errors > 0 {
			b.Fatalf("%s: %d errors: %v", base, res.Errors, res.ErrorsByKind)
		}
		cpu := processCPU(b, base) - cpu0
		return res.RPS, cpu / float64(max(res.Requests, 1)) * 1e6
	}

	round := 0 // across b.N, so that the rotation goes on
	for _, wl := range workloads {
		bases := make([]string, len(profilingSettings))
		stops := make([]func(), len(profilingSettings))
		for i, s := range profilingSettings {
			flags := append([]string{"--profile", sampleapp.ProfileTuned, "--cache-namespace", "profiling",
				// API only: no instance's workers take CPU from the one measured.
				"--workers", "-1",
				"--block-profile-rate", strconv.Itoa(s.blockRate),
				"--mutex-profile-fraction", strconv.Itoa(s.mutexFraction)}, wl.flags...)
			svc := sampletest.RunProcess(b, bin, dsn, info.RedisAddr, flags...)
			bases[i], stops[i] = svc.Base, svc.Stop
		}
		for _, base := range bases { // fill the caches and pools before measuring
			measure(base, warmup)
		}
		rps := make([][]float64, len(profilingSettings))
		cpu := make([][]float64, len(profilingSettings))
		b.StartTimer()
		for i := 0; i < b.N; i++ {
			for r := 0; r < roundsPerN; r++ {
				for k := range profilingSettings {
					s := (round + k) % len(profilingSettings)
					x, c := measure(bases[s], runLength)
					rps[s], cpu[s] = append(rps[s], x), append(cpu[s], c)
				}
				round++
			}
		}
		b.StopTimer()

		// One line per setting: the benchmark's log keeps 10 lines only.
		offRPS, offCPU := median(rps[0]), median(cpu[0])
		for i, s := range profilingSettings {
			m, c := median(rps[i]), median(cpu[i])
			b.ReportMetric(m, wl.name+"_"+s.name+"_rps")
			if i > 0 {
				b.ReportMetric(m/offRPS, wl.name+"_"+s.name+"_ratio")
				b.ReportMetric(c/offCPU, wl.name+"_"+s.name+"_cpu_ratio")
			}
			paired := make([]float64, len(rps[i]))
			for r := range rps[i] {
				paired[r] = rps[i][r] / rps[0][r]
			}
			block, err := profileStacks(bases[i], "block")
			if err != nil {
				b.Fatal(err)
			}
			mutex, err := profileStacks(bases[i], "mutex")
			if err != nil {
				b.Fatal(err)
			}
			b.Logf("%s %s: RPS %s median %.0f ratio %.4f (per round %s); CPU µs/req %s median %.1f ratio %.4f; block %s, mutex %s",
				wl.name, s.name, formatSeries(rps[i], "%.0f"), m, m/offRPS, formatSeries(paired, "%.3f"),
				formatSeries(cpu[i], "%.1f"), c, c/offCPU, block, mutex)
			if s.blockRate == 0 && block.stacks > 0 || s.mutexFraction == 0 && mutex.stacks > 0 {
				b.Errorf("%s %s: a profile that is off holds samples: were the flags applied?", wl.name, s.name)
			}
		}
		for _, stop := range stops {
			stop()
		}
	}
}

// processCPU reads process_cpu_seconds_total from base's /metrics.
func processCPU(t testing.TB, base string) float64 {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	fams, err := metrics.Parse(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	v, ok := fams.Value("process_cpu_seconds_total", nil)
	if !ok {
		t.Fatalf("%s/metrics has no process_cpu_seconds_total", base)
	}
	return v
}

// stackCount summarises a cumulative block or mutex profile.
type stackCount struct {
	stacks int
	delay  time.Duration // the runtime's estimate of the whole, scaled up from the samples
}

func (s stackCount) String() string {
	return fmt.Sprintf("%d stacks (%s delay)", s.stacks, s.delay.Round(time.Millisecond))
}

// profileStacks reads the cumulative block or mutex profile of base.
func profileStacks(base, kind string) (stackCount, error) {
	resp, err := http.Get(base + "/debug/pprof/" + kind)
	if err != nil {
		return stackCount{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return stackCount{}, fmt.Errorf("%s profile of %s: %s", kind, base, resp.Status)
	}
	p, err := profile.Parse(resp.Body)
	if err != nil {
		return stackCount{}, fmt.Errorf("%s profile of %s: %w", kind, base, err)
	}
	c := stackCount{stacks: len(p.Sample)}
	for i, st := range p.SampleType {
		if st.Unit == "nanoseconds" {
			for _, s := range p.Sample {
				c.delay += time.Duration(s.Value[i])
			}
		}
	}
	return c, nil
}

func formatSeries(xs []float64, format string) string {
	parts := make([]string, len(xs))
	for i, x := range xs {
		parts[i] = fmt.Sprintf(format, x)
	}
	return "[" + strings.Join(parts, " ") + "]"
}
