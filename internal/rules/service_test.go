package rules

import (
	"strings"
	"testing"
	"time"

	"github.com/pgadvisor/advisor/internal/probe"
	"github.com/pgadvisor/advisor/internal/probe/metrics"
	"github.com/pgadvisor/advisor/internal/probe/postgres"
	"github.com/pgadvisor/advisor/internal/probe/source"
)

// svcWindow is a synthetic window of a service in language lang: one route
// at rps with mean latency meanS (seconds), process CPU in cores, and
// pg_stat_activity readings of the service's sessions (state counts per
// reading) in database "app".
type svcWindow struct {
	lang            string
	rps, meanS, cpu float64
	// sessions and active are the service's sessions in each reading, and
	// how many of them are active.
	sessions, active []int
	loop             *metrics.EventLoop
	hostCPUs         int
	hostBusy         float64
	// pressure is the host's CPU pressure (nil: unknown).
	pressure       *float64
	maxConnections string
	// kernelQueued is the mean number of requests waiting in the kernel
	// for the service; kernelRead says it was read (it is when above 0).
	kernelQueued float64
	kernelRead   bool
}

func (s svcWindow) window() *probe.Window {
	cpu := s.cpu
	m := &metrics.Window{
		Routes: []metrics.RouteRate{{Route: "/posts", Method: "GET", RPS: s.rps, Requests: s.rps * 4,
			Latency: metrics.Latency{Count: s.rps * 4, Mean: s.meanS, P50: s.meanS, P95: 2 * s.meanS, HasPercentiles: true}, HasLatency: true}},
		RPS: s.rps, Requests: s.rps * 4,
		Runtime: metrics.RuntimeWindow{Language: s.lang, EventLoop: s.loop},
		Process: metrics.ProcessWindow{CPUCores: &cpu},
	}
	w := &probe.Window{Seconds: 4, Metrics: m, ServiceCPUs: s.hostCPUs, HostBusyCores: s.hostBusy, HostCPUPressure: s.pressure,
		Sources: map[string]source.Status{probe.Metrics: {State: source.OK}, probe.Postgres: {State: source.OK}}}
	if s.kernelQueued > 0 || s.kernelRead {
		w.KernelQueued, w.KernelQueuedReadings = s.kernelQueued, 16
	}
	settings := postgres.Settings{"superuser_reserved_connections": {Value: "3"}}
	if s.maxConnections != "" {
		settings["max_connections"] = postgres.Setting{Value: s.maxConnections}
	}
	w.Postgres = &postgres.Window{Cur: &postgres.Snapshot{Server: postgres.Server{Database: "app", Settings: settings}}}
	t0 := time.Unix(0, 0)
	for i, n := range s.sessions {
		a := s.active[i]
		var groups []postgres.ActivityGroup
		g := postgres.ActivityGroup{Database: "app", User: "app", Application: "api", ClientAddr: "10.0.0.5"}
		if a > 0 {
			g.State, g.Count = postgres.StateActive, a
			groups = append(groups, g)
		}
		if n-a > 0 {
			g.State, g.Count = postgres.StateIdle, n-a
			groups = append(groups, g)
		}
		w.Activity = append(w.Activity, postgres.ActivitySample{Time: t0.Add(time.Duration(i) * time.Second), Groups: groups})
	}
	return w
}

func repeat(n, times int) []int {
	out := make([]int, times)
	for i := range out {
		out[i] = n
	}
	return out
}

