package tune

import (
	"fmt"
	"strings"

	"github.com/pgadvisor/advisor/internal/rules"
	"github.com/pgadvisor/advisor/sampleapp"
)

// Action is the sampleapp knob setting that applies a finding's fix.
type Action struct {
	Knob  string
	Value string
}

func (a Action) String() string { return a.Knob + "=" + a.Value }

// actions maps a rule id to the knob setting that fixes what the rule flags
// on sampleapp. It is the only place where rules meet knobs: detectors never
// see them (docs/design.md), tune only uses them to apply a fix. A rule without an
// entry has no fix tune can apply; its findings are shown and skipped.
var actions = map[string]Action{
	"db.missing-index":    {sampleapp.KnobIndex, "present"},
	"db.n-plus-one":       {sampleapp.KnobNPlusOne, "batched"},
	"db.overfetch":        {sampleapp.KnobOverfetch, "columns"},
	"db.cache-candidate":  {sampleapp.KnobCache, "redis"},
	"pool.no-pooling":     {sampleapp.KnobPool, "sized"},
	"pool.undersized":     {sampleapp.KnobPool, "sized"},
	"pool.oversized":      {sampleapp.KnobPool, "sized"},
	"app.internal-hops":   {sampleapp.KnobHops, "inproc"},
	"app.inline-work":     {sampleapp.KnobInline, "queued"},
	"app.lock-contention": {sampleapp.KnobLock, "none"},
	"runtime.gomaxprocs":  {sampleapp.KnobGOMAXPROCS, "default"},
	"redis.round-trips":   {sampleapp.KnobRateLimit, "batched"},
	"queue.backlog":       {sampleapp.KnobJobWorkers, "sized"},
}

// jobQueue is the queue whose workers the jobworkers knob sizes: river's
// default queue.
const (
	jobSystem = "river"
	jobQueue  = "default"
)

// inlineSite is the handler whose follow-up work (e-mail, PDF, webhook) the
// inline knob queues.
const inlineSite = "postOrder"

// mentions reports whether f's subject, location or evidence names site.
func mentions(f rules.Finding, site string) bool {
	if strings.Contains(f.Subject, site) || strings.Contains(f.Location, site) {
		return true
	}
	for _, v := range f.Evidence {
		if s, ok := v.(string); ok && strings.Contains(s, site) {
			return true
		}
	}
	return false
}

// indexTable and indexLead are the table and leading column of the one index
// the index knob creates: events (user_id, created_at DESC).
const (
	indexTable = "events"
	indexLead  = "user_id"
)

// ActionFor returns the knob setting that applies f's fix on sampleapp, or
// false with the reason when there is none. A missing index maps to the
// index knob only when the index the finding asks for is the one the knob
// creates (on events, leading with user_id): tune never applies a fix
// blindly.
func ActionFor(f rules.Finding) (Action, string, bool) {
	a, ok := actions[f.Rule]
	if !ok {
		return Action{}, fmt.Sprintf("no sampleapp knob applies the fix of %s", f.Rule), false
	}
	if f.Rule == "app.inline-work" && !mentions(f, inlineSite) {
		return Action{}, fmt.Sprintf("the inline knob moves the follow-up work of %s to a queue; this finding is about %s", inlineSite, orUnknown(f.Subject)), false
	}
	if f.Rule == "queue.backlog" && (f.Evidence["system"] != jobSystem || f.Evidence["queue"] != jobQueue) {
		return Action{}, fmt.Sprintf("the jobworkers knob sizes the workers of river's %s queue; this finding is about %s", jobQueue, orUnknown(f.Subject)), false
	}
	if f.Rule == "db.missing-index" {
		table, lead := indexOf(f)
		if table != indexTable || lead != indexLead {
			return Action{}, fmt.Sprintf("the index asked for (%s, leading with %q) is not the one sampleapp's index knob creates (%s (%s, created_at DESC))",
				orUnknown(table), lead, indexTable, indexLead), false
		}
	}
	return a, "", true
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown table"
	}
	return s
}

// indexOf reads the table and the leading column of the index a
// db.missing-index finding suggests: from its evidence (table, columns),
// else from its subject ("events (user_id, created_at DESC)") or its SQL.
func indexOf(f rules.Finding) (table, lead string) {
	if t, ok := f.Evidence["table"].(string); ok {
		table = unqualify(t)
	}
	switch cols := f.Evidence["columns"].(type) {
	case []string:
		if len(cols) > 0 {
			lead = cols[0]
		}
	case []any:
		if len(cols) > 0 {
			lead, _ = cols[0].(string)
		}
	case string:
		lead, _, _ = strings.Cut(cols, ",")
	}
	for _, s := range []string{f.Subject, f.Fix.SQL} {
		if table != "" && lead != "" {
			break
		}
		t, l := parseIndexSpec(s)
		if table == "" {
			table = t
		}
		if lead == "" {
			lead = l
		}
	}
	if f := strings.Fields(lead); len(f) > 0 {
		lead = strings.Trim(f[0], `"`)
	}
	return table, lead
}

// parseIndexSpec reads "table (col, ...)" out of a subject or a CREATE INDEX
// statement ("... ON table (col, ...)" or "... ON table USING btree (...)").
func parseIndexSpec(s string) (table, lead string) {
	if i := strings.Index(strings.ToUpper(s), " ON "); i >= 0 {
		s = s[i+4:]
	}
	open := strings.Index(s, "(")
	if open < 0 {
		return "", ""
	}
	head := strings.Fields(s[:open])
	if len(head) > 0 {
		table = unqualify(strings.Trim(head[0], `"`))
	}
	rest := s[open+1:]
	if end := strings.IndexAny(rest, ",)"); end >= 0 {
		rest = rest[:end]
	}
	if f := strings.Fields(rest); len(f) > 0 {
		lead = strings.Trim(f[0], `"`)
	}
	return table, lead
}

func unqualify(t string) string {
	if i := strings.LastIndex(t, "."); i >= 0 {
		t = t[i+1:]
	}
	return strings.Trim(t, `"`)
}
