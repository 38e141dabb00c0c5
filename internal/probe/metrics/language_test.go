package metrics

import (
	"strings"
	"testing"
	"time"
)

// capturePage is what a test expects of one captured /metrics page.
type capturePage struct {
	file                              string
	language, version, implementation string
	eventLoop                         bool
	// routes and their request counts (TestCaptureTargets sends 40 of
	// each); notFound is the route of a path no route matched.
	routes    map[string]float64
	notFound  string
	inFlight  bool
	startTime bool
}

var fastapiRoutes = map[string]float64{"/health": 41, "/posts": 40, "/users/{user_id}": 40,
	"/users/{user_id}/orders": 40, "/users/{user_id}/events": 40, "/users/{user_id}/token": 40}

var expressRoutes = map[string]float64{"/health": 41, "/posts": 40, "/users/:userId": 40,
	"/users/:userId/orders": 40, "/users/:userId/events": 40, "/users/:userId/token": 40}

var capturePages = []capturePage{
	{file: "client_golang.txt", language: LanguageGo, version: "1.26.8",
		routes: map[string]float64{"/orders": 40, "/feed": 40, "/users/{id}": 120}, inFlight: true, startTime: true},
	{file: "fastapi.txt", language: LanguagePython, version: "3.11.2", implementation: "CPython",
		routes: fastapiRoutes, notFound: "none", inFlight: true, startTime: true},
	{file: "fastapi_workers2.txt", language: LanguagePython, version: "3.11.2", implementation: "CPython",
		routes: fastapiRoutes, notFound: "none", inFlight: true, startTime: true},
	{file: "express.txt", language: LanguageNode, version: "20.20.2", eventLoop: true,
		routes: expressRoutes, notFound: "unmatched", startTime: true},
	// The cluster's AggregatorRegistry leaves process_start_time_seconds out.
	{file: "express_workers2.txt", language: LanguageNode, version: "20.20.2", eventLoop: true,
		routes: expressRoutes, notFound: "unmatched"},
}

// TestCapturesRuntime reads the captured pages of the Go metricstest
// service and of the reference targets (TestCaptureTargets): the runtime,
// Node's event loop, the routes, process CPU and the in-flight gauge.
func TestCapturesRuntime(t *testing.T) {
	for _, c := range capturePages {
		t.Run(c.file, func(t *testing.T) {
			fams, err := ParseBytes(readCapture(t, c.file))
			if err != nil {
				t.Fatal(err)
			}
			s := NewSnapshot(time.Now(), fams, DefaultNames())
			r := s.Runtime
			if r.Language != c.language || r.Version != c.version || r.Implementation != c.implementation {
				t.Errorf("runtime %q %q %q, want %q %q %q", r.Language, r.Version, r.Implementation, c.language, c.version, c.implementation)
			}
			if (r.EventLoop != nil) != c.eventLoop {
				t.Fatalf("event loop %+v, want one: %v", r.EventLoop, c.eventLoop)
			}
			if e := r.EventLoop; e != nil {
				if e.LagP99Seconds == nil || e.LagMeanSeconds == nil || e.LagMaxSeconds == nil || e.Utilisation == nil {
					t.Fatalf("event loop gauges missing: %+v", e)
				}
				p99, mean, lagMax, u := *e.LagP99Seconds, *e.LagMeanSeconds, *e.LagMaxSeconds, *e.Utilisation
				// perf_hooks' delay histogram starts at its 10 ms resolution.
				if mean < 0.005 || mean > p99 || p99 > lagMax || lagMax > 10 || u <= 0 || u > 1 {
					t.Errorf("event loop: lag mean %g p99 %g max %g, utilisation %g", mean, p99, lagMax, u)
				}
			}
			for route, want := range c.routes {
				got, ok := findRoute(s.Routes, route)
				if !ok {
					t.Errorf("route %s missing from %d routes", route, len(s.Routes))
					continue
				}
				if got.Requests != want || got.Errors != 0 || got.Method == "" || got.Latency == nil || got.Latency.Count != want {
					t.Errorf("route %s: %+v, want %v requests", route, got, want)
				}
				if _, ok := got.Latency.Quantile(0.95); !ok {
					t.Errorf("route %s: no percentiles", route)
				}
			}
			if c.notFound != "" {
				if got, ok := findRoute(s.Routes, c.notFound); !ok || got.Requests != 40 || got.Errors != 0 {
					t.Errorf("route of unknown paths %q: %+v", c.notFound, got)
				}
			}
			if _, ok := s.InFlightTotal(); ok != c.inFlight {
				t.Errorf("in-flight gauge: %v, want %v", ok, c.inFlight)
			}
			if s.Process.CPUSeconds == nil || *s.Process.CPUSeconds <= 0 {
				t.Errorf("process CPU %v", s.Process.CPUSeconds)
			}
			if (s.Process.StartTimeSeconds != nil) != c.startTime {
				t.Errorf("process start time %v, want one: %v", s.Process.StartTimeSeconds, c.startTime)
			}

			// The window carries the runtime and the latest event loop.
			w := Diff(nil, s)
			if w.Runtime.Language != c.language || w.Runtime.Version != c.version || w.Runtime.EventLoop != r.EventLoop {
				t.Errorf("window runtime %+v", w.Runtime)
			}
			if w.LengthKnown != c.startTime {
				t.Errorf("cumulative window: length known %v", w.LengthKnown)
			}
		})
	}
}

