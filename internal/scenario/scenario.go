// Package scenario runs the bundled sample service on a PostgreSQL and a
// Redis, drives it with the load generator and observes it with the probes:
// the loop the end-to-end tests share, with the service in their process.
// advisor tune and advisor demo, which run the service as a process of its
// own, use its seeding (Seed) and its load (MixLoad). It knows sampleapp's
// knobs only to set them; what advisor concludes comes from the probes
// alone.
package scenario

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"time"

	"github.com/pgadvisor/advisor/internal/config"
	"github.com/pgadvisor/advisor/internal/load"
	"github.com/pgadvisor/advisor/internal/probe"
	"github.com/pgadvisor/advisor/internal/probe/postgres"
	"github.com/pgadvisor/advisor/sampleapp"
)

// Options of a scenario.
type Options struct {
	// DSN of the service's database and address of Redis.
	DSN       string
	RedisAddr string
	// Size of the data set seeded into the database (zero: TestSize).
	// Seeding is skipped when the database holds that size already.
	Size sampleapp.Size
	// Profile (naive or tuned) and single knob overrides.
	Profile string
	Knobs   map[string]string
	// CacheNamespace separates the Redis keys of services on different
	// databases that share a Redis.
	CacheNamespace string
	// Logger for the service; nil discards its logs.
	Logger *slog.Logger
}

// Scenario is a running sample service with its data.
type Scenario struct {
	App  *sampleapp.App
	opts Options
	// gomaxprocs is the process's setting before the service's gomaxprocs
	// knob changed it: the service runs in this process.
	gomaxprocs int
	// probes are opened by the first Observe and stay open until Close, so
	// that the observations' Explainer still works when rules run on them.
	probes *probe.Probes
}

// Start seeds the database if needed and starts the service.
func Start(ctx context.Context, opts Options) (*Scenario, error) {
	if opts.Size == (sampleapp.Size{}) {
		opts.Size = sampleapp.TestSize
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if err := Seed(ctx, opts.DSN, opts.Size); err != nil {
		return nil, err
	}
	gomaxprocs := runtime.GOMAXPROCS(0)
	app, err := sampleapp.Start(ctx, sampleapp.Config{DSN: opts.DSN, RedisAddr: opts.RedisAddr,
		Profile: opts.Profile, Knobs: opts.Knobs, CacheNamespace: opts.CacheNamespace, Logger: opts.Logger})
	if err != nil {
		return nil, fmt.Errorf("start sampleapp: %w", err)
	}
	return &Scenario{App: app, opts: opts, gomaxprocs: gomaxprocs}, nil
}

// Seed seeds the database at dsn with size, unless it holds that size
// already; a database seeded with another size is seeded again.
func Seed(ctx context.Context, dsn string, size sampleapp.Size) error {
	if _, err := sampleapp.Seed(ctx, dsn, size, false); err != nil {
		if !errors.Is(err, sampleapp.ErrSeededDifferently) {
			return fmt.Errorf("seed: %w", err)
		}
		if _, err := sampleapp.Seed(ctx, dsn, size, true); err != nil {
			return fmt.Errorf("reseed: %w", err)
		}
	}
	return nil
}

// Close stops the service and restores the process's GOMAXPROCS.
func (s *Scenario) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if s.probes != nil {
		s.probes.Close()
	}
	err := s.App.Shutdown(ctx)
	runtime.GOMAXPROCS(s.gomaxprocs)
	return err
}

// Sources are the probe sources that read this service, its database and
// its Redis.
func (s *Scenario) Sources() config.Sources {
	return config.Sources{Target: s.App.URL, PG: s.opts.DSN, Redis: s.opts.RedisAddr}
}

// LoadConfig is the load generator's configuration for the sample mix.
func (s *Scenario) LoadConfig(connections int, d time.Duration) load.Config {
	return MixLoad(s.App.URL, s.opts.Size, connections, d)
}

