package rules

import (
	"cmp"
	"context"
	"slices"
	"strings"

	"github.com/pgadvisor/advisor/internal/probe/pprof"
)

// appInlineWork flags work of inline_work classes (e-mail, PDF, images,
// hashing, webhooks) inside handlers: share of the handler's wall time
// (goroutine samples) and CPU time (CPU profile), the classes of a handler
// counted together, one finding per handler.
var appInlineWork = Def[appInlineWorkParams]{ID: "app.inline-work", Check: checkAppInlineWork, CountsDumps: alwaysDumps}

type appInlineWorkParams struct {
	MinShare    float64 `param:"min_share"`
	MinSamples  float64 `param:"min_samples"`
	SureSamples float64 `param:"sure_samples"`
}

func checkAppInlineWork(_ context.Context, in *Input, p appInlineWorkParams) ([]Finding, error) {
	minShare, least, sure := p.MinShare, p.MinSamples, p.SureSamples
	v := in.app()
	var out []Finding
	for _, h := range v.sortedHandlers() {
		// The handler's inline work, every class together: the fix is the
		// same (a background job), and a class seen in a few samples comes
		// and goes with the dumps while the handler's follow-up work does
		// not.
		var classes []*appClassStat
		var samples, cpu, cpuSamples float64
		for _, c := range h.classes {
			if !c.class.InlineWork {
				continue
			}
			classes = append(classes, c)
			samples += c.samples
			cpu += c.cpu
			cpuSamples += c.cpuSamples
		}
		if len(classes) == 0 {
			continue
		}
		var wall, cpuShare float64
		if h.samples > 0 {
			wall = samples / h.samples
		}
		if h.cpu > 0 {
			cpuShare = cpu / h.cpu
		}
		// The shares the samples support, over a floor of samples of the
		// work (shareSupported): one request caught in one dump is not yet
		// a finding that will stay.
		byWall := shareSupported(samples, h.samples, minShare, least)
		byCPU := shareSupported(cpuSamples, h.cpuSamples, minShare, least)
		if !byWall && !byCPU {
			continue
		}
		slices.SortFunc(classes, func(a, b *appClassStat) int {
			if c := cmp.Compare(b.samples, a.samples); c != 0 {
				return c
			}
			if c := cmp.Compare(b.cpu, a.cpu); c != 0 {
				return c
			}
			return cmp.Compare(a.class.Class, b.class.Class)
		})
		names := make([]string, len(classes))
		funcs := make([]string, len(classes))
		for i, c := range classes {
			names[i] = c.class.Class
			funcs[i] = c.topSite().site.Func
		}
		top := classes[0]
		if !byWall {
			// Found by the CPU profile: the class with the most CPU first.
			top = slices.MaxFunc(classes, func(a, b *appClassStat) int { return cmp.Compare(a.cpu, b.cpu) })
		}
		site := top.topSite()
		ev := map[string]any{
			"handler":          h.name,
			"work_class":       strings.Join(names, ", "),
			"work_classes":     names,
			"functions":        strings.Join(slices.Compact(slices.Clone(funcs)), ", "),
			"description":      top.class.Description,
			"function":         site.site.Func,
			"share_wall":       appRound(wall),
			"share_cpu":        appRound(cpuShare),
			"samples":          h.samples,
			"work_samples":     samples,
			"cpu_samples":      h.cpuSamples,
			"work_cpu_samples": cpuSamples,
		}
		if !site.api.IsZero() {
			ev["calls"] = site.api.Func
		}
		if v.cpu > 0 {
			// The work's share of the process's whole CPU profile: the
			// CPU the requests' path no longer spends once it is queued.
			ev["process_cpu_share"] = appRound(cpu / v.cpu)
		}
		impact := 0.0
		if v.samples > 0 {
			impact = samples / v.samples
		}
		if v.cpu > 0 {
			impact = max(impact, cpu/v.cpu)
		}
		n := h.samples
		if byCPU && !byWall {
			n = h.cpuSamples
		}
		out = append(out, Finding{
			Confidence: countConfidence(n, sure, "samples"),
			// One subject per handler, whatever classes the window saw.
			Subject:  h.name + " -> inline work",
			Evidence: ev,
			Location: site.site.Location(),
			Impact:   impact,
			Fix: Fix{Code: "// in the handler: persist the order and enqueue the follow-up work\n" +
				"_, err = riverClient.InsertTx(ctx, tx, FollowUpArgs{OrderID: id}, nil)\n" +
				"// commit, then reply at once\n" +
				"w.WriteHeader(http.StatusCreated) // or 202 Accepted with a status URL\n" +
				"// a river worker (or asynq handler) calls " + appFuncShort(site.site.Func) + " with retries"},
		})
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
