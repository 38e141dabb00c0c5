package rules

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	goredis "github.com/redis/go-redis/v9"

	"github.com/pgadvisor/advisor/internal/config"
	"github.com/pgadvisor/advisor/internal/probe"
	"github.com/pgadvisor/advisor/internal/stack/stacktest"
	"github.com/pgadvisor/advisor/sampleapp"
)

// Redis ports of the Redis state and queue tests, each a server of its own.
const (
	redisE2ELifetimePort  = 26433 // maxmemory 4mb, evicted before the window
	redisE2EDangerousPort = 26434 // slowlog-log-slower-than 500
	redisE2EQueuesPort    = 26435 // Celery, asynq and BullMQ shaped queues
	redisE2ECleanPort     = 26436 // a cache used well: no finding
)

// redisObserve observes the sources for window and runs the rules ids on
// the window.
func redisObserve(ctx context.Context, t *testing.T, src config.Sources, window time.Duration, ids ...string) []Finding {
	t.Helper()
	probes, err := probe.Open(ctx, probe.Config{Sources: src})
	if err != nil {
		t.Fatal(err)
	}
	defer probes.Close()
	w, err := probes.Observe(ctx, probe.ObserveOptions{Window: window})
	if err != nil {
		t.Fatal(err)
	}
	set := loadBuiltin(t)
	var rs []*Rule
	for _, id := range ids {
		rs = append(rs, set.Rule(id))
	}
	fs, errs := Run(ctx, &Input{Window: w, Patterns: set.Patterns}, rs, Builtin())
	for _, err := range errs {
		t.Errorf("run: %v", err)
	}
	appLogFindings(t, t.Name(), fs)
	return fs
}

// TestE2ERedisEvictionsBeforeTheWindow: a Redis at maxmemory 4mb evicted
// keys before a 3 s window in which it evicts none: redis.evictions still
// says so, from the counters since start.
func TestE2ERedisEvictionsBeforeTheWindow(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	t.Parallel() // servers or a database of its own, and no load whose rate it measures
	addr := appStartRedis(t, redisE2ELifetimePort, "--maxmemory", "4mb", "--maxmemory-policy", "allkeys-lru")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	rdb := goredis.NewClient(&goredis.Options{Addr: addr})
	defer rdb.Close()
	value := strings.Repeat("v", 1024)
	pipe := rdb.Pipeline()
	for i := 0; i < 12_000; i++ { // 12 MB into 4 MB
		pipe.Set(ctx, "k:"+strconv.Itoa(i), value, 0)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		t.Fatal(err)
	}
	// The writes are over. maxmemory a little above what Redis holds
	// now stops the evictions (the probe's own commands would go on
	// pushing it over): the window sees none, Redis is still about full.
	info, err := rdb.Info(ctx, "memory").Result()
	if err != nil {
		t.Fatal(err)
	}
	used := redisInfoInt(info, "used_memory")
	if err := rdb.ConfigSet(ctx, "maxmemory", strconv.FormatInt(used*100/94, 10)).Err(); err != nil {
		t.Fatal(err)
	}
	fs := redisObserve(ctx, t, config.Sources{Redis: addr}, 3*time.Second, "redis.evictions")
	if len(fs) != 1 {
		t.Fatalf("%d redis.evictions findings, want 1", len(fs))
	}
	ev := fs[0].Evidence
	if ev["in_window"] != false || ev["evicted_keys_lifetime"].(int64) < 5000 || !strings.Contains(fs[0].Title, "since start") {
		t.Errorf("title %q, evidence %v", fs[0].Title, ev)
	}
}

