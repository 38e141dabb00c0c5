package main

import (
	"bytes"
	"context"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"testing"

	"go.uber.org/goleak"

	"github.com/pgadvisor/advisor/sampleapp/sampletest"
)

// asAdvisor is set in the environment of the processes the tests' advisor
// starts from its own executable (tune's sampleapp serve): the test binary,
// run so, is advisor.
const asAdvisor = "ADVISOR_TEST_BINARY_AS_ADVISOR"

// TestMain fails the run if a goroutine that a test started (an attach, a
// report, a tune run, a sampleapp in process) is still running at the end,
// and removes the commands the tests built. Run with asAdvisor set, it is
// advisor.
func TestMain(m *testing.M) {
	if os.Getenv(asAdvisor) == "1" {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
		stop()
		os.Exit(code)
	}
	if err := os.Setenv(asAdvisor, "1"); err != nil {
		panic(err)
	}
	goleak.VerifyTestMain(m,
		// go-redis retries a failed dial in a goroutine that sleeps a
		// second between tries and ends at its first wake after the
		// client is closed: a test that met a Redis that is down, run
		// last, would otherwise fail on it (seen running one alone).
		goleak.IgnoreAnyFunction("github.com/redis/go-redis/v9/internal/pool.(*ConnPool).tryDial"),
		goleak.Cleanup(func(code int) {
			sampletest.RemoveBinaries()
			os.Exit(code)
		}))
}

// runCaptured runs the command tree in-process and returns its exit code,
// stdout and stderr.
func runCaptured(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(context.Background(), args, &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestUsageErrorsExitTwo(t *testing.T) {
	for _, args := range [][]string{
		{"--no-such-flag"},
		{"stack", "up", "--no-such-flag"},
		{"stack", "status", "extra-arg"},
		{"no-such-command"},
	} {
		code, _, stderr := runCaptured(t, args...)
		if code != exitUsage {
			t.Errorf("advisor %s: exit %d, want %d (stderr %q)", strings.Join(args, " "), code, exitUsage, stderr)
		}
		if !strings.Contains(stderr, "advisor:") {
			t.Errorf("advisor %s: stderr %q does not say what went wrong", strings.Join(args, " "), stderr)
		}
	}
}

func TestStackStatusPrintsEachPart(t *testing.T) {
	var buf bytes.Buffer
	root := newRootCmd()
	root.SetOut(&buf)
	root.SetArgs([]string{"stack", "status", "--stack-dir", t.TempDir(), "--pg-port", "55499", "--redis-port", "56499"})
	if err := root.ExecuteContext(context.Background()); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, want := range []string{"postgresql", "redis", "stopped", "127.0.0.1:56499", "127.0.0.1:55499"} {
		if !strings.Contains(out, want) {
			t.Errorf("status output lacks %q:\n%s", want, out)
		}
	}
}
