package rules

import (
	"strings"
	"testing"

	"github.com/pgadvisor/advisor/internal/probe"
	"github.com/pgadvisor/advisor/internal/probe/pprof"
	"github.com/pgadvisor/advisor/internal/probe/source"
)

func TestProbeUnavailable(t *testing.T) {
	ok := source.Status{State: source.OK}
	w := &probe.Window{Sources: map[string]source.Status{
		probe.Pprof:    ok,
		probe.Metrics:  {State: source.Error, Detail: "metrics at http://admin:s3cret@svc:9090/metrics answered 500"},
		probe.Postgres: {State: source.Unavailable, Detail: "pg_stat_statements is not installed: CREATE EXTENSION pg_stat_statements"},
	}, Profiles: &pprof.Snapshot{
		CPU:   &pprof.ProfileResult{Kind: pprof.KindCPU, Status: ok},
		Block: &pprof.ProfileResult{Kind: pprof.KindBlock, Status: source.Status{State: source.Unavailable, Detail: "block profile is empty: block profiling is off"}},
		Mutex: &pprof.ProfileResult{Kind: pprof.KindMutex, Status: source.Status{State: source.Unavailable, Detail: "not collected in this round"}},
	}}
	fs := appRunRule(t, &Input{Window: w}, "probe.unavailable", nil)
	got := map[string]Finding{}
	for _, f := range fs {
		got[f.Subject] = f
		if f.Severity != Info {
			t.Errorf("%s: severity %v", f.Subject, f.Severity)
		}
	}
	if len(fs) != 4 {
		t.Errorf("subjects %v, want metrics, postgres, redis (never probed) and pprof/block", fs)
	}
	m := got[probe.Metrics]
	if strings.Contains(m.Title, "s3cret") || m.Evidence["status"] != "error" || !strings.Contains(m.Fix.Summary, "promhttp.Handler()") {
		t.Errorf("metrics: %q %v %q", m.Title, m.Evidence, m.Fix.Summary)
	}
	if pg := got[probe.Postgres]; !strings.Contains(pg.Title, "pg_stat_statements is not installed") || !strings.Contains(pg.Fix.Summary, "shared_preload_libraries") {
		t.Errorf("postgres: %q %q", pg.Title, pg.Fix.Summary)
	}
	if r := got[probe.Redis]; r.Evidence["detail"] != "not probed" {
		t.Errorf("redis: %v", r.Evidence)
	}
	if b := got["pprof/block"]; !strings.Contains(b.Fix.Summary, "runtime.SetBlockProfileRate") {
		t.Errorf("pprof/block: %+v", b)
	}
	if fs := appRunRule(t, &Input{}, "probe.unavailable", nil); len(fs) != 0 {
		t.Errorf("no window: %v", fs)
	}
}
