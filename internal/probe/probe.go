package probe

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/pgadvisor/advisor/internal/config"
	"github.com/pgadvisor/advisor/internal/probe/fleet"
	"github.com/pgadvisor/advisor/internal/probe/metrics"
	"github.com/pgadvisor/advisor/internal/probe/postgres"
	"github.com/pgadvisor/advisor/internal/probe/pprof"
	"github.com/pgadvisor/advisor/internal/probe/redis"
	"github.com/pgadvisor/advisor/internal/probe/source"
)

// Source names, as in the report's sources map.
const (
	Pprof    = "pprof"
	Metrics  = "metrics"
	Postgres = "postgres"
	Redis    = "redis"
)

// SourceNames lists the sources in report order.
var SourceNames = []string{Pprof, Metrics, Postgres, Redis}

// Config says which sources to read and how.
type Config struct {
	Sources config.Sources
	// Timeout bounds one source's snapshot (default 5s); a CPU profile gets
	// its length on top.
	Timeout  time.Duration
	Postgres postgres.Options
	Redis    redis.Options
	// Names are the metric names recognised; zero means the defaults.
	Names *metrics.Names
	// MaxDumpStop is the longest a goroutine dump may stop the target,
	// estimated from its size (pprof.DumpStop): past it no dump is taken.
	// 0 means DefaultMaxDumpStop; negative, no limit.
	MaxDumpStop time.Duration
	// FleetRange is what each instance's figures cover when the metrics
	// are read through Prometheus (the report's window, attach's analysis
	// span); 0 means fleet.DefaultRange.
	FleetRange time.Duration
}

// Probes holds one collector per configured source. A source that is not
// configured has no collector and an Unavailable status saying how to give it.
type Probes struct {
	cfg     Config
	names   metrics.Names
	pprof   *pprof.Client
	metrics *metrics.Client
	// fleet reads the metrics through Prometheus instead (--prometheus).
	fleet *fleet.Collector
	// pprofInstance is the fleet's instance pprof reads, "" outside a fleet
	// or when --pprof or --target named it.
	pprofInstance string
	pg            *postgres.Probe
	// explainer caches the PostgreSQL probe's plans between windows.
	explainer *cachedExplainer
	redis     *redis.Probe
	// dumps spaces the goroutine dumps, or stops them, by how long each
	// stops the target.
	dumps *dumpGate
	// absent holds the status of each source without a collector.
	absent map[string]source.Status
	// notGo is the runtime a snapshot's metrics named, other than Go, when
	// its pprof could not be read: the readings after it send nothing to
	// /debug/pprof (on such a service every request there is a 404 in its
	// logs and its error rate) and say pprof does not apply, until the
	// metrics name Go or no runtime again (noteRuntime).
	notGoMu sync.Mutex
	notGo   string
	// runtimeRead is closed once the first metrics scrape has ended, when
	// the service's pprof is its --target's: until then neither a reading
	// nor the profiles ask /debug/pprof anything (awaitRuntime), so that a
	// service whose metrics name another runtime than Go gets no request
	// there at all (firstRuntime). nil when nothing waits for it.
	runtimeRead chan struct{}
	runtimeOnce sync.Once
}

