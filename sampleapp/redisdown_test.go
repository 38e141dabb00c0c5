package sampleapp

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/pgadvisor/advisor/internal/stack"
	"github.com/pgadvisor/advisor/internal/stack/stacktest"
)

const (
	// redisDownPort is the port of TestRedisDown's own Redis (the promises
	// test has 26476).
	redisDownPort = 26477
	// redisDownBudget bounds each request while Redis is down. A request
	// that finds Redis down pays a refused dial at most, then skips the
	// cache: a few ms. go-redis's defaults (5 dials 100 ms apart per
	// connection, 3 command retries) made the first requests of an outage
	// take seconds (3.9 s for the first order). The bound leaves room for a
	// 2-core machine busy with other test packages.
	redisDownBudget = time.Second
)

// TestRedisDown: Redis is a cache. While it is down, requests with the cache
// on answer 2xx in a few ms from PostgreSQL instead of waiting on go-redis's
// retries; an instance starts without it (with a warning); once Redis is back
// both instances cache in it again.
func TestRedisDown(t *testing.T) {
	ctx := context.Background()
	stacktest.Start(t)
	dsn := stacktest.NewDatabase(t, "sampleapp_redisdown")
	size := Size{Users: 60, Events: 600, Products: 30, Orders: 20, PayloadBytes: 600}
	if _, err := Seed(ctx, dsn, size, false); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	rd, err := stack.StartRedis(ctx, dir, redisDownPort, stack.RedisOptions{})
	if err != nil {
		t.Fatalf("start redis: %v", err)
	}
	t.Cleanup(func() {
		if err := rd.Stop(context.Background()); err != nil {
			t.Errorf("stop redis: %v", err)
		}
	})
	logs := &lockedBuffer{}
	redis.SetLogger(redisLogger{logs}) // go-redis's "failed to dial" lines
	t.Cleanup(func() { redis.SetLogger(redisLogger{os.Stderr}) })
	cfg := func(c *Config) {
		c.RedisAddr = rd.Addr()
		c.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	rc := redis.NewClient(&redis.Options{Addr: rd.Addr(), MaxRetries: -1})
	defer rc.Close()
	cached := func(app *App, kind string, id int64) bool {
		n, err := rc.Exists(ctx, app.cacheKey(kind, id)).Result()
		return err == nil && n == 1
	}

	// The tuned profile: cache=redis, queued follow-up work.
	app := startApp(t, dsn, nil, cfg)
	mustStatus(t, http.StatusOK, "GET", app.URL+"/users/1", "")
	if !cached(app, "profile", 1) {
		t.Fatal("profile 1 not cached in Redis while it is up")
	}

	// Each request in time and 2xx while Redis is down: an order (a profile
	// read, then a feed invalidation), a feed and a profile (a read and a
	// write each), for users not cached yet.
	var slowest time.Duration
	var slowestWhat string
	timed := func(app *App, want int, method, path, body string) {
		t.Helper()
		start := time.Now()
		code, b := do(t, method, app.URL+path, body)
		took := time.Since(start)
		if code != want {
			t.Fatalf("%s %s with Redis down: status %d, want %d: %s", method, path, code, want, b)
		}
		if took > slowest {
			slowest, slowestWhat = took, method+" "+path
		}
		if took > redisDownBudget {
			t.Errorf("%s %s with Redis down took %s, want under %s", method, path, took.Round(time.Millisecond), redisDownBudget)
		}
	}
	requests := func(app *App, users ...int64) {
		t.Helper()
		for _, u := range users {
			timed(app, http.StatusCreated, "POST", "/orders", fmt.Sprintf(`{"user_id": %d, "items": [{"product_id": %d, "quantity": 1}]}`, u, 1+u%size.Products))
			timed(app, http.StatusOK, "GET", "/users/"+itoa(u)+"/feed", "")
			timed(app, http.StatusOK, "GET", "/users/"+itoa(u), "")
		}
	}
	if err := rd.Stop(ctx); err != nil {
		t.Fatalf("stop redis: %v", err)
	}
	requests(app, 2, 3, 4, 5, 6)
	time.Sleep(1200 * time.Millisecond) // past the cache's skip window: Redis is tried again, and down
	requests(app, 7, 8, 9)
	// A cache outage is not an outage of the service.
	if b := mustStatus(t, http.StatusOK, "GET", app.URL+"/health", ""); !strings.Contains(string(b), `"status":"degraded"`) ||
		!strings.Contains(string(b), `"redis":"unreachable"`) {
		t.Errorf("/health with Redis down: %s", b)
	}

	// An instance (API and workers) starts while Redis is down, warns, and
	// serves.
	app2 := startApp(t, dsn, nil, cfg)
	if logs.count(`msg="redis unreachable at start`) != 1 {
		t.Errorf("no warning about Redis at start; logs:\n%s", logs.tail(20))
	}
	requests(app2, 10, 11, 12)
	t.Logf("with Redis down: slowest request %s (%s); %d cache calls skipped", slowest.Round(time.Millisecond), slowestWhat,
		int(cacheSkipped(t, app)+cacheSkipped(t, app2)))
	if cacheSkipped(t, app) == 0 {
		t.Error("no cache call skipped while Redis was down")
	}

	// Redis back (empty: the test servers do not persist): both instances
	// cache in it again.
	if rd, err = stack.StartRedis(ctx, dir, redisDownPort, stack.RedisOptions{}); err != nil {
		t.Fatalf("start redis again: %v", err)
	}
	back := time.Now()
	for i, a := range []*App{app, app2} {
		u := int64(20 + i)
		eventually(t, 5*time.Second, fmt.Sprintf("instance %d caching profiles and feeds in Redis again", i+1), func() bool {
			mustStatus(t, http.StatusOK, "GET", a.URL+"/users/"+itoa(u), "")
			mustStatus(t, http.StatusOK, "GET", a.URL+"/users/"+itoa(u)+"/feed", "")
			return cached(a, "profile", u) && cached(a, "feed", u)
		})
		mustStatus(t, http.StatusOK, "GET", a.URL+"/health", "")
	}
	t.Logf("cache used again %s after Redis answered", time.Since(back).Round(10*time.Millisecond))
}

// cacheSkipped is the number of cache calls app skipped because Redis had
// just failed.
func cacheSkipped(t *testing.T, app *App) float64 {
	t.Helper()
	v, _ := metricsOf(t, app).value("sampleapp_cache_skipped_total")
	return v
}

// TestShutdownCancelsStuckJobs: when the graceful stop of the workers does
// not finish within Config.ShutdownTimeout (a job stuck on an SMTP server
// that never answers), Close cancels the running jobs, river makes them
// available again, and only then are the pools closed: another instance
// completes the job at once, rather than river rescuing it minutes later.
func TestShutdownCancelsStuckJobs(t *testing.T) {
	ctx := context.Background()
	stacktest.Start(t)
	dsn := stacktest.NewDatabase(t, "sampleapp_shutdown")
	if _, err := Seed(ctx, dsn, Size{Users: 10, Events: 100, Products: 10, Orders: 5, PayloadBytes: 100}, false); err != nil {
		t.Fatal(err)
	}
	const budget = 500 * time.Millisecond
	app := startApp(t, dsn, nil, func(c *Config) { c.Workers = 2; c.ShutdownTimeout = budget })
	app.sink.hang.Store(true)
	order := decode[Order](t, mustStatus(t, http.StatusCreated, "POST", app.URL+"/orders", `{"user_id": 3, "items": [{"product_id": 2, "quantity": 1}]}`))
	conn := connect(t, dsn)
	jobState := func() (state string, attempt int) {
		t.Helper()
		if err := conn.QueryRow(ctx, "SELECT state, attempt FROM river_job WHERE kind = 'order_fulfilment' AND (args->>'order_id')::bigint = $1",
			order.ID).Scan(&state, &attempt); err != nil {
			t.Fatal(err)
		}
		return state, attempt
	}
	eventually(t, 10*time.Second, "the order's job running", func() bool {
		s, _ := jobState()
		return s == "running"
	})

	start := time.Now()
	err := app.Close()
	took := time.Since(start)
	if err == nil || !strings.Contains(err.Error(), "cancel") {
		t.Errorf("Close with a job stuck: %v, want an error saying the running jobs were cancelled", err)
	}
	if took > budget+hardStopGrace {
		t.Errorf("Close took %s, want under %s", took.Round(time.Millisecond), budget+hardStopGrace)
	}
	state, attempt := jobState()
	t.Logf("Close took %s (budget %s): %v; the job is %s at attempt %d", took.Round(time.Millisecond), budget, err, state, attempt)
	if state == "running" {
		t.Fatal("the job is still running after Close: river would only rescue it after RescueStuckJobsAfter (5 min)")
	}
	if state != "available" && state != "retryable" {
		t.Fatalf("the job is %s after Close, want available or retryable", state)
	}

	// Another instance completes it, with the e-mail and the invoice.
	app2 := startApp(t, dsn, nil)
	eventually(t, 15*time.Second, "the job completed by another instance", func() bool {
		s, _ := jobState()
		return s == "completed"
	})
	var invoices int
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM invoices WHERE order_id = $1", order.ID).Scan(&invoices); err != nil {
		t.Fatal(err)
	}
	mails := 0
	for _, m := range app2.Mail() {
		if strings.Contains(m.Data, fmt.Sprintf("Order #%d confirmed", order.ID)) {
			mails++
		}
	}
	if invoices != 1 || mails != 1 {
		t.Errorf("order %d: %d invoices and %d mails from the second instance, want 1 and 1", order.ID, invoices, mails)
	}
}

