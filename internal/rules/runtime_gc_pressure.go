package rules

import (
	"context"
	"fmt"
	"math"
	"strconv"
)

// runtimeGCPressure flags a GC CPU share above max_gc_cpu_share, with GOGC
// and GOMEMLIMIT figures.
var runtimeGCPressure = Def[runtimeGCPressureParams]{ID: "runtime.gc-pressure", Check: checkRuntimeGCPressure}

type runtimeGCPressureParams struct {
	MaxGCCPUShare float64 `param:"max_gc_cpu_share"`
}

func checkRuntimeGCPressure(_ context.Context, in *Input, p runtimeGCPressureParams) ([]Finding, error) {
	w := in.Window
	if w == nil || w.Metrics == nil || w.Metrics.Runtime.GCCPUFraction == nil {
		return nil, nil
	}
	rt := w.Metrics.Runtime
	share := *rt.GCCPUFraction
	if share < p.MaxGCCPUShare {
		return nil, nil
	}
	gogc := 100.0
	if rt.GOGC != nil {
		gogc = *rt.GOGC
	}
	ev := map[string]any{
		"gc_cpu_share": appRound(share),
		"gogc_percent": gogc,
	}
	if rt.GOGC == nil {
		ev["gogc_note"] = "not exported; Go's default assumed"
	}
	if w.Metrics.Seconds > 0 {
		ev["gc_cycles_per_s"] = appRound(rt.GCRuns / w.Metrics.Seconds)
	}
	var heap float64
	if rt.HeapAllocBytes != nil {
		heap = *rt.HeapAllocBytes
		ev["heap_live_bytes"] = heap
	}
	if rt.GOMEMLIMIT != nil {
		ev["gomemlimit_bytes"] = *rt.GOMEMLIMIT
	}
	cfg := map[string]string{}
	if gogc > 0 {
		cfg["GOGC"] = strconv.Itoa(int(math.Max(200, 2*gogc)))
	}
	if heap > 0 {
		// A limit with room for 4x the live heap; below the container's
		// memory (about 90% of it) is the real bound.
		mib := math.Ceil(4 * heap / (1 << 20))
		cfg["GOMEMLIMIT"] = fmt.Sprintf("%.0fMiB (at least 4x the heap; about 90%% of the container's memory)", mib)
	}
	return []Finding{{Subject: "garbage collector", Evidence: ev, Impact: share, Fix: Fix{Config: cfg}}}, nil
}