// Open makes the collectors. It connects to nothing yet: a source that is down
// shows in the snapshots' statuses. It fails only on configuration errors (a
// malformed URL or DSN), which the caller reports as a usage error.
func Open(ctx context.Context, cfg Config) (*Probes, error) {
	if cfg.Timeout <= 0 {
		cfg.Timeout = 5 * time.Second
	}
	p := &Probes{cfg: cfg, absent: map[string]source.Status{}, dumps: newDumpGate(cfg.MaxDumpStop)}
	if cfg.Names != nil {
		p.names = *cfg.Names
	} else {
		p.names = metrics.DefaultNames()
	}
	src := cfg.Sources
	header := http.Header{}
	for k, v := range src.Headers {
		header.Set(k, v)
	}
	var errs []error
	pprofURL := src.PprofURL()
	if src.Prometheus != "" {
		c, err := fleet.New(src.Prometheus, fleet.Options{Selector: src.Selector, Range: cfg.FleetRange,
			HTTP: source.HTTPOptions{Header: header, CAFile: src.TLS.CAFile, CertFile: src.TLS.CertFile,
				KeyFile: src.TLS.KeyFile, InsecureSkipVerify: src.TLS.InsecureSkipVerify, Timeout: cfg.Timeout}})
		if err != nil {
			errs = append(errs, err)
		}
		p.fleet = c
		if c != nil && pprofURL == "" {
			// A fleet's pprof: the busiest instance's, found through
			// Prometheus' targets.
			bases, err := c.PprofBases(ctx, src.PprofInstances, src.PprofPort)
			if err != nil {
				p.absent[Pprof] = source.Status{State: source.Unavailable,
					Detail: "no instance to profile: " + source.Redact(err.Error())}
			} else {
				pprofURL, p.pprofInstance = bases[0].URL, bases[0].Instance
			}
		}
	}
	_, noInstance := p.absent[Pprof]
	switch u := pprofURL; {
	case noInstance:
	case u != "":
		c, err := pprof.NewClient(u, pprof.HTTPOptions{Header: header, CAFile: src.TLS.CAFile, CertFile: src.TLS.CertFile,
			KeyFile: src.TLS.KeyFile, InsecureSkipVerify: src.TLS.InsecureSkipVerify, Timeout: cfg.Timeout})
		if err != nil {
			errs = append(errs, err)
		}
		p.pprof = c
	default:
		p.absent[Pprof] = notConfigured("pass --target URL (the service's base URL) or --pprof URL; the service must import net/http/pprof")
	}
	if u := src.MetricsURL(); p.fleet == nil && u != "" {
		c, err := metrics.NewClient(u, metrics.HTTPOptions{Header: header, CAFile: src.TLS.CAFile, CertFile: src.TLS.CertFile,
			KeyFile: src.TLS.KeyFile, InsecureSkipVerify: src.TLS.InsecureSkipVerify, Timeout: cfg.Timeout})
		if err != nil {
			errs = append(errs, err)
		}
		p.metrics = c
	} else if p.fleet == nil {
		p.absent[Metrics] = notConfigured("pass --target URL or --metrics URL (a Prometheus /metrics endpoint)")
	}
	if src.HasPG() {
		opts := cfg.Postgres
		if opts.ServerCPUs == 0 {
			opts.ServerCPUs = src.DBCores
		}
		pg, err := postgres.Open(ctx, src.PG, opts)
		if err != nil {
			errs = append(errs, err)
		} else {
			p.pg = pg
			p.explainer = newCachedExplainer(pg)
		}
	} else {
		p.absent[Postgres] = notConfigured("pass --pg DSN, or set DATABASE_URL or the PG* variables")
	}
	if src.Redis != "" {
		opts := cfg.Redis
		opts.Queues = append(append([]string(nil), opts.Queues...), src.Queues...)
		r, err := redis.Open(src.Redis, opts)
		if err != nil {
			errs = append(errs, err)
		}
		p.redis = r
	} else {
		p.absent[Redis] = notConfigured("pass --redis ADDR or set REDIS_URL")
	}
	if len(errs) > 0 {
		p.Close()
		return nil, errors.Join(errs...)
	}
	if p.pprof != nil && p.metrics != nil && src.Pprof == "" {
		p.runtimeRead = make(chan struct{})
	}
	return p, nil
}

func notConfigured(how string) source.Status {
	return source.Status{State: source.Unavailable, Detail: "not configured: " + how}
}

// Close releases the connections.
func (p *Probes) Close() {
	if p.pprof != nil {
		p.pprof.Close()
	}
	if p.metrics != nil {
		p.metrics.Close()
	}
	if p.fleet != nil {
		p.fleet.Close()
	}
	if p.pg != nil {
		p.pg.Close()
	}
	if p.redis != nil {
		_ = p.redis.Close()
	}
}

// Explainer is the PostgreSQL probe's EXPLAIN / hypothetical index
// interface, or nil without PostgreSQL. Plans are cached for a few minutes,
// so that analysing every few seconds does not plan the same statements
// again each time.
func (p *Probes) Explainer() postgres.Explainer {
	if p.explainer == nil {
		return nil
	}
	return p.explainer
}

// Config returns the configuration the probes were opened with.
func (p *Probes) Config() Config { return p.cfg }

// Snapshot is one reading of the counters of every source, taken
// concurrently. Parts of sources without a collector are nil.
type Snapshot struct {
	Time     time.Time
	Metrics  *metrics.Snapshot
	Postgres *postgres.Snapshot
	Redis    *redis.Snapshot
	// Fleet is each instance's figures when the metrics are read through
	// Prometheus; nil otherwise, or when they could not be read.
	Fleet *fleet.Fleet
	// Goroutines is a goroutine dump (debug=2) taken with the counters.
	Goroutines *pprof.GoroutineResult
	// Status of each source, and how long its probe took.
	Status map[string]source.Status
	// ServiceCPUs are the CPUs of the service's host when it is this
	// machine (localServiceCPUs); 0 when unknown.
	ServiceCPUs int
	// hostCPU are this machine's CPU times when it is the service's host.
	hostCPU *hostCPUTimes
}

