package rules

import (
	"context"
	"strings"

	"github.com/pgadvisor/advisor/internal/probe"
	"github.com/pgadvisor/advisor/internal/probe/pprof"
	"github.com/pgadvisor/advisor/internal/probe/source"
)

// probeEnable says how to make each source readable.
var probeEnable = map[string]string{
	probe.Pprof: `Import _ "net/http/pprof" in the service and serve it on an internal port; ` +
		"pass its base URL with --target or --pprof.",
	probe.Metrics: "Serve promhttp.Handler() (client_golang, with the Go and process collectors) " +
		"and pass --target or --metrics.",
	probe.Postgres: "Pass --pg DSN (or DATABASE_URL / PG*) for a role in pg_read_all_stats; add " +
		"pg_stat_statements to shared_preload_libraries, restart, and CREATE EXTENSION pg_stat_statements; " +
		"install hypopg for verified index suggestions.",
	probe.Redis: "Pass --redis ADDR or REDIS_URL for a user allowed INFO, SLOWLOG and CONFIG GET.",
}

// probeProfileEnable says how to turn on each optional profile.
var probeProfileEnable = map[pprof.Kind]string{
	pprof.KindCPU:   `Serve /debug/pprof/profile (import _ "net/http/pprof").`,
	pprof.KindBlock: "Call runtime.SetBlockProfileRate(10000) at start (about one event sampled per 10 µs blocked).",
	pprof.KindMutex: "Call runtime.SetMutexProfileFraction(10) at start (one contention event in 10 sampled).",
}

// probeUnavailable reports each source that was configured but could not
// be read, and each profile the application rules need that a readable
// pprof source did not give, with how to enable it. A source nobody
// configured, and Go's pprof on a service in another language ("not
// applicable"), are lines of the sources table, not findings.
var probeUnavailable = Def[struct{}]{ID: "probe.unavailable", Check: checkProbeUnavailable}

func checkProbeUnavailable(_ context.Context, in *Input, _ struct{}) ([]Finding, error) {
	w := in.Window
	if w == nil {
		return nil, nil
	}
	var out []Finding
	for _, name := range probe.SourceNames {
		st := w.Status(name)
		if st.Ok() || !probeExpected(st) {
			continue
		}
		out = append(out, probeFinding(name, st, probeEnable[name]))
	}
	if w.Status(probe.Pprof).Ok() && w.Profiles != nil {
		for _, pr := range []*pprof.ProfileResult{w.Profiles.CPU, w.Profiles.Block, w.Profiles.Mutex} {
			if pr == nil || pr.Status.Ok() || pr.Status.Detail == "not collected in this round" {
				continue
			}
			out = append(out, probeFinding(probe.Pprof+"/"+string(pr.Kind), pr.Status, probeProfileEnable[pr.Kind]))
		}
	}
	return out, nil
}

func probeFinding(name string, st source.Status, enable string) Finding {
	detail := source.Redact(st.Detail)
	if detail == "" {
		detail = "no detail given"
	}
	state := string(st.State)
	if state == "" {
		state = string(source.Unavailable)
	}
	return Finding{
		Subject:    name,
		Confidence: ConfidenceOf(1, "the source's own answer"),
		Evidence: map[string]any{
			"source": name,
			"status": state,
			"detail": detail,
			"enable": enable,
		},
	}
}

// probeExpected reports whether a source that is not ok was expected to be
// read: not when nobody configured it, nor when it does not apply to the
// service (pprof on a Python or Node service).
func probeExpected(st source.Status) bool {
	return !strings.HasPrefix(st.Detail, "not configured") && !strings.HasPrefix(st.Detail, "not applicable")
}
