package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pgadvisor/advisor/internal/probe/fleet/promtest"
	"github.com/pgadvisor/advisor/internal/report"
	"github.com/pgadvisor/advisor/internal/scenario"
	"github.com/pgadvisor/advisor/internal/stack/stacktest"
)

// TestReportSampleappFleet runs three naive sampleapp instances on one
// database, the first given most of the load, scraped by a real
// prometheus. advisor report through Prometheus finds the three instances,
// names the busy one in service.imbalance, and finds the planted database
// problems a report scraping that instance directly finds. The application rules that
// read the metrics run on the fleet's sum: app.internal-hops in particular
// sees each test instance call internal services of its own (identity and
// users on loopback ports of their own, where a real fleet's instances
// share one address), so six hosts with a sixth of the hops each, below its
// threshold; the comparison is logged.
func TestReportSampleappFleet(t *testing.T) {
	if testing.Short() {
		t.Skip("end to end")
	}
	info := stacktest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	dsn := stacktest.NewDatabase(t, "fleet_e2e")
	s, err := scenario.Start(ctx, scenario.Options{DSN: dsn, RedisAddr: info.RedisAddr, Profile: "naive", CacheNamespace: "fleet-e2e"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	bin := buildSampleapp(ctx, t)
	others := []sampleappProc{
		runSampleapp(t, bin, dsn, info.RedisAddr, "--profile", "naive", "--cache-namespace", "fleet-e2e"),
		runSampleapp(t, bin, dsn, info.RedisAddr, "--profile", "naive", "--cache-namespace", "fleet-e2e"),
	}
	busy := strings.TrimPrefix(s.App.URL, "http://")
	targets := []string{busy}
	lc := s.LoadConfig(12, 3*time.Minute)
	defer backgroundLoad(ctx, t, lc)()
	for _, o := range others {
		targets = append(targets, strings.TrimPrefix(o.base, "http://"))
		olc := lc
		olc.BaseURL, olc.Connections = o.base, 2
		defer backgroundLoad(ctx, t, olc)()
	}
	prom := promtest.Start(t, targets)
	prom.WaitSamples(t, 3, 6*time.Second)

	rules := func(args ...string) (map[string][]string, report.Report) {
		t.Helper()
		out := filepath.Join(t.TempDir(), "r.json")
		args = append([]string{"report", "--no-config", "--pg", dsn, "--redis", info.RedisAddr, "--window", "5s",
			"--profile-seconds", "2", "--fail-on", "never", "--format", "json:" + out}, args...)
		if code, _, stderr := runCaptured(t, args...); code != 0 {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		data, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		var rep report.Report
		if err := json.Unmarshal(data, &rep); err != nil {
			t.Fatal(err)
		}
		found := map[string][]string{}
		for _, f := range rep.Findings {
			found[f.Rule] = append(found[f.Rule], f.Subject)
		}
		return found, rep
	}
	direct, _ := rules("--target", s.App.URL)
	fleet, rep := rules("--prometheus", prom.URL, "--selector", `job="svc"`, "--target", s.App.URL)

	if m := rep.Sources["metrics"]; m.Via != "prometheus" || m.Instances != 3 {
		t.Errorf("sources.metrics %+v", m)
	}
	if got := fleet["service.imbalance"]; !slices.Equal(got, []string{"instance " + busy}) {
		t.Errorf("service.imbalance on %v, want only %s", got, busy)
	}
	var directRules, fleetRules []string
	for r := range direct {
		directRules = append(directRules, r)
	}
	for r := range fleet {
		fleetRules = append(fleetRules, r)
	}
	slices.Sort(directRules)
	slices.Sort(fleetRules)
	t.Logf("direct: %v\nthrough prometheus: %v", directRules, fleetRules)
	// The database rules read PostgreSQL, not the metrics, so the two
	// reports must agree on the problems planted in the database. Other
	// database rules (db.slow-query on a statement near its threshold) may
	// fire in one 5 s window and not in the next: they are logged above.
	for _, r := range []string{"db.missing-index", "db.n-plus-one", "db.overfetch", "db.cache-candidate"} {
		if direct[r] == nil || fleet[r] == nil {
			t.Errorf("%s: found scraping %s directly %v, through prometheus %v; want both", r, busy, direct[r] != nil, fleet[r] != nil)
		}
	}
}
