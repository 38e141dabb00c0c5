package rules

import (
	"context"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/pgadvisor/advisor/internal/probe"
	"github.com/pgadvisor/advisor/internal/probe/metrics"
	"github.com/pgadvisor/advisor/internal/probe/postgres"
)

// splitString prints a span's parts for test failures.
func splitString(s Span) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s rps %.1f mean %.1f ms in flight %.1f (%s):", s.Route, s.RPS, s.MeanMS, s.InFlight, s.InFlightFrom)
	for _, p := range s.Parts {
		fmt.Fprintf(&b, " %s %.1f ms (%.0f%%)", p.Name, p.MSPerRequest, p.Share*100)
	}
	return b.String()
}

// TestSplitGoDumps: on the real captures of testdata/app, the goroutine
// dumps put the handlers' time where each capture's planted problem is.
func TestSplitGoDumps(t *testing.T) {
	for _, tc := range []struct {
		mode string
		part string // the largest part
	}{
		{"blocking", PartOutbound},
		{"lock", PartLock},
		{"hops", PartOutbound},
	} {
		t.Run(tc.mode, func(t *testing.T) {
			in := appFixture(t, tc.mode)
			ts := Split(in)
			t.Log(splitString(ts.Service))
			for _, h := range ts.Handlers {
				t.Logf("handler %s", splitString(h))
			}
			if ts.Method != "goroutine dumps" || ts.Runtime != "go" {
				t.Fatalf("method %q runtime %q", ts.Method, ts.Runtime)
			}
			var sum float64
			best := Part{}
			for _, p := range ts.Service.Parts {
				sum += p.Share
				if p.Share > best.Share {
					best = p
				}
			}
			if math.Abs(sum-1) > 1e-9 {
				t.Errorf("shares add up to %v", sum)
			}
			if best.Name != tc.part {
				t.Errorf("largest part %s, want %s", best.Name, tc.part)
			}
			if ts.Service.RPS <= 0 || ts.Service.MeanMS <= 0 || len(ts.Routes) == 0 {
				t.Errorf("service %+v routes %d", ts.Service, len(ts.Routes))
			}
		})
	}
}

// perRequestInput is a window of one route (or two) serving 100 requests/s
// for 10 s, PostgreSQL running 16 top-level statements per request (and
// nested ones, not counted), 2 ms of them per request.
func perRequestInput(routes int, cumulative, pgCumulative bool) *Input {
	m := &metrics.Window{Seconds: 10, Cumulative: cumulative}
	for i := range routes {
		m.Routes = append(m.Routes, metrics.RouteRate{Route: fmt.Sprintf("/r%d", i), Method: "GET",
			Requests: 1000 / float64(routes), RPS: 100 / float64(routes)})
	}
	pgSeconds := 10.0
	if cumulative || pgCumulative {
		pgSeconds = 3600 // since the statistics' reset, an hour ago
	}
	pg := &postgres.Window{Seconds: pgSeconds, Cumulative: cumulative || pgCumulative, Statements: postgres.StatementsWindow{
		Seconds: pgSeconds, TotalTime: 2000,
		Rows: []postgres.StatementDelta{
			{Statement: postgres.Statement{TopLevel: true}, Calls: 1000},
			{Statement: postgres.Statement{TopLevel: true}, Calls: 15000},
			{Statement: postgres.Statement{TopLevel: false}, Calls: 99000},
		}}}
	return &Input{Window: &probe.Window{Cumulative: cumulative, Seconds: 10, Metrics: m, Postgres: pg}}
}

