package rules

import (
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/pprof/profile"

	"github.com/pgadvisor/advisor/internal/probe"
	"github.com/pgadvisor/advisor/internal/probe/metrics"
	"github.com/pgadvisor/advisor/internal/probe/pprof"
	"github.com/pgadvisor/advisor/internal/probe/source"
)

// appFixture reads a capture of testdata/app/<mode> (see
// testdata/app/capture) into the window the probes would have made of it.
func appFixture(t testing.TB, mode string) *Input {
	t.Helper()
	dir := filepath.Join("testdata", "app", mode)
	read := func(name string) []byte {
		t.Helper()
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasSuffix(name, ".txt.gz") {
			zr, err := gzip.NewReader(bytes.NewReader(b))
			if err != nil {
				t.Fatal(err)
			}
			if b, err = io.ReadAll(zr); err != nil {
				t.Fatal(err)
			}
		}
		return b
	}
	seconds, err := strconv.ParseFloat(strings.TrimSpace(string(read("window.txt"))), 64)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	end := start.Add(time.Duration(seconds * float64(time.Second)))
	ok := source.Status{State: source.OK}
	w := &probe.Window{Start: start, End: end, Seconds: seconds, Sources: map[string]source.Status{
		probe.Pprof: ok, probe.Metrics: ok,
		probe.Postgres: {State: source.Unavailable, Detail: "not configured: pass --pg DSN"},
		probe.Redis:    {State: source.Unavailable, Detail: "not configured: pass --redis ADDR"},
	}}
	var snaps []*metrics.Snapshot
	for i, name := range []string{"metrics-1.txt.gz", "metrics-2.txt.gz"} {
		fams, err := metrics.ParseBytes(read(name))
		if err != nil {
			t.Fatal(err)
		}
		at := start
		if i == 1 {
			at = end
		}
		snaps = append(snaps, metrics.NewSnapshot(at, fams, metrics.DefaultNames()))
	}
	w.Metrics = metrics.Diff(snaps[0], snaps[1])
	att := pprof.DefaultAttributor()
	for i := 1; ; i++ {
		name := "goroutine-" + strconv.Itoa(i) + ".txt.gz"
		if _, err := os.Stat(filepath.Join(dir, name)); os.IsNotExist(err) {
			break
		}
		gs, err := pprof.ParseGoroutines(bytes.NewReader(read(name)))
		if err != nil {
			t.Fatal(err)
		}
		att.Goroutines(gs)
		w.Goroutines = append(w.Goroutines, &pprof.GoroutineResult{Status: ok, Goroutines: gs, Summary: pprof.SummarizeGoroutines(gs)})
	}
	prof := func(kind pprof.Kind, name string) *pprof.ProfileResult {
		p, err := pprof.ParseProfile(read(name))
		if err != nil {
			t.Fatal(err)
		}
		return &pprof.ProfileResult{Kind: kind, Status: ok, Profile: p, Aggregation: att.Aggregate(p)}
	}
	notFetched := &pprof.ProfileResult{Status: source.Status{State: source.Unavailable, Detail: "not collected in this round"}}
	w.Profiles = &pprof.Snapshot{Status: ok, Time: start,
		CPU: prof(pprof.KindCPU, "cpu.pb.gz"), Block: prof(pprof.KindBlock, "block.pb.gz"), Mutex: prof(pprof.KindMutex, "mutex.pb.gz"),
		Goroutine: notFetched, Heap: notFetched, Fgprof: notFetched, GoroutineText: &pprof.GoroutineResult{Status: notFetched.Status}}
	set := loadBuiltin(t)
	return &Input{Window: w, Patterns: set.Patterns}
}

// appRunRule runs one built-in rule's detector, as Run would, with params
// overridden.
func appRunRule(t testing.TB, in *Input, id string, params map[string]any) []Finding {
	t.Helper()
	set := loadBuiltin(t)
	r := set.Rule(id).clone()
	for name, v := range params {
		found := false
		for i := range r.Params {
			if r.Params[i].Name == name {
				r.Params[i].Value = v
				found = true
			}
		}
		if !found {
			t.Fatalf("rule %s has no param %s", id, name)
		}
	}
	fs, errs := Run(context.Background(), in, []*Rule{r}, Builtin())
	if len(errs) > 0 {
		t.Fatalf("%s: %v", id, errs)
	}
	return fs
}

