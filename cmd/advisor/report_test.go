package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/pgadvisor/advisor/internal/config"
	"github.com/pgadvisor/advisor/internal/load"
	"github.com/pgadvisor/advisor/internal/probe"
	"github.com/pgadvisor/advisor/internal/probe/probetest"
	"github.com/pgadvisor/advisor/internal/report"
	"github.com/pgadvisor/advisor/internal/rules"
	"github.com/pgadvisor/advisor/internal/scenario"
	"github.com/pgadvisor/advisor/internal/stack"
	"github.com/pgadvisor/advisor/internal/stack/stacktest"
	"github.com/pgadvisor/advisor/internal/targets"
	"github.com/pgadvisor/advisor/sampleapp"
	"github.com/pgadvisor/advisor/sampleapp/sampletest"
)

func TestReportUsageErrorsExitTwo(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "advisor.yaml")
	if err := os.WriteFile(bad, []byte("target: http://127.0.0.1:1\ntagret: x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	badRules := filepath.Join(t.TempDir(), "rules.yaml")
	if err := os.WriteFile(badRules, []byte("rules:\n  - id: db.no-such-rule\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"report"}, "no source given"},
		{[]string{"report", "--redis", "x:1", "--format", "yaml"}, "yaml"},
		{[]string{"report", "--redis", "x:1", "--fail-on", "sometimes"}, "--fail-on"},
		{[]string{"report", "--redis", "x:1", "--format", "json", "--format", "text"}, "standard output"},
		{[]string{"report", "--redis", "x:1", "--out", "a", "--out", "b"}, "--out"},
		{[]string{"report", "--config", bad}, "advisor.yaml:2:1: unknown key \"tagret\""},
		{[]string{"report", "--redis", "x:1", "--rules", badRules}, "db.no-such-rule"},
		{[]string{"report", "--target", "ftp://host/"}, "not an http(s) URL"},
		{[]string{"report", "--pg", "postgres://u:hunter2@host:notaport/db"}, ""},
		{[]string{"report", "--redis", "x:1", "--window", "-1s"}, "--window"},
		{[]string{"report", "--no-such-flag"}, "unknown flag"},
	} {
		code, _, stderr := runCaptured(t, tc.args...)
		if code != exitUsage {
			t.Errorf("%s: exit %d, want %d (stderr %q)", strings.Join(tc.args, " "), code, exitUsage, stderr)
		}
		if !strings.Contains(stderr, tc.want) {
			t.Errorf("%s: stderr %q lacks %q", strings.Join(tc.args, " "), stderr, tc.want)
		}
		if strings.Contains(stderr, "hunter2") {
			t.Errorf("%s: stderr shows the password: %q", strings.Join(tc.args, " "), stderr)
		}
	}
}

func TestReportAllSourcesDownExitsThree(t *testing.T) {
	down := probetest.ClosedAddr(t)
	code, stdout, stderr := runCaptured(t, "report", "--window", "0", "--probe-timeout", "2s",
		"--target", "http://"+down, "--pg", "postgres://advisor:hunter2@"+down+"/app?connect_timeout=1", "--redis", down)
	if code != exitNoSource {
		t.Fatalf("exit %d, want %d\nstderr: %s", code, exitNoSource, stderr)
	}
	for _, want := range []string{"no source could be probed", "pprof", "metrics", "postgres", "redis", down} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
	if strings.Contains(stdout+stderr, "hunter2") {
		t.Error("the password appears in the output")
	}
}

// TestReportAgainstSampleapp is the end-to-end check of issue 7: naive
// sampleapp under load fails the run with the expected rules; tuned passes
// --fail-on warning; every format is written.
func TestReportAgainstSampleapp(t *testing.T) {
	if testing.Short() {
		t.Skip("end to end")
	}
	stacktest.Start(t)
	// A Redis of its own: the shared one's hit ratio counts every other
	// test's misses too.
	rd, err := stack.StartRedis(context.Background(), t.TempDir(), 26472, stack.RedisOptions{Args: []string{"--maxmemory", "64mb", "--maxmemory-policy", "allkeys-lru"}})
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Stop(context.Background())
	for _, tc := range []struct {
		profile  string
		wantCode int
	}{
		{"naive", exitFindings},
		{"tuned", exitOK},
	} {
		t.Run(tc.profile, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			dsn := sampletest.Database(t, "report_e2e_"+tc.profile, sampleapp.TestSize)
			s, err := scenario.Start(ctx, scenario.Options{DSN: dsn, RedisAddr: rd.Addr(),
				Profile: tc.profile, CacheNamespace: "report-" + tc.profile})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			lc := s.LoadConfig(16, 2*time.Minute)
			if tc.profile == "tuned" {
				// The service's cache starts empty in a new namespace: fill
				// it, so that the window sees its steady state
				// (redis.low-hit-ratio is right about a cold cache).
				primeFeeds(ctx, t, lc)
			}
			stopLoad := backgroundLoad(ctx, t, lc)
			defer stopLoad() // before the service closes
			// Warm up: pools, and the cache's hit ratio under the load.
			if tc.profile == "tuned" {
				awaitSteadyHitRatio(ctx, t, rd.Addr(), 4*time.Second, 30*time.Second)
			} else {
				time.Sleep(4 * time.Second)
			}

			dir := t.TempDir()
			jsonOut, sarifOut, mdOut := filepath.Join(dir, "r.json"), filepath.Join(dir, "r.sarif"), filepath.Join(dir, "r.md")
			textOut := filepath.Join(dir, "r.txt")
			code, _, stderr := runCaptured(t, "report", "--target", s.App.URL, "--pg", dsn, "--redis", rd.Addr(),
				"--window", "4s", "--profile-seconds", "2", "--fail-on", "warning",
				"--format", "json:"+jsonOut, "--format", "sarif:"+sarifOut, "--format", "markdown:"+mdOut,
				"--format", "text:"+textOut)
			if code != tc.wantCode {
				t.Errorf("exit %d, want %d; stderr:\n%s", code, tc.wantCode, stderr)
			}
			var rep report.Report
			data, err := os.ReadFile(jsonOut)
			if err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(data, &rep); err != nil {
				t.Fatal(err)
			}
			for _, name := range probe.SourceNames {
				if rep.Sources[name].Status != report.StatusOK {
					t.Errorf("source %s: %+v", name, rep.Sources[name])
				}
			}
			var found []string
			for _, f := range rep.Findings {
				if !slices.Contains(found, f.Rule) {
					found = append(found, f.Rule)
				}
			}
			t.Logf("%s: rules found: %v", tc.profile, found)
			if tc.profile == "naive" {
				// The application rules read the service itself and hold in
				// a short window; the database rules need call counts that
				// a locked naive service may not reach in seconds.
				for _, want := range []string{"pool.no-pooling", "app.lock-contention", "app.internal-hops", "runtime.gomaxprocs"} {
					if !slices.Contains(found, want) {
						t.Errorf("naive sampleapp: %s not found", want)
					}
				}
			}
			for _, p := range []string{sarifOut, mdOut} {
				if st, err := os.Stat(p); err != nil || st.Size() == 0 {
					t.Errorf("%s not written: %v", p, err)
				}
			}
			// Where the time goes: sampleapp under load has request metrics
			// and goroutine dumps, so its time is split by part.
			wantFigures(t, rep.Figures, textOut)
			if tc.profile == "tuned" {
				for _, f := range rep.Findings {
					if f.Severity.AtLeast(rules.Warning) {
						t.Errorf("tuned sampleapp: %s %s: %s", f.Severity, f.Rule, f.Title)
					}
				}
			}
		})
	}
}

// BenchmarkReportWallTime runs advisor report with the default window (10 s,
// a 5 s CPU profile inside it) against naive sampleapp under load and
// reports how far past the window it finished: the target is under 1.5 s.
//
//	go test -run '^$' -bench ReportWallTime -benchtime 3x ./cmd/advisor/
func BenchmarkReportWallTime(b *testing.B) {
	info := stacktest.Start(b)
	dsn := sampletest.Database(b, "report_bench", sampleapp.TestSize)
	ctx := context.Background()
	s, err := scenario.Start(ctx, scenario.Options{DSN: dsn, RedisAddr: info.RedisAddr, Profile: "naive", CacheNamespace: "report-bench"})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	stopLoad := backgroundLoad(ctx, b, s.LoadConfig(16, time.Hour))
	defer stopLoad() // before the service closes
	var overruns []float64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		var out, errOut strings.Builder
		code := run(ctx, []string{"report", "--target", s.App.URL, "--pg", dsn, "--redis", info.RedisAddr,
			"--format", "json", "--fail-on", "never"}, &out, &errOut)
		took := time.Since(start)
		if code != exitOK {
			b.Fatalf("exit %d: %s", code, errOut.String())
		}
		overruns = append(overruns, (took - defaultWindow).Seconds())
	}
	b.StopTimer()
	slices.Sort(overruns)
	b.ReportMetric(overruns[len(overruns)/2], "median_overrun_s")
	b.ReportMetric(overruns[len(overruns)-1], "max_overrun_s")
}