// TestSplitPerRequest: queries per request are the top-level statements
// over the requests; a lone route has them exactly, several routes only
// the service; a cumulative window divides counts; a source whose window
// fell back to cumulative gives none.
func TestSplitPerRequest(t *testing.T) {
	for _, tc := range []struct {
		name                     string
		routes                   int
		cumulative, pgCumulative bool
		want                     float64 // 0: none
	}{
		{"window, one route", 1, false, false, 16},
		{"window, two routes", 2, false, false, 16},
		{"cumulative", 1, true, false, 16},
		{"pg fell back to cumulative", 1, false, true, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts := Split(perRequestInput(tc.routes, tc.cumulative, tc.pgCumulative))
			pr := ts.Service.PerRequest
			if tc.want == 0 {
				if pr != nil && pr.DBQueries != nil {
					t.Fatalf("queries per request %v from a source counting from elsewhere", *pr.DBQueries)
				}
				if !strings.Contains(strings.Join(ts.Notes, "\n"), "PostgreSQL's window holds its statistics since their last reset") {
					t.Errorf("no note: %q", ts.Notes)
				}
				return
			}
			if pr == nil || pr.DBQueries == nil || math.Abs(*pr.DBQueries-tc.want) > 1e-9 || math.Abs(*pr.DBMS-2) > 1e-9 {
				t.Fatalf("service per request %+v", pr)
			}
			for _, r := range ts.Routes {
				switch {
				case tc.routes == 1 && (r.PerRequest == nil || *r.PerRequest.DBQueries != *pr.DBQueries ||
					!strings.HasPrefix(r.PerRequest.Attribution, "exact")):
					t.Errorf("lone route %+v", r.PerRequest)
				case tc.routes > 1 && r.PerRequest != nil:
					t.Errorf("route %s of %d has per-request figures %+v", r.Route, tc.routes, r.PerRequest)
				}
			}
			if tc.routes > 1 && !strings.Contains(strings.Join(ts.Notes, "\n"), "no source tells them apart by route") {
				t.Errorf("no note on attribution: %q", ts.Notes)
			}
		})
	}
}

// TestSplitHost: the split carries the host's CPU when the window has it
// (the service on advisor's host), per request at the service's rate, and
// none when it does not.
func TestSplitHost(t *testing.T) {
	in := perRequestInput(2, false, false)
	if h := Split(in).Host; h != nil {
		t.Fatalf("host %+v without the host's CPUs", *h)
	}
	in = perRequestInput(2, false, false)
	in.Window.ServiceCPUs, in.Window.HostBusyCores = 4, 3.4
	h := Split(in).Host
	// 3.4 of 4 cores at 100 requests/s: 34 ms of CPU per request, 85%
	// busy, half-way to CPU-bound.
	if h == nil || h.Cores != 4 || h.BusyCores != 3.4 || math.Abs(h.BusyShare-0.85) > 1e-9 ||
		math.Abs(h.MSPerRequest-34) > 1e-9 || math.Abs(h.Bound-0.5) > 1e-9 {
		t.Fatalf("host %+v", h)
	}
}

// TestSplitKernelQueue: the requests waiting unread on the service's port
// are in the split when they were read, with their wait by Little's law.
func TestSplitKernelQueue(t *testing.T) {
	in := perRequestInput(2, false, false)
	if k := Split(in).Kernel; k != nil {
		t.Fatalf("kernel queue %+v without a reading", *k)
	}
	in = perRequestInput(2, false, false)
	in.Window.KernelQueued, in.Window.KernelQueuedReadings = 5, 20
	k := Split(in).Kernel
	// 5 requests waiting at 100 requests/s: 50 ms each.
	if k == nil || k.Queued != 5 || k.Readings != 20 || math.Abs(k.WaitMS-50) > 1e-9 {
		t.Fatalf("kernel queue %+v, want 5 over 20 readings, 50 ms", k)
	}
	// A cumulative window's one reading: left out.
	in = perRequestInput(2, true, false)
	in.Window.KernelQueued, in.Window.KernelQueuedReadings = 5, 1
	if k := Split(in).Kernel; k != nil {
		t.Fatalf("kernel queue %+v of a cumulative window", *k)
	}
	in = perRequestInput(2, false, false)
	in.Window.KernelQueuedReadings = 20
	if k := Split(in).Kernel; k == nil || k.Queued != 0 || k.WaitMS != 0 {
		t.Fatalf("an empty queue read: %+v, want 0 queued", k)
	}
}

