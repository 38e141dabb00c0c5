// Package config resolves where advisor's sources are and the options of
// advisor report: from a config file (.advisor.yaml or advisor.yaml, found
// from the working directory up, or named by --config), the environment
// (DATABASE_URL, PG*, REDIS_URL) and the command line, in that order of
// increasing precedence. Loading is strict: every unknown key or badly typed
// value is reported at once, with file:line:column.
package config

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// Sources says where to read each source. An empty field means the source is
// not configured.
type Sources struct {
	// Target is a base URL serving /debug/pprof and /metrics.
	Target string `yaml:"target"`
	// Metrics and Pprof override the URLs derived from Target.
	Metrics string `yaml:"metrics"`
	Pprof   string `yaml:"pprof"`
	// PG is a PostgreSQL DSN (URL or key=value). PGFromEnv is set when the
	// DSN is to be read from the PG* environment variables by the driver.
	PG        string `yaml:"pg"`
	PGFromEnv bool   `yaml:"-"`
	// Redis is host:port or a redis:// / rediss:// URL.
	Redis string `yaml:"redis"`
	// Prometheus is the URL of a Prometheus server that scrapes every
	// instance of the service; with it the service's metrics are read
	// through its HTTP API instead of one /metrics endpoint. Selector is
	// the label matchers of the service's series (job="api").
	Prometheus string `yaml:"prometheus"`
	Selector   string `yaml:"selector"`
	// PprofInstances is how many instances of a fleet pprof reads (the
	// busiest first; 0 means 1), PprofPort the port their pprof is served
	// on when it is not the scrape's.
	PprofInstances int `yaml:"pprof_instances"`
	PprofPort      int `yaml:"pprof_port"`
	// Headers are sent with every request to the target (e.g. Authorization).
	Headers map[string]string `yaml:"headers"`
	TLS     TLS               `yaml:"tls"`
	// InternalHosts are hosts of the same system besides loopback and the
	// private ranges, for app.internal-hops.
	InternalHosts []string `yaml:"internal_hosts"`
	// DBCores is the number of CPU cores of the PostgreSQL server, which SQL
	// cannot see; pool sizing advice uses it when set.
	DBCores int `yaml:"db_cores"`
	// Queues names job queues in Redis to read besides those advisor
	// finds by itself (Celery list names, asynq and BullMQ queue names).
	Queues []string `yaml:"queues"`
}

// TLS options for targets served over HTTPS.
type TLS struct {
	CAFile             string `yaml:"ca_file"`
	CertFile           string `yaml:"cert_file"`
	KeyFile            string `yaml:"key_file"`
	InsecureSkipVerify bool   `yaml:"insecure_skip_verify"`
}

// MetricsURL is the URL of the Prometheus endpoint, or "" when there is none.
func (s Sources) MetricsURL() string {
	if s.Prometheus != "" {
		return ""
	}
	if s.Metrics != "" {
		return s.Metrics
	}
	if s.Target != "" {
		return strings.TrimRight(s.Target, "/") + "/metrics"
	}
	return ""
}

// PprofURL is the base URL that serves /debug/pprof/..., or "".
func (s Sources) PprofURL() string {
	if s.Pprof != "" {
		return strings.TrimRight(s.Pprof, "/")
	}
	return strings.TrimRight(s.Target, "/")
}

// HasPG reports whether a PostgreSQL source is configured.
func (s Sources) HasPG() bool { return s.PG != "" || s.PGFromEnv }

// Empty reports whether no source at all is configured.
func (s Sources) Empty() bool {
	return s.Target == "" && s.Metrics == "" && s.Pprof == "" && !s.HasPG() && s.Redis == "" && s.Prometheus == ""
}

// Validate checks the URLs and addresses, returning every problem at once.
func (s Sources) Validate() error {
	var errs []error
	for _, u := range []struct{ name, value string }{{"target", s.Target}, {"metrics", s.Metrics}, {"pprof", s.Pprof}, {"prometheus", s.Prometheus}} {
		if u.value == "" {
			continue
		}
		parsed, err := url.Parse(u.value)
		if err != nil || (parsed.Scheme != "http" && parsed.Scheme != "https") || parsed.Host == "" {
			errs = append(errs, fmt.Errorf("%s: %q is not an http(s) URL (e.g. http://127.0.0.1:8080)", u.name, redactURL(u.value)))
		}
	}
	if s.Redis != "" && strings.Contains(s.Redis, "://") {
		parsed, err := url.Parse(s.Redis)
		if err != nil || (parsed.Scheme != "redis" && parsed.Scheme != "rediss" && parsed.Scheme != "unix") {
			errs = append(errs, fmt.Errorf("redis: %q is not host:port nor a redis:// URL", redactURL(s.Redis)))
		}
	}
	if s.Prometheus != "" && strings.Trim(strings.TrimSpace(s.Selector), "{} ") == "" {
		errs = append(errs, fmt.Errorf(`prometheus: a selector is needed, the label matchers of the service's series (--selector 'job="api"')`))
	}
	if s.Selector != "" && s.Prometheus == "" {
		errs = append(errs, fmt.Errorf("selector: it selects series of a Prometheus server: pass --prometheus URL too"))
	}
	if s.Prometheus != "" && s.Metrics != "" {
		errs = append(errs, fmt.Errorf("metrics and prometheus: give one source of metrics, not both"))
	}
	if s.PprofInstances < 0 {
		errs = append(errs, fmt.Errorf("pprof_instances: %d is negative", s.PprofInstances))
	}
	if s.PprofPort < 0 || s.PprofPort > 65535 {
		errs = append(errs, fmt.Errorf("pprof_port: %d is not a port", s.PprofPort))
	}
	if s.DBCores < 0 {
		errs = append(errs, fmt.Errorf("db_cores: %d is negative", s.DBCores))
	}
	return errors.Join(errs...)
}

