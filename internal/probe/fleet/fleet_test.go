package fleet_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/pgadvisor/advisor/internal/probe/fleet"
	"github.com/pgadvisor/advisor/internal/probe/fleet/promtest"
	"github.com/pgadvisor/advisor/internal/probe/metrics"
	"github.com/pgadvisor/advisor/internal/probe/source"
)

// threeInstances starts three targets, the second given most of the load
// and slower, and a real prometheus scraping them.
func threeInstances(t *testing.T) (*promtest.Server, []*promtest.Target) {
	t.Helper()
	specs := []promtest.Spec{
		{RPS: 20, Latency: 20 * time.Millisecond, CPU: 0.2, PoolMax: 10, PoolInUse: 2, Version: "1.4.0"},
		{RPS: 80, Latency: 300 * time.Millisecond, CPU: 0.9, PoolMax: 10, PoolInUse: 9, Version: "1.5.0-rc1"},
		{RPS: 20, Latency: 20 * time.Millisecond, CPU: 0.2, PoolMax: 10, PoolInUse: 2, Version: "1.4.0"},
	}
	var targets []*promtest.Target
	var addrs []string
	for _, s := range specs {
		tg := promtest.NewTarget(t, s)
		targets = append(targets, tg)
		addrs = append(addrs, tg.Addr)
	}
	srv := promtest.Start(t, addrs)
	srv.WaitSamples(t, len(addrs), 6*time.Second)
	return srv, targets
}

