package rules

import (
	"context"
	"math"
	"regexp"
	"sort"
	"strconv"

	"github.com/pgadvisor/advisor/internal/probe/metrics"
	"github.com/pgadvisor/advisor/internal/probe/postgres"
)

// poolDetectors returns the detectors of the connection pool rules.
var poolRules = legacyRules(map[string]func(ctx context.Context, in *Input, r *Rule) ([]Finding, error){
	"pool.undersized": poolUndersized,
	"pool.oversized":  poolOversized,
	"pool.no-pooling": poolNoPooling,
})

// poolKinds are the pool kinds of PostgreSQL clients (metrics.PoolFamily
// kinds); go-redis pools are not database pools.
var poolKinds = map[string]bool{"pgxpool": true, "database/sql": true}

// poolDBPools returns the PostgreSQL pools of the service's metrics.
func poolDBPools(in *Input) []metrics.PoolRate {
	if in == nil || in.Window == nil || in.Window.Metrics == nil {
		return nil
	}
	var out []metrics.PoolRate
	for _, p := range in.Window.Metrics.Pools {
		if poolKinds[p.Kind] {
			out = append(out, p)
		}
	}
	return out
}

// poolName names a pool in findings: its kind and id.
func poolName(p metrics.PoolRate) string {
	if p.ID == "" || p.ID == p.Kind {
		return p.Kind
	}
	return p.Kind + " " + p.ID
}

// poolServer sums up what the database tells about its capacity.
type poolServer struct {
	cores          int
	maxConnections int
	reserved       int
	// active backends of client sessions (all databases): the mean over
	// the window from pg_stat_database.active_time when known, else the
	// count at the end; and those waiting on a lock.
	active    float64
	lockWaits int
	// backends of the database by application name.
	apps map[string]int
	// instances is how many client instances share the database (set per
	// pool by withInstances; at least 1).
	instances int
}

// withInstances estimates how many instances of a service run a pool that
// has open connections: the backends of the database's application names,
// in multiples of the pool's open connections; the smallest multiple of an
// application with at least that many backends (other pools of the same
// service, such as a job queue's, have their own application names and
// fewer backends). 1 when nothing tells.
func (s poolServer) withInstances(open float64) poolServer {
	s.instances = 1
	if open <= 0 {
		return s
	}
	best := 0
	for _, n := range s.apps {
		if k := int(float64(n) / open); k >= 1 && (best == 0 || k < best) {
			best = k
		}
	}
	s.instances = max(1, best)
	return s
}

func poolServerOf(cur *postgres.Snapshot, reservedParam int) poolServer {
	s := poolServer{instances: 1, reserved: reservedParam}
	if cur == nil {
		return s
	}
	s.cores = cur.Server.CPUs
	if n, ok := cur.Server.Settings.Int("max_connections"); ok {
		s.maxConnections = int(n)
	}
	if n, ok := cur.Server.Settings.Int("superuser_reserved_connections"); ok {
		s.reserved = int(n)
		if m, ok := cur.Server.Settings.Int("reserved_connections"); ok {
			s.reserved += int(m)
		}
	}
	s.apps = map[string]int{}
	var active int
	for _, g := range cur.Activity.Groups {
		if g.State == "active" {
			active += g.Count
		}
		if g.WaitEventType == "Lock" {
			s.lockWaits += g.Count
		}
		if g.Database == cur.Server.Database {
			s.apps[g.Application] += g.Count
		}
	}
	s.active = float64(active)
	s.lockWaits = max(s.lockWaits, len(cur.Blocked.Rows))
	return s
}

// poolServerOfWindow is poolServerOf with the mean number of active
// backends of the window's database (active_time over the window) when the
// server counts it (14+).
func poolServerOfWindow(in *Input, reservedParam int) poolServer {
	s := poolServerOf(dbCur(in), reservedParam)
	if pg := dbPG(in); pg != nil && pg.Cur != nil && pg.Cur.Database.Stats.HasSessions && pg.Database.Seconds > 0 {
		s.active = pg.Database.ActiveTime / 1000 / pg.Database.Seconds
	}
	return s
}

