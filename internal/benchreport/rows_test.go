package benchreport

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/pgadvisor/advisor/sampleapp"
)

var rowID = regexp.MustCompile(`^[a-z0-9]+(-[a-z0-9]+)*$`)

func TestRowsWellFormed(t *testing.T) {
	seen := map[string]bool{}
	for _, r := range All {
		if !rowID.MatchString(r.ID) || len(r.ID) > 24 {
			t.Errorf("row id %q: want short, lower case, dashes", r.ID)
		}
		if seen[r.ID] {
			t.Errorf("row id %q twice", r.ID)
		}
		seen[r.ID] = true
		if strings.TrimSpace(r.Job.Command) == "" || r.What == "" || r.Figure == nil {
			t.Errorf("row %s: command %q, what %q, figure func %v", r.ID, r.Job.Command, r.What, r.Figure != nil)
		}
		// The command sits in a code span of a table cell.
		if strings.ContainsAny(r.Job.Command, "`|\n") {
			t.Errorf("row %s: command %q cannot be shown in the table", r.ID, r.Job.Command)
		}
		if r.Job.File != "" && !strings.Contains(r.Job.Command, r.Job.File) && r.Job != sampleappBench {
			t.Errorf("row %s reads %s, which its command does not name", r.ID, r.Job.File)
		}
	}
}

// The figures of the sampleapp rows come from the summary sampleapp bench
// --json writes.
func TestSampleappFigures(t *testing.T) {
	sum := sampleapp.BenchSummary{Rounds: 3,
		RPSRatio: sampleapp.Spread{Median: 279.4, Min: 250.1, Max: 301},
		P95Ratio: sampleapp.Spread{Median: 107, Min: 107, Max: 107},
		FeedBare: &sampleapp.FeedSummary{Pairs: 3, TurnsPerSide: 4, TurnSeconds: 1.875, Ratio: sampleapp.Spread{Median: 0.52, Min: 0.48, Max: 0.55},
			FeedQueries: sampleapp.Spread{Median: 0.003, Min: 0.001, Max: 0.004}},
	}
	sum.Naive.FeedQueriesPerRequest.Median, sum.Tuned.FeedQueriesPerRequest.Median = 25.1, 0.26
	data, err := json.Marshal(sum)
	if err != nil {
		t.Fatal(err)
	}
	o := &Output{File: data}
	for id, want := range map[string]string{
		"sampleapp-naive-tuned": "RPS x279 (250-301), p95 ÷107, DB queries per feed request 25.1 -> 0.26; 3 rounds",
		"sampleapp-feed-bare":   "0.52 (0.48-0.55); 3 pairs, each side 4 turns of 1.88 s, the feed with every user's feed primed (DB queries per feed request 0.003)",
	} {
		rows, err := Select(All, []string{id})
		if err != nil {
			t.Fatal(err)
		}
		got, err := rows[0].Figure(o)
		if err != nil || got != want {
			t.Errorf("%s: %q, %v; want %q", id, got, err, want)
		}
	}
}

func TestSelect(t *testing.T) {
	rows, err := Select(All, []string{"ui-view", "probe-round"})
	if err != nil || len(rows) != 2 || rows[0].ID != "probe-round" || rows[1].ID != "ui-view" {
		t.Errorf("Select = %v, %v", rows, err)
	}
	if _, err := Select(All, []string{"nope"}); err == nil || !strings.Contains(err.Error(), `"nope"`) {
		t.Errorf("unknown row: %v", err)
	}
}

