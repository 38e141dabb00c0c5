package rules

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/pgadvisor/advisor/internal/probe"
	"github.com/pgadvisor/advisor/internal/probe/metrics"
	"github.com/pgadvisor/advisor/internal/probe/pprof"
)

// appInternalHops flags calls over HTTP to hosts of the same system, about
// one or more per inbound request counted over every internal host, from
// the client metrics the service exports; the calling function comes from
// the goroutine dumps.
var appInternalHops = Def[appInternalHopsParams]{ID: "app.internal-hops", Check: checkAppInternalHops}

type appInternalHopsParams struct {
	MinHopsPerRequest float64  `param:"min_hops_per_request"`
	MinLatencyShare   float64  `param:"min_latency_share"`
	InternalHosts     []string `param:"internal_hosts"`
}

func checkAppInternalHops(_ context.Context, in *Input, p appInternalHopsParams) ([]Finding, error) {
	w := in.Window
	if w == nil || w.Metrics == nil || len(w.Metrics.Outbound) == 0 {
		return nil, nil
	}
	minHops, minLatency := p.MinHopsPerRequest, p.MinLatencyShare
	m := w.Metrics
	hosts := appInternalHostsOf(in, p.InternalHosts)
	var internal []metrics.OutboundRate
	for _, o := range m.Outbound {
		if appInternalHost(o.Host, hosts) {
			internal = append(internal, o)
		}
	}
	if len(internal) == 0 {
		return nil, nil
	}
	internal = appMergeFleetHops(w, internal)
	entry := appEntryRoutes(m, internal)
	var inbound, inboundBusy, routed float64
	latencyKnown := true
	for _, rt := range m.Routes {
		routed += rt.Requests
	}
	for _, rt := range entry {
		inbound += rt.Requests
		if rt.HasLatency && rt.Latency.Count > 0 {
			inboundBusy += rt.Latency.Mean * rt.Requests
		} else if rt.Requests > 0 {
			latencyKnown = false
		}
	}
	if inbound <= 0 {
		return nil, nil
	}
	// The calling function: outbound HTTP waits in the dumps.
	v := in.app()
	callers := map[string]float64{}
	handlers := map[string]float64{}
	sites := map[string]pprof.Frame{}
	for _, h := range v.handlers {
		for _, c := range h.classes {
			if c.class.Class != "outbound-http" {
				continue
			}
			for _, s := range c.sites {
				callers[s.site.Func] += s.samples + s.cpu/1e7
				handlers[h.name] += s.samples
				sites[s.site.Func] = s.site
			}
		}
	}
	caller := appTop(callers)
	// The endpoint when one handler makes most of the calls; the client
	// metrics do not say which endpoints call a host.
	endpoint := "the service"
	var all float64
	for _, n := range handlers {
		all += n
	}
	if top := appTop(handlers); top != "" && handlers[top] >= 0.8*all {
		endpoint = top
	}
	// The hops of every internal host count together: a request that calls
	// two services of the system 0.4 times each makes 0.8 hops, and which
	// route (so which host) a short window's requests went to varies. The
	// finding names each host, the busiest first.
	slices.SortStableFunc(internal, func(a, b metrics.OutboundRate) int {
		if c := cmp.Compare(b.Calls, a.Calls); c != 0 {
			return c
		}
		return cmp.Compare(a.Host, b.Host)
	})
	var calls, busy float64
	hostsLatency := true
	var named, perHost []string
	for _, o := range internal {
		if o.Calls <= 0 {
			continue
		}
		calls += o.Calls
		if o.HasLatency {
			busy += o.Latency.Mean * o.Calls
		} else {
			hostsLatency = false
		}
		named = append(named, o.Host)
		perHost = append(perHost, fmt.Sprintf("%s %s/request", o.Host, strconv.FormatFloat(appRound(o.Calls/inbound), 'f', -1, 64)))
	}
	hops := calls / inbound
	if hops < minHops || len(named) == 0 {
		return nil, nil
	}
	share := -1.0
	if hostsLatency && latencyKnown && inboundBusy > 0 {
		share = math.Min(busy/inboundBusy, 1)
		if share < minLatency {
			return nil, nil
		}
	}
	host := appJoinAnd(named)
	ev := map[string]any{
		"endpoint":         endpoint,
		"host":             host,
		"hosts":            len(named),
		"hops_by_host":     strings.Join(perHost, ", "),
		"hops_per_request": appRound(hops),
		"latency_share":    appRound(share),
		"outbound_per_s":   appRound(calls / math.Max(m.Seconds, 1e-9)),
		"inbound_per_s":    appRound(inbound / math.Max(m.Seconds, 1e-9)),
		// The requests this process serves as the hops' callee: each
		// hop is then a request of its own on this host.
		"served_here_per_s": appRound(math.Max(0, routed-inbound) / math.Max(m.Seconds, 1e-9)),
		"function":          caller,
	}
	if hostsLatency {
		ev["hop_mean_ms"] = appRound(busy / calls * 1000)
	}
	if caller == "" {
		ev["function"] = "unknown (no goroutine dumps with outbound calls)"
	}
	f := Finding{
		// One subject whatever the hosts: the finding is the service's
		// hops, and stays one finding while the mix of hosts moves.
		Subject:  "internal HTTP hops",
		Evidence: ev,
		Impact:   math.Max(share, 0),
		Fix: Fix{Code: fmt.Sprintf("// instead of an HTTP round trip to %s on every request:\n", host) +
			"p, err := usersService.Profile(ctx, id) // the same code, called in-process"},
	}
	if caller != "" {
		f.Location = sites[caller].Location()
	}
	return []Finding{f}, nil
}

