package rules

import (
	"fmt"
	"slices"
	"strings"

	"github.com/pgadvisor/advisor/internal/probe/metrics"
	"github.com/pgadvisor/advisor/internal/probe/postgres"
)

// serviceRules are the detectors of the rules about the service as a whole,
// whatever its language: where its requests wait.
var serviceRules = []Detector{serviceQueueing, serviceImbalance}

// serviceLanguage is the service's runtime as its metrics tell it
// (metrics.Language*), "" when unknown.
func serviceLanguage(in *Input) string {
	if in == nil || in.Window == nil || in.Window.Metrics == nil {
		return ""
	}
	if l := in.Window.Metrics.Runtime.Language; l != "" {
		return l
	}
	return in.split().Runtime
}

// singleThreaded reports whether a runtime runs its request code on one
// thread per process: CPython (the GIL) and Node (the event loop).
func singleThreaded(language string) bool {
	return language == metrics.LanguagePython || language == metrics.LanguageNode
}

// serviceDB is what pg_stat_activity shows of the service's sessions over
// the window: the clients of the probed database, and the busiest of them
// (by mean active sessions), taken as the service.
type serviceDB struct {
	clients []postgres.ClientActivity
	main    postgres.ClientActivity
	found   bool
	// active is the mean number of active sessions of every client of the
	// database: an upper bound on the service's.
	active float64
	// samples is the number of pg_stat_activity readings.
	samples int
}

// serviceDBOf summarises the window's activity samples for the probed
// database (every database when it is unknown).
func serviceDBOf(in *Input) serviceDB {
	var s serviceDB
	if in == nil || in.Window == nil {
		return s
	}
	db := ""
	if cur := dbCur(in); cur != nil {
		db = cur.Server.Database
	}
	s.samples = len(in.Window.Activity)
	for _, c := range in.activity() {
		if db != "" && !slices.Contains(c.Databases, db) {
			continue
		}
		s.clients = append(s.clients, c)
		a := c.State(postgres.StateActive).Mean
		s.active += a
		if !s.found || a > s.main.State(postgres.StateActive).Mean {
			s.main, s.found = c, true
		}
	}
	return s
}

// clientName names a client of the database in findings.
func clientName(c postgres.ClientActivity) string {
	name := c.Application
	if name == "" {
		name = "(no application_name)"
	}
	if c.ClientAddr != "" {
		name += " from " + c.ClientAddr
	}
	return name
}

// outboundConcurrency is the mean number of outbound calls in flight
// (calls per second x mean latency).
func outboundConcurrency(m *metrics.Window) float64 {
	if m == nil {
		return 0
	}
	var c float64
	for _, o := range m.Outbound {
		if o.HasLatency {
			c += o.PerSec * o.Latency.Mean
		}
	}
	return c
}

// topRoutes names the routes with the largest share of request time, at
// most n, as "GET /posts (45%)".
func topRoutes(ts *TimeSplit, n int) string {
	var parts []string
	for _, r := range ts.Routes {
		if len(parts) == n || r.Share < 0.05 {
			break
		}
		name := r.Route
		if r.Method != "" {
			name = r.Method + " " + name
		}
		parts = append(parts, fmt.Sprintf("%s (%.0f%%)", name, r.Share*100))
	}
	return strings.Join(parts, ", ")
}

// waitParts are the parts of a request's time spent waiting for something
// inside the service: neither CPU nor a datastore nor a call.
var waitParts = []string{PartOther, PartQueue, PartLock, PartDBPool}

// waitOf is the share of a span's time in the wait parts, and the
// milliseconds per request.
func waitOf(sp Span) (share, ms float64) {
	for _, name := range waitParts {
		share += sp.Part(name).Share
		ms += sp.Part(name).MSPerRequest
	}
	return share, ms
}
