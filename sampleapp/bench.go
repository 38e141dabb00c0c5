package sampleapp

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
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
	Rounds      int
	// KeepJobs leaves the follow-up jobs of the orders the benchmark placed
	// in the queue. By default those still queued at the end are deleted:
	// thousands of e-mails, invoices and webhooks for benchmark orders would
	// otherwise keep the next instance's workers busy for an hour.
	KeepJobs bool
	Out      io.Writer
}

// BenchRun is what one measured run gave.
type BenchRun struct {
	Profile string
	Result  *load.Result
	// QueriesPerRequest counts every query the requests caused (the hops'
	// included) per API request; FeedQueries per feed request.
	QueriesPerRequest, FeedQueries float64
	// HopsPerRequest counts calls to the identity and users services per API
	// request.
	HopsPerRequest float64
}

// BenchReport is the benchmark's outcome.
type BenchReport struct {
	Naive, Tuned []BenchRun
	// TunedFeed and Bare are the feed endpoint of the tuned service and a
	// bare net/http handler, measured one after the other.
	TunedFeed, Bare *load.Result
}

// Bench seeds the database if needed, then measures the naive and the tuned
// profile (alternating, cfg.Rounds times) on the same data with the same
// mix, then the tuned feed endpoint against a bare handler, and prints the
// figures and their ratios to cfg.Out.
func Bench(ctx context.Context, cfg BenchConfig) (*BenchReport, error) {
	if cfg.Rounds <= 0 {
		cfg.Rounds = 1
	}
	if cfg.Connections <= 0 {
		cfg.Connections = 64
	}
	if cfg.Duration <= 0 {
		cfg.Duration = 15 * time.Second
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
	benchStart := time.Now()
	rep := &BenchReport{}
	for round := 1; round <= cfg.Rounds; round++ {
		for _, profile := range []string{ProfileNaive, ProfileTuned} {
			fmt.Fprintf(out, "\nround %d/%d, profile %s: %d connections, %s (after %s warm-up)\n",
				round, cfg.Rounds, profile, cfg.Connections, cfg.Duration, cfg.Warmup)
			run, feed, err := benchProfile(ctx, cfg, profile, round == cfg.Rounds)
			if err != nil {
				return nil, err
			}
			printRun(out, run)
			if profile == ProfileNaive {
				rep.Naive = append(rep.Naive, run)
			} else {
				rep.Tuned = append(rep.Tuned, run)
				if feed != nil {
					rep.TunedFeed = feed
				}
			}
		}
	}
	if rep.TunedFeed != nil {
		bare, err := benchBare(ctx, cfg)
		if err != nil {
			return nil, err
		}
		rep.Bare = bare
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

// discardJobs deletes the order follow-up jobs created since and not yet
// worked.
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
	fmt.Fprintf(out, "  %-6s RPS %8.1f  p50 %9s  p95 %9s  p99 %9s  errors %d/%d  DB queries/request %.1f (feed %.1f)  hops/request %.2f\n",
		r.Profile, res.RPS, fmtDur(res.Latency.P50), fmtDur(res.Latency.P95), fmtDur(res.Latency.P99),
		res.Errors, res.Requests, r.QueriesPerRequest, r.FeedQueries, r.HopsPerRequest)
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

func fmtDur(d time.Duration) string {
	switch {
	case d >= time.Second:
		return fmt.Sprintf("%.2fs", d.Seconds())
	default:
		return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond))
	}
}

func mean(runs []BenchRun, f func(BenchRun) float64) float64 {
	if len(runs) == 0 {
		return 0
	}
	var s float64
	for _, r := range runs {
		s += f(r)
	}
	return s / float64(len(runs))
}

func printSummary(out io.Writer, rep *BenchReport) {
	rps := func(r BenchRun) float64 { return r.Result.RPS }
	p95 := func(r BenchRun) float64 { return float64(r.Result.Latency.P95) }
	p99 := func(r BenchRun) float64 { return float64(r.Result.Latency.P99) }
	errs := func(r BenchRun) float64 { return float64(r.Result.Errors) }
	q := func(r BenchRun) float64 { return r.QueriesPerRequest }
	fq := func(r BenchRun) float64 { return r.FeedQueries }
	h := func(r BenchRun) float64 { return r.HopsPerRequest }
	n, t := rep.Naive, rep.Tuned
	fmt.Fprintf(out, "\nsummary (mean of %d round(s))        naive        tuned        ratio\n", len(n))
	fmt.Fprintf(out, "  RPS                          %10.1f   %10.1f   x%.1f\n", mean(n, rps), mean(t, rps), mean(t, rps)/mean(n, rps))
	fmt.Fprintf(out, "  p95                          %10s   %10s   ÷%.1f\n", fmtDur(time.Duration(mean(n, p95))), fmtDur(time.Duration(mean(t, p95))), mean(n, p95)/mean(t, p95))
	fmt.Fprintf(out, "  p99                          %10s   %10s   ÷%.1f\n", fmtDur(time.Duration(mean(n, p99))), fmtDur(time.Duration(mean(t, p99))), mean(n, p99)/mean(t, p99))
	fmt.Fprintf(out, "  errors                       %10.0f   %10.0f\n", mean(n, errs), mean(t, errs))
	fmt.Fprintf(out, "  DB queries per request       %10.1f   %10.2f\n", mean(n, q), mean(t, q))
	fmt.Fprintf(out, "  DB queries per feed request  %10.1f   %10.2f\n", mean(n, fq), mean(t, fq))
	fmt.Fprintf(out, "  internal hops per request    %10.2f   %10.2f\n", mean(n, h), mean(t, h))
	if rep.TunedFeed != nil && rep.Bare != nil {
		fmt.Fprintf(out, "\ntuned feed endpoint vs bare net/http handler (same connections, same duration)\n")
		fmt.Fprintf(out, "  tuned GET /users/{id}/feed   RPS %9.1f  p50 %9s  p95 %9s  errors %d\n", rep.TunedFeed.RPS,
			fmtDur(rep.TunedFeed.Latency.P50), fmtDur(rep.TunedFeed.Latency.P95), rep.TunedFeed.Errors)
		fmt.Fprintf(out, "  bare handler                 RPS %9.1f  p50 %9s  p95 %9s  errors %d\n", rep.Bare.RPS,
			fmtDur(rep.Bare.Latency.P50), fmtDur(rep.Bare.Latency.P95), rep.Bare.Errors)
		fmt.Fprintf(out, "  ratio tuned feed / bare      %.2f\n", rep.TunedFeed.RPS/rep.Bare.RPS)
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

func benchProfile(ctx context.Context, cfg BenchConfig, profile string, measureFeed bool) (BenchRun, *load.Result, error) {
	addr, err := freeAddr()
	if err != nil {
		return BenchRun{}, nil, err
	}
	logFile, err := os.CreateTemp("", "sampleapp-bench-*.log")
	if err != nil {
		return BenchRun{}, nil, err
	}
	defer os.Remove(logFile.Name())
	defer logFile.Close()
	adminAddr, err := freeAddr()
	if err != nil {
		return BenchRun{}, nil, err
	}
	url := "http://" + addr
	p, err := startProcess(ctx, cfg.Exe, []string{"serve", "--pg", cfg.DSN, "--redis", cfg.RedisAddr,
		"--addr", addr, "--admin-addr", adminAddr, "--profile", profile}, url, logFile)
	if err != nil {
		return BenchRun{}, nil, err
	}
	defer p.stop()
	mix, vars, header := LoadMix(cfg.Size)
	lc := load.Config{BaseURL: url, Mix: mix, Vars: vars, Header: header, Connections: cfg.Connections, Timeout: 60 * time.Second}
	if cfg.Warmup > 0 {
		wc := lc
		wc.Duration = cfg.Warmup
		if _, err := load.Run(ctx, wc); err != nil {
			return BenchRun{}, nil, fmt.Errorf("warm-up: %w", err)
		}
	}
	// The counters are read at 10% and 90% of the run, in steady state:
	// requests cut short at the start and end of a run would skew queries
	// and hops per request.
	lc.Duration = cfg.Duration
	type scraped struct {
		before, after samples
		err           error
	}
	got := make(chan scraped, 1)
	runCtx, cancelRun := context.WithCancel(ctx)
	defer cancelRun()
	go func() {
		var sc scraped
		defer func() { got <- sc }()
		select {
		case <-time.After(cfg.Duration / 10):
		case <-runCtx.Done():
			sc.err = runCtx.Err()
			return
		}
		if sc.before, sc.err = scrape(runCtx, url); sc.err != nil {
			return
		}
		select {
		case <-time.After(cfg.Duration * 8 / 10):
		case <-runCtx.Done():
			sc.err = runCtx.Err()
			return
		}
		sc.after, sc.err = scrape(runCtx, url)
	}()
	res, err := load.Run(ctx, lc)
	if err != nil {
		return BenchRun{}, nil, err
	}
	sc := <-got
	if sc.err != nil {
		return BenchRun{}, nil, fmt.Errorf("metrics during the run: %w", sc.err)
	}
	before, after := sc.before, sc.after
	run := BenchRun{Profile: profile, Result: res}
	apiReqs := after.apiRequests() - before.apiRequests()
	if apiReqs > 0 {
		run.QueriesPerRequest = (after.queries("") - before.queries("")) / apiReqs
		run.HopsPerRequest = (after.hops() - before.hops()) / apiReqs
	}
	const feedRoute = "/users/{id}/feed"
	if feedReqs := after.routeRequests(feedRoute) - before.routeRequests(feedRoute); feedReqs > 0 {
		run.FeedQueries = (after.queries(feedRoute) - before.queries(feedRoute)) / feedReqs
	}
	var feed *load.Result
	if measureFeed && profile == ProfileTuned {
		fc := load.Config{BaseURL: url, Header: header, Connections: cfg.Connections, Duration: cfg.Duration, Timeout: 60 * time.Second,
			Mix: []load.Entry{{Name: MixFeed, Method: http.MethodGet, Path: "/users/{uid}/feed"}}, Vars: vars}
		if feed, err = load.Run(ctx, fc); err != nil {
			return BenchRun{}, nil, err
		}
	}
	return run, feed, nil
}

func benchBare(ctx context.Context, cfg BenchConfig) (*load.Result, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	url := "http://" + addr
	p, err := startProcess(ctx, cfg.Exe, []string{"bare", "--addr", addr}, url, io.Discard)
	if err != nil {
		return nil, err
	}
	defer p.stop()
	return load.Run(ctx, load.Config{BaseURL: url, Connections: cfg.Connections, Duration: cfg.Duration, Timeout: 60 * time.Second,
		Mix: []load.Entry{{Name: "bare", Method: http.MethodGet, Path: "/"}}})
}

// BareHandler answers every request with a small JSON body, the ceiling of
// an HTTP endpoint on this machine.
func BareHandler() http.Handler {
	body := []byte(`{"status":"ok"}`)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header()["Content-Type"] = jsonContentType
		_, _ = w.Write(body)
	})
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
