package metrics

import (
	"maps"
	"slices"
)

// Names says which metric families and labels are recognised. DefaultNames
// covers client_golang/promhttp, Spring (Micrometer), OpenTelemetry,
// prometheus-fastapi-instrumentator, starlette_exporter, pgxpoolprometheus,
// client_golang's database/sql collector and go-redis pool collectors;
// users append their own.
type Names struct {
	// RequestCounters are counters of served requests per route.
	RequestCounters []string
	// RequestDurations are latency histograms (or summaries) of served
	// requests; for a route, the first family in this list that has it is
	// used.
	RequestDurations []string
	// RouteLabels, MethodLabels and StatusLabels name the labels holding
	// the route, the method and the status code, first present wins.
	RouteLabels  []string
	MethodLabels []string
	StatusLabels []string
	// InFlight are gauges of requests being served.
	InFlight []string
	// ClientCounters and ClientDurations are outbound HTTP calls; HostLabels
	// name the label holding the host called.
	ClientCounters  []string
	ClientDurations []string
	HostLabels      []string
	// Pools are the connection pool collectors.
	Pools []PoolFamily
}

// PoolFamily describes the metrics of one kind of connection pool.
type PoolFamily struct {
	// Kind of pool: "pgxpool", "database/sql", "go-redis".
	Kind string
	// Prefix of the metric names. When AnyPrefix is set, any family whose
	// name ends with one of the Metrics keys is recognised and the part of
	// the name before it identifies the pool (go-redis' redisprometheus lets
	// users choose a namespace and subsystem).
	Prefix    string
	AnyPrefix bool
	// Metrics maps a name after Prefix to a canonical pool metric.
	Metrics map[string]PoolMetric
}

// PoolMetric maps a collector's metric to a canonical one.
type PoolMetric struct {
	// Key is the canonical name (the Pool* constants).
	Key string
	// Counter is set for cumulative values (rates are taken), unset for
	// gauges.
	Counter bool
	// Scale multiplies the value (1e-9 for nanoseconds); 0 means 1.
	Scale float64
}

// Canonical pool metrics. Gauges: PoolMax, PoolOpen, PoolInUse, PoolIdle,
// PoolConstructing. Counters: the others.
const (
	PoolMax          = "max"
	PoolOpen         = "open"
	PoolInUse        = "in_use"
	PoolIdle         = "idle"
	PoolConstructing = "constructing"

	PoolAcquires       = "acquires"
	PoolAcquireSeconds = "acquire_seconds"
	// PoolWaits counts acquires that had to wait for a connection.
	PoolWaits = "waits"
	// PoolWaitSeconds is the time spent waiting in those acquires.
	PoolWaitSeconds       = "wait_seconds"
	PoolCanceled          = "canceled"
	PoolTimeouts          = "timeouts"
	PoolHits              = "hits"
	PoolMisses            = "misses"
	PoolNewConns          = "new_conns"
	PoolStale             = "stale"
	PoolClosedMaxIdle     = "closed_max_idle"
	PoolClosedIdleTime    = "closed_max_idle_time"
	PoolClosedMaxLifetime = "closed_max_lifetime"
)

func gauge(key string) PoolMetric   { return PoolMetric{Key: key} }
func counter(key string) PoolMetric { return PoolMetric{Key: key, Counter: true} }
func nanos(key string) PoolMetric   { return PoolMetric{Key: key, Counter: true, Scale: 1e-9} }

// DefaultNames returns the recognised names; each call returns fresh
// slices, safe to append to.
func DefaultNames() Names {
	return Names{
		RequestCounters: []string{
			"http_requests_total",      // client_golang/promhttp, fastapi-instrumentator
			"starlette_requests_total", // starlette_exporter
		},
		RequestDurations: []string{
			"http_request_duration_seconds",        // promhttp, fastapi-instrumentator
			"http_server_request_duration_seconds", // OpenTelemetry
			"http_server_requests_seconds",         // Spring / Micrometer
			"starlette_request_duration_seconds",   // starlette_exporter
			"http_request_duration_highr_seconds",  // fastapi-instrumentator, no route label
		},
		RouteLabels:  []string{"route", "handler", "http_route", "path", "endpoint", "uri", "path_template"},
		MethodLabels: []string{"method", "http_request_method", "http_method"},
		StatusLabels: []string{"code", "status", "status_code", "http_response_status_code", "http_status_code"},
		InFlight: []string{
			"http_requests_in_flight",
			"http_requests_inprogress",
			"http_server_active_requests",
			"starlette_requests_in_progress",
		},
		ClientCounters:  []string{"http_client_requests_total"},
		ClientDurations: []string{"http_client_request_duration_seconds", "http_client_requests_seconds"},
		HostLabels:      []string{"host", "server_address", "peer", "target", "client_name"},
		Pools:           DefaultPools(),
	}
}

