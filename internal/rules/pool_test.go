package rules

import (
	"strconv"
	"testing"

	"github.com/pgadvisor/advisor/internal/probe/postgres"
)

func TestPoolUndersizedCaptured(t *testing.T) {
	w := dbLoadCapture(t, "pool", "pool-tiny")
	fs := dbDetect(t, w, dbRule(t, "pool.undersized", nil))
	if len(fs) != 1 {
		t.Fatalf("want one finding for the pool of 2, got %v", fs)
	}
	ev := fs[0].Evidence
	if ev["max_conns"] != 2.0 || ev["db_cores"] == 0 {
		t.Errorf("evidence %v", ev)
	}
	// The captures come from a 2-core machine or larger: the formula
	// (cores x 2 + 1) is the ceiling, the pool's size the floor.
	cores := ev["db_cores"].(int)
	suggested := ev["suggested_max_conns"].(int)
	if suggested <= 2 || suggested > cores*2+1 {
		t.Errorf("suggested %d for %d cores", suggested, cores)
	}
	if fs[0].Fix.Config["pool_max_conns"] != strconv.Itoa(suggested) {
		t.Errorf("fix %v", fs[0].Fix.Config)
	}
	if share := ev["wait_share"].(float64); share < 0.05 || share > 1 {
		t.Errorf("wait share %v", share)
	}

	// No headroom: a backend waiting on a lock, or as many active backends
	// as cores, and the pool is not what to change.
	locked := dbLoadCapture(t, "pool", "pool-tiny")
	locked.Postgres.Cur.Blocked.Rows = append(locked.Postgres.Cur.Blocked.Rows, postgres.BlockedQuery{PID: 1, WaitSeconds: 3})
	if fs := dbDetect(t, locked, dbRule(t, "pool.undersized", nil)); len(fs) != 0 {
		t.Errorf("undersized while backends wait on locks: %v", fs)
	}
	busy := dbLoadCapture(t, "pool", "pool-tiny")
	busy.Postgres.Cur.Server.CPUs = 1
	busy.Postgres.Database.ActiveTime = busy.Postgres.Database.Seconds * 1000 * 1.5
	if fs := dbDetect(t, busy, dbRule(t, "pool.undersized", nil)); len(fs) != 0 {
		t.Errorf("undersized while the server's one core is busy: %v", fs)
	}

	// The sized pool (cores x 4 on this 2-core machine) does not wait.
	if fs := dbDetect(t, dbLoadCapture(t, "db", "tuned"), dbRule(t, "pool.undersized", nil)); len(fs) != 0 {
		t.Errorf("undersized on the tuned pool: %v", fs)
	}
}

func TestPoolOversizedCaptured(t *testing.T) {
	fs := dbDetect(t, dbLoadCapture(t, "pool", "pool-huge"), dbRule(t, "pool.oversized", nil))
	if len(fs) != 1 {
		t.Fatalf("want one finding for the pool of 400, got %v", fs)
	}
	ev := fs[0].Evidence
	if ev["max_conns"] != 400 || ev["exceeds_connections"] != true || ev["instances"] != 1 {
		t.Errorf("evidence %v", ev)
	}
	if s := ev["suggested_max_conns"].(int); s < 1 || s > ev["usable_connections"].(int) || s > ev["formula_conns"].(int) {
		t.Errorf("suggested %d", s)
	}
	// A pool at the HikariCP size (the tuned profile's cores x 4, below 4x
	// the formula, and well within max_connections) is not oversized.
	if fs := dbDetect(t, dbLoadCapture(t, "db", "tuned"), dbRule(t, "pool.oversized", nil)); len(fs) != 0 {
		t.Errorf("oversized on the tuned pool: %v", fs)
	}
	// The tiny pool neither.
	if fs := dbDetect(t, dbLoadCapture(t, "pool", "pool-tiny"), dbRule(t, "pool.oversized", nil)); len(fs) != 0 {
		t.Errorf("oversized on the pool of 2: %v", fs)
	}
}

func TestPoolNoPoolingCaptured(t *testing.T) {
	fs := dbDetect(t, dbLoadCapture(t, "pool", "pool-per-request"), dbRule(t, "pool.no-pooling", nil))
	if len(fs) != 1 {
		t.Fatalf("want one finding, got %v", fs)
	}
	ev := fs[0].Evidence
	if r := ev["sessions_per_request"].(float64); r < 0.5 || r > 1.5 {
		t.Errorf("sessions per request %v", r)
	}
	if ev["request_rate_from_metrics"] != true || ev["connect_frames_in_dumps"].(int) == 0 {
		t.Errorf("evidence %v", ev)
	}
	if fs[0].Location != "/src/advisor/sampleapp/db.go:147" {
		t.Errorf("location %q, want the pgx.ConnectConfig call", fs[0].Location)
	}
	for _, name := range []string{"tuned", "cache"} {
		if fs := dbDetect(t, dbLoadCapture(t, "db", name), dbRule(t, "pool.no-pooling", nil)); len(fs) != 0 {
			t.Errorf("%s: no-pooling with a pool: %v", name, fs)
		}
	}
	// Without the service's metrics, transactions stand in for requests.
	w := dbLoadCapture(t, "pool", "pool-per-request")
	w.Metrics = nil
	fs = dbDetect(t, w, dbRule(t, "pool.no-pooling", nil))
	if len(fs) != 1 || fs[0].Evidence["request_rate_from_metrics"] != false {
		t.Errorf("without metrics: %v", fs)
	}
}

func TestPoolInstances(t *testing.T) {
	s := poolServer{apps: map[string]int{"api": 24, "api-jobs": 6, "": 1}}
	for _, tc := range []struct {
		open float64
		want int
	}{{8, 3}, {6, 1}, {24, 1}, {40, 1}, {0, 1}} {
		if got := s.withInstances(tc.open).instances; got != tc.want {
			t.Errorf("open %v: %d instances, want %d", tc.open, got, tc.want)
		}
	}
}
