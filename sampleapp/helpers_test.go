package sampleapp

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgadvisor/advisor/internal/stack/stacktest"
)

// testSize is smaller than TestSize: enough for every code path, quick to
// load.
var testSize = Size{Users: 500, Events: 20_000, Products: 200, Orders: 1_500, PayloadBytes: 2_600}

var (
	sharedOnce sync.Once
	sharedDSN  string
	sharedErr  error
)

// sharedDB is one database seeded once for the tests that only read, or
// write in ways other tests do not mind.
func sharedDB(t *testing.T) string {
	t.Helper()
	sharedOnce.Do(func() {
		sharedDSN = stacktest.NewDatabase(t, "sampleapp_shared")
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		_, sharedErr = Seed(ctx, sharedDSN, testSize, false)
	})
	if sharedErr != nil {
		t.Fatalf("seed: %v", sharedErr)
	}
	return sharedDSN
}

// startApp starts a service on dsn with the tuned profile plus knobs, and
// closes it at the end of the test. GOMAXPROCS is restored afterwards.
func startApp(t *testing.T, dsn string, knobs map[string]string, mod ...func(*Config)) *App {
	t.Helper()
	procs := runtime.GOMAXPROCS(0)
	t.Cleanup(func() { runtime.GOMAXPROCS(procs) })
	cfg := Config{
		DSN: dsn, RedisAddr: stacktest.Start(t).RedisAddr, Profile: ProfileTuned, Knobs: knobs,
		// Redis outlives test runs: a fresh namespace per run.
		CacheNamespace: "sampleapp-test-" + strings.ReplaceAll(t.Name(), "/", "-") + "-" + strconv.FormatInt(time.Now().UnixNano(), 36),
		Logger:         slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	for _, m := range mod {
		m(&cfg)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	app, err := Start(ctx, cfg)
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	t.Cleanup(func() {
		if err := app.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return app
}

// do sends a request with the load-test token (or token when given) and
// returns the status and body.
func do(t *testing.T, method, url, body string, header ...string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+LoadTestToken)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(header); i += 2 {
		if header[i+1] == "" {
			req.Header.Del(header[i])
		} else {
			req.Header.Set(header[i], header[i+1])
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b
}

func mustStatus(t *testing.T, want int, method, url, body string, header ...string) []byte {
	t.Helper()
	code, b := do(t, method, url, body, header...)
	if code != want {
		t.Fatalf("%s %s: status %d, want %d: %s", method, url, code, want, b)
	}
	return b
}

func metricsOf(t *testing.T, app *App) samples {
	t.Helper()
	s, err := scrape(context.Background(), app.URL)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// gauge returns the value of an unlabelled gauge (or counter) in s.
func (s samples) value(name string) (float64, bool) {
	f := s[name]
	if f == nil || len(f.GetMetric()) == 0 {
		return 0, false
	}
	m := f.GetMetric()[0]
	if g := m.GetGauge(); g != nil {
		return g.GetValue(), true
	}
	if c := m.GetCounter(); c != nil {
		return c.GetValue(), true
	}
	if u := m.GetUntyped(); u != nil {
		return u.GetValue(), true
	}
	return 0, false
}

// feedQueries runs n feed requests and returns the queries per request and
// the hops per request the metrics counted.
func feedQueries(t *testing.T, app *App, n int) (queries, hops float64) {
	t.Helper()
	before := metricsOf(t, app)
	for i := 1; i <= n; i++ {
		mustStatus(t, http.StatusOK, "GET", app.URL+"/users/"+itoa(int64(i*7))+"/feed", "")
	}
	after := metricsOf(t, app)
	reqs := after.routeRequests(feedRoute) - before.routeRequests(feedRoute)
	if reqs != float64(n) {
		t.Fatalf("feed requests counted %v, want %d", reqs, n)
	}
	return queriesPerFeed(before, after), (after.hops() - before.hops()) / reqs
}

func itoa(i int64) string { return strconv.FormatInt(i, 10) }

func connect(t *testing.T, dsn string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

func decode[T any](t *testing.T, b []byte) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
	return v
}

// eventually polls cond every 50 ms until it holds or d passes.
func eventually(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, d)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
