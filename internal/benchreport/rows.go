package benchreport

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/pgadvisor/advisor/sampleapp"
)

// Job is one command whose output gives the figures of one row or more; it
// runs once per bench-report run whatever the number of its rows.
type Job struct {
	// Command runs under sh in the repository's root, exactly as the
	// document shows it.
	Command string
	// File, when set, is a file the command writes its figures to
	// (relative to the root): deleted before the command runs, read after.
	File string
}

// Output is what a job left: its combined stdout and stderr, the
// benchmark lines parsed from them, and File's contents.
type Output struct {
	Log        []byte
	Benchmarks []Result
	File       []byte
}

// Metric is unit's value on benchmark name's line.
func (o *Output) Metric(name, unit string) (float64, error) {
	r, ok := Find(o.Benchmarks, name)
	if !ok {
		return 0, fmt.Errorf("no result line for %s", name)
	}
	v, ok := r.Metrics[unit]
	if !ok {
		return 0, fmt.Errorf("%s reported no %s", name, unit)
	}
	return v, nil
}

// overruns reads a report benchmark's median_overrun_s and max_overrun_s,
// then the other units, and its iteration count.
func (o *Output) overruns(bench string, units ...string) ([]float64, int64, error) {
	r, ok := Find(o.Benchmarks, bench)
	if !ok {
		return nil, 0, fmt.Errorf("no result line for %s", bench)
	}
	v, err := o.metrics(r.Name, append([]string{"median_overrun_s", "max_overrun_s"}, units...)...)
	return v, r.N, err
}

// metrics reads several units of one benchmark, stopping at the first
// missing.
func (o *Output) metrics(name string, units ...string) ([]float64, error) {
	out := make([]float64, len(units))
	for i, u := range units {
		v, err := o.Metric(name, u)
		if err != nil {
			return nil, err
		}
		out[i] = v
	}
	return out, nil
}

// JSON decodes File into v.
func (o *Output) JSON(v any) error {
	if len(o.File) == 0 {
		return fmt.Errorf("the job wrote no figures file")
	}
	return json.Unmarshal(o.File, v)
}

// Row is one line of the table: what is measured, the job that measures it
// (its command is the row's) and how to write its figure from the job's
// output.
type Row struct {
	// ID is short and stable: bench-report --only takes it.
	ID     string
	What   string
	Job    Job
	Figure func(*Output) (string, error)
}

// The jobs more than one row reads.
var (
	sampleappBench = Job{Command: "make bench-sampleapp", File: "bin/bench-sampleapp.json"}
)

