package fleet_test

import (
	"context"
	"io"
	"math"
	"net"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/pgadvisor/advisor/internal/probe/fleet/promtest"
	"github.com/pgadvisor/advisor/internal/probe/metrics"
	"github.com/pgadvisor/advisor/internal/probe/metrics/metricstest"
	"github.com/pgadvisor/advisor/internal/probe/source"
)

// TestAggregateMatchesDirectScrape reads one real instrumented service
// (client_golang's promhttp middleware, Go runtime and process collectors)
// both ways, directly from /metrics and through a real prometheus: the
// windows the rules read agree (routes, rates, errors, runtime, process).
func TestAggregateMatchesDirectScrape(t *testing.T) {
	t.Parallel() // a prometheus of its own on a free port, and a paced load
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + l.Addr().String()
	svc := metricstest.New(metricstest.Config{Process: true})
	srv := &http.Server{Handler: svc.Handler(base), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(l) }()
	defer srv.Close()

	// Load: 20 requests/s over two routes, a quarter failing.
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		tk := time.NewTicker(50 * time.Millisecond)
		defer tk.Stop()
		for i := 0; ; i++ {
			select {
			case <-ctx.Done():
				return
			case <-tk.C:
			}
			path := "/orders"
			if i%4 == 0 {
				path = "/fail"
			}
			if resp, err := http.Get(base + path); err == nil {
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		}
	})
	defer func() { cancel(); wg.Wait() }()

	prom := promtest.Start(t, []string{l.Addr().String()})
	prom.WaitSamples(t, 1, 4*time.Second)
	direct, err := metrics.NewClient(base+"/metrics", source.HTTPOptions{Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer direct.Close()
	c := newCollector(t, prom.URL, `job="svc"`, nil)
	names := metrics.DefaultNames()

	d0 := direct.Scrape(ctx, names)
	p0, _ := c.Snapshot(ctx, names)
	time.Sleep(6 * time.Second)
	d1 := direct.Scrape(ctx, names)
	p1, f := c.Snapshot(ctx, names)
	if !p1.Status.Ok() || f == nil || f.Live() != 1 {
		t.Fatalf("through prometheus: %+v", p1.Status)
	}
	dw, pw := metrics.Diff(d0, d1), metrics.Diff(p0, p1)

	routes := func(w *metrics.Window) []string {
		var out []string
		for _, r := range w.Routes {
			out = append(out, r.Method+" "+r.Route)
		}
		slices.Sort(out)
		return out
	}
	if got, want := routes(pw), routes(dw); !slices.Equal(got, want) {
		t.Errorf("routes through prometheus %v, direct %v", got, want)
	}
	// Prometheus' samples lag the direct scrape by up to a scrape interval
	// at each end: the rates agree within a fifth.
	near := func(what string, a, b, tol float64) {
		if math.Abs(a-b) > tol*math.Max(math.Abs(b), 1e-9) {
			t.Errorf("%s: through prometheus %.3f, direct %.3f", what, a, b)
		}
	}
	near("rps", pw.RPS, dw.RPS, 0.2)
	near("error rate", pw.ErrorRate, dw.ErrorRate, 0.3)
	if pw.Runtime.Language != dw.Runtime.Language || pw.Runtime.Language != metrics.LanguageGo {
		t.Errorf("language %q, direct %q", pw.Runtime.Language, dw.Runtime.Language)
	}
	if pw.Runtime.GOMAXPROCS == nil || dw.Runtime.GOMAXPROCS == nil || *pw.Runtime.GOMAXPROCS != *dw.Runtime.GOMAXPROCS {
		t.Errorf("GOMAXPROCS %v, direct %v", pw.Runtime.GOMAXPROCS, dw.Runtime.GOMAXPROCS)
	}
	if pw.Process.CPUCores == nil || dw.Process.CPUCores == nil {
		t.Errorf("process CPU: through prometheus %v, direct %v", pw.Process.CPUCores, dw.Process.CPUCores)
	}
	if pw.HasInFlight != dw.HasInFlight || len(pw.Outbound) != len(dw.Outbound) {
		t.Errorf("in flight %v/%v, outbound %d/%d", pw.HasInFlight, dw.HasInFlight, len(pw.Outbound), len(dw.Outbound))
	}
	for _, r := range pw.Routes {
		if !r.HasLatency || !r.Latency.HasPercentiles {
			t.Errorf("route %s: no latency percentiles through prometheus", r.Route)
		}
	}
}