// TestRecogniseRuntime covers what the captures do not: jvm_info, pages
// without an info metric, and pages with two.
func TestRecogniseRuntime(t *testing.T) {
	for _, tc := range []struct {
		name, page                        string
		language, version, implementation string
	}{
		{"jvm", `# TYPE jvm_info gauge
jvm_info{runtime="OpenJDK Runtime Environment",vendor="Eclipse Adoptium",version="17.0.2+8",} 1.0
`, LanguageJVM, "17.0.2+8", "OpenJDK Runtime Environment"},
		{"micrometer without jvm_info", `# TYPE jvm_memory_used_bytes gauge
jvm_memory_used_bytes{area="heap",id="G1 Eden Space",} 1.2E7
`, LanguageJVM, "", ""},
		{"go without go_info", `# TYPE go_goroutines gauge
go_goroutines 12
`, LanguageGo, "", ""},
		{"python without python_info", `# TYPE python_gc_objects_collected_total counter
python_gc_objects_collected_total{generation="0"} 512.0
`, LanguagePython, "", ""},
		{"pypy with a version label only", `# TYPE python_info gauge
python_info{implementation="PyPy",version="3.10.14"} 1.0
`, LanguagePython, "3.10.14", "PyPy"},
		{"go devel", `# TYPE go_info gauge
go_info{version="devel go1.27-abcdef"} 1
`, LanguageGo, "devel go1.27-abcdef", ""},
		{"node and go_info: node", `# TYPE go_info gauge
go_info{version="go1.22.1"} 1
# TYPE nodejs_version_info gauge
nodejs_version_info{version="v22.3.0",major="22",minor="3",patch="0"} 1
`, LanguageNode, "22.3.0", ""},
		{"an info metric over another runtime's families", `# TYPE go_goroutines gauge
go_goroutines 12
# TYPE python_info gauge
python_info{implementation="CPython",major="3",minor="12",patchlevel="1",version="3.12.1"} 1.0
`, LanguagePython, "3.12.1", "CPython"},
		{"none", `# TYPE http_requests_total counter
http_requests_total{route="/"} 3
`, "", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fams, err := Parse(strings.NewReader(tc.page))
			if err != nil {
				t.Fatal(err)
			}
			r := NewSnapshot(time.Now(), fams, DefaultNames()).Runtime
			if r.Language != tc.language || r.Version != tc.version || r.Implementation != tc.implementation {
				t.Errorf("runtime %q %q %q, want %q %q %q", r.Language, r.Version, r.Implementation, tc.language, tc.version, tc.implementation)
			}
			if r.EventLoop != nil {
				t.Errorf("event loop %+v on a page without its gauges", r.EventLoop)
			}
		})
	}
}

// TestEventLoopWorstSeries: with a series per worker, the event loop is
// the worst one's, gauge by gauge; a page with only some gauges has those.
func TestEventLoopWorstSeries(t *testing.T) {
	fams, err := Parse(strings.NewReader(`# TYPE nodejs_eventloop_lag_p99_seconds gauge
nodejs_eventloop_lag_p99_seconds{worker="1"} 0.02
nodejs_eventloop_lag_p99_seconds{worker="2"} 0.35
# TYPE nodejs_eventloop_utilization gauge
nodejs_eventloop_utilization{worker="1"} 0.97
nodejs_eventloop_utilization{worker="2"} 0.4
`))
	if err != nil {
		t.Fatal(err)
	}
	e := eventLoopOf(fams)
	if e == nil || e.LagP99Seconds == nil || *e.LagP99Seconds != 0.35 || e.Utilisation == nil || *e.Utilisation != 0.97 ||
		e.LagMeanSeconds != nil || e.LagMaxSeconds != nil {
		t.Errorf("event loop %+v", e)
	}
}