// formula is the PostgreSQL wiki / HikariCP pool size for the whole
// database, cores x 2 + spindles; 0 when the cores are unknown.
func (s poolServer) formula(spindles int) int {
	if s.cores <= 0 {
		return 0
	}
	return s.cores*2 + spindles
}

// usable is max_connections minus the reserved connections; 0 if unknown.
func (s poolServer) usable() int {
	if s.maxConnections <= 0 {
		return 0
	}
	return max(1, s.maxConnections-s.reserved)
}

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

func poolUndersized(ctx context.Context, in *Input, r *Rule) ([]Finding, error) {
	minShare, minWaits, spindles := r.Float("min_wait_share"), r.Float("min_acquire_waits_per_s"), r.Int("spindles")
	// Without the server's cores, headroom cannot be judged: a busy
	// database makes any pool wait a little, so only a pool that holds
	// requests back for a large share of their time is called undersized.
	minShareBlind := r.Float("min_wait_share_unknown_cores")
	base := poolServerOfWindow(in, 3)
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
			},
			Fix:    Fix{Config: map[string]string{"pool_max_conns": strconv.Itoa(suggested)}},
			Impact: share,
		})
	}
	if len(out) == 0 && len(poolDBPools(in)) == 0 {
		out = poolUndersizedFromStacks(in, r, base.withInstances(0), minShare)
	}
	return out, nil
}

// poolUndersizedFromStacks is the rule for services without pool metrics:
// the share of handler goroutines waiting in a pool's acquire.
func poolUndersizedFromStacks(in *Input, r *Rule, srv poolServer, minShare float64) []Finding {
	var waiting, handlers int
	for _, g := range in.Window.Goroutines {
		if g == nil {
			continue
		}
		for _, gr := range g.Goroutines {
			if gr.Attribution.Handler == "" {
				continue
			}
			handlers++
			for _, f := range gr.Frames {
				if poolAcquireRe.MatchString(f.Func) {
					waiting++
					break
				}
			}
		}
	}
	if handlers == 0 || waiting == 0 {
		return nil
	}
	share := float64(waiting) / float64(handlers)
	if srv.cores == 0 {
		minShare = max(minShare, r.Float("min_wait_share_unknown_cores"))
	}
	if share < minShare || srv.lockWaits > 0 || (srv.cores > 0 && srv.active >= float64(srv.cores)) {
		return nil
	}
	suggested := srv.formula(r.Int("spindles")) / srv.instances
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
		},
		Impact: share,
	}}
}

func poolOversized(ctx context.Context, in *Input, r *Rule) ([]Finding, error) {
	factor, spindles := r.Float("max_formula_factor"), r.Int("spindles")
	base := poolServerOfWindow(in, r.Int("reserved_connections"))
	formula, usable := base.formula(spindles), base.usable()
	var out []Finding
	for _, p := range poolDBPools(in) {
		srv := base.withInstances(p.Gauges[metrics.PoolOpen])
		maxConns := int(p.Gauges[metrics.PoolMax])
		if maxConns <= 0 {
			continue
		}
		total := maxConns * srv.instances
		overLimit := usable > 0 && total > usable
		busy := srv.lockWaits > 0 || (srv.cores > 0 && srv.active > float64(srv.cores))
		overFormula := formula > 0 && float64(total) > factor*float64(formula) && busy
		if !overLimit && !overFormula {
			continue
		}
		suggested := 0
		if formula > 0 {
			suggested = max(1, formula/srv.instances)
		}
		if usable > 0 && (suggested == 0 || usable/srv.instances < suggested) {
			suggested = max(1, usable/srv.instances)
		}
		impact := 0.0
		if total > 0 && suggested > 0 {
			impact = 1 - float64(suggested*srv.instances)/float64(total)
		}
		out = append(out, Finding{
			Subject: poolName(p),
			Evidence: map[string]any{
				"pool":                poolName(p),
				"max_conns":           maxConns,
				"instances":           srv.instances,
				"total_max_conns":     total,
				"max_connections":     srv.maxConnections,
				"reserved":            srv.reserved,
				"usable_connections":  usable,
				"db_cores":            srv.cores,
				"formula_conns":       formula,
				"db_active_backends":  dbRound(srv.active, 2),
				"db_lock_waits":       srv.lockWaits,
				"exceeds_connections": overLimit,
				"suggested_max_conns": suggested,
			},
			Fix:    Fix{Config: map[string]string{"pool_max_conns": strconv.Itoa(suggested)}},
			Impact: impact,
		})
	}
	return out, nil
}