// BenchmarkReportBlockedLoop: `advisor report` (default window) on the
// FastAPI reference target with its event loop blocked (sync handlers in
// async def, statements of 25 ms, one worker) under 32 clients: the
// service answers every request, /metrics too, after the ones queued
// before it, seconds later. Reports the time past the window and the
// window the report observed.
func BenchmarkReportBlockedLoop(b *testing.B) {
	stacktest.Start(b)
	ctx := context.Background()
	tg := targets.Start(ctx, b, targets.FastAPI, targets.Options{Profile: "naive",
		Knobs: map[string]string{"handlers": "sync-in-async", "workers": "1", "db_ms": "25"}, Size: "tiny"})
	stopLoad := backgroundLoad(ctx, b, load.Config{BaseURL: tg.BaseURL, Connections: 32, Duration: time.Hour,
		Mix: []load.Entry{
			{Name: "events", Path: "/users/{user}/events", Weight: 3},
			{Name: "user", Path: "/users/{user}"},
		},
		// The tiny data set's 1,000 users.
		Vars: map[string]load.Range{"user": {Min: 1, Max: 1000}}})
	defer stopLoad()            // before the target stops
	time.Sleep(2 * time.Second) // the queue forms
	var overruns, windows []float64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		var out, errOut strings.Builder
		code := run(ctx, []string{"report", "--target", tg.BaseURL, "--pg", tg.DSN, "--format", "json", "--fail-on", "never"}, &out, &errOut)
		took := time.Since(start)
		if code != exitOK {
			b.Fatalf("exit %d: %s", code, errOut.String())
		}
		var rep report.Report
		if err := json.Unmarshal([]byte(out.String()), &rep); err != nil {
			b.Fatal(err)
		}
		if !slices.ContainsFunc(rep.Findings, func(f report.Finding) bool { return f.Rule == "service.queueing" }) {
			b.Errorf("report %d: no service.queueing for the blocked loop", i+1)
		}
		overruns = append(overruns, (took - defaultWindow).Seconds())
		windows = append(windows, rep.WindowSeconds)
	}
	b.StopTimer()
	slices.Sort(overruns)
	slices.Sort(windows)
	b.ReportMetric(overruns[len(overruns)/2], "median_overrun_s")
	b.ReportMetric(overruns[len(overruns)-1], "max_overrun_s")
	b.ReportMetric(windows[len(windows)/2], "median_window_s")
}

