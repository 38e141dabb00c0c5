package sampleapp

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/pgadvisor/advisor/internal/load"
)

// BenchConfig says how to run the naive-versus-tuned benchmark.
type BenchConfig struct {
	DSN       string
	RedisAddr string
	// Size is the data set; the database is seeded with it if needed.
	Size Size
	// Reset reseeds a database seeded with another size.
	Reset bool
	// Exe is the sampleapp binary; each measured service runs in a process
	// of its own (`Exe serve ...`, `Exe bare ...`), apart from the load
	// generator, as in production.
	Exe         string
	Duration    time.Duration
	Warmup      time.Duration
	Connections int
	// Rounds is the number of naive/tuned pairs, each pair adjacent, its
	// order alternating from one round to the next.
	Rounds int
	// Pairs is the number of feed/bare pairs, the two sides of each taking
	// turns (benchPair), which of them first alternating from one pair to
	// the next. Their ratio is a median, and one run's three pairs could
	// sit together away from another's (0.55-0.59 against 0.42-0.47 on
	// the same machine, 2026-12-05): it takes more of them than the rounds.
	Pairs int
	// MinRequests keeps each measured run going past Duration until that
	// many requests have completed, up to MaxDuration (reported when hit):
	// a figure over a dozen requests is noise.
	MinRequests int64
	MaxDuration time.Duration
	// KeepJobs leaves the follow-up jobs of the orders the benchmark placed
	// in the queue. By default those still queued at the end are deleted:
	// thousands of e-mails, invoices and webhooks for benchmark orders would
	// otherwise keep the next instance's workers busy for an hour.
	KeepJobs bool
	Out      io.Writer
}

// Defaults of BenchConfig's zero fields.
const (
	DefaultBenchRounds      = 3
	DefaultBenchPairs       = 5
	DefaultBenchMinRequests = 200
	DefaultBenchMaxDuration = 2 * time.Minute
)

// BenchRun is what one measured run gave.
type BenchRun struct {
	Profile string
	Result  *load.Result
	// Completed is the number of API requests the service completed between
	// the two readings of its counters, which are taken with no request in
	// flight: the per-request figures below count completed requests only,
	// and every query those requests made.
	Completed float64
	// QueriesPerRequest counts every query the requests caused (the hops'
	// included) per API request; FeedQueries per feed request.
	QueriesPerRequest, FeedQueries float64
	// HopsPerRequest counts calls to the identity and users services per API
	// request.
	HopsPerRequest float64
	// Discarded is the number of queued follow-up jobs deleted before the
	// run, so that no background work of an earlier run shares the machine
	// with this one; Settled is the time waited for the service to have no
	// request in flight before and after the run.
	Discarded int64
	Settled   time.Duration
}

// BenchReport is the benchmark's outcome.
type BenchReport struct {
	Naive, Tuned []BenchRun
	Pairs        []FeedPair
}

