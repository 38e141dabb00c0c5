package metrics

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// The pages below are NOT captures: they are written by hand following each
// instrumentor's documented metric and label names (OpenTelemetry's HTTP
// semantic conventions through the Prometheus exporter, Spring Boot's
// Micrometer http.server.requests, prometheus-fastapi-instrumentator's
// defaults, starlette_exporter's defaults), to check that the default Names
// map their label layouts to routes. The client_golang layout is tested on a
// real capture (testdata/client_golang.txt), and so are the reference
// targets' pages (the FastAPI one with the instrumentator's names, the
// Express one with prom-client's: testdata/fastapi*.txt, express*.txt).
var layouts = []struct {
	name     string
	page     string
	route    string
	method   string
	requests float64
	errors   float64
	latency  bool
	inFlight float64
}{
	{
		name: "opentelemetry",
		page: `# TYPE http_server_request_duration_seconds histogram
http_server_request_duration_seconds_bucket{http_request_method="GET",http_response_status_code="200",http_route="/users/{id}",otel_scope_name="otelhttp",le="0.005"} 3
http_server_request_duration_seconds_bucket{http_request_method="GET",http_response_status_code="200",http_route="/users/{id}",otel_scope_name="otelhttp",le="0.01"} 8
http_server_request_duration_seconds_bucket{http_request_method="GET",http_response_status_code="200",http_route="/users/{id}",otel_scope_name="otelhttp",le="+Inf"} 10
http_server_request_duration_seconds_sum{http_request_method="GET",http_response_status_code="200",http_route="/users/{id}",otel_scope_name="otelhttp"} 0.09
http_server_request_duration_seconds_count{http_request_method="GET",http_response_status_code="200",http_route="/users/{id}",otel_scope_name="otelhttp"} 10
http_server_request_duration_seconds_bucket{http_request_method="GET",http_response_status_code="503",http_route="/users/{id}",otel_scope_name="otelhttp",le="0.005"} 2
http_server_request_duration_seconds_bucket{http_request_method="GET",http_response_status_code="503",http_route="/users/{id}",otel_scope_name="otelhttp",le="0.01"} 2
http_server_request_duration_seconds_bucket{http_request_method="GET",http_response_status_code="503",http_route="/users/{id}",otel_scope_name="otelhttp",le="+Inf"} 2
http_server_request_duration_seconds_sum{http_request_method="GET",http_response_status_code="503",http_route="/users/{id}",otel_scope_name="otelhttp"} 0.004
http_server_request_duration_seconds_count{http_request_method="GET",http_response_status_code="503",http_route="/users/{id}",otel_scope_name="otelhttp"} 2
# TYPE http_server_active_requests gauge
http_server_active_requests{http_request_method="GET"} 3
`,
		route: "/users/{id}", method: "GET", requests: 12, errors: 2, latency: true, inFlight: 3,
	},
	{
		name: "spring",
		page: `# TYPE http_server_requests_seconds summary
http_server_requests_seconds_count{exception="None",method="GET",outcome="SUCCESS",status="200",uri="/api/orders",} 40.0
http_server_requests_seconds_sum{exception="None",method="GET",outcome="SUCCESS",status="200",uri="/api/orders",} 2.0
http_server_requests_seconds_count{exception="IllegalStateException",method="GET",outcome="SERVER_ERROR",status="500",uri="/api/orders",} 10.0
http_server_requests_seconds_sum{exception="IllegalStateException",method="GET",outcome="SERVER_ERROR",status="500",uri="/api/orders",} 1.0
`,
		route: "/api/orders", method: "GET", requests: 50, errors: 10,
	},
	{
		name: "fastapi-instrumentator",
		page: `# TYPE http_requests_total counter
http_requests_total{handler="/items/{item_id}",method="GET",status="2xx"} 90.0
http_requests_total{handler="/items/{item_id}",method="GET",status="5xx"} 10.0
# TYPE http_request_duration_seconds histogram
http_request_duration_seconds_bucket{handler="/items/{item_id}",le="0.1",method="GET"} 80.0
http_request_duration_seconds_bucket{handler="/items/{item_id}",le="0.5",method="GET"} 95.0
http_request_duration_seconds_bucket{handler="/items/{item_id}",le="1.0",method="GET"} 100.0
http_request_duration_seconds_bucket{handler="/items/{item_id}",le="+Inf",method="GET"} 100.0
http_request_duration_seconds_count{handler="/items/{item_id}",method="GET"} 100.0
http_request_duration_seconds_sum{handler="/items/{item_id}",method="GET"} 9.5
# TYPE http_request_duration_highr_seconds histogram
http_request_duration_highr_seconds_bucket{le="0.01"} 10.0
http_request_duration_highr_seconds_bucket{le="+Inf"} 100.0
http_request_duration_highr_seconds_count 100.0
http_request_duration_highr_seconds_sum 9.5
# TYPE http_requests_inprogress gauge
http_requests_inprogress{handler="/items/{item_id}",method="GET"} 2.0
`,
		route: "/items/{item_id}", method: "GET", requests: 100, errors: 10, latency: true, inFlight: 2,
	},
	{
		name: "starlette_exporter",
		page: `# TYPE starlette_requests_total counter
starlette_requests_total{app_name="starlette",method="POST",path="/orders",status_code="201"} 7.0
starlette_requests_total{app_name="starlette",method="POST",path="/orders",status_code="500"} 1.0
# TYPE starlette_request_duration_seconds histogram
starlette_request_duration_seconds_bucket{app_name="starlette",le="0.1",method="POST",path="/orders",status_code="201"} 7.0
starlette_request_duration_seconds_bucket{app_name="starlette",le="+Inf",method="POST",path="/orders",status_code="201"} 7.0
starlette_request_duration_seconds_count{app_name="starlette",method="POST",path="/orders",status_code="201"} 7.0
starlette_request_duration_seconds_sum{app_name="starlette",method="POST",path="/orders",status_code="201"} 0.2
# TYPE starlette_requests_in_progress gauge
starlette_requests_in_progress{app_name="starlette",method="POST"} 1.0
`,
		route: "/orders", method: "POST", requests: 8, errors: 1, latency: true, inFlight: 1,
	},
}

