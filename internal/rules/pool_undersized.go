package rules

import (
	"context"
	"math"
	"regexp"
	"strconv"

	"github.com/pgadvisor/advisor/internal/probe/metrics"
	"github.com/pgadvisor/advisor/internal/probe/postgres"
)

// requestConcurrency is the mean number of requests in flight over the
// window (Little's law over the routes' latencies), else the in-flight
// gauge.
func requestConcurrency(m *metrics.Window) float64 {
	if m == nil {
		return 0
	}
	var c float64
	for _, r := range m.Routes {
		if r.HasLatency && r.Latency.Count > 0 {
			c += r.RPS * r.Latency.Mean
		}
	}
	if c <= 0 && m.HasInFlight {
		c = m.InFlightTotal
	}
	return c
}

// poolAcquireRe recognises goroutines waiting for a PostgreSQL pool
// connection, for services without pool metrics.
var poolAcquireRe = regexp.MustCompile(`^(github\.com/jackc/pgx/v[0-9]+/pgxpool\.\(\*Pool\)\.Acquire|database/sql\.\(\*DB\)\.conn)$`)

// poolUndersized flags PostgreSQL pools whose acquires wait for a large
// share of request time while the database has headroom, from the pools'
// metrics, or from handler goroutines waiting in an acquire when the
// service exports none.
var poolUndersized = Def[poolUndersizedParams]{ID: "pool.undersized", Check: checkPoolUndersized,
	// Without pool metrics, the share of handlers waiting for a connection
	// is counted in the dumps.
	CountsDumps: func(f Finding) bool { return f.Evidence["evidence_from"] == "goroutine stacks" }}

type poolUndersizedParams struct {
	MinWaitShare             float64 `param:"min_wait_share"`
	MinWaitShareUnknownCores float64 `param:"min_wait_share_unknown_cores"`
	MinAcquireWaitsPerS      float64 `param:"min_acquire_waits_per_s"`
	Spindles                 int     `param:"spindles"`
	// For services without pool metrics or goroutine dumps (Python,
	// Node): the sessions in pg_stat_activity.
	MaxPinnedSessions int     `param:"max_pinned_sessions"`
	MinBusyShare      float64 `param:"min_busy_share"`
	MinQueueShare     float64 `param:"min_queue_share"`
}

func checkPoolUndersized(_ context.Context, in *Input, p poolUndersizedParams) ([]Finding, error) {
	minShare, minWaits, spindles := p.MinWaitShare, p.MinAcquireWaitsPerS, p.Spindles
	// Without the server's cores, headroom cannot be judged: a busy
	// database makes any pool wait a little, so only a pool that holds
	// requests back for a large share of their time is called undersized.
	minShareBlind := p.MinWaitShareUnknownCores
	// PostgreSQL's default superuser_reserved_connections when the
	// settings were not read.
	base := in.poolServer().withReserved(3)
	conc := requestConcurrency(in.Window.Metrics)
	var out []Finding
	for _, p := range poolDBPools(in) {
		srv := base.withInstances(p.Gauges[metrics.PoolOpen])
		maxConns := p.Gauges[metrics.PoolMax]
		if maxConns <= 0 || p.WaitsPerSec < minWaits {
			continue
		}
		share := 0.0
		if conc > 0 {
			share = math.Min(1, p.WaitSecondsPerSec/conc)
		}
		if share < minShare || (srv.cores == 0 && share < minShareBlind) {
			continue
		}
		// Headroom: the database is not what requests wait for.
		if srv.lockWaits > 0 || (srv.cores > 0 && srv.active >= float64(srv.cores)) {
			continue
		}
		// What the measured concurrency needs: the connections in use plus
		// the mean number of goroutines waiting, capped by the formula and
		// max_connections shared among the instances.
		need := int(math.Ceil(maxConns + p.WaitSecondsPerSec))
		limit := 0
		if f := srv.formula(spindles); f > 0 {
			limit = max(1, f/srv.instances)
		}
		if u := srv.usable(); u > 0 && (limit == 0 || u/srv.instances < limit) {
			limit = max(1, u/srv.instances)
		}
		suggested := need
		if limit > 0 {
			suggested = min(need, limit)
		}
		if suggested <= int(maxConns) {
			// At the ceiling already: more connections would not help.
			continue
		}
		out = append(out, Finding{
			Subject: poolName(p),
			Evidence: map[string]any{
				"pool":                  poolName(p),
				"max_conns":             maxConns,
				"instances":             srv.instances,
				"acquire_waits_per_s":   dbRound(p.WaitsPerSec, 1),
				"acquire_wait_ms_per_s": dbRound(p.WaitSecondsPerSec*1000, 1),
				"mean_wait_ms":          dbRound(p.MeanWaitSeconds*1000, 2),
				"wait_share":            dbRound(share, 3),
				"db_active_backends":    dbRound(srv.active, 2),
				"db_cores":              srv.cores,
				"db_lock_waits":         srv.lockWaits,
				"max_connections":       srv.maxConnections,
				"suggested_max_conns":   suggested,
				"evidence_from":         "pool metrics",
				"runtime":               serviceLanguage(in),
				"wait_ms_per_request":   0,
			},
			Fix:    Fix{Config: map[string]string{"pool_max_conns": strconv.Itoa(suggested)}},
			Impact: share,
		})
	}
	if len(out) == 0 && len(poolDBPools(in)) == 0 {
		out = poolUndersizedFromStacks(in, p, base.withInstances(0), minShare)
	}
	if len(out) == 0 && len(poolDBPools(in)) == 0 && len(in.Window.Goroutines) == 0 {
		out = poolUndersizedFromActivity(in, p, base.withInstances(0))
	}
	return out, nil
}