// DefaultPools are the pool collectors recognised by default.
func DefaultPools() []PoolFamily {
	redisGeneric := map[string]PoolMetric{
		"hits": counter(PoolHits), "hits_total": counter(PoolHits),
		"misses": counter(PoolMisses), "misses_total": counter(PoolMisses),
		"timeouts": counter(PoolTimeouts), "timeouts_total": counter(PoolTimeouts),
		"total_conns": gauge(PoolOpen), "idle_conns": gauge(PoolIdle),
		"stale_conns": counter(PoolStale), "stale_conns_total": counter(PoolStale),
	}
	return []PoolFamily{
		{ // github.com/IBM/pgxpoolprometheus
			Kind: "pgxpool", Prefix: "pgxpool_",
			Metrics: map[string]PoolMetric{
				"acquire_count":              counter(PoolAcquires),
				"acquire_duration_ns":        nanos(PoolAcquireSeconds),
				"acquired_conns":             gauge(PoolInUse),
				"canceled_acquire_count":     counter(PoolCanceled),
				"constructing_conns":         gauge(PoolConstructing),
				"empty_acquire":              counter(PoolWaits),
				"empty_acquire_wait_time_ns": nanos(PoolWaitSeconds),
				"idle_conns":                 gauge(PoolIdle),
				"max_conns":                  gauge(PoolMax),
				"total_conns":                gauge(PoolOpen),
				"new_conns_count":            counter(PoolNewConns),
				"max_lifetime_destroy_count": counter(PoolClosedMaxLifetime),
				"max_idle_destroy_count":     counter(PoolClosedIdleTime),
			},
		},
		{ // client_golang collectors.NewDBStatsCollector
			Kind: "database/sql", Prefix: "go_sql_",
			Metrics: map[string]PoolMetric{
				"max_open_connections":        gauge(PoolMax),
				"open_connections":            gauge(PoolOpen),
				"in_use_connections":          gauge(PoolInUse),
				"idle_connections":            gauge(PoolIdle),
				"wait_count_total":            counter(PoolWaits),
				"wait_duration_seconds_total": counter(PoolWaitSeconds),
				"max_idle_closed_total":       counter(PoolClosedMaxIdle),
				"max_idle_time_closed_total":  counter(PoolClosedIdleTime),
				"max_lifetime_closed_total":   counter(PoolClosedMaxLifetime),
			},
		},
		{ // github.com/redis/go-redis/extra/redisprometheus: {namespace}_{subsystem}_pool_*
			Kind: "go-redis", AnyPrefix: true,
			Metrics: map[string]PoolMetric{
				"pool_hit_total":          counter(PoolHits),
				"pool_miss_total":         counter(PoolMisses),
				"pool_timeout_total":      counter(PoolTimeouts),
				"pool_conn_total_current": gauge(PoolOpen),
				"pool_conn_idle_current":  gauge(PoolIdle),
				"pool_conn_stale_total":   counter(PoolStale),
			},
		},
		{Kind: "go-redis", Prefix: "redis_pool_", Metrics: redisGeneric},
		{Kind: "go-redis", Prefix: "go_redis_pool_stats_", Metrics: redisGeneric},
	}
}

// Clone returns a deep copy, to extend without touching the original.
func (n Names) Clone() Names {
	c := n
	for _, s := range []*[]string{&c.RequestCounters, &c.RequestDurations, &c.RouteLabels, &c.MethodLabels,
		&c.StatusLabels, &c.InFlight, &c.ClientCounters, &c.ClientDurations, &c.HostLabels} {
		*s = slices.Clone(*s)
	}
	c.Pools = slices.Clone(n.Pools)
	for i := range c.Pools {
		c.Pools[i].Metrics = maps.Clone(c.Pools[i].Metrics)
	}
	return c
}
