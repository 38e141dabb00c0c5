package rules

import (
	"math"
	"strings"
	"testing"

	"github.com/google/pprof/profile"

	"github.com/pgadvisor/advisor/internal/probe"
	"github.com/pgadvisor/advisor/internal/probe/metrics"
	"github.com/pgadvisor/advisor/internal/probe/postgres"
	"github.com/pgadvisor/advisor/internal/probe/pprof"
	"github.com/pgadvisor/advisor/internal/probe/redis"
	"github.com/pgadvisor/advisor/internal/probe/source"
)

// cpuInput is a window of 200 requests/s at 100 ms on a 2-core host with
// busy cores busy, the service using 0.4 of them and PostgreSQL executing
// statements for dbCores (on the host when pgLocal).
func cpuInput(busy, dbCores float64, pgLocal bool) *Input {
	svc := 0.4
	pg := &postgres.Window{
		Statements: postgres.StatementsWindow{Seconds: 10, TotalTime: dbCores * 1000 * 10},
		Cur:        &postgres.Snapshot{Server: postgres.Server{CPUsLocal: pgLocal}},
	}
	in := &Input{Window: &probe.Window{Seconds: 10, ServiceCPUs: 2, HostBusyCores: busy,
		Metrics: &metrics.Window{Seconds: 10, Process: metrics.ProcessWindow{CPUCores: &svc}}, Postgres: pg}}
	cpuMS := svc * 1000 / 200
	in.views.split = &TimeSplit{Service: Span{RPS: 200, MeanMS: 100, HasLatency: true, PerRequest: &PerRequest{CPUMS: &cpuMS}, Parts: []Part{
		{Name: PartCPU, MSPerRequest: 20, Share: 0.2},
		{Name: PartDB, MSPerRequest: 50, Share: 0.5},
		{Name: PartLock, MSPerRequest: 30, Share: 0.3},
	}}}
	// As splitOf does once it knows the rate.
	if h, ok := hostCPUOf(in, &in.views.split.Service); ok {
		in.views.split.Host = &h
	}
	return in
}

