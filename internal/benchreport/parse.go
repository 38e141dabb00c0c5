// Package benchreport runs the benchmarks whose figures docs/benchmarks.md
// quotes and writes its table from what they printed: each row names the
// command that produced its figure, when it ran and how long it took.
package benchreport

import (
	"bufio"
	"bytes"
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// Result is one line of `go test -bench` output: the benchmark's name
// (without the -GOMAXPROCS suffix), its iterations and every metric it
// reported, keyed by unit: ns/op, B/op, allocs/op, MB/s and the units of
// b.ReportMetric.
type Result struct {
	Name    string
	Procs   int
	N       int64
	Metrics map[string]float64
}

var (
	// benchName is a benchmark's name at the start of a line, with its
	// -GOMAXPROCS suffix when it has one.
	benchName = regexp.MustCompile(`^(Benchmark\S*?)(?:-(\d+))?(?:\s|$)`)
	// figures are the iterations and value/unit pairs after the name.
	figures = regexp.MustCompile(`^\s*(\d+)((?:\s+[-+0-9.eE]+\s+\S+)+)\s*$`)
)

// ParseBench reads the benchmark result lines of `go test -bench` output,
// skipping everything else (test logs, -v's lines, PASS, ok). With go test
// -v, or when a benchmark writes to the output while it runs, its name is
// printed before it runs and its figures on a later line: a line of figures
// alone belongs to the last name seen.
func ParseBench(out []byte) ([]Result, error) {
	var results []Result
	pending := ""
	pendingProcs := 0
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 0, 64*1024), 4*1024*1024)
	for sc.Scan() {
		line := sc.Text()
		rest := line
		name, procs := "", 0
		if m := benchName.FindStringSubmatch(line); m != nil {
			name = m[1]
			if m[2] != "" {
				procs, _ = strconv.Atoi(m[2])
			}
			rest = line[len(m[0]):]
		}
		f := figures.FindStringSubmatch(rest)
		switch {
		case f == nil && name != "":
			pending, pendingProcs = name, procs
			continue
		case f == nil:
			continue
		case name == "" && pending == "":
			continue
		case name == "":
			name, procs = pending, pendingProcs
		}
		r, err := parseFigures(name, procs, f[1], f[2])
		if err != nil {
			return nil, fmt.Errorf("%q: %w", line, err)
		}
		results = append(results, r)
		pending = ""
	}
	return results, sc.Err()
}

func parseFigures(name string, procs int, n, pairs string) (Result, error) {
	r := Result{Name: name, Procs: procs, Metrics: map[string]float64{}}
	var err error
	if r.N, err = strconv.ParseInt(n, 10, 64); err != nil {
		return r, err
	}
	fields := strings.Fields(pairs)
	if len(fields)%2 != 0 {
		return r, fmt.Errorf("value without a unit")
	}
	for i := 0; i < len(fields); i += 2 {
		v, err := strconv.ParseFloat(fields[i], 64)
		if err != nil {
			return r, fmt.Errorf("value %q: %w", fields[i], err)
		}
		r.Metrics[fields[i+1]] = v
	}
	return r, nil
}

// Find is the last result named name (a sub-benchmark as
// "BenchmarkX/sub").
func Find(results []Result, name string) (Result, bool) {
	for i := len(results) - 1; i >= 0; i-- {
		if results[i].Name == name {
			return results[i], true
		}
	}
	return Result{}, false
}

// KeyValues reads the key=value pairs of the last line of out holding
// marker (a test's t.Logf("marker: a=1 b=2")), from after the marker.
func KeyValues(out []byte, marker string) (map[string]string, bool) {
	var last string
	found := false
	for line := range strings.SplitSeq(string(out), "\n") {
		if _, after, ok := strings.Cut(line, marker); ok {
			last, found = after, true
		}
	}
	if !found {
		return nil, false
	}
	kv := map[string]string{}
	for _, f := range strings.Fields(last) {
		if k, v, ok := strings.Cut(f, "="); ok {
			kv[k] = v
		}
	}
	return kv, true
}
