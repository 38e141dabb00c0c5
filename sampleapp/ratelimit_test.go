package sampleapp

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/pgadvisor/advisor/internal/stack"
	"github.com/pgadvisor/advisor/internal/stack/stacktest"
)

// commandCalls reads the calls of each command from INFO commandstats.
func commandCalls(t *testing.T, rdb *redis.Client) map[string]int64 {
	t.Helper()
	info, err := rdb.Info(context.Background(), "commandstats").Result()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int64{}
	for _, line := range strings.Split(info, "\r\n") {
		name, rest, ok := strings.Cut(strings.TrimPrefix(line, "cmdstat_"), ":calls=")
		if !ok {
			continue
		}
		var n int64
		for _, c := range rest {
			if c < '0' || c > '9' {
				break
			}
			n = n*10 + int64(c-'0')
		}
		out[name] = n
	}
	return out
}

// rateLimitRedisPort is TestRateLimitKnob's Redis, its own: INFO
// commandstats counts every client's commands, and on the shared test Redis
// other packages' tests ran EVALSHA beside it (5 calls counted for one
// window of the batched limiter on a fresh clone's run, 2026-12-05).
const rateLimitRedisPort = 26478

// TestRateLimitKnob: the naive limiter makes a GET, an INCR and an EXPIRE
// per request, the tuned one a single EVALSHA; both count the request
// under the principal's key. The Redis is the test's own, so the command
// counts are the service's alone.
func TestRateLimitKnob(t *testing.T) {
	rd, err := stack.StartRedis(context.Background(), t.TempDir(), rateLimitRedisPort, stack.RedisOptions{})
	if err != nil {
		t.Fatalf("start redis: %v", err)
	}
	t.Cleanup(func() {
		if err := rd.Stop(context.Background()); err != nil {
			t.Errorf("stop redis: %v", err)
		}
	})
	app := startApp(t, sharedDB(t), map[string]string{KnobRateLimit: "round-trips"}, func(c *Config) { c.RedisAddr = rd.Addr() })
	rdb := redis.NewClient(&redis.Options{Addr: rd.Addr()})
	defer rdb.Close()
	const n = 20
	url := app.URL + "/users/3"
	mustStatus(t, http.StatusOK, "GET", url, "") // warm
	before := commandCalls(t, rdb)
	for i := 0; i < n; i++ {
		mustStatus(t, http.StatusOK, "GET", url, "")
	}
	after := commandCalls(t, rdb)
	for _, cmd := range []string{"get", "incr", "expire"} {
		if d := after[cmd] - before[cmd]; d < n {
			t.Errorf("round-trips: %d %s calls for %d requests", d, cmd, n)
		}
	}
	keys, err := rdb.Keys(context.Background(), app.cfg.CacheNamespace+":rate:*").Result()
	if err != nil || len(keys) == 0 {
		t.Errorf("no rate key under %s:rate: (%v)", app.cfg.CacheNamespace, err)
	}
	if err := app.SetKnob(context.Background(), KnobRateLimit, "script"); err != nil {
		t.Fatal(err)
	}
	mustStatus(t, http.StatusOK, "GET", url, "") // loads the script
	before = commandCalls(t, rdb)
	for i := 0; i < n; i++ {
		mustStatus(t, http.StatusOK, "GET", url, "")
	}
	after = commandCalls(t, rdb)
	if d := after["evalsha"] - before["evalsha"]; d < n {
		t.Errorf("script: %d EVALSHA calls for %d requests", d, n)
	}
	if d := after["expire"] - before["expire"]; d >= n {
		t.Errorf("script: %d EXPIRE calls, want none from the limiter", d)
	}

	// batched: one EVALSHA per window, the rest counted in the process and
	// sent in pipelines; Redis's count still reaches every request.
	if err := app.SetKnob(context.Background(), KnobRateLimit, "batched"); err != nil {
		t.Fatal(err)
	}
	before = commandCalls(t, rdb)
	start := time.Now().UnixNano() / int64(rateWindow)
	// The earlier modes counted under the same principal, maybe in this window.
	earlier, err := rdb.Get(context.Background(), app.cfg.CacheNamespace+":rate:1:"+itoa(start)).Int64()
	if err != nil && err != redis.Nil {
		t.Fatal(err)
	}
	for i := 0; i < n; i++ {
		mustStatus(t, http.StatusOK, "GET", url, "")
	}
	end := time.Now().UnixNano() / int64(rateWindow)
	time.Sleep(3 * rateSync)
	after = commandCalls(t, rdb)
	windows := end - start + 1
	if d := after["evalsha"] - before["evalsha"]; d > windows {
		t.Errorf("batched: %d EVALSHA calls for %d requests over %d windows, want at most one a window", d, n, windows)
	}
	if d := after["incrby"] - before["incrby"]; d < 1 {
		t.Errorf("batched: no INCRBY after %d requests: the counts never reached Redis", n)
	}
	counted := -earlier
	for w := start; w <= end; w++ {
		v, err := rdb.Get(context.Background(), app.cfg.CacheNamespace+":rate:1:"+itoa(w)).Int64()
		if err != nil && err != redis.Nil {
			t.Fatal(err)
		}
		counted += v
	}
	if counted < n {
		t.Errorf("batched: Redis counted %d requests of %d", counted, n)
	}
}

// TestRateLimitRefuses: a principal over the limit gets 429 with
// Retry-After, in both modes.
func TestRateLimitRefuses(t *testing.T) {
	app := startApp(t, sharedDB(t), nil)
	rdb := redis.NewClient(&redis.Options{Addr: stacktest.Start(t).RedisAddr})
	defer rdb.Close()
	ctx := context.Background()
	for _, mode := range []string{"script", "round-trips", "batched"} {
		if err := app.SetKnob(ctx, KnobRateLimit, mode); err != nil {
			t.Fatal(err)
		}
		// Fill the next windows of the load-test principal (user 1).
		now := time.Now().UnixNano() / int64(rateWindow)
		for w := now; w < now+4; w++ {
			key := app.cfg.CacheNamespace + ":rate:1:" + itoa(w)
			if err := rdb.Set(ctx, key, rateLimit, 10*time.Second).Err(); err != nil {
				t.Fatal(err)
			}
		}
		code, _ := do(t, "GET", app.URL+"/users/3", "")
		if code != http.StatusTooManyRequests {
			t.Errorf("%s: status %d over the limit, want 429", mode, code)
		}
		for w := now; w < now+4; w++ {
			rdb.Del(ctx, app.cfg.CacheNamespace+":rate:1:"+itoa(w))
		}
	}
}
