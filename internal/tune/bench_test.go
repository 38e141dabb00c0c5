package tune

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/pgadvisor/advisor/internal/rules"
	"github.com/pgadvisor/advisor/internal/stack/stacktest"
	"github.com/pgadvisor/advisor/sampleapp"
	"github.com/pgadvisor/advisor/sampleapp/sampletest"
)

// BenchmarkTuneNaive runs the whole loop with the real load generator,
// probes and rules on sampleapp started as advisor tune starts it
// (StartLocal: a process of its own, knobs through its admin endpoint), in
// the naive profile with the small data set, and reports the fixes kept and
// the RPS and p95 ratios of the last kept step against the first, measured
// in the same run. ADVISOR_TUNE_SIZE=full runs it on the full data set (20k
// users, 1M events; seeding it takes minutes) instead of the small one.
//
//	go test -run '^$' -bench TuneNaive -benchtime 1x ./internal/tune
//	ADVISOR_TUNE_SIZE=full go test -run '^$' -bench TuneNaive -benchtime 1x -timeout 60m ./internal/tune
func BenchmarkTuneNaive(b *testing.B) {
	size, db := sampleapp.TestSize, "tune_bench"
	switch v := os.Getenv("ADVISOR_TUNE_SIZE"); v {
	case "", "small":
	case "full":
		size, db = sampleapp.DefaultSize, "tune_bench_full"
	default:
		b.Fatalf("ADVISOR_TUNE_SIZE=%q: want small or full", v)
	}
	stacktest.Start(b)
	cfg, err := stacktest.Config()
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	loc, err := StartLocal(ctx, LocalOptions{Stack: cfg, Database: db, Fresh: true, Size: size, Profile: sampleapp.ProfileNaive,
		Command: []string{sampletest.Sampleapp.Path(ctx, b), "serve"}})
	cancel()
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = loc.Close() })
	naive, err := sampleapp.ProfileSettings(sampleapp.ProfileNaive)
	if err != nil {
		b.Fatal(err)
	}
	knobs := loc.Knobs()
	for b.Loop() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		// Every run starts from the naive profile.
		for _, k := range sampleapp.Knobs {
			if err := knobs.SetKnob(ctx, k.Name, naive[k.Name]); err != nil {
				b.Fatal(err)
			}
		}
		const conns, step = 32, 8 * time.Second
		res, err := Run(ctx, Config{Measurer: liveMeasurerOf(b, loc.Sources(), loc.LoadConfig(conns, step), conns, step), Knobs: knobs, MinSeverity: rules.Info})
		cancel()
		if err != nil {
			b.Fatal(err)
		}
		first, last := res.First().Metrics, res.Last().Metrics
		b.ReportMetric(float64(len(res.Applied())), "fixes")
		b.ReportMetric(last.RPS/first.RPS, "rps-ratio")
		b.ReportMetric(float64(first.P95)/float64(last.P95), "p95-ratio")
		var out strings.Builder
		_ = WriteText(&out, res)
		b.Logf("\n%s", out.String())
	}
}
