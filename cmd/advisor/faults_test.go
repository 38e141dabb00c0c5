package main

// The fault matrix of advisor report (docs/faults.md lists each line with
// the test that covers it): for every broken or missing source, report keeps
// running, says what is wrong and how to fix it, never shows a negative rate
// and exits with the right code.

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	httppprof "net/http/pprof"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgadvisor/advisor/internal/probe"
	"github.com/pgadvisor/advisor/internal/probe/probetest"
	"github.com/pgadvisor/advisor/internal/report"
	"github.com/pgadvisor/advisor/internal/stack"
	"github.com/pgadvisor/advisor/internal/stack/stacktest"
)

// faultRun is what one command did in a line of the fault matrix.
type faultRun struct {
	cmd  string // report or attach
	code int
	// rep is the report written (attach: of its last analysis), nil if none.
	rep    *report.Report
	stderr string
}

// faultBoth runs advisor report (with reportArgs, e.g. its window) and then
// advisor attach --headless for a few readings, both with the same source
// flags, and checks each in a subtest of its own.
func faultBoth(t *testing.T, reportArgs, sources []string, check func(t *testing.T, r faultRun)) {
	t.Helper()
	t.Run("report", func(t *testing.T) {
		code, rep, stderr := faultReport(t, append(slices.Clone(reportArgs), sources...)...)
		check(t, faultRun{cmd: "report", code: code, rep: rep, stderr: stderr})
	})
	t.Run("attach", func(t *testing.T) {
		check(t, faultAttach(t, sources...))
	})
}

// faultReport runs advisor report with JSON output and returns the exit
// code, the parsed report (nil if none was written) and stderr.
func faultReport(t *testing.T, args ...string) (int, *report.Report, string) {
	t.Helper()
	out := filepath.Join(t.TempDir(), "report.json")
	args = append([]string{"report", "--format", "json", "--out", out, "--fail-on", "never", "--probe-timeout", "2s"}, args...)
	code, _, stderr := runCaptured(t, args...)
	data, err := os.ReadFile(out)
	if err != nil {
		return code, nil, stderr
	}
	return code, parseReport(t, data), stderr
}

// faultAttach runs advisor attach --headless for 3 s, reading every 500 ms,
// with the report of its last analysis exported. attach must stop on time,
// analyse at least once unless it exits 3, and log each source's state.
func faultAttach(t *testing.T, sources ...string) faultRun {
	t.Helper()
	dir := t.TempDir()
	args := append([]string{"attach", "--headless", "--duration", "3s", "--interval", "500ms", "--analysis-window", "2s",
		"--probe-timeout", "2s", "--export-dir", dir}, sources...)
	start := time.Now()
	code, _, stderr := runCaptured(t, args...)
	if took := time.Since(start); took > 15*time.Second {
		t.Errorf("attach --duration 3s ran for %s", took)
	}
	r := faultRun{cmd: "attach", code: code, stderr: stderr}
	if code != exitOK {
		return r
	}
	if len(headlessLine.FindAllString(stderr, -1)) == 0 {
		t.Errorf("attach logged no analysis:\n%s", stderr)
	}
	for _, name := range probe.SourceNames {
		if !strings.Contains(stderr, " source "+name+" ") {
			t.Errorf("attach did not log the state of %s:\n%s", name, stderr)
		}
	}
	r.rep = readExport(t, dir, stderr)
	return r
}

// readExport reads the one JSON report attach --headless exported into dir
// (stderr is attach's, for the failure message) and checks it.
func readExport(t *testing.T, dir, stderr string) *report.Report {
	t.Helper()
	paths, _ := filepath.Glob(filepath.Join(dir, "*.json"))
	if len(paths) != 1 {
		t.Fatalf("attach exported %d JSON reports, want 1:\n%s", len(paths), stderr)
	}
	data, err := os.ReadFile(paths[0])
	if err != nil {
		t.Fatal(err)
	}
	return parseReport(t, data)
}

