package load

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// counter is an httptest handler that counts requests by path.
type counter struct {
	mu     sync.Mutex
	paths  map[string]int
	bodies []string
}

func (c *counter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	c.mu.Lock()
	if c.paths == nil {
		c.paths = map[string]int{}
	}
	c.paths[r.URL.Path]++
	if len(body) > 0 {
		c.bodies = append(c.bodies, string(body))
	}
	c.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_, _ = io.WriteString(w, `{"ok":true}`)
}

func (c *counter) get(path string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.paths[path]
}

func (c *counter) total() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, v := range c.paths {
		n += v
	}
	return n
}

func run(t *testing.T, cfg Config) *Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	res, err := Run(ctx, cfg)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	return res
}

func TestMixWeights(t *testing.T) {
	var c counter
	srv := httptest.NewServer(&c)
	defer srv.Close()

	const n = 4000
	res := run(t, Config{
		BaseURL:     srv.URL + "/api/",
		Connections: 4,
		MaxRequests: n,
		Seed:        1,
		Mix: []Entry{
			{Name: "a", Weight: 1, Path: "/a"},
			{Name: "b", Weight: 3, Path: "b"},
			{Name: "c", Weight: 6, Path: "/c"},
		},
	})
	if res.Requests != n || res.Errors != 0 {
		t.Fatalf("requests %d errors %d %v, want %d and 0", res.Requests, res.Errors, res.ErrorsByKind, n)
	}
	for name, want := range map[string]float64{"a": 0.1, "b": 0.3, "c": 0.6} {
		got := c.get("/api/" + name)
		if int64(got) != res.PerEntry[name].Requests {
			t.Errorf("entry %s: server saw %d requests, result says %d", name, got, res.PerEntry[name].Requests)
		}
		share := float64(got) / n
		if share < want-0.03 || share > want+0.03 {
			t.Errorf("entry %s: share %.3f, want %.2f ± 0.03", name, share, want)
		}
	}
}

func TestPlaceholders(t *testing.T) {
	var c counter
	srv := httptest.NewServer(&c)
	defer srv.Close()

	res := run(t, Config{
		BaseURL:     srv.URL,
		Connections: 3,
		MaxRequests: 600,
		Vars:        map[string]Range{"user": {Min: 5, Max: 9}, "qty": {Min: -2, Max: 2}},
		Mix: []Entry{{
			Name:   "order",
			Method: http.MethodPost,
			Path:   "/users/{user}/orders",
			Body:   `{"user": {user}, "qty": {qty}, "note": "{not a var}"}`,
			Header: http.Header{"Content-Type": {"application/json"}},
		}},
	})
	if res.Errors != 0 {
		t.Fatalf("errors: %v", res.ErrorsByKind)
	}
	seen := map[int]int{}
	for u := 5; u <= 9; u++ {
		seen[u] = c.get("/users/" + strconv.Itoa(u) + "/orders")
		if seen[u] < 60 {
			t.Errorf("user %d drawn %d times of 600, want about 120", u, seen[u])
		}
	}
	if got := c.total(); got != 600 {
		t.Errorf("server saw %d requests (paths %v), want 600 all in users 5..9", got, c.paths)
	}
	qtys := map[int]bool{}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, b := range c.bodies {
		var user, qty int
		var note string
		if !strings.HasSuffix(b, `"note": "{not a var}"}`) {
			t.Fatalf("body %q: the literal braces were not kept", b)
		}
		if _, err := fmtSscanf(b, &user, &qty, &note); err != nil {
			t.Fatalf("body %q: %v", b, err)
		}
		if user < 5 || user > 9 || qty < -2 || qty > 2 {
			t.Errorf("body %q: value out of range", b)
		}
		qtys[qty] = true
	}
	if len(c.bodies) != 600 || len(qtys) != 5 {
		t.Errorf("%d bodies, quantities drawn %v; want 600 bodies and all of -2..2", len(c.bodies), qtys)
	}
}

