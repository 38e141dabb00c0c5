package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/pgadvisor/advisor/internal/yamlfile"
)

// File is a config file: where the sources are, the rules file and the
// options of advisor report. Relative paths in it (tls files, rules,
// baseline, the files of formats) are relative to the file's directory, and
// File holds them resolved.
type File struct {
	// Path is the file's path as given or found; "" for no file.
	Path    string
	Sources Sources
	// Rules is a rules file merged over the built-in rules.yaml (--rules).
	Rules  string
	Report Report
}

// Report holds the options of advisor report a file may set. An empty
// field (a nil pointer) is not set.
type Report struct {
	// Formats are FORMAT[:PATH] as --format takes them; no path (or "-")
	// is standard output.
	Formats        []string
	FailOn         string
	Baseline       string
	Window         *time.Duration
	ProfileSeconds *int
	// Thresholds are the regression thresholds, NAME=VALUE as --threshold
	// takes them, in the file's order.
	Thresholds       []string
	FailOnRegression *bool
	// MinConfidence is a confidence level (low, medium, high) or a score
	// from 0 to 1, as --min-confidence takes it.
	MinConfidence string
}

// Checks validate the values whose valid set the caller knows: the names of
// report formats and the --fail-on thresholds. A nil check accepts any
// value.
type Checks struct {
	Format func(name string) error
	FailOn func(threshold string) error
	// Threshold checks one regression threshold, NAME=VALUE.
	Threshold func(spec string) error
	// MinConfidence checks report.min_confidence.
	MinConfidence func(confidence string) error
}

// PositionError is one problem in a file, at a line and column.
type PositionError = yamlfile.Error

// LoadFile reads a config file.
func LoadFile(path string, checks Checks) (File, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return File{}, fmt.Errorf("read config: %w", err)
	}
	return Parse(path, data, checks)
}

// keys are the top-level keys of a config file, and tlsKeys and reportKeys
// those of its tls and report sections.
var (
	keys       = []string{"db_cores", "headers", "internal_hosts", "metrics", "pg", "pprof", "pprof_instances", "pprof_port", "prometheus", "queues", "redis", "report", "rules", "selector", "target", "tls"}
	tlsKeys    = []string{"ca_file", "cert_file", "insecure_skip_verify", "key_file"}
	reportKeys = []string{"baseline", "fail_on", "fail_on_regression", "formats", "min_confidence", "profile_seconds", "thresholds", "window"}
)

// Parse reads a config file's content; name is its path, used in error
// positions and as the base of the relative paths in it. Every problem of
// the file is reported at once: those of its YAML and of checks as
// yamlfile.Errors (each a *PositionError), then those of Validate. A key
// without a value (null) is as if absent.
func Parse(name string, data []byte, checks Checks) (File, error) {
	c := File{Path: name}
	f := yamlfile.Parse(name, data)
	root := f.Root()
	if root == nil {
		return c, f.Err()
	}
	if root.Kind != yaml.MappingNode {
		f.Errorf(root, "the file must be a mapping of keys (target, metrics, pprof, pg, redis, report, ...)")
		return c, f.Err()
	}
	dir := filepath.Dir(name)
	s := &c.Sources
	fields, _ := f.Fields(root, "", keys...)
	strs := map[string]*string{"target": &s.Target, "metrics": &s.Metrics, "pprof": &s.Pprof, "pg": &s.PG, "redis": &s.Redis,
		"prometheus": &s.Prometheus, "selector": &s.Selector}
	for _, key := range keys {
		v := fields[key]
		if v == nil || yamlfile.IsNull(v) {
			continue
		}
		switch key {
		case "headers":
			s.Headers = readHeaders(f, v)
		case "tls":
			s.TLS = readTLS(f, v, dir)
		case "internal_hosts":
			s.InternalHosts, _ = f.Strings(v, key)
		case "queues":
			s.Queues, _ = f.Strings(v, key)
		case "db_cores":
			s.DBCores, _ = f.Int(v, key)
		case "pprof_instances":
			s.PprofInstances, _ = f.Int(v, key)
		case "pprof_port":
			s.PprofPort, _ = f.Int(v, key)
		case "rules":
			c.Rules = readPath(f, v, key, dir)
		case "report":
			c.Report = readReport(f, v, dir, checks)
		default:
			*strs[key], _ = f.String(v, key)
		}
	}
	if err := s.Validate(); err != nil {
		return c, errors.Join(f.Err(), fmt.Errorf("%s: %w", name, err))
	}
	return c, f.Err()
}

func readHeaders(f *yamlfile.File, n *yaml.Node) map[string]string {
	pairs, _ := f.Pairs(n, "headers")
	h := make(map[string]string, len(pairs))
	for _, p := range pairs {
		h[p.Key.Value], _ = f.Text(p.Value, "headers."+p.Key.Value)
	}
	return h
}