// Bench seeds the database if needed, then measures the naive and the tuned
// profile (alternating, cfg.Rounds times) on the same data with the same
// mix, then the tuned feed endpoint against a bare handler in cfg.Pairs
// pairs whose sides take turns, and prints the figures, their medians with their spread
// and the ratios to cfg.Out.
func Bench(ctx context.Context, cfg BenchConfig) (*BenchReport, error) {
	if cfg.Rounds <= 0 {
		cfg.Rounds = DefaultBenchRounds
	}
	if cfg.Pairs <= 0 {
		cfg.Pairs = DefaultBenchPairs
	}
	if cfg.Connections <= 0 {
		cfg.Connections = 64
	}
	if cfg.Duration <= 0 {
		cfg.Duration = 15 * time.Second
	}
	if cfg.MinRequests <= 0 {
		cfg.MinRequests = DefaultBenchMinRequests
	}
	if cfg.MaxDuration <= 0 {
		cfg.MaxDuration = max(DefaultBenchMaxDuration, cfg.Duration)
	}
	if cfg.MaxDuration < cfg.Duration {
		return nil, fmt.Errorf("bench: the cap %s is shorter than the duration %s", cfg.MaxDuration, cfg.Duration)
	}
	out := cfg.Out
	if out == nil {
		out = io.Discard
	}
	fmt.Fprintf(out, "seeding %v (skipped if already seeded)\n", cfg.Size)
	sr, err := Seed(ctx, cfg.DSN, cfg.Size, cfg.Reset)
	if err != nil {
		return nil, err
	}
	if sr.Already {
		fmt.Fprintf(out, "already seeded with %v\n", sr.Size)
	} else {
		fmt.Fprintf(out, "seeded in %s\n", sr.Elapsed.Round(time.Millisecond))
	}
	// Jobs left queued by an earlier run would be worked by the first
	// service started here, during its measurement.
	if n, err := discardJobs(ctx, cfg.DSN, time.Time{}); err != nil {
		return nil, err
	} else if n > 0 {
		fmt.Fprintf(out, "discarded %d follow-up jobs left queued by an earlier run\n", n)
	}
	benchStart := time.Now()
	rep := &BenchReport{}
	for round := 1; round <= cfg.Rounds; round++ {
		profiles := []string{ProfileNaive, ProfileTuned}
		if round%2 == 0 {
			profiles = []string{ProfileTuned, ProfileNaive}
		}
		for _, profile := range profiles {
			fmt.Fprintf(out, "\nround %d/%d, profile %s: %d connections, %s, at least %d requests (after %s warm-up)\n",
				round, cfg.Rounds, profile, cfg.Connections, cfg.Duration, cfg.MinRequests, cfg.Warmup)
			run, err := benchProfile(ctx, cfg, profile, benchStart)
			if err != nil {
				return nil, err
			}
			printRun(out, run)
			if profile == ProfileNaive {
				rep.Naive = append(rep.Naive, run)
			} else {
				rep.Tuned = append(rep.Tuned, run)
			}
		}
	}
	for round := 1; round <= cfg.Pairs; round++ {
		feedFirst := round%2 == 1
		fmt.Fprintf(out, "\npair %d/%d: tuned feed endpoint and bare handler taking turns, %d of %s each, %s first (after %s warm-up)\n",
			round, cfg.Pairs, pairTurns, (cfg.Duration / (2 * pairTurns)).Round(time.Millisecond),
			map[bool]string{true: "feed", false: "bare"}[feedFirst], cfg.Warmup)
		pair, err := benchPair(ctx, cfg, benchStart, feedFirst)
		if err != nil {
			return nil, err
		}
		printResult(out, "feed", pair.Feed)
		printTurns(out, pair.FeedTurns)
		printFeedCache(out, pair.FeedCache)
		printResult(out, "bare", pair.Bare)
		printTurns(out, pair.BareTurns)
		fmt.Fprintf(out, "  ratio  %.2f\n", pair.Ratio())
		rep.Pairs = append(rep.Pairs, pair)
	}
	printSummary(out, rep)
	if !cfg.KeepJobs {
		n, err := discardJobs(ctx, cfg.DSN, benchStart)
		if err != nil {
			return rep, err
		}
		fmt.Fprintf(out, "\ndiscarded %d follow-up jobs of benchmark orders still queued (--keep-jobs keeps them)\n", n)
	}
	return rep, nil
}

// discardJobs deletes the order follow-up jobs created since (all of them
// with a zero time) and not yet worked.
func discardJobs(ctx context.Context, dsn string, since time.Time) (int64, error) {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return 0, fmt.Errorf("discard jobs: %w", err)
	}
	defer conn.Close(context.Background())
	tag, err := conn.Exec(ctx, `DELETE FROM river_job WHERE kind = $1 AND created_at >= $2
		AND state IN ('available', 'retryable', 'scheduled', 'pending')`, fulfilArgs{}.Kind(), since)
	if err != nil {
		return 0, fmt.Errorf("discard jobs: %w", err)
	}
	return tag.RowsAffected(), nil
}

func printRun(out io.Writer, r BenchRun) {
	res := r.Result
	fmt.Fprintf(out, "  %-6s RPS %8.1f  p50 %9s  p95 %9s  p99 %9s  errors %d/%d in %s%s\n",
		r.Profile, res.RPS, fmtDur(res.Latency.P50), fmtDur(res.Latency.P95), fmtDur(res.Latency.P99),
		res.Errors, res.Requests, res.Elapsed.Round(100*time.Millisecond), cappedNote(res))
	fmt.Fprintf(out, "         per completed request (%.0f): DB queries %.1f (feed %.1f), hops %.2f; %d queued jobs discarded before, %s waited for requests in flight\n",
		r.Completed, r.QueriesPerRequest, r.FeedQueries, r.HopsPerRequest, r.Discarded, r.Settled.Round(10*time.Millisecond))
	if len(res.ErrorsByKind) > 0 {
		fmt.Fprintf(out, "         errors by kind: %v\n", res.ErrorsByKind)
	}
	for _, name := range []string{MixFeed, MixProfile, MixOrders, MixPostOrder} {
		if e := res.PerEntry[name]; e != nil {
			fmt.Fprintf(out, "         %-10s %7d requests  p50 %9s  p95 %9s  errors %d\n", name, e.Requests,
				fmtDur(e.Latency.P50), fmtDur(e.Latency.P95), e.Errors)
		}
	}
}

