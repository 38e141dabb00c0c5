package probe

import (
	"context"
	"net/http"
	"net/http/httptest"
	httppprof "net/http/pprof"
	"strings"
	"testing"
	"time"

	"github.com/pgadvisor/advisor/internal/config"
	"github.com/pgadvisor/advisor/internal/probe/pprof"
)

// TestDumpGate: dumps off past the limit, from the count before the first
// or from a dump's size; samples spaced by the last dump's stop; readings'
// dumps not spaced.
func TestDumpGate(t *testing.T) {
	t0 := time.Unix(1000, 0)
	if g := newDumpGate(0); g.max != DefaultMaxDumpStop || !g.needsCount() {
		t.Fatalf("default gate: max %s, needs the count %v", g.max, g.needsCount())
	}

	// 1,000 goroutines: a dump of about 800 kB, 13 ms; 10,000: 245 ms.
	g := newDumpGate(0)
	if why := g.countedGoroutines(1000); why != "" || g.needsCount() {
		t.Errorf("1,000 goroutines: %q", why)
	}
	g = newDumpGate(0)
	why := g.countedGoroutines(10000)
	if !strings.Contains(why, "goroutine dumps off") || !strings.Contains(why, "10000 goroutines") || !strings.Contains(why, "--max-dump-stop 100ms") {
		t.Errorf("10,000 goroutines: %q", why)
	}
	if ok, w := g.allow(t0, false); ok || w != why {
		t.Errorf("a reading's dump with dumps off: %v %q", ok, w)
	}

	// A dump of 500 kB stops the target about 8 ms: the next sample waits
	// 50 times that, a reading does not.
	g = newDumpGate(0)
	g.record(t0, 500_000)
	wait := time.Duration(float64(pprof.DumpStop(500_000)) / maxDumpStopShare)
	if wait < 350*time.Millisecond || wait > 450*time.Millisecond {
		t.Fatalf("wait after 500 kB: %s", wait)
	}
	if ok, w := g.allow(t0.Add(wait/2), true); ok || !strings.Contains(w, "goroutine dump skipped") || !strings.Contains(w, "2% of the time at most") {
		t.Errorf("a sample too soon: %v %q", ok, w)
	}
	if ok, _ := g.allow(t0.Add(wait/2), false); !ok {
		t.Error("a reading's dump waited")
	}
	if ok, _ := g.allow(t0.Add(wait), true); !ok {
		t.Error("a sample after the wait refused")
	}
	// A dump larger than the limit turns them off.
	g.record(t0, 10_000_000)
	if ok, w := g.allow(t0.Add(time.Hour), false); ok || !strings.Contains(w, "a dump of 10000 kB") {
		t.Errorf("after a 10 MB dump: %v %q", ok, w)
	}

	// No limit: no count read, never off, samples still spaced.
	g = newDumpGate(-1)
	if g.needsCount() {
		t.Error("no limit, the count read")
	}
	g.record(t0, 10_000_000)
	if ok, _ := g.allow(t0.Add(time.Second), false); !ok {
		t.Error("no limit: a reading's dump refused")
	}
	if ok, _ := g.allow(t0.Add(time.Second), true); ok {
		t.Error("no limit: a sample not spaced after a 160 ms stop")
	}
}

// TestDumpGateLive: against a Go program's real pprof handlers (this test
// process's), a target with more goroutines than a dump may stop gets no
// dump and the reason, and the count before the first dump is what decides
// it; a smaller one gets its dumps, the samples spaced.
func TestDumpGateLive(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", httppprof.Index)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	ctx := context.Background()
	release := make(chan struct{})
	defer close(release)
	park := func(n int) {
		for range n {
			go parkFramesDeep(10, release)
		}
	}

	// 1,000 goroutines more, 10 frames deep: a dump of 1.5 MB or so, about
	// 40 ms by the estimate, so 2 s between samples.
	park(1000)
	p, err := Open(ctx, Config{Sources: config.Sources{Pprof: srv.URL}})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	first := p.goroutineDump(ctx, true)
	if !first.Status.Ok() || first.Bytes == 0 {
		t.Fatalf("first dump: %+v", first.Status)
	}
	t.Logf("first dump: %d bytes, %s between samples", first.Bytes, p.DumpSpacing())
	if p.dumps.needsCount() {
		t.Error("the count was not read before the first dump")
	}
	if g := p.Goroutines(ctx); g != nil {
		t.Errorf("a sample right after a dump of %d bytes (%s between samples) was taken", first.Bytes, p.DumpSpacing())
	}
	if g := p.goroutineDump(ctx, false); !g.Status.Ok() {
		t.Errorf("a reading's dump right after: %+v", g.Status)
	}

	// 10,000 goroutines more: off before any dump, from the count.
	park(10000)
	big, err := Open(ctx, Config{Sources: config.Sources{Pprof: srv.URL}})
	if err != nil {
		t.Fatal(err)
	}
	defer big.Close()
	s := big.Snapshot(ctx)
	if st := s.Status[Pprof]; st.Ok() || !strings.Contains(st.Detail, "goroutine dumps off") || !strings.Contains(st.Detail, "goroutines,") {
		t.Errorf("10,000 goroutines, the reading's pprof status: %+v", st)
	}
	if g := big.Goroutines(ctx); g != nil {
		t.Error("10,000 goroutines: a sample was taken")
	}
	// A window's profiles take no dump of their own.
	if g := big.Profiles(ctx, 1).GoroutineText; g.Status.Ok() || len(g.Goroutines) > 0 {
		t.Errorf("the window's profiles took a dump: %+v", g.Status)
	}
}

// parkFramesDeep parks a goroutine depth frames deep until release closes.
func parkFramesDeep(depth int, release chan struct{}) {
	if depth == 0 {
		<-release
		return
	}
	parkFramesDeep(depth-1, release)
}
