package tune

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/pgadvisor/advisor/internal/load"
	"github.com/pgadvisor/advisor/internal/probe"
	"github.com/pgadvisor/advisor/internal/probe/metrics"
	"github.com/pgadvisor/advisor/internal/rules"
	"github.com/pgadvisor/advisor/internal/scenario"
)

// Live measures the real service: it runs the load generator for Duration
// and, after Warmup, observes the service, its database and its Redis with
// the probes for the rest of the step but a second, then runs the rules on
// that window.
type Live struct {
	// Load is the load of every step (its Duration is replaced by
	// Duration).
	Load load.Config
	// Probe configures the probes (the service, its PostgreSQL, its Redis).
	Probe probe.Config
	// Duration of each load step, and the warm-up inside it before the
	// report window opens (pools and caches reach their steady state).
	Duration, Warmup time.Duration
	// ProfileSeconds is the CPU profile taken inside the window.
	ProfileSeconds int
	// Rules and Registry are what the window is analysed with.
	Rules    *rules.Set
	Registry rules.Registry
	// Progress, when set, is called about once a second during the window.
	Progress func(elapsed, total time.Duration)
}

// windowTail is the time the load keeps running after the report window
// closes, so that the last snapshot sees the service under load.
const windowTail = time.Second

// Window is the report window of a step.
func (l *Live) Window() time.Duration { return l.Duration - l.Warmup - windowTail }

// Validate checks the durations.
func (l *Live) Validate() error {
	if l.Warmup < 0 {
		return errors.New("the warm-up must not be negative")
	}
	if l.Window() < 2*time.Second {
		return fmt.Errorf("a load step of %s leaves no report window after the %s warm-up: give at least %s",
			l.Duration, l.Warmup, l.Warmup+windowTail+2*time.Second)
	}
	if l.Rules == nil {
		return errors.New("no rules")
	}
	return nil
}

// Measure runs one load step with its report window.
func (l *Live) Measure(ctx context.Context) (*Measurement, error) {
	if err := l.Validate(); err != nil {
		return nil, err
	}
	probes, err := probe.Open(ctx, l.Probe)
	if err != nil {
		return nil, err
	}
	defer probes.Close()

	lc := l.Load
	lc.Duration = l.Duration
	lc.Progress = nil
	obs, err := scenario.ObserveUnderLoad(ctx, probes, lc, l.Warmup,
		probe.ObserveOptions{Window: l.Window(), ProfileSeconds: l.ProfileSeconds, Progress: l.Progress})
	if err != nil {
		return nil, err
	}
	w := obs.Window
	a := rules.Analyse(ctx, &rules.Input{Window: w, Explainer: obs.Explainer}, l.Rules, l.Registry)
	findings, errs := a.Findings, a.Errors
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return &Measurement{Metrics: MetricsOf(obs.Load, w.Metrics), Findings: findings, Warnings: errs}, nil
}

// Names of the sampleapp series the step table reads.
const (
	queriesCounter  = "sampleapp_db_queries_total"
	internalPrefix  = "/v1/"
	healthRoute     = "/health"
	workerRoute     = "worker"
	backgroundRoute = "background"
)

// MetricsOf takes a step's figures from the load generator's result and, for
// queries and hops per request, from the metrics window: the service's DB
// queries caused by API requests (sampleapp_db_queries_total without the
// job workers' and the background writer's) and the requests its internal
// services received (their /v1 routes), each per API request (every route
// but those and /health).
func MetricsOf(res *load.Result, w *metrics.Window) Metrics {
	var m Metrics
	if res != nil {
		m.Requests, m.Errors, m.RPS = res.Requests, res.Errors, res.RPS
		m.P50, m.P95, m.P99 = res.Latency.P50, res.Latency.P95, res.Latency.P99
	}
	if w == nil {
		return m
	}
	var api, internal float64
	for _, r := range w.Routes {
		switch {
		case strings.HasPrefix(r.Route, internalPrefix):
			internal += r.Requests
		case r.Route == healthRoute:
		default:
			api += r.Requests
		}
	}
	if api <= 0 {
		return m
	}
	if q, ok := w.Delta(queriesCounter, nil); ok {
		wq, _ := w.Delta(queriesCounter, map[string]string{"route": workerRoute})
		bq, _ := w.Delta(queriesCounter, map[string]string{"route": backgroundRoute})
		m.QueriesPerRequest, m.HasQueries = max(q-wq-bq, 0)/api, true
	}
	if len(w.Routes) > 0 {
		m.HopsPerRequest, m.HasHops = internal/api, true
	}
	return m
}