func printResult(out io.Writer, name string, res *load.Result) {
	fmt.Fprintf(out, "  %-6s RPS %8.1f  p50 %9s  p95 %9s  errors %d/%d%s\n", name, res.RPS,
		fmtDur(res.Latency.P50), fmtDur(res.Latency.P95), res.Errors, res.Requests, cappedNote(res))
}

func cappedNote(res *load.Result) string {
	if res.Capped {
		return fmt.Sprintf("  CAPPED: fewer requests than asked for in %s", res.Elapsed.Round(time.Second))
	}
	return ""
}

func fmtDur(d time.Duration) string {
	switch {
	case d >= time.Second:
		return fmt.Sprintf("%.2fs", d.Seconds())
	default:
		return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond))
	}
}

// spread is the median of values with their minimum and maximum.
type spread struct{ median, min, max float64 }

func spreadOf(values []float64) spread {
	if len(values) == 0 {
		return spread{}
	}
	v := slices.Clone(values)
	slices.Sort(v)
	m := v[len(v)/2]
	if len(v)%2 == 0 {
		m = (v[len(v)/2-1] + v[len(v)/2]) / 2
	}
	return spread{median: m, min: v[0], max: v[len(v)-1]}
}

// format writes the median, and the range when there is more than one
// value.
func (s spread) format(n int, f func(float64) string) string {
	if n <= 1 || s.min == s.max {
		return f(s.median)
	}
	return fmt.Sprintf("%s (%s-%s)", f(s.median), f(s.min), f(s.max))
}

func of(runs []BenchRun, f func(BenchRun) float64) []float64 {
	out := make([]float64, len(runs))
	for i, r := range runs {
		out[i] = f(r)
	}
	return out
}

// ratios are the per-round ratios f(a[i]) / f(b[i]) of adjacent runs.
func ratios(a, b []BenchRun, f func(BenchRun) float64) []float64 {
	var out []float64
	for i := range min(len(a), len(b)) {
		if d := f(b[i]); d != 0 {
			out = append(out, f(a[i])/d)
		}
	}
	return out
}

func printSummary(out io.Writer, rep *BenchReport) {
	rps := func(r BenchRun) float64 { return r.Result.RPS }
	p95 := func(r BenchRun) float64 { return float64(r.Result.Latency.P95) }
	p99 := func(r BenchRun) float64 { return float64(r.Result.Latency.P99) }
	q := func(r BenchRun) float64 { return r.QueriesPerRequest }
	fq := func(r BenchRun) float64 { return r.FeedQueries }
	h := func(r BenchRun) float64 { return r.HopsPerRequest }
	n, t := rep.Naive, rep.Tuned
	k := len(n)
	num := func(format string) func(float64) string {
		return func(v float64) string { return fmt.Sprintf(format, v) }
	}
	dur := func(v float64) string { return fmtDur(time.Duration(v)) }
	line := func(name string, f func(BenchRun) float64, show func(float64) string, ratio string, a, b []BenchRun) {
		fmt.Fprintf(out, "  %-28s %-26s %-26s", name, spreadOf(of(n, f)).format(k, show), spreadOf(of(t, f)).format(k, show))
		if ratio != "" {
			fmt.Fprintf(out, " %s", spreadOf(ratios(a, b, f)).format(k, num(ratio)))
		}
		fmt.Fprintln(out)
	}
	fmt.Fprintf(out, "\nsummary: median (min-max) of %d round(s)\n", k)
	fmt.Fprintf(out, "  %-28s %-26s %-26s %s\n", "", "naive", "tuned", "ratio of each round's pair")
	line("RPS", rps, num("%.1f"), "x%.1f", t, n)
	line("p95", p95, dur, "÷%.1f", n, t)
	line("p99", p99, dur, "÷%.1f", n, t)
	line("DB queries per request", q, num("%.2f"), "", nil, nil)
	line("DB queries per feed request", fq, num("%.2f"), "", nil, nil)
	line("internal hops per request", h, num("%.2f"), "", nil, nil)
	line("completed requests", func(r BenchRun) float64 { return r.Completed }, num("%.0f"), "", nil, nil)
	for _, runs := range [][]BenchRun{n, t} {
		for _, r := range runs {
			if r.Result.Capped {
				fmt.Fprintf(out, "  note: a %s run was capped before its minimum number of requests\n", r.Profile)
			}
		}
	}
	if len(rep.Pairs) > 0 {
		s := feedSeriesOf(rep.Pairs)
		m := len(rep.Pairs)
		fmt.Fprintf(out, "\ntuned feed endpoint vs bare net/http handler, %d pair(s) taking turns: median (min-max)\n", m)
		fmt.Fprintf(out, "  tuned GET /users/{id}/feed RPS  %s\n", spreadOf(s.feed).format(m, num("%.1f")))
		fmt.Fprintf(out, "  bare handler RPS                %s\n", spreadOf(s.bare).format(m, num("%.1f")))
		fmt.Fprintf(out, "  ratio tuned feed / bare         %s (median of the pairs' ratios)\n", spreadOf(s.ratio).format(m, num("%.2f")))
		fmt.Fprintf(out, "  DB queries per feed request     %s (each feed run primed first)\n", spreadOf(s.queries).format(m, num("%.3f")))
	}
}

