package report

import (
	"github.com/pgadvisor/advisor/internal/probe"
	"github.com/pgadvisor/advisor/internal/probe/source"
)

// SourcesOf turns a window's source statuses into the report's sources map.
func SourcesOf(w *probe.Window) map[string]Source {
	out := make(map[string]Source, len(probe.SourceNames))
	for _, name := range probe.SourceNames {
		st := w.Status(name)
		src := Source{Status: statusOf(st.State), Detail: source.Redact(st.Detail), Version: st.Version}
		if name == probe.Metrics && w.Fleet != nil {
			src.Via, src.Instances = "prometheus", w.Fleet.Live()
		}
		out[name] = src
	}
	return out
}

// statusOf is the state of a source as a report gives it: a state other
// than ok and error, none included, is unavailable.
func statusOf(s source.State) Status {
	if s == source.OK || s == source.Error {
		return s
	}
	return source.Unavailable
}
