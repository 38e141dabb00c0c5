package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/pgadvisor/advisor/internal/config"
)

// sourceFlags are the flags naming the sources, shared by report and attach,
// and those naming the config file.
type sourceFlags struct {
	config         configFlags
	target         string
	metrics        string
	pprof          string
	pg             string
	redis          string
	headers        []string
	caFile         string
	certFile       string
	keyFile        string
	insecure       bool
	internalHosts  []string
	dbCores        int
	prometheus     string
	selector       string
	pprofInstances int
	pprofPort      int
	queues         []string
}

func (f *sourceFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	f.config.register(fl)
	fl.StringVar(&f.target, "target", "", "the service's base URL, serving /debug/pprof and /metrics")
	fl.StringVar(&f.metrics, "metrics", "", "Prometheus metrics URL (overrides --target for metrics)")
	fl.StringVar(&f.pprof, "pprof", "", "base URL serving /debug/pprof (overrides --target for profiles)")
	fl.StringVar(&f.pg, "pg", "", "PostgreSQL DSN (default: DATABASE_URL, or the PG* variables)")
	fl.StringVar(&f.redis, "redis", "", "Redis host:port or redis:// URL (default: REDIS_URL)")
	fl.StringArrayVar(&f.headers, "header", nil, "header for requests to the target, 'Name: value' (repeatable)")
	fl.StringVar(&f.caFile, "ca-file", "", "PEM file of CAs to trust for an https target")
	fl.StringVar(&f.certFile, "cert-file", "", "client certificate for an https target")
	fl.StringVar(&f.keyFile, "key-file", "", "client key for an https target")
	fl.BoolVar(&f.insecure, "insecure-skip-verify", false, "accept any certificate from an https target")
	fl.StringArrayVar(&f.internalHosts, "internal-host", nil, "a host of the same system, for internal-hop detection (repeatable)")
	fl.StringSliceVar(&f.queues, "queues", nil, "job queues in Redis to read besides those found (Celery list, asynq or BullMQ queue names; comma-separated, repeatable)")
	fl.IntVar(&f.dbCores, "db-cores", 0, "CPU cores of the PostgreSQL server, for pool sizing (SQL cannot see them)")
	fl.StringVar(&f.prometheus, "prometheus", "", "Prometheus server scraping every instance: read the service's metrics through its API")
	fl.StringVar(&f.selector, "selector", "", `label matchers of the service's series in Prometheus, e.g. 'job="api",namespace="prod"'`)
	fl.IntVar(&f.pprofInstances, "pprof-instances", 0, "with --prometheus: how many instances to profile, the busiest first (default 1)")
	fl.IntVar(&f.pprofPort, "pprof-port", 0, "with --prometheus: the port serving /debug/pprof when it is not the scrape's")
}

// resolve combines the config file, the environment and the flags, each
// overriding the one before; a key of the file that the environment
// replaces is named on stderr.
func (f *sourceFlags) resolve(cmd *cobra.Command, file config.File) (config.Sources, error) {
	env := config.FromEnv(os.Getenv)
	flags := config.Sources{
		Target: f.target, Metrics: f.metrics, Pprof: f.pprof, PG: f.pg, Redis: f.redis,
		TLS:           config.TLS{CAFile: f.caFile, CertFile: f.certFile, KeyFile: f.keyFile, InsecureSkipVerify: f.insecure},
		InternalHosts: f.internalHosts, DBCores: f.dbCores, Queues: f.queues,
		Prometheus: f.prometheus, Selector: f.selector, PprofInstances: f.pprofInstances, PprofPort: f.pprofPort,
	}
	for _, h := range f.headers {
		name, value, ok := strings.Cut(h, ":")
		if !ok || strings.TrimSpace(name) == "" {
			return config.Sources{}, usageError{fmt.Errorf("--header: want 'Name: value' (the value is not shown here)")}
		}
		if flags.Headers == nil {
			flags.Headers = map[string]string{}
		}
		flags.Headers[strings.TrimSpace(name)] = strings.TrimSpace(value)
	}
	if over := config.EnvOverrides(file.Sources, flags, os.Getenv); len(over) > 0 {
		fmt.Fprintf(cmd.ErrOrStderr(), "advisor: config: the environment replaces %s of %s\n", strings.Join(over, ", "), file.Path)
	}
	s := config.Resolve(file.Sources, env, flags)
	if err := s.Validate(); err != nil {
		return config.Sources{}, usageError{err}
	}
	if s.Empty() {
		return config.Sources{}, usageError{fmt.Errorf("no source given: pass --target URL (or --prometheus URL --selector MATCHERS), --pg DSN and/or --redis ADDR (or set DATABASE_URL / REDIS_URL, or write them in .advisor.yaml)")}
	}
	return s, nil
}