// All is every row of docs/benchmarks.md's table, in its order. Adding a
// figure to the document is adding an entry here, then running it with
// `go run ./cmd/benchreport --only ID` (or `--no-run`, which adds its line
// as not measured yet).
var All = []Row{
	{
		ID:   "sampleapp-naive-tuned",
		What: "sampleapp naive against tuned, same data (20k users, 1M events) and mix: ratio of each round's adjacent pair, median (min-max)",
		Job:  sampleappBench,
		Figure: func(o *Output) (string, error) {
			var s sampleapp.BenchSummary
			if err := o.JSON(&s); err != nil {
				return "", err
			}
			return fmt.Sprintf("RPS x%s, p95 ÷%s, DB queries per feed request %.1f -> %.2f; %d rounds",
				spreadText(s.RPSRatio, "%.0f"), spreadText(s.P95Ratio, "%.0f"),
				s.Naive.FeedQueriesPerRequest.Median, s.Tuned.FeedQueriesPerRequest.Median, s.Rounds), nil
		},
	},
	{
		ID:   "sampleapp-feed-bare",
		What: "tuned feed endpoint against a bare net/http handler: median (min-max) of the pairs' ratios, the two sides of each pair taking turns",
		Job:  sampleappBench,
		Figure: func(o *Output) (string, error) {
			var s sampleapp.BenchSummary
			if err := o.JSON(&s); err != nil {
				return "", err
			}
			if s.FeedBare == nil {
				return "", fmt.Errorf("no feed/bare pair in the summary")
			}
			return fmt.Sprintf("%s; %d pairs, each side %d turns of %.3g s, the feed with every user's feed primed (DB queries per feed request %.3f)",
				spreadText(s.FeedBare.Ratio, "%.2f"), s.FeedBare.Pairs, s.FeedBare.TurnsPerSide, s.FeedBare.TurnSeconds,
				s.FeedBare.FeedQueries.Median), nil
		},
	},
	{
		ID:   "load-vs-wrk",
		What: "`advisor load` against wrk, alternating rounds",
		Job:  Job{Command: "go run ./internal/load/cmd/wrkcompare -c 50 -d 5s -rounds 5 -json bin/wrkcompare.json", File: "bin/wrkcompare.json"},
		Figure: func(o *Output) (string, error) {
			var s struct {
				Rounds         int     `json:"rounds"`
				RatioOfMedians float64 `json:"ratio_of_medians"`
				MedianRatio    float64 `json:"median_of_ratios"`
				MinRatio       float64 `json:"min_ratio"`
				MaxRatio       float64 `json:"max_ratio"`
			}
			if err := o.JSON(&s); err != nil {
				return "", err
			}
			if s.RatioOfMedians == 0 {
				return "", fmt.Errorf("no ratio in the figures file")
			}
			return fmt.Sprintf("%.2f (ratio of medians); rounds' ratios %.2f (%.2f-%.2f), %d rounds",
				s.RatioOfMedians, s.MedianRatio, s.MinRatio, s.MaxRatio, s.Rounds), nil
		},
	},
	{
		ID:     "tune-full",
		What:   "the tune loop from the naive profile, full data set (32 connections, 8 s steps): last kept step against the first",
		Job:    Job{Command: "ADVISOR_TUNE_SIZE=full go test -run '^$' -bench TuneNaive -benchtime 1x -timeout 60m ./internal/tune"},
		Figure: tuneFigure,
	},
	{
		ID:     "tune-small",
		What:   "the tune loop from the naive profile, small data set (32 connections, 8 s steps): last kept step against the first",
		Job:    Job{Command: "go test -run '^$' -bench TuneNaive -benchtime 1x -timeout 30m ./internal/tune"},
		Figure: tuneFigure,
	},
	{
		ID: "impact-calibration",
		What: "how well findings' impact ranks fixes on the naive sampleapp (small data set, 64 connections, 15 s steps): " +
			"Spearman correlation of predicted impact with the measured gain of each fix alone (3 adjacent pairs each), " +
			"and the share of `advisor tune --auto`'s log-RPS gain reached after its first four kept fixes; targets 0.80 and 0.85; " +
			"[details](tune.md#impact-calibration)",
		Job:    Job{Command: "go test -run '^$' -bench ImpactCalibration -benchtime 1x -timeout 45m ./internal/tune"},
		Figure: calibrationFigure,
	},
	{
		ID:   "probe-round",
		What: "one probe round: 2,000+ statements + a 20 MB CPU profile",
		Job:  Job{Command: "go test -run '^$' -bench FullRound -benchmem ./internal/probe/"},
		Figure: func(o *Output) (string, error) {
			v, err := o.metrics("BenchmarkFullRound", "ns/op", "B/op", "statements")
			if err != nil {
				return "", err
			}
			return fmt.Sprintf("%.2f s, %.0f MB allocated (%s statements)", v[0]/1e9, v[1]/(1<<20), thousands(v[2])), nil
		},
	},
	{
		ID:   "snapshot",
		What: "one PostgreSQL snapshot of the test stack (2,000+ statements): wall time, and the server time its own statements took (pg_stat_statements), in all and apart from reading pg_stat_statements",
		Job:  Job{Command: "go test -run '^$' -bench 'BenchmarkSnapshot$' -benchtime 20x ./internal/probe/postgres/"},
		Figure: func(o *Output) (string, error) {
			v, err := o.metrics("BenchmarkSnapshot", "ns/op", "server-ms/op", "others-server-ms/op", "statements")
			if err != nil {
				return "", err
			}
			return fmt.Sprintf("%.1f ms, of which %.1f ms server time, %.2f ms of it not reading pg_stat_statements (%s statements)",
				v[0]/1e6, v[1], v[2], thousands(v[3])), nil
		},
	},
	{
		ID:   "maintenance",
		What: "the maintenance part of a snapshot alone, on 200 analysed tables (its per-table statement runs at most once a minute)",
		Job:  Job{Command: "go test -run '^$' -bench 'BenchmarkMaintenance$' -benchtime 10x ./internal/probe/postgres/"},
		Figure: func(o *Output) (string, error) {
			v, err := o.metrics("BenchmarkMaintenance", "ns/op", "tables")
			if err != nil {
				return "", err
			}
			return fmt.Sprintf("%.1f ms (%.0f tables)", v[0]/1e6, v[1]), nil
		},
	},
	{
		ID:   "queued-requests",
		What: "the requests waiting in the kernel for a service on the host (read four times a second by `attach` and `report`), with 4,000 more loopback connections to another port / to the service's: sock_diag against /proc/net/tcp and tcp6, median of alternating reads",
		Job:  Job{Command: "go test -run '^$' -bench QueuedRequests -benchtime 200x ./internal/probe/"},
		Figure: func(o *Output) (string, error) {
			var parts []string
			for _, sub := range []string{"other-port-4000", "service-port-4000"} {
				v, err := o.metrics("BenchmarkQueuedRequests/"+sub, "sockdiag_ms", "proc_ms", "proc/sockdiag")
				if err != nil {
					return "", err
				}
				parts = append(parts, fmt.Sprintf("%.1f ms against %.1f ms (x%.1f)", v[0], v[1], v[2]))
			}
			return strings.Join(parts, " / "), nil
		},
	},
	{
		ID:   "dump-stop",
		What: "how long a full goroutine dump (`?debug=2`) stops a Go program whose goroutines are parked 10 frames deep (1.5 kB each in the dump), the concurrent profile (`?debug=1`) in parentheses, and advisor's estimate from the dump's size (`--max-dump-stop` compares it)",
		Job:  Job{Command: "go test -run '^$' -bench DumpStop -benchtime 5x ./internal/probe/pprof/"},
		Figure: func(o *Output) (string, error) {
			var parts []string
			for _, n := range []int{300, 1000, 3000, 10000} {
				sub := fmt.Sprintf("BenchmarkDumpStop/goroutines=%d/debug=", n)
				full, err := o.metrics(sub+"2", "stop_ms", "estimate_ms")
				if err != nil {
					return "", err
				}
				conc, err := o.Metric(sub+"1", "stop_ms")
				if err != nil {
					return "", err
				}
				parts = append(parts, fmt.Sprintf("%s goroutines: %s ms (%.2f), estimated %s ms", thousands(float64(n)), oneDecimal(full[0]), conc, oneDecimal(full[1])))
			}
			return strings.Join(parts, "; "), nil
		},
	},
	{
		ID:   "report-wall-time",
		What: "`advisor report`, default 10 s window: time past the window",
		Job:  Job{Command: "go test -run '^$' -bench ReportWallTime -benchtime 3x ./cmd/advisor/"},
		Figure: func(o *Output) (string, error) {
			v, n, err := o.overruns("BenchmarkReportWallTime")
			if err != nil {
				return "", err
			}
			return fmt.Sprintf("%.2f s (median of %d; max %.2f s)", v[0], n, v[1]), nil
		},
	},
	{
		ID:   "report-blocked-loop",
		What: "`advisor report`, default 10 s window, on the FastAPI target with its event loop blocked under 32 clients (its `/metrics` answers in seconds): time past the window, and the window observed",
		Job:  Job{Command: "go test -run '^$' -bench ReportBlockedLoop -benchtime 3x ./cmd/advisor/"},
		Figure: func(o *Output) (string, error) {
			v, n, err := o.overruns("BenchmarkReportBlockedLoop", "median_window_s")
			if err != nil {
				return "", err
			}
			return fmt.Sprintf("%.2f s (median of %d; max %.2f s), window %.1f s", v[0], n, v[1], v[2]), nil
		},
	},
	{
		ID:   "report-fleet-100",
		What: "`advisor report --prometheus --window 5s` on a fleet of 100 instances (one test process, real prometheus, 1 s scrapes): time past the window; [details](#fleets)",
		Job:  Job{Command: "go test -run '^$' -bench ReportFleet100 -benchtime 5x ./cmd/advisor/"},
		Figure: func(o *Output) (string, error) {
			v, err := o.metrics("BenchmarkReportFleet100", "s_past_window_median", "s_past_window_max")
			if err != nil {
				return "", err
			}
			return fmt.Sprintf("median %.2f s, max %.2f s (5 runs)", v[0], v[1]), nil
		},
	},
	{
		ID:   "attach-fleet-100",
		What: "`advisor attach --headless --prometheus` on that fleet for 10 minutes: RSS at the end / max",
		Job:  Job{Command: "ADVISOR_BENCH_ATTACH=10m go test -run '^$' -bench AttachFleet100RSS -benchtime 1x -timeout 20m -v ./cmd/advisor/"},
		Figure: func(o *Output) (string, error) {
			v, err := o.metrics("BenchmarkAttachFleet100RSS", "rss_end_MB", "rss_max_MB")
			if err != nil {
				return "", err
			}
			return fmt.Sprintf("%.1f / %.1f MB", v[0], v[1]), nil
		},
	},
	{
		ID: "profiling-rates",
		What: "block and mutex profiling at the recommended rates, against off (tuned / `lock=global`), medians of 16 rounds; " +
			"[details](#block-and-mutex-profiling-cost)",
		Job: Job{Command: "ADVISOR_PROFILING_RUN=4s go test -run '^$' -bench ProfilingRates -benchtime 2x -timeout 60m ./cmd/advisor/"},
		Figure: func(o *Output) (string, error) {
			v, err := o.metrics("BenchmarkProfilingRates", "tuned_b10000_m10_ratio", "lock_b10000_m10_ratio",
				"tuned_b10000_m10_cpu_ratio", "lock_b10000_m10_cpu_ratio")
			if err != nil {
				return "", err
			}
			return fmt.Sprintf("RPS %.3f / %.3f, CPU per request %.3f / %.3f", v[0], v[1], v[2], v[3]), nil
		},
	},
	{
		ID:   "attach-overhead",
		What: "`advisor attach` on the tuned sampleapp under load: throughput with / without, once past its fast first 20 s and over them; [details](#what-attach-costs-the-service-it-watches)",
		Job:  Job{Command: "go test -run '^$' -bench 'AttachOverhead$' -benchtime 1x -timeout 30m ./cmd/advisor/"},
		Figure: func(o *Output) (string, error) {
			v, err := o.metrics("BenchmarkAttachOverhead", "ratio", "pairs", "ratio_of_medians", "cpu_cost_ratio", "ratio_first", "pairs_first",
				"idle_target_cpu_ms/s", "attach_cpu_ms/s", "attach_cpu_load_ms/s")
			if err != nil {
				return "", err
			}
			return fmt.Sprintf("%.3f (median of %.0f pair ratios, one attach stopped for the runs without it; ratio of medians %.3f); CPU per request (the target's and attach's own) with / without %.3f; over the first 20 s %.3f (%.0f pairs, a fresh attach each); idle polling costs the target %.1f ms CPU per s, attach itself %.1f (%.1f under the load)",
				v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8]), nil
		},
	},
	{
		ID: "attach-overhead-twins",
		What: "`advisor attach` on one of two identical tuned sampleapps under the same load at the same time, one attach running at a time: throughput of the watched twin / the other's, " +
			"and with attach's own CPU and its reads' in PostgreSQL and Redis taken off the machine's; [details](#what-attach-costs-the-service-it-watches)",
		Job: Job{Command: "go test -run '^$' -bench AttachOverheadTwins -benchtime 1x -timeout 30m ./cmd/advisor/"},
		Figure: func(o *Output) (string, error) {
			v, err := o.metrics("BenchmarkAttachOverheadTwins", "ratio", "twin_ratio", "pairs", "twin_q1", "twin_q3",
				"attach_cpu_load_ms/s", "pg_redis_cpu_ms/s")
			if err != nil {
				return "", err
			}
			return fmt.Sprintf("%.3f: twins %.3f (median of %.0f pairs, quartiles %.3f and %.3f) less attach's own CPU under the load (%.1f ms per s) and what its reads cost PostgreSQL and Redis (%.1f ms per s, without load) over the machine's",
				v[0], v[1], v[2], v[3], v[4], v[5], v[6]), nil
		},
	},
	{
		ID:   "attach-first-findings",
		What: "`advisor attach --headless` (defaults: `--sample-every 500ms`, `--hold-readings 3`) on the naive sampleapp under 8 connections: time from start until each planted problem is on screen, and how often one left it, over 5 minutes",
		Job:  Job{Command: "ADVISOR_FIRST_SPAN=5m go test -run '^$' -bench AttachFirstFindings -benchtime 1x -timeout 20m -v ./cmd/advisor/"},
		Figure: func(o *Output) (string, error) {
			v, err := o.metrics("BenchmarkAttachFirstFindings", "knobs_found", "last_first_s", "leaves", "finding_leaves")
			if err != nil {
				return "", err
			}
			return fmt.Sprintf("%.0f of 9 within %.1f s; %.0f left the screen after showing (findings of their rules that left: %.0f)", v[0], v[1], v[2], v[3]), nil
		},
	},
	{
		ID:   "report-shortest-load",
		What: "shortest load of the naive sampleapp's mix (8 connections, fresh service, reset statistics) after which `advisor report --window 0` names the missing index and the N+1",
		Job:  Job{Command: "go test -run '^$' -bench ReportShortestLoad -benchtime 1x -v ./cmd/advisor/"},
		Figure: func(o *Output) (string, error) {
			v, err := o.metrics("BenchmarkReportShortestLoad", "shortest_load_s")
			if err != nil {
				return "", err
			}
			return fmt.Sprintf("%.0f s", v[0]), nil
		},
	},
	{
		ID:   "promises",
		What: "sampleapp under load through worker and Redis restarts",
		Job:  Job{Command: "go test -count=1 -run TestPromisesThroughRestarts -v ./sampleapp/"},
		Figure: func(o *Output) (string, error) {
			kv, ok := KeyValues(o.Log, "bench-report:")
			if !ok {
				return "", fmt.Errorf("no bench-report: line in the test's log")
			}
			keys := []string{"worker_restarts", "redis_restarts", "orders_201", "jobs", "jobs_completed", "invoices", "slowest_ms"}
			v := map[string]int{}
			for _, k := range keys {
				n, err := strconv.Atoi(kv[k])
				if err != nil {
					return "", fmt.Errorf("%s=%q: %w", k, kv[k], err)
				}
				v[k] = n
			}
			return fmt.Sprintf("through %d worker and %d Redis restarts: %d orders answered 201, each stored once; %d jobs, %d completed, %d invoices; slowest order %d ms",
				v["worker_restarts"], v["redis_restarts"], v["orders_201"], v["jobs"], v["jobs_completed"], v["invoices"], v["slowest_ms"]), nil
		},
	},
	{
		ID:   "attach-long-run",
		What: "`advisor attach` for 10 minutes under changing load: RSS after 1 min / at the end, goroutines",
		Job:  Job{Command: "go test -run '^$' -bench AttachLongRun -benchtime 1x -timeout 30m -v ./cmd/advisor/"},
		Figure: func(o *Output) (string, error) {
			v, err := o.metrics("BenchmarkAttachLongRun", "rss_start_MB", "rss_end_MB", "rss_max_MB", "goroutines_start", "goroutines_end")
			if err != nil {
				return "", err
			}
			return fmt.Sprintf("%.1f / %.1f MB (max %.1f), %.0f / %.0f", v[0], v[1], v[2], v[3], v[4]), nil
		},
	},
	{
		ID:   "ui-view",
		What: "attach frame with 5,000 statements (80x24 / 160x48): 99th percentile frame time (mean), process RSS",
		Job:  Job{Command: "go test -run '^$' -bench View -benchtime 200x ./internal/ui"},
		Figure: func(o *Output) (string, error) {
			small, err := o.metrics("BenchmarkView5000Statements/80x24", "p99-ms/frame", "RSS-MB")
			if err != nil {
				return "", err
			}
			large, err := o.metrics("BenchmarkView5000Statements/160x48", "p99-ms/frame", "RSS-MB")
			if err != nil {
				return "", err
			}
			mean := func(name string) float64 { v, _ := o.Metric(name, "ns/op"); return v / 1e6 }
			return fmt.Sprintf("%.2f / %.2f ms (mean %.2f / %.2f ms), %.0f-%.0f MB RSS", small[0], large[0],
				mean("BenchmarkView5000Statements/80x24"), mean("BenchmarkView5000Statements/160x48"),
				min(small[1], large[1]), max(small[1], large[1])), nil
		},
	},
}

