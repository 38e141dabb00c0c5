package rules

import (
	"github.com/pgadvisor/advisor/internal/probe/metrics"
	"github.com/pgadvisor/advisor/internal/probe/postgres"
)

// poolRules are the detectors of the connection pool rules.
var poolRules = []Detector{poolUndersized, poolOversized, poolNoPooling, poolBudget}

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
	// reserved are the connections reserved for superusers (and roles
	// with pg_use_reserved_connections), from the server's settings when
	// reservedKnown, else as withReserved assumes.
	reserved      int
	reservedKnown bool
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

// withReserved assumes n reserved connections when the server's settings
// do not say.
func (s poolServer) withReserved(n int) poolServer {
	if !s.reservedKnown {
		s.reserved = n
	}
	return s
}

// poolServerOf reads a snapshot of the database; the reserved connections
// are known when its settings were read.
func poolServerOf(cur *postgres.Snapshot) poolServer {
	s := poolServer{instances: 1}
	if cur == nil {
		return s
	}
	s.cores = cur.Server.CPUs
	if n, ok := cur.Server.Settings.Int("max_connections"); ok {
		s.maxConnections = int(n)
	}
	if n, ok := cur.Server.Settings.Int("superuser_reserved_connections"); ok {
		s.reserved, s.reservedKnown = int(n), true
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
// server counts it (14+). Rules read it through Input.poolServer, which
// computes it once per input.
func poolServerOfWindow(in *Input) poolServer {
	s := poolServerOf(dbCur(in))
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