// pgWorkload runs n statements against dsn so that pg_stat_statements has
// something to count; a server that is down is no error.
func pgWorkload(ctx context.Context, dsn string, n int) {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return
	}
	defer conn.Close(ctx)
	for i := 0; i < n; i++ {
		_, _ = conn.Exec(ctx, "SELECT count(*) FROM pg_class WHERE relpages > $1", i)
	}
}

// parseReport decodes a JSON report and checks its evidence has no
// negative number.
func parseReport(t *testing.T, data []byte) *report.Report {
	t.Helper()
	var rep report.Report
	if err := json.Unmarshal(data, &rep); err != nil {
		t.Fatalf("report JSON: %v", err)
	}
	checkNoNegative(t, string(data))
	return &rep
}

// checkNoNegative fails on any negative number among the findings' evidence.
func checkNoNegative(t *testing.T, data string) {
	t.Helper()
	var raw struct {
		Findings []struct {
			Rule     string         `json:"rule"`
			Evidence map[string]any `json:"evidence"`
		} `json:"findings"`
	}
	if err := json.Unmarshal([]byte(data), &raw); err != nil {
		t.Fatal(err)
	}
	for _, f := range raw.Findings {
		for k, v := range f.Evidence {
			if n, ok := v.(float64); ok && n < 0 {
				t.Errorf("%s: evidence %s = %v is negative", f.Rule, k, n)
			}
		}
	}
}

func wantSource(t *testing.T, rep *report.Report, name string, status report.Status, detail string) {
	t.Helper()
	if rep == nil {
		t.Fatalf("no report written")
	}
	s := rep.Sources[name]
	if s.Status != status || !strings.Contains(s.Detail, detail) {
		t.Errorf("source %s = %+v, want %s with %q", name, s, status, detail)
	}
}

// pprofMux serves the real pprof handlers and a small metrics page.
func pprofMux() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", httppprof.Index)
	mux.HandleFunc("/debug/pprof/profile", httppprof.Profile)
	mux.HandleFunc("/metrics", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprint(w, "# TYPE http_requests_total counter\nhttp_requests_total{route=\"/\",method=\"GET\",code=\"200\"} 5\n")
	})
	return mux
}

func TestFaultTargetDown(t *testing.T) {
	t.Parallel() // no load whose rate it measures
	info := stacktest.Start(t)
	faultBoth(t, []string{"--window", "0"}, []string{"--target", "http://" + probetest.ClosedAddr(t), "--redis", info.RedisAddr},
		func(t *testing.T, r faultRun) {
			if r.code != exitOK {
				t.Errorf("exit %d with Redis up: %s", r.code, r.stderr)
			}
			wantSource(t, r.rep, "pprof", report.StatusUnavailable, "cannot reach")
			wantSource(t, r.rep, "metrics", report.StatusUnavailable, "cannot reach")
			wantSource(t, r.rep, "redis", report.StatusOK, "")
		})
}

func TestFaultTargetSlow(t *testing.T) {
	t.Parallel() // it waits for a slow server, and measures no load
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(5 * time.Second):
		case <-r.Context().Done():
		}
	}))
	defer slow.Close()
	info := stacktest.Start(t)
	start := time.Now()
	faultBoth(t, []string{"--window", "0"}, []string{"--target", slow.URL, "--redis", info.RedisAddr}, func(t *testing.T, r faultRun) {
		if took := time.Since(start); r.cmd == "report" && took > 8*time.Second {
			t.Errorf("a slow target held the report for %s", took)
		}
		if r.code != exitOK {
			t.Errorf("exit %d: %s", r.code, r.stderr)
		}
		wantSource(t, r.rep, "metrics", report.StatusUnavailable, "did not answer within")
	})
}