// fmtSscanf reads the two numbers of a placeholder test body.
func fmtSscanf(b string, user, qty *int, note *string) (int, error) {
	b = strings.TrimPrefix(b, `{"user": `)
	us, rest, ok := strings.Cut(b, `, "qty": `)
	if !ok {
		return 0, errors.New("no qty")
	}
	qs, _, ok := strings.Cut(rest, `, "note": `)
	if !ok {
		return 0, errors.New("no note")
	}
	var err error
	if *user, err = strconv.Atoi(us); err != nil {
		return 0, err
	}
	if *qty, err = strconv.Atoi(qs); err != nil {
		return 0, err
	}
	return 2, nil
}

func TestFixedRate(t *testing.T) {
	var c counter
	srv := httptest.NewServer(&c)
	defer srv.Close()

	res := run(t, Config{BaseURL: srv.URL, Connections: 4, Rate: 200, Duration: time.Second})
	if res.Requests < 180 || res.Requests > 220 {
		t.Errorf("%d requests in %s at 200 req/s, want 180..220", res.Requests, res.Elapsed)
	}
	if res.Rate != 200 || res.Connections != 4 {
		t.Errorf("result settings: rate %g connections %d", res.Rate, res.Connections)
	}
}

// TestFixedRateCountsQueueing checks the coordinated-omission correction: a
// server that stalls for 500 ms delays every request due during the stall,
// and their latency counts from when they were due.
func TestFixedRateCountsQueueing(t *testing.T) {
	var first atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if first.CompareAndSwap(false, true) {
			time.Sleep(500 * time.Millisecond)
		}
		_, _ = io.WriteString(w, "ok")
	}))
	defer srv.Close()

	res := run(t, Config{BaseURL: srv.URL, Connections: 1, Rate: 100, Duration: time.Second})
	if res.Requests < 80 {
		t.Fatalf("%d requests, want about 100", res.Requests)
	}
	// About 50 requests were due during the stall, waiting 0 to 500 ms: a
	// quarter of them over 250 ms. Measured from the actual send, only one
	// request would be slow and p90 would be well under a millisecond.
	if res.Latency.P90 < 200*time.Millisecond || res.Latency.Max < 450*time.Millisecond {
		t.Errorf("latency %+v: the queueing behind the stall is not counted", res.Latency)
	}
}

func TestDurationBound(t *testing.T) {
	var c counter
	srv := httptest.NewServer(&c)
	defer srv.Close()

	start := time.Now()
	res := run(t, Config{BaseURL: srv.URL, Connections: 2, Duration: 300 * time.Millisecond})
	took := time.Since(start)
	if took < 300*time.Millisecond || took > 2*time.Second {
		t.Errorf("run took %s, want about 300ms", took)
	}
	if res.Elapsed < 300*time.Millisecond || res.Elapsed > took {
		t.Errorf("elapsed %s, run took %s", res.Elapsed, took)
	}
	// The requests under way when the time ran out reached the server but
	// are not counted: at most one per connection.
	if n := int64(c.total()); res.Requests < 10 || n < res.Requests || n > res.Requests+2 {
		t.Errorf("%d requests, server saw %d", res.Requests, n)
	}
}

func TestMaxRequests(t *testing.T) {
	var c counter
	srv := httptest.NewServer(&c)
	defer srv.Close()

	res := run(t, Config{BaseURL: srv.URL, Connections: 8, MaxRequests: 137})
	if res.Requests != 137 || c.total() != 137 || res.Answered != 137 {
		t.Errorf("requests %d (answered %d), server saw %d, want 137", res.Requests, res.Answered, c.total())
	}
}