func TestServiceQueueingCauses(t *testing.T) {
	lag := 0.4
	elu := 0.97
	calm, contended, shared := 0.08, 0.7, 0.3
	minKernel, _ := loadBuiltin(t).Rule("service.queueing").Param("min_kernel_queued")
	for _, tc := range []struct {
		name  string
		w     svcWindow
		cause string // "" for no finding
		fix   string
	}{
		// The FastAPI: 20 req/s at 1.6 s, 0.13 cores, one session
		// busy at most.
		{"blocked loop", svcWindow{lang: "python", rps: 20, meanS: 1.6, cpu: 0.13,
			sessions: repeat(2, 5), active: []int{1, 0, 1, 1, 0}}, causeEventLoop, "run_in_threadpool"},
		{"node loop lag", svcWindow{lang: "node", rps: 20, meanS: 1, cpu: 0.5,
			sessions: repeat(10, 5), active: repeat(0, 5), loop: &metrics.EventLoop{LagP99Seconds: &lag, Utilisation: &elu}},
			causeEventLoop, "worker_threads"},
		{"tiny pool", svcWindow{lang: "node", rps: 50, meanS: 0.4, cpu: 0.2,
			sessions: repeat(2, 5), active: []int{2, 2, 2, 2, 1}}, causePool, "new Pool"},
		{"one core", svcWindow{lang: "python", rps: 50, meanS: 0.4, cpu: 0.97,
			sessions: repeat(5, 5), active: []int{1, 0, 1, 0, 1}}, causeWorkers, "runtime.workers"},
		// Busy on CPU and the database: no wait inside.
		{"busy", svcWindow{lang: "python", rps: 50, meanS: 0.1, cpu: 3,
			sessions: repeat(5, 5), active: repeat(2, 5)}, "", ""},
		// The same with the host's pressure stall information: no task
		// waited for a CPU most of the time, so the wait is the service's.
		{"blocked loop, calm host", svcWindow{lang: "python", rps: 20, meanS: 1.6, cpu: 0.13, hostCPUs: 2, hostBusy: 0.4, pressure: &calm,
			sessions: repeat(2, 5), active: []int{1, 0, 1, 1, 0}}, causeEventLoop, "run_in_threadpool"},
		// A host shared with other work, its CPUs not all busy on average
		// but some task waiting for one 70% of the time: the requests may
		// be waiting for a CPU.
		{"host under CPU pressure", svcWindow{lang: "python", rps: 20, meanS: 1.6, cpu: 0.13, hostCPUs: 2, hostBusy: 1.2, pressure: &contended,
			sessions: repeat(2, 5), active: []int{1, 0, 1, 1, 0}}, "", ""},
		// The tuned FastAPI target in a CI run beside the other packages:
		// the host 57% busy, some task waiting for a CPU 30% of the window.
		{"host under some CPU pressure", svcWindow{lang: "python", rps: 20, meanS: 1.6, cpu: 0.13, hostCPUs: 2, hostBusy: 1.15, pressure: &shared,
			sessions: repeat(2, 5), active: []int{1, 0, 1, 1, 0}}, "", ""},
		// The FastAPI target's sync handlers inside async def: each worker
		// blocks before its first await, so its metrics see one request in
		// flight per worker and a latency all database and CPU, while the
		// others wait in the kernel, unread (probe.Window.KernelQueued).
		{"blocked loop, requests queued in the kernel", svcWindow{lang: "python", rps: 40, meanS: 0.05, cpu: 0.3, hostCPUs: 2, hostBusy: 0.6, pressure: &calm,
			sessions: repeat(2, 5), active: []int{0, 1, 0, 0, 1}, kernelQueued: 30}, causeEventLoop, "in the kernel for the service to read them"},
		// The same beside a CI run's other packages (some task waiting
		// for a CPU 30% of the window): the requests unread in the kernel
		// make most of the wait, which is the loop's on a host with CPUs
		// free, not the CPU's.
		{"blocked loop, requests queued in the kernel, some CPU pressure", svcWindow{lang: "python", rps: 40, meanS: 0.05, cpu: 0.3, hostCPUs: 2, hostBusy: 1.15, pressure: &shared,
			sessions: repeat(2, 5), active: []int{0, 1, 0, 0, 1}, kernelQueued: 30}, causeEventLoop, "in the kernel for the service to read them"},
		{"the same, without the kernel's queue", svcWindow{lang: "python", rps: 40, meanS: 0.05, cpu: 0.3, hostCPUs: 2, hostBusy: 0.6, pressure: &calm,
			sessions: repeat(2, 5), active: []int{0, 1, 0, 0, 1}}, "", ""},
		// Below min_kernel_queued: a keep-alive client's next request read
		// a moment after it came.
		{"a moment's queue in the kernel", svcWindow{lang: "python", rps: 40, meanS: 0.05, cpu: 0.3, hostCPUs: 2, hostBusy: 0.6, pressure: &calm,
			sessions: repeat(2, 5), active: []int{0, 1, 0, 0, 1}, kernelQueued: 0.4}, "", ""},
		// Two workers each blocked in a slow statement: two sessions, both
		// active, as a tiny pool all busy would show; the requests waiting
		// unread in the kernel tell the loop.
		{"blocked loop in slow statements", svcWindow{lang: "python", rps: 60, meanS: 0.03, cpu: 0.2, hostCPUs: 2, hostBusy: 0.8, pressure: &calm,
			sessions: repeat(2, 5), active: []int{2, 2, 2, 1, 2}, kernelQueued: 6}, causeEventLoop, "run_in_threadpool"},
		// The FastAPI target with one connection per worker under
		// statements of 25 ms: the requests wait inside for SQLAlchemy's
		// pool, which hands its connection from thread to thread under
		// the GIL (its sessions active 40% of the time), and none waits in
		// the kernel: the loops read their requests, none is blocked.
		{"requests read, waiting for a tiny pool handed between threads", svcWindow{lang: "python", rps: 45, meanS: 0.12, cpu: 0.16, hostCPUs: 2, hostBusy: 0.3, pressure: &calm,
			sessions: repeat(2, 6), active: []int{1, 1, 0, 1, 1, 1}, kernelRead: true}, causePool, "held 42% of the time, and the requests queue for them (each connection sits idle as it passes"},
		// The same with the sessions mostly idle: not the pool they wait
		// for.
		{"requests read, waiting inside, sessions idle", svcWindow{lang: "python", rps: 45, meanS: 0.12, cpu: 0.16, hostCPUs: 2, hostBusy: 0.3, pressure: &calm,
			sessions: repeat(2, 6), active: []int{0, 0, 0, 0, 1, 0}, kernelRead: true}, causeUnknown, "py-spy"},
		// The same without the kernel's queue read: the pool's sessions
		// not all busy are not told from a loop blocked between
		// statements, so the pool needs them busy.
		{"sessions half active, queue not read", svcWindow{lang: "python", rps: 45, meanS: 0.12, cpu: 0.16, hostCPUs: 2, hostBusy: 0.3, pressure: &calm,
			sessions: repeat(2, 6), active: []int{1, 1, 0, 1, 1, 1}}, causeEventLoop, "run_in_threadpool"},
		// The same at one core per worker: too few workers.
		{"workers at a core, requests queued in the kernel", svcWindow{lang: "python", rps: 60, meanS: 0.03, cpu: 0.95, hostCPUs: 4, hostBusy: 1.2, pressure: &calm,
			sessions: repeat(2, 5), active: []int{0, 1, 0, 0, 1}, kernelQueued: 12}, causeWorkers, "runtime.workers"},
		// Node without prom-client's event-loop metrics, its requests
		// queued unread in the kernel: no lag to quote.
		{"node loop blocked, no loop metrics", svcWindow{lang: "node", rps: 20, meanS: 0.03, cpu: 0.2, hostCPUs: 2, hostBusy: 0.4, pressure: &calm,
			sessions: repeat(10, 5), active: []int{1, 0, 1, 1, 0}, kernelQueued: 20}, causeEventLoop, "blocks Node's event loop: move CPU work"},
		// The host's CPUs all busy: requests wait for a CPU.
		{"host saturated", svcWindow{lang: "python", rps: 20, meanS: 1.6, cpu: 0.13, hostCPUs: 2, hostBusy: 1.95,
			sessions: repeat(2, 5), active: []int{1, 0, 1, 1, 0}}, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fs := appRunRule(t, &Input{Window: tc.w.window()}, "service.queueing", nil)
			if tc.cause == "" {
				if len(fs) != 0 {
					t.Fatalf("findings %+v", fs)
				}
				return
			}
			if len(fs) != 1 {
				t.Fatalf("%d findings, want 1", len(fs))
			}
			f := fs[0]
			t.Logf("%s\n%s\n%v", f.Title, f.Fix.Summary, f.Evidence)
			if f.Evidence["cause"] != tc.cause {
				t.Errorf("cause %v, want %s", f.Evidence["cause"], tc.cause)
			}
			if !strings.Contains(f.Fix.Summary, tc.fix) || !strings.Contains(f.Fix.Summary, "GET /posts") {
				t.Errorf("fix %q, want %q and the route", f.Fix.Summary, tc.fix)
			}
			if f.Impact < 0.5 {
				t.Errorf("impact %v", f.Impact)
			}
			// The loop's figures are Node's: -1 where the service
			// exposes none, not a loop that never lagged.
			wantLag, wantELU := -1.0, -1.0
			if l := tc.w.loop; l != nil {
				wantLag, wantELU = *l.LagP99Seconds*1000, *l.Utilisation
			}
			if f.Evidence["event_loop_lag_p99_ms"] != wantLag || f.Evidence["event_loop_utilisation"] != wantELU {
				t.Errorf("event loop lag %v, utilisation %v; want %v, %v", f.Evidence["event_loop_lag_p99_ms"], f.Evidence["event_loop_utilisation"], wantLag, wantELU)
			}
			from, _ := f.Evidence["in_flight_from"].(string)
			if kernel := tc.w.kernelQueued >= minKernel.(float64); kernel != strings.HasSuffix(from, " + the kernel's queue") {
				t.Errorf("in flight from %q, kernel queue %v", from, tc.w.kernelQueued)
			}
		})
	}
}

