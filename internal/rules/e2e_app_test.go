package rules

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/http/pprof"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/pgadvisor/advisor/internal/config"
	"github.com/pgadvisor/advisor/internal/load"
	"github.com/pgadvisor/advisor/internal/probe"
	"github.com/pgadvisor/advisor/internal/probe/metrics"
	"github.com/pgadvisor/advisor/internal/scenario"
	"github.com/pgadvisor/advisor/internal/stack"
	"github.com/pgadvisor/advisor/internal/stack/stacktest"
	"github.com/pgadvisor/advisor/sampleapp"
	"github.com/pgadvisor/advisor/sampleapp/sampletest"
)

// Redis ports of this package's end-to-end tests.
const (
	appE2ERedisPort     = 26431 // the matrix' cache, bounded
	appE2ETinyRedisPort = 26432 // maxmemory 2mb
)

// appRuleIDs are the rules of this family.
var appRuleIDs = []string{
	"app.blocking-io", "app.inline-work", "app.lock-contention", "app.internal-hops",
	"runtime.gomaxprocs", "runtime.gc-pressure", "http.saturation",
	"redis.low-hit-ratio", "redis.evictions", "redis.slow-commands", "redis.cpu-saturation",
	"redis.rejected-connections", "redis.memory-unbounded", "redis.dangerous-commands", "redis.round-trips",
	"redis.fragmentation", "redis.persistence", "queue.backlog", "probe.unavailable",
}

// appRunFamily runs this family's built-in rules on a window.
func appRunFamily(t *testing.T, w *probe.Window) []Finding {
	t.Helper()
	set := loadBuiltin(t)
	var rules []*Rule
	for _, id := range appRuleIDs {
		rules = append(rules, set.Rule(id))
	}
	fs, errs := Run(context.Background(), &Input{Window: w, Patterns: set.Patterns}, rules, Builtin())
	for _, err := range errs {
		t.Errorf("run: %v", err)
	}
	return fs
}

func appLogFindings(t *testing.T, name string, fs []Finding) {
	t.Helper()
	for _, f := range fs {
		t.Logf("%s: %-8s %-22s %s | %s | %s | %v", name, f.Severity, f.Rule, f.Subject, f.Title, f.Location, f.Evidence)
	}
}

// appLogWindow logs what the application rules read, for a failing test.
func appLogWindow(t *testing.T, name string, w *probe.Window) {
	t.Helper()
	if m := w.Metrics; m != nil {
		if m.Runtime.GOMAXPROCS != nil && m.Process.CPUCores != nil {
			t.Logf("%s: GOMAXPROCS %v, process CPU %.2f cores, rps %.1f", name, *m.Runtime.GOMAXPROCS, *m.Process.CPUCores, m.RPS)
		}
		if m.Runtime.GCCPUFraction != nil {
			t.Logf("%s: GC CPU share %.3f", name, *m.Runtime.GCCPUFraction)
		}
		for _, o := range m.Outbound {
			t.Logf("%s: outbound %s %.0f calls, mean %.1f ms", name, o.Host, o.Calls, o.Latency.Mean*1000)
		}
		for _, r := range m.Routes {
			t.Logf("%s: route %s %s %.0f requests, mean %.1f ms", name, r.Method, r.Route, r.Requests, r.Latency.Mean*1000)
		}
	}
	// How request goroutines were classified (wait_patterns).
	v := (&Input{Window: w, Patterns: loadBuiltin(t).Patterns}).app()
	classes := map[string]float64{}
	for _, h := range v.handlers {
		for name, c := range h.classes {
			classes[name] += c.samples
		}
	}
	t.Logf("%s: %v request goroutine samples in %d dumps, by class %v; server goroutines %v, runnable %v",
		name, v.samples, v.dumps, classes, v.server, v.serverRunnable)
	if r := w.Redis; r != nil {
		t.Logf("%s: redis hit ratio %.3f over %d lookups", name, r.HitRatio, r.Hits+r.Misses)
	}
	for _, g := range w.Goroutines {
		t.Logf("%s: dump: %d goroutines, %d in server, %d in handlers, runnable %d", name, g.Summary.Total, g.Summary.InServer, g.Summary.InHandler, g.Summary.ByState["runnable"])
	}
}

