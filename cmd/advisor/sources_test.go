package main

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/pgadvisor/advisor/internal/probe/probetest"
)

// TestUnconfiguredSourcesAreNotFindings: a source nobody configured is a
// line of the sources table; one configured and down is a probe.unavailable
// finding. (internal/rules TestProbeUnavailableNotConfigured checks the
// rule alone.)
func TestUnconfiguredSourcesAreNotFindings(t *testing.T) {
	cleanEnv(t)
	down := probetest.ClosedAddr(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "# TYPE http_requests_total counter\nhttp_requests_total{code=\"200\"} 5\n")
	}))
	defer srv.Close()
	// Metrics up, Redis down, pprof and PostgreSQL not configured.
	code, stdout, stderr := runCaptured(t, "report", "--no-config", "--window", "0", "--probe-timeout", "2s",
		"--format", "json", "--metrics", srv.URL+"/metrics", "--redis", down)
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	rep := parseReport(t, []byte(stdout))
	var subjects []string
	for _, f := range rep.Findings {
		if f.Rule == "probe.unavailable" {
			subjects = append(subjects, f.Subject)
		}
	}
	if strings.Join(subjects, " ") != "redis" {
		t.Errorf("probe.unavailable findings on %q, want on redis only", subjects)
	}
	for _, name := range []string{"pprof", "postgres"} {
		if s := rep.Sources[name]; !strings.HasPrefix(s.Detail, "not configured") {
			t.Errorf("sources.%s = %+v, want a not configured line", name, s)
		}
	}
	code, stdout, _ = runCaptured(t, "report", "--no-config", "--window", "0", "--probe-timeout", "2s",
		"--metrics", srv.URL+"/metrics", "--redis", down)
	if code != exitOK || !strings.Contains(stdout, "not configured") {
		t.Errorf("the text report's sources table does not say not configured (exit %d):\n%s", code, stdout)
	}
}
