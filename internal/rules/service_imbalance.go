package rules

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/pgadvisor/advisor/internal/probe/fleet"
)

// serviceImbalance flags an instance of a fleet (read through Prometheus)
// that serves a far larger share of the requests than the others, or
// answers far slower, naming it with its figures and the likely causes.
var serviceImbalance = Def[serviceImbalanceParams]{ID: "service.imbalance", Check: checkServiceImbalance}

type serviceImbalanceParams struct {
	MinRatio         float64 `param:"min_ratio"`
	MinRequestsPerS  float64 `param:"min_requests_per_s"`
	MinP95MS         float64 `param:"min_p95_ms"`
	MinOtherInstance int     `param:"min_other_instances"`
}

func checkServiceImbalance(_ context.Context, in *Input, p serviceImbalanceParams) ([]Finding, error) {
	w := in.Window
	if w == nil || w.Fleet == nil {
		return nil, nil
	}
	var live []fleet.Instance
	for _, i := range w.Fleet.Instances {
		if !i.Gone && i.Up {
			live = append(live, i)
		}
	}
	if len(live)-1 < p.MinOtherInstance {
		return nil, nil
	}
	versions := map[string]int{}
	for _, i := range live {
		versions[i.Version]++
	}
	var out []Finding
	for k, inst := range live {
		others := slices.Delete(slices.Clone(live), k, k+1)
		var rates, p95s []float64
		for _, o := range others {
			rates = append(rates, o.RPS)
			if o.HasP95 {
				p95s = append(p95s, o.P95Seconds)
			}
		}
		medRate := median(rates)
		rateRatio := ratio(inst.RPS, medRate)
		busy := inst.RPS >= p.MinRequestsPerS && rateRatio >= p.MinRatio
		var medP95, p95Ratio float64
		slow := false
		if inst.HasP95 && len(p95s) > 0 {
			medP95 = median(p95s)
			p95Ratio = ratio(inst.P95Seconds, medP95)
			slow = inst.P95Seconds*1000 >= p.MinP95MS && p95Ratio >= p.MinRatio && inst.RPS > 0
		}
		if !busy && !slow {
			continue
		}
		kind := "rate"
		switch {
		case busy && slow:
			kind = "rate and latency"
		case slow:
			kind = "latency"
		}
		var otherVersions []string
		for v := range versions {
			if v != inst.Version && v != "" {
				otherVersions = append(otherVersions, v)
			}
		}
		slices.Sort(otherVersions)
		var causes []string
		if inst.Version != "" && versions[inst.Version] == 1 && len(otherVersions) > 0 {
			causes = append(causes, fmt.Sprintf("a different version (%s, the others run %s)", inst.Version, strings.Join(otherVersions, ", ")))
		}
		if busy {
			causes = append(causes, "sticky sessions or session affinity", "uneven load balancer weights (or a client pinned to it by keep-alive)")
		}
		if slow {
			if busy {
				causes = append(causes, "its larger share of the load")
			}
			causes = append(causes, "a noisy neighbour on its node (CPU steal, throttling)")
		}
		ev := map[string]any{
			"instance":              inst.Name,
			"kind":                  kind,
			"instances":             len(live),
			"requests_per_s":        dbRound(inst.RPS, 2),
			"median_requests_per_s": dbRound(medRate, 2),
			"rate_ratio":            dbRound(rateRatio, 2),
			"p95_ms":                dbRound(inst.P95Seconds*1000, 1),
			"median_p95_ms":         dbRound(medP95*1000, 1),
			"p95_ratio":             dbRound(p95Ratio, 2),
			"cpu_cores":             dbRound(inst.CPUCores, 2),
			"version":               inst.Version,
			"other_versions":        strings.Join(otherVersions, ", "),
			"causes":                strings.Join(causes, "; "),
			"range_s":               w.Fleet.Range.Seconds(),
		}
		share := 0.0
		var total float64
		for _, i := range live {
			total += i.RPS
		}
		if total > 0 {
			share = inst.RPS / total
		}
		ev["request_share"] = dbRound(share, 3)
		out = append(out, Finding{Subject: "instance " + inst.Name, Evidence: ev, Impact: share})
	}
	return out, nil
}

// median of values (0 for none).
func median(values []float64) float64 {
	if len(values) == 0 {
		return 0
	}
	s := slices.Clone(values)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// ratio is a/b, with a large number for b 0 and a positive.
func ratio(a, b float64) float64 {
	switch {
	case b > 0:
		return a / b
	case a > 0:
		return 1e9
	}
	return 0
}
