package report

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/owenrumney/go-sarif/v2/sarif"

	"github.com/pgadvisor/advisor/internal/rules"
)

// InformationURI is advisor's home page, SARIF's tool.driver.informationUri.
const InformationURI = "https://github.com/pgadvisor/advisor"

// DefaultAnchor is the repository file SARIF results point at when their
// finding has no file of the repository and no Anchor was set.
const DefaultAnchor = "go.mod"

// anchorCandidates are the files FindAnchor looks for, in order.
var anchorCandidates = []string{"advisor.yaml", "go.mod", "README.md"}

// FindAnchor returns the first of advisor.yaml, go.mod and README.md that
// exists in dir, or DefaultAnchor if none does: the file SARIF results
// without a file of the repository point at.
func FindAnchor(dir string) string {
	for _, name := range anchorCandidates {
		if fi, err := os.Stat(filepath.Join(dir, name)); err == nil && fi.Mode().IsRegular() {
			return name
		}
	}
	return DefaultAnchor
}

// fingerprintKey is the partialFingerprints key of advisor's own
// fingerprint.
const fingerprintKey = "advisorFingerprint/v1"

// SARIF prints a report as a SARIF 2.1.0 log for GitHub code scanning and
// other SARIF viewers.
//
// The tool driver lists one reportingDescriptor per rule of Rules (all of
// them, findings or not, so that a viewer can explain every rule and close
// alerts of rules that stopped firing) and one per rule that has findings
// but no entry in Rules. Each result carries the rule id and index, a level
// from the severity (critical: error, warning: warning, info: note), a
// message made of the title and the fix summary, and partialFingerprints
// from the finding's fingerprint. What a finding's fix saves is its
// result's "saves" property; where the requests' time goes is the run's
// "figures" property, the report's figures object, and its top statements
// the run's "statements" property.
//
// GitHub code scanning rejects a whole file when one result lacks a physical
// location, so every result has one: the finding's file:line when that file
// is in the repository (under WorkDir, or module-relative under ModulePath),
// otherwise line 1 of Anchor, with a logical location naming the subject.
type SARIF struct {
	Rules       []RuleInfo
	ToolVersion string
	WorkDir     string
	ModulePath  string
	Anchor      string
}

// sarifLevel maps a severity to a SARIF level.
func sarifLevel(s rules.Severity) string {
	switch s {
	case rules.Critical:
		return "error"
	case rules.Warning:
		return "warning"
	}
	return "note"
}

// Print writes the report.
func (p *SARIF) Print(w io.Writer, r *Report) error {
	log, err := sarif.New(sarif.Version210)
	if err != nil {
		return fmt.Errorf("sarif report: %w", err)
	}
	run := sarif.NewRunWithInformationURI("advisor", InformationURI)
	if p.ToolVersion != "" {
		run.Tool.Driver.WithVersion(p.ToolVersion)
	}

	index := make(map[string]int)
	for _, ri := range ruleInfos(p.Rules, r) {
		index[ri.ID] = len(run.Tool.Driver.Rules)
		run.Tool.Driver.AddRule(sarifRule(ri))
	}

	anchor := p.Anchor
	if anchor == "" {
		anchor = DefaultAnchor
	}
	for i := range r.Findings {
		f := &r.Findings[i]
		res := sarif.NewRuleResult(f.Rule).
			WithRuleIndex(index[f.Rule]).
			WithLevel(sarifLevel(f.Severity)).
			WithMessage(sarif.NewTextMessage(sarifMessage(f)))
		res.PartialFingerprints = map[string]any{
			fingerprintKey: f.Fingerprint,
			// GitHub computes primaryLocationLineHash from the text at the
			// location when it is missing; at the anchor that text is the
			// same for every finding, so advisor sets it from the stable
			// fingerprint instead.
			"primaryLocationLineHash": f.Fingerprint + ":1",
		}
		res.AddLocation(p.location(f, anchor))
		props := sarif.Properties{
			"severity": f.Severity.String(),
			"subject":  f.Subject,
			"known":    r.Known(f),
		}
		if f.Location != "" {
			props["location"] = f.Location
		}
		if f.Saves != nil {
			props["saves"] = f.Saves
		}
		if f.Confidence != nil {
			props["confidence"] = f.Confidence
		}
		res.Properties = props
		run.AddResult(res)
	}
	if r.Figures != nil || r.Statements != nil || r.Comparison != nil {
		run.Properties = sarif.Properties{}
		if r.Figures != nil {
			run.Properties["figures"] = r.Figures
		}
		if r.Statements != nil {
			run.Properties["statements"] = r.Statements
		}
		if r.Comparison != nil {
			run.Properties["comparison"] = r.Comparison
		}
	}
	log.AddRun(run)

	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(log); err != nil {
		return fmt.Errorf("encode sarif report: %w", err)
	}
	return flush(w, &b, FormatSARIF)
}

