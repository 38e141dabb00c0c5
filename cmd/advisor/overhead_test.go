package main

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pgadvisor/advisor/internal/load"
	"github.com/pgadvisor/advisor/internal/stack/stacktest"
	"github.com/pgadvisor/advisor/sampleapp"
)

// BenchmarkAttachOverhead measures what advisor attach costs the service it
// watches: the tuned sampleapp (a process of its own) under the sample load,
// with and without `advisor attach --headless` at its default interval
// polling it, its PostgreSQL and its Redis, in alternating runs on the same
// machine. It reports the median throughput of each and their ratio (the
// target is at least 0.98).
//
//	go test -run '^$' -bench AttachOverhead -benchtime 1x ./cmd/advisor/
func BenchmarkAttachOverhead(b *testing.B) {
	const (
		pairs       = 4
		runLength   = 10 * time.Second
		connections = 16
	)
	info := stacktest.Start(b)
	dsn := stacktest.NewDatabase(b, "attach_overhead")
	ctx := context.Background()
	if _, err := sampleapp.Seed(ctx, dsn, sampleapp.TestSize, true); err != nil {
		b.Fatal(err)
	}
	base := startSampleappProcess(ctx, b, dsn, info.RedisAddr, "--profile", "tuned", "--cache-namespace", "overhead")
	mix, vars, header := sampleapp.LoadMix(sampleapp.TestSize)
	measure := func(withAttach bool) float64 {
		attachDone := make(chan struct{})
		if withAttach {
			go func() {
				defer close(attachDone)
				var out, errOut strings.Builder
				code := run(ctx, []string{"attach", "--headless", "--duration", (runLength + 2*time.Second).String(),
					"--target", base, "--pg", dsn, "--redis", info.RedisAddr}, &out, &errOut)
				if code != exitOK {
					b.Errorf("attach exit %d: %s", code, errOut.String())
				}
			}()
			time.Sleep(time.Second) // attach's first snapshot
		} else {
			close(attachDone)
		}
		res, err := load.Run(ctx, load.Config{BaseURL: base, Mix: mix, Vars: vars, Header: header,
			Connections: connections, Duration: runLength})
		<-attachDone
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
	var without, with []float64
	for i := 0; i < b.N; i++ {
		for p := 0; p < pairs; p++ {
			// Alternate which goes first, so drift hits both alike.
			if p%2 == 0 {
				without = append(without, measure(false))
				with = append(with, measure(true))
			} else {
				with = append(with, measure(true))
				without = append(without, measure(false))
			}
		}
	}
	b.StopTimer()
	median := func(xs []float64) float64 {
		s := slices.Clone(xs)
		slices.Sort(s)
		if len(s)%2 == 1 {
			return s[len(s)/2]
		}
		return (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	b.Logf("RPS without attach %v", without)
	b.Logf("RPS with attach    %v", with)
	b.ReportMetric(median(without), "rps_without")
	b.ReportMetric(median(with), "rps_with")
	b.ReportMetric(median(with)/median(without), "ratio")
}
