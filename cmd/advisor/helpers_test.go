package main

import (
	"context"
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
	"github.com/pgadvisor/advisor/sampleapp/sampletest"
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

// startSampleappProcess builds sampleapp and runs it as a process of its own
// on dsn and redisAddr with the given serve flags, until the test ends, and
// returns its base URL once it answers.
func startSampleappProcess(ctx context.Context, t testing.TB, dsn, redisAddr string, flags ...string) string {
	t.Helper()
	return sampletest.StartProcess(ctx, t, dsn, redisAddr, flags...).Base
}

// buildSampleapp builds the sampleapp command, once per test run, and
// returns its path.
func buildSampleapp(ctx context.Context, t testing.TB) string {
	t.Helper()
	return sampletest.Sampleapp.Path(ctx, t)
}

// advisorBinary is this command, built by the first test that runs it.
var advisorBinary = &sampletest.Binary{Name: "advisor", Pkg: "."}

// buildAdvisor builds this command, once per test run, and returns its path.
func buildAdvisor(ctx context.Context, t testing.TB) string {
	t.Helper()
	return advisorBinary.Path(ctx, t)
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
