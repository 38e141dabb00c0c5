package rules

import (
	"context"
	"math"

	"github.com/pgadvisor/advisor/internal/probe/metrics"
)

// runtimeWorkers flags a single-threaded runtime (CPython, Node) whose
// process is at about one core: one worker runs the requests' code on one
// thread, so the service cannot use more, whatever the host has. It gives
// the number of workers and the database connections that number implies.
var runtimeWorkers = Def[runtimeWorkersParams]{ID: "runtime.workers", Check: checkRuntimeWorkers}

type runtimeWorkersParams struct {
	MinCPUCores float64 `param:"min_cpu_cores"`
	MaxCPUCores float64 `param:"max_cpu_cores"`
	// SQLAlchemy's and node-postgres' pool defaults, for the connections
	// the workers imply.
	SQLAlchemyPoolSize    int     `param:"sqlalchemy_pool_size"`
	SQLAlchemyMaxOverflow int     `param:"sqlalchemy_max_overflow"`
	NodePostgresMax       int     `param:"node_postgres_max"`
	MaxHostBusyShare      float64 `param:"max_host_busy_share"`
}

func checkRuntimeWorkers(_ context.Context, in *Input, p runtimeWorkersParams) ([]Finding, error) {
	w := in.Window
	if w == nil || w.Metrics == nil || w.Metrics.Process.CPUCores == nil {
		return nil, nil
	}
	lang := serviceLanguage(in)
	if !singleThreaded(lang) {
		return nil, nil
	}
	cpu := *w.Metrics.Process.CPUCores
	if cpu > p.MaxCPUCores {
		return nil, nil
	}
	// Node says how busy its loop is: the process's CPU over the loop's
	// utilisation (the mean over a cluster's workers) is about the number
	// of loops busy; more than one is a cluster already.
	workers := 1
	// eluShown is the evidence's: -1 where the service exposes no loop
	// utilisation (Node's prom-client only), not a loop never busy.
	elu, eluShown := 0.0, -1.0
	if loop := w.Metrics.Runtime.EventLoop; lang == metrics.LanguageNode && loop != nil && loop.Utilisation != nil {
		elu = *loop.Utilisation
		eluShown = dbRound(elu, 3)
		if elu > 0.1 {
			workers = max(1, int(math.Round(cpu/elu)))
		}
		if elu < p.MinCPUCores {
			// The loop is not busy: the core goes elsewhere (the GC,
			// libuv's threads), and a second worker would not help.
			return nil, nil
		}
	}
	// The process at about one core; or, for Node, its one loop busy
	// whatever CPU the host gave it: a loop 99% busy at 0.77 cores was
	// waiting for a CPU the other processes held, and a second worker
	// takes what the host has idle.
	if cpu < p.MinCPUCores && elu < p.MinCPUCores {
		return nil, nil
	}
	if workers > 1 {
		return nil, nil
	}
	cores := w.ServiceCPUs
	if cores == 1 {
		return nil, nil // no other core to use
	}
	// On this machine, a host whose CPUs are all busy has no core for a
	// second worker; and a process starved of CPU looks like one worker
	// (its loop busy, its CPU at what the host gives it).
	if cores > 0 && w.HostBusyCores >= p.MaxHostBusyShare*float64(cores) {
		return nil, nil
	}
	ev := map[string]any{
		"runtime":                lang,
		"cpu_cores":              dbRound(cpu, 2),
		"workers_seen":           workers,
		"host_cores":             cores,
		"host_busy_cores":        dbRound(w.HostBusyCores, 2),
		"event_loop_utilisation": eluShown,
		"suggested_workers":      0,
		"gunicorn_workers":       0,
		"db_connections":         0,
		"connections_per_worker": 0,
		"pool":                   "",
	}
	perWorker, pool := p.NodePostgresMax, "node-postgres Pool max"
	if lang == metrics.LanguagePython {
		perWorker = p.SQLAlchemyPoolSize + p.SQLAlchemyMaxOverflow
		pool = "SQLAlchemy pool_size + max_overflow"
	}
	ev["connections_per_worker"] = perWorker
	ev["pool"] = pool
	if cores > 1 {
		ev["suggested_workers"] = cores
		ev["gunicorn_workers"] = 2*cores + 1
		ev["db_connections"] = cores * perWorker
	}
	// What more workers would remove: the requests' wait for the busy one.
	share, _ := waitOf(in.split().Service)
	return []Finding{{
		Subject:  lang + " service",
		Evidence: ev,
		Impact:   share,
	}}, nil
}