// TestE2ERedisDangerousCommands: KEYS on a populated keyspace, fast (about
// 1 ms) and before the window, with the operator's slowlog-log-slower-than
// at 500 µs; and an LRANGE 0 -1 of a long list in the window.
func TestE2ERedisDangerousCommands(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	t.Parallel() // servers or a database of its own, and no load whose rate it measures
	addr := appStartRedis(t, redisE2EDangerousPort, "--slowlog-log-slower-than", "500")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	rdb := goredis.NewClient(&goredis.Options{Addr: addr})
	defer rdb.Close()
	pipe := rdb.Pipeline()
	for i := 0; i < 7_000; i++ {
		pipe.Set(ctx, "user:"+strconv.Itoa(i), "v", 0)
	}
	list := make([]any, 50_000)
	for i := range list {
		list[i] = i
	}
	pipe.RPush(ctx, "timeline", list...)
	if _, err := pipe.Exec(ctx); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		if err := rdb.Keys(ctx, "*").Err(); err != nil {
			t.Fatal(err)
		}
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		time.Sleep(time.Second)
		_ = rdb.LRange(ctx, "timeline", 0, -1).Err()
	}()
	fs := redisObserve(ctx, t, config.Sources{Redis: addr}, 3*time.Second, "redis.dangerous-commands")
	<-done
	got := map[string]Finding{}
	for _, f := range fs {
		got[f.Subject] = f
	}
	keys, ok := got["KEYS"]
	if !ok {
		t.Fatalf("no KEYS finding: %v", fs)
	}
	if keys.Evidence["calls_lifetime"].(float64) < 3 || keys.Evidence["in_window"] != false ||
		!strings.Contains(keys.Fix.Summary, "SCAN") || keys.Fix.Config["rename-command KEYS"] != "" {
		t.Errorf("KEYS: %q %v %+v", keys.Title, keys.Evidence, keys.Fix)
	}
	lr, ok := got["LRANGE"]
	if !ok {
		t.Fatalf("no LRANGE finding: %v", fs)
	}
	if lr.Evidence["slowlog_entries"].(float64) < 1 || !strings.EqualFold(lr.Evidence["example"].(string), "LRANGE timeline 0 -1") {
		t.Errorf("LRANGE: %q %v", lr.Title, lr.Evidence)
	}
	if len(fs) != 2 {
		t.Errorf("%d findings, want KEYS and LRANGE", len(fs))
	}
}

// TestE2EQueueBacklogRedis: a Celery list fed at 50 messages a second with
// no worker, an asynq queue whose oldest task waits for 5 minutes, and a
// BullMQ queue likewise; beside them a Celery queue drained by a worker
// and a quiet asynq queue, which are not flagged.
func TestE2EQueueBacklogRedis(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	t.Parallel() // servers or a database of its own, and no load whose rate it measures
	addr := appStartRedis(t, redisE2EQueuesPort)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	rdb := goredis.NewClient(&goredis.Options{Addr: addr})
	defer rdb.Close()
	old := time.Now().Add(-5 * time.Minute)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	// kombu's bindings name the Celery queues besides the default one.
	must(rdb.SAdd(ctx, "_kombu.binding.celery", "celery\x06\x16\x06\x16celery").Err())
	must(rdb.SAdd(ctx, "_kombu.binding.emails", "emails\x06\x16\x06\x16emails").Err())
	must(rdb.SAdd(ctx, "asynq:queues", "critical", "default").Err())
	must(rdb.LPush(ctx, "asynq:{critical}:pending", "t1").Err())
	must(rdb.HSet(ctx, "asynq:{critical}:t:t1", "pending_since", strconv.FormatInt(old.UnixNano(), 10)).Err())
	must(rdb.LPush(ctx, "asynq:{default}:pending", "t2").Err())
	must(rdb.HSet(ctx, "asynq:{default}:t:t2", "pending_since", strconv.FormatInt(time.Now().UnixNano(), 10)).Err())
	must(rdb.HSet(ctx, "bull:mail:meta", "opts.maxLenEvents", "10000").Err())
	must(rdb.LPush(ctx, "bull:mail:wait", "7").Err())
	must(rdb.HSet(ctx, "bull:mail:7", "timestamp", strconv.FormatInt(old.UnixMilli(), 10)).Err())

	wctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { // the producer: 50 messages a second on both Celery queues
		defer wg.Done()
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for i := 0; wctx.Err() == nil; i++ {
			msg := fmt.Sprintf(`{"body":"","headers":{"id":"%d","task":"send"},"properties":{"delivery_tag":"%d"}}`, i, i)
			_ = rdb.LPush(wctx, "celery", msg).Err()
			_ = rdb.LPush(wctx, "emails", msg).Err()
			select {
			case <-tick.C:
			case <-wctx.Done():
			}
		}
	}()
	go func() { // the emails queue's worker
		defer wg.Done()
		for wctx.Err() == nil {
			_ = rdb.BRPop(wctx, time.Second, "emails").Err()
		}
	}()
	time.Sleep(500 * time.Millisecond)
	fs := redisObserve(ctx, t, config.Sources{Redis: addr}, 3*time.Second, "queue.backlog")
	stop()
	wg.Wait()
	got := map[string]Finding{}
	for _, f := range fs {
		got[f.Subject] = f
	}
	if f, ok := got["celery celery"]; !ok {
		t.Error("no finding for the celery list fed without a worker")
	} else if g := f.Evidence["growth_per_s"].(float64); g < 30 || g > 60 || f.Evidence["oldest_age_at_least"] != true {
		t.Errorf("celery: %q %v", f.Title, f.Evidence)
	}
	for _, subject := range []string{"asynq critical", "bullmq mail"} {
		f, ok := got[subject]
		if !ok {
			t.Errorf("no finding for %s", subject)
			continue
		}
		if age := f.Evidence["oldest_age_s"].(float64); age < 290 || age > 320 {
			t.Errorf("%s: oldest %v s, want about 300", subject, age)
		}
	}
	if len(fs) != 3 {
		t.Errorf("%d findings, want 3 (not the drained emails queue nor asynq default)", len(fs))
	}
}

