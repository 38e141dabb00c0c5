package probe

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	httppprof "net/http/pprof"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	goredis "github.com/redis/go-redis/v9"
	"go.uber.org/goleak"

	"github.com/pgadvisor/advisor/internal/config"
	"github.com/pgadvisor/advisor/internal/probe/metrics/metricstest"
	"github.com/pgadvisor/advisor/internal/probe/postgres"
	"github.com/pgadvisor/advisor/internal/probe/pprof"
	"github.com/pgadvisor/advisor/internal/probe/probetest"
	"github.com/pgadvisor/advisor/internal/probe/source"
	"github.com/pgadvisor/advisor/internal/stack/stacktest"
)

// service starts metricstest's instrumented service with pprof handlers,
// backed by a database of its own and the stack's Redis, and returns its
// URL and a function that drives n requests through it.
func service(t testing.TB, dbName string) (url string, dsn string, redisAddr string, drive func(n int)) {
	t.Helper()
	info := stacktest.Start(t)
	dsn = stacktest.NewDatabase(t, dbName)
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	rc := goredis.NewClient(&goredis.Options{Addr: info.RedisAddr})
	t.Cleanup(func() { rc.Close() })
	svc := metricstest.New(metricstest.Config{Pool: pool, Redis: rc, Process: true})
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", httppprof.Index)
	mux.HandleFunc("/debug/pprof/profile", httppprof.Profile)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + l.Addr().String()
	api := svc.Handler(base)
	srv := &httptest.Server{Listener: l, Config: &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/debug/pprof/") {
			mux.ServeHTTP(w, r)
			return
		}
		api.ServeHTTP(w, r)
	})}}
	srv.Start()
	t.Cleanup(srv.Close)
	drive = func(n int) {
		var wg sync.WaitGroup
		for i := 0; i < 4; i++ {
			wg.Go(func() {
				for j := 0; j < n/4; j++ {
					for _, path := range []string{"/orders", "/cache", "/feed"} {
						resp, err := http.Get(srv.URL + path)
						if err == nil {
							resp.Body.Close()
						}
					}
				}
			})
		}
		wg.Wait()
	}
	return srv.URL, dsn, info.RedisAddr, drive
}

func TestObserveReadsEverySource(t *testing.T) {
	if testing.Short() {
		t.Skip("needs the private stack")
	}
	runtime.SetBlockProfileRate(10000)
	defer runtime.SetBlockProfileRate(0)
	url, dsn, redisAddr, drive := service(t, "probe_compose")
	ctx := context.Background()
	p, err := Open(ctx, Config{Sources: config.Sources{Target: url, PG: dsn, Redis: redisAddr}})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()

	// Traffic for as long as the window lasts (bounded in count): a fixed
	// number of requests could all finish before the first snapshot on a
	// busy machine, leaving the window without statements.
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		for range 60 {
			select {
			case <-stop:
				return
			default:
				drive(8)
			}
		}
	}()
	var ticks int
	const window = 3 * time.Second
	w, err := p.Observe(ctx, ObserveOptions{Window: window, ProfileSeconds: 1, GoroutineSamples: 4,
		Progress: func(_, _ time.Duration) { ticks++ }})
	close(stop)
	<-done
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range SourceNames {
		if st := w.Status(name); !st.Ok() {
			t.Errorf("source %s: %+v", name, st)
		}
	}
	// The last snapshot is asked for early by what the first took beyond
	// half a second, up to a quarter of the window (lastSnapshotLead): on
	// a busy machine a 3 s window spans 2.25 s between the two asks, and
	// the snapshots' clocks are read inside them (2.3 s in a CI run).
	if short := window - lastSnapshotLead(window, window) - 500*time.Millisecond; w.Cumulative || w.Seconds < short.Seconds() || w.Seconds > 10 {
		t.Errorf("window: cumulative %v, %.1f s", w.Cumulative, w.Seconds)
	}
	if w.Metrics == nil || w.Metrics.Requests <= 0 {
		t.Errorf("metrics window: %+v", w.Metrics)
	}
	if w.Postgres == nil || len(w.Postgres.Statements.Rows) == 0 {
		t.Fatalf("postgres window has no statements: %+v", w.Postgres)
	}
	for _, s := range w.Postgres.Statements.Rows {
		if s.Calls < 0 || s.CallsPerS < 0 || s.TotalTime < 0 {
			t.Errorf("negative statement delta: %+v", s)
		}
	}
	if w.Redis == nil {
		t.Error("no redis window")
	}
	if w.Profiles == nil || !w.Profiles.CPU.Status.Ok() {
		t.Errorf("CPU profile: %+v", w.Profiles)
	}
	if len(w.Goroutines) < 3 {
		t.Errorf("%d goroutine dumps over the window, want at least 3", len(w.Goroutines))
	}
	if len(w.Activity) < 3 {
		t.Errorf("%d readings of pg_stat_activity over the window, want at least 3", len(w.Activity))
	}
	if w.ProfileSeconds != w.Seconds {
		t.Errorf("profiles cover %.1f s of a %.1f s window", w.ProfileSeconds, w.Seconds)
	}
	if p.Explainer() == nil {
		t.Error("no explainer with a PostgreSQL source")
	}
	if ticks == 0 {
		t.Error("progress never called")
	}
}