// appCaptureLine is the line number of the first line of the capture program
// containing text after a line containing after.
func appCaptureLine(t *testing.T, after, text string) int {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "app", "capture", "main.go"))
	if err != nil {
		t.Fatal(err)
	}
	seen := after == ""
	for i, line := range strings.Split(string(b), "\n") {
		if !seen {
			seen = strings.Contains(line, after)
			continue
		}
		if strings.Contains(line, text) {
			return i + 1
		}
	}
	t.Fatalf("capture/main.go has no %q after %q", text, after)
	return 0
}

const appCaptureFile = "github.com/pgadvisor/advisor/internal/rules/testdata/app/capture/main.go"

func TestAppBlockingIOFixture(t *testing.T) {
	fs := appRunRule(t, appFixture(t, "blocking"), "app.blocking-io", nil)
	var got *Finding
	for i := range fs {
		if fs[i].Evidence["handler"] == "main.(*service).quote" {
			got = &fs[i]
		}
	}
	if got == nil {
		t.Fatalf("no finding for the quote handler: %v", fs)
	}
	want := appCaptureFile + ":" + strconv.Itoa(appCaptureLine(t, "func (s *service) get(", "s.client.Do(req)"))
	if got.Location != want || got.Evidence["function"] != "main.(*service).get" ||
		got.Evidence["wait_class"] != "outbound-http" || got.Evidence["calls"] != "net/http.(*Client).Do" {
		t.Errorf("finding %s at %s %v, want the client call at %s", got.Subject, got.Location, got.Evidence, want)
	}
	if share := got.Evidence["share"].(float64); share < 0.8 {
		t.Errorf("share %v: the handler does nothing but wait for the upstream", share)
	}
	if got.Subject != "main.(*service).quote -> main.(*service).get" || got.Impact <= 0 {
		t.Errorf("subject %q impact %v", got.Subject, got.Impact)
	}
	// The upstream's own handler runs in the same process and sleeps.
	var sleep bool
	for _, f := range fs {
		sleep = sleep || f.Evidence["wait_class"] == "sleep"
	}
	if !sleep {
		t.Errorf("the upstream handler's time.Sleep is not reported")
	}
	for _, mode := range []string{"tuned", "lock", "inline", "gomaxprocs"} {
		if fs := appRunRule(t, appFixture(t, mode), "app.blocking-io", nil); len(fs) != 0 {
			t.Errorf("%s: %d blocking-io findings: %v", mode, len(fs), fs[0])
		}
	}
}