// TestOnHostCPU: on a host with CPU to spare a saving is the time the fix
// removes; on a saturated one it is the share of the host's CPU the fix
// frees, so that a lock's waits count for nothing and an index that spares
// PostgreSQL its scans counts for the CPU they took; in between, a blend.
func TestOnHostCPU(t *testing.T) {
	index := Finding{Rule: dbMissingIndex.ID, Evidence: map[string]any{"total_share": 0.8, "cost_cut": 0.99}}
	lock := Finding{Rule: appLockContention.ID, Evidence: map[string]any{}}
	nplus := Finding{Rule: dbNPlusOne.ID, Evidence: map[string]any{"repetitions": 20.0, "calls_per_s": 2000.0, "total_share": 0.05,
		"batched_away_per_s": 1900.0, "batched_away_share": 0.0475}}
	pool := Finding{Rule: poolNoPooling.ID, Evidence: map[string]any{"sessions_per_request": 1.0}}
	unused := Finding{Rule: dbUnusedIndex.ID}
	// Half the service's requests are the hops' own (its callee routes).
	hopsHere := Finding{Rule: appInternalHops.ID, Evidence: map[string]any{"served_here_per_s": 100.0}}
	hopsAway := Finding{Rule: appInternalHops.ID, Evidence: map[string]any{"served_here_per_s": 0.0}}
	inline := Finding{Rule: appInlineWork.ID, Evidence: map[string]any{"process_cpu_share": 0.5}}
	inlineUnknown := Finding{Rule: appInlineWork.ID, Evidence: map[string]any{}}
	hopsTime := &Saving{Share: 0.05, MSPerRequest: 5, Basis: "time"}
	indexTime := &Saving{Share: 0.04, MSPerRequest: 4, Basis: "time"}
	lockTime := &Saving{Share: 0.3, MSPerRequest: 30, Basis: "time"}
	nplusTime := &Saving{Share: 0.02, MSPerRequest: 2, Basis: "time"}
	poolTime := &Saving{Share: 0.6, MSPerRequest: 60, Basis: "time"}

	// 2 cores busy at 200 requests/s: 10 ms of host CPU per request, of
	// which PostgreSQL's statements 1.2 cores = 6 ms, the service 2 ms,
	// the rest 2 ms.
	full := cpuInput(2, 1.2, true)
	cases := []struct {
		name string
		in   *Input
		f    Finding
		s    *Saving
		want float64
	}{
		{"idle host: time", cpuInput(1, 0.5, true), index, indexTime, 0.04},
		{"idle host: lock", cpuInput(1, 0.5, true), lock, lockTime, 0.3},
		{"saturated: index frees its scans", full, index, indexTime, 0.8 * 0.99 * 6 / 10},
		{"saturated: a lock frees no CPU", full, lock, lockTime, 0},
		{"saturated: N+1", full, nplus, nplusTime, (2000.0/200*(1-1.0/20)*callCPUMS + 0.05*(1-1.0/20)*6) / 10},
		// With a sibling lookup on the same parent rows, what the batching
		// removes of both (the detector's batched_away_*).
		{"saturated: N+1 with its sibling", full, Finding{Rule: dbNPlusOne.ID, Evidence: map[string]any{"repetitions": 20.0, "calls_per_s": 2000.0,
			"total_share": 0.05, "batched_away_per_s": 2600.0, "batched_away_share": 0.07}}, nplusTime, (2600.0/200*callCPUMS + 0.07*6) / 10},
		{"saturated: sessions per request", full, pool, poolTime, 2.0 / 10},
		// The hops' requests pay at least the host's CPU outside the
		// service and the statements (2 ms) each; hops served elsewhere
		// free none advisor sees.
		{"saturated: hops served here", full, hopsHere, hopsTime, 0.5 * 2 / 10},
		{"saturated: hops served elsewhere", full, hopsAway, hopsTime, 0},
		// Work queued leaves the requests' path with its CPU: half the
		// service's 2 ms; without a CPU profile, none advisor can tell.
		{"saturated: inline work's CPU", full, inline, lockTime, 0.5 * 2 / 10},
		{"saturated: inline work without a profile", full, inlineUnknown, lockTime, 0},
		// A cache's hits spare their statements' execution (10% of
		// PostgreSQL's 6 ms) and their calls (0.9 x 400/s over 200
		// requests/s at callCPUMS each); without a call rate, the execution.
		{"saturated: cache hits spare statements", full, Finding{Rule: dbCacheCandidate.ID, Evidence: map[string]any{"statements_share": 0.1, "calls_per_s": 100.0, "statements_calls_per_s": 400.0}},
			nplusTime, (0.9*0.1*6 + 0.9*400/200*callCPUMS) / 10},
		{"saturated: cache without a call rate", full, Finding{Rule: dbCacheCandidate.ID, Evidence: map[string]any{"statements_share": 0.1}}, nplusTime, 0.9 * 0.1 * 6 / 10},
		// 1.7 of 2 cores: 85% busy, half-way between 75% and 95%.
		{"half bound", cpuInput(1.7, 1.2, true), index, indexTime, 0.5*0.04 + 0.5*0.8*0.99*(1.2*1000/200)/(1.7*1000/200)},
		// PostgreSQL on another host: its CPU is not the host's.
		{"remote database", cpuInput(2, 1.2, false), index, indexTime, 0},
		// The database's execution time counts at most the busy CPU the
		// service does not use: 1.6 cores of 2.
		{"execution time above the CPU", cpuInput(2, 3, true), index, indexTime, 0.8 * 0.99 * 8 / 10},
	}
	// A host 82% busy (a bound of 0.35 by its busy share) whose tasks
	// waited for a CPU 60% of the window is bound at 0.6; below its busy
	// share's bound, the pressure changes nothing.
	pressed := func(p float64) *Input {
		in := cpuInput(1.64, 1.2, true)
		in.Window.HostCPUPressure = &p
		in.views.split.Host = nil
		if h, ok := hostCPUOf(in, &in.views.split.Service); ok {
			in.views.split.Host = &h
		}
		return in
	}
	cases = append(cases, []struct {
		name string
		in   *Input
		f    Finding
		s    *Saving
		want float64
	}{
		{"CPU pressure above the busy share's bound", pressed(0.6), index, indexTime, 0.4*0.04 + 0.6*0.8*0.99*(1.2*1000/200)/(1.64*1000/200)},
		{"CPU pressure below the busy share's bound", pressed(0.1), index, indexTime, 0.65*0.04 + 0.35*0.8*0.99*(1.2*1000/200)/(1.64*1000/200)},
	}...)
	// Where that CPU was priced per statement and Redis command (sessions
	// outlive requests), the hops' requests pay it through their calls:
	// the hops free none of it.
	priced := cpuInput(2, 1.2, true)
	priced.views.split.Host.RoundTripMS = 0.2
	cases = append(cases, struct {
		name string
		in   *Input
		f    Finding
		s    *Saving
		want float64
	}{"saturated: hops served here, calls priced", priced, hopsHere, hopsTime, 0})
	for _, c := range cases {
		got := onHostCPU(c.in, &c.f, c.s)
		if math.Abs(got.Share-c.want) > 1e-9 {
			t.Errorf("%s: share %v, want %v (%s)", c.name, got.Share, c.want, got.Basis)
		}
		if math.Abs(got.MSPerRequest-got.Share*100) > 1e-9 {
			t.Errorf("%s: %v ms for share %v of 100 ms", c.name, got.MSPerRequest, got.Share)
		}
		if got != c.s && !strings.Contains(got.Basis, "busy") {
			t.Errorf("%s: basis %q does not say the host was busy", c.name, got.Basis)
		}
	}
	// A finding that costs no request time stays so; a window without the
	// host's CPU keeps the time saving.
	nt := &Saving{NotRequestTime: true, Basis: "disk"}
	if got := onHostCPU(full, &unused, nt); got != nt {
		t.Errorf("not request time changed: %+v", got)
	}
	noHost := cpuInput(2, 1.2, true)
	noHost.views.split.Host = nil
	if got := onHostCPU(noHost, &index, indexTime); got != indexTime {
		t.Errorf("unknown host changed the saving: %+v", got)
	}
	if got := onHostCPU(full, &index, nil); got != nil {
		t.Errorf("no saving became %+v", got)
	}
	// The host is unknown without its CPUs (a service on another host),
	// over cumulative statistics, or without requests.
	in := cpuInput(2, 1.2, true)
	in.Window.ServiceCPUs = 0
	if _, ok := hostCPUOf(in, &in.views.split.Service); ok {
		t.Error("a host without CPUs")
	}
	in = cpuInput(2, 1.2, true)
	in.Window.Cumulative = true
	if _, ok := hostCPUOf(in, &in.views.split.Service); ok {
		t.Error("a host over cumulative statistics")
	}
	if _, ok := hostCPUOf(cpuInput(2, 1.2, true), &Span{}); ok {
		t.Error("a host without requests")
	}
	if h := full.views.split.Host; h.Cores != 2 || h.BusyCores != 2 || h.Bound != 1 || h.MSPerRequest != 10 ||
		math.Abs(h.DBMSPerRequest-6) > 1e-9 || math.Abs(h.OtherMSPerRequest-2) > 1e-9 {
		t.Errorf("host %+v", *h)
	}
}

