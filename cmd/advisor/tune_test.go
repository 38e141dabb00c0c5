package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pgadvisor/advisor/internal/scenario"
	"github.com/pgadvisor/advisor/internal/stack/stacktest"
	"github.com/pgadvisor/advisor/sampleapp"
	"github.com/pgadvisor/advisor/sampleapp/sampletest"
)

func TestTuneUsageErrors(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"tune", "--auto", "--size", "huge"}, "--size"},
		{[]string{"tune", "--auto", "--min-severity", "loud"}, "--min-severity"},
		{[]string{"tune", "--auto", "--duration", "2s"}, "no report window"},
		{[]string{"tune", "--auto", "--profile", "fast"}, "--profile"},
		{[]string{"tune", "--auto", "--connections", "0"}, "--connections"},
		{[]string{"tune", "--auto", "--target", "http://127.0.0.1:1"}, "--admin"},
		{[]string{"tune", "--target", "http://127.0.0.1:1", "--admin", "http://127.0.0.1:2"}, "needs a terminal"},
	} {
		code, _, stderr := runAdvisor(t, c.args...)
		if code != exitUsage || !strings.Contains(stderr, c.want) {
			t.Errorf("advisor %s: exit %d, stderr %q; want %d mentioning %q", strings.Join(c.args, " "), code, stderr, exitUsage, c.want)
		}
	}
}

// Attached to a sampleapp in the tuned profile, tune --auto finds nothing
// to fix, changes no knob, and writes its Markdown with the SVG chart.
func TestTuneAttachedToTunedSampleapp(t *testing.T) {
	if testing.Short() {
		t.Skip("needs the test stack and a few seconds of load")
	}
	info := stacktest.Start(t)
	dsn := sampletest.Database(t, "cmd_tune_attach", sampleapp.TestSize)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	sc, err := scenario.Start(ctx, scenario.Options{DSN: dsn, RedisAddr: info.RedisAddr, Profile: sampleapp.ProfileTuned, CacheNamespace: "cmd_tune_attach"})
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Close()
	before := sc.App.Settings().String()
	md := filepath.Join(t.TempDir(), "out", "tune.md")
	code, stdout, stderr := runAdvisor(t, "tune", "--auto", "--target", sc.App.URL, "--admin", sc.App.AdminURL,
		"--pg", dsn, "--redis", info.RedisAddr, "--duration", "5s", "--warmup", "1s", "--connections", "8",
		"--profile-seconds", "1", "--out", md)
	if code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	if after := sc.App.Settings().String(); after != before {
		t.Errorf("knobs changed: %s -> %s", before, after)
	}
	for _, want := range []string{"Steps", "(start)", "Fixes, in the order tune chose them\n  none\n", "Stopped: ", "Before / after"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, stdout)
		}
	}
	data, err := os.ReadFile(md)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), "![RPS and p95 per step](tune.svg)") || strings.Contains(string(data), dsn) {
		t.Errorf("markdown:\n%s", data)
	}
	if svg, err := os.ReadFile(filepath.Join(filepath.Dir(md), "tune.svg")); err != nil || !strings.HasPrefix(string(svg), "<svg") {
		t.Errorf("svg: %v", err)
	}
}

// TestTuneStartsSampleappApart: tune started without --target runs sampleapp
// as a process of its own (advisor sampleapp serve), sets its knobs through
// the admin endpoint, and stops it at the end. From the naive profile, the
// service's GOMAXPROCS=1 is its own: advisor's process, where the load
// generator and the probes run, keeps every CPU throughout the run (in
// advisor's process, the knob held them to one with the service).
func TestTuneStartsSampleappApart(t *testing.T) {
	if testing.Short() {
		t.Skip("needs the test stack and a few seconds of load")
	}
	if runtime.GOMAXPROCS(0) < 2 {
		t.Skip("needs two CPUs to tell the service's GOMAXPROCS from advisor's")
	}
	cfg, err := stacktest.Config()
	if err != nil {
		t.Fatal(err)
	}
	stacktest.Start(t)
	// A seeded copy: tune finds the data set in place and does not seed.
	const db = "cmd_tune_local"
	sampletest.Database(t, db, sampleapp.TestSize)

	procs := runtime.GOMAXPROCS(0)
	lowest := make(chan int, 1)
	done := make(chan struct{})
	go func() {
		low := procs
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-done:
				lowest <- low
				return
			case <-tick.C:
				low = min(low, runtime.GOMAXPROCS(0))
			}
		}
	}()
	// Up to four measurements: the start, the fix, and twice more if it
	// looked worse.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var out, errOut bytes.Buffer
	code := run(ctx, []string{"tune", "--auto", "--stack-dir", cfg.Dir, "--pg-port", strconv.Itoa(cfg.PGPort),
		"--redis-port", strconv.Itoa(cfg.RedisPort), "--database", db, "--size", "small", "--duration", "4s", "--warmup", "1s",
		"--connections", "8", "--profile-seconds", "1", "--max-steps", "1"}, &out, &errOut)
	close(done)
	stdout, stderr := out.String(), errOut.String()
	if code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	if low := <-lowest; low != procs {
		t.Errorf("advisor's GOMAXPROCS fell to %d of %d during the run: the service ran in its process", low, procs)
	}
	m := regexp.MustCompile(`sampleapp started by tune as process (\d+) in the naive profile`).FindStringSubmatch(stdout)
	if m == nil {
		t.Fatalf("stdout does not name sampleapp's process:\n%s", stdout)
	}
	pid, _ := strconv.Atoi(m[1])
	if pid == os.Getpid() {
		t.Errorf("sampleapp's process %d is advisor's", pid)
	}
	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("sampleapp's process %d is still there after tune: %v", pid, err)
	}
	// One fix, set in the service through its admin endpoint.
	if !strings.Contains(stdout, "Fixes, in the order tune chose them\n  step 1: ") {
		t.Errorf("no fix applied:\n%s", stdout)
	}
}
