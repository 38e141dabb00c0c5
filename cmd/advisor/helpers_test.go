package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgadvisor/advisor/internal/load"
	"github.com/pgadvisor/advisor/internal/scenario"
	"github.com/pgadvisor/advisor/internal/stack"
	"github.com/pgadvisor/advisor/sampleapp"
)

// backgroundLoad runs the load generator until the returned stop is called
// (or the test ends); stop waits for it to finish.
func backgroundLoad(ctx context.Context, t testing.TB, cfg load.Config) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = load.Run(ctx, cfg)
	}()
	var once sync.Once
	stop = func() { once.Do(func() { cancel(); <-done }) }
	t.Cleanup(stop)
	return stop
}

// readOnlyRole creates a login role with only pg_monitor in the database dsn
// names, dropped when the test ends, and returns a DSN for it (with its
// password, without the stack's passfile) and an admin connection.
func readOnlyRole(ctx context.Context, t testing.TB, dsn, role, password string) (roDSN string, admin *pgx.Conn) {
	t.Helper()
	admin, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Close(context.Background()) })
	drop := "DROP ROLE IF EXISTS " + pgx.Identifier{role}.Sanitize()
	_, _ = admin.Exec(ctx, drop)
	if _, err := admin.Exec(ctx, "CREATE ROLE "+pgx.Identifier{role}.Sanitize()+" LOGIN PASSWORD '"+password+"' IN ROLE pg_monitor"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = admin.Exec(context.Background(), drop) })
	return strings.Split(strings.Replace(dsn, "advisor@", role+":"+password+"@", 1), "&passfile=")[0], admin
}

// ownStack starts a private stack of the test's own on the given ports,
// stopped when the test ends.
func ownStack(ctx context.Context, t testing.TB, pgPort, redisPort int) (*stack.Stack, stack.Info) {
	t.Helper()
	s, err := stack.New(stack.Config{Dir: filepath.Join(t.TempDir(), "stack"), PGPort: pgPort, RedisPort: redisPort})
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Up(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Down(context.Background()) })
	return s, info
}

// sampleappProc is a sampleapp process: the base URL of its API and of its
// admin endpoint (the knobs), its pid, and stop, which stops it (also called
// when the test ends).
type sampleappProc struct {
	base, admin string
	pid         int
	stop        func()
}

// startSampleappProcess builds sampleapp and runs it as a process of its own
// on dsn and redisAddr with the given serve flags, until the test ends, and
// returns its base URL once it answers.
func startSampleappProcess(ctx context.Context, t testing.TB, dsn, redisAddr string, flags ...string) string {
	t.Helper()
	return startSampleapp(ctx, t, dsn, redisAddr, flags...).base
}

// startSampleapp is startSampleappProcess returning the whole sampleappProc.
func startSampleapp(ctx context.Context, t testing.TB, dsn, redisAddr string, flags ...string) sampleappProc {
	t.Helper()
	return runSampleapp(t, buildSampleapp(ctx, t), dsn, redisAddr, flags...)
}

// buildSampleapp builds the sampleapp command, once per test run, and
// returns its path.
func buildSampleapp(ctx context.Context, t testing.TB) string {
	t.Helper()
	return sampleappBinary.path(ctx, t, "sampleapp", "../../sampleapp/cmd/sampleapp")
}

// buildAdvisor builds this command, once per test run, and returns its path.
func buildAdvisor(ctx context.Context, t testing.TB) string {
	t.Helper()
	return advisorBinary.path(ctx, t, "advisor", ".")
}

// binDir holds the commands the tests build, removed when the tests end
// (TestMain).
var binDir = sync.OnceValues(func() (string, error) { return os.MkdirTemp("", "advisor-test-bin-") })

// builtBinary is a command built by the first test that needs it and run by
// the others: a build links a binary of tens of megabytes, seconds of CPU.
type builtBinary struct {
	mu   sync.Mutex
	bin  string
	fail string
}

var sampleappBinary, advisorBinary builtBinary