// calibrationFigure reads BenchmarkImpactCalibration's metrics: a figure it
// could not compute (too few fixes, no gain) is missing from its line and
// written as such.
func calibrationFigure(o *Output) (string, error) {
	const name = "BenchmarkImpactCalibration"
	if _, ok := Find(o.Benchmarks, name); !ok {
		return "", fmt.Errorf("no result line for %s", name)
	}
	fig := func(unit string) string {
		v, err := o.Metric(name, unit)
		if err != nil {
			return "none"
		}
		return fmt.Sprintf("%.2f", v)
	}
	fixes, err := o.Metric(name, "fixes-detected")
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("Spearman %s over the %.0f fixes a finding pointed at (%s with the gains within the run's noise tied, %s over every knob; the pairs agree with each other at %s); first four kept fixes %s of the log-RPS gain (the loop's four largest gains %s)",
		fig("spearman"), fixes, fig("spearman-resolved"), fig("spearman-all"), fig("pair-agreement"),
		fig("first4-share"), fig("best4-share")), nil
}

func tuneFigure(o *Output) (string, error) {
	v, err := o.metrics("BenchmarkTuneNaive", "rps-ratio", "p95-ratio", "fixes")
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("RPS x%.0f, p95 ÷%.0f; %.0f fixes", v[0], v[1], v[2]), nil
}

// spreadText is a median with its range, each in format.
func spreadText(s sampleapp.Spread, format string) string {
	m := fmt.Sprintf(format, s.Median)
	lo, hi := fmt.Sprintf(format, s.Min), fmt.Sprintf(format, s.Max)
	if lo == hi {
		return m
	}
	return fmt.Sprintf("%s (%s-%s)", m, lo, hi)
}

// thousands writes a whole number with a comma between thousands.
func thousands(v float64) string {
	s := strconv.FormatInt(int64(v+0.5), 10)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// oneDecimal writes v with one decimal under 100, none above.
func oneDecimal(v float64) string {
	if v < 100 {
		return strconv.FormatFloat(v, 'f', 1, 64)
	}
	return strconv.FormatFloat(v, 'f', 0, 64)
}