// TestCumulativeMatchesWindow runs one workload on a fresh service process,
// database and Redis, observes it with a window covering the whole workload,
// then analyses the cumulative statistics with --window 0: both must give
// the same findings (rule and subject). The service runs as its own process,
// as in production: its profiles and metrics count from its start, like the
// statistics of its database and Redis count from their reset.
func TestCumulativeMatchesWindow(t *testing.T) {
	if testing.Short() {
		t.Skip("end to end")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	stacktest.Start(t)
	dsn := sampletest.Database(t, "report_cumulative", sampleapp.TestSize)
	rd, err := stack.StartRedis(ctx, t.TempDir(), 26471, stack.RedisOptions{Args: []string{"--maxmemory", "64mb", "--maxmemory-policy", "allkeys-lru"}})
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Stop(context.Background())
	base := startSampleappProcess(ctx, t, dsn, rd.Addr(), "--profile", "naive", "--knob", "gomaxprocs=default", "--cache-namespace", "cumulative")
	// Start from reset statistics: the seed is not the workload.
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, "SELECT pg_stat_statements_reset(0, (SELECT oid FROM pg_database WHERE datname = current_database()), 0), pg_stat_reset()"); err != nil {
		t.Fatal(err)
	}
	conn.Close(ctx)

	mix, vars, header := sampleapp.LoadMix(sampleapp.TestSize)
	// The window is 14 s: in 9 s under a fresh-clone run's load the naive
	// feed's scan twice fell short of db.slow-query's minimums (25 calls,
	// 2 s in all) while the service's lifetime passed them.
	stopLoad := backgroundLoad(ctx, t, load.Config{BaseURL: base, Mix: mix, Vars: vars, Header: header, Connections: 8, Duration: 15 * time.Second})
	common := []string{"--target", base, "--pg", dsn, "--redis", rd.Addr(), "--format", "json", "--fail-on", "never"}
	dir := t.TempDir()
	windowOut, cumulativeOut := filepath.Join(dir, "window.json"), filepath.Join(dir, "cumulative.json")
	code, _, stderr := runCaptured(t, append([]string{"report", "--window", "14s", "--profile-seconds", "2", "--out", windowOut}, common...)...)
	if code != exitOK {
		t.Fatalf("window report: exit %d: %s", code, stderr)
	}
	stopLoad()
	code, _, stderr = runCaptured(t, append([]string{"report", "--window", "0", "--out", cumulativeOut}, common...)...)
	if code != exitOK {
		t.Fatalf("cumulative report: exit %d: %s", code, stderr)
	}
	keys := func(path string) []string {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		var rep report.Report
		if err := json.Unmarshal(data, &rep); err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, f := range rep.Findings {
			t.Logf("%s: %s %s", filepath.Base(path), f.Rule, f.Subject)
			if slices.Contains(windowOnlyRules, f.Rule) || slices.Contains(atThresholdRules, f.Rule) {
				continue
			}
			// The rules must agree; a subject near its threshold (a
			// statement with a few calls more or less, a second internal
			// host) may fall either side between a 14 s window and the
			// service's lifetime, so subjects are logged, not compared.
			k := f.Rule
			if !slices.Contains(out, k) {
				out = append(out, k)
			}
		}
		slices.Sort(out)
		return out
	}
	window, cumulative := keys(windowOut), keys(cumulativeOut)
	t.Logf("window:     %v", window)
	t.Logf("cumulative: %v", cumulative)
	if len(window) == 0 {
		t.Fatal("the naive workload gave no finding")
	}
	// The service's lifetime holds the window: a rule gated by counts over
	// its span may pass its minimums there and not in the window, never
	// the other way round.
	onlyCumulative := slices.DeleteFunc(minus(cumulative, window), func(rule string) bool {
		return slices.Contains(countGatedRules, rule)
	})
	if onlyWindow := minus(window, cumulative); len(onlyWindow) > 0 || len(onlyCumulative) > 0 {
		t.Errorf("cumulative analysis differs from the window:\nonly in window:     %v\nonly in cumulative: %v",
			onlyWindow, onlyCumulative)
	}
}