// TestSplitServiceLatency: a histogram of every request (FastAPI's fine
// one) gives the service's percentiles and buckets when it counted the
// routes' requests; otherwise they come from the routes' (the medians by
// rate, the slowest p95).
func TestSplitServiceLatency(t *testing.T) {
	route := func(name string, rps, p50, p95 float64) metrics.RouteRate {
		return metrics.RouteRate{Route: name, Method: "GET", Requests: rps * 10, RPS: rps, HasLatency: true,
			Latency: metrics.Latency{Count: rps * 10, Mean: p50, P50: p50, P95: p95, P99: p95, HasPercentiles: true, Bounds: []float64{0.1, 0.5, 1}}}
	}
	all := metrics.Latency{Count: 1000, Mean: 0.02, P50: 0.012, P95: 0.04, P99: 0.07, HasPercentiles: true,
		Bounds: []float64{0.01, 0.025, 0.05, 0.075, 0.1}}
	for _, tc := range []struct {
		name     string
		count    float64
		p50, p95 float64 // ms
		first    float64 // first bucket bound, ms
	}{
		{"every request", 1000, 12, 40, 10},
		{"a tenth more: the scrapes", 1080, 12, 40, 10},
		{"half the requests", 500, 0.05*1000*0.5 + 0.08*1000*0.5, 90, 100},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := &metrics.Window{Seconds: 10, Routes: []metrics.RouteRate{route("/a", 50, 0.05, 0.09), route("/b", 50, 0.08, 0.09)},
				Latency: all, HasLatency: true}
			m.Latency.Count = tc.count
			ts := Split(&Input{Window: &probe.Window{Seconds: 10, Metrics: m}})
			s := ts.Service
			if math.Abs(s.P50MS-tc.p50) > 1e-6 || math.Abs(s.P95MS-tc.p95) > 1e-6 || len(s.BoundsMS) == 0 || s.BoundsMS[0] != tc.first {
				t.Errorf("service p50 %.3f p95 %.3f buckets %v; want p50 %.3f p95 %.3f, first bucket %g", s.P50MS, s.P95MS, s.BoundsMS, tc.p50, tc.p95, tc.first)
			}
		})
	}
}

// TestBusyHostWaitNote: where requests wait inside the service while the
// host's CPUs are busy, service.queueing names no cause (the wait may be
// a CPU's), and the split's notes say so instead of nothing.
func TestBusyHostWaitNote(t *testing.T) {
	pressure := func(v float64) *float64 { return &v }
	for _, tc := range []struct {
		name     string
		busy     float64
		pressure *float64
		kernel   float64 // requests queued unread in the kernel
		want     string
	}{
		{"host saturated", 1.95, nil, 0, "while the host's 2 CPUs were 98% busy: on a host this short of CPU a request also waits for a CPU"},
		{"host calm", 0.4, nil, 0, ""},
		{"host calm, no task waiting for a CPU", 0.4, pressure(0.05), 0, ""},
		// A host shared with other work: its CPUs not that busy on
		// average, yet a runnable task waited for one most of the window.
		{"host under CPU pressure", 1.2, pressure(0.6), 0, "while a task on the host waited for a CPU over 60% of the window"},
		// Requests waiting mostly unread in the kernel: a busy worker
		// leaves them there, which service.queueing names whatever the
		// pressure.
		{"host under CPU pressure, requests queued in the kernel", 1.2, pressure(0.6), 60, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := &Input{Window: svcWindow{lang: "node", rps: 20, meanS: 1.6, cpu: 0.13, hostCPUs: 2, hostBusy: tc.busy, pressure: tc.pressure, kernelQueued: tc.kernel,
				sessions: repeat(2, 5), active: []int{1, 0, 1, 1, 0}}.window()}
			ts := Split(in)
			var got string
			for _, n := range ts.Notes {
				if strings.Contains(n, "a request also waits for a CPU") {
					got = n
					t.Log(n)
				}
			}
			if tc.want == "" && got != "" || !strings.Contains(got, tc.want) {
				t.Errorf("note about the host's CPUs: %q, want one with %q; notes %q", got, tc.want, ts.Notes)
			}
		})
	}
}