// poolConnectRe recognises the frames that open a PostgreSQL connection.
var poolConnectRe = regexp.MustCompile(`^github\.com/jackc/pgx/v[0-9]+\.Connect(Config)?$|^github\.com/jackc/pgx/v[0-9]+/pgconn\.(Connect|ConnectConfig|connectOne)$|^github\.com/lib/pq\.(Open|DialOpen|NewConnector)$`)

func poolNoPooling(ctx context.Context, in *Input, r *Rule) ([]Finding, error) {
	pg := dbPG(in)
	if pg == nil || pg.Cur == nil || pg.Database.Seconds <= 0 || !pg.Cur.Database.Stats.HasSessions {
		return nil, nil
	}
	minPerReq, minRate := r.Float("min_sessions_per_request"), r.Float("min_sessions_per_s")
	sessions := pg.Database.SessionsPerS
	if sessions < minRate {
		return nil, nil
	}
	rps := 0.0
	if m := in.Window.Metrics; m != nil {
		rps = m.RPS
	}
	perReq := 0.0
	if rps > 0 {
		perReq = sessions / rps
	}
	if rps > 0 && perReq < minPerReq {
		return nil, nil
	}
	perXact := 0.0
	if pg.Database.CommitsPerS > 0 {
		perXact = sessions / pg.Database.CommitsPerS
	}
	// The ages of the database's backends: short under churn.
	var ages []float64
	for _, g := range pg.Cur.Activity.Groups {
		if g.Database == pg.Cur.Server.Database {
			for i := 0; i < g.Count; i++ {
				ages = append(ages, g.MeanBackendAge)
			}
		}
	}
	median := 0.0
	if len(ages) > 0 {
		sort.Float64s(ages)
		median = ages[len(ages)/2]
	}
	// Without a request rate, short-lived backends tell the churn.
	if rps == 0 && (len(ages) == 0 || median > r.Float("max_backend_age_s")) {
		return nil, nil
	}
	// The share of requests (else of transactions) that pay a connection.
	impact := math.Min(1, perReq)
	if rps == 0 {
		impact = math.Min(1, perXact)
	}
	connectFrames := 0
	var site string
	for _, g := range in.Window.Goroutines {
		if g == nil {
			continue
		}
		for _, gr := range g.Goroutines {
			for i, f := range gr.Frames {
				if poolConnectRe.MatchString(f.Func) {
					connectFrames++
					// The caller outside the driver opens it.
					for _, c := range gr.Frames[i+1:] {
						if !dbDriverRe.MatchString(c.Func) {
							site = dbLocation(dbFrame{fn: c.Func, file: c.File, line: int64(c.Line)})
							break
						}
					}
					break
				}
			}
		}
	}
	f := Finding{
		Subject: "database " + pg.Cur.Server.Database,
		Evidence: map[string]any{
			"database":                  pg.Cur.Server.Database,
			"sessions_per_s":            dbRound(sessions, 1),
			"requests_per_s":            dbRound(rps, 1),
			"sessions_per_request":      dbRound(perReq, 2),
			"sessions_per_transaction":  dbRound(perXact, 2),
			"median_backend_age_s":      dbRound(median, 3),
			"connect_frames_in_dumps":   connectFrames,
			"session_time_ms_per_s":     dbRound(pg.Database.SessionTime/pg.Database.Seconds, 1),
			"active_time_ms_per_s":      dbRound(pg.Database.ActiveTime/pg.Database.Seconds, 1),
			"transactions_per_s":        dbRound(pg.Database.CommitsPerS, 1),
			"request_rate_from_metrics": rps > 0,
		},
		Location: site,
		Impact:   impact,
	}
	return []Finding{f}, nil
}
