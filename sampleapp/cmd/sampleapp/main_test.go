package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pgadvisor/advisor/internal/stack/stacktest"
	"github.com/pgadvisor/advisor/sampleapp"
	"github.com/pgadvisor/advisor/sampleapp/sampletest"
)

func TestKnobHelp(t *testing.T) {
	help := knobHelp()
	for _, k := range sampleapp.Knobs {
		if !strings.Contains(help, k.Name) || !strings.Contains(help, strings.Join(k.Values, ", ")) {
			t.Errorf("--help does not explain knob %s and its values", k.Name)
		}
	}
}

func TestBenchJSONFlag(t *testing.T) {
	if benchCmd().Flags().Lookup("json") == nil {
		t.Fatal("bench has no --json")
	}
	path := filepath.Join(t.TempDir(), "bench.json")
	if err := writeSummary(path, sampleapp.BenchSummary{Rounds: 3, RPSRatio: sampleapp.Spread{Median: 20, Min: 10, Max: 30}}); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var got sampleapp.BenchSummary
	if err := json.Unmarshal(data, &got); err != nil || got.Rounds != 3 || got.RPSRatio.Max != 30 {
		t.Errorf("read back %+v, %v:\n%s", got, err, data)
	}
}

// sampleapp bench end to end on the small data set, briefly: one naive and
// one tuned run, then two feed/bare pairs whose sides take four turns
// each, in the order that alternates from one pair to the next, with the
// feed's cache primed; the JSON summary says so.
func TestBenchEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("end to end: sampleapp bench on the private stack")
	}
	info := stacktest.Start(t)
	// Smaller than the tests' usual set: the bench primes a feed per user
	// in each pair, and this test checks how the bench runs, not a figure.
	size := sampleapp.Size{Users: 300, Events: 3_000, Products: 50, Orders: 300, PayloadBytes: 200}
	dsn := sampletest.Database(t, "bench_e2e", size)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	bin := sampletest.Sampleapp.Path(ctx, t)
	jsonFile := filepath.Join(t.TempDir(), "bench.json")
	cmd := exec.CommandContext(ctx, bin, "bench", "--pg", dsn, "--redis", info.RedisAddr,
		"--users", fmt.Sprint(size.Users), "--events", fmt.Sprint(size.Events), "--products", fmt.Sprint(size.Products),
		"--orders", fmt.Sprint(size.Orders), "--payload-bytes", fmt.Sprint(size.PayloadBytes),
		"--duration", "1s", "--warmup", "200ms", "--connections", "16", "--rounds", "1", "--pairs", "2",
		"--min-requests", "1", "--json", jsonFile)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("sampleapp bench: %v\n%s", err, out)
	}
	text := string(out)
	t.Logf("sampleapp bench:\n%s", text)
	for _, want := range []string{
		"pair 1/2: tuned feed endpoint and bare handler taking turns, 4 of 125ms each, feed first (after 200ms warm-up)",
		"pair 2/2: tuned feed endpoint and bare handler taking turns, 4 of 125ms each, bare first (after 200ms warm-up)",
		"cache primed with 300 feeds",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("no %q in the output:\n%s", want, text)
		}
	}
	turns := regexp.MustCompile(`(?m)^\s+RPS by turn: (\d+) (\d+) (\d+) (\d+)$`).FindAllStringSubmatch(text, -1)
	if len(turns) != 4 {
		t.Errorf("%d lines of four turns' RPS, want 4 (two sides of two pairs):\n%s", len(turns), text)
	}
	for _, m := range turns {
		for _, v := range m[1:] {
			if v == "0" {
				t.Errorf("a turn served nothing: %s", m[0])
			}
		}
	}
	data, err := os.ReadFile(jsonFile)
	if err != nil {
		t.Fatal(err)
	}
	var sum sampleapp.BenchSummary
	if err := json.Unmarshal(data, &sum); err != nil {
		t.Fatal(err)
	}
	fb := sum.FeedBare
	if sum.Rounds != 1 || fb == nil || fb.Pairs != 2 || fb.TurnsPerSide != 4 || fb.TurnSeconds != 0.125 {
		t.Fatalf("summary %s", data)
	}
	if fb.Ratio.Median <= 0 || fb.FeedRPS.Median <= 0 || fb.BareRPS.Median <= 0 {
		t.Errorf("feed/bare %+v", fb)
	}
	// Every feed was primed: a turn served from PostgreSQL would be the
	// database measured, not the endpoint.
	if fb.FeedQueries.Max > 0.05 {
		t.Errorf("DB queries per feed request up to %.3f with the cache primed", fb.FeedQueries.Max)
	}
}
