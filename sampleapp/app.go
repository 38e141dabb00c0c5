// Package sampleapp is the reference service advisor is pointed at first: an
// API on PostgreSQL and Redis in the domains of the articles it reproduces
// (identity tokens, users with profiles and preferences, an event feed,
// orders with items, invoices), with every antipattern of those articles as
// a knob that can be set at start or changed at run time through a
// loopback-only admin endpoint. The naive profile sets every knob to its
// antipattern; the tuned profile to its fix.
//
// Start runs the whole service in-process: the API listener (which also
// serves /metrics and /debug/pprof), the admin listener, the identity and
// users services on listeners of their own (reached over HTTP when the hops
// knob says so), and two stand-ins for external services: an SMTP sink and a
// webhook receiver, both with realistic latency.
package sampleapp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
)

// Default profiling rates, set by Start unless Config says otherwise, and
// the rates advisor recommends: a blocking event is sampled about once per
// 10 µs spent blocked (runtime.SetBlockProfileRate takes nanoseconds) and one
// mutex contention event in 10. A contended lock or a blocked request path
// shows up within seconds; BenchmarkProfilingRates in cmd/advisor measures
// what the rates cost (see "Block and mutex profiling: cost" in the
// repository's docs/benchmarks.md).
const (
	BlockProfileRateNanos = 10_000
	MutexProfileFraction  = 10
)

// Config says how to start the service.
type Config struct {
	// DSN of the PostgreSQL database (migrated at start) and address of
	// Redis (host:port). Redis is a cache: the service starts, and serves
	// from PostgreSQL, while it does not answer.
	DSN       string
	RedisAddr string
	// Listen addresses; empty means 127.0.0.1 on a free port. AdminAddr must
	// be a loopback address.
	Addr, AdminAddr, IdentityAddr, UsersAddr, SMTPAddr, WebhookAddr string
	// Profile is naive or tuned (the default); Knobs override single knobs
	// after the profile.
	Profile string
	Knobs   map[string]string
	// Workers is the number of river workers for queued order follow-up
	// work. 0 means DefaultWorkers; a negative value starts no workers (an
	// API-only instance: jobs stay queued for another instance or a
	// restart).
	Workers int
	// CacheNamespace prefixes the service's Redis keys; empty means
	// "sampleapp". Instances on different databases sharing a Redis need
	// different namespaces.
	CacheNamespace string
	// FeedTTL is how long a cached feed lives in Redis; 0 means
	// DefaultFeedTTL. The benchmark lengthens it so that the feeds it
	// primes outlive its measurement.
	FeedTTL time.Duration
	// ShutdownTimeout is how long Close lets requests in flight and running
	// jobs finish; 0 means 10 seconds. Jobs still running then are
	// cancelled (see Shutdown).
	ShutdownTimeout time.Duration
	// Logger receives the service's logs; nil means JSON (text on a
	// terminal) on stderr at info level.
	Logger *slog.Logger
	// BlockProfileRate is passed to runtime.SetBlockProfileRate: about one
	// blocking event sampled per this many nanoseconds spent blocked. 0
	// means BlockProfileRateNanos; a negative value turns block profiling
	// off. MutexProfileFraction is passed to runtime.SetMutexProfileFraction:
	// one contention event in this many is sampled. 0 means the constant
	// MutexProfileFraction; a negative value turns mutex profiling off.
	// Both rates are process-wide: the last Start in a process sets them.
	BlockProfileRate     int
	MutexProfileFraction int
}

// profilingRate maps a Config rate onto the runtime's: 0 is the default,
// negative is off (0 for the runtime).
func profilingRate(v, def int) int {
	switch {
	case v == 0:
		return def
	case v < 0:
		return 0
	}
	return v
}

// DefaultWorkers is the number of river workers of Config.Workers 0: the
// jobworkers knob's sized value. More would finish the jobs of a heavy
// order load sooner, but each renders a PDF: 32 workers put the service's
// CPU and garbage collector under pressure while the API is measured.
const DefaultWorkers = 8