// A slow service keeps a run going past Duration until MinRequests have
// completed; without enough time, MaxDuration caps it and says so.
func TestMinRequests(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(20 * time.Millisecond)
		_, _ = io.WriteString(w, "ok")
	}))
	defer srv.Close()

	// 2 connections at 20 ms: about 100 requests a second, so 50 ms of
	// Duration alone would give about 5.
	res := run(t, Config{BaseURL: srv.URL, Connections: 2, Duration: 50 * time.Millisecond,
		MinRequests: 40, MaxDuration: 20 * time.Second})
	if res.Requests < 40 || res.Capped {
		t.Errorf("requests %d, capped %v: want at least 40, not capped", res.Requests, res.Capped)
	}
	if res.Requests > 40+2 {
		t.Errorf("requests %d: the run went on after the 40th request (2 connections)", res.Requests)
	}

	res = run(t, Config{BaseURL: srv.URL, Connections: 2, Duration: 50 * time.Millisecond,
		MinRequests: 100000, MaxDuration: 300 * time.Millisecond})
	if !res.Capped || res.Requests >= 100000 {
		t.Errorf("requests %d, capped %v: want the cap to end the run", res.Requests, res.Capped)
	}
	if res.Elapsed < 300*time.Millisecond || res.Elapsed > 10*time.Second {
		t.Errorf("elapsed %s: want the cap of 300 ms", res.Elapsed)
	}

	// Enough requests within Duration: Duration ends the run, as without
	// a minimum.
	res = run(t, Config{BaseURL: srv.URL, Connections: 2, Duration: 300 * time.Millisecond, MinRequests: 1})
	if res.Capped || res.Elapsed < 300*time.Millisecond {
		t.Errorf("elapsed %s, capped %v: want Duration to end the run", res.Elapsed, res.Capped)
	}

	for _, bad := range []Config{
		{BaseURL: srv.URL, MinRequests: 10},
		{BaseURL: srv.URL, Duration: time.Second, MinRequests: 10, MaxDuration: time.Millisecond},
		{BaseURL: srv.URL, Duration: time.Second, MinRequests: -1},
	} {
		if _, err := Run(context.Background(), bad); err == nil {
			t.Errorf("%+v: no error", bad)
		}
	}
}

func TestErrorKinds(t *testing.T) {
	t.Run("status", func(t *testing.T) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			switch r.URL.Path {
			case "/fail":
				http.Error(w, "boom", http.StatusInternalServerError)
			case "/missing":
				http.NotFound(w, r)
			case "/moved":
				http.Redirect(w, r, "/ok", http.StatusFound)
			default:
				_, _ = io.WriteString(w, "ok")
			}
		}))
		defer srv.Close()
		res := run(t, Config{BaseURL: srv.URL, Connections: 2, MaxRequests: 400, Mix: []Entry{
			{Name: "ok", Path: "/ok"}, {Name: "fail", Path: "/fail"},
			{Name: "missing", Path: "/missing"}, {Name: "moved", Path: "/moved"},
		}})
		fail, missing := res.PerEntry["fail"].Requests, res.PerEntry["missing"].Requests
		if res.ErrorsByKind["status 500"] != fail || res.ErrorsByKind["status 404"] != missing ||
			res.Errors != fail+missing || len(res.ErrorsByKind) != 2 {
			t.Errorf("errors %d %v; fail %d, missing %d", res.Errors, res.ErrorsByKind, fail, missing)
		}
		if res.PerEntry["ok"].Errors != 0 || res.PerEntry["moved"].Errors != 0 {
			t.Errorf("2xx and 3xx counted as errors: %+v %+v", res.PerEntry["ok"], res.PerEntry["moved"])
		}
		if res.PerEntry["fail"].ErrorsByKind["status 500"] != fail || res.Answered != 400 {
			t.Errorf("per entry errors %v, answered %d", res.PerEntry["fail"].ErrorsByKind, res.Answered)
		}
	})
	t.Run("connection refused", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		res := run(t, Config{BaseURL: "http://" + addr, Connections: 2, MaxRequests: 20})
		if res.Requests != 20 || res.ErrorsByKind[KindConnectionRefused] != 20 || res.Answered != 0 {
			t.Errorf("requests %d answered %d errors %v", res.Requests, res.Answered, res.ErrorsByKind)
		}
	})
	t.Run("timeout", func(t *testing.T) {
		release := make(chan struct{})
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-release:
			case <-r.Context().Done():
			}
		}))
		defer srv.Close()
		defer close(release)
		start := time.Now()
		res := run(t, Config{BaseURL: srv.URL, Connections: 2, MaxRequests: 4, Timeout: 100 * time.Millisecond})
		if res.ErrorsByKind[KindTimeout] != 4 {
			t.Errorf("errors %v, want 4 timeouts", res.ErrorsByKind)
		}
		if took := time.Since(start); took > 2*time.Second {
			t.Errorf("4 requests timing out after 100ms on 2 connections took %s", took)
		}
	})
	t.Run("reset and closed", func(t *testing.T) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			conn, _, err := http.NewResponseController(w).Hijack()
			if err != nil {
				return
			}
			if r.URL.Path == "/reset" {
				_ = conn.(*net.TCPConn).SetLinger(0)
			}
			conn.Close()
		}))
		defer srv.Close()
		res := run(t, Config{BaseURL: srv.URL, Connections: 1, MaxRequests: 40, Mix: []Entry{
			{Name: "reset", Path: "/reset"}, {Name: "closed", Path: "/closed"},
		}})
		reset, closed := res.PerEntry["reset"], res.PerEntry["closed"]
		if reset.ErrorsByKind[KindConnectionReset] != reset.Requests || closed.ErrorsByKind[KindConnectionClosed] != closed.Requests {
			t.Errorf("reset %v of %d, closed %v of %d", reset.ErrorsByKind, reset.Requests, closed.ErrorsByKind, closed.Requests)
		}
	})
}