func readTLS(f *yamlfile.File, n *yaml.Node, dir string) TLS {
	var t TLS
	fields, _ := f.Fields(n, "tls", tlsKeys...)
	for key, v := range fields {
		what := "tls." + key
		switch key {
		case "ca_file":
			t.CAFile = readPath(f, v, what, dir)
		case "cert_file":
			t.CertFile = readPath(f, v, what, dir)
		case "key_file":
			t.KeyFile = readPath(f, v, what, dir)
		case "insecure_skip_verify":
			t.InsecureSkipVerify, _ = f.Bool(v, what)
		}
	}
	return t
}

func readReport(f *yamlfile.File, n *yaml.Node, dir string, checks Checks) Report {
	var r Report
	fields, _ := f.Fields(n, "report", reportKeys...)
	for key, v := range fields {
		if yamlfile.IsNull(v) {
			continue
		}
		what := "report." + key
		switch key {
		case "formats":
			r.Formats = readFormats(f, v, what, dir, checks.Format)
		case "fail_on":
			if s, ok := f.NonEmptyString(v, what); ok {
				if err := check(checks.FailOn, s); err != nil {
					f.Errorf(v, "%s: %v", what, err)
				} else {
					r.FailOn = s
				}
			}
		case "min_confidence":
			// A level or a number: YAML's scalar, whatever its tag.
			if v.Kind != yaml.ScalarNode || strings.TrimSpace(v.Value) == "" {
				f.Errorf(v, "%s must be low, medium, high or a number from 0 to 1", what)
			} else if err := check(checks.MinConfidence, v.Value); err != nil {
				f.Errorf(v, "%s: %v", what, err)
			} else {
				r.MinConfidence = v.Value
			}
		case "baseline":
			r.Baseline = readPath(f, v, what, dir)
		case "window":
			if d, ok := readDuration(f, v, what); ok {
				r.Window = &d
			}
		case "fail_on_regression":
			if b, ok := f.Bool(v, what); ok {
				r.FailOnRegression = &b
			}
		case "thresholds":
			pairs, _ := f.Pairs(v, what)
			for _, p := range pairs {
				val, ok := f.Text(p.Value, what+"."+p.Key.Value)
				if !ok {
					continue
				}
				spec := p.Key.Value + "=" + val
				if err := check(checks.Threshold, spec); err != nil {
					f.Errorf(p.Value, "%s: %v", what, err)
					continue
				}
				r.Thresholds = append(r.Thresholds, spec)
			}
		case "profile_seconds":
			if i, ok := f.Int(v, what); ok {
				if i < 0 {
					f.Errorf(v, "%s must not be negative", what)
				} else {
					r.ProfileSeconds = &i
				}
			}
		}
	}
	return r
}

// readFormats reads a list of FORMAT[:PATH], each format checked, with each
// relative PATH made relative to dir; at most one may print to standard
// output.
func readFormats(f *yamlfile.File, n *yaml.Node, what, dir string, checkFormat func(string) error) []string {
	if n.Kind != yaml.SequenceNode {
		// One format needs no list: formats: sarif:advisor.sarif.
		n = &yaml.Node{Kind: yaml.SequenceNode, Content: []*yaml.Node{n}, Line: n.Line, Column: n.Column}
	}
	var out []string
	var stdout *yaml.Node
	for _, e := range n.Content {
		s, ok := f.NonEmptyString(e, what+" entry")
		if !ok {
			continue
		}
		name, path, _ := strings.Cut(s, ":")
		if err := check(checkFormat, name); err != nil {
			f.Errorf(e, "%s: %v", what, err)
			continue
		}
		if path == "" || path == "-" {
			if stdout != nil {
				f.Errorf(e, "%s: %q and %q (line %d) both print to standard output: give one of them a file, FORMAT:PATH", what, s, stdout.Value, stdout.Line)
				continue
			}
			stdout = e
			out = append(out, name)
			continue
		}
		out = append(out, name+":"+resolve(dir, path))
	}
	return out
}

// readDuration reads a duration such as 10s or 1m30s; 0 needs no unit.
func readDuration(f *yamlfile.File, n *yaml.Node, what string) (time.Duration, bool) {
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!int" && n.Value == "0" {
		return 0, true
	}
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!str" {
		f.Errorf(n, "%s must be a duration such as 10s or 0, not %s", what, yamlfile.Describe(n))
		return 0, false
	}
	d, err := time.ParseDuration(n.Value)
	if err != nil {
		f.Errorf(n, "%s must be a duration such as 10s or 0, not %q", what, n.Value)
		return 0, false
	}
	if d < 0 {
		f.Errorf(n, "%s must not be negative", what)
		return 0, false
	}
	return d, true
}

// readPath reads a file path, relative ones made relative to dir.
func readPath(f *yamlfile.File, n *yaml.Node, what, dir string) string {
	s, ok := f.NonEmptyString(n, what)
	if !ok {
		return ""
	}
	return resolve(dir, s)
}

// resolve makes a relative path relative to dir instead of the working
// directory.
func resolve(dir, path string) string {
	if filepath.IsAbs(path) {
		return path
	}
	return filepath.Join(dir, path)
}

func check(fn func(string) error, v string) error {
	if fn == nil {
		return nil
	}
	return fn(v)
}