// procInput is cpuInput's window with the service at GOMAXPROCS 1 using
// svc cores, the host busy cores busy, and 10 statements per request, as
// the split's per-request figures say.
func procInput(svc, busy float64) *Input {
	in := cpuInput(busy, 0.3, true)
	procs, cpuMS, queries := 1.0, svc*1000/200, 10.0
	in.Window.Metrics.Process.CPUCores = &svc
	in.Window.Metrics.Runtime.GOMAXPROCS = &procs
	in.views.split.Service.PerRequest = &PerRequest{CPUMS: &cpuMS, DBQueries: &queries}
	in.views.split.Host = nil
	if h, ok := hostCPUOf(in, &in.views.split.Service); ok {
		in.views.split.Host = &h
	}
	return in
}

// TestOnProcCPU: a Go service CPU-bound at its GOMAXPROCS while its host
// has CPUs to spare saves what a fix frees of its own CPU: the driver work
// of the statements an N+1 batches away, what lifting GOMAXPROCS gives,
// nothing for a lock or an index; half-way bound, a blend; the host's
// model where only the host is bound; and where both are, each's share of
// the CPU freed in proportion to its bound.
func TestOnProcCPU(t *testing.T) {
	nplus := Finding{Rule: dbNPlusOne.ID, Evidence: map[string]any{"repetitions": 20.0, "calls_per_s": 2000.0, "total_share": 0.05,
		"batched_away_per_s": 1900.0, "batched_away_share": 0.0475}}
	lock := Finding{Rule: appLockContention.ID, Evidence: map[string]any{}}
	index := Finding{Rule: dbMissingIndex.ID, Evidence: map[string]any{"total_share": 0.8, "cost_cut": 0.99}}
	gomax := Finding{Rule: runtimeGOMAXPROCS.ID, Evidence: map[string]any{"usable_cpus": 2.0}}
	rt := Finding{Rule: redisRoundTrips.ID, Evidence: map[string]any{"commands_per_request": 5.0}}
	timeSaving := &Saving{Share: 0.3, MSPerRequest: 30, Basis: "time"}
	// 0.8 cores at 200 requests/s: 4 ms of the service's CPU per request.
	bound := procInput(0.8, 1.2)
	cases := []struct {
		name string
		in   *Input
		f    Finding
		want float64
	}{
		{"N+1: driver work of 9.5 statements", bound, nplus, 2000.0 / 200 * (1 - 1.0/20) * procClientCPUMS / 4},
		{"N+1 with its sibling: 13 statements", bound, Finding{Rule: dbNPlusOne.ID, Evidence: map[string]any{"repetitions": 20.0, "calls_per_s": 2000.0,
			"batched_away_per_s": 2600.0, "batched_away_share": 0.07}}, 2600.0 / 200 * procClientCPUMS / 4},
		{"Redis round trips", bound, rt, 4 * procClientCPUMS / 4},
		{"a lock frees no CPU", bound, lock, 0},
		// 0.9 x 400 statements/s over 200 requests/s of driver work.
		{"cache: the driver work of every cached statement", bound, Finding{Rule: dbCacheCandidate.ID, Evidence: map[string]any{"calls_per_s": 100.0, "statements_calls_per_s": 400.0}},
			0.9 * 400 / 200 * procClientCPUMS / 4},
		{"inline work frees its share of the process's CPU", bound, Finding{Rule: appInlineWork.ID, Evidence: map[string]any{"process_cpu_share": 0.25}}, 0.25},
		{"an index spares PostgreSQL, not the process", bound, index, 0},
		// GOMAXPROCS 1 on 2 CPUs, the host 1.2 busy: x1.67 before the
		// host's CPUs run out.
		{"GOMAXPROCS", bound, gomax, 1 - 1.2/2},
		// 0.65 cores: half-way between 0.5 and 0.8 of GOMAXPROCS.
		{"half bound: lock", procInput(0.65, 1.2), lock, 0.5 * 0.3},
		// The host at 2 of 2 cores is more bound than the process at 0.4
		// of its P: the host's model (a lock frees no host CPU either).
		{"host more bound", procInput(0.4, 2), lock, 0},
		// Neither bound: the time saving.
		{"idle", procInput(0.3, 1), lock, 0.3},
		// Both bound, the process more (0.7 at 0.71 cores, the host 0.5 at
		// 85% busy): each frees its CPU in proportion to its bound. The
		// index spares PostgreSQL's 1.5 of the host's 8.5 ms per request,
		// none of the process's.
		{"both bound: index", procInput(0.71, 1.7), index, 0.3*0.3 + 0.7*(0.5/1.2*0.8*0.99*1.5/8.5)},
		{"both bound: lock", procInput(0.71, 1.7), lock, 0.3 * 0.3},
		// GOMAXPROCS frees no host CPU; lifting it gives x2/1.7 before the
		// host's CPUs run out.
		{"both bound: GOMAXPROCS", procInput(0.71, 1.7), gomax, 0.3*0.3 + 0.7*(0.7/1.2*(1-1.7/2))},
	}
	for _, c := range cases {
		got := onHostCPU(c.in, &c.f, timeSaving)
		if math.Abs(got.Share-c.want) > 1e-9 {
			t.Errorf("%s: share %v, want %v (%s)", c.name, got.Share, c.want, got.Basis)
		}
	}
	if h := bound.views.split.Host; h == nil || h.ProcBound != 1 || h.SvcMSPerRequest != 4 || h.StatementsPerRequest != 10 || h.PGClientShare != -1 {
		t.Errorf("process figures: %+v", h)
	}
}

