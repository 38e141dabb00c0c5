package sampleapp

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"runtime"
	"runtime/pprof"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	dto "github.com/prometheus/client_model/go"
	"github.com/redis/go-redis/v9"

	"github.com/pgadvisor/advisor/internal/stack/stacktest"
)

func TestProfiles(t *testing.T) {
	naive, err := ProfileSettings(ProfileNaive)
	if err != nil {
		t.Fatal(err)
	}
	tuned, err := ProfileSettings(ProfileTuned)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range Knobs {
		if naive[k.Name] == tuned[k.Name] {
			t.Errorf("knob %s: naive and tuned are both %q", k.Name, naive[k.Name])
		}
		for _, v := range []string{naive[k.Name], tuned[k.Name]} {
			if err := ValidateKnob(k.Name, v); err != nil {
				t.Error(err)
			}
		}
	}
	if _, err := ProfileSettings("fast"); err == nil {
		t.Error("unknown profile accepted")
	}
	if err := ValidateKnob("pool", "medium"); err == nil {
		t.Error("bad value accepted")
	}
	if _, _, err := ParseKnobArg("index"); err == nil {
		t.Error("knob without value accepted")
	}
	if n, v, err := ParseKnobArg("index=absent"); err != nil || n != "index" || v != "absent" {
		t.Errorf("ParseKnobArg = %q %q %v", n, v, err)
	}
	if s, err := ParseKnobArgs([]string{"index=absent", "pool=tiny", "index=present"}); err != nil || len(s) != 2 || s["index"] != "present" || s["pool"] != "tiny" {
		t.Errorf("ParseKnobArgs = %v, %v", s, err)
	}
	if _, err := ParseKnobArgs([]string{"pool=sized", "pool=medium"}); err == nil {
		t.Error("ParseKnobArgs accepted a bad value")
	}
}

// TestFeedQueries: the naive profile's feed costs at least 14 queries (its
// hops' included), the tuned one at most 2 even without the cache; N+1 and
// the hops are what make the difference.
func TestFeedQueries(t *testing.T) {
	dsn := sharedDB(t)
	naive := startApp(t, dsn, nil, func(c *Config) {
		c.Profile = ProfileNaive
		c.Knobs = map[string]string{KnobGOMAXPROCS: "default"}
	})
	q, hops := feedQueries(t, naive, 5)
	if q < 14 {
		t.Errorf("naive: %.1f queries per feed, want >= 14", q)
	}
	if hops != 2 {
		t.Errorf("naive: %.1f hops per feed, want 2 (identity and users)", hops)
	}
	if err := naive.SetKnob(context.Background(), KnobNPlusOne, "batched"); err != nil {
		t.Fatal(err)
	}
	q2, _ := feedQueries(t, naive, 5)
	if q-q2 < 15 {
		t.Errorf("nplusone batched saved %.1f queries per feed, want about 20 (one per event)", q-q2)
	}
	// Without the cache the tuned feed costs the token check, the profile
	// (one join) and the feed (one join): 3. With the cache, see
	// TestCacheKnob.
	tuned := startApp(t, dsn, map[string]string{KnobCache: "none"})
	q, hops = feedQueries(t, tuned, 5)
	if q != 3 {
		t.Errorf("tuned without cache: %.1f queries per feed, want 3", q)
	}
	if hops != 0 {
		t.Errorf("tuned: %.1f hops per feed, want 0", hops)
	}
}

func TestHopsKnob(t *testing.T) {
	app := startApp(t, sharedDB(t), map[string]string{KnobHops: "http", KnobCache: "none"})
	before := metricsOf(t, app)
	for i := 0; i < 3; i++ {
		mustStatus(t, http.StatusOK, "GET", app.URL+"/users/3", "")
	}
	after := metricsOf(t, app)
	calls := after.sum("http_client_requests_total", func(m *dto.Metric) bool { return label(m, "code") == "200" }) -
		before.sum("http_client_requests_total", func(m *dto.Metric) bool { return label(m, "code") == "200" })
	if calls != 6 {
		t.Errorf("hops=http: %v outbound calls for 3 requests, want 6", calls)
	}
	hosts := map[string]bool{}
	for _, m := range after["http_client_requests_total"].GetMetric() {
		hosts[label(m, "host")] = true
	}
	if !hosts[strings.TrimPrefix(app.IdentityURL, "http://")] || !hosts[strings.TrimPrefix(app.UsersURL, "http://")] {
		t.Errorf("outbound hosts %v, want the identity and users services", hosts)
	}
	if err := app.SetKnob(context.Background(), KnobHops, "inproc"); err != nil {
		t.Fatal(err)
	}
	before = metricsOf(t, app)
	mustStatus(t, http.StatusOK, "GET", app.URL+"/users/3", "")
	after = metricsOf(t, app)
	if d := after.hops() - before.hops(); d != 0 {
		t.Errorf("hops=inproc: %v calls to the services, want 0", d)
	}
}

