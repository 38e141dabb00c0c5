package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/pgadvisor/advisor/internal/scenario"
	"github.com/pgadvisor/advisor/internal/stack/stacktest"
	"github.com/pgadvisor/advisor/sampleapp"
	"github.com/pgadvisor/advisor/sampleapp/sampletest"
)

func TestAttachUsageErrorsExitTwo(t *testing.T) {
	for _, args := range [][]string{
		{"attach"}, // no source
		{"attach", "--target", "http://127.0.0.1:1", "--interval", "10ms"},
		{"attach", "--target", "http://127.0.0.1:1", "--profile-seconds", "0"},
		{"attach", "--target", "http://127.0.0.1:1", "--export-dir", filepath.Join(t.TempDir(), "missing")},
		{"attach", "--target", "http://127.0.0.1:1", "extra"},
		{"demo", "--size", "huge"},
		{"demo", "--rate", "0"},
	} {
		code, _, stderr := runCaptured(t, args...)
		if code != exitUsage {
			t.Errorf("advisor %s: exit %d, want %d (stderr %q)", strings.Join(args, " "), code, exitUsage, stderr)
		}
	}
}

// TestAttachWithoutTerminal: attach needs a terminal and says which report
// command gives the same sources, with secrets redacted.
func TestAttachWithoutTerminal(t *testing.T) {
	code, stdout, stderr := runCaptured(t, "attach", "--target", "http://127.0.0.1:8080",
		"--pg", "postgres://app:s3cret@db.internal:5432/app", "--redis", "127.0.0.1:6379", "--interval", "5s",
		"--header", "Authorization: Bearer t0ken", "--insecure-skip-verify", "--no-config")
	if code != exitUsage {
		t.Errorf("exit %d, want %d", code, exitUsage)
	}
	// A bool flag is given without a value, which would be an argument.
	want := "advisor report --no-config --target http://127.0.0.1:8080 --pg postgres://app:xxxxx@db.internal:5432/app --redis 127.0.0.1:6379 --header 'Authorization: xxxxx' --insecure-skip-verify\n"
	if !strings.Contains(stdout, want) {
		t.Errorf("stdout does not hold %q:\n%s", want, stdout)
	}
	if strings.Contains(stdout+stderr, "s3cret") || strings.Contains(stdout+stderr, "t0ken") {
		t.Error("a secret shows")
	}
	if !strings.Contains(stderr, "not a terminal") {
		t.Errorf("stderr %q", stderr)
	}
}

func TestShellQuote(t *testing.T) {
	for in, want := range map[string]string{
		"127.0.0.1:6379": "127.0.0.1:6379",
		"postgres://a@h:1/db?sslmode=disable&passfile=/x/pgpass": "'postgres://a@h:1/db?sslmode=disable&passfile=/x/pgpass'",
		"it's":        `'it'\''s'`,
		"":            "''",
		"host=h db=x": "'host=h db=x'",
	} {
		if got := shellQuote(in); got != want {
			t.Errorf("shellQuote(%q) = %s, want %s", in, got, want)
		}
	}
}

// tmux runs tmux on a server of the test's own.
type tmux struct {
	t      *testing.T
	socket string
}

