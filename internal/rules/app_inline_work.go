package rules

import (
	"context"
	"slices"
	"strings"

	"github.com/pgadvisor/advisor/internal/probe/pprof"
)

// appInlineWork flags work of inline_work classes (e-mail, PDF, images,
// hashing, webhooks) inside handlers: share of the handler's wall time
// (goroutine samples) and CPU time (CPU profile).
var appInlineWork = Def[appInlineWorkParams]{ID: "app.inline-work", Check: checkAppInlineWork}

type appInlineWorkParams struct {
	MinShare    float64 `param:"min_share"`
	SureSamples float64 `param:"sure_samples"`
}

func checkAppInlineWork(_ context.Context, in *Input, p appInlineWorkParams) ([]Finding, error) {
	minShare, sure := p.MinShare, p.SureSamples
	v := in.app()
	var out []Finding
	for _, h := range v.sortedHandlers() {
		names := make([]string, 0, len(h.classes))
		for name := range h.classes {
			names = append(names, name)
		}
		slices.Sort(names)
		for _, name := range names {
			c := h.classes[name]
			if !c.class.InlineWork {
				continue
			}
			var wall, cpu float64
			if h.samples > 0 {
				wall = c.samples / h.samples
			}
			if h.cpu > 0 {
				cpu = c.cpu / h.cpu
			}
			// The shares the samples support (Wilson's lower bound): a few
			// one-sided samples suffice, a share near the bar needs more.
			byWall := wilsonLower(c.samples, h.samples) >= minShare
			byCPU := wilsonLower(cpu*h.cpuSamples, h.cpuSamples) >= minShare
			if !byWall && !byCPU {
				continue
			}
			site := c.topSite()
			ev := map[string]any{
				"handler":     h.name,
				"work_class":  c.class.Class,
				"description": c.class.Description,
				"function":    site.site.Func,
				"share_wall":  appRound(wall),
				"share_cpu":   appRound(cpu),
				"samples":     h.samples,
				"cpu_samples": h.cpuSamples,
			}
			if !site.api.IsZero() {
				ev["calls"] = site.api.Func
			}
			impact := 0.0
			if v.samples > 0 {
				impact = c.samples / v.samples
			}
			if v.cpu > 0 {
				impact = max(impact, c.cpu/v.cpu)
			}
			n := h.samples
			if byCPU && !byWall {
				n = h.cpuSamples
			}
			out = append(out, Finding{
				Confidence: countConfidence(n, sure, "samples"),
				Subject:    h.name + " -> " + c.class.Class,
				Evidence:   ev,
				Location:   site.site.Location(),
				Impact:     impact,
				Fix: Fix{Code: "// in the handler: persist the order and enqueue the follow-up work\n" +
					"_, err = riverClient.InsertTx(ctx, tx, FollowUpArgs{OrderID: id}, nil)\n" +
					"// commit, then reply at once\n" +
					"w.WriteHeader(http.StatusCreated) // or 202 Accepted with a status URL\n" +
					"// a river worker (or asynq handler) calls " + appFuncShort(site.site.Func) + " with retries"},
			})
		}
	}
	return out, nil
}

// appFuncShort drops the import path of a function name:
// "github.com/x/y/pkg.(*T).m" -> "pkg.(*T).m".
func appFuncShort(name string) string {
	pkg := pprof.FuncPackage(name)
	if i := strings.LastIndexByte(pkg, '/'); i >= 0 {
		return name[i+1:]
	}
	return name
}