func TestIndexKnob(t *testing.T) {
	dsn := sharedDB(t)
	app := startApp(t, dsn, map[string]string{KnobIndex: "absent"})
	conn := connect(t, dsn)
	has := func() bool {
		var n int
		if err := conn.QueryRow(context.Background(), "SELECT count(*) FROM pg_indexes WHERE tablename = 'events' AND indexname = $1", eventsIndex).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n == 1
	}
	if has() {
		t.Fatal("index=absent: the index exists")
	}
	// Through the admin endpoint, as an operator would.
	mustStatus(t, http.StatusOK, "PUT", app.AdminURL+"/knobs/index", `{"value":"present"}`)
	if !has() {
		t.Fatal("index=present: no index")
	}
	rows, err := conn.Query(context.Background(), "EXPLAIN SELECT id FROM events WHERE user_id = 3 ORDER BY created_at DESC LIMIT 20")
	if err != nil {
		t.Fatal(err)
	}
	lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	plan := strings.Join(lines, "\n")
	if !strings.Contains(plan, eventsIndex) {
		t.Errorf("plan with the index does not use it: %s", plan)
	}
	mustStatus(t, http.StatusOK, "PUT", app.AdminURL+"/knobs/index", `{"value":"absent"}`)
	if has() {
		t.Fatal("index=absent at run time: the index is still there")
	}
}

