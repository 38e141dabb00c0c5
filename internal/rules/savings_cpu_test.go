package rules

import (
	"math"
	"strings"
	"testing"

	"github.com/pgadvisor/advisor/internal/probe"
	"github.com/pgadvisor/advisor/internal/probe/metrics"
	"github.com/pgadvisor/advisor/internal/probe/postgres"
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
	in.views.split = &TimeSplit{Service: Span{RPS: 200, MeanMS: 100, HasLatency: true, Parts: []Part{
		{Name: PartCPU, MSPerRequest: 20, Share: 0.2},
		{Name: PartDB, MSPerRequest: 50, Share: 0.5},
		{Name: PartLock, MSPerRequest: 30, Share: 0.3},
	}}}
	// As splitOf does once it knows the rate.
	if h, ok := hostCPUOf(in, 200); ok {
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
	nplus := Finding{Rule: dbNPlusOne.ID, Evidence: map[string]any{"repetitions": 20.0, "calls_per_s": 2000.0, "total_share": 0.05}}
	pool := Finding{Rule: poolNoPooling.ID, Evidence: map[string]any{"sessions_per_request": 1.0}}
	unused := Finding{Rule: dbUnusedIndex.ID}
	// Half the service's requests are the hops' own (its callee routes).
	hopsHere := Finding{Rule: appInternalHops.ID, Evidence: map[string]any{"served_here_per_s": 100.0}}
	hopsAway := Finding{Rule: appInternalHops.ID, Evidence: map[string]any{"served_here_per_s": 0.0}}
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
		{"saturated: sessions per request", full, pool, poolTime, 2.0 / 10},
		// The hops' requests pay at least the host's CPU outside the
		// service and the statements (2 ms) each; hops served elsewhere
		// free none advisor sees.
		{"saturated: hops served here", full, hopsHere, hopsTime, 0.5 * 2 / 10},
		{"saturated: hops served elsewhere", full, hopsAway, hopsTime, 0},
		// 1.7 of 2 cores: 85% busy, half-way between 75% and 95%.
		{"half bound", cpuInput(1.7, 1.2, true), index, indexTime, 0.5*0.04 + 0.5*0.8*0.99*(1.2*1000/200)/(1.7*1000/200)},
		// PostgreSQL on another host: its CPU is not the host's.
		{"remote database", cpuInput(2, 1.2, false), index, indexTime, 0},
		// The database's execution time counts at most the busy CPU the
		// service does not use: 1.6 cores of 2.
		{"execution time above the CPU", cpuInput(2, 3, true), index, indexTime, 0.8 * 0.99 * 8 / 10},
	}
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
	if _, ok := hostCPUOf(in, 200); ok {
		t.Error("a host without CPUs")
	}
	in = cpuInput(2, 1.2, true)
	in.Window.Cumulative = true
	if _, ok := hostCPUOf(in, 200); ok {
		t.Error("a host over cumulative statistics")
	}
	if _, ok := hostCPUOf(cpuInput(2, 1.2, true), 0); ok {
		t.Error("a host without requests")
	}
	if h := full.views.split.Host; h.Cores != 2 || h.BusyCores != 2 || h.Bound != 1 || h.MSPerRequest != 10 ||
		math.Abs(h.DBMSPerRequest-6) > 1e-9 || math.Abs(h.OtherMSPerRequest-2) > 1e-9 {
		t.Errorf("host %+v", *h)
	}
}