// path builds pkg into binDir as name the first time, and returns its path.
// A failed build is reported to every test that asks; a build cut short by
// the asking test's context is tried again by the next one.
func (b *builtBinary) path(ctx context.Context, t testing.TB, name, pkg string) string {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.bin == "" && b.fail == "" {
		dir, err := binDir()
		if err != nil {
			t.Fatal(err)
		}
		bin := filepath.Join(dir, name)
		out, err := exec.CommandContext(ctx, "go", "build", "-o", bin, pkg).CombinedOutput()
		switch {
		case err == nil:
			b.bin = bin
		case ctx.Err() != nil:
			t.Fatalf("build %s: %v", name, ctx.Err())
		default:
			b.fail = fmt.Sprintf("build %s: %v\n%s", name, err, out)
		}
	}
	if b.fail != "" {
		t.Fatal(b.fail)
	}
	return b.bin
}

// median is the median of xs (which it does not change), 0 for none.
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// runSampleapp runs `bin serve` on free loopback ports with flags and
// returns it once it answers /health. The service takes the ports itself
// (port 0) and logs them: a port found free here and closed again can be
// taken by another process before the service listens on it (a CI run
// failed so, "address already in use", with the reference targets' tests
// starting services beside these).
func runSampleapp(t testing.TB, bin, dsn, redisAddr string, flags ...string) sampleappProc {
	t.Helper()
	args := append([]string{"serve", "--pg", dsn, "--redis", redisAddr, "--addr", "127.0.0.1:0", "--admin-addr", "127.0.0.1:0"}, flags...)
	svc := exec.Command(bin, args...)
	stderr := &lockedBuffer{}
	svc.Stderr = stderr
	if err := svc.Start(); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	stop := func() {
		once.Do(func() {
			_ = svc.Process.Signal(os.Interrupt)
			_ = svc.Wait()
		})
	}
	t.Cleanup(stop)
	var err error
	for i := 0; ; i++ {
		if base, admin, ok := sampleappStarted(stderr.String()); ok {
			var resp *http.Response
			if resp, err = http.Get(base + "/health"); err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					return sampleappProc{base: base, admin: admin, pid: svc.Process.Pid, stop: stop}
				}
			}
		}
		if i == 100 {
			stop()
			t.Fatalf("sampleapp %v did not start: %v\n%s", flags, err, stderr.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// sampleappStarted reads the API and admin URLs from the "sampleapp
// started" line of the service's log, once it is there.
func sampleappStarted(log string) (api, admin string, ok bool) {
	for line := range strings.Lines(log) {
		var l struct {
			Msg   string `json:"msg"`
			API   string `json:"api"`
			Admin string `json:"admin"`
		}
		if json.Unmarshal([]byte(line), &l) == nil && l.Msg == "sampleapp started" && l.API != "" && l.Admin != "" {
			return l.API, l.Admin, true
		}
	}
	return "", "", false
}

// primeFeeds fills the service's cache with every feed of lc's load mix
// (sampleapp.PrimeFeeds).
func primeFeeds(ctx context.Context, t testing.TB, lc load.Config) {
	t.Helper()
	start := time.Now()
	n, err := sampleapp.PrimeFeeds(ctx, lc, 8)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("primed %d feeds in %s", n, time.Since(start).Round(time.Millisecond))
}

// awaitSteadyHitRatio waits, while a load runs, until the hit ratio of the
// Redis at addr has settled (scenario.AwaitSteadyHitRatio), and lets the
// test observe what there is when it does not within maxWait.
func awaitSteadyHitRatio(ctx context.Context, t testing.TB, addr string, minWait, maxWait time.Duration) {
	t.Helper()
	start := time.Now()
	settled, trace, err := scenario.AwaitSteadyHitRatio(ctx, addr, minWait, maxWait)
	if err != nil {
		t.Fatal(err)
	}
	if settled {
		t.Logf("redis hit ratio settled in %s: %s", time.Since(start).Round(time.Millisecond), trace)
	} else {
		t.Logf("redis hit ratio not settled after %s: %s", maxWait, trace)
	}
}