func newCollector(t *testing.T, addr, selector string, header http.Header) *fleet.Collector {
	t.Helper()
	c, err := fleet.New(addr, fleet.Options{Selector: selector, Range: 5 * time.Second,
		HTTP: source.HTTPOptions{Header: header, Timeout: 5 * time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

func TestFleetInstancesAndAggregate(t *testing.T) {
	t.Parallel() // a prometheus of its own on a free port, and a paced load
	srv, targets := threeInstances(t)
	c := newCollector(t, srv.URL, `job="svc"`, nil)
	ctx := context.Background()
	names := metrics.DefaultNames()
	first, f0 := c.Snapshot(ctx, names)
	if !first.Status.Ok() || f0 == nil {
		t.Fatalf("first snapshot: %+v", first.Status)
	}
	time.Sleep(4 * time.Second)
	snap, f := c.Snapshot(ctx, names)
	if !snap.Status.Ok() || f == nil {
		t.Fatalf("snapshot: %+v", snap.Status)
	}
	if got := f.Live(); got != 3 {
		t.Fatalf("instances = %d, want 3: %+v", got, f.Instances)
	}
	if !strings.Contains(snap.Status.Detail, "3 instances") {
		t.Errorf("detail %q does not say 3 instances", snap.Status.Detail)
	}
	for _, in := range f.Instances {
		t.Logf("%-16s up %-5v rps %6.1f  p95 %6.1f ms  cpu %.2f  pool %v/%v  version %s",
			in.Name, in.Up, in.RPS, in.P95Seconds*1000, in.CPUCores, in.PoolInUse, in.PoolMax, in.Version)
	}
	busy, ok := f.Find(targets[1].Addr)
	if !ok {
		t.Fatalf("busy instance %s not found in %+v", targets[1].Addr, f.Instances)
	}
	quiet, _ := f.Find(targets[0].Addr)
	if busy.RPS < 2.5*quiet.RPS || busy.RPS < 50 {
		t.Errorf("busy rps %.1f, quiet %.1f: want about 80 and 20", busy.RPS, quiet.RPS)
	}
	if !busy.HasP95 || busy.P95Seconds < 0.25 || quiet.P95Seconds > 0.05 {
		t.Errorf("p95 busy %v (%v), quiet %v", busy.P95Seconds, busy.HasP95, quiet.P95Seconds)
	}
	if !busy.HasCPU || busy.CPUCores < 0.6 {
		t.Errorf("cpu busy %v (%v)", busy.CPUCores, busy.HasCPU)
	}
	if !busy.HasPool || busy.PoolMax != 10 || busy.PoolInUse != 9 {
		t.Errorf("pool busy %v/%v (%v)", busy.PoolInUse, busy.PoolMax, busy.HasPool)
	}
	if busy.Version != "1.5.0-rc1" || quiet.Version != "1.4.0" {
		t.Errorf("versions %q %q", busy.Version, quiet.Version)
	}
	// The aggregate sums the instances: the rules see the service.
	w := metrics.Diff(first, snap)
	if w.RPS < 80 || w.RPS > 160 {
		t.Errorf("aggregate rps %.1f over %.1fs, want about 120", w.RPS, w.Seconds)
	}
	var maxConns float64
	for _, p := range snap.Pools {
		if p.Kind == "pgxpool" {
			maxConns = p.Gauges[metrics.PoolMax]
		}
	}
	if maxConns != 30 {
		t.Errorf("aggregate pool max = %v, want 30 (3 x 10): %+v", maxConns, snap.Pools)
	}
}

func TestFleetInstanceStoppedMidWindow(t *testing.T) {
	t.Parallel() // a prometheus of its own on a free port, and a paced load
	srv, targets := threeInstances(t)
	c := newCollector(t, srv.URL, `job="svc"`, nil)
	ctx := context.Background()
	first, _ := c.Snapshot(ctx, metrics.DefaultNames())
	targets[2].Stop()
	time.Sleep(3 * time.Second)
	snap, f := c.Snapshot(ctx, metrics.DefaultNames())
	if !snap.Status.Ok() || f == nil {
		t.Fatalf("snapshot: %+v", snap.Status)
	}
	in, ok := f.Find(targets[2].Addr)
	if !ok || in.Up {
		t.Fatalf("stopped instance: %+v (found %v)", in, ok)
	}
	if !strings.Contains(snap.Status.Detail, "down: "+targets[2].Addr) {
		t.Errorf("detail %q does not name the stopped instance", snap.Status.Detail)
	}
	// Its series went stale: the aggregate's counters must not read that
	// as a reset of the whole fleet.
	w := metrics.Diff(first, snap)
	if w.Resets != 0 || w.RPS > 200 {
		t.Errorf("after an instance stopped: resets %d, rps %.1f", w.Resets, w.RPS)
	}
}

func TestFleetFaults(t *testing.T) {
	t.Parallel() // a prometheus of its own on a free port, and a paced load
	srv, _ := threeInstances(t)
	ctx := context.Background()
	t.Run("selector matches nothing", func(t *testing.T) {
		c := newCollector(t, srv.URL, `job="nope"`, nil)
		snap, f := c.Snapshot(ctx, metrics.DefaultNames())
		if snap.Status.State != source.Unavailable || f != nil || !strings.Contains(snap.Status.Detail, `no series match {job="nope"}`) {
			t.Errorf("status %+v", snap.Status)
		}
	})
	t.Run("bad selector", func(t *testing.T) {
		c := newCollector(t, srv.URL, `job=~"("`, nil)
		snap, _ := c.Snapshot(ctx, metrics.DefaultNames())
		if snap.Status.State != source.Error || !strings.Contains(snap.Status.Detail, "check --selector") {
			t.Errorf("status %+v", snap.Status)
		}
	})
	t.Run("prometheus down", func(t *testing.T) {
		c := newCollector(t, "http://127.0.0.1:1", `job="svc"`, nil)
		snap, f := c.Snapshot(ctx, metrics.DefaultNames())
		if snap.Status.State != source.Unavailable || f != nil || !strings.Contains(snap.Status.Detail, "cannot reach") {
			t.Errorf("status %+v", snap.Status)
		}
	})
	t.Run("bearer token", func(t *testing.T) {
		up, _ := url.Parse(srv.URL)
		proxy := httputil.NewSingleHostReverseProxy(up)
		front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("Authorization") != "Bearer s3cret" {
				http.Error(w, "unauthorized", http.StatusUnauthorized)
				return
			}
			proxy.ServeHTTP(w, r)
		}))
		defer front.Close()
		c := newCollector(t, front.URL, `job="svc"`, nil)
		snap, _ := c.Snapshot(ctx, metrics.DefaultNames())
		if snap.Status.State != source.Unavailable || !strings.Contains(snap.Status.Detail, "Authorization") {
			t.Errorf("without the token: %+v", snap.Status)
		}
		c = newCollector(t, front.URL, `job="svc"`, http.Header{"Authorization": {"Bearer s3cret"}})
		snap, f := c.Snapshot(ctx, metrics.DefaultNames())
		if !snap.Status.Ok() || f == nil || f.Live() != 3 {
			t.Errorf("with the token: %+v", snap.Status)
		}
		if strings.Contains(snap.Status.Detail, "s3cret") {
			t.Errorf("the token shows: %q", snap.Status.Detail)
		}
	})
}

func TestNormaliseSelector(t *testing.T) {
	for in, want := range map[string]string{`job="a"`: `job="a"`, ` {job="a", env="p"} `: `job="a", env="p"`} {
		got, err := fleet.NormaliseSelector(in)
		if err != nil || got != want {
			t.Errorf("%q: %q, %v", in, got, err)
		}
	}
	for _, bad := range []string{"", "{}", `job="a"}{`} {
		if _, err := fleet.NormaliseSelector(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