func TestInstrumentorLayouts(t *testing.T) {
	for _, l := range layouts {
		t.Run(l.name, func(t *testing.T) {
			fams, err := Parse(strings.NewReader(l.page))
			if err != nil {
				t.Fatal(err)
			}
			s := NewSnapshot(time.Now(), fams, DefaultNames())
			if len(s.Routes) != 1 {
				t.Fatalf("routes = %+v", s.Routes)
			}
			r := s.Routes[0]
			if r.Route != l.route || r.Method != l.method || r.Requests != l.requests || r.Errors != l.errors {
				t.Errorf("route = %+v", r)
			}
			if r.Latency == nil {
				t.Fatal("no latency")
			}
			if _, ok := r.Latency.Quantile(0.5); ok != l.latency {
				t.Errorf("percentiles: %v, want %v", ok, l.latency)
			}
			if got, ok := s.InFlightTotal(); got != l.inFlight || ok != (l.inFlight != 0) {
				t.Errorf("in flight = %v %v", got, ok)
			}
		})
	}
}

// TestServiceLatency: prometheus-fastapi-instrumentator's fine histogram
// without a route label is every request's latency beside the per-route
// one (on the FastAPI target's capture: every route, /metrics and the
// unknown paths counted), over a window by its delta; alone on a page it
// is the service's only route, as before.
func TestServiceLatency(t *testing.T) {
	snap := func(t *testing.T, page string, at time.Time) *Snapshot {
		t.Helper()
		fams, err := Parse(strings.NewReader(page))
		if err != nil {
			t.Fatal(err)
		}
		return NewSnapshot(at, fams, DefaultNames())
	}
	capture := snap(t, string(readCapture(t, "fastapi.txt")), time.Now())
	if l := capture.Latency; l == nil || l.Count != 282 || len(l.Buckets) < 10 {
		t.Fatalf("the capture's service latency: %+v", l)
	}
	if len(capture.Routes) != 8 {
		t.Errorf("the capture's routes: %d, want 8", len(capture.Routes))
	}
	if l := snap(t, string(readCapture(t, "express.txt")), time.Now()).Latency; l != nil {
		t.Errorf("service latency on a page without an unlabelled histogram: %+v", l)
	}

	page := func(fast, slow float64) string {
		return fmt.Sprintf(`# TYPE http_requests_total counter
http_requests_total{handler="/items/{item_id}",method="GET",status="2xx"} %[3]g
# TYPE http_request_duration_seconds histogram
http_request_duration_seconds_bucket{handler="/items/{item_id}",le="0.1",method="GET"} %[3]g
http_request_duration_seconds_bucket{handler="/items/{item_id}",le="+Inf",method="GET"} %[3]g
http_request_duration_seconds_count{handler="/items/{item_id}",method="GET"} %[3]g
http_request_duration_seconds_sum{handler="/items/{item_id}",method="GET"} 1
# TYPE http_request_duration_highr_seconds histogram
http_request_duration_highr_seconds_bucket{le="0.01"} %[1]g
http_request_duration_highr_seconds_bucket{le="0.05"} %[3]g
http_request_duration_highr_seconds_bucket{le="+Inf"} %[3]g
http_request_duration_highr_seconds_count %[3]g
http_request_duration_highr_seconds_sum 1
`, fast, slow, fast+slow)
	}
	start := time.Now()
	w := Diff(snap(t, page(100, 0), start), snap(t, page(110, 90), start.Add(10*time.Second)))
	if !w.HasLatency || w.Latency.Count != 100 {
		t.Fatalf("window latency: %+v (has %v)", w.Latency, w.HasLatency)
	}
	// 10 of the window's 100 requests under 10 ms, 90 between 10 and 50.
	if p50 := w.Latency.P50 * 1000; p50 < 10 || p50 > 50 {
		t.Errorf("window p50 = %.1f ms, want between 10 and 50", p50)
	}

	alone := snap(t, `# TYPE http_request_duration_highr_seconds histogram
http_request_duration_highr_seconds_bucket{le="0.01"} 3
http_request_duration_highr_seconds_bucket{le="+Inf"} 4
http_request_duration_highr_seconds_count 4
http_request_duration_highr_seconds_sum 0.1
`, start)
	if alone.Latency != nil || len(alone.Routes) != 1 || alone.Routes[0].Requests != 4 {
		t.Errorf("an unlabelled histogram alone: latency %+v, routes %+v", alone.Latency, alone.Routes)
	}
}