// testCPUProfile is a CPU profile built sample by sample.
type testCPUProfile struct{ p *profile.Profile }

// add appends a sample of ns nanoseconds with funcs as its frames, the
// leaf first.
func (tp *testCPUProfile) add(ns int64, funcs ...string) {
	if tp.p == nil {
		tp.p = &profile.Profile{SampleType: []*profile.ValueType{{Type: "samples", Unit: "count"}, {Type: "cpu", Unit: "nanoseconds"}}}
	}
	p := tp.p
	s := &profile.Sample{Value: []int64{1, ns}}
	for _, name := range funcs {
		fn := &profile.Function{ID: uint64(len(p.Function) + 1), Name: name}
		loc := &profile.Location{ID: uint64(len(p.Location) + 1), Line: []profile.Line{{Function: fn}}}
		p.Function, p.Location, s.Location = append(p.Function, fn), append(p.Location, loc), append(s.Location, loc)
	}
	p.Sample = append(p.Sample, s)
}

// snapshot is the profile as the window's CPU profile.
func (tp *testCPUProfile) snapshot() *pprof.Snapshot {
	return &pprof.Snapshot{CPU: &pprof.ProfileResult{Kind: pprof.KindCPU, Status: source.Status{State: source.OK}, Profile: tp.p}}
}

