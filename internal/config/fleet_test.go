package config

import (
	"strings"
	"testing"
)

func TestParseFleetKeys(t *testing.T) {
	src := "prometheus: http://prometheus:9090\nselector: 'job=\"api\",namespace=\"prod\"'\npprof_instances: 2\npprof_port: 6060\npg: postgres://ro@db/app\n"
	c, err := Parse("advisor.yaml", []byte(src), testChecks)
	if err != nil {
		t.Fatal(err)
	}
	s := c.Sources
	if s.Prometheus != "http://prometheus:9090" || s.Selector != `job="api",namespace="prod"` || s.PprofInstances != 2 || s.PprofPort != 6060 {
		t.Errorf("sources %+v", s)
	}
	if s.MetricsURL() != "" || s.Empty() {
		t.Errorf("with prometheus, no /metrics URL and not empty: %q %v", s.MetricsURL(), s.Empty())
	}
	// Flags win over the file.
	r := Resolve(s, Sources{}, Sources{Selector: `job="web"`, PprofInstances: 1})
	if r.Selector != `job="web"` || r.PprofInstances != 1 || r.Prometheus != s.Prometheus {
		t.Errorf("resolved %+v", r)
	}
}

func TestFleetKeysErrors(t *testing.T) {
	for src, want := range map[string]string{
		"prometheus: http://p:9090\n":                                           "a selector is needed",
		"selector: 'job=\"api\"'\ntarget: http://a:1\n":                         "pass --prometheus URL too",
		"prometheus: http://p:9090\nselector: x\nmetrics: http://a:1/metrics\n": "not both",
		"prometheus: p:9090\nselector: x\n":                                     "prometheus",
		"prometheus: http://p:9090\nselector: x\npprof_port: 70000\n":           "not a port",
		"prometheus: http://p:9090\nselector: x\npprof_instances: nine\n":       "pprof_instances",
	} {
		_, err := Parse("advisor.yaml", []byte(src), testChecks)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", src, err, want)
		}
	}
}