// countGatedRules need minimum counts over the span they read: db.slow-query
// 25 calls and 2 s of statement time. A fresh clone's CI run, on a loaded
// machine, served too few naive feeds in the 14 s window for them while the
// service's lifetime, which holds the window, passed them (2026-12-05).
var countGatedRules = []string{"db.slow-query"}

// atThresholdRules are rules whose figure sits at its threshold under the
// naive sample load, so that a 14 s window and the service's lifetime may
// fall either side of it: db.cache-candidate's table writes per second (the
// naive feed's reads against the audit and order writes) fired in the
// cumulative analysis and not in the window on a fresh-clone CI run, as it
// did in one of the two concurrent reports of TestReportSampleappFleet.
// They are logged with the other findings, not compared.
var atThresholdRules = []string{"db.cache-candidate"}

// windowOnlyRules sample what request goroutines are doing while the load
// runs (goroutine dumps and a CPU profile inside the window; lock contention
// also from the mutex profile): once the load suite has ended there is
// nothing left to sample, so --window 0 cannot be held to the same answer
// (the report's help and docs/ci.md say so). service.queueing and
// runtime.workers stand down when the host's CPUs were busy during the
// window, which a cumulative report cannot know: on a loaded CI machine the
// window sees the host saturated and the cumulative report does not.
// db.low-cache-hit compares a ratio with 0.99: the sample service's seeded
// tables sit next to it, and 14 s of the load and the whole run (its cold
// start included) fall either side of it from one run to the next. Every
// other rule that reads counters must agree.
var windowOnlyRules = []string{"app.inline-work", "app.blocking-io", "app.lock-contention", "http.saturation",
	"service.queueing", "runtime.workers", "db.low-cache-hit"}