func TestFaultPprofNotServedMetricsGarbage(t *testing.T) {
	t.Parallel() // no load whose rate it measures
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/metrics" {
			fmt.Fprint(w, "<html>this is not { prometheus text\x00\x01")
			return
		}
		http.NotFound(w, r)
	}))
	defer srv.Close()
	faultBoth(t, []string{"--window", "0"}, []string{"--target", srv.URL}, func(t *testing.T, r faultRun) {
		if r.code != exitNoSource {
			t.Errorf("exit %d, want %d: nothing usable", r.code, exitNoSource)
		}
		// report writes what it found; attach says it on stderr.
		if r.cmd == "attach" {
			for _, want := range []string{`import _ "net/http/pprof"`, "metrics"} {
				if !strings.Contains(r.stderr, want) {
					t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
				}
			}
			return
		}
		wantSource(t, r.rep, "pprof", report.StatusUnavailable, `import _ "net/http/pprof"`)
		if s := r.rep.Sources["metrics"]; s.Status == report.StatusOK || s.Detail == "" {
			t.Errorf("garbage metrics: %+v", s)
		}
	})
}

// TestFaultCorruptProfile serves a truncated CPU profile and a broken
// goroutine dump: report takes a CPU profile, attach reads the dump every
// interval; both say the profile is broken and use the metrics.
func TestFaultCorruptProfile(t *testing.T) {
	t.Parallel() // no load whose rate it measures
	mux := pprofMux()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/debug/pprof/profile":
			// A gzip header and then nothing: a truncated profile.
			_, _ = w.Write([]byte{0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00})
		case r.URL.Path == "/debug/pprof/goroutine" && r.URL.Query().Get("debug") == "2":
			fmt.Fprint(w, "goroutine 1 [running]:\nmain.main(\n\tbroken")
		default:
			mux.ServeHTTP(w, r)
		}
	}))
	defer srv.Close()
	faultBoth(t, []string{"--window", "2s", "--profile-seconds", "1"}, []string{"--target", srv.URL}, func(t *testing.T, r faultRun) {
		if r.code != exitOK {
			t.Errorf("exit %d: %s", r.code, r.stderr)
		}
		wantSource(t, r.rep, "metrics", report.StatusOK, "")
		if r.rep.Sources["pprof"].Detail == "" {
			t.Errorf("pprof detail says nothing of the corrupt profile: %+v", r.rep.Sources["pprof"])
		}
	})
}

func TestFaultPostgres(t *testing.T) {
	t.Parallel() // no load whose rate it measures
	info := stacktest.Start(t)
	ctx := context.Background()

	t.Run("down", func(t *testing.T) {
		faultBoth(t, []string{"--window", "0"}, []string{"--redis", info.RedisAddr,
			"--pg", "postgres://advisor:hunter2@" + probetest.ClosedAddr(t) + "/x?connect_timeout=1"}, func(t *testing.T, r faultRun) {
			if r.code != exitOK {
				t.Errorf("exit %d: %s", r.code, r.stderr)
			}
			wantSource(t, r.rep, "postgres", report.StatusUnavailable, "connection refused")
			data, _ := json.Marshal(r.rep)
			if strings.Contains(r.stderr+string(data), "hunter2") {
				t.Error("password shown")
			}
		})
	})

	t.Run("without pg_stat_statements and hypopg", func(t *testing.T) {
		dsn := stacktest.NewDatabase(t, "fault_noext")
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := conn.Exec(ctx, "DROP EXTENSION pg_stat_statements; DROP EXTENSION hypopg"); err != nil {
			t.Fatal(err)
		}
		conn.Close(ctx)
		faultBoth(t, []string{"--window", "0"}, []string{"--pg", dsn}, func(t *testing.T, r faultRun) {
			if r.code != exitOK {
				t.Errorf("exit %d: %s", r.code, r.stderr)
			}
			wantSource(t, r.rep, "postgres", report.StatusOK, "CREATE EXTENSION pg_stat_statements")
		})
	})

	t.Run("role without pg_read_all_stats", func(t *testing.T) {
		dsn := stacktest.NewDatabase(t, "fault_role")
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(ctx)
		_, _ = conn.Exec(ctx, "DROP ROLE IF EXISTS fault_plain")
		if _, err := conn.Exec(ctx, "CREATE ROLE fault_plain LOGIN PASSWORD 'plain-pw-123'; SELECT count(*) FROM pg_class"); err != nil {
			t.Fatal(err)
		}
		defer conn.Exec(ctx, "DROP OWNED BY fault_plain; DROP ROLE IF EXISTS fault_plain")
		plain := strings.Replace(dsn, "advisor@", "fault_plain:plain-pw-123@", 1)
		plain = strings.Split(plain, "&passfile=")[0]
		faultBoth(t, []string{"--window", "0"}, []string{"--pg", plain}, func(t *testing.T, r faultRun) {
			if r.code != exitOK {
				t.Errorf("exit %d: %s", r.code, r.stderr)
			}
			wantSource(t, r.rep, "postgres", report.StatusOK, "GRANT pg_read_all_stats")
			data, _ := json.Marshal(r.rep)
			if strings.Contains(string(data)+r.stderr, "plain-pw-123") {
				t.Error("password shown")
			}
		})
	})
}