// A job shared by two rows runs once; a failing job is named, leaves its
// rows out and does not stop the others.
func TestRunSharedAndFailingJobs(t *testing.T) {
	root := t.TempDir()
	counter := filepath.Join(root, "runs")
	shared := Job{Command: "echo x >> runs; echo '{\"v\": 2}' > out.json", File: "out.json"}
	fromFile := func(o *Output) (string, error) {
		var v struct{ V int }
		if err := o.JSON(&v); err != nil {
			return "", err
		}
		return strings.Repeat("*", v.V), nil
	}
	rows := []Row{
		{ID: "one", Job: shared, Figure: fromFile},
		{ID: "broken", Job: Job{Command: "echo failing; exit 3"}, Figure: fromFile},
		{ID: "two", Job: shared, Figure: func(o *Output) (string, error) { return "two", nil }},
		{ID: "bench", Job: Job{Command: "cat " + filepathAbs(t, "testdata/ui-view.txt")}, Figure: func(o *Output) (string, error) {
			_, err := o.Metric("BenchmarkView5000Statements/80x24", "no-such-unit")
			return "", err
		}},
	}
	got, err := Run(context.Background(), Config{Root: root}, rows)
	if got["one"].Figure != "**" || got["two"].Figure != "two" || got["one"].At.IsZero() {
		t.Errorf("measured %+v", got)
	}
	if _, ok := got["broken"]; ok {
		t.Error("the failed job's row was measured")
	}
	if data, _ := os.ReadFile(counter); string(data) != "x\n" {
		t.Errorf("the shared job ran %d times", strings.Count(string(data), "x"))
	}
	var jerr *JobError
	if !errors.As(err, &jerr) || !strings.Contains(err.Error(), "job `echo failing; exit 3` (rows broken)") || !strings.Contains(err.Error(), "failing") {
		t.Errorf("error %v", err)
	}
	if !strings.Contains(err.Error(), "row bench: BenchmarkView5000Statements/80x24 reported no no-such-unit") {
		t.Errorf("a missing figure is not named: %v", err)
	}
}

func filepathAbs(t *testing.T, p string) string {
	t.Helper()
	abs, err := filepath.Abs(p)
	if err != nil {
		t.Fatal(err)
	}
	return abs
}

func TestUIViewFigureFromCapture(t *testing.T) {
	res, err := ParseBench(readCapture(t, "ui-view.txt"))
	if err != nil {
		t.Fatal(err)
	}
	rows, err := Select(All, []string{"ui-view"})
	if err != nil {
		t.Fatal(err)
	}
	got, err := rows[0].Figure(&Output{Benchmarks: res})
	if want := "0.79 / 5.02 ms (mean 0.59 / 2.45 ms), 44-50 MB RSS"; err != nil || got != want {
		t.Errorf("%q, %v; want %q", got, err, want)
	}
}

func TestWrkFigure(t *testing.T) {
	rows, err := Select(All, []string{"load-vs-wrk"})
	if err != nil {
		t.Fatal(err)
	}
	got, err := rows[0].Figure(&Output{File: []byte(`{"rounds":5,"ratio_of_medians":0.991,"median_of_ratios":0.984,"min_ratio":0.95,"max_ratio":1.01}`)})
	if want := "0.99 (ratio of medians); rounds' ratios 0.98 (0.95-1.01), 5 rounds"; err != nil || got != want {
		t.Errorf("%q, %v; want %q", got, err, want)
	}
	if _, err := rows[0].Figure(&Output{}); err == nil {
		t.Error("no error without the figures file")
	}
}

func TestCalibrationFigure(t *testing.T) {
	rows, err := Select(All, []string{"impact-calibration"})
	if err != nil {
		t.Fatal(err)
	}
	// The result lines of the row's run by make bench-report, 2026-12-06.
	res, err := ParseBench(readCapture(t, "impact-calibration.txt"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := rows[0].Figure(&Output{Benchmarks: res})
	want := "Spearman 0.80 over the 9 fixes a finding pointed at (0.92 with the gains within the run's noise tied, 0.74 over every knob; the pairs agree with each other at 0.74); first four kept fixes 0.80 of the log-RPS gain (the loop's four largest gains 0.90)"
	if err != nil || got != want {
		t.Errorf("%q, %v; want %q", got, err, want)
	}
	// A figure the run could not compute is written as none.
	res, err = ParseBench([]byte("BenchmarkImpactCalibration-2 \t       1\t1261802314047 ns/op\t         2.000 fixes-detected\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got, err := rows[0].Figure(&Output{Benchmarks: res}); err != nil || !strings.HasPrefix(got, "Spearman none over the 2 fixes") {
		t.Errorf("%q, %v", got, err)
	}
	if _, err := rows[0].Figure(&Output{}); err == nil {
		t.Error("no error without the benchmark's line")
	}
}