func TestAppInlineWorkFixture(t *testing.T) {
	fs := appRunRule(t, appFixture(t, "inline"), "app.inline-work", nil)
	if len(fs) != 1 {
		t.Fatalf("%d findings, want one for the handler: %v", len(fs), fs)
	}
	f := fs[0]
	if f.Subject != "main.(*service).postOrder -> inline work" || f.Evidence["function"] != "main.(*service).sendReceipt" ||
		!strings.HasPrefix(f.Location, appCaptureFile+":") {
		t.Errorf("finding %s at %s %v", f.Subject, f.Location, f.Evidence)
	}
	line, _ := strconv.Atoi(f.Location[strings.LastIndexByte(f.Location, ':')+1:])
	if first, last := appCaptureLine(t, "", "func (s *service) sendReceipt("), appCaptureLine(t, "func (s *service) sendReceipt(", "return c.Quit()"); line < first || line > last {
		t.Errorf("line %d outside sendReceipt (%d-%d)", line, first, last)
	}
	if wall := f.Evidence["share_wall"].(float64); wall < 0.5 {
		t.Errorf("share_wall %v: the handler mostly waits on the SMTP sink", wall)
	}
	if !strings.Contains(f.Title, "main.(*service).postOrder spends") || !strings.Contains(f.Fix.Summary, "river") {
		t.Errorf("title %q fix %q", f.Title, f.Fix.Summary)
	}
	// The CPU profile: the PDF rendering is most of the handler's CPU time,
	// though little of its wall time; it is named beside the e-mail, the
	// most sampled work first.
	if classes := f.Evidence["work_classes"].([]string); !slices.Equal(classes, []string{"smtp", "pdf"}) ||
		!strings.Contains(f.Evidence["functions"].(string), "main.renderInvoice") {
		t.Errorf("classes %v, functions %v", classes, f.Evidence["functions"])
	}
	if cpu := f.Evidence["share_cpu"].(float64); cpu < 0.5 {
		t.Errorf("share_cpu %v", cpu)
	}
	// Of the whole process's CPU, the work is a part, not all: the other
	// handlers and the runtime run too.
	if p, ok := f.Evidence["process_cpu_share"].(float64); !ok || p <= 0 || p > f.Evidence["share_cpu"].(float64) {
		t.Errorf("process_cpu_share %v, share_cpu %v", f.Evidence["process_cpu_share"], f.Evidence["share_cpu"])
	}
	for _, mode := range []string{"tuned", "blocking", "lock", "hops"} {
		if fs := appRunRule(t, appFixture(t, mode), "app.inline-work", nil); len(fs) != 0 {
			t.Errorf("%s: %v", mode, fs)
		}
	}
}

// appInlineView is a window's application view with one handler of n
// goroutine samples, k of them sending e-mail and webhook posts (half
// each, the e-mail first).
func appInlineView(t *testing.T, k, n float64) *Input {
	t.Helper()
	set := loadBuiltin(t)
	in := &Input{Window: &probe.Window{Seconds: 5}, Patterns: set.Patterns}
	v := &appView{handlers: map[string]*appHandlerStat{}, dumps: int(n), samples: n}
	h := v.handler("main.postOrder")
	h.samples = n
	for i, class := range []string{"smtp", "webhook"} {
		w := set.Patterns.Class(class)
		if w == nil || !w.InlineWork {
			t.Fatalf("no inline_work class %s in the catalogue", class)
		}
		c := h.class(w)
		c.samples = math.Ceil(k / 2)
		if i == 1 {
			c.samples = k - math.Ceil(k/2)
		}
		if c.samples == 0 {
			delete(h.classes, class)
			continue
		}
		fr := pprof.Frame{Func: "main.send" + class, File: "main.go", Line: 10 + i}
		c.sites[fr] = &appSiteStat{site: fr, samples: c.samples}
	}
	in.views.app = v
	return in
}

// TestAppInlineWorkEvidenceFloor: attach's first readings caught the
// naive sample service's POST /orders handler once, sending e-mail (1 of 1
// sample: 21% by Wilson's bound, over the 10% bar): a finding at 0.22 that
// left two seconds later. A finding needs min_samples samples of the work;
// the classes of a handler count together, under one subject.
func TestAppInlineWorkEvidenceFloor(t *testing.T) {
	for _, tc := range []struct {
		k, n float64
		want bool
	}{
		{1, 1, false},  // one request, one dump
		{2, 2, false},  // 34% by the bound, but two samples
		{2, 8, false},  // under the floor and the bar
		{3, 3, true},   // 44%, three samples
		{3, 9, true},   // smtp 2 + webhook 1 of 9: 12%, together
		{3, 20, false}, // 5%
		{8, 20, true},
	} {
		fs := appRunRule(t, appInlineView(t, tc.k, tc.n), "app.inline-work", nil)
		if got := len(fs) == 1; got != tc.want {
			t.Errorf("%v of %v samples: found %v, want %v (%v)", tc.k, tc.n, got, tc.want, fs)
			continue
		}
		if tc.want && (fs[0].Subject != "main.postOrder -> inline work" || fs[0].Evidence["work_samples"] != tc.k) {
			t.Errorf("%v of %v: %s %v", tc.k, tc.n, fs[0].Subject, fs[0].Evidence)
		}
	}
	// The subject does not follow the classes seen.
	a := appRunRule(t, appInlineView(t, 3, 3), "app.inline-work", nil)
	b := appRunRule(t, appInlineView(t, 8, 20), "app.inline-work", nil)
	if len(a) != 1 || len(b) != 1 || a[0].Fingerprint() != b[0].Fingerprint() {
		t.Errorf("subjects %v / %v", a, b)
	}
}

