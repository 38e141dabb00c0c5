package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pgadvisor/advisor/internal/load"
	"github.com/pgadvisor/advisor/internal/stack/stacktest"
	"github.com/pgadvisor/advisor/sampleapp"
)

// BenchmarkAttachOverhead measures what advisor attach costs the service it
// watches: the tuned sampleapp (a process of its own) under the sample load,
// with and without `advisor attach --headless` (the built binary, a process
// of its own as in production) at its default interval polling it, its
// PostgreSQL and its Redis, in adjacent runs on the same machine, the order
// alternating from pair to pair. It reports the median throughput of each,
// the ratio of those medians and the median of the pairs' ratios, which
// cancels the machine's drift (the target is at least 0.98).
// ADVISOR_OVERHEAD_PAIRS sets the number of pairs (default 8).
//
//	go test -run '^$' -bench AttachOverhead -benchtime 1x ./cmd/advisor/
func BenchmarkAttachOverhead(b *testing.B) {
	const (
		runLength   = 10 * time.Second
		connections = 16
	)
	pairs := 8
	if v := os.Getenv("ADVISOR_OVERHEAD_PAIRS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			b.Fatalf("ADVISOR_OVERHEAD_PAIRS=%q: want a positive number", v)
		}
		pairs = n
	}
	info := stacktest.Start(b)
	dsn := stacktest.NewDatabase(b, "attach_overhead")
	ctx := context.Background()
	if _, err := sampleapp.Seed(ctx, dsn, sampleapp.TestSize, true); err != nil {
		b.Fatal(err)
	}
	base := startSampleappProcess(ctx, b, dsn, info.RedisAddr, "--profile", "tuned", "--cache-namespace", "overhead")
	advisorBin := filepath.Join(b.TempDir(), "advisor")
	if out, err := exec.CommandContext(ctx, "go", "build", "-o", advisorBin, ".").CombinedOutput(); err != nil {
		b.Fatalf("build advisor: %v\n%s", err, out)
	}
	mix, vars, header := sampleapp.LoadMix(sampleapp.TestSize)
	measure := func(withAttach bool) float64 {
		var attach *exec.Cmd
		var attachErr strings.Builder
		if withAttach {
			attach = exec.CommandContext(ctx, advisorBin, "attach", "--headless", "--duration", (runLength + 2*time.Second).String(),
				"--target", base, "--pg", dsn, "--redis", info.RedisAddr)
			attach.Stderr = &attachErr
			if err := attach.Start(); err != nil {
				b.Fatal(err)
			}
			time.Sleep(time.Second) // attach's first snapshot
		}
		res, err := load.Run(ctx, load.Config{BaseURL: base, Mix: mix, Vars: vars, Header: header,
			Connections: connections, Duration: runLength})
		if attach != nil {
			if err := attach.Wait(); err != nil {
				b.Errorf("attach: %v: %s", err, attachErr.String())
			}
			if n := len(headlessLine.FindAllString(attachErr.String(), -1)); n < int(runLength/(4*time.Second)) {
				b.Errorf("attach analysed %d times in %s:\n%s", n, runLength, attachErr.String())
			}
		}
		if err != nil {
			b.Fatal(err)
		}
		if res.Errors > 0 {
			b.Fatalf("%d errors: %v", res.Errors, res.ErrorsByKind)
		}
		return res.RPS
	}
	// Warm the service's caches and pools before measuring.
	measure(false)
	b.ResetTimer()
	var without, with, ratios []float64
	for i := 0; i < b.N; i++ {
		for p := 0; p < pairs; p++ {
			var wo, w float64
			// Alternate which goes first, so drift hits both alike.
			if p%2 == 0 {
				wo = measure(false)
				w = measure(true)
			} else {
				w = measure(true)
				wo = measure(false)
			}
			without, with, ratios = append(without, wo), append(with, w), append(ratios, w/wo)
		}
	}
	b.StopTimer()
	b.Logf("RPS without attach %.0f", without)
	b.Logf("RPS with attach    %.0f", with)
	b.Logf("pair ratios        %.3f", ratios)
	b.ReportMetric(median(without), "rps_without")
	b.ReportMetric(median(with), "rps_with")
	b.ReportMetric(median(with)/median(without), "ratio_of_medians")
	b.ReportMetric(median(ratios), "ratio")
}

// median is the median of xs (which it does not change).
func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