func appFindingsOf(fs []Finding, rule string) []Finding {
	var out []Finding
	for _, f := range fs {
		if f.Rule == rule {
			out = append(out, f)
		}
	}
	return out
}

func appStartRedis(t *testing.T, port int, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	r, err := stack.StartRedis(ctx, t.TempDir(), port, stack.RedisOptions{Args: args})
	if err != nil {
		t.Fatalf("start redis: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = r.Stop(ctx)
	})
	return r.Addr()
}

// appPrimeFeeds fills the service's cache with every feed of the load mix
// (sampleapp.PrimeFeeds).
func appPrimeFeeds(ctx context.Context, t *testing.T, s *scenario.Scenario) {
	t.Helper()
	start := time.Now()
	n, err := sampleapp.PrimeFeeds(ctx, s.LoadConfig(1, 0), 8)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("primed %d feeds in %s", n, time.Since(start).Round(time.Millisecond))
}

// appAwaitSteadyHitRatio waits, while the load runs, until the hit ratio of
// the Redis at addr has settled (scenario.AwaitSteadyHitRatio).
func appAwaitSteadyHitRatio(ctx context.Context, t *testing.T, addr string, minWait, maxWait time.Duration) {
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

// appObserveSampleapp runs sampleapp's load mix, with the entries named in
// weights reweighted, and observes the service for window after a warm-up,
// as scenario.Observe does. With cacheRedis set, the warm-up primes the
// service's cache first and lasts until the hit ratio of that Redis has
// settled under the load.
func appObserveSampleapp(ctx context.Context, t *testing.T, s *scenario.Scenario, weights map[string]int, window time.Duration, cacheRedis string) *probe.Window {
	t.Helper()
	if cacheRedis != "" {
		appPrimeFeeds(ctx, t, s)
	}
	probes, err := probe.Open(ctx, probe.Config{Sources: s.Sources()})
	if err != nil {
		t.Fatal(err)
	}
	defer probes.Close()
	cfg := s.LoadConfig(16, 0)
	for i := range cfg.Mix {
		if w, ok := weights[cfg.Mix[i].Name]; ok {
			cfg.Mix[i].Weight = w
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		_, err := load.Run(ctx, cfg)
		done <- err
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("load: %v", err)
		}
	}()
	if cacheRedis != "" {
		appAwaitSteadyHitRatio(ctx, t, cacheRedis, 3*time.Second, 30*time.Second)
	} else {
		select {
		// Pools and plans warm. The rules these cases plant read the
		// handlers' goroutine dumps and CPU profile, not the cache: a
		// second is enough (three took 12 of the test's 109 CPU-seconds
		// under a load that keeps both CPUs busy, 2026-12-05).
		case <-time.After(time.Second):
		case <-ctx.Done():
			t.Fatal(ctx.Err())
		}
	}
	w, err := probes.Observe(ctx, probe.ObserveOptions{Window: window, ProfileSeconds: int(window / time.Second), GoroutineSamples: 6})
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// TestE2EAppMatrix runs sampleapp tuned, then with one knob naive at a time,
// and checks that each gives its rule, with the right call site, and that
// the tuned service gives no finding at warning or above.
func TestE2EAppMatrix(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	stacktest.Start(t)
	dsn := sampletest.Database(t, "rules_app_e2e", sampleapp.TestSize)
	// A bounded cache (redis.memory-unbounded is right about the shared
	// test Redis). On this test machine, shared with other builds, Redis
	// itself is sometimes descheduled for over 10 ms, which the slow log
	// records even for a GET: log only commands of 100 ms and more.
	redisAddr := appStartRedis(t, appE2ERedisPort, "--maxmemory", "64mb", "--maxmemory-policy", "allkeys-lru",
		"--slowlog-log-slower-than", "100000")

	cases := []struct {
		knob, value string
		// weights change the load mix (sampleapp.LoadMix) for the knob.
		weights map[string]int
		check   func(t *testing.T, fs []Finding)
	}{
		// The tuned service's job workers finish an order's follow-up
		// work (PDF, e-mail, a webhook to a slow receiver) at a few a
		// second on a loaded machine: the default mix's 10% of orders,
		// unthrottled, made 300 a second on a fast run, and queue.backlog
		// was right about the 2,253 jobs left waiting (4 finished a
		// second). 1% keeps the orders' handlers in the window and the
		// queue under the rule's 1,000 jobs over the test's seconds.
		{knob: "", weights: map[string]int{sampleapp.MixPostOrder: 1}, check: func(t *testing.T, fs []Finding) {
			for _, f := range fs {
				if f.Severity >= Warning {
					t.Errorf("tuned: %s %s: %s %v", f.Rule, f.Subject, f.Title, f.Evidence)
				}
			}
		}},
		// Feeds served from the near cache make no hop: fewer feeds.
		{knob: sampleapp.KnobHops, value: "http", weights: map[string]int{sampleapp.MixFeed: 20}, check: func(t *testing.T, fs []Finding) {
			hops := appFindingsOf(fs, "app.internal-hops")
			if len(hops) == 0 {
				t.Fatal("no app.internal-hops finding")
			}
			var total float64
			for _, f := range hops {
				total += f.Evidence["hops_per_request"].(float64)
				if fn, _ := f.Evidence["function"].(string); !strings.HasSuffix(fn, "sampleapp.(*App).callService") {
					t.Errorf("calling function %q, want sampleapp.(*App).callService", fn)
				}
				if !strings.Contains(f.Location, "sampleapp/services.go:") {
					t.Errorf("location %q", f.Location)
				}
			}
			// Every endpoint calls the users service for the profile, but
			// the feed's caches and the token cache (the cache knob is
			// tuned) spare some calls: about 0.6 per request with the
			// default mix, 0.8 with fewer feeds.
			if total < 0.5 {
				t.Errorf("hops per request %.2f, want at least 0.5", total)
			}
			t.Logf("hops per request %.2f", total)
		}},
		// POST /orders is 10% of the default mix: make it 40%.
		{knob: sampleapp.KnobInline, value: "inline", weights: map[string]int{sampleapp.MixPostOrder: 40}, check: func(t *testing.T, fs []Finding) {
			classes := map[string]Finding{}
			for _, f := range appFindingsOf(fs, "app.inline-work") {
				if f.Evidence["handler"] == "github.com/pgadvisor/advisor/sampleapp.(*App).postOrder" {
					// One finding per handler names its classes.
					for _, c := range f.Evidence["work_classes"].([]string) {
						classes[c] = f
					}
				}
			}
			for _, want := range []string{"smtp", "webhook"} {
				f, ok := classes[want]
				if !ok {
					t.Errorf("no app.inline-work %s finding for the POST /orders handler (postOrder)", want)
					continue
				}
				if !strings.Contains(f.Location, "sampleapp/orders.go:") {
					t.Errorf("%s: location %q", want, f.Location)
				}
			}
		}},
		{knob: sampleapp.KnobLock, value: "global", check: func(t *testing.T, fs []Finding) {
			locks := appFindingsOf(fs, "app.lock-contention")
			if len(locks) == 0 {
				t.Fatal("no app.lock-contention finding")
			}
			f := locks[0]
			if f.Subject != "github.com/pgadvisor/advisor/sampleapp.(*App).recordAudit" || !strings.Contains(f.Location, "sampleapp/services.go:") {
				t.Errorf("lock site %s at %s, want sampleapp.(*App).recordAudit in services.go", f.Subject, f.Location)
			}
		}},
		{knob: sampleapp.KnobRateLimit, value: "round-trips", check: func(t *testing.T, fs []Finding) {
			rt := appFindingsOf(fs, "redis.round-trips")
			if len(rt) != 1 {
				t.Fatalf("redis.round-trips: %v", rt)
			}
			// GET, INCR and EXPIRE per request, besides the cache's calls.
			if cpr := rt[0].Evidence["commands_per_request"].(float64); cpr < 3 {
				t.Errorf("%.2f commands per request, want 3 or more", cpr)
			}
			for _, c := range []string{"GET", "INCR", "EXPIRE"} {
				if !strings.Contains(rt[0].Evidence["commands"].(string), c+" ") {
					t.Errorf("%s not among %q", c, rt[0].Evidence["commands"])
				}
			}
		}},
		// Orders are 40% of the mix, their follow-up work queued for
		// workers that do not run.
		{knob: sampleapp.KnobJobWorkers, value: "0", weights: map[string]int{sampleapp.MixPostOrder: 40}, check: func(t *testing.T, fs []Finding) {
			qb := appFindingsOf(fs, "queue.backlog")
			if len(qb) != 1 || qb[0].Subject != "river default" {
				t.Fatalf("queue.backlog: %v", qb)
			}
			if qb[0].Evidence["growth_per_s"].(float64) <= 1 || qb[0].Evidence["no_worker"] != true {
				t.Errorf("evidence %v", qb[0].Evidence)
			}
		}},
		{knob: sampleapp.KnobGOMAXPROCS, value: "1", check: func(t *testing.T, fs []Finding) {
			g := appFindingsOf(fs, "runtime.gomaxprocs")
			if len(g) != 1 || g[0].Evidence["gomaxprocs"] != 1.0 {
				t.Fatalf("runtime.gomaxprocs: %v", g)
			}
		}},
	}
	var matrix []string
	for _, c := range cases {
		name := "tuned"
		if c.knob != "" {
			name = c.knob + "=" + c.value
		}
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			opts := scenario.Options{DSN: dsn, RedisAddr: redisAddr, Profile: sampleapp.ProfileTuned,
				CacheNamespace: "rules-app-" + strings.ReplaceAll(name, "=", "-")}
			if c.knob != "" {
				opts.Knobs = map[string]string{c.knob: c.value}
			}
			s, err := scenario.Start(ctx, opts)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			// The tuned service's window must see its cache's steady state
			// (redis.low-hit-ratio is right about a cold one).
			cacheRedis := ""
			if c.knob == "" {
				cacheRedis = redisAddr
			}
			// The service gives Redis 100 ms to answer and skips it for a
			// second after a failure (sampleapp/cache.go). On a host busy
			// with the rest of the test run a dial sometimes times out, and
			// the window then sees fewer Redis calls than the service
			// makes (the round-trips case once counted none of the rate
			// limiter's). Such a window is observed again, twice at most.
			var w *probe.Window
			for attempt := 1; ; attempt++ {
				skipped := appCacheSkipped(ctx, t, s)
				w = appObserveSampleapp(ctx, t, s, c.weights, 4*time.Second, cacheRedis)
				n := appCacheSkipped(ctx, t, s) - skipped
				if n == 0 || attempt == 3 {
					break
				}
				t.Logf("%s: the service skipped Redis for %.0f calls in the window (timeouts on a busy host): observing again", name, n)
			}
			fs := appRunFamily(t, w)
			appLogWindow(t, name, w)
			appLogFindings(t, name, fs)
			c.check(t, fs)
			var got []string
			for _, f := range fs {
				if f.Severity >= Warning {
					got = append(got, f.Rule+" ("+f.Subject+" @ "+f.Location+")")
				}
			}
			matrix = append(matrix, fmt.Sprintf("%-14s -> %s", name, strings.Join(got, "; ")))
		})
	}
	for _, line := range matrix {
		t.Log("matrix: " + line)
	}
}

