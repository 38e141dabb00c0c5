package sampleproc_test

import (
	"context"
	"errors"
	"net/http"
	"os"
	"strings"
	"syscall"
	"testing"

	"github.com/pgadvisor/advisor/internal/stack/stacktest"
	"github.com/pgadvisor/advisor/sampleapp"
	"github.com/pgadvisor/advisor/sampleapp/sampleproc"
	"github.com/pgadvisor/advisor/sampleapp/sampletest"
)

// TestStartStop: the service answers on the ports it logged, and Stop
// interrupts it: a clean exit, and no process left.
func TestStartStop(t *testing.T) {
	if testing.Short() {
		t.Skip("needs the test stack")
	}
	info := stacktest.Start(t)
	dsn := sampletest.Database(t, "sampleproc", sampleapp.TestSize)
	ctx := context.Background()
	p, err := sampleproc.Start(ctx, []string{sampletest.Sampleapp.Path(ctx, t), "serve"}, dsn, info.RedisAddr,
		"--profile", sampleapp.ProfileTuned, "--cache-namespace", "sampleproc")
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range []string{p.Base + "/health", p.Admin + "/knobs"} {
		resp, err := http.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("%s: %s", u, resp.Status)
		}
	}
	if err := p.Stop(); err != nil {
		t.Errorf("stop: %v", err)
	}
	if err := syscall.Kill(p.PID, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("process %d still there after Stop: %v", p.PID, err)
	}
	if err := p.Stop(); err != nil {
		t.Errorf("second stop: %v", err)
	}
	if !strings.Contains(p.Log(), "sampleapp started") {
		t.Errorf("log:\n%s", p.Log())
	}
}

// TestStartFails: a service that exits before it serves is an error that
// says so, with its last log lines; one that is not a service at all too.
func TestStartFails(t *testing.T) {
	ctx := context.Background()
	bin := sampletest.Sampleapp.Path(ctx, t)
	// Nothing listens on port 1: the migration fails and the service exits.
	_, err := sampleproc.Start(ctx, []string{bin, "serve"}, "postgres://nobody@127.0.0.1:1/none?connect_timeout=2", "127.0.0.1:1")
	if err == nil || !strings.Contains(err.Error(), "exited") || !strings.Contains(err.Error(), "127.0.0.1:1") {
		t.Errorf("unreachable database: %v", err)
	}
	if _, err := sampleproc.Start(ctx, []string{"/nonexistent/sampleapp", "serve"}, "dsn", "addr"); err == nil {
		t.Error("a missing program started")
	}
	if _, err := sampleproc.Start(ctx, nil, "dsn", "addr"); err == nil {
		t.Error("no command started")
	}
}

func TestStarted(t *testing.T) {
	api, admin, ok := sampleproc.Started(`{"time":"2026-12-05T18:00:00Z","level":"INFO","msg":"sampleapp started","api":"http://127.0.0.1:4000","admin":"http://127.0.0.1:4001"}`)
	if !ok || api != "http://127.0.0.1:4000" || admin != "http://127.0.0.1:4001" {
		t.Errorf("started line: %q %q %v", api, admin, ok)
	}
	for _, line := range []string{`{"msg":"sampleapp started","api":"http://x"}`, `{"msg":"other","api":"a","admin":"b"}`, "not json"} {
		if _, _, ok := sampleproc.Started(line); ok {
			t.Errorf("%s: read as the started line", line)
		}
	}
}

func TestMain(m *testing.M) {
	code := m.Run()
	sampletest.RemoveBinaries()
	os.Exit(code)
}