// statementCalls sums pg_stat_statements calls of this database's statements
// that start with prefix.
func statementCalls(t *testing.T, dsn, prefix string) int64 {
	t.Helper()
	conn := connect(t, dsn)
	var n int64
	err := conn.QueryRow(context.Background(), `SELECT coalesce(sum(calls), 0)::bigint FROM pg_stat_statements s
		JOIN pg_database d ON d.oid = s.dbid WHERE d.datname = current_database() AND s.query LIKE $1`, prefix+"%").Scan(&n)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// Config.FeedTTL sets how long a feed lives in Redis (the benchmark's
// feed instance outlives the default); a negative one is refused.
func TestFeedTTL(t *testing.T) {
	app := startApp(t, sharedDB(t), map[string]string{KnobCache: "redis"}, func(c *Config) { c.FeedTTL = 5 * time.Minute })
	rdb := redis.NewClient(&redis.Options{Addr: stacktest.Start(t).RedisAddr})
	defer rdb.Close()
	mustStatus(t, http.StatusOK, "GET", app.URL+"/users/7/feed", "")
	ttl, err := rdb.TTL(context.Background(), app.cacheKey("feed", 7)).Result()
	if err != nil || ttl <= DefaultFeedTTL || ttl > 5*time.Minute {
		t.Errorf("feed cached for %v (%v), want more than %s, up to 5m", ttl, err, DefaultFeedTTL)
	}
	if _, err := Start(context.Background(), Config{DSN: sharedDB(t), RedisAddr: stacktest.Start(t).RedisAddr,
		FeedTTL: -time.Second}); err == nil || !strings.Contains(err.Error(), "feed TTL") {
		t.Errorf("a negative feed TTL: %v", err)
	}
}

func TestOverfetchKnob(t *testing.T) {
	dsn := sharedDB(t)
	app := startApp(t, dsn, map[string]string{KnobCache: "none", KnobOverfetch: "select-star"})
	star := statementCalls(t, dsn, "SELECT e.*")
	cols := statementCalls(t, dsn, "SELECT e.id, e.kind")
	mustStatus(t, http.StatusOK, "GET", app.URL+"/users/11/feed", "")
	if d := statementCalls(t, dsn, "SELECT e.*") - star; d != 1 {
		t.Errorf("select-star: %d SELECT e.* calls, want 1", d)
	}
	if err := app.SetKnob(context.Background(), KnobOverfetch, "columns"); err != nil {
		t.Fatal(err)
	}
	mustStatus(t, http.StatusOK, "GET", app.URL+"/users/11/feed", "")
	if d := statementCalls(t, dsn, "SELECT e.id, e.kind") - cols; d != 1 {
		t.Errorf("columns: %d column-list calls, want 1", d)
	}
}

func TestCacheKnob(t *testing.T) {
	app := startApp(t, sharedDB(t), map[string]string{KnobCache: "redis"})
	rdb := redis.NewClient(&redis.Options{Addr: stacktest.Start(t).RedisAddr})
	defer rdb.Close()
	ctx := context.Background()
	hits := func() int64 {
		info, err := rdb.Info(ctx, "stats").Result()
		if err != nil {
			t.Fatal(err)
		}
		var n int64
		for _, line := range strings.Split(info, "\r\n") {
			if v, ok := strings.CutPrefix(line, "keyspace_hits:"); ok {
				fmt.Sscan(v, &n)
			}
		}
		return n
	}
	q1, _ := feedQueries(t, app, 1) // miss: fills the caches (token, profile, feed)
	for _, kind := range []string{"profile", "feed"} {
		key := app.cacheKey(kind, 7)
		ttl, err := rdb.TTL(ctx, key).Result()
		if err != nil || ttl <= 0 {
			t.Errorf("%s not cached in Redis with a TTL (%s): ttl %v, err %v", kind, key, ttl, err)
		}
	}
	if ttl, err := rdb.TTL(ctx, app.cacheKey("feed", 7)).Result(); err != nil || ttl > DefaultFeedTTL {
		t.Errorf("feed cached for %v (%v), want the default %s at most", ttl, err, DefaultFeedTTL)
	}
	app.nearFeeds.drop(7) // go to Redis, not the near cache
	h := hits()
	q2, _ := feedQueries(t, app, 1)
	if q1 != 3 || q2 != 0 {
		t.Errorf("queries per feed: %.0f on a miss, %.0f on a hit; want 3 then 0", q1, q2)
	}
	if hits() <= h {
		t.Error("no Redis keyspace hit for the cached feed")
	}
	// Profiles through the users service: cached too.
	mustStatus(t, http.StatusOK, "GET", app.URL+"/users/9", "")
	before := metricsOf(t, app)
	mustStatus(t, http.StatusOK, "GET", app.URL+"/users/9", "")
	if d := metricsOf(t, app).queries("/users/{id}") - before.queries("/users/{id}"); d != 0 {
		t.Errorf("cached profile cost %v queries", d)
	}
	if err := app.SetKnob(ctx, KnobCache, "none"); err != nil {
		t.Fatal(err)
	}
	if q, _ := feedQueries(t, app, 1); q < 1 {
		t.Errorf("cache=none: %.0f queries per feed, want >= 1", q)
	}
}

func TestPoolKnob(t *testing.T) {
	dsn := sharedDB(t)
	app := startApp(t, dsn, map[string]string{KnobPool: "tiny"})
	if v, ok := metricsOf(t, app).value("pgxpool_max_conns"); !ok || v != tinyPoolSize {
		t.Errorf("pool=tiny: pgxpool_max_conns %v (%v), want %d", v, ok, tinyPoolSize)
	}
	mustStatus(t, http.StatusOK, "PUT", app.AdminURL+"/knobs/pool", `{"value":"sized"}`)
	if v, _ := metricsOf(t, app).value("pgxpool_max_conns"); v != float64(sizedPoolSize()) {
		t.Errorf("pool=sized: pgxpool_max_conns %v, want %d", v, sizedPoolSize())
	}
	mustStatus(t, http.StatusOK, "PUT", app.AdminURL+"/knobs/pool", `{"value":"huge"}`)
	if v, _ := metricsOf(t, app).value("pgxpool_max_conns"); v != hugePoolSize {
		t.Errorf("pool=huge: pgxpool_max_conns %v, want %d", v, hugePoolSize)
	}
	mustStatus(t, http.StatusOK, "PUT", app.AdminURL+"/knobs/pool", `{"value":"per-request"}`)
	if _, ok := metricsOf(t, app).value("pgxpool_max_conns"); ok {
		t.Error("pool=per-request: pool metrics still exported")
	}
	conn := connect(t, dsn)
	sessions := func() int64 {
		var n int64
		// Sessions are counted when they end; force the stats out first.
		if _, err := conn.Exec(context.Background(), "SELECT pg_stat_force_next_flush()"); err != nil {
			t.Fatal(err)
		}
		if err := conn.QueryRow(context.Background(), "SELECT sessions FROM pg_stat_database WHERE datname = current_database()").Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	s0 := sessions()
	for i := 0; i < 5; i++ {
		mustStatus(t, http.StatusOK, "GET", app.URL+"/users/"+itoa(int64(20+i))+"/orders", "")
	}
	eventually(t, 5*time.Second, "5 new sessions for 5 requests", func() bool { return sessions()-s0 >= 5 })
}

func TestGOMAXPROCSKnob(t *testing.T) {
	app := startApp(t, sharedDB(t), map[string]string{KnobGOMAXPROCS: "1"})
	if v, ok := metricsOf(t, app).value("go_sched_gomaxprocs_threads"); !ok || v != 1 {
		t.Errorf("gomaxprocs=1: go_sched_gomaxprocs_threads %v (%v)", v, ok)
	}
	mustStatus(t, http.StatusOK, "PUT", app.AdminURL+"/knobs/gomaxprocs", `{"value":"default"}`)
	want := runtime.GOMAXPROCS(0)
	if v, _ := metricsOf(t, app).value("go_sched_gomaxprocs_threads"); v != float64(want) || (runtime.NumCPU() > 1 && want == 1) {
		t.Errorf("gomaxprocs=default: go_sched_gomaxprocs_threads %v, runtime %d, cpus %d", v, want, runtime.NumCPU())
	}
}

// TestLockKnob: with the global lock, audit records are written inside the
// request under one mutex that concurrent requests queue on (the block
// profile shows them); without, they are batched off the request path.
func TestLockKnob(t *testing.T) {
	dsn := sharedDB(t)
	app := startApp(t, dsn, map[string]string{KnobLock: "global", KnobCache: "none"})
	conn := connect(t, dsn)
	count := func(userRoute string) int64 {
		var n int64
		if err := conn.QueryRow(context.Background(), "SELECT count(*) FROM audit_log WHERE route = $1", userRoute).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	const route = "/users/{id}/orders"
	n0 := count(route)
	var wg sync.WaitGroup
	for i := 0; i < 24; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if code, b := do(t, "GET", app.URL+"/users/"+itoa(int64(30+i))+"/orders", ""); code != http.StatusOK {
				t.Errorf("status %d: %s", code, b)
			}
		}()
	}
	wg.Wait()
	if d := count(route) - n0; d != 24 {
		t.Errorf("lock=global: %d audit records right after 24 requests, want 24 (written in the request)", d)
	}
	var prof bytes.Buffer
	if err := pprof.Lookup("block").WriteTo(&prof, 1); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(prof.String(), "recordAudit") {
		t.Error("lock=global: the block profile shows no request waiting in recordAudit")
	}
	if err := app.SetKnob(context.Background(), KnobLock, "none"); err != nil {
		t.Fatal(err)
	}
	n1 := count(route)
	mustStatus(t, http.StatusOK, "GET", app.URL+"/users/31/orders", "")
	eventually(t, 5*time.Second, "batched audit record", func() bool { return count(route)-n1 == 1 })
}

func TestAdminEndpoint(t *testing.T) {
	app := startApp(t, sharedDB(t), nil)
	b := mustStatus(t, http.StatusOK, "GET", app.AdminURL+"/knobs", "")
	list := decode[struct {
		Knobs []knobState `json:"knobs"`
	}](t, b)
	if len(list.Knobs) != len(Knobs) {
		t.Fatalf("GET /knobs lists %d knobs, want %d", len(list.Knobs), len(Knobs))
	}
	for _, k := range list.Knobs {
		if k.Value != k.Tuned || len(k.Values) < 2 {
			t.Errorf("knob %+v: want the tuned value and the allowed values", k)
		}
	}
	mustStatus(t, http.StatusBadRequest, "PUT", app.AdminURL+"/knobs/pool", `{"value":"medium"}`)
	mustStatus(t, http.StatusBadRequest, "PUT", app.AdminURL+"/knobs/pool", `{"value":`)
	mustStatus(t, http.StatusNotFound, "PUT", app.AdminURL+"/knobs/turbo", `{"value":"on"}`)
	b = mustStatus(t, http.StatusOK, "PUT", app.AdminURL+"/knobs/nplusone", `{"value":"per-row"}`)
	if !strings.Contains(string(b), `"name":"nplusone"`) || app.Settings()[KnobNPlusOne] != "per-row" {
		t.Errorf("PUT did not change the knob: %s", b)
	}

	// A client that is not on loopback (behind a proxy, a port forward) is
	// refused even though the listener is on loopback.
	for _, remote := range []string{"192.0.2.10:40000", "[2001:db8::1]:40000", "10.0.0.1:1"} {
		req := httptest.NewRequest("GET", "/knobs", nil)
		req.RemoteAddr = remote
		rec := httptest.NewRecorder()
		app.admin.ServeHTTP(rec, req)
		if rec.Code != http.StatusForbidden || !strings.Contains(rec.Body.String(), `"error"`) {
			t.Errorf("client %s: %d %s, want 403 with a JSON error", remote, rec.Code, rec.Body)
		}
	}
	req := httptest.NewRequest("GET", "/knobs", nil)
	req.RemoteAddr = "[::1]:5000"
	rec := httptest.NewRecorder()
	app.admin.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		t.Errorf("::1 client: %d", rec.Code)
	}
	// And it never listens elsewhere.
	ctx := context.Background()
	if _, err := Start(ctx, Config{DSN: sharedDSN, RedisAddr: stacktest.Start(t).RedisAddr, AdminAddr: "0.0.0.0:0"}); err == nil ||
		!strings.Contains(err.Error(), "loopback") {
		t.Errorf("admin on 0.0.0.0: err %v, want a loopback error", err)
	}
}