func TestObserveCumulative(t *testing.T) {
	url, dsn, redisAddr, drive := service(t, "probe_cumulative")
	drive(8)
	ctx := context.Background()
	p, err := Open(ctx, Config{Sources: config.Sources{Target: url, PG: dsn, Redis: redisAddr}})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	start := time.Now()
	w, err := p.Observe(ctx, ObserveOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("cumulative observation waited %s", took)
	}
	if !w.Cumulative || w.Seconds <= 0 {
		t.Errorf("cumulative window: %v, %.1f s", w.Cumulative, w.Seconds)
	}
	if w.Postgres == nil || !w.Postgres.Cumulative || len(w.Postgres.Statements.Rows) == 0 {
		t.Errorf("cumulative postgres window: %+v", w.Postgres)
	}
	if w.Metrics == nil || w.Metrics.Requests < 8 {
		t.Errorf("cumulative metrics: %+v", w.Metrics)
	}
	if w.Profiles == nil || w.Profiles.CPU.Status.Ok() {
		t.Error("a cumulative observation must not wait for a CPU profile")
	}
}

func TestObserveWithSourcesDown(t *testing.T) {
	info := stacktest.Start(t)
	dsn := stacktest.NewDatabase(t, "probe_partial")
	closed := probetest.ClosedAddr(t)
	ctx := context.Background()
	p, err := Open(ctx, Config{Timeout: 2 * time.Second,
		Sources: config.Sources{Target: "http://" + closed, PG: dsn, Redis: info.RedisAddr}})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	w, err := p.Observe(ctx, ObserveOptions{Window: time.Second, ProfileSeconds: 1})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{Pprof, Metrics} {
		st := w.Status(name)
		if st.Ok() || st.Detail == "" {
			t.Errorf("%s with the target down: %+v", name, st)
		}
	}
	for _, name := range []string{Postgres, Redis} {
		if st := w.Status(name); !st.Ok() {
			t.Errorf("%s: %+v", name, st)
		}
	}
	if !w.AnyOK() {
		t.Error("AnyOK false with two sources up")
	}
}

