package rules

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pgadvisor/advisor/internal/probe"
	"github.com/pgadvisor/advisor/internal/probe/metrics"
	"github.com/pgadvisor/advisor/internal/probe/redis"
	"github.com/pgadvisor/advisor/internal/probe/source"
)

// redisTestSnap is a Redis snapshot as the probe reads it: INFO text parsed,
// and the counters the probe takes from it.
type redisTestSnap struct {
	at                                         time.Duration
	hits, misses, evicted, rejected, conns     int64
	cpu                                        float64
	used, maxmemory                            int64
	policy                                     string
	slow                                       []redis.SlowEntry
	maxclients, connected, totalSystem, uptime int64
	// cmds are commandstats' calls by command, 10 µs each.
	cmds map[string]int64
}

func (s redisTestSnap) snapshot(t *testing.T) *redis.Snapshot {
	t.Helper()
	info, err := redis.ParseInfo(strings.Join([]string{
		"# Server", "redis_version:7.0.15", "run_id:0f4c1f7f", "uptime_in_seconds:" + redisItoa(s.uptime),
		"# Clients", "connected_clients:" + redisItoa(s.connected), "maxclients:" + redisItoa(s.maxclients),
		"# Memory", "used_memory:" + redisItoa(s.used), "maxmemory:" + redisItoa(s.maxmemory), "maxmemory_policy:" + s.policy,
		"total_system_memory:" + redisItoa(s.totalSystem),
		"# Stats", "io_threads_active:0",
		"# Commandstats", redisCmdstats(s.cmds),
	}, "\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	return &redis.Snapshot{
		Status: source.Status{State: source.OK}, Time: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Add(s.at), Info: info,
		Version: "7.0.15", RunID: "0f4c1f7f", UptimeSeconds: s.uptime,
		TotalConnections: s.conns, RejectedConnections: s.rejected, ConnectedClients: s.connected,
		KeyspaceHits: s.hits, KeyspaceMisses: s.misses, EvictedKeys: s.evicted, UsedCPU: s.cpu,
		UsedMemory: s.used, MaxMemory: s.maxmemory,
		Slowlog: redis.Slowlog{Status: source.Status{State: source.OK}, Entries: s.slow},
		Config:  redis.Config{Status: source.Status{State: source.OK}, MaxMemory: s.maxmemory, MaxMemoryPolicy: s.policy},
	}
}

func redisItoa(n int64) string { return strconv.FormatInt(n, 10) }

func redisCmdstats(cmds map[string]int64) string {
	var lines []string
	for name, calls := range cmds {
		lines = append(lines, "cmdstat_"+name+":calls="+redisItoa(calls)+",usec="+redisItoa(calls*10)+",usec_per_call=10.00")
	}
	return strings.Join(lines, "\r\n")
}

// redisTestInput is the window between two snapshots ten seconds apart.
func redisTestInput(t *testing.T, prev, cur redisTestSnap) *Input {
	t.Helper()
	cur.at = prev.at + 10*time.Second
	cur.uptime = prev.uptime + 10
	w := &probe.Window{Seconds: 10, Sources: map[string]source.Status{probe.Redis: {State: source.OK}},
		Redis: redis.Diff(prev.snapshot(t), cur.snapshot(t))}
	return &Input{Window: w, Patterns: loadBuiltin(t).Patterns}
}

func TestRedisLowHitRatio(t *testing.T) {
	base := redisTestSnap{uptime: 100, hits: 1000, misses: 1000, used: 1 << 20, maxmemory: 64 << 20, policy: "allkeys-lru"}
	cur := base
	cur.hits, cur.misses = 1300, 1900 // 300 hits, 900 misses: 25%
	fs := appRunRule(t, redisTestInput(t, base, cur), "redis.low-hit-ratio", nil)
	if len(fs) != 1 || fs[0].Evidence["hit_ratio"] != 0.25 || fs[0].Evidence["misses_per_s"] != 90.0 || fs[0].Subject != "redis" {
		t.Fatalf("%v", fs)
	}
	if fs[0].Title != "Redis hit ratio is 25% (90 misses/s)" {
		t.Errorf("title %q", fs[0].Title)
	}
	cur.hits, cur.misses = 1900, 1100 // 90%
	if fs := appRunRule(t, redisTestInput(t, base, cur), "redis.low-hit-ratio", nil); len(fs) != 0 {
		t.Errorf("90%%: %v", fs)
	}
	cur.hits, cur.misses = 1001, 1050 // 5 lookups/s: too few to matter
	if fs := appRunRule(t, redisTestInput(t, base, cur), "redis.low-hit-ratio", nil); len(fs) != 0 {
		t.Errorf("few lookups: %v", fs)
	}
}

func TestRedisEvictions(t *testing.T) {
	base := redisTestSnap{uptime: 100, hits: 10, misses: 10, evicted: 100, used: 2 << 20, maxmemory: 2 << 20, policy: "allkeys-lru"}
	cur := base
	cur.evicted, cur.misses = 600, 1010
	fs := appRunRule(t, redisTestInput(t, base, cur), "redis.evictions", nil)
	if len(fs) != 1 || fs[0].Evidence["evicted_keys_per_s"] != 50.0 || fs[0].Evidence["maxmemory_policy"] != "allkeys-lru" {
		t.Fatalf("%v", fs)
	}
	if fs[0].Title != "Redis evicts 50 keys/s at maxmemory 2 MB (allkeys-lru)" || fs[0].Fix.Config["maxmemory"] != "64mb" {
		t.Errorf("%q %v", fs[0].Title, fs[0].Fix.Config)
	}
	if fs := appRunRule(t, redisTestInput(t, base, base), "redis.evictions", nil); len(fs) != 0 {
		t.Errorf("no evictions: %v", fs)
	}
}

func TestRedisSlowCommands(t *testing.T) {
	entry := func(id int64, d time.Duration, args ...string) redis.SlowEntry {
		return redis.SlowEntry{ID: id, Duration: d, Args: args}
	}
	base := redisTestSnap{uptime: 100, slow: []redis.SlowEntry{entry(1, 50*time.Millisecond, "KEYS", "*")}}
	cur := base
	cur.slow = []redis.SlowEntry{
		entry(9, 14*time.Millisecond, "SET", "k", "v"), // once: the server held up, not SET
		entry(8, 11*time.Millisecond, "get", "big"),
		entry(7, 13*time.Millisecond, "get", "big"),
		entry(6, 5*time.Millisecond, "HGETALL", "big"), // below slowlog-log-slower-than's default
		entry(5, 12*time.Millisecond, "get", "k"),
		entry(4, 30*time.Millisecond, "KEYS", "user:*"),
		entry(3, 20*time.Millisecond, "KEYS", "user:*"),
		entry(2, 10*time.Millisecond, "KEYS", "user:*"),
		entry(1, 50*time.Millisecond, "KEYS", "*"), // before the window
	}
	fs := appRunRule(t, redisTestInput(t, base, cur), "redis.slow-commands", nil)
	if len(fs) != 2 {
		t.Fatalf("%d findings, want GET (3 entries) and KEYS, not SET (1 entry): %v", len(fs), fs)
	}
	var keys, get Finding
	for _, f := range fs {
		switch f.Subject {
		case "KEYS":
			keys = f
		case "GET":
			get = f
		}
	}
	if get.Evidence["count"] != 3.0 || get.Evidence["linear"] != false {
		t.Errorf("GET: %v", get.Evidence)
	}
	if keys.Evidence["count"] != 3.0 || keys.Evidence["max_ms"] != 30.0 || keys.Evidence["mean_ms"] != 20.0 || keys.Evidence["linear"] != true {
		t.Errorf("KEYS: %v", keys.Evidence)
	}
	if !strings.Contains(keys.Fix.Summary, "SCAN") || keys.Fix.Code == "" || keys.Title != "Slow Redis command KEYS: 3 SLOWLOG entries, up to 30 ms" {
		t.Errorf("%q %+v", keys.Title, keys.Fix)
	}
}

func TestRedisCPUSaturation(t *testing.T) {
	base := redisTestSnap{uptime: 100, cpu: 10}
	cur := base
	cur.cpu = 19.5
	fs := appRunRule(t, redisTestInput(t, base, cur), "redis.cpu-saturation", nil)
	if len(fs) != 1 || fs[0].Evidence["cpu_share"] != 0.95 {
		t.Fatalf("%v", fs)
	}
	cur.cpu = 12
	if fs := appRunRule(t, redisTestInput(t, base, cur), "redis.cpu-saturation", nil); len(fs) != 0 {
		t.Errorf("20%% CPU: %v", fs)
	}
}

func TestRedisRejectedConnections(t *testing.T) {
	base := redisTestSnap{uptime: 100, conns: 100, maxclients: 10, connected: 10}
	cur := base
	cur.conns, cur.rejected = 150, 40
	fs := appRunRule(t, redisTestInput(t, base, cur), "redis.rejected-connections", nil)
	if len(fs) != 1 || fs[0].Severity != Critical || fs[0].Title != "Redis rejected 40 connections (maxclients 10)" {
		t.Fatalf("%v", fs)
	}
	if fs := appRunRule(t, redisTestInput(t, base, base), "redis.rejected-connections", nil); len(fs) != 0 {
		t.Errorf("none rejected: %v", fs)
	}
}

func TestRedisMemoryUnbounded(t *testing.T) {
	snap := redisTestSnap{uptime: 100, used: 700 << 20, policy: "noeviction", totalSystem: 2 << 30}
	fs := appRunRule(t, redisTestInput(t, snap, snap), "redis.memory-unbounded", nil)
	if len(fs) != 1 || !strings.Contains(fs[0].Title, "has no maxmemory") || fs[0].Fix.Config["maxmemory"] != "1024mb" ||
		fs[0].Fix.Config["maxmemory-policy"] != "allkeys-lru" {
		t.Fatalf("%v", fs)
	}
	snap.maxmemory = 1 << 30
	fs = appRunRule(t, redisTestInput(t, snap, snap), "redis.memory-unbounded", nil)
	if len(fs) != 1 || !strings.Contains(fs[0].Title, "refuses writes when full (maxmemory-policy noeviction)") {
		t.Fatalf("noeviction: %v", fs)
	}
	snap.policy = "allkeys-lru"
	if fs := appRunRule(t, redisTestInput(t, snap, snap), "redis.memory-unbounded", nil); len(fs) != 0 {
		t.Errorf("bounded: %v", fs)
	}
	small := redisTestSnap{uptime: 100, used: 1 << 20, policy: "noeviction"}
	if fs := appRunRule(t, redisTestInput(t, small, small), "redis.memory-unbounded", nil); len(fs) != 0 {
		t.Errorf("an empty Redis: %v", fs)
	}
}

func TestRedisNotRead(t *testing.T) {
	in := &Input{Window: &probe.Window{Sources: map[string]source.Status{}}, Patterns: loadBuiltin(t).Patterns}
	for _, id := range []string{"redis.low-hit-ratio", "redis.evictions", "redis.slow-commands", "redis.cpu-saturation",
		"redis.rejected-connections", "redis.memory-unbounded", "redis.dangerous-commands", "redis.round-trips", "queue.backlog"} {
		if fs := appRunRule(t, in, id, nil); len(fs) != 0 {
			t.Errorf("%s without Redis: %v", id, fs)
		}
	}
}

func TestRedisEvictionsSinceStart(t *testing.T) {
	// No eviction in the window, 137k before it, Redis still full.
	base := redisTestSnap{uptime: 7200, evicted: 137_000, used: 4 << 20, maxmemory: 4 << 20, policy: "allkeys-lru"}
	fs := appRunRule(t, redisTestInput(t, base, base), "redis.evictions", nil)
	if len(fs) != 1 || fs[0].Evidence["in_window"] != false || fs[0].Evidence["evicted_keys_lifetime"] != int64(137_000) {
		t.Fatalf("%v", fs)
	}
	if want := "Redis evicted 137000 keys (since start or last CONFIG RESETSTAT, up 2 h) at maxmemory 4 MB (allkeys-lru)"; fs[0].Title != want {
		t.Errorf("title %q\nwant  %q", fs[0].Title, want)
	}
	// maxmemory raised since: the old evictions are history.
	base.maxmemory = 64 << 20
	if fs := appRunRule(t, redisTestInput(t, base, base), "redis.evictions", nil); len(fs) != 0 {
		t.Errorf("raised maxmemory: %v", fs)
	}
	// A few evictions long ago: below min_lifetime_evictions.
	base.maxmemory, base.evicted = 4<<20, 20
	if fs := appRunRule(t, redisTestInput(t, base, base), "redis.evictions", nil); len(fs) != 0 {
		t.Errorf("20 evictions: %v", fs)
	}
}

func TestRedisRejectedConnectionsSinceStart(t *testing.T) {
	base := redisTestSnap{uptime: 3600, conns: 500, rejected: 12, maxclients: 10, connected: 3}
	fs := appRunRule(t, redisTestInput(t, base, base), "redis.rejected-connections", nil)
	if len(fs) != 1 || fs[0].Evidence["in_window"] != false ||
		fs[0].Title != "Redis rejected 12 connections (since start or last CONFIG RESETSTAT, up 60 min) (maxclients 10)" {
		t.Fatalf("%v", fs)
	}
	base.rejected = 0
	if fs := appRunRule(t, redisTestInput(t, base, base), "redis.rejected-connections", nil); len(fs) != 0 {
		t.Errorf("never rejected: %v", fs)
	}
}

// redisWithRequests is the window of prev and cur with a service serving
// rps requests per second.
func redisWithRequests(t *testing.T, prev, cur redisTestSnap, rps float64) *Input {
	in := redisTestInput(t, prev, cur)
	in.Window.Metrics = &metrics.Window{Seconds: 10, Requests: rps * 10, RPS: rps}
	return in
}

func TestRedisRoundTrips(t *testing.T) {
	base := redisTestSnap{uptime: 100, cmds: map[string]int64{"get": 1000, "incr": 1000, "expire": 1000, "info": 10}}
	cur := base
	// 100 requests/s, each a GET, an INCR and an EXPIRE; INFO is the probe's.
	cur.cmds = map[string]int64{"get": 2000, "incr": 2000, "expire": 2000, "info": 500}
	fs := appRunRule(t, redisWithRequests(t, base, cur, 100), "redis.round-trips", nil)
	if len(fs) != 1 || fs[0].Evidence["commands_per_request"] != 3.0 || fs[0].Evidence["commands"] != "EXPIRE 1, GET 1, INCR 1" {
		t.Fatalf("%v", fs)
	}
	if !strings.Contains(fs[0].Fix.Summary, "Lua script") || !strings.Contains(fs[0].Fix.Code, "PEXPIRE") {
		t.Errorf("fix %+v", fs[0].Fix)
	}
	// Ten GETs per request: MGET.
	cur.cmds = map[string]int64{"get": 11000, "incr": 1000, "expire": 1000}
	fs = appRunRule(t, redisWithRequests(t, base, cur, 100), "redis.round-trips", nil)
	if len(fs) != 1 || fs[0].Evidence["multi_key_form"] != "MGET" || !strings.Contains(fs[0].Fix.Summary, "MGET instead of 10 GET per request") {
		t.Fatalf("GETs: %v", fs)
	}
	// One EVALSHA and a GET per request: fine.
	cur.cmds = map[string]int64{"get": 2000, "evalsha": 1000, "incr": 1000, "expire": 1000}
	if fs := appRunRule(t, redisWithRequests(t, base, cur, 100), "redis.round-trips", nil); len(fs) != 0 {
		t.Errorf("two per request: %v", fs)
	}
	// No service metrics: nothing to divide by.
	cur.cmds = map[string]int64{"get": 11000}
	if fs := appRunRule(t, redisTestInput(t, base, cur), "redis.round-trips", nil); len(fs) != 0 {
		t.Errorf("without metrics: %v", fs)
	}
}

func TestRedisDangerousCommands(t *testing.T) {
	base := redisTestSnap{uptime: 100, cmds: map[string]int64{"get": 100, "keys": 2}}
	cur := base
	cur.cmds = map[string]int64{"get": 900, "keys": 3, "flushall": 1}
	fs := appRunRule(t, redisTestInput(t, base, cur), "redis.dangerous-commands", nil)
	got := map[string]Finding{}
	for _, f := range fs {
		got[f.Subject] = f
	}
	if len(fs) != 2 || got["KEYS"].Evidence["calls"] != 1.0 || got["KEYS"].Evidence["calls_lifetime"] != 3.0 ||
		got["FLUSHALL"].Fix.Config["rename-command FLUSHALL"] != `""` {
		t.Fatalf("%v", fs)
	}
	if got["KEYS"].Title != "Redis runs KEYS (1 call in the window)" {
		t.Errorf("title %q", got["KEYS"].Title)
	}
	// GETs and SETs only: nothing.
	clean := redisTestSnap{uptime: 100, cmds: map[string]int64{"get": 100, "set": 100}}
	if fs := appRunRule(t, redisTestInput(t, clean, clean), "redis.dangerous-commands", nil); len(fs) != 0 {
		t.Errorf("GET and SET: %v", fs)
	}
}
