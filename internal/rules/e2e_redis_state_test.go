package rules

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/pgadvisor/advisor/internal/config"
	"github.com/pgadvisor/advisor/internal/stack"
	"github.com/pgadvisor/advisor/internal/stack/stacktest"
)

// The fixtures of the Redis state rules, each on a redis-server of its
// own (a free port, a directory of the test's), in the state made for
// real before a short window that sees nothing happen.

// redisStateServer starts a Redis with args, its files in a directory of
// the test's, and returns its address and directory.
func redisStateServer(t *testing.T, args ...string) (string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	dir := t.TempDir()
	r := stacktest.StartRedis(ctx, t, dir, stack.RedisOptions{Args: args})
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		// A Redis with save points snapshots when it stops, and does not
		// stop when that fails (the persistence fixture's does): no save.
		c := goredis.NewClient(&goredis.Options{Addr: r.Addr()})
		_ = c.ConfigSet(ctx, "save", "").Err()
		_ = c.Close()
		if err := r.Stop(ctx); err != nil {
			t.Errorf("stop redis: %v", err)
		}
	})
	return r.Addr(), dir
}

// TestE2ERedisFragmentation: 300,000 values of 900 bytes, nine in ten
// deleted, activedefrag off (its default): the resident memory stays near
// its peak while the data is a tenth of it.
func TestE2ERedisFragmentation(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	t.Parallel() // servers or a database of its own, and no load whose rate it measures
	addr, _ := redisStateServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	rdb := goredis.NewClient(&goredis.Options{Addr: addr})
	defer rdb.Close()
	value := strings.Repeat("v", 900)
	const n = 300_000
	for _, del := range []bool{false, true} {
		pipe := rdb.Pipeline()
		for i := 1; i <= n; i++ {
			switch {
			case !del:
				pipe.Set(ctx, "frag:"+strconv.Itoa(i), value, 0)
			case i%10 != 0:
				pipe.Del(ctx, "frag:"+strconv.Itoa(i))
			}
			if pipe.Len() == 10_000 || i == n {
				if _, err := pipe.Exec(ctx); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	fs := redisObserve(ctx, t, config.Sources{Redis: addr}, time.Second, "redis.fragmentation")
	if len(fs) != 1 {
		t.Fatalf("%d redis.fragmentation findings, want 1", len(fs))
	}
	f := fs[0]
	ev := f.Evidence
	if ev["kind"] != "fragmentation" || ev["fragmentation_bytes"].(int64) < 100<<20 || ev["activedefrag"] != "no" {
		t.Errorf("%q %v", f.Title, ev)
	}
	// Debian's Redis is built against the system's jemalloc: activedefrag
	// is the fix on Redis's own build, a restart on this one; the fix says
	// both.
	if !strings.HasPrefix(ev["allocator"].(string), "jemalloc") || ev["remedy"] != "activedefrag" ||
		!strings.Contains(f.Fix.Summary, "restart") {
		t.Errorf("allocator %v, remedy %v, fix %q", ev["allocator"], ev["remedy"], f.Fix.Summary)
	}
	// The keys left and a tenth of the memory: no finding on a Redis that
	// never grew.
	addr2, _ := redisStateServer(t)
	rdb2 := goredis.NewClient(&goredis.Options{Addr: addr2})
	defer rdb2.Close()
	pipe := rdb2.Pipeline()
	for i := 1; i <= n/10; i++ {
		pipe.Set(ctx, "frag:"+strconv.Itoa(i), value, 0)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		t.Fatal(err)
	}
	if fs := redisObserve(ctx, t, config.Sources{Redis: addr2}, time.Second, "redis.fragmentation"); len(fs) != 0 {
		t.Errorf("unfragmented Redis: %v", fs)
	}
}

// TestE2ERedisPersistenceBgsaveFails: a Redis with save points whose dump
// file's path became a directory: BGSAVE fails before the window, and
// Redis refuses writes (MISCONF). The window sees no fork; the finding
// comes from the state since start, critical.
func TestE2ERedisPersistenceBgsaveFails(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	t.Parallel() // servers or a database of its own, and no load whose rate it measures
	addr, dir := redisStateServer(t, "--save", "3600 1 300 100 60 10000", "--dbfilename", "dump.rdb")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	rdb := goredis.NewClient(&goredis.Options{Addr: addr})
	defer rdb.Close()
	if err := rdb.Set(ctx, "order:1", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	// No finding while snapshots work.
	if err := rdb.Save(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	if fs := redisObserve(ctx, t, config.Sources{Redis: addr}, time.Second, "redis.persistence"); len(fs) != 0 {
		t.Errorf("snapshots work: %v", fs)
	}
	if err := os.Remove(filepath.Join(dir, "dump.rdb")); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "dump.rdb"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := rdb.Set(ctx, "order:2", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if err := rdb.BgSave(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		info, err := rdb.Info(ctx, "persistence").Result()
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(info, "rdb_last_bgsave_status:err") && strings.Contains(info, "rdb_bgsave_in_progress:0") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("BGSAVE did not fail: %s", info)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err := rdb.Set(ctx, "order:3", "v", 0).Err(); err == nil || !strings.HasPrefix(err.Error(), "MISCONF") {
		t.Fatalf("write after the failed snapshot: %v, want MISCONF", err)
	}
	fs := redisObserve(ctx, t, config.Sources{Redis: addr}, time.Second, "redis.persistence")
	if len(fs) != 1 {
		t.Fatalf("%d redis.persistence findings, want 1", len(fs))
	}
	f := fs[0]
	ev := f.Evidence
	if f.Subject != "redis rdb" || f.Severity != Critical || ev["kind"] != "bgsave-failed" || ev["writes_refused"] != true ||
		ev["in_window"] != false || ev["misconf_errors"].(int64) < 1 || ev["changes_since_save"].(int64) < 1 {
		t.Errorf("%s %v %v", f.Subject, f.Severity, ev)
	}
	if !strings.Contains(f.Title, "(since start, up ") || !strings.Contains(f.Fix.Summary, "MISCONF") {
		t.Errorf("title %q, fix %q", f.Title, f.Fix.Summary)
	}
}
