// Package metricstest is a small instrumented web service for the metrics
// probe's tests and captures: real client_golang instrumentation (promhttp
// server and client middleware, Go runtime and process collectors,
// database/sql and pgxpool pool collectors, go-redis pool stats) over real
// handlers.
package metricstest

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/IBM/pgxpoolprometheus"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/redis/go-redis/v9"
)

// Config holds the backends the service uses; each may be nil, and the
// routes that need a missing one answer 503.
type Config struct {
	Pool  *pgxpool.Pool
	DB    *sql.DB
	Redis *redis.Client
	// Process adds the process collector (process_* metrics).
	Process bool
}

// Service is the instrumented service.
type Service struct {
	cfg      Config
	registry *prometheus.Registry
	client   *http.Client
	mux      *http.ServeMux
	base     string
}

// New builds the service and its registry.
func New(cfg Config) *Service {
	s := &Service{cfg: cfg, registry: prometheus.NewRegistry(), mux: http.NewServeMux()}
	r := s.registry
	r.MustRegister(collectors.NewGoCollector(collectors.WithGoCollectorRuntimeMetrics(collectors.MetricsAll)))
	if cfg.Process {
		r.MustRegister(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	if cfg.DB != nil {
		r.MustRegister(collectors.NewDBStatsCollector(cfg.DB, "users"))
	}
	if cfg.Pool != nil {
		r.MustRegister(pgxpoolprometheus.NewCollector(cfg.Pool, map[string]string{"db": "orders"}))
	}
	if cfg.Redis != nil {
		r.MustRegister(newRedisPoolCollector(cfg.Redis))
	}

	requests := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "http_requests_total", Help: "Requests served, by route, method and status code.",
	}, []string{"handler", "method", "code"})
	duration := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "http_request_duration_seconds", Help: "Latency of served requests.",
		Buckets: prometheus.DefBuckets,
	}, []string{"handler", "method", "code"})
	inFlight := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "http_requests_in_flight", Help: "Requests being served.",
	})
	clientCalls := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "http_client_requests_total", Help: "Outbound HTTP calls, by host.",
	}, []string{"host", "method", "code"})
	clientDuration := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "http_client_request_duration_seconds", Help: "Latency of outbound HTTP calls.",
		Buckets: prometheus.DefBuckets,
	}, []string{"host", "method", "code"})
	r.MustRegister(requests, duration, inFlight, clientCalls, clientDuration)

	// Outbound calls go to the service itself (an internal hop).
	host := prometheus.Labels{"host": "users-service"}
	s.client = &http.Client{Transport: promhttp.InstrumentRoundTripperCounter(clientCalls.MustCurryWith(host),
		promhttp.InstrumentRoundTripperDuration(clientDuration.MustCurryWith(host), http.DefaultTransport))}

	route := func(pattern, name string, h http.HandlerFunc) {
		l := prometheus.Labels{"handler": name}
		s.mux.Handle(pattern, promhttp.InstrumentHandlerInFlight(inFlight,
			promhttp.InstrumentHandlerCounter(requests.MustCurryWith(l),
				promhttp.InstrumentHandlerDuration(duration.MustCurryWith(l), h))))
	}
	route("GET /orders", "/orders", s.orders)
	route("GET /users/{id}", "/users/{id}", s.user)
	route("GET /feed", "/feed", s.feed)
	route("GET /cache", "/cache", s.cache)
	route("GET /fail", "/fail", func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "failed", http.StatusInternalServerError)
	})
	s.mux.Handle("GET /metrics", promhttp.HandlerFor(r, promhttp.HandlerOpts{}))
	return s
}

// Handler serves the routes and /metrics. base is the URL the service is
// reachable at, for its calls to itself.
func (s *Service) Handler(base string) http.Handler {
	s.base = base
	return s.mux
}

// Registry is the service's registry.
func (s *Service) Registry() *prometheus.Registry { return s.registry }