// redactURL hides a password in a URL for an error message.
func redactURL(raw string) string {
	if u, err := url.Parse(raw); err == nil && u.User != nil {
		if _, has := u.User.Password(); has {
			u.User = url.UserPassword(u.User.Username(), "xxxxx")
			return u.String()
		}
	}
	return raw
}

// Env is the subset of the environment advisor reads.
type Env func(key string) string

// FromEnv reads DATABASE_URL, the PG* variables and REDIS_URL.
func FromEnv(getenv Env) Sources {
	var s Sources
	s.PG = getenv("DATABASE_URL")
	s.PGFromEnv = s.PG == "" && pgVar(getenv) != ""
	s.Redis = getenv("REDIS_URL")
	return s
}

// pgVars are the variables that name a PostgreSQL server to libpq and pgx
// without a DSN.
var pgVars = []string{"PGHOST", "PGPORT", "PGDATABASE", "PGUSER", "PGSERVICE", "PGHOSTADDR"}

// pgVar returns the first of pgVars that is set, or "".
func pgVar(getenv Env) string {
	for _, k := range pgVars {
		if getenv(k) != "" {
			return k
		}
	}
	return ""
}

// Merge returns base with every field that over sets replacing base's. The
// PG* variables (over.PGFromEnv) replace base's DSN, as DATABASE_URL would.
func Merge(base, over Sources) Sources {
	out := base
	set := func(dst *string, v string) {
		if v != "" {
			*dst = v
		}
	}
	set(&out.Target, over.Target)
	set(&out.Metrics, over.Metrics)
	set(&out.Pprof, over.Pprof)
	switch {
	case over.PG != "":
		out.PG, out.PGFromEnv = over.PG, false
	case over.PGFromEnv:
		out.PG, out.PGFromEnv = "", true
	}
	set(&out.Redis, over.Redis)
	set(&out.Prometheus, over.Prometheus)
	set(&out.Selector, over.Selector)
	if over.PprofInstances != 0 {
		out.PprofInstances = over.PprofInstances
	}
	if over.PprofPort != 0 {
		out.PprofPort = over.PprofPort
	}
	if len(over.Headers) > 0 {
		if out.Headers == nil {
			out.Headers = map[string]string{}
		} else {
			out.Headers = cloneMap(out.Headers)
		}
		for k, v := range over.Headers {
			out.Headers[k] = v
		}
	}
	set(&out.TLS.CAFile, over.TLS.CAFile)
	set(&out.TLS.CertFile, over.TLS.CertFile)
	set(&out.TLS.KeyFile, over.TLS.KeyFile)
	out.TLS.InsecureSkipVerify = out.TLS.InsecureSkipVerify || over.TLS.InsecureSkipVerify
	if len(over.InternalHosts) > 0 {
		out.InternalHosts = append(append([]string(nil), out.InternalHosts...), over.InternalHosts...)
	}
	if over.DBCores != 0 {
		out.DBCores = over.DBCores
	}
	if len(over.Queues) > 0 {
		out.Queues = append(append([]string(nil), out.Queues...), over.Queues...)
	}
	return out
}

func cloneMap(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// Resolve combines the three layers, each overriding the one before: the
// config file, the environment, the flags. A CI job's DATABASE_URL thus wins
// over a file committed to the repository.
func Resolve(file, env, flags Sources) Sources {
	return Merge(Merge(file, env), flags)
}

// EnvOverrides names each key of the file that the environment replaces (no
// flag replacing it first), with the variable that does: "pg (DATABASE_URL)".
func EnvOverrides(file, flags Sources, getenv Env) []string {
	var out []string
	if file.PG != "" && flags.PG == "" {
		if getenv("DATABASE_URL") != "" {
			out = append(out, "pg (DATABASE_URL)")
		} else if v := pgVar(getenv); v != "" {
			out = append(out, "pg ("+v+")")
		}
	}
	if file.Redis != "" && flags.Redis == "" && getenv("REDIS_URL") != "" {
		out = append(out, "redis (REDIS_URL)")
	}
	return out
}