// TestProcDriverShare: the drivers' share of the service's CPU comes from
// the window's CPU profile, by the frames of each sample, and prices a
// statement the N+1 batches away.
func TestProcDriverShare(t *testing.T) {
	p := &testCPUProfile{}
	add := p.add
	add(30, "github.com/jackc/pgx/v5/pgconn.(*PgConn).ReadRows", "github.com/jackc/pgx/v5.(*Conn).Query", "main.feed")
	add(10, "github.com/redis/go-redis/v9.(*baseClient).process", "main.feed")
	add(60, "encoding/json.Marshal", "main.feed")
	cpu := p.snapshot()
	// A process with CPU to spare has them too: they price the client's
	// part of a round trip on the host (roundTripCPU).
	idle := procInput(0.3, 1.2)
	idle.Window.Profiles = cpu
	if h, ok := hostCPUOf(idle, &idle.views.split.Service); !ok || math.Abs(h.PGClientShare-0.3) > 1e-9 || math.Abs(h.RedisClientShare-0.1) > 1e-9 {
		t.Errorf("driver shares of a process not bound: %v %v", h.PGClientShare, h.RedisClientShare)
	}
	in := procInput(0.8, 1.2)
	in.Window.Profiles = cpu
	in.views.split.Host = nil
	h, ok := hostCPUOf(in, &in.views.split.Service)
	if !ok || math.Abs(h.PGClientShare-0.3) > 1e-9 || math.Abs(h.RedisClientShare-0.1) > 1e-9 {
		t.Fatalf("driver shares %v %v", h.PGClientShare, h.RedisClientShare)
	}
	in.views.split.Host = &h
	nplus := Finding{Rule: dbNPlusOne.ID, Evidence: map[string]any{"repetitions": 20.0, "calls_per_s": 2000.0, "batched_away_per_s": 1900.0}}
	// 30% of 4 ms over 10 statements per request: 0.12 ms a statement.
	got := onHostCPU(in, &nplus, &Saving{Share: 0.02, MSPerRequest: 2})
	if want := 9.5 * 0.12 / 4; math.Abs(got.Share-want) > 1e-9 || !strings.Contains(got.Basis, "120 µs of driver CPU per statement") {
		t.Errorf("share %v, want %v (%s)", got.Share, want, got.Basis)
	}
}

// TestHopsProcCPU: an internal hop's fix (an in-process call) frees the
// HTTP client's CPU under the calling function and the hops' part of
// net/http's connection loops, and for the hops this process serves
// itself their part of the server's work outside the handlers; the called
// handler's work stays. Without a CPU profile it frees none that advisor
// can tell.
func TestHopsProcCPU(t *testing.T) {
	p := &testCPUProfile{}
	add := p.add
	const caller = "main.(*App).callService"
	handler := []string{"main.(*App).feed", "net/http.HandlerFunc.ServeHTTP", httpServerHandler, httpServerConn}
	add(10, append([]string{"encoding/json.(*Decoder).Decode", caller}, handler...)...)
	add(20, "syscall.write", "bufio.(*Writer).Flush", httpClientWriteLoop)
	add(30, "bufio.(*Reader).ReadLine", "net/textproto.(*Reader).ReadLine", "net/http.readRequest", httpServerConn)
	add(40, append([]string{"github.com/jackc/pgx/v5.(*Conn).Query"}, handler...)...)
	cpu := p.snapshot()
	hops := func(outbound, served, inbound float64) *Finding {
		return &Finding{Rule: appInternalHops.ID, Evidence: map[string]any{"function": caller,
			"outbound_per_s": outbound, "served_here_per_s": served, "inbound_per_s": inbound}}
	}
	in := procInput(0.8, 1.2)
	in.Window.Profiles = cpu
	// The window's outbound calls: 100/s, to the internal services and
	// elsewhere.
	in.Window.Metrics.Outbound = []metrics.OutboundRate{{Host: "127.0.0.1:9001", Calls: 600}, {Host: "hooks.example.com:443", Calls: 400}}
	h := *in.views.split.Host
	for _, c := range []struct {
		name string
		f    *Finding
		want float64 // share of the process's CPU
	}{
		// 10% under the caller, 20% in the loops, 30% of the server's
		// outside its handlers.
		{"every outbound call a hop, one request in three a hop served here", hops(100, 100, 200), 0.1 + 0.2 + 0.3/3},
		{"60% of the outbound calls hops, served elsewhere", hops(60, 0, 200), 0.1 + 0.2*0.6},
	} {
		ms, how, ok := hopsProcCPU(in, c.f, h)
		if !ok || math.Abs(ms/h.SvcMSPerRequest-c.want) > 1e-9 {
			t.Errorf("%s: %.3f of the process's CPU (%v), want %.3f: %s", c.name, ms/h.SvcMSPerRequest, ok, c.want, how)
		}
		if !strings.Contains(how, caller) {
			t.Errorf("%s: basis %q does not name the caller", c.name, how)
		}
	}
	// Bound at its GOMAXPROCS, the process's part is the saving.
	f := hops(100, 100, 200)
	if got := onHostCPU(in, f, &Saving{Share: 0.05, MSPerRequest: 5}); math.Abs(got.Share-0.4) > 1e-9 || !strings.Contains(got.Basis, "connection loops") {
		t.Errorf("bound process: share %v, want 0.4 (%s)", got.Share, got.Basis)
	}
	in.Window.Profiles = nil
	if _, _, ok := hopsProcCPU(in, f, h); ok {
		t.Error("a saving of the process's CPU without a CPU profile")
	}
}