// App is a running service.
type App struct {
	// URL is the API's base URL (it also serves /metrics and /debug/pprof).
	URL string
	// AdminURL is the loopback admin endpoint (GET /knobs, PUT /knobs/{name}).
	AdminURL string
	// IdentityURL and UsersURL are the internal services' base URLs.
	IdentityURL string
	UsersURL    string
	// SMTPAddr is the SMTP sink's host:port; WebhookURL the receiver's URL.
	SMTPAddr   string
	WebhookURL string

	cfg     Config
	log     *slog.Logger
	metrics *metrics
	db      *database
	redis   *redis.Client
	cache   *redisCache // the requests' cache calls, skipping Redis after a failure
	// jobs inserts jobs and is never started; runner, when the jobworkers
	// knob asks for workers, works them (runnerMu guards it).
	jobs     *river.Client[pgx.Tx]
	runnerMu sync.Mutex
	runner   *river.Client[pgx.Tx]
	jobPool  *pgxpool.Pool
	sink     *SMTPSink
	hooks    *WebhookReceiver
	client   *http.Client

	settings atomic.Pointer[settings]
	knobMu   sync.Mutex   // serialises knob changes
	cacheGen atomic.Int64 // bumped when the cache is switched on: old entries are never read
	auditMu  sync.Mutex   // the lock knob's process-wide mutex
	audit    *auditWriter
	tokens   *tokenCache
	// nearFeeds is the in-process cache of feeds in front of Redis.
	nearFeeds *nearCache
	// staleFeeds marks, for Config.FeedTTL, the users whose feed invalidation did
	// not reach Redis (down, or skipped): the feed Redis holds for them may
	// predate their last order, so it is not read.
	staleFeeds *nearCache
	// rates are the batched rate limiter's counts (ratelimit=batched).
	rates *rateCounts

	identity identityService
	users    usersService

	servers []*http.Server
	admin   http.Handler
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	closed  atomic.Bool
}

// Start migrates the database, applies the knobs, starts every listener and
// returns once the service answers. ctx bounds the start only; stop the
// service with Shutdown or Close.
func Start(ctx context.Context, cfg Config) (_ *App, err error) {
	if cfg.DSN == "" || cfg.RedisAddr == "" {
		return nil, errors.New("sampleapp: DSN and RedisAddr are required")
	}
	if cfg.AdminAddr != "" {
		if err := requireLoopback(cfg.AdminAddr); err != nil {
			return nil, err
		}
	}
	set, err := ProfileSettings(cfg.Profile)
	if err != nil {
		return nil, err
	}
	for k, v := range cfg.Knobs {
		if err := ValidateKnob(k, v); err != nil {
			return nil, err
		}
		set[k] = v
	}
	if cfg.CacheNamespace == "" {
		cfg.CacheNamespace = "sampleapp"
	}
	if cfg.Workers == 0 {
		cfg.Workers = DefaultWorkers
	}
	if cfg.FeedTTL < 0 {
		return nil, fmt.Errorf("feed TTL %s: must not be negative", cfg.FeedTTL)
	}
	if cfg.FeedTTL == 0 {
		cfg.FeedTTL = DefaultFeedTTL
	}
	log := cfg.Logger
	if log == nil {
		log = DefaultLogger(os.Stderr, slog.LevelInfo)
	}
	runtime.SetBlockProfileRate(profilingRate(cfg.BlockProfileRate, BlockProfileRateNanos))
	runtime.SetMutexProfileFraction(profilingRate(cfg.MutexProfileFraction, MutexProfileFraction))

	if err := Migrate(ctx, cfg.DSN); err != nil {
		return nil, err
	}
	runCtx, cancel := context.WithCancel(context.Background())
	a := &App{cfg: cfg, log: log, metrics: newMetrics(), cancel: cancel, tokens: newTokenCache(30*time.Second, 100_000),
		nearFeeds: newNearCache(nearFeedTTL, 50_000), staleFeeds: newNearCache(cfg.FeedTTL, 50_000), rates: newRateCounts()}
	defer func() {
		if err != nil {
			a.Close()
		}
	}()
	a.db = newDatabase(cfg.DSN, a.metrics)
	a.metrics.reg.MustRegister(&poolCollector{db: a.db})
	a.redis = newRedisClient(cfg.RedisAddr)
	a.cache = &redisCache{rdb: a.redis, log: log, skipped: a.metrics.cacheSkipped}
	a.metrics.reg.MustRegister(newRedisPoolCollector(a.redis))
	if err := a.redis.Ping(ctx).Err(); err != nil {
		// A cache that is down is no reason not to serve: requests read
		// PostgreSQL until Redis answers (and /health says it does not).
		log.Warn("redis unreachable at start: serving without the cache until it answers", "addr", cfg.RedisAddr, "err", err)
	}
	a.client = &http.Client{
		Timeout: 30 * time.Second,
		Transport: instrumentedTransport{m: a.metrics, next: &http.Transport{
			Proxy: nil, MaxIdleConns: 1024, MaxIdleConnsPerHost: 512, IdleConnTimeout: 90 * time.Second,
			DialContext: (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		}},
	}
	compiled := compile(set)
	a.settings.Store(compiled)
	for _, k := range Knobs {
		if err := a.apply(ctx, k.Name, set[k.Name], true); err != nil {
			return nil, err
		}
	}

	// Stand-ins for external services.
	if a.sink, err = StartSMTPSink(orLoopback(cfg.SMTPAddr)); err != nil {
		return nil, err
	}
	a.SMTPAddr = a.sink.Addr()
	if a.hooks, err = StartWebhookReceiver(orLoopback(cfg.WebhookAddr)); err != nil {
		return nil, err
	}
	a.WebhookURL = a.hooks.URL()

	if err := a.startJobs(ctx); err != nil {
		return nil, err
	}
	a.audit = newAuditWriter(a.db, log)
	a.wg.Add(2)
	go func() {
		defer a.wg.Done()
		a.audit.run(runCtx)
	}()
	go func() {
		defer a.wg.Done()
		a.syncRates(runCtx)
	}()

	// Listeners: identity and users first, the API needs their URLs.
	type listener struct {
		addr    string
		handler func() http.Handler
		url     *string
	}
	lns := []listener{
		{orLoopback(cfg.IdentityAddr), a.identityHandler, &a.IdentityURL},
		{orLoopback(cfg.UsersAddr), a.usersHandler, &a.UsersURL},
		{orLoopback(cfg.AdminAddr), a.adminHandler, &a.AdminURL},
		{orLoopback(cfg.Addr), a.apiHandler, &a.URL},
	}
	var listeners []net.Listener
	for _, l := range lns {
		ln, err := net.Listen("tcp", l.addr)
		if err != nil {
			for _, o := range listeners {
				o.Close()
			}
			return nil, fmt.Errorf("listen %s: %w", l.addr, err)
		}
		listeners = append(listeners, ln)
		*l.url = "http://" + ln.Addr().String()
	}
	a.identity = identityService{a: a}
	a.users = usersService{a: a}
	for i, l := range lns {
		h := l.handler()
		if l.url == &a.AdminURL {
			a.admin = h
		}
		srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 120 * time.Second,
			ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
		a.servers = append(a.servers, srv)
		ln := listeners[i]
		a.wg.Add(1)
		go func() {
			defer a.wg.Done()
			if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				log.Error("listener stopped", "addr", ln.Addr().String(), "err", err)
			}
		}()
	}
	log.Info("sampleapp started", "api", a.URL, "admin", a.AdminURL, "identity", a.IdentityURL, "users", a.UsersURL,
		"smtp", a.SMTPAddr, "webhook", a.WebhookURL, "knobs", set.String())
	return a, nil
}

