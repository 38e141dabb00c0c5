package tune

import (
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/pgadvisor/advisor/internal/load"
	"github.com/pgadvisor/advisor/internal/probe/metrics"
)

// exposition is the part of sampleapp's /metrics that the step table
// reads, with every counter scaled by n.
func exposition(n float64) string {
	return fmt.Sprintf(`# TYPE http_requests_total counter
http_requests_total{code="200",method="GET",route="/users/{id}/feed"} %[1]g
http_requests_total{code="200",method="GET",route="/users/{id}"} %[2]g
http_requests_total{code="200",method="GET",route="/v1/introspect"} %[3]g
http_requests_total{code="200",method="GET",route="/v1/users/{id}"} %[2]g
http_requests_total{code="200",method="GET",route="/health"} %[4]g
# TYPE sampleapp_db_queries_total counter
sampleapp_db_queries_total{route="/users/{id}/feed"} %[5]g
sampleapp_db_queries_total{route="/users/{id}"} %[6]g
sampleapp_db_queries_total{route="worker"} %[7]g
sampleapp_db_queries_total{route="background"} %[7]g
`, 60*n, 40*n, 100*n, 5*n, 1500*n, 80*n, 999*n)
}

func window(t *testing.T) *metrics.Window {
	t.Helper()
	snap := func(at time.Time, n float64) *metrics.Snapshot {
		fams, err := metrics.ParseBytes([]byte(exposition(n)))
		if err != nil {
			t.Fatal(err)
		}
		return metrics.NewSnapshot(at, fams, metrics.DefaultNames())
	}
	t0 := time.Unix(1_800_000_000, 0)
	return metrics.Diff(snap(t0, 1), snap(t0.Add(10*time.Second), 3))
}

func TestMetricsOf(t *testing.T) {
	res := &load.Result{Requests: 1000, Errors: 10, RPS: 100,
		Latency: load.LatencySummary{P50: 2 * time.Millisecond, P95: 9 * time.Millisecond, P99: 20 * time.Millisecond}}
	m := MetricsOf(res, window(t))
	// Over the window: 200 API requests (120 feeds, 80 profiles), 3160 of
	// their queries (the workers' and the writer's left out), 280 calls to
	// the internal services; /health is not an API request.
	if m.Requests != 1000 || m.Errors != 10 || m.RPS != 100 || m.P95 != 9*time.Millisecond {
		t.Errorf("load figures: %+v", m)
	}
	if !m.HasQueries || math.Abs(m.QueriesPerRequest-15.8) > 1e-9 {
		t.Errorf("queries per request %v (%v), want 15.8", m.QueriesPerRequest, m.HasQueries)
	}
	if !m.HasHops || math.Abs(m.HopsPerRequest-1.4) > 1e-9 {
		t.Errorf("hops per request %v (%v), want 1.4", m.HopsPerRequest, m.HasHops)
	}
	if m := MetricsOf(res, nil); m.HasQueries || m.HasHops || m.RPS != 100 {
		t.Errorf("without metrics: %+v", m)
	}
	if m.ErrorRate() != 0.01 {
		t.Errorf("error rate %v", m.ErrorRate())
	}
}
