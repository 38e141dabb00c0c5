package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pgadvisor/advisor/internal/probe/probetest"
	"github.com/pgadvisor/advisor/internal/report"
)

// fakeRouteService serves the metrics of a service with one route, 1000
// requests since it started 100 s ago, their latency in a histogram.
func fakeRouteService(t *testing.T) *httptest.Server {
	t.Helper()
	start := time.Now().Add(-100 * time.Second).Unix()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/metrics" {
			http.NotFound(w, r)
			return
		}
		const l = `route="/feed",method="GET",code="200"`
		fmt.Fprintf(w, "# TYPE process_start_time_seconds gauge\nprocess_start_time_seconds %d\n", start)
		fmt.Fprint(w, "# TYPE http_request_duration_seconds histogram\n")
		for _, b := range []struct {
			le string
			n  int
		}{{"0.01", 500}, {"0.05", 900}, {"0.1", 1000}, {"+Inf", 1000}} {
			fmt.Fprintf(w, "http_request_duration_seconds_bucket{%s,le=%q} %d\n", l, b.le, b.n)
		}
		fmt.Fprintf(w, "http_request_duration_seconds_sum{%s} 30\nhttp_request_duration_seconds_count{%s} 1000\n", l, l)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// TestCompareThresholdPrecedence: --compare against an earlier report whose
// p95 was half of today's is a regression; --fail-on-regression exits 1
// with the regression named; the config file's thresholds apply, and a
// --threshold flag overrides the file's threshold of the same figure.
func TestCompareThresholdPrecedence(t *testing.T) {
	cleanEnv(t)
	srv := fakeRouteService(t)
	dir := t.TempDir()
	t.Chdir(dir)
	common := []string{"report", "--no-config", "--target", srv.URL, "--redis", probetest.ClosedAddr(t), "--window", "0",
		"--probe-timeout", "2s", "--fail-on", "never"}
	before := filepath.Join(dir, "before.json")
	code, _, stderr := runCaptured(t, append(common, "--format", "json:"+before)...)
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	// The earlier run was twice as fast at the 95th percentile.
	var rep map[string]any
	data, err := os.ReadFile(before)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &rep); err != nil {
		t.Fatal(err)
	}
	figures := rep["figures"].(map[string]any)
	for _, r := range append([]any{figures["service"]}, figures["routes"].([]any)...) {
		r := r.(map[string]any)
		r["p95_ms"] = r["p95_ms"].(float64) / 2
	}
	if data, err = json.Marshal(rep); err != nil {
		t.Fatal(err)
	}
	writeFile(t, before, string(data))

	// Defaults: p95 doubled, tens of ms: a regression.
	code, stdout, stderr := runCaptured(t, append(common, "--compare", before, "--fail-on-regression")...)
	if code != exitRegression || !strings.Contains(stderr, "regression(s) against "+before) || !strings.Contains(stderr, "GET /feed: p95") {
		t.Errorf("default thresholds: exit %d, want %d:\n%s", code, exitRegression, stderr)
	}
	if !strings.Contains(stdout, "Compared with the report of") || !strings.Contains(stdout, "REGRESSION") {
		t.Errorf("the text report has no comparison:\n%s", stdout)
	}
	// Without --fail-on-regression, the same comparison exits 0.
	if code, _, stderr := runCaptured(t, append(common, "--compare", before)...); code != exitOK {
		t.Errorf("without --fail-on-regression: exit %d:\n%s", code, stderr)
	}

	// The file turns the p95 threshold off and fails on regressions.
	cfg := filepath.Join(dir, "advisor.yaml")
	writeFile(t, cfg, "report:\n  fail_on_regression: true\n  thresholds:\n    p95_ms: \"off\"\n    min_requests: 10\n")
	withFile := append([]string{"report", "--config", cfg}, common[2:]...)
	if code, _, stderr := runCaptured(t, append(withFile, "--compare", before)...); code != exitOK {
		t.Errorf("file turns p95 off: exit %d:\n%s", code, stderr)
	}
	// A flag overrides the file's threshold of the same figure; the file's
	// fail_on_regression still applies.
	code, _, stderr = runCaptured(t, append(withFile, "--compare", before, "--threshold", "p95_ms=10%")...)
	if code != exitRegression || !strings.Contains(stderr, "threshold +10%") {
		t.Errorf("flag over file: exit %d, want %d:\n%s", code, exitRegression, stderr)
	}
	// The file's noise floor: more requests than the run has.
	writeFile(t, cfg, "report:\n  fail_on_regression: true\n  thresholds: {min_requests: 5000}\n")
	if code, _, stderr := runCaptured(t, append(withFile, "--compare", before)...); code != exitOK {
		t.Errorf("under the file's min_requests: exit %d:\n%s", code, stderr)
	}

	// Usage errors: a bad threshold, in a flag or in the file; a file that
	// is not a JSON report.
	if code, _, stderr := runCaptured(t, append(common, "--threshold", "p95=20%")...); code != exitUsage || !strings.Contains(stderr, `unknown figure "p95"`) {
		t.Errorf("bad --threshold: exit %d:\n%s", code, stderr)
	}
	writeFile(t, cfg, "report:\n  thresholds:\n    p95_ms: fast\n")
	if code, _, stderr := runCaptured(t, append(withFile, "--compare", before)...); code != exitUsage || !strings.Contains(stderr, "advisor.yaml:3:13: report.thresholds") {
		t.Errorf("bad file threshold: exit %d:\n%s", code, stderr)
	}
	notReport := filepath.Join(dir, "baseline.json")
	writeFile(t, notReport, `{"schema":"advisor.baseline/v1","findings":[]}`)
	if code, _, stderr := runCaptured(t, append(common, "--compare", notReport)...); code != exitUsage || !strings.Contains(stderr, "not an advisor JSON report") {
		t.Errorf("--compare a baseline: exit %d:\n%s", code, stderr)
	}
}

// TestCompareReportRoundTrip: a report compared with itself has no
// regression and no finding that appeared or disappeared.
func TestCompareItself(t *testing.T) {
	cleanEnv(t)
	srv := fakeRouteService(t)
	dir := t.TempDir()
	common := []string{"report", "--no-config", "--target", srv.URL, "--window", "0", "--probe-timeout", "2s", "--fail-on", "never"}
	first := filepath.Join(dir, "first.json")
	if code, _, stderr := runCaptured(t, append(common, "--format", "json:"+first)...); code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	code, stdout, stderr := runCaptured(t, append(common, "--compare", first, "--fail-on-regression", "--format", "json")...)
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var rep report.Report
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
		t.Fatal(err)
	}
	c := rep.Comparison
	if c == nil || c.Service == nil || len(c.Routes) != 1 || len(c.Regressions) != 0 || len(c.Appeared)+len(c.Disappeared) != 0 {
		t.Fatalf("comparison %+v", c)
	}
	if c.Routes[0].Route != "/feed" || c.Routes[0].NotCompared != "" {
		t.Errorf("route %+v", c.Routes[0])
	}
}