func orLoopback(addr string) string {
	if addr == "" {
		return "127.0.0.1:0"
	}
	return addr
}

func requireLoopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("admin address %q: %w", addr, err)
	}
	if host == "localhost" {
		return nil
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("admin address %q: must be a loopback address (127.0.0.1, ::1)", addr)
	}
	return nil
}

// startJobs starts river on a small pool of its own, so that the pool knob
// never starves the workers (nor the workers the API).
func (a *App) startJobs(ctx context.Context) error {
	pcfg, err := pgxpool.ParseConfig(a.cfg.DSN)
	if err != nil {
		return fmt.Errorf("parse dsn: %w", err)
	}
	pcfg.MaxConns = 6
	pcfg.ConnConfig.RuntimeParams["application_name"] = "sampleapp-jobs"
	if a.jobPool, err = pgxpool.NewWithConfig(ctx, pcfg); err != nil {
		return fmt.Errorf("jobs pool: %w", err)
	}
	if a.jobs, err = river.NewClient(riverpgxv5.New(a.jobPool), a.riverConfig(0)); err != nil {
		return fmt.Errorf("river client: %w", err)
	}
	return a.setWorkers(ctx, a.workerCount(a.settings.Load().raw[KnobJobWorkers]))
}

// riverConfig is river's configuration with n workers on the default
// queue; n = 0 makes a client that only inserts.
func (a *App) riverConfig(n int) *river.Config {
	workers := river.NewWorkers()
	river.AddWorker(workers, &fulfilWorker{a: a})
	rcfg := &river.Config{
		Logger:               a.log.With("component", "river"),
		Workers:              workers,
		MaxAttempts:          10,
		FetchPollInterval:    200 * time.Millisecond,
		RescueStuckJobsAfter: 5 * time.Minute,
	}
	if n > 0 {
		rcfg.Queues = map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: n}}
	}
	return rcfg
}