func TestAppLockContentionFixture(t *testing.T) {
	fs := appRunRule(t, appFixture(t, "lock"), "app.lock-contention", nil)
	if len(fs) != 1 {
		t.Fatalf("%d findings, want 1: %v", len(fs), fs)
	}
	f := fs[0]
	want := appCaptureFile + ":" + strconv.Itoa(appCaptureLine(t, "func (s *service) bump(", "s.mu.Lock()"))
	if f.Subject != "main.(*service).bump" || f.Location != want || f.Evidence["handler"] != "main.(*service).count" {
		t.Errorf("finding %s at %s %v, want main.(*service).bump at %s", f.Subject, f.Location, f.Evidence, want)
	}
	if s := f.Evidence["waiting_share"].(float64); s < 0.5 {
		t.Errorf("waiting_share %v: 16 connections queue on one lock", s)
	}
	if d := f.Evidence["delay_ms_per_s"].(float64); d < 1000 {
		t.Errorf("delay %v ms/s: the block profile sees about 15 goroutines waiting", d)
	}
	for _, mode := range []string{"tuned", "blocking", "inline", "hops"} {
		if fs := appRunRule(t, appFixture(t, mode), "app.lock-contention", nil); len(fs) != 0 {
			t.Errorf("%s: %v", mode, fs)
		}
	}
}

// TestAppLockContentionEvidenceFloor: the dumps' share of waiters on a
// lock is held to the bound and the floor of the other app rules: one
// goroutine caught waiting in one dump is not contention.
func TestAppLockContentionEvidenceFloor(t *testing.T) {
	set := loadBuiltin(t)
	view := func(k, n float64) *Input {
		in := &Input{Window: &probe.Window{Seconds: 5}, Patterns: set.Patterns}
		v := &appView{handlers: map[string]*appHandlerStat{}, dumps: 2, samples: n}
		h := v.handler("main.profile")
		h.samples = n
		c := h.class(set.Patterns.Class("mutex"))
		c.samples = k
		fr := pprof.Frame{Func: "main.recordAudit", File: "main.go", Line: 42}
		c.sites[fr] = &appSiteStat{site: fr, samples: k}
		in.views.app = v
		return in
	}
	for _, tc := range []struct {
		k, n float64
		want bool
	}{{1, 1, false}, {2, 3, false}, {3, 30, false}, {3, 6, true}, {58, 205, true}} {
		fs := appRunRule(t, view(tc.k, tc.n), "app.lock-contention", nil)
		if got := len(fs) == 1; got != tc.want {
			t.Errorf("%v waiting of %v: found %v, want %v (%v)", tc.k, tc.n, got, tc.want, fs)
		}
	}
}

