package sampleapp

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pgadvisor/advisor/internal/load"
)

func TestSpreadOf(t *testing.T) {
	for _, c := range []struct {
		in   []float64
		want spread
		text string
	}{
		{[]float64{3}, spread{3, 3, 3}, "3.0"},
		{[]float64{5, 1, 3}, spread{3, 1, 5}, "3.0 (1.0-5.0)"},
		{[]float64{4, 1, 3, 2}, spread{2.5, 1, 4}, "2.5 (1.0-4.0)"},
		{nil, spread{}, "0.0"},
	} {
		got := spreadOf(c.in)
		if got != c.want {
			t.Errorf("spreadOf(%v) = %+v, want %+v", c.in, got, c.want)
		}
		if s := got.format(len(c.in), func(v float64) string { return fmt.Sprintf("%.1f", v) }); s != c.text {
			t.Errorf("format(%v) = %q, want %q", c.in, s, c.text)
		}
	}
}

// The ratio of each round is taken within its adjacent pair, not between
// medians: a slow round slows both of its runs.
func TestRatiosArePerPair(t *testing.T) {
	run := func(rps float64) BenchRun { return BenchRun{Completed: rps} }
	naive := []BenchRun{run(10), run(5), run(20)}
	tuned := []BenchRun{run(200), run(100), run(400)}
	got := ratios(tuned, naive, func(r BenchRun) float64 { return r.Completed })
	if len(got) != 3 || got[0] != 20 || got[1] != 20 || got[2] != 20 {
		t.Errorf("ratios %v, want 20 each", got)
	}
}

// settle reads the counters only once nothing is in flight, so that no
// request is counted half-done.
func TestSettleWaitsForRequestsInFlight(t *testing.T) {
	var inFlight atomic.Int64
	inFlight.Store(3)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "# TYPE http_requests_in_flight gauge\nhttp_requests_in_flight %d\n", inFlight.Load())
		fmt.Fprintf(w, "# TYPE http_requests_total counter\nhttp_requests_total{route=\"/users/{id}\"} 7\n")
	}))
	defer srv.Close()
	go func() {
		time.Sleep(150 * time.Millisecond)
		inFlight.Store(0)
	}()
	waited, s, err := settle(context.Background(), srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	if waited < 100*time.Millisecond {
		t.Errorf("waited %s: read the counters with requests in flight", waited)
	}
	if s.gauge("http_requests_in_flight") != 0 || s.apiRequests() != 7 {
		t.Errorf("in flight %v, requests %v", s.gauge("http_requests_in_flight"), s.apiRequests())
	}
}

// The JSON summary holds the medians with their spread, and the ratios of
// each round's pair (not the ratio of the medians).
func TestBenchSummary(t *testing.T) {
	run := func(profile string, rps float64, p95 time.Duration, q float64, capped bool) BenchRun {
		res := &load.Result{RPS: rps, Capped: capped}
		res.Latency.P95, res.Latency.P99 = p95, 2*p95
		return BenchRun{Profile: profile, Result: res, Completed: rps * 10, QueriesPerRequest: q, FeedQueries: 2 * q, HopsPerRequest: 1}
	}
	rep := &BenchReport{
		Naive: []BenchRun{run(ProfileNaive, 10, time.Second, 20, true), run(ProfileNaive, 5, 2*time.Second, 22, false), run(ProfileNaive, 20, time.Second, 18, false)},
		Tuned: []BenchRun{run(ProfileTuned, 300, 10*time.Millisecond, 1, false), run(ProfileTuned, 100, 10*time.Millisecond, 1, false), run(ProfileTuned, 200, 20*time.Millisecond, 1, false)},
		Pairs: []FeedPair{
			{Feed: &load.Result{RPS: 50}, Bare: &load.Result{RPS: 100}, FeedCache: FeedCache{Primed: 20, PrimeTime: 2 * time.Second, Queries: 0.01},
				FeedTurns: []float64{50, 50, 50, 50}, BareTurns: []float64{100, 100, 100, 100}, Turn: 1875 * time.Millisecond},
			{Feed: &load.Result{RPS: 40}, Bare: &load.Result{RPS: 100}, FeedCache: FeedCache{Primed: 20, PrimeTime: 4 * time.Second, Queries: 0.03},
				FeedTurns: []float64{40, 40, 40, 40}, BareTurns: []float64{100, 100, 100, 100}, Turn: 1875 * time.Millisecond},
		},
	}
	got := rep.Summary()
	if got.Rounds != 3 {
		t.Errorf("rounds %d", got.Rounds)
	}
	// Per-round RPS ratios 30, 20, 10: the median 20, not 200/10.
	if got.RPSRatio != (Spread{Median: 20, Min: 10, Max: 30}) {
		t.Errorf("rps ratio %+v", got.RPSRatio)
	}
	// p95 ratios 100, 200, 50.
	if got.P95Ratio != (Spread{Median: 100, Min: 50, Max: 200}) {
		t.Errorf("p95 ratio %+v", got.P95Ratio)
	}
	if got.Naive.P95ms != (Spread{Median: 1000, Min: 1000, Max: 2000}) || got.Naive.Capped != 1 || got.Tuned.Capped != 0 {
		t.Errorf("naive %+v", got.Naive)
	}
	if got.Naive.FeedQueriesPerRequest.Median != 40 || got.Tuned.Completed != (Spread{Median: 2000, Min: 1000, Max: 3000}) {
		t.Errorf("per request: naive %+v tuned %+v", got.Naive, got.Tuned)
	}
	if got.FeedBare == nil || got.FeedBare.Pairs != 2 || got.FeedBare.Ratio != (Spread{Median: 0.45, Min: 0.4, Max: 0.5}) {
		t.Errorf("feed/bare %+v", got.FeedBare)
	}
	if fb := got.FeedBare; fb != nil && (fb.FeedQueries != (Spread{Median: 0.02, Min: 0.01, Max: 0.03}) || fb.PrimeSeconds != (Spread{Median: 3, Min: 2, Max: 4})) {
		t.Errorf("feed runs' cache: queries %+v, prime %+v", fb.FeedQueries, fb.PrimeSeconds)
	}
	data, err := json.Marshal(got)
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{`"rps_ratio":{"median":20,"min":10,"max":30}`, `"queries_per_feed_request"`, `"hops_per_request"`,
		`"completed_requests"`, `"p99_ratio"`, `"feed_bare":{"pairs":2,"turns_per_side":4,"turn_s":1.875`, `"prime_s":{"median":3`} {
		if !strings.Contains(string(data), key) {
			t.Errorf("JSON has no %s: %s", key, data)
		}
	}
	if data, _ := json.Marshal((&BenchReport{}).Summary()); strings.Contains(string(data), "feed_bare") {
		t.Errorf("feed_bare without pairs: %s", data)
	}
}

