package pprof

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/pprof"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/pprof/profile"

	"github.com/pgadvisor/advisor/internal/probe/source"
)

// Handlers of the test target. Their names are what attribution must find.
var (
	testLock sync.Mutex
	served   atomic.Int64 // requests the handlers below have served
)

func cpuHandler(w http.ResponseWriter, r *http.Request) {
	sum := sha256.Sum256([]byte(r.URL.Path))
	for i := 0; i < 20000; i++ {
		sum = sha256.Sum256(sum[:])
	}
	fmt.Fprintf(w, "%x", sum[:2])
	served.Add(1)
}

func sleepHandler(w http.ResponseWriter, r *http.Request) {
	select {
	case <-time.After(20 * time.Millisecond):
	case <-r.Context().Done():
	}
	io.WriteString(w, "ok")
	served.Add(1)
}

func lockHandler(w http.ResponseWriter, r *http.Request) {
	testLock.Lock()
	time.Sleep(3 * time.Millisecond)
	testLock.Unlock()
	io.WriteString(w, "ok")
	served.Add(1)
}

type hopHandler struct{ base *string }

func (h hopHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	req, _ := http.NewRequestWithContext(r.Context(), http.MethodGet, *h.base+"/sleep", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	io.Copy(w, resp.Body)
	resp.Body.Close()
	served.Add(1)
}

// startTarget serves net/http/pprof and the handlers above, with block and
// mutex profiling on, and drives it with concurrent requests until the test
// ends.
func startTarget(t *testing.T, withAuth string) string {
	t.Helper()
	oldMutex := runtime.SetMutexProfileFraction(10)
	runtime.SetBlockProfileRate(10000)
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/cpu", cpuHandler)
	mux.HandleFunc("/sleep", sleepHandler)
	mux.HandleFunc("/lock", lockHandler)
	var base string
	mux.Handle("/hop", hopHandler{&base})
	var h http.Handler = mux
	if withAuth != "" {
		h = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("Authorization") != withAuth {
				http.Error(w, "no", http.StatusUnauthorized)
				return
			}
			mux.ServeHTTP(w, r)
		})
	}
	srv := httptest.NewServer(h)
	base = srv.URL
	ctx, cancel := context.WithCancel(context.Background())
	// Keep-alive connections for every load goroutine: no port churn.
	transport := &http.Transport{MaxIdleConnsPerHost: 16}
	client := &http.Client{Transport: transport}
	var wg sync.WaitGroup
	for _, path := range []string{"/cpu", "/sleep", "/lock", "/lock", "/hop", "/cpu"} {
		wg.Go(func() {
			for ctx.Err() == nil {
				req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+path, nil)
				req.Header.Set("Authorization", withAuth)
				resp, err := client.Do(req)
				if err != nil {
					time.Sleep(10 * time.Millisecond)
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		})
	}
	// Wait for the load to run before anything is measured.
	start := served.Load()
	for deadline := time.Now().Add(10 * time.Second); served.Load()-start < 30; {
		if time.Now().After(deadline) {
			t.Fatalf("the load did not start: %d requests served", served.Load()-start)
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Cleanup(func() {
		cancel()
		wg.Wait()
		transport.CloseIdleConnections()
		srv.Close()
		runtime.SetBlockProfileRate(0)
		runtime.SetMutexProfileFraction(oldMutex)
	})
	return srv.URL
}

func TestCollectLiveTarget(t *testing.T) {
	url := startTarget(t, "Bearer s3cret")
	c, err := NewClient(url+"/debug/pprof/", HTTPOptions{Header: http.Header{"Authorization": {"Bearer s3cret"}}, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	const pkg = "github.com/pgadvisor/advisor/internal/probe/pprof."
	// The auth wrapper of startTarget is middleware of the service's own.
	att := Attributor{Routers: append(slices.Clone(DefaultRouters), pkg+"startTarget")}
	// On a machine busy with other work the load may stall for a while;
	// measure again until it ran during the whole collection.
	var snap *Snapshot
	for attempt := 0; ; attempt++ {
		before := served.Load()
		snap = Collect(context.Background(), c, Options{CPUSeconds: 1, Attributor: att})
		n := served.Load() - before
		if n >= 100 || attempt == 4 {
			break
		}
		t.Logf("only %d requests served during the collection; again", n)
	}
	if !snap.Status.Ok() {
		t.Fatalf("status = %+v", snap.Status)
	}
	for _, p := range []*ProfileResult{snap.CPU, snap.Goroutine, snap.Block, snap.Mutex, snap.Heap} {
		if !p.Status.Ok() || p.Profile == nil || p.Status.Took <= 0 {
			t.Errorf("%s: status %+v", p.Kind, p.Status)
			continue
		}
		// The body is kept as served: it parses to the same profile.
		raw, err := profile.ParseData(p.Raw)
		if err != nil || len(raw.Sample) != len(p.Profile.Sample) {
			t.Errorf("%s: the raw body (%d bytes) does not parse to the profile: %v", p.Kind, len(p.Raw), err)
		}
	}
	if snap.Fgprof.Status.State != source.Unavailable || !strings.Contains(snap.Fgprof.Status.Detail, "fgprof not served") {
		t.Errorf("fgprof status = %+v", snap.Fgprof.Status)
	}
	if strings.Contains(snap.Status.Detail, "s3cret") {
		t.Errorf("status leaks the header: %s", snap.Status.Detail)
	}

	cpu := snap.CPU.Aggregation
	if cpu.SampleType != "cpu" || cpu.Unit != "nanoseconds" || cpu.Total <= 0 {
		t.Fatalf("cpu aggregation: %s/%s total %d", cpu.SampleType, cpu.Unit, cpu.Total)
	}
	// The CPU loop is the handler that burns the most CPU (the machine may
	// be busy with other work, so no fixed share is asked for).
	if len(cpu.Handlers) == 0 || cpu.Handlers[0].Handler != pkg+"cpuHandler" || cpu.Handlers[0].Share <= 0 {
		t.Errorf("top CPU handler = %+v", cpu.Handlers)
	}
	if f, ok := cpu.Func(pkg + "cpuHandler"); !ok || f.CumShare <= 0 || f.Cum < f.Flat {
		t.Errorf("cpuHandler function stat = %+v", f)
	}
	for i := 1; i < len(cpu.Functions); i++ {
		if cpu.Functions[i].Flat > cpu.Functions[i-1].Flat {
			t.Fatalf("functions not sorted by flat at %d", i)
		}
	}

	mutex := snap.Mutex.Aggregation
	if h, ok := mutex.Handler(pkg + "lockHandler"); !ok || h.Value <= 0 || len(h.Sites) == 0 {
		t.Errorf("mutex profile: lockHandler = %+v (handlers %+v)", h, mutex.Handlers)
	} else if h.Sites[0].CallSite.Func != pkg+"lockHandler" {
		t.Errorf("mutex call site = %+v", h.Sites[0])
	}
	block := snap.Block.Aggregation
	if block.SampleType != "delay" || block.Total <= 0 {
		t.Errorf("block aggregation: %s total %d", block.SampleType, block.Total)
	}

	gt := snap.GoroutineText
	if !gt.Status.Ok() || len(gt.Goroutines) == 0 {
		t.Fatalf("goroutine text: %+v", gt.Status)
	}
	inTestHandlers := func(gs []Goroutine) (bool, map[string]bool) {
		handlers := map[string]bool{}
		for _, g := range gs {
			handlers[g.Attribution.Handler] = true
		}
		return handlers[pkg+"hopHandler.ServeHTTP"] || handlers[pkg+"sleepHandler"] || handlers[pkg+"lockHandler"] || handlers[pkg+"cpuHandler"], handlers
	}
	found, handlers := inTestHandlers(gt.Goroutines)
	// A dump is one instant: on a busy machine it can fall between two
	// requests. Take a few more while the load runs.
	for attempt := 0; !found && attempt < 20; attempt++ {
		gs, _, err := c.GoroutineText(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		att.Goroutines(gs)
		found, handlers = inTestHandlers(gs)
	}
	if !found {
		t.Errorf("no goroutine in the test handlers: %v", handlers)
	}
	if gt.Summary.InHandler == 0 {
		t.Errorf("summary: %+v", gt.Summary)
	}

	// The same target without the header refuses.
	bare, _ := NewClient(url, HTTPOptions{})
	_, err = bare.Heap(context.Background())
	var e *source.StatusError
	if !errors.As(err, &e) || e.Reason != Refused || e.State != source.Unavailable {
		t.Errorf("without the header: %v", err)
	}
}

func TestClientNotServed(t *testing.T) {
	var mu sync.Mutex
	var paths []string
	mux := http.NewServeMux()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		paths = append(paths, r.URL.Path)
		mu.Unlock()
		mux.ServeHTTP(w, r)
	}))
	defer srv.Close()
	c, err := NewClient(srv.URL, HTTPOptions{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Goroutine(context.Background())
	var e *source.StatusError
	if !errors.As(err, &e) || e.Reason != NotServed || !strings.Contains(e.Detail, `import _ "net/http/pprof"`) {
		t.Fatalf("err = %v", err)
	}
	mu.Lock()
	paths = nil
	mu.Unlock()
	snap := Collect(context.Background(), c, Options{CPUSeconds: 1})
	if snap.Status.State != source.Unavailable || strings.Count(snap.Status.Detail, "pprof not served") != 1 {
		t.Errorf("status = %+v", snap.Status)
	}
	// The goroutine profile's 404 answers for the other profiles under
	// /debug/pprof/; fgprof, an endpoint of its own, is asked.
	mu.Lock()
	asked := slices.Sorted(slices.Values(paths))
	mu.Unlock()
	if want := []string{"/debug/fgprof", "/debug/pprof/goroutine"}; !slices.Equal(asked, want) {
		t.Errorf("requests %q, want %q", asked, want)
	}
	for _, p := range append(snap.Profiles(), &ProfileResult{Kind: KindGoroutineText, Status: snap.GoroutineText.Status}) {
		if p.Status.State != source.Unavailable || !strings.Contains(p.Status.Detail, "not served") {
			t.Errorf("%s: %+v", p.Kind, p.Status)
		}
	}
}

func serveBody(t *testing.T, body []byte, delay time.Duration) *Client {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(delay):
		case <-r.Context().Done():
			return
		}
		w.Write(body)
	}))
	t.Cleanup(srv.Close)
	c, err := NewClient(srv.URL, HTTPOptions{Timeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestClientBadBodies(t *testing.T) {
	good := readCapture(t, "cpu.pb.gz")
	cases := []struct {
		name   string
		body   []byte
		reason string
		text   string
	}{
		{"html", []byte("<html><body>Welcome</body></html>"), NotProfile, "not a pprof profile"},
		{"empty", nil, NotProfile, "empty"},
		{"binary garbage", []byte{0xff, 0x00, 0x13, 0x37, 0x42, 0x99, 0x01}, NotProfile, "not a pprof profile"},
		{"truncated", good[:len(good)/2], Truncated, "truncated"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := serveBody(t, tc.body, 0)
			_, err := c.Heap(context.Background())
			var e *source.StatusError
			if !errors.As(err, &e) || e.Reason != tc.reason || e.State != source.Error || !strings.Contains(e.Detail, tc.text) {
				t.Fatalf("err = %#v", err)
			}
			if st := source.StatusOf(err, time.Second); st.State != source.Error || st.Detail != e.Detail || st.Took != time.Second {
				t.Errorf("StatusOf = %+v", st)
			}
		})
	}
}

func TestGoroutineTextNotADump(t *testing.T) {
	c := serveBody(t, []byte("<html><body>hello</body></html>"), 0)
	_, _, err := c.GoroutineText(context.Background())
	var e *source.StatusError
	if !errors.As(err, &e) || e.Reason != NotProfile || !strings.Contains(e.Detail, "not a goroutine dump") {
		t.Fatalf("err = %v", err)
	}
}

func TestClientTimeout(t *testing.T) {
	c := serveBody(t, readCapture(t, "cpu.pb.gz"), 5*time.Second)
	start := time.Now()
	_, err := c.Goroutine(context.Background())
	var e *source.StatusError
	if !errors.As(err, &e) || e.Reason != Timeout || e.State != source.Unavailable || !strings.Contains(e.Detail, "did not answer within 300ms") {
		t.Fatalf("err = %v", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("timeout took %v", d)
	}
}

func TestClientUnreachable(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	c, err := NewClient("http://user:hunter2@"+strings.TrimPrefix(url, "http://"), HTTPOptions{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Heap(context.Background())
	var e *source.StatusError
	if !errors.As(err, &e) || e.Reason != Unreachable || strings.Contains(e.Detail, "hunter2") {
		t.Fatalf("err = %v", err)
	}
	if strings.Contains(c.String(), "hunter2") {
		t.Errorf("String leaks the password: %s", c.String())
	}
}

func TestNewClientValidates(t *testing.T) {
	for _, bad := range []string{"", "localhost:6060", "ftp://host/", "http://", "http://a b/", "postgres://u:pw@host/db"} {
		if _, err := NewClient(bad, HTTPOptions{}); err == nil {
			t.Errorf("NewClient(%q) accepted", bad)
		} else if strings.Contains(err.Error(), ":pw@") {
			t.Errorf("error leaks the password: %v", err)
		}
	}
	if _, err := NewClient("https://host/", HTTPOptions{CAFile: "testdata/goroutines.txt"}); err == nil || !strings.Contains(err.Error(), "no PEM certificate") {
		t.Errorf("CA file without certificates: %v", err)
	}
	if _, err := NewClient("https://host/", HTTPOptions{CertFile: "x.pem"}); err == nil {
		t.Errorf("certificate without key accepted")
	}
	c, err := NewClient("http://host:6060/debug/pprof/", HTTPOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := c.endpoint("/debug/fgprof", nil); got != "http://host:6060/debug/fgprof" {
		t.Errorf("endpoint = %s", got)
	}
}

// emptyContention is what a target with the rate at 0 serves: a valid
// profile without samples.
func emptyContention(t *testing.T) []byte {
	t.Helper()
	p := &profile.Profile{
		SampleType: []*profile.ValueType{{Type: "contentions", Unit: "count"}, {Type: "delay", Unit: "nanoseconds"}},
		PeriodType: &profile.ValueType{Type: "contentions", Unit: "count"},
		Period:     1,
	}
	var buf bytes.Buffer
	if err := p.Write(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestContentionDisabled(t *testing.T) {
	c := serveBody(t, emptyContention(t), 0)
	for _, tc := range []struct {
		fetch func(context.Context, int) (*profile.Profile, error)
		want  string
	}{
		{c.Block, "runtime.SetBlockProfileRate("},
		{c.Mutex, "runtime.SetMutexProfileFraction("},
	} {
		_, err := tc.fetch(context.Background(), 1)
		var e *source.StatusError
		if !errors.As(err, &e) || e.Reason != Disabled || e.State != source.Unavailable || !strings.Contains(e.Detail, tc.want) {
			t.Errorf("err = %v", err)
		}
	}
}

func TestCollectNilClient(t *testing.T) {
	snap := Collect(context.Background(), nil, Options{})
	if snap.Status.State != source.Unavailable || snap.CPU == nil || snap.GoroutineText == nil {
		t.Fatalf("snapshot = %+v", snap)
	}
}

func FuzzParseProfile(f *testing.F) {
	good := readCapture(f, "cpu.pb.gz")
	f.Add(good)
	f.Add(good[:len(good)/3])
	f.Add([]byte("heap profile: 1: 2 [3: 4] @ heap/1048576\n"))
	f.Add([]byte{0x0a, 0x04, 0x08, 0x01, 0x10, 0x02})
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := ParseProfile(data)
		if err != nil {
			if p != nil {
				t.Fatal("profile and error")
			}
			return
		}
		_ = DefaultAttributor().Aggregate(p)
	})
}

func TestClientTLS(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	srv := httptest.NewTLSServer(mux)
	defer srv.Close()
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, opts := range []HTTPOptions{{CAFile: caFile}, {InsecureSkipVerify: true}} {
		c, err := NewClient(srv.URL, opts)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Heap(ctx); err != nil {
			t.Errorf("%+v: %v", opts, err)
		}
	}
	c, _ := NewClient(srv.URL, HTTPOptions{})
	_, err := c.Heap(ctx)
	var e *source.StatusError
	if !errors.As(err, &e) || e.Reason != Unreachable || !strings.Contains(e.Detail, "certificate") {
		t.Errorf("unknown CA: %v", err)
	}
}

func TestCollectSomeKinds(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	c, err := NewClient(srv.URL, HTTPOptions{})
	if err != nil {
		t.Fatal(err)
	}
	snap := Collect(context.Background(), c, Options{Kinds: []Kind{KindHeap, KindGoroutineText}})
	if !snap.Status.Ok() || snap.Status.Detail != "" || !snap.Heap.Status.Ok() || snap.Heap.SampleType != "inuse_space" {
		t.Errorf("status %+v heap %+v %s", snap.Status, snap.Heap.Status, snap.Heap.SampleType)
	}
	if !snap.GoroutineText.Status.Ok() || len(snap.GoroutineText.Goroutines) == 0 {
		t.Errorf("goroutines: %+v", snap.GoroutineText.Status)
	}
	if snap.CPU.Status.State != source.Unavailable || snap.CPU.Profile != nil {
		t.Errorf("cpu: %+v", snap.CPU.Status)
	}
}