func TestConnectionsAreReused(t *testing.T) {
	var c counter
	var newConns atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.ServeHTTP(w, r)
		if r.URL.Path == "/big" {
			// A body without Content-Length (chunked) and one larger than the
			// read buffer must be read to the end for the reuse.
			_, _ = w.Write([]byte(strings.Repeat("x", 100_000)))
		}
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			newConns.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()

	res := run(t, Config{BaseURL: srv.URL, Connections: 7, MaxRequests: 700, Mix: []Entry{
		{Name: "small", Path: "/small"}, {Name: "big", Path: "/big"}, {Name: "head", Method: http.MethodHead, Path: "/head"},
	}})
	if res.Errors != 0 {
		t.Fatalf("errors %v", res.ErrorsByKind)
	}
	if n := newConns.Load(); n != 7 {
		t.Errorf("7 connections opened %d TCP connections", n)
	}
}

// TestServerClosesIdleConnections checks that a request that finds its
// keep-alive connection closed by the server is sent again on a new one.
func TestServerClosesIdleConnections(t *testing.T) {
	var c counter
	var newConns atomic.Int64
	srv := httptest.NewUnstartedServer(&c)
	srv.Config.IdleTimeout = 20 * time.Millisecond
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			newConns.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()

	res := run(t, Config{BaseURL: srv.URL, Connections: 1, Rate: 10, MaxRequests: 4})
	if res.Errors != 0 || c.total() != 4 {
		t.Errorf("errors %v, server saw %d requests; want none and 4", res.ErrorsByKind, c.total())
	}
	if newConns.Load() < 2 {
		t.Errorf("%d connections: the server's idle timeout did not close any", newConns.Load())
	}
}

func TestTLS(t *testing.T) {
	var c counter
	srv := httptest.NewUnstartedServer(&c)
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the handshake failures below
	srv.StartTLS()
	defer srv.Close()
	tlsConf := srv.Client().Transport.(*http.Transport).TLSClientConfig

	res := run(t, Config{BaseURL: srv.URL, Connections: 2, MaxRequests: 50, TLSConfig: tlsConf})
	if res.Errors != 0 || c.total() != 50 {
		t.Errorf("errors %v, server saw %d", res.ErrorsByKind, c.total())
	}
	res = run(t, Config{BaseURL: srv.URL, Connections: 1, MaxRequests: 3, TLSConfig: &tls.Config{}})
	if res.ErrorsByKind[KindTLS] != 3 {
		t.Errorf("an unknown certificate gave %v, want 3 tls errors", res.ErrorsByKind)
	}
}

func TestHeadersAndAuth(t *testing.T) {
	type seen struct{ auth, agent, custom, host string }
	got := make(chan seen, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case got <- seen{r.Header.Get("Authorization"), r.UserAgent(), r.Header.Get("X-Entry"), r.Host}:
		default:
		}
	}))
	defer srv.Close()
	u := strings.Replace(srv.URL, "http://", "http://ada:s3cret@", 1)
	run(t, Config{
		BaseURL: u, Connections: 1, MaxRequests: 1,
		Header: http.Header{"User-Agent": {"test-agent"}, "X-Entry": {"common"}},
		Mix:    []Entry{{Header: http.Header{"x-entry": {"entry"}}}},
	})
	s := <-got
	if s.auth != "Basic YWRhOnMzY3JldA==" || s.agent != "test-agent" || s.custom != "entry" || s.host != strings.TrimPrefix(srv.URL, "http://") {
		t.Errorf("server saw %+v", s)
	}
}

func TestConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
		want string
	}{
		{"scheme", Config{BaseURL: "ftp://127.0.0.1/"}, "scheme"},
		{"no host", Config{BaseURL: "http:///x"}, "no host"},
		{"password hidden", Config{BaseURL: "http://u:hunter2@127.0.0.1:bad/"}, "base URL"},
		{"unknown var", Config{BaseURL: "http://127.0.0.1/", Mix: []Entry{{Path: "/u/{id}"}}}, "{id} has no range"},
		{"bad range", Config{BaseURL: "http://127.0.0.1/", Vars: map[string]Range{"id": {Min: 2, Max: 1}}}, "above max"},
		{"negative weight", Config{BaseURL: "http://127.0.0.1/", Mix: []Entry{{Weight: -1}}}, "weight"},
		{"duplicate name", Config{BaseURL: "http://127.0.0.1/", Mix: []Entry{{Path: "/a"}, {Path: "/a"}}}, "twice"},
		{"space in path", Config{BaseURL: "http://127.0.0.1/", Mix: []Entry{{Path: "/a b"}}}, "spaces"},
		{"header injection", Config{BaseURL: "http://127.0.0.1/", Header: http.Header{"X": {"a\r\nB: c"}}}, "line break"},
		{"bad method", Config{BaseURL: "http://127.0.0.1/", Mix: []Entry{{Method: "GE T"}}}, "method"},
		{"negative connections", Config{BaseURL: "http://127.0.0.1/", Connections: -1}, "connections"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := Run(context.Background(), tc.cfg)
			if err == nil || res != nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, %v; want an error with %q", res, err, tc.want)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("the password is in the error: %v", err)
			}
		})
	}
}

func TestCancelStopsEverything(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/hang" {
			select {
			case <-release:
			case <-r.Context().Done():
			}
		}
	}))
	ctx, cancel := context.WithCancel(context.Background())
	progress := make(chan Progress, 100)
	time.AfterFunc(1200*time.Millisecond, cancel)
	start := time.Now()
	res, err := Run(ctx, Config{
		BaseURL: srv.URL, Connections: 4, Rate: 50, Seed: 1,
		Mix:      []Entry{{Name: "hang", Path: "/hang"}, {Name: "fast", Weight: 20, Path: "/fast"}},
		Progress: func(p Progress) { progress <- p },
	})
	took := time.Since(start)
	close(release)
	srv.Close()
	close(progress)

	if !errors.Is(err, context.Canceled) || res == nil {
		t.Fatalf("Run returned %v, %v; want the results and context.Canceled", res, err)
	}
	if took > 2*time.Second {
		t.Errorf("Run took %s to stop after the cancel at 1.2s", took)
	}
	if res.PerEntry["hang"].Requests != 0 || res.PerEntry["fast"].Requests == 0 {
		t.Errorf("interrupted requests were counted, or no fast one: %+v %+v", res.PerEntry["hang"], res.PerEntry["fast"])
	}
	var got []Progress
	for p := range progress {
		got = append(got, p)
	}
	if len(got) == 0 || got[0].Elapsed < time.Second || got[0].Requests == 0 || got[0].RPS <= 0 {
		t.Errorf("progress reports %+v, want one after a second", got)
	}
	goleak.VerifyNone(t)
}