// ActivitySample is the snapshot's reading of pg_stat_activity's groups,
// timed at the snapshot; false when PostgreSQL or its activity could not
// be read.
func (s *Snapshot) ActivitySample() (postgres.ActivitySample, bool) {
	pg := usablePG(s.Postgres)
	if pg == nil || !pg.Activity.Status.Ok() {
		return postgres.ActivitySample{}, false
	}
	return postgres.ActivitySample{Time: s.Time, Groups: pg.Activity.Groups}, true
}

// runnable is the snapshot's reading of the host's tasks ready to run,
// when it read the host.
func (s *Snapshot) runnable() (RunnableReading, bool) {
	if s == nil || s.hostCPU == nil || !s.hostCPU.hasRunnable {
		return RunnableReading{}, false
	}
	return RunnableReading{Time: s.Time, Tasks: s.hostCPU.runnable, Queued: s.hostCPU.queued, HasQueued: s.hostCPU.hasQueued}, true
}

// Snapshot reads every configured source concurrently, each with its own
// timeout. It never fails: a source that cannot be read has a status saying
// why.
func (p *Probes) Snapshot(ctx context.Context) *Snapshot {
	s := &Snapshot{Time: time.Now(), Status: map[string]source.Status{}, ServiceCPUs: localServiceCPUs(p.cfg.Sources)}
	if s.ServiceCPUs > 0 {
		if t, ok := readHostCPU(servicePort(p.cfg.Sources)); ok {
			s.hostCPU = &t
		}
	}
	for name, st := range p.absent {
		s.Status[name] = st
	}
	var mu sync.Mutex
	set := func(name string, st source.Status) {
		mu.Lock()
		s.Status[name] = st
		mu.Unlock()
	}
	var wg sync.WaitGroup
	run := func(f func(ctx context.Context)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(ctx, p.cfg.Timeout)
			defer cancel()
			f(ctx)
		}()
	}
	if p.metrics != nil {
		run(func(ctx context.Context) {
			m := p.metrics.Scrape(ctx, p.names)
			s.Metrics = m
			set(Metrics, m.Status)
			p.firstRuntime(m)
		})
	}
	if p.fleet != nil {
		run(func(ctx context.Context) {
			m, f := p.fleet.Snapshot(ctx, p.names)
			s.Metrics, s.Fleet = m, f
			set(Metrics, m.Status)
		})
	}
	if p.pg != nil {
		run(func(ctx context.Context) {
			pg := p.pg.Snapshot(ctx)
			s.Postgres = pg
			set(Postgres, pg.Status)
		})
	}
	if p.redis != nil {
		run(func(ctx context.Context) {
			r := p.redis.Snapshot(ctx)
			s.Redis = r
			set(Redis, r.Status)
		})
	}
	if p.pprof != nil {
		run(func(ctx context.Context) {
			g := p.goroutineDump(ctx, false)
			s.Goroutines = g
			st := g.Status
			if p.pprofInstance != "" && st.Ok() && st.Detail == "" {
				st.Detail = "instance " + p.pprofInstance + " (the busiest by CPU, through prometheus)"
			}
			set(Pprof, st)
		})
	}
	wg.Wait()
	p.noteRuntime(s)
	return s
}

// noteRuntime keeps the runtime of s's metrics when it is not Go and its
// pprof could not be read (notGo), and forgets it when they name Go or no
// runtime; metrics that could not be read change nothing.
func (p *Probes) noteRuntime(s *Snapshot) {
	if s.Metrics == nil || !s.Metrics.Status.Ok() {
		return
	}
	lang := s.Metrics.Runtime.Language
	p.notGoMu.Lock()
	defer p.notGoMu.Unlock()
	switch {
	case lang == "" || lang == metrics.LanguageGo:
		p.notGo = ""
	case s.Goroutines != nil && !s.Goroutines.Status.Ok():
		p.notGo = lang
	}
}

// firstRuntime takes the runtime of the first metrics scrape, whatever its
// outcome, for the pprof that waits for it (runtimeRead): a runtime other
// than Go is kept as notGo before pprof was asked anything. A --pprof URL
// given apart from the target is always asked first (noteRuntime).
func (p *Probes) firstRuntime(m *metrics.Snapshot) {
	if p.runtimeRead == nil {
		return
	}
	p.runtimeOnce.Do(func() {
		if m != nil && m.Status.Ok() {
			if lang := m.Runtime.Language; lang != "" && lang != metrics.LanguageGo {
				p.notGoMu.Lock()
				p.notGo = lang
				p.notGoMu.Unlock()
			}
		}
		close(p.runtimeRead)
	})
}

// awaitRuntime waits, up to the probes' timeout, until the first metrics
// scrape has told the service's runtime (firstRuntime), when pprof waits
// for it.
func (p *Probes) awaitRuntime(ctx context.Context) {
	if p.runtimeRead == nil {
		return
	}
	t := time.NewTimer(p.cfg.Timeout)
	defer t.Stop()
	select {
	case <-p.runtimeRead:
	case <-t.C:
	case <-ctx.Done():
	}
}