func (x *tmux) run(args ...string) (string, error) {
	cmd := exec.Command("tmux", append([]string{"-L", x.socket}, args...)...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

func (x *tmux) capture() string {
	out, err := x.run("capture-pane", "-p", "-t", "attach")
	if err != nil {
		x.t.Logf("capture-pane: %v: %s", err, out)
	}
	return out
}

// waitFor captures the screen until cond holds or the time is up.
func (x *tmux) waitFor(d time.Duration, what string, cond func(screen string) bool) string {
	x.t.Helper()
	deadline := time.Now().Add(d)
	var screen string
	for time.Now().Before(deadline) {
		screen = x.capture()
		if cond(screen) {
			return screen
		}
		time.Sleep(300 * time.Millisecond)
	}
	x.t.Fatalf("after %s the screen does not show %s:\n%s", d, what, screen)
	return ""
}

var findingRow = regexp.MustCompile(`(?m)^[> ] (CRIT|WARN|INFO) +[0-9.]+% +(high|med|low|-) +[a-z]+\.[a-z-]+ `)

// TestAttachTmux runs the real binary in a terminal (tmux) against sampleapp
// under load, switches panes with the keys a person would press and reads
// the screen.
func TestAttachTmux(t *testing.T) {
	if testing.Short() {
		t.Skip("end to end")
	}
	if _, err := exec.LookPath("tmux"); err != nil {
		t.Skip("tmux is not installed (make setup installs it): skipping the terminal test")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	bin := buildAdvisor(ctx, t)

	info := stacktest.Start(t)
	dsn := sampletest.Database(t, "cmd_attach_tmux", sampleapp.TestSize)
	sc, err := scenario.Start(ctx, scenario.Options{DSN: dsn, RedisAddr: info.RedisAddr, Profile: "naive", CacheNamespace: "attach-tmux"})
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Close()
	cfg := sc.LoadConfig(8, 0)
	cfg.Rate = 40
	stopLoad := backgroundLoad(ctx, t, cfg)
	defer stopLoad() // before the service closes

	x := &tmux{t: t, socket: fmt.Sprintf("advisor-attach-test-%d", os.Getpid())}
	exportDir := t.TempDir()
	command := strings.Join([]string{bin, "attach", "--target", sc.App.URL, "--pg", shellQuote(dsn), "--redis", info.RedisAddr,
		"--interval", "1s", "--profile-seconds", "1", "--export-dir", exportDir, "2>", filepath.Join(exportDir, "stderr.txt")}, " ")
	if out, err := x.run("new-session", "-d", "-s", "attach", "-x", "120", "-y", "40", command); err != nil {
		t.Fatalf("tmux new-session: %v: %s", err, out)
	}
	t.Cleanup(func() { _, _ = x.run("kill-server") })

	x.waitFor(60*time.Second, "every source ok and a window", func(s string) bool {
		return strings.Contains(s, "pprof ok  metrics ok  postgres ok  redis ok") && strings.Contains(s, "window ")
	})
	// The queries of the live service.
	x.run("send-keys", "-t", "attach", "3")
	x.waitFor(30*time.Second, "sampleapp's statements", func(s string) bool {
		return strings.Contains(s, "[3 Queries]") && strings.Contains(s, "FROM events")
	})
	// Its findings: the naive profile opens a connection per request, calls
	// its own services over HTTP, and more.
	x.run("send-keys", "-t", "attach", "2")
	screen := x.waitFor(60*time.Second, "findings of the live service", func(s string) bool {
		return strings.Contains(s, "[2 Findings]") && findingRow.MatchString(s)
	})
	t.Logf("findings pane:\n%s", screen)
	x.run("send-keys", "-t", "attach", "Enter")
	x.waitFor(10*time.Second, "a finding's detail", func(s string) bool {
		return strings.Contains(s, "Evidence") && strings.Contains(s, "Fix")
	})
	x.run("send-keys", "-t", "attach", "Escape")
	x.waitFor(10*time.Second, "the list again", func(s string) bool { return findingRow.MatchString(s) })
	x.run("send-keys", "-t", "attach", "e")
	x.waitFor(10*time.Second, "the export", func(s string) bool { return strings.Contains(s, "report written to") })
	matches, _ := filepath.Glob(filepath.Join(exportDir, "advisor-report-*.json"))
	if len(matches) != 1 {
		t.Errorf("exported %v", matches)
	}
	// A CPU profile on demand, shown in the Runtime pane. The two keys go
	// together, as when typed fast.
	x.run("send-keys", "-t", "attach", "7p")
	x.waitFor(30*time.Second, "the CPU profile's top functions", func(s string) bool {
		return strings.Contains(s, "[7 Runtime]") && strings.Contains(s, "top functions by flat time")
	})
	x.run("send-keys", "-t", "attach", "q")
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := x.run("has-session", "-t", "attach"); err != nil {
			break // the program exited and took its session with it
		}
		if time.Now().After(deadline) {
			t.Fatalf("advisor attach still runs 10s after q:\n%s", x.capture())
		}
		time.Sleep(200 * time.Millisecond)
	}
	if data, _ := os.ReadFile(filepath.Join(exportDir, "stderr.txt")); strings.Contains(string(data), "panic") {
		t.Errorf("stderr:\n%s", data)
	}
}

// TestAttachStopsEveryGoroutine: once attach returns, nothing it started is
// still running, not even the wait for a next reading due long after it
// stopped.
func TestAttachStopsEveryGoroutine(t *testing.T) {
	info := stacktest.Start(t)
	dsn := stacktest.NewDatabase(t, "attach_goleak")
	target := httptest.NewServer(pprofMux())
	defer target.Close()
	before := goleak.IgnoreCurrent()
	code, _, stderr := runCaptured(t, "attach", "--headless", "--duration", "1500ms", "--interval", "30s",
		"--target", target.URL, "--pg", dsn, "--redis", info.RedisAddr)
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !headlessLine.MatchString(stderr) {
		t.Fatalf("no analysis logged:\n%s", stderr)
	}
	// The target's side of connections attach closed ends on its own.
	target.CloseClientConnections()
	goleak.VerifyNone(t, before)
}
