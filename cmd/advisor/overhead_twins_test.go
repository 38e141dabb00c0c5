package main

import (
	"context"
	"fmt"
	"math"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pgadvisor/advisor/internal/load"
	"github.com/pgadvisor/advisor/internal/stack/stacktest"
	"github.com/pgadvisor/advisor/internal/ui"
	"github.com/pgadvisor/advisor/sampleapp"
	"github.com/pgadvisor/advisor/sampleapp/sampletest"
)

// BenchmarkAttachOverheadTwins measures attach's steady-state cost to the
// service it watches without the machine's drift, which moves the
// throughput of BenchmarkAttachOverhead's adjacent runs by ±20%: two
// identical tuned sampleapps (twins, each a process of its own on a copy of
// the same data set) take the same load at the same time, each with an
// attach of its own, and only one of the two attaches runs at a time (the
// other stopped with SIGSTOP, its connections open and idle). Whatever the
// machine's other tenants do in a run, they do it to both twins.
//
// A run with twin A's attach running gives rA = RPS(A) / RPS(B); the next,
// with B's, rB = RPS(B) / RPS(A). A twin faster than the other by a
// factor k multiplies one by k and divides the other by it: sqrt(rA rB)
// is the pair's figure of the throughput left to a watched service
// (twin_ratio, median over the pairs, the order alternating from pair to
// pair). It overstates the cost: the watched twin pays for serving attach
// out of its half of the machine rather than out of all of it.
//
// What attach costs the machine rather than the service (its own CPU, and
// the CPU its reads take in PostgreSQL and Redis) slows both twins alike
// and cancels in the ratio. It is measured apart: attach's own CPU while
// it runs under the load, and PostgreSQL's and Redis' CPU with one attach
// polling against none, without load (alternating, 5 times). On a machine
// whose CPUs are the bottleneck (every CPU busy serving the requests,
// load generator included) the throughput falls by that CPU's share of the
// machine's, and ratio = twin_ratio x (1 - shared / capacity) bounds what
// attach on the service's host leaves it (the target is at least 0.98).
//
// ADVISOR_OVERHEAD_PAIRS sets the number of pairs (default 16).
//
//	go test -run '^$' -bench AttachOverheadTwins -benchtime 1x -timeout 30m ./cmd/advisor/
func BenchmarkAttachOverheadTwins(b *testing.B) {
	const (
		// runLength is longer than BenchmarkAttachOverhead's: the twins'
		// ratio has no drift to escape, only the runs' own spread to average.
		runLength   = 10 * time.Second
		connections = 16 // per twin
		settle      = time.Second
		steadyAt    = ui.DefaultSampleFor + ui.DefaultInterval
		idle        = 10 * time.Second
		idleRounds  = 5
	)
	pairs := overheadPairs(b)
	info := stacktest.Start(b)
	ctx := context.Background()
	advisorBin := buildAdvisor(ctx, b)
	mix, vars, header := sampleapp.LoadMix(sampleapp.TestSize)

	type twin struct {
		name   string
		dsn    string
		svc    sampletest.Process
		attach *exec.Cmd
		stderr strings.Builder
	}
	twins := []*twin{{name: "a"}, {name: "b"}}
	for _, t := range twins {
		t.dsn = sampletest.Database(b, "attach_overhead_"+t.name, sampleapp.TestSize)
		settleDatabase(ctx, b, t.dsn)
		// No job workers: the follow-up work one run leaves would take
		// CPU from the next.
		t.svc = sampletest.StartProcess(ctx, b, t.dsn, info.RedisAddr, "--profile", "tuned",
			"--cache-namespace", "overhead_"+t.name, "--workers", "-1")
	}
	// Both attaches run for the whole benchmark, stopped when not measured.
	lasts := steadyAt + 2*idleRounds*idle + time.Duration(pairs+1)*2*(settle+runLength+2*time.Second) + time.Minute
	start := time.Now()
	for _, t := range twins {
		t.attach = exec.CommandContext(ctx, advisorBin, "attach", "--headless", "--duration", lasts.String(),
			"--target", t.svc.Base, "--pg", t.dsn, "--redis", info.RedisAddr)
		t.attach.Stderr = &t.stderr
		if err := t.attach.Start(); err != nil {
			b.Fatal(err)
		}
	}
	signal := func(t *twin, sig syscall.Signal) {
		if err := t.attach.Process.Signal(sig); err != nil {
			b.Fatalf("attach of twin %s: %s: %v", t.name, sig, err)
		}
	}
	running := map[string]time.Duration{}
	// watch leaves only t's attach running (none with t nil).
	watch := func(t *twin) {
		for _, o := range twins {
			if o != t {
				signal(o, syscall.SIGSTOP)
			}
		}
		if t != nil {
			signal(t, syscall.SIGCONT)
		}
	}
	time.Sleep(time.Until(start.Add(steadyAt)))
	watch(nil)
	b.ResetTimer()

	// The machine's part, without load: PostgreSQL's and Redis' CPU (no
	// service process: pid -1) with one attach polling against none.
	var shared []float64
	for i := range idleRounds {
		before := targetCPU(b, -1)
		time.Sleep(idle)
		without := targetCPU(b, -1) - before
		t := twins[i%2]
		watch(t)
		t0, before := time.Now(), targetCPU(b, -1)
		time.Sleep(idle)
		with := targetCPU(b, -1) - before
		running[t.name] += time.Since(t0)
		watch(nil)
		shared = append(shared, (with-without)/idle.Seconds()*1000)
	}

	// both runs the load on both twins at once; it returns their RPS.
	both := func() [2]float64 {
		time.Sleep(settle)
		var (
			wg  sync.WaitGroup
			rps [2]float64
			err [2]error
		)
		for i, t := range twins {
			wg.Go(func() {
				res, e := load.Run(ctx, load.Config{BaseURL: t.svc.Base, Mix: mix, Vars: vars, Header: header,
					Connections: connections, Duration: runLength})
				switch {
				case e != nil:
					err[i] = e
				case res.Errors > 0:
					err[i] = fmt.Errorf("%d errors: %v", res.Errors, res.ErrorsByKind)
				default:
					rps[i] = res.RPS
				}
			})
		}
		wg.Wait()
		for i, e := range err {
			if e != nil {
				b.Fatalf("load on twin %s: %v", twins[i].name, e)
			}
		}
		return rps
	}
	both() // warm both twins' caches and pools

	var ratios, slotRatios, attachLoaded, rpsA, rpsB []float64
	for i := 0; i < b.N; i++ {
		for p := range pairs {
			order := []int{0, 1}
			if p%2 == 1 {
				order = []int{1, 0}
			}
			pair := 1.0
			for _, w := range order {
				t := twins[w]
				watch(t)
				t0, cpu := time.Now(), procCPU(b, t.attach.Process.Pid)
				rps := both()
				d := time.Since(t0)
				running[t.name] += d
				attachLoaded = append(attachLoaded, (procCPU(b, t.attach.Process.Pid)-cpu)/d.Seconds()*1000)
				r := rps[w] / rps[1-w]
				slotRatios = append(slotRatios, r)
				rpsA, rpsB = append(rpsA, rps[0]), append(rpsB, rps[1])
				pair *= r
			}
			ratios = append(ratios, math.Sqrt(pair))
		}
	}
	b.StopTimer()
	for _, t := range twins {
		signal(t, syscall.SIGCONT)
		if err := t.attach.Process.Signal(os.Interrupt); err != nil {
			b.Fatalf("attach of twin %s: %v", t.name, err)
		}
	}
	for _, t := range twins {
		if err := t.attach.Wait(); err != nil {
			b.Errorf("attach of twin %s: %v: %s", t.name, err, t.stderr.String())
		}
		// It analysed as often while running as it does unstopped.
		if n := len(headlessLine.FindAllString(t.stderr.String(), -1)); n < int((steadyAt+running[t.name])/(4*time.Second)) {
			b.Errorf("attach of twin %s analysed %d times in %s running:\n%s", t.name, n,
				(steadyAt + running[t.name]).Round(time.Second), t.stderr.String())
		}
	}

	capacity := float64(runtime.NumCPU()) * 1000 // ms of CPU per s
	cost := median(attachLoaded) + median(shared)
	twinRatio := median(ratios)
	b.Logf("RPS of twin a                    %.0f", rpsA)
	b.Logf("RPS of twin b                    %.0f", rpsB)
	b.Logf("runs: watched twin's RPS / the other's %.3f", slotRatios)
	b.Logf("pairs: sqrt(rA rB)               %.3f", ratios)
	sorted := slices.Sorted(slices.Values(ratios))
	q1, q3 := sorted[len(sorted)/4], sorted[(3*len(sorted))/4]
	b.Logf("pairs: quartiles %.3f %.3f %.3f", q1, median(ratios), q3)
	b.Logf("attach's own CPU under load, ms per s %.1f", attachLoaded)
	b.Logf("PostgreSQL and Redis CPU added by one attach, idle, ms per s %.1f", shared)
	b.Logf("twin ratio %.3f x (1 - (%.1f + %.1f) / %.0f ms per s) = %.3f", twinRatio, median(attachLoaded), median(shared), capacity,
		twinRatio*(1-cost/capacity))
	b.ReportMetric(twinRatio, "twin_ratio")
	b.ReportMetric(q1, "twin_q1")
	b.ReportMetric(q3, "twin_q3")
	b.ReportMetric(median(attachLoaded), "attach_cpu_load_ms/s")
	b.ReportMetric(median(shared), "pg_redis_cpu_ms/s")
	b.ReportMetric(twinRatio*(1-cost/capacity), "ratio")
	b.ReportMetric(float64(len(ratios)), "pairs")
}