// appCacheSkipped reads the service's count of cache calls it did not send
// to Redis because Redis failed less than a second before.
func appCacheSkipped(ctx context.Context, t *testing.T, s *scenario.Scenario) float64 {
	t.Helper()
	fams, err := metrics.ParseBytes(testGet(ctx, t, s.App.URL+"/metrics"))
	if err != nil {
		t.Fatal(err)
	}
	n, ok := fams.Value("sampleapp_cache_skipped_total", nil)
	if !ok {
		t.Fatal("no sampleapp_cache_skipped_total in the service's metrics")
	}
	return n
}

// TestE2ERedisTinyMaxmemory fills a Redis of 2 MB with a miss-heavy
// workload: redis.evictions and redis.low-hit-ratio. (An empty Redis 7 uses
// about 900 kB: with maxmemory 1mb it refuses writes with OOM errors
// instead of evicting, as soon as a few clients' buffers count.)
func TestE2ERedisTinyMaxmemory(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	t.Parallel() // servers or a database of its own, and no load whose rate it measures
	addr := appStartRedis(t, appE2ETinyRedisPort, "--maxmemory", "2mb", "--maxmemory-policy", "allkeys-lru")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	rdb := goredis.NewClient(&goredis.Options{Addr: addr})
	defer rdb.Close()
	wctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	value := strings.Repeat("v", 1024)
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(i), 7))
			for wctx.Err() == nil {
				key := "k:" + strconv.Itoa(r.IntN(100_000))
				if err := rdb.Get(wctx, key).Err(); errors.Is(err, goredis.Nil) {
					_ = rdb.Set(wctx, key, value, time.Hour).Err()
				}
			}
		}()
	}
	probes, err := probe.Open(ctx, probe.Config{Sources: config.Sources{Redis: addr}})
	if err != nil {
		t.Fatal(err)
	}
	defer probes.Close()
	time.Sleep(time.Second)
	w, err := probes.Observe(ctx, probe.ObserveOptions{Window: 3 * time.Second})
	stop()
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	fs := appRunFamily(t, w)
	appLogFindings(t, "redis", fs)
	for _, id := range []string{"redis.evictions", "redis.low-hit-ratio"} {
		if len(appFindingsOf(fs, id)) != 1 {
			t.Errorf("want one %s finding", id)
		}
	}
	if f := appFindingsOf(fs, "redis.evictions"); len(f) == 1 && f[0].Evidence["maxmemory_policy"] != "allkeys-lru" {
		t.Errorf("evictions evidence %v", f[0].Evidence)
	}
	if len(appFindingsOf(fs, "redis.memory-unbounded")) != 0 {
		t.Errorf("a bounded Redis flagged as unbounded")
	}
	// pprof, metrics and postgres were not given: lines of the sources
	// table, not findings.
	if n := len(appFindingsOf(fs, "probe.unavailable")); n != 0 {
		t.Errorf("%d probe.unavailable findings, want none for the sources nobody configured", n)
	}
}

