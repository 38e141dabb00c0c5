// Package report builds the report of one `advisor report` run and prints it
// in the formats of docs/design.md: text, markdown, json (schema
// advisor.report/v1), sarif (2.1.0), junit, github-actions (workflow command
// annotations) and gitlab (Code Quality). It also reads and writes
// baselines, the files of findings a team has accepted.
//
// Data flows one way: the caller builds a Report with New from the sources'
// statuses and the rules' findings, then hands it to Print once per format.
// Printers write only to the writer they are given.
package report

import (
	"slices"
	"time"

	"github.com/pgadvisor/advisor/internal/probe"
	"github.com/pgadvisor/advisor/internal/probe/source"
	"github.com/pgadvisor/advisor/internal/rules"
)

// SchemaID is the value of the report's "schema" field.
const SchemaID = "advisor.report/v1"

// Status is the state of one source in a report: the probe's source.State,
// whose values are those of the schema (sources.<name>.status).
type Status = source.State

// The statuses of a source, which are source's states: ok (read),
// unavailable (not configured, or not reachable or readable as configured),
// error (answered with something that could not be used).
const (
	StatusOK          = source.OK
	StatusUnavailable = source.Unavailable
	StatusError       = source.Error
)

// Source is what the report says about one source.
type Source struct {
	Status Status `json:"status"`
	// Detail says why a source is not ok and how to enable it; for an ok
	// source it may say what was read. It must never hold a password.
	Detail string `json:"detail"`
	// Version is the server's version when known (PostgreSQL, Redis).
	Version string `json:"version,omitempty"`
	// Via is "prometheus" when the metrics were read through a Prometheus
	// server (--prometheus), with Instances the instances its selector
	// matched at the window's end.
	Via       string `json:"via,omitempty"`
	Instances int    `json:"instances,omitempty"`
}

// Summary counts a report's findings by severity, known ones included.
type Summary struct {
	Critical int `json:"critical"`
	Warning  int `json:"warning"`
	Info     int `json:"info"`
}

// Finding is a finding as a report carries it: the rules engine's finding
// and its fingerprint. The fingerprint field shadows the promoted method; use
// f.Finding.Fingerprint() to recompute it.
type Finding struct {
	rules.Finding
	// Fingerprint is rules.(*Finding).Fingerprint: a stable hash of the rule
	// id and the subject, the key of baselines and of SARIF's
	// partialFingerprints.
	Fingerprint string `json:"fingerprint"`
}

// Report is one report in the schema advisor.report/v1 of docs/design.md, plus
// the fields that schema leaves room for: each finding's fingerprint and the
// top-level known_fingerprints, the findings a baseline already holds, and
// the figures of where the requests' time went.
type Report struct {
	Schema string `json:"schema"`
	// GeneratedAt is written in RFC 3339.
	GeneratedAt time.Time `json:"generated_at"`
	// WindowSeconds is the length of the measured window; 0 means the
	// report analysed cumulative statistics since their last reset.
	WindowSeconds float64           `json:"window_seconds"`
	Sources       map[string]Source `json:"sources"`
	// Figures is where the requests' time went over the window (FiguresOf
	// a rules.TimeSplit); nil without request metrics.
	Figures *Figures `json:"figures,omitempty"`
	// Statements are the window's top statements by share of database
	// time (StatementsOf); nil when pg_stat_statements was not read.
	Statements *Statements `json:"statements,omitempty"`
	// Findings are ordered by severity (most severe first), impact, rule
	// and subject.
	Findings []Finding `json:"findings"`
	Summary  Summary   `json:"summary"`
	// KnownFingerprints lists, sorted, the fingerprints of the findings of
	// this report that the baseline holds. It is empty without a baseline.
	KnownFingerprints []string `json:"known_fingerprints"`
	// Comparison holds this report against an earlier one (--compare);
	// nil without one.
	Comparison *Comparison `json:"comparison,omitempty"`
}

// New builds a report generated at the given time (kept in UTC, to the
// second) over a window of the given length (0 for cumulative statistics).
// Sources missing from the map are described as unavailable and not
// configured, so the report always names the four sources. The findings are
// copied and sorted; those the baseline holds are listed as known. The
// summary counts every finding, known ones included.
func New(at time.Time, window time.Duration, sources map[string]Source, findings []rules.Finding, base Baseline) *Report {
	r := &Report{
		Schema:            SchemaID,
		GeneratedAt:       at.UTC().Truncate(time.Second),
		WindowSeconds:     window.Seconds(),
		Sources:           make(map[string]Source, len(probe.SourceNames)),
		Findings:          make([]Finding, 0, len(findings)),
		KnownFingerprints: []string{},
	}
	for name, s := range sources {
		r.Sources[name] = s
	}
	for _, name := range probe.SourceNames {
		if _, ok := r.Sources[name]; !ok {
			r.Sources[name] = Source{Status: StatusUnavailable, Detail: "not configured"}
		}
	}
	sorted := slices.Clone(findings)
	rules.SortFindings(sorted)
	for i := range sorted {
		f := Finding{Finding: sorted[i], Fingerprint: sorted[i].Fingerprint()}
		if f.Evidence == nil {
			f.Evidence = map[string]any{}
		}
		r.Findings = append(r.Findings, f)
		switch f.Severity {
		case rules.Critical:
			r.Summary.Critical++
		case rules.Warning:
			r.Summary.Warning++
		case rules.Info:
			r.Summary.Info++
		}
		if base.Has(f.Fingerprint) && !slices.Contains(r.KnownFingerprints, f.Fingerprint) {
			r.KnownFingerprints = append(r.KnownFingerprints, f.Fingerprint)
		}
	}
	slices.Sort(r.KnownFingerprints)
	return r
}

// Known reports whether the finding is held by the baseline the report was
// built with.
func (r *Report) Known(f *Finding) bool {
	_, ok := slices.BinarySearch(r.KnownFingerprints, f.Fingerprint)
	return ok
}

// Failing returns the findings that fail a run with --fail-on threshold:
// those at or above it that the baseline does not hold. With rules.Never it
// returns none.
func (r *Report) Failing(threshold rules.Severity) []Finding {
	var out []Finding
	for i := range r.Findings {
		f := &r.Findings[i]
		if f.Severity.AtLeast(threshold) && !r.Known(f) {
			out = append(out, *f)
		}
	}
	return out
}

// KnownCount returns how many findings of the report the baseline holds.
func (r *Report) KnownCount() int {
	n := 0
	for i := range r.Findings {
		if r.Known(&r.Findings[i]) {
			n++
		}
	}
	return n
}

// AllUnavailable reports whether no source could be read at all: the case of
// exit code 3.
func (r *Report) AllUnavailable() bool {
	for _, s := range r.Sources {
		if s.Status == StatusOK {
			return false
		}
	}
	return true
}

// sourceOrder returns the report's source names: the four of
// probe.SourceNames, then any other, sorted.
func (r *Report) sourceOrder() []string {
	names := slices.Clone(probe.SourceNames)
	var extra []string
	for name := range r.Sources {
		if !slices.Contains(probe.SourceNames, name) {
			extra = append(extra, name)
		}
	}
	slices.Sort(extra)
	return append(names, extra...)
}