func TestAppInternalHopsFixture(t *testing.T) {
	fs := appRunRule(t, appFixture(t, "hops"), "app.internal-hops", nil)
	if len(fs) != 1 {
		t.Fatalf("%d findings, want one naming both internal services: %v", len(fs), fs)
	}
	want := appCaptureFile + ":" + strconv.Itoa(appCaptureLine(t, "func (s *service) get(", "s.client.Do(req)"))
	f := fs[0]
	if hops := f.Evidence["hops_per_request"].(float64); hops < 1.8 || hops > 2.2 {
		t.Errorf("%v hops per request, want 2 (one to each service)", hops)
	}
	if f.Subject != "internal HTTP hops" || f.Evidence["hosts"] != 2 || !strings.Contains(f.Evidence["host"].(string), " and ") {
		t.Errorf("subject %q, hosts %v (%v)", f.Subject, f.Evidence["hosts"], f.Evidence["host"])
	}
	if f.Evidence["function"] != "main.(*service).get" || f.Evidence["endpoint"] != "main.(*service).profile" || f.Location != want {
		t.Errorf("%s: %v at %s", f.Subject, f.Evidence, f.Location)
	}
	if share := f.Evidence["latency_share"].(float64); share < 0.2 || share > 1 {
		t.Errorf("latency share %v", share)
	}
	// The internal host can be named instead of found by its address.
	in := appFixture(t, "hops")
	in.Window.Metrics.Outbound = append(in.Window.Metrics.Outbound[:0:0], in.Window.Metrics.Outbound...)
	for i := range in.Window.Metrics.Outbound {
		in.Window.Metrics.Outbound[i].Host = "users.example.com:80"
	}
	if fs := appRunRule(t, in, "app.internal-hops", nil); len(fs) != 0 {
		t.Errorf("a public host is not internal: %v", fs)
	}
	if fs := appRunRule(t, in, "app.internal-hops", map[string]any{"internal_hosts": []string{"users.example.com"}}); len(fs) != 1 {
		t.Errorf("internal_hosts: %d findings", len(fs))
	}
	for _, mode := range []string{"tuned", "blocking"} {
		if fs := appRunRule(t, appFixture(t, mode), "app.internal-hops", nil); len(fs) != 0 {
			t.Errorf("%s: %v", mode, fs)
		}
	}
}

// appHopsWindow is a window of 10 s: 100 inbound requests at 100 ms, and
// calls of 20 ms to each host.
func appHopsWindow(calls map[string]float64) *Input {
	m := &metrics.Window{Seconds: 10, RPS: 10, Requests: 100,
		Routes: []metrics.RouteRate{{Route: "/users/{id}", Method: "GET", Requests: 100, RPS: 10, HasLatency: true,
			Latency: metrics.Latency{Count: 100, Mean: 0.1}}}}
	for _, h := range slices.Sorted(maps.Keys(calls)) {
		n := calls[h]
		m.Outbound = append(m.Outbound, metrics.OutboundRate{Host: h, Calls: n, PerSec: n / 10, HasLatency: true,
			Latency: metrics.Latency{Count: n, Mean: 0.02}})
	}
	return &Input{Window: &probe.Window{Seconds: 10, Metrics: m}}
}

// TestAppInternalHopsSplitAcrossHosts: the CI flake of the naive sample
// service, whose requests made 0.7 internal calls each split over its two
// internal services (0.35 each, under the 0.5 bar each): the hops of every
// internal host count together, one finding names both.
func TestAppInternalHopsSplitAcrossHosts(t *testing.T) {
	fs := appRunRule(t, appHopsWindow(map[string]float64{"127.0.0.1:8081": 35, "127.0.0.1:8082": 35, "api.stripe.com:443": 80}),
		"app.internal-hops", nil)
	if len(fs) != 1 {
		t.Fatalf("0.35 + 0.35 internal hops per request: %d findings, want 1: %v", len(fs), fs)
	}
	f := fs[0]
	if f.Evidence["hops_per_request"] != 0.7 || f.Evidence["hosts"] != 2 ||
		f.Evidence["host"] != "127.0.0.1:8081 and 127.0.0.1:8082" ||
		f.Evidence["hops_by_host"] != "127.0.0.1:8081 0.35/request, 127.0.0.1:8082 0.35/request" {
		t.Errorf("evidence %v", f.Evidence)
	}
	if !strings.Contains(f.Title, "0.7 internal HTTP calls per request to 127.0.0.1:8081 and 127.0.0.1:8082") {
		t.Errorf("title %q", f.Title)
	}
	// The subject does not follow the hosts: one host alone is the same
	// finding.
	one := appRunRule(t, appHopsWindow(map[string]float64{"127.0.0.1:8081": 70}), "app.internal-hops", nil)
	if len(one) != 1 || one[0].Fingerprint() != f.Fingerprint() {
		t.Errorf("one host: %v", one)
	}
	// Under the bar in total: none.
	if fs := appRunRule(t, appHopsWindow(map[string]float64{"127.0.0.1:8081": 20, "127.0.0.1:8082": 20}), "app.internal-hops", nil); len(fs) != 0 {
		t.Errorf("0.4 hops per request: %v", fs)
	}
}

