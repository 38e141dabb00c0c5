// What advisor can tell of the service's host and runtime beyond its
// sources: the CPUs the host offers when it is this machine, and the pprof
// source of a service that is not written in Go.

package probe

import (
	"net"
	"net/url"
	"runtime"
	"strings"

	"github.com/pgadvisor/advisor/internal/config"
	"github.com/pgadvisor/advisor/internal/probe/metrics"
	"github.com/pgadvisor/advisor/internal/probe/source"
)

// localServiceCPUs is the number of CPUs of this machine when the service's
// metrics (or its target) are served on loopback, so that the service runs
// here; 0 when its host is another machine or unknown.
func localServiceCPUs(src config.Sources) int {
	u, err := url.Parse(src.MetricsURL())
	if err != nil || u.Hostname() == "" {
		return 0
	}
	host := u.Hostname()
	if strings.EqualFold(host, "localhost") {
		return runtime.NumCPU()
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return runtime.NumCPU()
	}
	return 0
}

// deeperEvidence says, per runtime, what gives a service's stacks when Go's
// pprof does not apply.
var deeperEvidence = map[string]string{
	metrics.LanguagePython: "py-spy (py-spy dump --pid PID for the threads' stacks, py-spy record for a flame graph) gives its stacks",
	metrics.LanguageNode:   "the Node inspector (node --inspect, or --cpu-prof) gives its CPU profile and stacks",
	metrics.LanguageJVM:    "jcmd PID Thread.print, async-profiler or JFR give its stacks and profiles",
}

// notApplicable is the pprof status of a service whose metrics say it is
// not written in Go: /debug/pprof is Go's, so its absence is no problem to
// report, and the detail says what would give deeper evidence.
func notApplicable(language string) source.Status {
	detail := "not applicable: a " + language + " service serves no Go profiles"
	if how := deeperEvidence[language]; how != "" {
		detail += "; " + how
	}
	return source.Status{State: source.Unavailable, Detail: detail}
}

// pprofStatusFor returns the pprof status of a window whose metrics tell the
// runtime: "not applicable" for a runtime other than Go when pprof could not
// be read, else st.
func pprofStatusFor(m *metrics.Window, st source.Status) source.Status {
	if st.Ok() || m == nil {
		return st
	}
	if lang := m.Runtime.Language; lang != "" && lang != metrics.LanguageGo {
		return notApplicable(lang)
	}
	return st
}