// TestSkippedInvalidation: an order placed while the cache skips Redis (as
// it does for a second after a failure) cannot invalidate the user's feed
// cached there; the service then reads that feed from PostgreSQL, not the
// stale copy in Redis, until the copy has expired.
func TestSkippedInvalidation(t *testing.T) {
	app := startApp(t, sharedDB(t), nil) // tuned: cache=redis
	ctx := context.Background()
	rc := redis.NewClient(&redis.Options{Addr: stacktest.Start(t).RedisAddr})
	defer rc.Close()
	const user, product = 317, 9
	feed := func() Feed {
		t.Helper()
		return decode[Feed](t, mustStatus(t, http.StatusOK, "GET", app.URL+"/users/"+itoa(user)+"/feed", ""))
	}
	feed()
	key := app.cacheKey("feed", user)
	if n, err := rc.Exists(ctx, key).Result(); err != nil || n != 1 {
		t.Fatalf("feed not cached in Redis: %d, %v", n, err)
	}
	app.cache.skipUntil.Store(time.Now().Add(time.Hour).UnixNano()) // as after a failure
	mustStatus(t, http.StatusCreated, "POST", app.URL+"/orders", fmt.Sprintf(`{"user_id": %d, "items": [{"product_id": %d, "quantity": 1}]}`, user, product))
	app.cache.skipUntil.Store(0) // Redis is used again
	if n, err := rc.Exists(ctx, key).Result(); err != nil || n != 1 {
		t.Fatalf("the stale feed is not in Redis (%d, %v): the invalidation was not skipped", n, err)
	}
	got := feed()
	if len(got.Events) == 0 || got.Events[0].Kind != "ordered" || got.Events[0].Product == nil || got.Events[0].Product.ID != product {
		t.Errorf("feed after the order: %+v, want the order's event first (the feed read from PostgreSQL, not from Redis)", got.Events[:min(len(got.Events), 1)])
	}
}