// TestHostCPUQueuedStatements: pg_stat_statements times are wall-clock, so
// on a host whose CPUs are all taken they hold the time a session waited
// for a CPU. With 8 sessions ready to run (active without a wait event in
// pg_stat_activity) for the 1.6 CPUs the service leaves, a statement runs
// a fifth of its time: an index frees a fifth of the CPU its execution
// time says, and the rest of the host's busy time counts outside the
// statements. With no more sessions ready than CPUs, nothing changes.
func TestHostCPUQueuedStatements(t *testing.T) {
	index := Finding{Rule: dbMissingIndex.ID, Evidence: map[string]any{"total_share": 0.8, "cost_cut": 1.0}}
	sample := func(onCPU, waiting int) postgres.ActivitySample {
		return postgres.ActivitySample{Groups: []postgres.ActivityGroup{
			{Database: "app", Application: "api", State: postgres.StateActive, Count: onCPU},
			{Database: "app", Application: "api", State: postgres.StateActive, WaitEventType: "Lock", WaitEvent: "relation", Count: waiting},
			{Database: "app", Application: "api", State: postgres.StateIdle, Count: 30},
		}}
	}
	withActivity := func(samples ...postgres.ActivitySample) *Input {
		in := cpuInput(2, 1.2, true)
		in.Window.Activity = samples
		// cpuInput's window had no samples: its views are computed anew.
		in.views.activity, in.views.split.Host = nil, nil
		if h, ok := hostCPUOf(in, &in.views.split.Service); ok {
			in.views.split.Host = &h
		}
		return in
	}
	// 6 and 10 sessions on a CPU (8 on average), 5 more waiting on locks.
	queued := withActivity(sample(6, 5), sample(10, 5))
	h := queued.views.split.Host
	if math.Abs(h.Running-8) > 1e-9 || math.Abs(h.DBCores-1.6) > 1e-9 || math.Abs(h.DBRunShare-0.2) > 1e-9 {
		t.Fatalf("host %+v", *h)
	}
	// 1.2 cores of execution time, a fifth of it on a CPU: 0.24 cores for
	// 200 requests/s; the host's other 1.36 busy cores outside it.
	if math.Abs(h.DBMSPerRequest-1.2) > 1e-9 || math.Abs(h.OtherMSPerRequest-6.8) > 1e-9 {
		t.Errorf("queued: %.3f ms of statements' CPU and %.3f ms outside per request", h.DBMSPerRequest, h.OtherMSPerRequest)
	}
	freed, how, ok := cpuFreed(queued, &index, *h)
	if !ok || math.Abs(freed-0.8*1.2) > 1e-9 || !strings.Contains(how, "counted at 20%: 8.0 sessions ready to run for 1.60 CPUs") {
		t.Errorf("queued: index frees %.3f ms: %q", freed, how)
	}
	// As many sessions ready as CPUs: their execution time is CPU.
	fits := withActivity(sample(1, 5), sample(2, 5))
	if h := fits.views.split.Host; h.DBRunShare != 1 || math.Abs(h.DBMSPerRequest-6) > 1e-9 {
		t.Errorf("fits: %+v", *h)
	}
	if freed, how, _ := cpuFreed(fits, &index, *fits.views.split.Host); math.Abs(freed-0.8*6) > 1e-9 || strings.Contains(how, "counted at") {
		t.Errorf("fits: index frees %.3f ms: %q", freed, how)
	}
	// Without samples, the same.
	if h := cpuInput(2, 1.2, true).views.split.Host; h.DBRunShare != 1 || math.Abs(h.DBMSPerRequest-6) > 1e-9 {
		t.Errorf("no samples: %+v", *h)
	}
}

