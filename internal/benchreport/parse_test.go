package benchreport

import (
	"os"
	"testing"
)

func readCapture(t *testing.T, name string) []byte {
	t.Helper()
	data, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// testdata/ui-view.txt is the real output of
// `go test -run '^$' -bench View -benchtime 3x ./internal/ui`: sub-benchmarks
// and b.ReportMetric units.
func TestParseBenchCustomMetrics(t *testing.T) {
	got, err := ParseBench(readCapture(t, "ui-view.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 {
		t.Fatalf("%d results, want 2: %+v", len(got), got)
	}
	small, ok := Find(got, "BenchmarkView5000Statements/80x24")
	if !ok {
		t.Fatalf("no 80x24 result in %+v", got)
	}
	want := map[string]float64{"ns/op": 588573, "RSS-MB": 49.78, "p99-ms/frame": 0.7860}
	if small.N != 3 || small.Procs != 2 || len(small.Metrics) != len(want) {
		t.Errorf("80x24: %+v", small)
	}
	for unit, v := range want {
		if small.Metrics[unit] != v {
			t.Errorf("80x24 %s = %v, want %v", unit, small.Metrics[unit], v)
		}
	}
	if large, _ := Find(got, "BenchmarkView5000Statements/160x48"); large.Metrics["p99-ms/frame"] != 5.019 {
		t.Errorf("160x48: %+v", large)
	}
}

// testdata/benchmem-v.txt is the real output of `go test -run '^$' -bench
// 'LoadBuiltin|ParseAggregate20MB' -benchmem -benchtime 3x -v
// ./internal/rules ./internal/probe/pprof`: -v's name lines, two packages,
// -benchmem's units and MB/s.
func TestParseBenchVerboseBenchmem(t *testing.T) {
	got, err := ParseBench(readCapture(t, "benchmem-v.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 {
		t.Fatalf("%d results, want 2: %+v", len(got), got)
	}
	r, _ := Find(got, "BenchmarkParseAggregate20MB")
	if r.N != 3 || r.Metrics["ns/op"] != 8595461392 || r.Metrics["B/op"] != 430010925 || r.Metrics["allocs/op"] != 2137244 || r.Metrics["MB/s"] != 2.52 {
		t.Errorf("ParseAggregate20MB: %+v", r)
	}
	if r, _ := Find(got, "BenchmarkLoadBuiltin"); r.Metrics["allocs/op"] != 21845 {
		t.Errorf("LoadBuiltin: %+v", r)
	}
}

// When something writes to the output while a benchmark runs, go test has
// printed the name already: the figures come on a later line of their own.
func TestParseBenchFiguresAfterOutput(t *testing.T) {
	out := "BenchmarkAttachLongRun-2   \tattach: 12 analyses\n" +
		"some log line\n" +
		"       1\t612345678901 ns/op\t        39.70 rss_start_MB\t        14.00 goroutines_end\n" +
		"--- BENCH: BenchmarkAttachLongRun-2\n    longrun_test.go:155:    15s  RSS   38.0 MB\nPASS\n"
	got, err := ParseBench([]byte(out))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Name != "BenchmarkAttachLongRun" || got[0].Metrics["rss_start_MB"] != 39.7 || got[0].Metrics["goroutines_end"] != 14 {
		t.Errorf("got %+v", got)
	}
	// Figures with no name before them are not a result.
	if got, _ := ParseBench([]byte("   3  12 ns/op\n")); len(got) != 0 {
		t.Errorf("figures without a name: %+v", got)
	}
}

func TestKeyValues(t *testing.T) {
	out := []byte("=== RUN   TestPromisesThroughRestarts\n" +
		"    promises_test.go:426: promises: 321 orders accepted\n" +
		"    promises_test.go:433: bench-report: orders_201=321 jobs=321 slowest_ms=14\n" +
		"--- PASS: TestPromisesThroughRestarts (61.2s)\n")
	kv, ok := KeyValues(out, "bench-report:")
	if !ok || kv["orders_201"] != "321" || kv["jobs"] != "321" || kv["slowest_ms"] != "14" || len(kv) != 3 {
		t.Errorf("KeyValues = %v, %v", kv, ok)
	}
	if _, ok := KeyValues([]byte("PASS\n"), "bench-report:"); ok {
		t.Error("found a line that is not there")
	}
}