// skipsPprof is the runtime, other than Go, for which pprof is not read
// (notGo); "" when it is. It first waits for the first metrics scrape
// (awaitRuntime).
func (p *Probes) skipsPprof(ctx context.Context) string {
	p.awaitRuntime(ctx)
	p.notGoMu.Lock()
	defer p.notGoMu.Unlock()
	return p.notGo
}

// windowProfiles are the profiles of a window: every kind but the full
// goroutine dump, which the readings and samples take through the
// dumpGate (goroutineDump).
var windowProfiles = slices.DeleteFunc(slices.Clone(pprof.AllKinds), func(k pprof.Kind) bool { return k == pprof.KindGoroutineText })

// Profiles collects the profiles of one window from the target: CPU for
// cpuSeconds, block and mutex as deltas over the same time, fgprof where
// served, heap and the goroutine profile. With cpuSeconds 0 it takes no CPU
// profile and reads block and mutex since the process started. nil
// without a pprof target; once the service's metrics said it runs on
// another runtime than Go (notGo), no profile and a status saying so.
func (p *Probes) Profiles(ctx context.Context, cpuSeconds int) *pprof.Snapshot {
	return p.profiles(ctx, cpuSeconds, cpuSeconds)
}

// profiles is Profiles with block and mutex deltas over contentionSeconds,
// which may be longer than the CPU profile (a whole window).
func (p *Probes) profiles(ctx context.Context, cpuSeconds, contentionSeconds int) *pprof.Snapshot {
	if p.pprof == nil {
		return nil
	}
	asked := time.Now()
	if lang := p.skipsPprof(ctx); lang != "" {
		return pprof.NotCollected(time.Now(), notApplicable(lang))
	}
	// The profiles end as long after they were asked for as the service's
	// first metrics took to tell its runtime: the seconds they waited are
	// taken from them (at least one left), so that a report's profiles
	// still end with its window.
	if waited := int(time.Since(asked).Round(time.Second) / time.Second); waited > 0 {
		if cpuSeconds > 0 {
			cpuSeconds = max(1, cpuSeconds-waited)
		}
		if contentionSeconds > 0 {
			contentionSeconds = max(1, contentionSeconds-waited)
		}
	}
	opts := pprof.Options{CPUSeconds: cpuSeconds, ContentionSeconds: contentionSeconds, Kinds: windowProfiles}
	if cpuSeconds == 0 {
		opts.Kinds = []pprof.Kind{pprof.KindGoroutine, pprof.KindBlock, pprof.KindMutex, pprof.KindHeap}
		opts.Cumulative = true
	}
	return pprof.Collect(ctx, p.pprof, opts)
}

// activitySample takes a light reading of pg_stat_activity's groups;
// false without PostgreSQL or when it could not be read.
func (p *Probes) activitySample(ctx context.Context) (postgres.ActivitySample, bool) {
	if p.pg == nil {
		return postgres.ActivitySample{}, false
	}
	a, err := p.pg.ReadActivity(ctx)
	return a, err == nil
}

// goroutineDump reads the debug=2 goroutine dump, attributed to handlers,
// unless the dump would stop the target too long (dumpGate): before the
// first, it reads the goroutine count (a target that does not serve it is
// not asked for the dump); a sample between readings (spaced)
// also waits for the last dump's share of the time. A dump not taken has
// an Unavailable status saying why.
func (p *Probes) goroutineDump(ctx context.Context, spaced bool) *pprof.GoroutineResult {
	if lang := p.skipsPprof(ctx); lang != "" {
		return &pprof.GoroutineResult{Status: notApplicable(lang)}
	}
	start := time.Now()
	if ok, why := p.dumps.allow(start, spaced); !ok {
		return &pprof.GoroutineResult{Status: source.Status{State: source.Unavailable, Detail: why}}
	}
	if p.dumps.needsCount() {
		// A target that does not answer leaves the count unread: the
		// dump's own fetch reports it. One that answers 404 would answer
		// the dump, the same endpoint, alike: not asked twice.
		n, err := p.pprof.GoroutineCount(ctx)
		switch {
		case err == nil:
			if why := p.dumps.countedGoroutines(n); why != "" {
				return &pprof.GoroutineResult{Status: source.Status{State: source.Unavailable, Detail: why}}
			}
		case pprof.IsNotServed(err):
			return &pprof.GoroutineResult{Status: source.StatusOf(err, time.Since(start))}
		}
	}
	g := pprof.Collect(ctx, p.pprof, pprof.Options{Kinds: []pprof.Kind{pprof.KindGoroutineText}}).GoroutineText
	if g.Bytes > 0 {
		p.dumps.record(start, g.Bytes)
	}
	return g
}
