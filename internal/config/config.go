// Package config resolves where advisor's sources are: from an advisor.yaml
// file, the environment (DATABASE_URL, PG*, REDIS_URL) and the command line,
// in that order of increasing precedence. Loading is strict: every unknown key
// or badly typed value is reported at once, with file:line:column.
package config

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/pgadvisor/advisor/internal/yamlfile"
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
	// Headers are sent with every request to the target (e.g. Authorization).
	Headers map[string]string `yaml:"headers"`
	TLS     TLS               `yaml:"tls"`
	// InternalHosts are hosts of the same system besides loopback and the
	// private ranges, for app.internal-hops.
	InternalHosts []string `yaml:"internal_hosts"`
	// DBCores is the number of CPU cores of the PostgreSQL server, which SQL
	// cannot see; pool sizing advice uses it when set.
	DBCores int `yaml:"db_cores"`
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
	return s.Target == "" && s.Metrics == "" && s.Pprof == "" && !s.HasPG() && s.Redis == ""
}

// Validate checks the URLs and addresses, returning every problem at once.
func (s Sources) Validate() error {
	var errs []error
	for _, u := range []struct{ name, value string }{{"target", s.Target}, {"metrics", s.Metrics}, {"pprof", s.Pprof}} {
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
	if s.PG == "" {
		for _, k := range []string{"PGHOST", "PGPORT", "PGDATABASE", "PGUSER", "PGSERVICE", "PGHOSTADDR"} {
			if getenv(k) != "" {
				s.PGFromEnv = true
				break
			}
		}
	}
	s.Redis = getenv("REDIS_URL")
	return s
}

// Merge returns base with every field that over sets replacing base's.
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
	if over.PG != "" {
		out.PG, out.PGFromEnv = over.PG, false
	}
	set(&out.Redis, over.Redis)
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
	return out
}

func cloneMap(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// Resolve combines the three layers: the environment, then the file, then
// the flags, each overriding the one before.
func Resolve(env, file, flags Sources) Sources {
	return Merge(Merge(env, file), flags)
}

// PositionError is one problem in a file, at a line and column.
type PositionError = yamlfile.Error

// LoadFile reads an advisor.yaml.
func LoadFile(path string) (Sources, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Sources{}, fmt.Errorf("read config: %w", err)
	}
	return Parse(path, data)
}

// keys are the top-level keys of advisor.yaml, and tlsKeys those of its tls.
var (
	keys    = []string{"db_cores", "headers", "internal_hosts", "metrics", "pg", "pprof", "redis", "target", "tls"}
	tlsKeys = []string{"ca_file", "cert_file", "insecure_skip_verify", "key_file"}
)

// Parse reads advisor.yaml content; name is used in error positions. Every
// problem of the file is reported at once: those of its YAML as
// yamlfile.Errors (each a *PositionError), then those of Validate. A key
// without a value (null) is as if absent.
func Parse(name string, data []byte) (Sources, error) {
	var s Sources
	f := yamlfile.Parse(name, data)
	root := f.Root()
	if root == nil {
		return s, f.Err()
	}
	if root.Kind != yaml.MappingNode {
		f.Errorf(root, "the file must be a mapping of keys (target, metrics, pprof, pg, redis, ...)")
		return s, f.Err()
	}
	fields, _ := f.Fields(root, "", keys...)
	strs := map[string]*string{"target": &s.Target, "metrics": &s.Metrics, "pprof": &s.Pprof, "pg": &s.PG, "redis": &s.Redis}
	for _, key := range keys {
		v := fields[key]
		if v == nil || yamlfile.IsNull(v) {
			continue
		}
		switch key {
		case "headers":
			s.Headers = readHeaders(f, v)
		case "tls":
			s.TLS = readTLS(f, v)
		case "internal_hosts":
			s.InternalHosts, _ = f.Strings(v, key)
		case "db_cores":
			s.DBCores, _ = f.Int(v, key)
		default:
			*strs[key], _ = f.String(v, key)
		}
	}
	if err := s.Validate(); err != nil {
		return s, errors.Join(f.Err(), fmt.Errorf("%s: %w", name, err))
	}
	return s, f.Err()
}

func readHeaders(f *yamlfile.File, n *yaml.Node) map[string]string {
	pairs, _ := f.Pairs(n, "headers")
	h := make(map[string]string, len(pairs))
	for _, p := range pairs {
		h[p.Key.Value], _ = f.Text(p.Value, "headers."+p.Key.Value)
	}
	return h
}

func readTLS(f *yamlfile.File, n *yaml.Node) TLS {
	var t TLS
	fields, _ := f.Fields(n, "tls", tlsKeys...)
	for key, v := range fields {
		what := "tls." + key
		switch key {
		case "ca_file":
			t.CAFile, _ = f.String(v, what)
		case "cert_file":
			t.CertFile, _ = f.String(v, what)
		case "key_file":
			t.KeyFile, _ = f.String(v, what)
		case "insecure_skip_verify":
			t.InsecureSkipVerify, _ = f.Bool(v, what)
		}
	}
	return t
}