func TestAllSourcesDownAndNotConfigured(t *testing.T) {
	closed := probetest.ClosedAddr(t)
	ctx := context.Background()
	p, err := Open(ctx, Config{Timeout: time.Second, Sources: config.Sources{
		PG: "postgres://advisor:s3cr3t-pw@" + closed + "/x?connect_timeout=1", Redis: closed}})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	w, err := p.Observe(ctx, ObserveOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if w.AnyOK() {
		t.Errorf("AnyOK with every source down: %+v", w.Sources)
	}
	for _, name := range SourceNames {
		st := w.Status(name)
		if st.Ok() || st.Detail == "" {
			t.Errorf("%s: %+v", name, st)
		}
		if strings.Contains(st.Detail, "s3cr3t-pw") {
			t.Errorf("%s status shows the password: %q", name, st.Detail)
		}
	}
	if d := w.Status(Pprof).Detail; !strings.Contains(d, "not configured") {
		t.Errorf("pprof without a target: %q", d)
	}
}

func TestOpenRejectsMalformedSources(t *testing.T) {
	_, err := Open(context.Background(), Config{Sources: config.Sources{Redis: "redis://:pw@host:notaport/0"}})
	if err == nil {
		t.Fatal("no error for a malformed Redis URL")
	}
	if strings.Contains(err.Error(), "pw@") {
		t.Errorf("error shows the password: %v", err)
	}
}

// BenchmarkFullRound is one full probe round: a snapshot of every source
// (PostgreSQL with 2,000+ distinct statements in pg_stat_statements, Redis,
// metrics, a goroutine dump) and a 20 MB CPU profile fetched, parsed and
// aggregated.
//
//	go test -run '^$' -bench FullRound -benchmem ./internal/probe/
func BenchmarkFullRound(b *testing.B) {
	info := stacktest.Start(b)
	dsn := stacktest.NewDatabase(b, "probe_round_bench")
	ctx := context.Background()
	if err := probetest.FillStatements(ctx, dsn); err != nil {
		b.Fatal(err)
	}
	profileData, err := probetest.CPUProfile(20000, 400000, 24)
	if err != nil {
		b.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/profile", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/octet-stream")
		_, _ = w.Write(profileData)
	})
	mux.HandleFunc("/debug/pprof/", httppprof.Index)
	mux.Handle("/metrics", metricstest.New(metricstest.Config{Process: true}).Handler(""))
	srv := httptest.NewServer(mux)
	defer srv.Close()
	p, err := Open(ctx, Config{Timeout: time.Minute, Sources: config.Sources{Target: srv.URL, PG: dsn, Redis: info.RedisAddr}})
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	prev := p.Snapshot(ctx)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		cur := p.Snapshot(ctx)
		prof := p.pprofRound(ctx)
		w := NewWindow(prev, cur)
		// The window holds only the statements that ran in it; the
		// snapshot holds them all.
		if !w.Status(Postgres).Ok() || len(cur.Postgres.Statements.Rows) < 2000 || !prof.CPU.Status.Ok() {
			b.Fatalf("round: postgres %+v (%d statements), cpu %+v", w.Status(Postgres), len(cur.Postgres.Statements.Rows), prof.CPU.Status)
		}
		for _, st := range cur.Status {
			if st.State != source.OK {
				b.Fatalf("source not ok: %+v", cur.Status)
			}
		}
		prev = cur
	}
	b.ReportMetric(float64(len(profileData))/(1<<20), "profile_MB")
	b.ReportMetric(float64(len(prev.Postgres.Statements.Rows)), "statements")
}

// pprofRound fetches, parses and aggregates the CPU profile alone.
func (p *Probes) pprofRound(ctx context.Context) *pprof.Snapshot {
	return pprof.Collect(ctx, p.pprof, pprof.Options{CPUSeconds: 1, Kinds: []pprof.Kind{pprof.KindCPU}})
}

// TestCloseLeavesNoGoroutine: advisor attach runs for hours against a target
// that stays up, so Close must release the HTTP connections of the pprof and
// metrics probes itself, not leave them to the target or an idle timeout.
func TestCloseLeavesNoGoroutine(t *testing.T) {
	svc := metricstest.New(metricstest.Config{})
	var api http.Handler
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", httppprof.Index)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { api.ServeHTTP(w, r) })
	srv := httptest.NewServer(mux)
	defer srv.Close()
	api = svc.Handler(srv.URL)

	before := goleak.IgnoreCurrent()
	ctx := context.Background()
	p, err := Open(ctx, Config{Sources: config.Sources{Target: srv.URL}})
	if err != nil {
		t.Fatal(err)
	}
	s := p.Snapshot(ctx)
	for _, name := range []string{Pprof, Metrics} {
		if st := s.Status[name]; !st.Ok() {
			t.Errorf("source %s: %+v", name, st)
		}
	}
	p.Close()
	goleak.VerifyNone(t, before)
}

// TestObserveSamplesActivity: without a pprof source, Observe still reads
// pg_stat_activity at each sampling tick, and the window carries every
// reading, oldest first, from its start to its end.
func TestObserveSamplesActivity(t *testing.T) {
	stacktest.Start(t)
	dsn := stacktest.NewDatabase(t, "probe_activity")
	ctx := context.Background()
	const app = "advisor-probe-observe-test"
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	cfg.RuntimeParams["application_name"] = app
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())

	p, err := Open(ctx, Config{Sources: config.Sources{PG: dsn}})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	w, err := p.Observe(ctx, ObserveOptions{Window: 2 * time.Second, GoroutineSamples: 5})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(w.Activity); n < 4 || n > 5 {
		t.Fatalf("%d readings of pg_stat_activity over the window, want 4 or 5", n)
	}
	if !w.Activity[0].Time.Equal(w.Start) || !w.Activity[len(w.Activity)-1].Time.Equal(w.End) {
		t.Errorf("readings from %s to %s, window %s to %s", w.Activity[0].Time, w.Activity[len(w.Activity)-1].Time, w.Start, w.End)
	}
	for i := 1; i < len(w.Activity); i++ {
		if !w.Activity[i].Time.After(w.Activity[i-1].Time) {
			t.Errorf("reading %d not after the one before", i)
		}
	}
	var found bool
	for _, c := range w.ActivityByClient() {
		if c.Application == app {
			found = true
			if c.Samples != len(w.Activity) || c.Seen != c.Samples || c.State(postgres.StateIdle) != (postgres.SessionCount{Mean: 1, Max: 1}) {
				t.Errorf("summary of %s: %+v", app, c)
			}
		}
		if c.Application == postgres.ApplicationName {
			t.Errorf("advisor's own sessions: %+v", c)
		}
	}
	if !found {
		t.Errorf("no summary of %s: %+v", app, w.ActivityByClient())
	}
}

