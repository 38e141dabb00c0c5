package rules

import (
	"context"
	"slices"
)

// appBlockingKinds are the wait kinds app.blocking-io reports.
var appBlockingKinds = []WaitKind{WaitNetwork, WaitDisk, WaitSleep}

// appBlockingIO flags handlers whose goroutines wait on network I/O that
// is not the service's data stores, on files or on sleep, by call site.
// Classes of inline work are left to app.inline-work, and outbound HTTP to
// hosts of the same system to app.internal-hops when the metrics show that
// outbound calls go there.
var appBlockingIO = Def[appBlockingIOParams]{ID: "app.blocking-io", Check: checkAppBlockingIO, CountsDumps: alwaysDumps}

type appBlockingIOParams struct {
	MinShare    float64 `param:"min_share"`
	MinSamples  float64 `param:"min_samples"`
	SureSamples float64 `param:"sure_samples"`
}

func checkAppBlockingIO(_ context.Context, in *Input, p appBlockingIOParams) ([]Finding, error) {
	minShare, least, sure := p.MinShare, p.MinSamples, p.SureSamples
	v := in.app()
	hopsExplainHTTP := appOutboundMostlyInternal(in)
	var out []Finding
	for _, h := range v.sortedHandlers() {
		// Group the blocking samples by the service function that waits.
		type group struct {
			samples float64
			classes map[string]float64
			site    *appSiteStat
		}
		groups := map[string]*group{}
		for _, c := range h.classes {
			if c.class.InlineWork || !slices.Contains(appBlockingKinds, c.class.Kind) {
				continue
			}
			if hopsExplainHTTP && c.class.Class == "outbound-http" {
				continue
			}
			for _, s := range c.sites {
				if s.samples == 0 {
					continue
				}
				g := groups[s.site.Func]
				if g == nil {
					g = &group{classes: map[string]float64{}}
					groups[s.site.Func] = g
				}
				g.samples += s.samples
				g.classes[c.class.Class] += s.samples
				if g.site == nil || s.samples > g.site.samples {
					g.site = s
				}
			}
		}
		for fn, g := range groups {
			// The share the samples support (Wilson's lower bound, over a
			// floor of samples), not the share seen: a few dumps fire when
			// they are one-sided, a share near the bar needs more of them.
			share := g.samples / h.samples
			if !shareSupported(g.samples, h.samples, minShare, least) {
				continue
			}
			class := appTop(g.classes)
			ev := map[string]any{
				"handler":         h.name,
				"function":        fn,
				"wait_class":      class,
				"share":           appRound(share),
				"samples":         h.samples,
				"waiting_samples": g.samples,
				"dumps":           v.dumps,
			}
			if !g.site.api.IsZero() {
				ev["calls"] = g.site.api.Func
			}
			out = append(out, Finding{
				Subject:    h.name + " -> " + fn,
				Evidence:   ev,
				Location:   g.site.site.Location(),
				Impact:     g.samples / v.samples,
				Confidence: countConfidence(h.samples, sure, "samples"),
				Fix:        Fix{Code: appBlockingCode(class)},
			})
		}
	}
	return out, nil
}

func appBlockingCode(class string) string {
	switch class {
	case "sleep":
		return "// Retry with a bounded backoff outside the request, or not at all:\n" +
			"// a request should never sleep while a client waits."
	default:
		return "ctx, cancel := context.WithTimeout(r.Context(), 300*time.Millisecond)\n" +
			"defer cancel()\n" +
			"g, ctx := errgroup.WithContext(ctx) // independent calls run concurrently\n" +
			"g.Go(func() error { return callA(ctx) })\n" +
			"g.Go(func() error { return callB(ctx) })\n" +
			"err := g.Wait()"
	}
}

// appOutboundMostlyInternal reports whether the metrics count outbound HTTP
// calls and at least 90% of them go to hosts of the same system (the
// window's internal hosts, loopback and private addresses).
func appOutboundMostlyInternal(in *Input) bool {
	if in.Window == nil || in.Window.Metrics == nil {
		return false
	}
	hosts := appInternalHostsOf(in, nil)
	var all, internal float64
	for _, o := range in.Window.Metrics.Outbound {
		all += o.Calls
		if appInternalHost(o.Host, hosts) {
			internal += o.Calls
		}
	}
	return all > 0 && internal >= 0.9*all
}