// TestNoErrorsPastTheDeadline checks that the end of a run by its Duration
// is not counted as errors. A server that closes every connection makes each
// request dial a new one; a dial just past the run's deadline fails at once
// with "i/o timeout" while the run's context may not have reported that it
// is done yet, and a worker that went on would count a burst of timeouts
// that the server never caused. One P and many workers make that window
// wide: the goroutine that cancels the context waits behind them.
func TestNoErrorsPastTheDeadline(t *testing.T) {
	var c counter
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Connection", "close")
		c.ServeHTTP(w, r)
	}))
	defer srv.Close()
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))

	// Ten runs that made requests: on a busy host (the race detector, other
	// test packages at once) a run of 50 ms may end before any request
	// does, which shows nothing either way.
	for i, done := 0, 0; done < 10; i++ {
		if i == 50 {
			t.Fatalf("only %d of %d runs made a request", done, i)
		}
		start := time.Now()
		res := run(t, Config{BaseURL: srv.URL, Connections: 32, Duration: 50 * time.Millisecond})
		took := time.Since(start)
		if res.Errors != 0 {
			t.Fatalf("run %d: %d errors %v in %d requests (server saw %d): the end of the run was counted as errors",
				i, res.Errors, res.ErrorsByKind, res.Requests, c.total())
		}
		if took > 2*time.Second {
			t.Fatalf("run %d: %d requests in %s", i, res.Requests, took)
		}
		if res.Requests == 0 {
			t.Logf("run %d: no request in %s", i, took)
			continue
		}
		done++
	}
}

// Merge adds up runs taken one after another as one run of their summed
// time: counts, errors by kind, latencies and entries of both, RPS over
// the summed elapsed time.
func TestMerge(t *testing.T) {
	var slow atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if slow.Load() {
			time.Sleep(30 * time.Millisecond)
		}
		if r.URL.Path == "/fail" {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		_, _ = io.WriteString(w, "ok")
	}))
	defer srv.Close()
	mix := []Entry{{Name: "ok", Path: "/ok", Weight: 3}, {Name: "fail", Path: "/fail", Weight: 1}}

	fast := run(t, Config{BaseURL: srv.URL, Connections: 2, MaxRequests: 200, Mix: mix, Seed: 1})
	slow.Store(true)
	slowRun := run(t, Config{BaseURL: srv.URL, Connections: 2, MaxRequests: 20, Mix: mix, Seed: 2})

	m := Merge(fast, nil, slowRun)
	if m.Requests != 220 || m.Answered != 220 || m.Errors != fast.Errors+slowRun.Errors || m.Errors == 0 {
		t.Errorf("requests %d answered %d errors %d, want 220, 220, %d", m.Requests, m.Answered, m.Errors, fast.Errors+slowRun.Errors)
	}
	if m.ErrorsByKind["status 500"] != m.Errors {
		t.Errorf("errors by kind %v, want %d of status 500", m.ErrorsByKind, m.Errors)
	}
	if m.Elapsed != fast.Elapsed+slowRun.Elapsed {
		t.Errorf("elapsed %s, want %s", m.Elapsed, fast.Elapsed+slowRun.Elapsed)
	}
	if want := 220 / (fast.Elapsed + slowRun.Elapsed).Seconds(); math.Abs(m.RPS-want) > 1e-9*want {
		t.Errorf("RPS %g, want %g (requests over the summed time, not the mean of the rates)", m.RPS, want)
	}
	// 20 of 220 took 30 ms: the p95 and the maximum are the slow run's,
	// the median the fast one's.
	if m.Latency.Max < 30*time.Millisecond || m.Latency.P50 >= 30*time.Millisecond {
		t.Errorf("latency %+v: want the slow run's maximum and the fast run's median", m.Latency)
	}
	for _, name := range []string{"ok", "fail"} {
		e, f, s := m.PerEntry[name], fast.PerEntry[name], slowRun.PerEntry[name]
		if e == nil || e.Requests != f.Requests+s.Requests || e.Answered != f.Answered+s.Answered || e.Errors != f.Errors+s.Errors {
			t.Errorf("entry %s: %+v, want the sum of %+v and %+v", name, e, f, s)
		}
	}
	// The inputs are left as they were.
	if fast.Requests != 200 || fast.Histogram.TotalCount() != 200 {
		t.Errorf("Merge changed its first argument: %d requests, %d latencies", fast.Requests, fast.Histogram.TotalCount())
	}
	if Merge() != nil || Merge(nil) != nil {
		t.Error("Merge of no result is not nil")
	}
	capped := *fast
	capped.Capped = true
	if !Merge(slowRun, &capped).Capped {
		t.Error("a capped run does not make the merged one capped")
	}
}