func TestFaultRedis(t *testing.T) {
	t.Parallel() // no load whose rate it measures
	ctx := context.Background()
	t.Run("down", func(t *testing.T) {
		stacktest.Start(t)
		dsn := stacktest.NewDatabase(t, "fault_redis_down")
		faultBoth(t, []string{"--window", "0"}, []string{"--pg", dsn, "--redis", probetest.ClosedAddr(t)}, func(t *testing.T, r faultRun) {
			if r.code != exitOK {
				t.Errorf("exit %d: %s", r.code, r.stderr)
			}
			wantSource(t, r.rep, "redis", report.StatusUnavailable, "connection refused")
		})
	})
	t.Run("password not given", func(t *testing.T) {
		rs, err := stack.StartRedis(ctx, t.TempDir(), 26470, stack.RedisOptions{Args: []string{"--requirepass", "redis-pw-9"}})
		if err != nil {
			t.Fatal(err)
		}
		defer rs.Stop(ctx)
		faultBoth(t, []string{"--window", "0"}, []string{"--redis", rs.Addr()}, func(t *testing.T, r faultRun) {
			if r.code != exitNoSource {
				t.Errorf("exit %d, want %d", r.code, exitNoSource)
			}
			if r.cmd == "attach" {
				if !strings.Contains(r.stderr, "NOAUTH") {
					t.Errorf("stderr does not say the password is missing:\n%s", r.stderr)
				}
				return
			}
			wantSource(t, r.rep, "redis", report.StatusUnavailable, "NOAUTH")
		})
	})
}

// TestFaultRestartsAndResetDuringWindow restarts PostgreSQL and Redis and
// resets pg_stat_statements in the middle of a report's window, on a stack
// of its own: the report completes, no rate is negative.
func TestFaultRestartsAndResetDuringWindow(t *testing.T) {
	t.Parallel() // a stack of its own, and no load whose rate it measures
	if testing.Short() {
		t.Skip("starts a stack of its own")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	own, info := ownStack(ctx, t, 25460, 26460)
	workload := func() { pgWorkload(ctx, info.DSN, 200) }
	workload()

	for _, fault := range []struct {
		name string
		// window leaves the fault time to finish before the last snapshot
		// on a busy machine.
		window string
		apply  func()
	}{
		{"pg_stat_statements_reset", "6s", func() {
			conn, err := pgx.Connect(ctx, info.DSN)
			if err == nil {
				_, _ = conn.Exec(ctx, "SELECT pg_stat_statements_reset()")
				conn.Close(ctx)
			}
			workload()
		}},
		{"restart", "15s", func() {
			if err := own.Down(ctx); err != nil {
				t.Error(err)
			}
			if _, err := own.Up(ctx); err != nil {
				t.Error(err)
			}
			workload()
		}},
	} {
		t.Run(fault.name, func(t *testing.T) {
			done := make(chan struct{})
			go func() {
				defer close(done)
				time.Sleep(1500 * time.Millisecond)
				fault.apply()
			}()
			code, rep, stderr := faultReport(t, "--window", fault.window, "--pg", info.DSN, "--redis", info.RedisAddr)
			<-done
			if code != exitOK {
				t.Errorf("exit %d: %s", code, stderr)
			}
			wantSource(t, rep, "postgres", report.StatusOK, "")
			wantSource(t, rep, "redis", report.StatusOK, "")
		})
	}
}