func TestRuntimeWorkers(t *testing.T) {
	busyLoop, idleLoop, starvedLoop := 0.95, 0.3, 0.99
	for _, tc := range []struct {
		name string
		w    svcWindow
		want []string // fix fragments; nil for no finding
	}{
		{"python local", svcWindow{lang: "python", rps: 100, meanS: 0.05, cpu: 0.97, hostCPUs: 4, hostBusy: 1.5},
			[]string{"uvicorn --workers 4", "-w 9", "4 workers x 15", "= 60 database connections"}},
		{"python remote", svcWindow{lang: "python", rps: 100, meanS: 0.05, cpu: 0.97},
			[]string{"uvicorn --workers CORES", "(2 x CORES + 1)", "its cores are unknown", "workers x 15"}},
		{"node one loop", svcWindow{lang: "node", rps: 100, meanS: 0.05, cpu: 0.95, hostCPUs: 8, hostBusy: 2,
			loop: &metrics.EventLoop{Utilisation: &busyLoop}}, []string{"node:cluster", "pm2 start -i 8", "= 80 database"}},
		// One loop 99% busy, at the 0.77 cores a busy host gave it, with
		// a quarter of the host idle (a CI run): one worker, starved.
		{"node one loop starved", svcWindow{lang: "node", rps: 50, meanS: 0.1, cpu: 0.77, hostCPUs: 2, hostBusy: 1.71,
			loop: &metrics.EventLoop{Utilisation: &starvedLoop}}, []string{"node:cluster", "pm2 start -i 2"}},
		// The same CPU with the loop idle: the core goes elsewhere.
		{"node low cpu idle loop", svcWindow{lang: "node", rps: 50, meanS: 0.1, cpu: 0.5, hostCPUs: 2, hostBusy: 1,
			loop: &metrics.EventLoop{Utilisation: &idleLoop}}, nil},
		// Two loops at half a core each: a cluster already.
		{"node cluster", svcWindow{lang: "node", rps: 100, meanS: 0.05, cpu: 0.9, hostCPUs: 8,
			loop: &metrics.EventLoop{Utilisation: &idleLoop}}, nil},
		{"go", svcWindow{lang: "go", rps: 100, meanS: 0.05, cpu: 1}, nil},
		{"low cpu", svcWindow{lang: "python", rps: 100, meanS: 0.05, cpu: 0.4, hostCPUs: 4}, nil},
		{"one core host", svcWindow{lang: "python", rps: 100, meanS: 0.05, cpu: 0.97, hostCPUs: 1}, nil},
		{"host saturated", svcWindow{lang: "python", rps: 100, meanS: 0.05, cpu: 0.97, hostCPUs: 2, hostBusy: 1.9}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fs := appRunRule(t, &Input{Window: tc.w.window()}, "runtime.workers", nil)
			if tc.want == nil {
				if len(fs) != 0 {
					t.Fatalf("findings %+v", fs)
				}
				return
			}
			if len(fs) != 1 {
				t.Fatalf("%d findings, want 1", len(fs))
			}
			t.Logf("%s\n%s", fs[0].Title, fs[0].Fix.Summary)
			for _, s := range tc.want {
				if !strings.Contains(fs[0].Fix.Summary, s) {
					t.Errorf("fix %q lacks %q", fs[0].Fix.Summary, s)
				}
			}
			// Node's loop utilisation; -1 where the service exposes none.
			wantELU := -1.0
			if l := tc.w.loop; l != nil {
				wantELU = *l.Utilisation
			}
			if got := fs[0].Evidence["event_loop_utilisation"]; got != wantELU {
				t.Errorf("event loop utilisation %v, want %v", got, wantELU)
			}
		})
	}
}