// poolUndersizedFromStacks is the rule for services without pool metrics:
// the share of handler goroutines waiting in a pool's acquire.
func poolUndersizedFromStacks(in *Input, p poolUndersizedParams, srv poolServer, minShare float64) []Finding {
	var waiting, handlers int
	for _, g := range in.Window.Goroutines {
		if g == nil {
			continue
		}
		f := in.dump(g)
		handlers += f.handlers
		waiting += f.poolWaiting
	}
	if handlers == 0 || waiting == 0 {
		return nil
	}
	share := float64(waiting) / float64(handlers)
	if srv.cores == 0 {
		minShare = max(minShare, p.MinWaitShareUnknownCores)
	}
	if share < minShare || srv.lockWaits > 0 || (srv.cores > 0 && srv.active >= float64(srv.cores)) {
		return nil
	}
	suggested := srv.formula(p.Spindles) / srv.instances
	return []Finding{{
		Subject: "pool (from goroutine stacks)",
		Evidence: map[string]any{
			"pool":                  "pool (from goroutine stacks)",
			"max_conns":             0,
			"instances":             srv.instances,
			"acquire_waits_per_s":   0,
			"acquire_wait_ms_per_s": 0,
			"mean_wait_ms":          0,
			"wait_share":            dbRound(share, 3),
			"waiting_goroutines":    waiting,
			"db_active_backends":    dbRound(srv.active, 2),
			"db_cores":              srv.cores,
			"db_lock_waits":         srv.lockWaits,
			"max_connections":       srv.maxConnections,
			"suggested_max_conns":   suggested,
			"evidence_from":         "goroutine stacks",
			"runtime":               serviceLanguage(in),
			"wait_ms_per_request":   0,
		},
		Impact: share,
	}}
}

// poolUndersizedFromActivity is the rule for services that export neither
// pool metrics nor goroutine dumps (Python, Node): the service's sessions in
// pg_stat_activity pinned at a constant small count, nearly all active,
// while its requests wait inside it (the split's other and queue parts).
func poolUndersizedFromActivity(in *Input, p poolUndersizedParams, srv poolServer) []Finding {
	if in.Window == nil || in.Window.Metrics == nil {
		return nil
	}
	db := serviceDBOf(in)
	if !db.found || db.samples < 3 {
		return nil
	}
	c := db.main
	sessions := c.Sessions
	active := c.State(postgres.StateActive).Mean
	if sessions.Max == 0 || sessions.Max > p.MaxPinnedSessions || sessions.Mean < 0.9*float64(sessions.Max) ||
		active < p.MinBusyShare*float64(sessions.Max) {
		return nil
	}
	svc := in.split().Service
	share, waitMS := waitOf(svc)
	if share < p.MinQueueShare || svc.InFlight < 2*float64(sessions.Max) {
		return nil
	}
	// Headroom: the database is not what requests wait for.
	if srv.lockWaits > 0 || (srv.cores > 0 && srv.active >= float64(srv.cores)) {
		return nil
	}
	// What the requests in flight would use, capped by the formula and
	// the connections ordinary roles may open.
	suggested := int(math.Ceil(svc.InFlight))
	if f := srv.formula(p.Spindles); f > 0 {
		suggested = min(suggested, f)
	}
	if u := srv.usable(); u > 0 {
		suggested = min(suggested, u)
	}
	if suggested <= sessions.Max {
		return nil
	}
	lang := serviceLanguage(in)
	name := clientName(c)
	config := map[string]string{"pool_max_conns": strconv.Itoa(suggested)}
	switch lang {
	case metrics.LanguagePython:
		config = map[string]string{"pool_size": strconv.Itoa(suggested), "max_overflow": "0"}
	case metrics.LanguageNode:
		config = map[string]string{"max": strconv.Itoa(suggested)}
	}
	return []Finding{{
		Subject: name,
		Evidence: map[string]any{
			"pool":                  name,
			"max_conns":             sessions.Max,
			"instances":             srv.instances,
			"acquire_waits_per_s":   0,
			"acquire_wait_ms_per_s": 0,
			"mean_wait_ms":          0,
			"wait_share":            dbRound(share, 3),
			"wait_ms_per_request":   dbRound(waitMS, 1),
			"sessions_mean":         dbRound(sessions.Mean, 2),
			"active_mean":           dbRound(active, 2),
			"in_flight":             dbRound(svc.InFlight, 1),
			"db_active_backends":    dbRound(srv.active, 2),
			"db_cores":              srv.cores,
			"db_lock_waits":         srv.lockWaits,
			"max_connections":       srv.maxConnections,
			"suggested_max_conns":   suggested,
			"evidence_from":         "pg_stat_activity",
			"runtime":               lang,
		},
		Fix:    Fix{Config: config},
		Impact: share,
	}}
}
