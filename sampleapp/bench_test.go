package sampleapp

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"
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