// freeAddr returns a loopback address with a port free right now.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// process is a service started by the benchmark.
type process struct {
	cmd  *exec.Cmd
	url  string
	done chan error
}

func startProcess(ctx context.Context, exe string, args []string, url string, log io.Writer) (*process, error) {
	cmd := exec.Command(exe, args...)
	cmd.Stdout = log
	cmd.Stderr = log
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", exe, err)
	}
	p := &process{cmd: cmd, url: url, done: make(chan error, 1)}
	go func() { p.done <- cmd.Wait() }()
	deadline := time.Now().Add(5 * time.Minute) // creating the index on a large table takes a while
	client := &http.Client{Timeout: 2 * time.Second}
	for {
		resp, err := client.Get(url + "/health")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p, nil
			}
		}
		select {
		case err := <-p.done:
			return nil, fmt.Errorf("%s %s exited before it answered: %v", exe, strings.Join(args, " "), err)
		case <-ctx.Done():
			p.stop()
			return nil, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			p.stop()
			return nil, fmt.Errorf("%s did not answer on %s", exe, url)
		}
	}
}

// stop interrupts the process (graceful shutdown) and kills it after 20 s.
func (p *process) stop() {
	_ = p.cmd.Process.Signal(os.Interrupt)
	select {
	case <-p.done:
	case <-time.After(20 * time.Second):
		_ = p.cmd.Process.Signal(syscall.SIGKILL)
		<-p.done
	}
}

// startService starts sampleapp serve with profile, after deleting the
// follow-up jobs still queued since the benchmark began: the new instance's
// workers would otherwise work an earlier run's backlog during this one.
// args are added to serve's flags.
func startService(ctx context.Context, cfg BenchConfig, profile string, since time.Time, log io.Writer, args ...string) (*process, int64, error) {
	discarded, err := discardJobs(ctx, cfg.DSN, since)
	if err != nil {
		return nil, 0, err
	}
	addr, err := freeAddr()
	if err != nil {
		return nil, 0, err
	}
	adminAddr, err := freeAddr()
	if err != nil {
		return nil, 0, err
	}
	p, err := startProcess(ctx, cfg.Exe, append([]string{"serve", "--pg", cfg.DSN, "--redis", cfg.RedisAddr,
		"--addr", addr, "--admin-addr", adminAddr, "--profile", profile}, args...), "http://"+addr, log)
	return p, discarded, err
}