// TestHostCPURunQueue: the host's tasks ready to run (procs_running) wait
// for its CPUs as PostgreSQL's active sessions do, and backends starting
// for a request are among them without showing active: with 8 tasks
// ready for 2 CPUs, a statement runs a quarter of its time, whatever
// pg_stat_activity shows, unless the sessions outlive the requests. The
// smaller share of the two readings counts; a run queue within the CPUs
// changes nothing.
func TestHostCPURunQueue(t *testing.T) {
	index := Finding{Rule: dbMissingIndex.ID, Evidence: map[string]any{"total_share": 0.8, "cost_cut": 1.0}}
	withQueue := func(tasks float64, onCPU int) *Input {
		in := cpuInput(2, 1.2, true)
		in.Window.HostRunnable, in.Window.HostRunnableReadings = tasks, 40
		if onCPU > 0 {
			in.Window.Activity = []postgres.ActivitySample{{Groups: []postgres.ActivityGroup{
				{Database: "app", Application: "api", State: postgres.StateActive, Count: onCPU}}}}
		}
		in.views.activity, in.views.split.Host = nil, nil
		if h, ok := hostCPUOf(in, &in.views.split.Service); ok {
			in.views.split.Host = &h
		}
		return in
	}
	queued := withQueue(8, 0)
	h := queued.views.split.Host
	if math.Abs(h.DBRunShare-0.25) > 1e-9 || math.Abs(h.DBMSPerRequest-1.5) > 1e-9 || math.Abs(h.OtherMSPerRequest-6.5) > 1e-9 {
		t.Fatalf("8 tasks for 2 CPUs: %+v", *h)
	}
	freed, how, ok := cpuFreed(queued, &index, *h)
	if !ok || math.Abs(freed-0.8*1.5) > 1e-9 || !strings.Contains(how, "counted at 25%: 8.0 of the host's tasks ready to run for its 2 CPUs") {
		t.Errorf("index frees %.3f ms: %q", freed, how)
	}
	// 16 sessions on a CPU for the 1.6 CPUs left to PostgreSQL (a tenth)
	// tell more than 8 tasks for 2 CPUs.
	if h := withQueue(8, 16).views.split.Host; math.Abs(h.DBRunShare-0.1) > 1e-9 || !strings.Contains(h.RunHow, "16.0 sessions ready to run") {
		t.Errorf("sessions' reading smaller: %+v", *h)
	}
	if h := withQueue(1.8, 0).views.split.Host; h.DBRunShare != 1 || h.RunHow != "" {
		t.Errorf("1.8 tasks for 2 CPUs: %+v", *h)
	}
	// Sessions that outlive the requests (one started in the window for
	// 2,000 requests): a pooled backend waking for a statement gets a CPU
	// ahead of the busy tasks, and its execution time counts whole.
	pooled := withQueue(8, 0)
	pooled.Window.Postgres.Cur.Database.Stats.HasSessions = true
	pooled.Window.Postgres.Database.Seconds, pooled.Window.Postgres.Database.SessionsPerS = 10, 0.1
	pooled.views.split.Host = nil
	if h, _ := hostCPUOf(pooled, &pooled.views.split.Service); h.DBRunShare != 1 || h.RunHow != "" {
		t.Errorf("pooled sessions, 8 tasks for 2 CPUs: %+v", h)
	}
	// A session per request: the backends starting are among the tasks.
	perRequest := withQueue(8, 0)
	perRequest.Window.Postgres.Cur.Database.Stats.HasSessions = true
	perRequest.Window.Postgres.Database.Seconds, perRequest.Window.Postgres.Database.SessionsPerS = 10, 200
	perRequest.views.split.Host = nil
	if h, _ := hostCPUOf(perRequest, &perRequest.views.split.Service); math.Abs(h.DBRunShare-0.25) > 1e-9 {
		t.Errorf("a session per request, 8 tasks for 2 CPUs: %+v", h)
	}
	unread := withQueue(8, 0)
	unread.Window.HostRunnableReadings = 0
	unread.views.split.Host = nil
	if h, _ := hostCPUOf(unread, &unread.views.split.Service); h.DBRunShare != 1 {
		t.Errorf("no readings: %+v", h)
	}
}