// appJoinAnd joins names as "a", "a and b", "a, b and c".
func appJoinAnd(names []string) string {
	switch len(names) {
	case 0:
		return ""
	case 1:
		return names[0]
	}
	return strings.Join(names[:len(names)-1], ", ") + " and " + names[len(names)-1]
}

// appEntryRoutes returns the routes that serve requests from outside:
// every route except those that answer the service's own internal calls
// (the callee of a hop served by the same process shows as a route whose
// request count matches the calls to an internal host, and whose latency is
// below what the caller measured).
func appEntryRoutes(m *metrics.Window, internal []metrics.OutboundRate) []metrics.RouteRate {
	used := make([]bool, len(m.Routes))
	for _, o := range internal {
		if o.Calls <= 0 {
			continue
		}
		for i, rt := range m.Routes {
			if used[i] || math.Abs(rt.Requests-o.Calls) > 0.05*o.Calls+2 {
				continue
			}
			// The callee answers faster than the caller's round trip; the
			// caller's own route, which includes the hop, is slower.
			if !o.HasLatency || !rt.HasLatency || rt.Latency.Count == 0 || rt.Latency.Mean >= o.Latency.Mean {
				continue
			}
			used[i] = true
			break
		}
	}
	var out []metrics.RouteRate
	for i, rt := range m.Routes {
		if !used[i] {
			out = append(out, rt)
		}
	}
	return out
}

// appMergeFleetHops merges, for a fleet read through Prometheus, the calls
// to the fleet's own instances into one: each instance calling itself (or
// its peers) by address shows as a host of its own in the summed metrics,
// each with a fraction of the hops.
func appMergeFleetHops(w *probe.Window, internal []metrics.OutboundRate) []metrics.OutboundRate {
	if w.Fleet == nil {
		return internal
	}
	var own metrics.OutboundRate
	var rest []metrics.OutboundRate
	var n int
	var latencySum float64
	own.HasLatency, own.HasInboundRequests = true, true
	for _, o := range internal {
		if _, ok := w.Fleet.Find(o.Host); !ok {
			rest = append(rest, o)
			continue
		}
		n++
		own.Calls += o.Calls
		own.PerSec += o.PerSec
		own.Errors += o.Errors
		own.PerInboundRequest += o.PerInboundRequest
		own.Latency.Count += o.Latency.Count
		latencySum += o.Latency.Mean * o.Latency.Count
		own.HasLatency = own.HasLatency && o.HasLatency
		own.HasInboundRequests = own.HasInboundRequests && o.HasInboundRequests
	}
	if n < 2 {
		return internal
	}
	if own.Latency.Count > 0 {
		own.Latency.Mean = latencySum / own.Latency.Count
	}
	own.Host = "the fleet's own instances"
	return append(rest, own)
}