func TestPoolBudget(t *testing.T) {
	w := svcWindow{lang: "python", rps: 10, meanS: 0.01, cpu: 0.1, maxConnections: "100",
		sessions: []int{70, 82, 85, 80}, active: []int{3, 4, 2, 3}}
	fs := appRunRule(t, &Input{Window: w.window()}, "pool.budget", nil)
	if len(fs) != 1 {
		t.Fatalf("%d findings, want 1", len(fs))
	}
	f := fs[0]
	t.Logf("%s\n%s", f.Title, f.Fix.Summary)
	if f.Evidence["sessions_max"] != 85 || f.Evidence["available_connections"] != 97 {
		t.Errorf("evidence %v", f.Evidence)
	}
	for _, s := range []string{"workers x (pool_size + max_overflow)", "5 + 10", "api from 10.0.0.5: max 85"} {
		if !strings.Contains(f.Fix.Summary, s) {
			t.Errorf("fix lacks %q", s)
		}
	}
	w.sessions = []int{40, 50, 60, 70}
	if fs := appRunRule(t, &Input{Window: w.window()}, "pool.budget", nil); len(fs) != 0 {
		t.Errorf("70 of 97: %v", fs)
	}
}

func TestPoolUndersizedFromActivity(t *testing.T) {
	w := svcWindow{lang: "python", rps: 50, meanS: 0.4, cpu: 0.2,
		sessions: repeat(2, 5), active: []int{2, 2, 2, 2, 2}}
	fs := appRunRule(t, &Input{Window: w.window()}, "pool.undersized", nil)
	if len(fs) != 1 {
		t.Fatalf("%d findings, want 1", len(fs))
	}
	f := fs[0]
	t.Logf("%s\n%s\n%v", f.Title, f.Fix.Summary, f.Fix.Config)
	if f.Evidence["evidence_from"] != "pg_stat_activity" || f.Fix.Config["pool_size"] != "20" ||
		!strings.Contains(f.Fix.Summary, "SQLAlchemy") {
		t.Errorf("finding %+v", f)
	}
	// Sessions mostly idle: the pool is not what requests wait for.
	w.active = []int{1, 0, 1, 0, 0}
	if fs := appRunRule(t, &Input{Window: w.window()}, "pool.undersized", nil); len(fs) != 0 {
		t.Errorf("idle sessions: %v", fs)
	}
}