func benchProfile(ctx context.Context, cfg BenchConfig, profile string, since time.Time) (BenchRun, error) {
	logFile, err := os.CreateTemp("", "sampleapp-bench-*.log")
	if err != nil {
		return BenchRun{}, err
	}
	defer os.Remove(logFile.Name())
	defer logFile.Close()
	p, discarded, err := startService(ctx, cfg, profile, since, logFile)
	if err != nil {
		return BenchRun{}, err
	}
	defer p.stop()
	url := p.url
	mix, vars, header := LoadMix(cfg.Size)
	lc := load.Config{BaseURL: url, Mix: mix, Vars: vars, Header: header, Connections: cfg.Connections, Timeout: 60 * time.Second}
	if err := warmUp(ctx, lc, cfg.Warmup); err != nil {
		return BenchRun{}, err
	}
	// The counters are read with no request in flight, before and after
	// the run: between the two readings every request started and
	// completed, so queries and hops per request count completed requests
	// and all of their queries (requests cut short by the end of a run
	// would otherwise count half-done).
	settledBefore, before, err := settle(ctx, url)
	if err != nil {
		return BenchRun{}, fmt.Errorf("before the run: %w", err)
	}
	lc.Duration, lc.MinRequests, lc.MaxDuration = cfg.Duration, cfg.MinRequests, cfg.MaxDuration
	res, err := load.Run(ctx, lc)
	if err != nil {
		return BenchRun{}, err
	}
	settledAfter, after, err := settle(ctx, url)
	if err != nil {
		return BenchRun{}, fmt.Errorf("after the run: %w", err)
	}
	run := BenchRun{Profile: profile, Result: res, Discarded: discarded, Settled: settledBefore + settledAfter}
	run.Completed = after.apiRequests() - before.apiRequests()
	if run.Completed > 0 {
		run.QueriesPerRequest = (after.queries("") - before.queries("")) / run.Completed
		run.HopsPerRequest = (after.hops() - before.hops()) / run.Completed
	}
	run.FeedQueries = queriesPerFeed(before, after)
	return run, nil
}

// settle waits until the service has no request in flight (its
// http_requests_in_flight gauge), up to a minute, and returns how long that
// took and the counters read then.
func settle(ctx context.Context, url string) (time.Duration, samples, error) {
	start := time.Now()
	deadline := start.Add(time.Minute)
	for {
		s, err := scrape(ctx, url)
		if err != nil {
			return 0, nil, err
		}
		if s.gauge("http_requests_in_flight") == 0 {
			return time.Since(start), s, nil
		}
		if time.Now().After(deadline) {
			return 0, nil, fmt.Errorf("requests still in flight after %s", time.Since(start).Round(time.Second))
		}
		select {
		case <-ctx.Done():
			return 0, nil, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// samples are the counters of one /metrics scrape.
type samples map[string]*dto.MetricFamily

func scrape(ctx context.Context, url string) (samples, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("scrape metrics: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("scrape metrics: status %d", resp.StatusCode)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("parse metrics: %w", err)
	}
	return samples(fams), nil
}

func label(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

// isAPIRoute says whether a route is one of the API's business endpoints
// (not the internal services' /v1 routes nor /health).
func isAPIRoute(route string) bool {
	return !strings.HasPrefix(route, "/v1/") && route != "/health"
}

func (s samples) sum(name string, keep func(*dto.Metric) bool) float64 {
	f := s[name]
	if f == nil {
		return 0
	}
	var total float64
	for _, m := range f.GetMetric() {
		if keep(m) {
			total += m.GetCounter().GetValue()
		}
	}
	return total
}

func (s samples) gauge(name string) float64 {
	f := s[name]
	if f == nil {
		return 0
	}
	var total float64
	for _, m := range f.GetMetric() {
		total += m.GetGauge().GetValue()
	}
	return total
}

func (s samples) apiRequests() float64 {
	return s.sum("http_requests_total", func(m *dto.Metric) bool { return isAPIRoute(label(m, "route")) })
}

func (s samples) routeRequests(route string) float64 {
	return s.sum("http_requests_total", func(m *dto.Metric) bool { return label(m, "route") == route })
}

// queries counts the queries of route, or of every API route when route is
// empty.
func (s samples) queries(route string) float64 {
	return s.sum("sampleapp_db_queries_total", func(m *dto.Metric) bool {
		r := label(m, "route")
		if route == "" {
			return isAPIRoute(r) && r != "background" && r != "worker"
		}
		return r == route
	})
}

// hops counts the calls the identity and users services received: their
// routes are the /v1 ones.
func (s samples) hops() float64 {
	return s.sum("http_requests_total", func(m *dto.Metric) bool { return strings.HasPrefix(label(m, "route"), "/v1/") })
}
