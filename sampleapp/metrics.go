package sampleapp

import (
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/IBM/pgxpoolprometheus"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/redis/go-redis/v9"
)

// metrics are the service's Prometheus metrics, on a registry of its own so
// that several instances can live in one process (the tests).
type metrics struct {
	reg *prometheus.Registry

	requests       *prometheus.CounterVec
	duration       *prometheus.HistogramVec
	inFlight       prometheus.Gauge
	clientRequests *prometheus.CounterVec
	clientDuration *prometheus.HistogramVec
	dbQueries      *prometheus.CounterVec
	jobs           *prometheus.CounterVec
	cacheSkipped   prometheus.Counter
}

// latencyBuckets go from 1 ms to 10 s.
var latencyBuckets = []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}

func newMetrics() *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "http_requests_total", Help: "HTTP requests served, by route pattern, method and status code.",
		}, []string{"route", "method", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "http_request_duration_seconds", Help: "Time to serve HTTP requests, by route pattern and method.",
			Buckets: latencyBuckets,
		}, []string{"route", "method"}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "http_requests_in_flight", Help: "HTTP requests being served.",
		}),
		clientRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "http_client_requests_total", Help: "Outbound HTTP requests, by host and status code (error when no response).",
		}, []string{"host", "code"}),
		clientDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "http_client_request_duration_seconds", Help: "Time of outbound HTTP requests, by host.",
			Buckets: latencyBuckets,
		}, []string{"host"}),
		dbQueries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sampleapp_db_queries_total", Help: "PostgreSQL queries, by the route of the request that issued them (across internal hops); worker for queued jobs, background for the audit writer.",
		}, []string{"route"}),
		jobs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sampleapp_fulfilment_total", Help: "Order follow-up work (e-mail, invoice, webhook) done, by where it ran (inline or worker) and outcome.",
		}, []string{"where", "outcome"}),
		cacheSkipped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sampleapp_cache_skipped_total", Help: "Cache calls (reads, writes, invalidations) not sent to Redis because it failed less than a second before.",
		}),
	}
	m.reg.MustRegister(m.requests, m.duration, m.inFlight, m.clientRequests, m.clientDuration, m.dbQueries, m.jobs, m.cacheSkipped,
		collectors.NewGoCollector(collectors.WithGoCollectorRuntimeMetrics(collectors.MetricsAll)),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return m
}

// routeMetrics are the per-route series, resolved once at registration.
type routeMetrics struct {
	m        *metrics
	route    string
	method   string
	duration prometheus.Observer
	byCode   sync.Map // int -> prometheus.Counter
}

func (m *metrics) forRoute(route, method string) *routeMetrics {
	return &routeMetrics{m: m, route: route, method: method,
		duration: m.duration.WithLabelValues(route, method)}
}

func (rm *routeMetrics) observe(code int, d time.Duration) {
	rm.duration.Observe(d.Seconds())
	c, ok := rm.byCode.Load(code)
	if !ok {
		c, _ = rm.byCode.LoadOrStore(code, rm.m.requests.WithLabelValues(rm.route, rm.method, strconv.Itoa(code)))
	}
	c.(prometheus.Counter).Inc()
}

// instrumentedTransport counts and times outbound requests.
type instrumentedTransport struct {
	m    *metrics
	next http.RoundTripper
}

func (t instrumentedTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	start := time.Now()
	resp, err := t.next.RoundTrip(r)
	code := "error"
	if err == nil {
		code = strconv.Itoa(resp.StatusCode)
	}
	t.m.clientRequests.WithLabelValues(r.URL.Host, code).Inc()
	t.m.clientDuration.WithLabelValues(r.URL.Host).Observe(time.Since(start).Seconds())
	return resp, err
}

// poolCollector exports the stats of whichever pgxpool is current (none in
// per-request mode) through pgxpoolprometheus.
type poolCollector struct {
	db   *database
	mu   sync.Mutex
	pool *pgxpool.Pool
	coll *pgxpoolprometheus.Collector
}

// Describe sends nothing: the collector is unchecked, as the pool comes and
// goes with the pool knob.
func (c *poolCollector) Describe(chan<- *prometheus.Desc) {}

func (c *poolCollector) Collect(ch chan<- prometheus.Metric) {
	p := c.db.pool()
	if p == nil {
		return
	}
	c.mu.Lock()
	if c.pool != p {
		c.pool, c.coll = p, pgxpoolprometheus.NewCollector(p, nil)
	}
	coll := c.coll
	c.mu.Unlock()
	coll.Collect(ch)
}

// redisPoolCollector exports go-redis's PoolStats.
type redisPoolCollector struct {
	client                                    *redis.Client
	hits, misses, timeouts, totalConns, idles *prometheus.Desc
}

func newRedisPoolCollector(c *redis.Client) *redisPoolCollector {
	return &redisPoolCollector{
		client:     c,
		hits:       prometheus.NewDesc("redis_pool_hits_total", "Times a free connection was found in the Redis pool.", nil, nil),
		misses:     prometheus.NewDesc("redis_pool_misses_total", "Times no free connection was found in the Redis pool.", nil, nil),
		timeouts:   prometheus.NewDesc("redis_pool_timeouts_total", "Times a wait for a Redis pool connection timed out.", nil, nil),
		totalConns: prometheus.NewDesc("redis_pool_total_conns", "Connections in the Redis pool.", nil, nil),
		idles:      prometheus.NewDesc("redis_pool_idle_conns", "Idle connections in the Redis pool.", nil, nil),
	}
}

func (c *redisPoolCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.hits
	ch <- c.misses
	ch <- c.timeouts
	ch <- c.totalConns
	ch <- c.idles
}

func (c *redisPoolCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.client.PoolStats()
	ch <- prometheus.MustNewConstMetric(c.hits, prometheus.CounterValue, float64(s.Hits))
	ch <- prometheus.MustNewConstMetric(c.misses, prometheus.CounterValue, float64(s.Misses))
	ch <- prometheus.MustNewConstMetric(c.timeouts, prometheus.CounterValue, float64(s.Timeouts))
	ch <- prometheus.MustNewConstMetric(c.totalConns, prometheus.GaugeValue, float64(s.TotalConns))
	ch <- prometheus.MustNewConstMetric(c.idles, prometheus.GaugeValue, float64(s.IdleConns))
}