// TestRoundTripCPU: on a host advisor can see, with PostgreSQL there and
// sessions that outlive requests, a statement or Redis command is priced
// at the host's CPU per request outside the service and the statements'
// execution, with the client's part, over the calls per request; an N+1
// batched away frees that much per statement. Where a session starts per
// request, or the sessions are not counted, callCPUMS stands in.
func TestRoundTripCPU(t *testing.T) {
	// 10 ms of host CPU per request: the service 2, the statements'
	// execution 6, the rest 2; 8 statements and 2 Redis commands per
	// request, no CPU profile (25 µs of driver CPU per call).
	withCalls := func(sessionsPerS float64, hasSessions bool) *Input {
		in := cpuInput(2, 1.2, true)
		queries, cpuMS := 8.0, 2.0
		in.views.split.Service.PerRequest = &PerRequest{CPUMS: &cpuMS, DBQueries: &queries}
		pg := in.Window.Postgres
		pg.Cur.Database.Stats.HasSessions = hasSessions
		pg.Database.Seconds, pg.Database.SessionsPerS = 10, sessionsPerS
		in.Window.Redis = &redis.Window{Seconds: 10, OpsPerS: 400, Cur: &redis.Snapshot{Info: &redis.Info{}}}
		in.views.split.Host = nil
		if h, ok := hostCPUOf(in, &in.views.split.Service); ok {
			in.views.split.Host = &h
		}
		return in
	}
	nplus := Finding{Rule: dbNPlusOne.ID, Evidence: map[string]any{"repetitions": 20.0, "calls_per_s": 1000.0, "total_share": 0.05,
		"batched_away_per_s": 950.0, "batched_away_share": 0.0475}}
	nplusTime := &Saving{Share: 0.02, MSPerRequest: 2, Basis: "time"}
	measured := (2 + 10*procClientCPUMS) / 10
	cases := []struct {
		name   string
		in     *Input
		perRT  float64
		inDesc string
	}{
		{"pooled sessions", withCalls(2, true), measured, "outside the service"},
		{"a session per request", withCalls(200, true), callCPUMS, "50 µs of CPU each"},
		{"sessions not counted", withCalls(2, false), callCPUMS, "50 µs of CPU each"},
	}
	for _, c := range cases {
		h := c.in.views.split.Host
		if h == nil {
			t.Fatalf("%s: no host", c.name)
		}
		if math.Abs(h.callMS()-c.perRT) > 1e-9 {
			t.Errorf("%s: %v ms per call, want %v (%s)", c.name, h.callMS(), c.perRT, h.RoundTripHow)
		}
		// 4.75 statements fewer per request, and 95% of the statement's
		// 5% of the execution's 6 ms.
		want := (1000.0/200*(1-1.0/20)*c.perRT + 0.05*(1-1.0/20)*6) / 10
		got := onHostCPU(c.in, &nplus, nplusTime)
		if math.Abs(got.Share-want) > 1e-9 {
			t.Errorf("%s: N+1 share %v, want %v (%s)", c.name, got.Share, want, got.Basis)
		}
		if !strings.Contains(got.Basis, c.inDesc) {
			t.Errorf("%s: basis %q does not say %q", c.name, got.Basis, c.inDesc)
		}
	}
	// Advisor's own process (its probes, an in-process load generator) is
	// not the requests' cost: its 1 ms per request is left out.
	in := withCalls(2, true)
	in.Window.AdvisorCores = 0.2
	if h, ok := hostCPUOf(in, &in.views.split.Service); !ok || math.Abs(h.callMS()-(1+10*procClientCPUMS)/10) > 1e-9 ||
		!strings.Contains(h.RoundTripHow, "advisor's own 1.00 ms left out") {
		t.Errorf("advisor's CPU: %v ms per call (%s)", h.callMS(), h.RoundTripHow)
	}
	// A local Redis whose own CPU is read prices its commands apart: its
	// 0.1 ms per request and the driver's 25 µs a command, over 2
	// commands; a statement gets the rest, over 8.
	in = withCalls(2, true)
	in.Window.Redis.Cur.Local, in.Window.Redis.CPUCores = true, 0.02
	in.views.split.Host = nil
	h, ok := hostCPUOf(in, &in.views.split.Service)
	if !ok {
		t.Fatal("no host")
	}
	in.views.split.Host = &h
	redisMS, pgMS := (0.1+2*procClientCPUMS)/2, (2-0.1+8*procClientCPUMS)/8
	if math.Abs(h.redisCallMS()-redisMS) > 1e-9 || math.Abs(h.callMS()-pgMS) > 1e-9 {
		t.Errorf("apart: a command %v ms (want %v: %s), a statement %v ms (want %v: %s)", h.redisCallMS(), redisMS, h.RedisCallHow, h.callMS(), pgMS, h.RoundTripHow)
	}
	rt := Finding{Rule: redisRoundTrips.ID, Evidence: map[string]any{"commands_per_request": 2.0}}
	if freed, how, ok := cpuFreed(in, &rt, h); !ok || math.Abs(freed-redisMS) > 1e-9 || !strings.Contains(how, "Redis's own") {
		t.Errorf("redis.round-trips frees %v ms (%s), want %v", freed, how, redisMS)
	}
	if freed, _, _ := cpuFreed(in, &nplus, h); math.Abs(freed-(1000.0/200*(1-1.0/20)*pgMS+0.05*(1-1.0/20)*6)) > 1e-9 {
		t.Errorf("N+1 frees %v ms at %v a statement", freed, pgMS)
	}
	// A Redis elsewhere: one price for both, as before.
	in.Window.Redis.Cur.Local = false
	if h, _ := hostCPUOf(in, &in.views.split.Service); h.RedisCallMS != 0 || math.Abs(h.callMS()-measured) > 1e-9 {
		t.Errorf("remote Redis: a command %v, a call %v ms", h.RedisCallMS, h.callMS())
	}
	// A host with next to nothing outside the service and the statements
	// prices a call at callCPUMS at least.
	in = withCalls(2, true)
	in.Window.HostBusyCores = 1.61 // the service 0.4, the statements 1.2
	if h, ok := hostCPUOf(in, &in.views.split.Service); !ok || h.callMS() != callCPUMS {
		t.Errorf("floor: %v ms per call (%s)", h.callMS(), h.RoundTripHow)
	}
}