// PrimeFeeds reads each user's feed of the mix's uid range once, with the
// load's header, never more than workers at a time.
func TestPrimeFeeds(t *testing.T) {
	var mu sync.Mutex
	seen := map[string]int{}
	var inFlight, peak atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := inFlight.Add(1)
		defer inFlight.Add(-1)
		for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
		}
		if r.Header.Get("Authorization") != "Bearer "+LoadTestToken {
			http.Error(w, "no token", http.StatusUnauthorized)
			return
		}
		time.Sleep(2 * time.Millisecond)
		mu.Lock()
		seen[r.URL.Path]++
		mu.Unlock()
	}))
	defer srv.Close()
	_, vars, header := LoadMix(Size{Users: 50, Products: 1})
	n, err := PrimeFeeds(context.Background(), load.Config{BaseURL: srv.URL, Header: header, Vars: vars}, 4)
	if err != nil {
		t.Fatal(err)
	}
	if n != 50 || len(seen) != 50 {
		t.Fatalf("primed %d, %d distinct paths, want 50", n, len(seen))
	}
	for id := 1; id <= 50; id++ {
		if c := seen[fmt.Sprintf("/users/%d/feed", id)]; c != 1 {
			t.Errorf("user %d's feed read %d times", id, c)
		}
	}
	if p := peak.Load(); p > 4 {
		t.Errorf("%d requests at once, want at most 4", p)
	}
	// A failing feed stops the priming with the status.
	bad := httptest.NewServer(http.NotFoundHandler())
	defer bad.Close()
	if _, err := PrimeFeeds(context.Background(), load.Config{BaseURL: bad.URL, Header: header, Vars: vars}, 4); err == nil || !strings.Contains(err.Error(), "404") {
		t.Errorf("err %v, want the 404", err)
	}
}

// A pair's two sides take turns F B B F F B B F, or the reverse, so that a
// load that grows or falls steadily over the pair falls on both alike.
func TestTurnOrder(t *testing.T) {
	side := func(feedFirst bool) string {
		var b strings.Builder
		for _, feed := range turnOrder(feedFirst) {
			b.WriteString(map[bool]string{true: "F", false: "B"}[feed])
		}
		return b.String()
	}
	if got := side(true); got != "FBBFFBBF" {
		t.Errorf("feed first: %s", got)
	}
	if got := side(false); got != "BFFBBFFB" {
		t.Errorf("bare first: %s", got)
	}
	// Under a load that grows by one step each turn, both sides' turns
	// have the same mean position.
	for _, first := range []bool{true, false} {
		var sum [2]int
		for i, feed := range turnOrder(first) {
			if feed {
				sum[0] += i
			} else {
				sum[1] += i
			}
		}
		if sum[0] != sum[1] {
			t.Errorf("feed first %v: mean positions %d and %d (sums)", first, sum[0], sum[1])
		}
	}
}