func minus(a, b []string) []string {
	var out []string
	for _, x := range a {
		if !slices.Contains(b, x) {
			out = append(out, x)
		}
	}
	return out
}

// wantFigures checks a report's figures of sampleapp under load and logs the
// text format's time section.
func wantFigures(t *testing.T, f *report.Figures, textOut string) {
	t.Helper()
	if f == nil {
		t.Fatal("no figures in the JSON report")
	}
	if f.Runtime != "go" || f.Service.RPS <= 0 || f.Service.MeanMS == nil || len(f.Service.Time) == 0 || len(f.Routes) == 0 {
		t.Errorf("figures: runtime %q method %q service %+v, %d routes", f.Runtime, f.Method, f.Service, len(f.Routes))
	}
	var sum float64
	for _, p := range f.Service.Time {
		sum += p.Share
	}
	if sum < 0.99 || sum > 1.01 {
		t.Errorf("the service's parts add up to %v of its time: %+v", sum, f.Service.Time)
	}
	text, err := os.ReadFile(textOut)
	if err != nil {
		t.Fatal(err)
	}
	section, _, _ := strings.Cut(string(text), "\n\n"+strings.ToUpper("critical"))
	if i := strings.Index(section, "Where the time goes"); i >= 0 {
		section = section[i:]
		if j := strings.Index(section, "\n\n"); j >= 0 {
			section = section[:j]
		}
		t.Logf("text report:\n%s", section)
	} else {
		t.Errorf("the text report has no time section:\n%s", text)
	}
}

// slowMetrics serves the FastAPI capture at /metrics after delay, as a
// service busy with queued requests answers it.
func slowMetrics(t *testing.T, delay time.Duration) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/metrics" {
			http.NotFound(w, r)
			return
		}
		select {
		case <-time.After(delay):
		case <-r.Context().Done():
			return
		}
		http.ServeFile(w, r, "../../internal/probe/metrics/testdata/fastapi.txt")
	}))
	t.Cleanup(srv.Close)
	return srv
}

// TestReportSaysWindowShortened: a service that answers /metrics 2 s
// late gets its last reading asked for early (probe.Observe); the report
// says on stderr why its window is shorter than asked.
func TestReportSaysWindowShortened(t *testing.T) {
	srv := slowMetrics(t, 2*time.Second)
	code, stdout, stderr := runCaptured(t, "report", "--target", srv.URL, "--window", "4s", "--format", "json", "--fail-on", "never")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var rep report.Report
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stderr, fmt.Sprintf("the window covers %gs of the 4s asked", rep.WindowSeconds)) {
		t.Errorf("window %v s; stderr:\n%s", rep.WindowSeconds, stderr)
	}
}

// TestDemoReportSaysWindowShortened: the demo's report without a terminal
// says so too, its closing line naming the window asked.
func TestDemoReportSaysWindowShortened(t *testing.T) {
	srv := slowMetrics(t, 2*time.Second)
	set, err := rules.Default("")
	if err != nil {
		t.Fatal(err)
	}
	var out, stderr strings.Builder
	f := &demoFlags{window: 4 * time.Second, attach: attachFlags{timeout: 5 * time.Second, profileSeconds: 1}}
	if err := demoReport(t.Context(), &out, &stderr, f, set, config.Sources{Target: srv.URL}, "advisor report ..."); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stderr.String(), "of the 4s asked: the sources answered the first reading slowly") ||
		!strings.Contains(out.String(), "printed one 4s report") {
		t.Errorf("stderr:\n%s\nstdout:\n%s", stderr.String(), out.String())
	}
}

func TestShortWindowNote(t *testing.T) {
	for _, tc := range []struct {
		asked   time.Duration
		seconds float64
		cum     bool
		want    string
	}{
		{10 * time.Second, 10.2, false, ""},
		{10 * time.Second, 9.1, false, ""},
		{10 * time.Second, 7.7, false, "the window covers 7.7s of the 10s asked"},
		{0, 1351, true, ""},
	} {
		got := shortWindowNote(tc.asked, &probe.Window{Seconds: tc.seconds, Cumulative: tc.cum})
		if (tc.want == "") != (got == "") || !strings.HasPrefix(got, tc.want) {
			t.Errorf("shortWindowNote(%v, %v s) = %q, want %q...", tc.asked, tc.seconds, got, tc.want)
		}
	}
}
