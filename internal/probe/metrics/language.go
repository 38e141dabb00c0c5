// The service's runtime, recognised from its metrics, and Node's event
// loop.

package metrics

import (
	"strings"
)

// Languages of a service's runtime, as Runtime.Language names them.
const (
	LanguageGo     = "go"
	LanguagePython = "python"
	LanguageNode   = "node"
	LanguageJVM    = "jvm"
)

// runtimeInfo is how one runtime's client library says which runtime it
// runs on: an info metric (a constant 1 whose labels carry the version)
// and, for pages without it, families only that runtime's library exports.
type runtimeInfo struct {
	language string
	info     string
	hints    []string
	// version reads the version from the info metric's labels.
	version func(labels map[string]string) string
	// implementation reads the implementation from them, if any.
	implementation func(labels map[string]string) string
}

// runtimeInfos are the runtimes recognised, in the order they are tried:
// another runtime's info metric wins over go_info, which a Go exporter or
// proxy in front of the service may add to its page.
var runtimeInfos = []runtimeInfo{
	{ // prometheus_client (Python): PlatformCollector
		language: LanguagePython, info: "python_info",
		hints: []string{"python_gc_objects_collected_total", "python_gc_collections_total"},
		version: func(l map[string]string) string {
			if l["major"] != "" && l["minor"] != "" {
				v := l["major"] + "." + l["minor"]
				if l["patchlevel"] != "" {
					v += "." + l["patchlevel"]
				}
				return v
			}
			return l["version"]
		},
		implementation: func(l map[string]string) string { return l["implementation"] },
	},
	{ // prom-client (Node): collectDefaultMetrics
		language: LanguageNode, info: "nodejs_version_info",
		hints: []string{"nodejs_eventloop_lag_seconds", "nodejs_heap_size_total_bytes"},
		version: func(l map[string]string) string {
			return strings.TrimPrefix(l["version"], "v")
		},
	},
	{ // simpleclient_hotspot and Micrometer (JVM)
		language: LanguageJVM, info: "jvm_info",
		hints:          []string{"jvm_memory_bytes_used", "jvm_memory_used_bytes"},
		version:        func(l map[string]string) string { return l["version"] },
		implementation: func(l map[string]string) string { return l["runtime"] },
	},
	{ // client_golang (Go): the Go collector
		language: LanguageGo, info: "go_info",
		hints: []string{"go_goroutines", "go_memstats_alloc_bytes"},
		version: func(l map[string]string) string {
			return strings.TrimPrefix(l["version"], "go")
		},
	},
}

// recogniseRuntime sets r's language, version and implementation from the
// families: the first runtime whose info metric is there, else the first
// whose other families are (without a version).
func recogniseRuntime(r *Runtime, f Families) {
	for _, ri := range runtimeInfos {
		series := f.Series(ri.info)
		if len(series) == 0 {
			continue
		}
		r.Language = ri.language
		r.Version = ri.version(series[0].Labels)
		if ri.implementation != nil {
			r.Implementation = ri.implementation(series[0].Labels)
		}
		return
	}
	for _, ri := range runtimeInfos {
		for _, h := range ri.hints {
			if _, ok := f[h]; ok {
				r.Language = ri.language
				return
			}
		}
	}
}

// EventLoop is Node's event loop as prom-client's default metrics show it.
// prom-client measures the lag with perf_hooks' event loop delay histogram,
// which it resets at each collection: the lags cover the time since the
// previous scrape of the service, by advisor or anything else, and behind
// a cluster's AggregatorRegistry they are the mean over the workers.
// Values in seconds; nil fields are not exposed.
type EventLoop struct {
	// LagP99Seconds, LagMeanSeconds and LagMaxSeconds are
	// nodejs_eventloop_lag_{p99,mean,max}_seconds: how late timers ran,
	// the time a callback waited for the loop.
	LagP99Seconds  *float64 `json:"lag_p99_seconds,omitempty"`
	LagMeanSeconds *float64 `json:"lag_mean_seconds,omitempty"`
	LagMaxSeconds  *float64 `json:"lag_max_seconds,omitempty"`
	// Utilisation is nodejs_eventloop_utilization (0..1), the share of
	// time the loop was busy, where the service exports it (prom-client
	// 15 does not; some services add it, over the time since their
	// previous scrape).
	Utilisation *float64 `json:"utilization,omitempty"`
}

// eventLoopOf reads the event loop gauges; nil when none is exposed. A
// gauge with several series (labelled workers) gives its highest value:
// the worst loop.
func eventLoopOf(f Families) *EventLoop {
	e := EventLoop{
		LagP99Seconds:  maxValue(f, "nodejs_eventloop_lag_p99_seconds"),
		LagMeanSeconds: maxValue(f, "nodejs_eventloop_lag_mean_seconds"),
		LagMaxSeconds:  maxValue(f, "nodejs_eventloop_lag_max_seconds"),
		Utilisation:    maxValue(f, "nodejs_eventloop_utilization"),
	}
	if e == (EventLoop{}) {
		return nil
	}
	return &e
}

// maxValue is the highest sample of a family; nil when it has none.
func maxValue(f Families, name string) *float64 {
	var out *float64
	for _, s := range f.Series(name) {
		if out == nil || s.Value > *out {
			v := s.Value
			out = &v
		}
	}
	return out
}