// appE2EFetchRate is the synchronous outbound call of the test service.
func appE2EFetchRate(ctx context.Context, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req) // e2e: the blocking call
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, err = io.Copy(io.Discard, resp.Body)
	return err
}

// appBlockingCallLine is the line of this file marked as the blocking call.
func appBlockingCallLine(t *testing.T) int {
	t.Helper()
	f, err := os.Open("e2e_app_test.go")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		if strings.HasSuffix(sc.Text(), "// e2e: the blocking call") {
			return n
		}
	}
	t.Fatal("marker not found")
	return 0
}

// TestE2EAnyGoService points the probes at a service written here, not
// sampleapp: its handler calls a slow server synchronously, and
// app.blocking-io names that call.
func TestE2EAnyGoService(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(80 * time.Millisecond):
		case <-r.Context().Done():
		}
		_, _ = io.WriteString(w, "1.08")
	}))
	defer slow.Close()
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("GET /quote", func(w http.ResponseWriter, r *http.Request) {
		if err := appE2EFetchRate(r.Context(), slow.URL); err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		_, _ = io.WriteString(w, `{"quote": 1.08}`)
	})
	svc := httptest.NewServer(mux)
	defer svc.Close()

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	lctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		_, err := load.Run(lctx, load.Config{BaseURL: svc.URL, Mix: []load.Entry{{Path: "/quote"}}, Connections: 8})
		done <- err
	}()
	probes, err := probe.Open(ctx, probe.Config{Sources: config.Sources{Target: svc.URL}})
	if err != nil {
		t.Fatal(err)
	}
	defer probes.Close()
	time.Sleep(500 * time.Millisecond)
	w, err := probes.Observe(ctx, probe.ObserveOptions{Window: 3 * time.Second, ProfileSeconds: 1})
	stop()
	if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
		t.Errorf("load: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	fs := appRunFamily(t, w)
	appLogFindings(t, "any-go", fs)
	want := "e2e_app_test.go:" + strconv.Itoa(appBlockingCallLine(t))
	var found bool
	for _, f := range appFindingsOf(fs, "app.blocking-io") {
		if strings.HasSuffix(f.Evidence["function"].(string), ".appE2EFetchRate") {
			found = true
			if filepath.Base(f.Location) != want {
				t.Errorf("location %s, want %s", f.Location, want)
			}
			if f.Evidence["wait_class"] != "outbound-http" {
				t.Errorf("wait class %v", f.Evidence["wait_class"])
			}
		}
	}
	if !found {
		t.Errorf("no app.blocking-io finding for appE2EFetchRate")
	}
	// The slow server's handlers wait in a select on a timer: no
	// concurrency limit.
	if f := appFindingsOf(fs, "http.saturation"); len(f) != 0 {
		t.Errorf("http.saturation: %v", f[0].Evidence)
	}
}