// TestE2EQueueBacklogRiver: river jobs available for ten minutes with no
// worker running: queue.backlog on river's default queue.
func TestE2EQueueBacklogRiver(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	t.Parallel() // servers or a database of its own, and no load whose rate it measures
	stacktest.Start(t)
	dsn := stacktest.NewDatabase(t, "rules_river_backlog")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := sampleapp.Migrate(ctx, dsn); err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	src := config.Sources{PG: dsn}
	// No job yet: nothing to say.
	if fs := redisObserve(ctx, t, src, time.Second, "queue.backlog"); len(fs) != 0 {
		t.Errorf("empty river_job: %v", fs)
	}
	if _, err := conn.Exec(ctx, `INSERT INTO river_job (kind, args, max_attempts, queue, state, scheduled_at, created_at)
		SELECT 'order_fulfilment', '{}', 10, 'default', 'available', now() - interval '10 minutes', now() - interval '10 minutes'
		FROM generate_series(1, 25)`); err != nil {
		t.Fatal(err)
	}
	fs := redisObserve(ctx, t, src, time.Second, "queue.backlog")
	if len(fs) != 1 || fs[0].Subject != "river default" {
		t.Fatalf("findings %v, want one on river default", fs)
	}
	ev := fs[0].Evidence
	if ev["waiting"] != 25.0 || ev["oldest_age_s"].(float64) < 590 || ev["no_worker"] != true {
		t.Errorf("%q %v", fs[0].Title, ev)
	}
}

// TestE2ERedisCleanNoFindings: a bounded cache served by GET, MGET and a
// pipeline, with a drained Celery queue: no finding of the Redis state and
// queue rules.
func TestE2ERedisCleanNoFindings(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	t.Parallel() // servers or a database of its own, and no load whose rate it measures
	addr := appStartRedis(t, redisE2ECleanPort, "--maxmemory", "64mb", "--maxmemory-policy", "allkeys-lru",
		"--slowlog-log-slower-than", "100000")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	rdb := goredis.NewClient(&goredis.Options{Addr: addr})
	defer rdb.Close()
	wctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		for i := 0; wctx.Err() == nil; i++ {
			k := "c:" + strconv.Itoa(i%500)
			if err := rdb.Get(wctx, k).Err(); err == goredis.Nil {
				_ = rdb.Set(wctx, k, "v", time.Minute).Err()
			}
			_ = rdb.MGet(wctx, "c:1", "c:2", "c:3").Err()
			_ = rdb.LPush(wctx, "celery", "m").Err()
		}
	}()
	// The worker takes everything waiting at each wake: a worker that
	// took one message a wake fell behind the producer on a machine busy
	// compiling (112 waiting after 2 s, a fresh clone on a new machine,
	// 2026-12-05), and queue.backlog was right about it.
	go func() {
		defer wg.Done()
		for wctx.Err() == nil {
			if rdb.BRPop(wctx, time.Second, "celery").Err() == nil {
				_ = rdb.RPopCount(wctx, "celery", 10_000).Err()
			}
		}
	}()
	time.Sleep(500 * time.Millisecond)
	fs := redisObserve(ctx, t, config.Sources{Redis: addr}, 2*time.Second,
		"redis.evictions", "redis.rejected-connections", "redis.dangerous-commands", "queue.backlog", "redis.round-trips",
		"redis.fragmentation", "redis.persistence")
	stop()
	wg.Wait()
	if len(fs) != 0 {
		t.Errorf("findings on a clean Redis: %v", fs)
	}
}

// redisInfoInt reads a numeric field of INFO text.
func redisInfoInt(info, key string) int64 {
	for _, line := range strings.Split(info, "\r\n") {
		if v, ok := strings.CutPrefix(line, key+":"); ok {
			n, _ := strconv.ParseInt(v, 10, 64)
			return n
		}
	}
	return 0
}