func (s *Service) orders(w http.ResponseWriter, r *http.Request) {
	if s.cfg.Pool == nil {
		http.Error(w, "no pool", http.StatusServiceUnavailable)
		return
	}
	var n int
	// pg_sleep keeps connections busy so that acquires wait.
	if err := s.cfg.Pool.QueryRow(r.Context(), "SELECT count(*) FROM pg_sleep(0.01), generate_series(1, 10)").Scan(&n); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	fmt.Fprintln(w, n)
}

func (s *Service) user(w http.ResponseWriter, r *http.Request) {
	if s.cfg.DB == nil {
		http.Error(w, "no database", http.StatusServiceUnavailable)
		return
	}
	var name string
	if err := s.cfg.DB.QueryRowContext(r.Context(), "SELECT 'user ' || $1::text, pg_sleep(0.005)", r.PathValue("id")).Scan(&name, new(any)); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	fmt.Fprintln(w, name)
}

// feed calls /users/{id} twice per request over HTTP.
func (s *Service) feed(w http.ResponseWriter, r *http.Request) {
	for _, id := range []string{"1", "2"} {
		req, err := http.NewRequestWithContext(r.Context(), http.MethodGet, s.base+"/users/"+id, nil)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		resp, err := s.client.Do(req)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		_, _ = io.Copy(w, resp.Body)
		resp.Body.Close()
	}
}

func (s *Service) cache(w http.ResponseWriter, r *http.Request) {
	if s.cfg.Redis == nil {
		http.Error(w, "no redis", http.StatusServiceUnavailable)
		return
	}
	v, err := s.cfg.Redis.Incr(r.Context(), "metricstest:hits").Result()
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	fmt.Fprintln(w, v)
}

// redisPoolCollector exposes a go-redis client's pool statistics under the
// names github.com/redis/go-redis/extra/redisprometheus gives them with
// namespace "app" and subsystem "redis" (that module is not a dependency).
type redisPoolCollector struct {
	c     *redis.Client
	descs map[string]*prometheus.Desc
}

func newRedisPoolCollector(c *redis.Client) redisPoolCollector {
	rc := redisPoolCollector{c: c, descs: map[string]*prometheus.Desc{}}
	for _, n := range []string{"pool_hit_total", "pool_miss_total", "pool_timeout_total", "pool_conn_total_current", "pool_conn_idle_current", "pool_conn_stale_total"} {
		rc.descs[n] = prometheus.NewDesc("app_redis_"+n, "go-redis pool statistic "+n+".", nil, nil)
	}
	return rc
}

func (c redisPoolCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.descs {
		ch <- d
	}
}

func (c redisPoolCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.c.PoolStats()
	ch <- prometheus.MustNewConstMetric(c.descs["pool_hit_total"], prometheus.CounterValue, float64(st.Hits))
	ch <- prometheus.MustNewConstMetric(c.descs["pool_miss_total"], prometheus.CounterValue, float64(st.Misses))
	ch <- prometheus.MustNewConstMetric(c.descs["pool_timeout_total"], prometheus.CounterValue, float64(st.Timeouts))
	ch <- prometheus.MustNewConstMetric(c.descs["pool_conn_total_current"], prometheus.GaugeValue, float64(st.TotalConns))
	ch <- prometheus.MustNewConstMetric(c.descs["pool_conn_idle_current"], prometheus.GaugeValue, float64(st.IdleConns))
	ch <- prometheus.MustNewConstMetric(c.descs["pool_conn_stale_total"], prometheus.CounterValue, float64(st.StaleConns))
}

// Drive sends n requests to each path with the given concurrency, and
// returns when they are done or ctx ends.
func Drive(ctx context.Context, base string, paths []string, n, concurrency int) {
	jobs := make(chan string)
	done := make(chan struct{})
	for range concurrency {
		go func() {
			defer func() { done <- struct{}{} }()
			client := &http.Client{Timeout: 10 * time.Second}
			for p := range jobs {
				req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+p, nil)
				if err != nil {
					continue
				}
				resp, err := client.Do(req)
				if err == nil {
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
			}
		}()
	}
feed:
	for i := 0; i < n; i++ {
		for _, p := range paths {
			select {
			case jobs <- p:
			case <-ctx.Done():
				break feed
			}
		}
	}
	close(jobs)
	for range concurrency {
		<-done
	}
}