func TestAppInternalHost(t *testing.T) {
	for host, want := range map[string]bool{
		"127.0.0.1:8081": true, "localhost": true, "[::1]:80": true, "10.1.2.3:443": true, "192.168.0.9": true,
		"172.16.0.1:80": true, "fd00::1": true, "api.stripe.com": false, "8.8.8.8:53": false, "billing.internal": true,
	} {
		if got := appInternalHost(host, []string{"billing.internal"}); got != want {
			t.Errorf("%s: %v, want %v", host, got, want)
		}
	}
}

func TestAppHandlerName(t *testing.T) {
	f := func(fn string) pprof.Frame { return pprof.Frame{Func: fn, File: fn + ".go", Line: 1} }
	serve := []pprof.Frame{f("net/http.HandlerFunc.ServeHTTP"), f("net/http.(*ServeMux).ServeHTTP"),
		f("net/http.serverHandler.ServeHTTP"), f("net/http.(*conn).serve")}
	att := pprof.DefaultAttributor()
	for _, c := range []struct {
		stack []pprof.Frame
		want  string
	}{
		// Middleware closures lead to the handler's named function.
		{[]pprof.Frame{f("net/smtp.(*Client).Mail"), f("example.com/shop.(*App).sendMail"), f("example.com/shop.(*App).postOrder"),
			f("example.com/shop.(*App).authed.func1"), f("example.com/shop.(*App).register.func1")}, "example.com/shop.(*App).postOrder"},
		// A closure handler that calls a helper is the handler itself.
		{[]pprof.Frame{f("net/http.(*Client).Do"), f("main.fetch"), f("main.main.func1")}, "main.main.func1"},
		// A named handler.
		{[]pprof.Frame{f("time.Sleep"), f("main.slow")}, "main.slow"},
	} {
		frames := append(append([]pprof.Frame{}, c.stack...), serve...)
		if got := appHandlerName(att.Attribute(frames), frames); got != c.want {
			t.Errorf("%s: handler %s, want %s", c.stack[0].Func, got, c.want)
		}
	}
}

// TestAppFgprofFallback reads the goroutines of a wall-clock profile
// (fgprof's format: stacks of every goroutine with a sample count) when no
// goroutine dump was taken. The profile is built from the stacks of the
// blocking capture's dumps.
func TestAppFgprofFallback(t *testing.T) {
	in := appFixture(t, "blocking")
	p := &profile.Profile{SampleType: []*profile.ValueType{{Type: "samples", Unit: "count"}, {Type: "time", Unit: "nanoseconds"}}}
	funcs := map[string]*profile.Function{}
	for _, dump := range in.Window.Goroutines {
		for _, g := range dump.Goroutines {
			s := &profile.Sample{Value: []int64{99, 99 * 10_101_010}}
			for _, f := range g.Frames {
				fn := funcs[f.Func]
				if fn == nil {
					fn = &profile.Function{ID: uint64(len(funcs) + 1), Name: f.Func, Filename: f.File}
					funcs[f.Func] = fn
					p.Function = append(p.Function, fn)
				}
				loc := &profile.Location{ID: uint64(len(p.Location) + 1), Line: []profile.Line{{Function: fn, Line: int64(f.Line)}}}
				p.Location = append(p.Location, loc)
				s.Location = append(s.Location, loc)
			}
			p.Sample = append(p.Sample, s)
		}
	}
	in.Window.Goroutines = nil
	in.Window.Profiles.Fgprof = &pprof.ProfileResult{Kind: pprof.KindFgprof, Status: source.Status{State: source.OK}, Profile: p}
	fs := appRunRule(t, in, "app.blocking-io", nil)
	var found bool
	for _, f := range fs {
		if f.Subject == "main.(*service).quote -> main.(*service).get" {
			found = true
			if f.Evidence["share"].(float64) < 0.8 {
				t.Errorf("share %v", f.Evidence["share"])
			}
		}
	}
	if !found {
		t.Errorf("no finding from the fgprof profile: %v", fs)
	}
}