// TestNoPprofRequestsToOtherRuntimes: a service whose metrics say it runs
// on Python gets no request at /debug/pprof (each was a 404 in its logs and
// its error rate, and a route of its own in its metrics), not even in the
// first reading or a report's window, and pprof says it does not apply;
// metrics naming Go again bring the requests back. A --pprof URL given
// apart from the target is asked once before it is given up.
func TestNoPprofRequestsToOtherRuntimes(t *testing.T) {
	var mu sync.Mutex
	page, pprofHits := "fastapi.txt", 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		if r.URL.Path == "/metrics" {
			http.ServeFile(w, r, "metrics/testdata/"+page)
			return
		}
		if strings.HasPrefix(r.URL.Path, "/debug/pprof") {
			pprofHits++
		}
		http.NotFound(w, r)
	}))
	defer srv.Close()
	hits := func() int {
		mu.Lock()
		defer mu.Unlock()
		return pprofHits
	}
	ctx := t.Context()

	// A report's window, from a fresh start: its profiles start with its
	// first reading.
	p, err := Open(ctx, Config{Timeout: 5 * time.Second, Sources: config.Sources{Target: srv.URL}})
	if err != nil {
		t.Fatal(err)
	}
	w, err := p.Observe(ctx, ObserveOptions{Window: time.Second, ProfileSeconds: 1, GoroutineSamples: 3})
	p.Close()
	if err != nil {
		t.Fatal(err)
	}
	if n := hits(); n != 0 {
		t.Errorf("a report's window sent %d requests to a Python service's /debug/pprof", n)
	}
	if st := w.Sources[Pprof]; !strings.HasPrefix(st.Detail, "not applicable: a python service") {
		t.Errorf("a report's pprof status: %+v", st)
	}

	// The explicit --pprof URL: asked once.
	p, err = Open(ctx, Config{Timeout: 5 * time.Second, Sources: config.Sources{Target: srv.URL, Pprof: srv.URL}})
	if err != nil {
		t.Fatal(err)
	}
	if st := p.Snapshot(ctx).Status[Pprof]; st.Ok() || !strings.Contains(st.Detail, "pprof not served") || hits() != 1 {
		t.Errorf("--pprof given: first reading's pprof %+v after %d requests to /debug/pprof", st, hits())
	}
	if st := p.Snapshot(ctx).Status[Pprof]; !strings.HasPrefix(st.Detail, "not applicable: a python service") || hits() != 1 {
		t.Errorf("--pprof given: second reading's pprof %+v after %d requests to /debug/pprof", st, hits())
	}
	p.Close()

	p, err = Open(ctx, Config{Timeout: 5 * time.Second, Sources: config.Sources{Target: srv.URL}})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	before := hits()
	if st := p.Snapshot(ctx).Status[Pprof]; !strings.HasPrefix(st.Detail, "not applicable: a python service") {
		t.Errorf("first reading's pprof status: %+v", st)
	}
	if prof := p.Profiles(ctx, 1); prof == nil || !strings.HasPrefix(prof.Status.Detail, "not applicable") ||
		prof.CPU == nil || prof.GoroutineText == nil || prof.CPU.Status != prof.Status {
		t.Errorf("profiles of a Python service: %+v", prof)
	}
	if g := p.Goroutines(ctx); g != nil {
		t.Errorf("a goroutine sample of a Python service: %+v", g.Status)
	}
	if n := hits(); n != before {
		t.Errorf("%d requests to /debug/pprof after the runtime was known", n-before)
	}

	mu.Lock()
	page = "client_golang.txt"
	mu.Unlock()
	p.Snapshot(ctx) // reads the metrics naming Go
	before = hits()
	if st := p.Snapshot(ctx).Status[Pprof]; st.Ok() || hits() == before {
		t.Errorf("a Go service's pprof was not read again: %+v, %d requests", st, hits()-before)
	}
}