// TestHostWaitNoteFollowsQueueingDefaults: the time split's note on a host
// short of CPU speaks where service.queueing stands aside at its built-in
// params; the constants it reads without a rule set are those params.
func TestHostWaitNoteFollowsQueueingDefaults(t *testing.T) {
	set, err := Default("")
	if err != nil {
		t.Fatal(err)
	}
	r := set.Rule(serviceQueueing.ID)
	if r == nil {
		t.Fatalf("no %s in the built-in rules", serviceQueueing.ID)
	}
	var p serviceQueueingParams
	if errs := decodeParams(r.Params, reflect.ValueOf(&p).Elem(), true); len(errs) > 0 {
		t.Fatalf("params of %s: %v", serviceQueueing.ID, errs)
	}
	for _, c := range []struct {
		name      string
		got, want float64
	}{
		{"max_host_busy_share", cpuBoundFrom, p.MaxHostBusyShare},
		{"max_host_cpu_pressure", cpuPressureFrom, p.MaxCPUPressure},
		{"min_kernel_queued", kernelQueuedFrom, p.MinKernelQueued},
		{"min_wait_share", waitShareFrom, p.MinWaitShare},
	} {
		if c.got != c.want {
			t.Errorf("%s: the note follows %v, the rule's default is %v", c.name, c.got, c.want)
		}
	}
}

// TestHostWaitNoteFollowsRuleParams: analysed with a rule set, the note
// follows service.queueing's params there, so that it speaks where a team's
// thresholds make the rule stand aside and not where they make it fire.
func TestHostWaitNoteFollowsRuleParams(t *testing.T) {
	pressure := func(v float64) *float64 { return &v }
	for _, tc := range []struct {
		name  string
		busy  float64
		pr    *float64
		param string
		value float64
		want  bool
	}{
		{"busy host, built-in params", 1.95, nil, "", 0, true},
		{"busy host under a raised max_host_busy_share", 1.95, nil, "max_host_busy_share", 0.99, false},
		{"calm host under a lowered max_host_busy_share", 1.3, nil, "max_host_busy_share", 0.6, true},
		{"CPU pressure under a raised max_host_cpu_pressure", 1.2, pressure(0.6), "max_host_cpu_pressure", 0.7, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			set, err := Default("")
			if err != nil {
				t.Fatal(err)
			}
			if tc.param != "" {
				r := set.Rule(serviceQueueing.ID)
				i := slices.IndexFunc(r.Params, func(p Param) bool { return p.Name == tc.param })
				if i < 0 {
					t.Fatalf("%s has no param %s", serviceQueueing.ID, tc.param)
				}
				r.Params[i].Value = tc.value
			}
			in := &Input{Window: svcWindow{lang: "node", rps: 20, meanS: 1.6, cpu: 0.13, hostCPUs: 2, hostBusy: tc.busy, pressure: tc.pr,
				sessions: repeat(2, 5), active: []int{1, 0, 1, 1, 0}}.window()}
			a := Analyse(context.Background(), in, set, Builtin())
			got := slices.ContainsFunc(a.Split.Notes, func(n string) bool { return strings.Contains(n, "a request also waits for a CPU") })
			if got != tc.want {
				t.Errorf("note about the host's CPUs: %v, want %v; notes %q", got, tc.want, a.Split.Notes)
			}
		})
	}
}