// workerCount is the number of workers of a jobworkers value: none on an
// instance started without workers (Config.Workers < 0).
func (a *App) workerCount(value string) int {
	if a.cfg.Workers < 0 {
		return 0
	}
	switch value {
	case "0":
		return 0
	case "2":
		return min(2, a.cfg.Workers)
	}
	return a.cfg.Workers
}

// setWorkers replaces the running river workers by n of them: the old ones
// finish their current jobs first (until ctx is done, then are cancelled,
// their jobs retried). Before startJobs it does nothing: startJobs reads
// the knob.
func (a *App) setWorkers(ctx context.Context, n int) error {
	if a.jobPool == nil {
		return nil
	}
	a.runnerMu.Lock()
	defer a.runnerMu.Unlock()
	if err := a.stopRunner(ctx); err != nil {
		return err
	}
	if n == 0 {
		return nil
	}
	r, err := river.NewClient(riverpgxv5.New(a.jobPool), a.riverConfig(n))
	if err != nil {
		return fmt.Errorf("river client: %w", err)
	}
	if err := r.Start(context.WithoutCancel(ctx)); err != nil {
		return fmt.Errorf("start river: %w", err)
	}
	a.runner = r
	return nil
}

// stopRunner stops the workers, if any; runnerMu is held.
func (a *App) stopRunner(ctx context.Context) error {
	r := a.runner
	if r == nil {
		return nil
	}
	a.runner = nil
	if err := r.Stop(ctx); err != nil {
		hctx, cancel := context.WithTimeout(context.Background(), hardStopGrace)
		herr := r.StopAndCancel(hctx)
		cancel()
		if herr != nil {
			return fmt.Errorf("stop river: running jobs not finished in time (%w), nor within %s of being cancelled: %w", err, hardStopGrace, herr)
		}
		return fmt.Errorf("stop river: running jobs not finished in time (%w): cancelled, to be retried", err)
	}
	return nil
}

// Settings returns the current knob values.
func (a *App) Settings() Settings { return a.settings.Load().raw.Clone() }

// Mail returns the messages the SMTP sink received.
func (a *App) Mail() []Mail { return a.sink.Messages() }

// Webhooks returns the deliveries the webhook receiver received.
func (a *App) Webhooks() []Delivery { return a.hooks.Deliveries() }

// hardStopGrace is how long Shutdown waits, once ctx is done, for the jobs
// it cancelled to return and for river to record them.
const hardStopGrace = 5 * time.Second

// Shutdown stops accepting requests, waits for those in flight and for the
// workers' current jobs (until ctx is done), then releases everything. Jobs
// still running when ctx is done are cancelled: river makes them available
// again (the attempt not counted) for another instance or a restart, within
// hardStopGrace; only then are the database pools closed. (Closed under
// them, the jobs would stay "running" until river rescues them, after
// RescueStuckJobsAfter.) Shutdown then returns an error saying so.
func (a *App) Shutdown(ctx context.Context) error {
	if !a.closed.CompareAndSwap(false, true) {
		return nil
	}
	var errs []error
	for _, s := range a.servers {
		if err := s.Shutdown(ctx); err != nil {
			errs = append(errs, err)
			_ = s.Close()
		}
	}
	a.runnerMu.Lock()
	if err := a.stopRunner(ctx); err != nil {
		errs = append(errs, err)
	}
	a.runnerMu.Unlock()
	if a.cancel != nil {
		a.cancel() // the audit writer flushes what it holds and returns
	}
	a.wg.Wait()
	if a.jobPool != nil {
		a.jobPool.Close()
	}
	if a.db != nil {
		a.db.close()
	}
	if a.redis != nil {
		_ = a.redis.Close()
	}
	if a.sink != nil {
		a.sink.Close()
	}
	if a.hooks != nil {
		a.hooks.Close()
	}
	if a.client != nil {
		a.client.CloseIdleConnections()
	}
	return errors.Join(errs...)
}

// Close shuts the service down, giving requests in flight and running jobs
// Config.ShutdownTimeout (10 seconds by default).
func (a *App) Close() error {
	d := a.cfg.ShutdownTimeout
	if d <= 0 {
		d = 10 * time.Second
	}
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	return a.Shutdown(ctx)
}