// MixLoad is the load generator's configuration for the sample mix of a
// sampleapp at base whose database holds size.
func MixLoad(base string, size sampleapp.Size, connections int, d time.Duration) load.Config {
	mix, vars, header := sampleapp.LoadMix(size)
	return load.Config{BaseURL: base, Mix: mix, Vars: vars, Header: header,
		Connections: connections, Duration: d, Timeout: 30 * time.Second}
}

// Load runs the sample mix for d on connections connections.
func (s *Scenario) Load(ctx context.Context, connections int, d time.Duration) (*load.Result, error) {
	return load.Run(ctx, s.LoadConfig(connections, d))
}

// ObserveOptions shape one observed load step.
type ObserveOptions struct {
	Connections int
	// Rate is the load's requests per second in all, sent on a fixed
	// schedule (load.Config.Rate); 0 sends as fast as the service answers.
	Rate float64
	// Window is the observation; the load runs for Warmup + Window.
	Window time.Duration
	// Warmup runs load before the first snapshot, so that pools and
	// caches reach their steady state (default 1s).
	Warmup         time.Duration
	ProfileSeconds int
	// Probe configures the probes; its Sources are filled in. The probes
	// are opened by the scenario's first Observe and kept until Close: the
	// configuration of that first call holds.
	Probe probe.Config
}

// Observation is one observed load step.
type Observation struct {
	Window *probe.Window
	Load   *load.Result
	// Explainer runs EXPLAIN on the service's database for the rules
	// (rules.Input.Explainer); nil without PostgreSQL. It works while the
	// probes that observed are open.
	Explainer postgres.Explainer
}

// Observe runs the load and, after the warm-up, observes the service, its
// database and its Redis for the window. The observation's Explainer stays
// usable until the scenario is closed.
func (s *Scenario) Observe(ctx context.Context, opts ObserveOptions) (*Observation, error) {
	if opts.Connections <= 0 {
		opts.Connections = 16
	}
	if opts.Window <= 0 {
		opts.Window = 5 * time.Second
	}
	if opts.Warmup <= 0 {
		opts.Warmup = time.Second
	}
	if s.probes == nil {
		pcfg := opts.Probe
		pcfg.Sources = config.Merge(s.Sources(), pcfg.Sources)
		probes, err := probe.Open(ctx, pcfg)
		if err != nil {
			return nil, err
		}
		s.probes = probes
	}
	probes := s.probes

	lc := s.LoadConfig(opts.Connections, opts.Warmup+opts.Window+500*time.Millisecond)
	lc.Rate = opts.Rate
	return ObserveUnderLoad(ctx, probes, lc, opts.Warmup,
		probe.ObserveOptions{Window: opts.Window, ProfileSeconds: opts.ProfileSeconds})
}

// ObserveUnderLoad runs the load lc (whose Duration must outlast warmup and
// the window), waits warmup for pools and caches to settle, observes with
// probes for the window, and returns the window with the load's result and
// the probes' Explainer (usable while probes are open). Any service will do:
// advisor tune uses it on a sampleapp it did not start.
func ObserveUnderLoad(ctx context.Context, probes *probe.Probes, lc load.Config, warmup time.Duration, opts probe.ObserveOptions) (*Observation, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type loadDone struct {
		res *load.Result
		err error
	}
	done := make(chan loadDone, 1)
	go func() {
		res, err := load.Run(ctx, lc)
		done <- loadDone{res, err}
	}()
	select {
	case <-time.After(warmup):
	case ld := <-done:
		if ld.err != nil {
			return nil, fmt.Errorf("load: %w", ld.err)
		}
		return nil, errors.New("load: the run ended before the warm-up did")
	case <-ctx.Done():
		<-done
		return nil, ctx.Err()
	}
	w, err := probes.Observe(ctx, opts)
	if err != nil {
		cancel()
		<-done
		return nil, err
	}
	ld := <-done
	if ld.err != nil && !errors.Is(ld.err, context.Canceled) {
		return nil, fmt.Errorf("load: %w", ld.err)
	}
	return &Observation{Window: w, Load: ld.res, Explainer: probes.Explainer()}, nil
}