// sarifRule builds the reportingDescriptor of a rule.
func sarifRule(ri RuleInfo) *sarif.ReportingDescriptor {
	title := ri.Title
	if title == "" {
		title = ri.ID
	}
	full := title
	if ri.Why != "" {
		full = strings.TrimSpace(ri.Why)
	}
	rd := sarif.NewRule(ri.ID).
		WithName(ruleName(ri.ID)).
		WithShortDescription(sarif.NewMultiformatMessageString(title)).
		WithFullDescription(sarif.NewMultiformatMessageString(full)).
		WithHelp(sarif.NewMultiformatMessageString(helpText(ri)).WithMarkdown(helpMarkdown(ri)))
	if ri.Severity.Valid() {
		rd.WithDefaultConfiguration(sarif.NewReportingConfiguration().WithLevel(sarifLevel(ri.Severity)))
	}
	if len(ri.Links) > 0 {
		rd.WithHelpURI(ri.Links[0])
	}
	rd.WithProperties(sarif.Properties{
		"tags": []string{"advisor", "performance", family(ri.ID)},
	})
	return rd
}

// ruleName turns a rule id into the PascalCase name SARIF viewers show:
// db.missing-index becomes DbMissingIndex.
func ruleName(id string) string {
	var b strings.Builder
	for _, part := range strings.FieldsFunc(id, func(r rune) bool { return r == '.' || r == '-' || r == '_' }) {
		b.WriteString(strings.ToUpper(part[:1]) + part[1:])
	}
	return b.String()
}

// helpText is a rule's help as plain text.
func helpText(ri RuleInfo) string {
	var parts []string
	add := func(label, s string) {
		if s = strings.TrimSpace(s); s != "" {
			parts = append(parts, label+": "+s)
		}
	}
	add("Why", ri.Why)
	add("Detection", ri.Detection)
	add("Fix", ri.Fix)
	if len(ri.Links) > 0 {
		parts = append(parts, "Links: "+strings.Join(ri.Links, " "))
	}
	if len(parts) == 0 {
		return ri.ID + ": see `advisor rules explain " + ri.ID + "`."
	}
	return strings.Join(parts, "\n\n")
}

// helpMarkdown is a rule's help as Markdown.
func helpMarkdown(ri RuleInfo) string {
	var b strings.Builder
	title := ri.Title
	if title == "" {
		title = ri.ID
	}
	fmt.Fprintf(&b, "**%s** (`%s`)\n", inline(title), ri.ID)
	add := func(label, s string) {
		if s = strings.TrimSpace(s); s != "" {
			fmt.Fprintf(&b, "\n## %s\n\n%s\n", label, s)
		}
	}
	add("Why it matters", ri.Why)
	add("How it is detected", ri.Detection)
	add("How to fix it", ri.Fix)
	if len(ri.Links) > 0 {
		b.WriteString("\n## Links\n\n")
		for _, l := range ri.Links {
			fmt.Fprintf(&b, "- <%s>\n", l)
		}
	}
	return strings.TrimRight(b.String(), "\n")
}

// sarifMessage is a result's message: the title and the fix summary.
func sarifMessage(f *Finding) string {
	msg := strings.TrimSpace(f.Title)
	if f.Subject != "" && !strings.Contains(msg, f.Subject) {
		msg += " (" + f.Subject + ")"
	}
	if s := strings.TrimSpace(f.Fix.Summary); s != "" {
		if !strings.HasSuffix(msg, ".") {
			msg += "."
		}
		msg += " Fix: " + s
	}
	if c := confidenceText(f.Confidence); c != "" {
		if !strings.HasSuffix(msg, ".") {
			msg += "."
		}
		msg += " Confidence: " + c + "."
	}
	return msg
}

// confidenceText is "high (0.92: 84 calls)", or "" for a finding without a
// confidence.
func confidenceText(c *rules.Confidence) string {
	if c == nil {
		return ""
	}
	return sanitize(c.String())
}

// location returns the result's location: the finding's file:line when the
// file is in the repository, else line 1 of the anchor, with a logical
// location naming the subject either way.
func (p *SARIF) location(f *Finding, anchor string) *sarif.Location {
	loc := sarif.NewLocation()
	if f.Subject != "" {
		loc.AddLogicalLocations(sarif.NewLogicalLocation().
			WithName(f.Subject).
			WithFullyQualifiedName(f.Rule + ":" + f.Subject).
			WithKind("resource"))
	}
	if uri, line, ok := p.repoFile(f.Location); ok {
		return loc.WithPhysicalLocation(sarif.NewPhysicalLocation().
			WithArtifactLocation(sarif.NewSimpleArtifactLocation(uri)).
			WithRegion(sarif.NewRegion().WithStartLine(line)))
	}
	desc := "Not tied to a line of code: advisor measured this on the running service"
	if f.Location != "" {
		desc += " at " + f.Location
	}
	return loc.WithPhysicalLocation(sarif.NewPhysicalLocation().
		WithArtifactLocation(sarif.NewSimpleArtifactLocation(filepath.ToSlash(anchor))).
		WithRegion(sarif.NewRegion().WithStartLine(1))).
		WithMessage(sarif.NewTextMessage(desc + "."))
}

// repoFile maps a file:line location to a repository-relative URI and a
// line: see repoFile in locate.go.
func (p *SARIF) repoFile(location string) (uri string, line int, ok bool) {
	return repoFile(p.WorkDir, p.ModulePath, location)
}
