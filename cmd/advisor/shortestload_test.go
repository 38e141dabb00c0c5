package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgadvisor/advisor/internal/load"
	"github.com/pgadvisor/advisor/internal/report"
	"github.com/pgadvisor/advisor/internal/stack/stacktest"
	"github.com/pgadvisor/advisor/sampleapp"
	"github.com/pgadvisor/advisor/sampleapp/sampletest"
)

// BenchmarkReportShortestLoad runs the naive sampleapp's mix (8
// connections) for 1, 2, 3, 4 and 6 s, each time against a fresh service
// and reset statistics, then advisor report --window 0, as a CI job would,
// and reports the shortest load after which the report names the missing
// index and the N+1 (and the confidence it gives them).
//
//	go test -run '^$' -bench ReportShortestLoad -benchtime 1x -v ./cmd/advisor/
func BenchmarkReportShortestLoad(b *testing.B) {
	info := stacktest.Start(b)
	dsn := sampletest.Database(b, "report_shortest", sampleapp.TestSize)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	bin := buildSampleapp(ctx, b)
	want := []string{"db.missing-index", "db.n-plus-one"}
	shortest := 0.0
	b.ResetTimer()
	for _, secs := range []int{1, 2, 3, 4, 6} {
		svc := sampletest.RunProcess(b, bin, dsn, info.RedisAddr, "--profile", "naive", "--cache-namespace", fmt.Sprintf("shortest%d", secs))
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := conn.Exec(ctx, "SELECT pg_stat_statements_reset(0, (SELECT oid FROM pg_database WHERE datname = current_database()), 0), pg_stat_reset()"); err != nil {
			b.Fatal(err)
		}
		conn.Close(ctx)
		mix, vars, header := sampleapp.LoadMix(sampleapp.TestSize)
		if _, err := load.Run(ctx, load.Config{BaseURL: svc.Base, Mix: mix, Vars: vars, Header: header, Connections: 8,
			Duration: time.Duration(secs) * time.Second}); err != nil {
			b.Fatal(err)
		}
		out := filepath.Join(b.TempDir(), "report.json")
		var stdout, stderr strings.Builder
		code := run(ctx, []string{"report", "--window", "0", "--target", svc.Base, "--pg", dsn, "--redis", info.RedisAddr,
			"--format", "json:" + out, "--fail-on", "never"}, &stdout, &stderr)
		svc.Stop()
		if code != exitOK {
			b.Fatalf("%d s: report exit %d: %s", secs, code, stderr.String())
		}
		data, err := os.ReadFile(out)
		if err != nil {
			b.Fatal(err)
		}
		var rep report.Report
		if err := json.Unmarshal(data, &rep); err != nil {
			b.Fatal(err)
		}
		var found, seen []string
		for _, f := range rep.Findings {
			if slices.Contains(want, f.Rule) && !slices.Contains(found, f.Rule) {
				found = append(found, f.Rule)
				seen = append(seen, f.Rule+" "+f.Confidence.String())
			}
		}
		b.Logf("%d s of load: %s", secs, strings.Join(seen, "; "))
		if len(found) == len(want) && shortest == 0 {
			shortest = float64(secs)
		}
	}
	if shortest == 0 {
		b.Logf("no load up to 6 s gave %v", want)
	}
	b.ReportMetric(shortest, "shortest_load_s")
}