func TestNPlusOneFixLanguage(t *testing.T) {
	q := "SELECT users.id AS users_id, users.name AS users_name FROM users WHERE users.id = $1"
	in := &Input{Window: svcWindow{lang: "python"}.window()}
	if got := dbORMOf(q, in); got != "sqlalchemy" {
		t.Errorf("orm %q", got)
	}
	if code := dbBatchCode("sqlalchemy", "python", q); !strings.Contains(code, "selectinload(Parent.users)") {
		t.Errorf("code %s", code)
	}
	node := &Input{Window: svcWindow{lang: "node"}.window()}
	if got := dbORMOf(q, node); got != "" {
		t.Errorf("node orm %q", got)
	}
	if code := dbBatchCode("", "node", "SELECT id, name FROM users WHERE id = $1"); !strings.Contains(code, `"SELECT id, name FROM users WHERE id = ANY($1)"`) ||
		!strings.Contains(code, "await pool.query") {
		t.Errorf("node code %s", code)
	}
	if code := dbBatchCode("", "go", "SELECT id, name FROM users WHERE id = $1"); !strings.Contains(code, "pool.Query(ctx") {
		t.Errorf("go code %s", code)
	}
	if got := dbORMOf("SELECT u.id AS uid FROM users u WHERE u.id = $1", in); got != "" {
		t.Errorf("plain alias read as SQLAlchemy")
	}
}

func TestProbeUnavailableNotConfigured(t *testing.T) {
	w := &probe.Window{Sources: map[string]source.Status{
		probe.Pprof:    {State: source.Unavailable, Detail: "not applicable: a python service serves no Go profiles; py-spy ..."},
		probe.Metrics:  {State: source.OK},
		probe.Postgres: {State: source.Unavailable, Detail: "not configured: pass --pg DSN"},
		probe.Redis:    {State: source.Error, Detail: "connection refused"},
	}}
	fs := appRunRule(t, &Input{Window: w}, "probe.unavailable", nil)
	if len(fs) != 1 || fs[0].Subject != probe.Redis {
		t.Errorf("findings %+v, want redis only", fs)
	}
	for _, f := range fs {
		if strings.Contains(f.Fix.Summary, "net/http/pprof") {
			t.Errorf("asks for Go's pprof: %s", f.Fix.Summary)
		}
	}
}