// TestObserveAsksLastSnapshotEarly: a service that answers /metrics 2 s
// after being asked (a blocked event loop answers after the requests queued
// before the scrape) had its last snapshot asked for at the window's end,
// and the report came 2 s after it. The last scrape is now asked for
// early by what the first took beyond half a second, and the window says
// what it covered.
func TestObserveAsksLastSnapshotEarly(t *testing.T) {
	const delay = 2 * time.Second
	var mu sync.Mutex
	var asked []time.Time
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/metrics" {
			http.NotFound(w, r)
			return
		}
		mu.Lock()
		asked = append(asked, time.Now())
		mu.Unlock()
		select {
		case <-time.After(delay):
		case <-r.Context().Done():
			return
		}
		http.ServeFile(w, r, "metrics/testdata/fastapi.txt")
	}))
	defer srv.Close()
	ctx := t.Context()
	p, err := Open(ctx, Config{Timeout: 5 * time.Second, Sources: config.Sources{Target: srv.URL}})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	const window = 4 * time.Second
	start := time.Now()
	w, err := p.Observe(ctx, ObserveOptions{Window: window})
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(asked) != 2 {
		t.Fatalf("%d scrapes, want the two snapshots'", len(asked))
	}
	// The first scrape took 2 s: the last is asked for 1 s before the
	// window's end (a quarter of it), not at it.
	if at := asked[1].Sub(start); at > window-500*time.Millisecond {
		t.Errorf("last scrape asked for %v after the start, window %v", at.Round(time.Millisecond), window)
	}
	if got := time.Duration(w.Seconds * float64(time.Second)); got > window-500*time.Millisecond || got < window/2 {
		t.Errorf("window of %v, want the time between the two scrapes", got.Round(time.Millisecond))
	}
}

// TestObserveProfilesEndWithTheWindow: a Go service's profiles wait for its
// first metrics to tell the runtime (2 s here); the seconds they waited are
// taken from them, so that the window's profiles, asked for its length,
// still end with it rather than 2 s past it.
func TestObserveProfilesEndWithTheWindow(t *testing.T) {
	const delay = 2 * time.Second
	var mu sync.Mutex
	seconds := map[string]string{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		wait := delay
		if r.URL.Path != "/metrics" {
			n, err := strconv.Atoi(r.URL.Query().Get("seconds"))
			if err != nil {
				http.NotFound(w, r)
				return
			}
			mu.Lock()
			seconds[r.URL.Path] = r.URL.Query().Get("seconds")
			mu.Unlock()
			wait = time.Duration(n) * time.Second
		}
		select {
		case <-time.After(wait):
		case <-r.Context().Done():
			return
		}
		if r.URL.Path != "/metrics" {
			http.NotFound(w, r)
			return
		}
		http.ServeFile(w, r, "metrics/testdata/client_golang.txt")
	}))
	defer srv.Close()
	ctx := t.Context()
	p, err := Open(ctx, Config{Timeout: 10 * time.Second, Sources: config.Sources{Target: srv.URL}})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	const window = 5 * time.Second
	start := time.Now()
	if _, err := p.Observe(ctx, ObserveOptions{Window: window, ProfileSeconds: 5}); err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	mu.Lock()
	defer mu.Unlock()
	asked := len(seconds) > 0
	for _, n := range seconds {
		asked = asked && n == "3"
	}
	if !asked || took > window+3*delay/4 {
		t.Errorf("window %v: took %v, profiles asked for %v seconds", window, took.Round(time.Millisecond), seconds)
	}
}

func TestLastSnapshotLead(t *testing.T) {
	for _, tc := range []struct{ first, window, want time.Duration }{
		{200 * time.Millisecond, 10 * time.Second, 0},
		{500 * time.Millisecond, 10 * time.Second, 0},
		{time.Second, 10 * time.Second, 500 * time.Millisecond},
		{2500 * time.Millisecond, 10 * time.Second, 2 * time.Second},
		{9 * time.Second, 10 * time.Second, 2500 * time.Millisecond},
	} {
		if got := lastSnapshotLead(tc.first, tc.window); got != tc.want {
			t.Errorf("lastSnapshotLead(%v, %v) = %v, want %v", tc.first, tc.window, got, tc.want)
		}
	}
}
