package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
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
