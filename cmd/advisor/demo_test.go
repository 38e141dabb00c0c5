package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pgadvisor/advisor/internal/stack"
)

// Ports of this test's own stack, apart from the demo's and the test
// suite's.
const (
	demoTestPGPort    = 25492
	demoTestRedisPort = 26492
)

// TestDemoWithoutTerminal runs advisor demo with its output to a buffer: it
// starts the stack and the service, prints one report and the command for
// its sources, and stops what it started — the stack too, unless it was
// running before.
func TestDemoWithoutTerminal(t *testing.T) {
	if testing.Short() {
		t.Skip("end to end")
	}
	// A stack of its own, and it checks what the demo prints, not what it
	// measures: it can wait for its servers while another test runs.
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "stack")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	// PostgreSQL runs as its own user when the tests run as root: let it
	// reach the directory.
	_ = os.Chmod(filepath.Dir(dir), 0o755)
	cfg := stack.Config{Dir: dir, PGPort: demoTestPGPort, RedisPort: demoTestRedisPort}
	s, err := stack.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		_ = s.Down(ctx)
	})
	running := func() int {
		n := 0
		for _, p := range s.Status(context.Background()) {
			if p.State == stack.Running {
				n++
			}
		}
		return n
	}
	args := []string{"demo", "--stack-dir", dir, "--pg-port", "25492", "--redis-port", "26492", "--window", "3s", "--profile-seconds", "1"}

	code, stdout, stderr := runCaptured(t, args...)
	if code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	for _, want := range []string{"advisor report  ", "printed one 3", "postgres  ok", "redis     ok", "metrics   ok",
		"advisor report --target http://127.0.0.1:", "/advisor_demo?", "--redis 127.0.0.1:26492"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, stdout)
		}
	}
	if !strings.Contains(stderr, "stopping the private stack") {
		t.Errorf("stderr:\n%s", stderr)
	}
	if n := running(); n != 0 {
		t.Errorf("%d parts of the stack still run after the demo that started them", n)
	}

	// A stack that ran before the demo runs after it.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if _, err := s.Up(ctx); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr = runCaptured(t, args...)
	if code != 0 || !strings.Contains(stdout, "advisor report --target") {
		t.Fatalf("second run: exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	if strings.Contains(stderr, "stopping the private stack") {
		t.Errorf("the demo stopped a stack it did not start:\n%s", stderr)
	}
	if n := running(); n != 2 {
		t.Errorf("%d parts of the stack run after the demo, want 2", n)
	}
}