func TestMetricsAndPprof(t *testing.T) {
	app := startApp(t, sharedDB(t), nil)
	mustStatus(t, http.StatusOK, "GET", app.URL+"/users/5/feed", "")
	s := metricsOf(t, app)
	for _, name := range []string{"http_requests_total", "http_request_duration_seconds", "http_requests_in_flight",
		"sampleapp_db_queries_total", "pgxpool_acquire_count", "redis_pool_hits_total", "redis_pool_misses_total",
		"redis_pool_timeouts_total", "redis_pool_total_conns", "redis_pool_idle_conns", "go_sched_gomaxprocs_threads",
		"go_sched_latencies_seconds", "go_cpu_classes_total_cpu_seconds_total", "process_cpu_seconds_total"} {
		if s[name] == nil {
			t.Errorf("metric %s missing", name)
		}
	}
	for _, m := range s["http_requests_total"].GetMetric() {
		if r := label(m, "route"); strings.Contains(r, "/5") {
			t.Errorf("route label %q is a raw path", r)
		}
	}
	b := s["http_request_duration_seconds"].GetMetric()[0].GetHistogram().GetBucket()
	if last := b[len(b)-1].GetUpperBound(); math.IsInf(last, 1) {
		b = b[:len(b)-1]
	}
	if b[0].GetUpperBound() != 0.001 || b[len(b)-1].GetUpperBound() != 10 {
		t.Errorf("buckets from %v to %v, want 1 ms to 10 s", b[0].GetUpperBound(), b[len(b)-1].GetUpperBound())
	}
	for _, p := range []string{"/debug/pprof/", "/debug/pprof/goroutine?debug=1", "/debug/pprof/mutex", "/debug/pprof/block", "/debug/pprof/profile?seconds=1"} {
		code, _ := do(t, "GET", app.URL+p, "")
		if code != http.StatusOK {
			t.Errorf("%s: %d", p, code)
		}
	}
}
